# -*- coding: utf-8 -*-
"""molecule/shared/checklib.py: what the client scripts share (settings, the stock client's
environment, the public name resolved to the instance, random files, modes, the last line)."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sys

import pytest


@pytest.fixture
def checklib(load_script):
    return load_script("molecule/shared/checklib.py")


@pytest.fixture
def resolver(monkeypatch):
    """socket.getaddrinfo as it is now comes back after the test, whatever the test patched."""
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)


@pytest.fixture
def environ():
    saved = dict(os.environ)
    yield os.environ
    os.environ.clear()
    os.environ.update(saved)


def test_the_mapped_name_goes_to_the_address_every_other_name_as_before(checklib, resolver, monkeypatch):
    asked = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **kw: asked.append((host, a, kw)) or [host])
    assert checklib.map_host("mlflow.molecule.test", "10.0.0.7") is True
    assert socket.getaddrinfo("mlflow.molecule.test", 443, type=socket.SOCK_STREAM) == ["10.0.0.7"]
    assert socket.getaddrinfo("s3.mlflow.molecule.test", 443) == ["s3.mlflow.molecule.test"]
    assert socket.getaddrinfo("10.0.0.7", 80) == ["10.0.0.7"]
    # the port and the keyword arguments pass through unchanged
    assert asked[0] == ("10.0.0.7", (443,), {"type": socket.SOCK_STREAM})


def test_a_mapped_name_connects_to_a_real_listener(checklib, resolver):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert checklib.map_host("stage.molecule.test", "127.0.0.1")
        with socket.create_connection(("stage.molecule.test", port), timeout=5) as conn:
            assert conn.getpeername() == ("127.0.0.1", port)
        # an unmapped name still goes through the system's resolver
        assert {info[4][0] for info in socket.getaddrinfo("localhost", port)} & {"127.0.0.1", "::1"}


@pytest.mark.parametrize("name, address", [(None, "10.0.0.7"), ("stage.molecule.test", None),
                                           ("stage.molecule.test", ""), ("10.0.0.7", "10.0.0.7")])
def test_nothing_to_map(checklib, resolver, name, address):
    before = socket.getaddrinfo
    assert checklib.map_host(name, address) is False
    assert socket.getaddrinfo is before


def test_public_name(checklib, resolver, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **kw: [host])
    assert checklib.public_name("https://mlflow.molecule.test/mlflow/", "10.0.0.7") == "mlflow.molecule.test"
    assert socket.getaddrinfo("mlflow.molecule.test", 443) == ["10.0.0.7"]
    assert checklib.public_name("http://127.0.0.1:5001/") == "127.0.0.1"


def test_the_snippets_python_resolves_through_the_copied_checklib(load_script, resolver, tmp_path, capsys):
    """doc_snippet.py maps the name in its own process and, by a sitecustomize beside a copy of
    checklib.py, in every Python process the snippet starts."""
    snippet = load_script("molecule/shared/doc_snippet.py")
    doc = tmp_path / "doc.md"
    doc.write_text("## Run\n\n```bash\nexport MLFLOW_TRACKING_URI=http://x\n"
                   "python -c 'import socket; print(\"resolved\", socket.getaddrinfo(\"stage.molecule.test\", 9)[0][4][0])'\n"
                   "exit 3\n```\n")
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"CHECK_PUBLIC_URL": "http://stage.molecule.test:9/", "CHECK_IP": "127.0.0.1"}))
    rc = snippet.main([str(settings), str(doc), "--after", "## Run", "--set", "MLFLOW_TRACKING_URI=CHECK_PUBLIC_URL",
                       "--experiment", "demo"])
    assert rc == 1
    assert "resolved 127.0.0.1" in capsys.readouterr().err
    assert socket.getaddrinfo("stage.molecule.test", 9)[0][4][0] == "127.0.0.1"


def test_load_settings(checklib, tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"CHECK_IP": "10.0.0.7", "CHECK_REPLICAS": ["a", "b"], "CHECK_REQUESTS": 300}))
    assert checklib.load_settings(str(path)) == {"CHECK_IP": "10.0.0.7", "CHECK_REPLICAS": ["a", "b"],
                                                  "CHECK_REQUESTS": 300}


def test_stock_client_keeps_nothing_of_the_callers_client_settings(checklib, environ):
    environ.update({"MLFLOW_TRACKING_TOKEN": "t", "MLFLOW_S3_ENDPOINT_URL": "http://s3", "AWS_PROFILE": "p",
                    "REQUESTS_CA_BUNDLE": "/ca", "CURL_CA_BUNDLE": "/ca", "SSL_CERT_FILE": "/ca", "KEEP_ME": "1"})
    checklib.stock_client("https://mlflow.molecule.test/mlflow/", "alice", "pw", "/tmp/ca.crt",
                          MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", AWS_CONFIG_FILE=os.devnull)
    client = {k: v for k, v in environ.items()
              if k.startswith(("MLFLOW_", "AWS_")) or k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")}
    assert client == {"MLFLOW_TRACKING_URI": "https://mlflow.molecule.test/mlflow/", "MLFLOW_TRACKING_USERNAME": "alice",
                      "MLFLOW_TRACKING_PASSWORD": "pw", "REQUESTS_CA_BUNDLE": "/tmp/ca.crt",
                      "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "AWS_CONFIG_FILE": os.devnull}
    assert environ["KEEP_ME"] == "1"


def test_stock_client_without_login_or_ca(checklib, environ):
    environ.update({"MLFLOW_TRACKING_USERNAME": "old", "REQUESTS_CA_BUNDLE": "/ca"})
    checklib.stock_client("http://127.0.0.1:5001/", "alice", None, None)
    assert "MLFLOW_TRACKING_USERNAME" not in environ and "MLFLOW_TRACKING_PASSWORD" not in environ
    assert "REQUESTS_CA_BUNDLE" not in environ
    assert environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5001/"


@pytest.mark.parametrize("size", [0, 1, (8 << 20) + 3])
def test_write_random(checklib, tmp_path, size):
    path = tmp_path / "blob.bin"
    digest = checklib.write_random(str(path), size)
    data = path.read_bytes()
    assert len(data) == size
    assert digest == hashlib.sha256(data).hexdigest() == checklib.sha256(str(path))


def test_random_files_differ(checklib, tmp_path):
    assert checklib.write_random(str(tmp_path / "a"), 1024) != checklib.write_random(str(tmp_path / "b"), 1024)


def test_run_mode(checklib, capsys):
    calls = []
    modes = {"write": lambda url, state: calls.append(("write", url, state)),
             "smoke": lambda url: calls.append(("smoke", url)),
             "compare": lambda a, b, *rewrites: calls.append(("compare", a, b, rewrites)) or 1}
    assert checklib.run_mode(["x.py", "write", "U", "S"], modes, "USAGE") == 0
    assert checklib.run_mode(["x.py", "smoke", "U"], modes, "USAGE") == 0
    assert checklib.run_mode(["x.py", "compare", "A", "B", "F=T", "G=H"], modes, "USAGE") == 1
    assert checklib.run_mode(["x.py", "compare", "A", "B"], modes, "USAGE") == 1
    assert calls == [("write", "U", "S"), ("smoke", "U"), ("compare", "A", "B", ("F=T", "G=H")),
                     ("compare", "A", "B", ())]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("argv", [["x.py"], ["x.py", "bogus"], ["x.py", "write", "U"], ["x.py", "write", "U", "S", "T"],
                                  ["x.py", "compare", "A"]])
def test_run_mode_usage(checklib, capsys, argv):
    called = []
    modes = {"write": lambda url, state: called.append(1), "compare": lambda a, b, *r: called.append(1)}
    assert checklib.run_mode(argv, modes, "USAGE") == 2
    assert called == []
    assert capsys.readouterr().err == "USAGE\n"


def test_finish_and_fail(checklib, capsys):
    checklib.seen["runs"] = 3
    with pytest.raises(SystemExit) as exc:
        checklib.finish(True, mode="seed")
    assert exc.value.code == 0
    assert capsys.readouterr().out == '{"ok": true, "mode": "seed", "seen": {"runs": 3}}\n'
    with pytest.raises(SystemExit) as exc:
        checklib.finish(False, "it broke")
    assert exc.value.code == 1
    assert capsys.readouterr().out == '{"ok": false, "seen": {"runs": 3}, "error": "it broke"}\n'
    with pytest.raises(SystemExit) as exc:
        checklib.expect(1 == 2, "one is not two")
    assert exc.value.code == 1
    assert capsys.readouterr().out == '{"ok": false, "error": "one is not two", "seen": {"runs": 3}}\n'


def test_wait_until(checklib):
    answers = iter([False, False, True])
    assert checklib.wait_until(lambda: next(answers), deadline=float("inf"), interval=0) is True
    assert checklib.wait_until(lambda: False, deadline=0, interval=0) is False


def test_bucket_objects_over_pages(checklib):
    class Paginator:
        def paginate(self, **kwargs):
            assert kwargs == {"Bucket": "mlflow", "Prefix": "artifacts/1/"}
            return [{"Contents": [{"Key": "artifacts/1/a", "Size": 1}]}, {},
                    {"Contents": [{"Key": "artifacts/1/b", "Size": 2}]}]

    class S3:
        def get_paginator(self, name):
            assert name == "list_objects_v2"
            return Paginator()

    assert checklib.bucket_objects(S3(), "mlflow", "artifacts/1/") == {"artifacts/1/a": 1, "artifacts/1/b": 2}


def test_standard_library_only(tmp_path):
    """Scripts with a stock client's Python (mlflow-skinny, no pandas) and the snippets'
    sitecustomize import it: it must not pull in a third-party package."""
    import subprocess  # pylint: disable=import-outside-toplevel

    shared = os.path.join(os.path.dirname(__file__), "..", "..", "..", "molecule", "shared")
    code = ("import sys; before = set(sys.modules); import checklib; "
            "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] not in sys.stdlib_module_names))")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {shared!r}); {code}"],
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out.strip() == "['checklib']"
