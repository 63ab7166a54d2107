# -*- coding: utf-8 -*-
"""mlops.mlflow.artifact_sync against a real Azure Blob service (Azurite): a wasbs:// dest.

The module documents for a C(wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PREFIX) dest what it
documents for S3: the files land as blobs PREFIX/<relative path>, a second run uploads nothing
(size and Content-MD5 equal the file's), a blob with other bytes stops the task before any upload
unless on_conflict=overwrite, check mode writes nothing, and a file uploaded in blocks (above the
single-request size, here multipart_threshold_mb=8 and a 9 MiB file) still carries and is verified
by the file's MD5. A missing container fails with a message that says so.

The module runs the way the roles run it: `ansible-playbook` on localhost with the collection
(this checkout, see conftest.py) and the connection string in an extra-vars file. The service is
a throw-away Azurite container (`mlops/azurite:local`) named `mlops-itest-azure-<random>` on a
free port of 127.0.0.1 that docker picks, removed with its data afterwards. The tests are skipped,
naming what is missing, without azure-storage-blob, docker or the image
(`scripts/build-images.sh azurite` builds it).
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
# the ansible-playbook and the shared environment of every integration run
from conftest import ANSIBLE_PLAYBOOK, ansible_env
from test_artifact_sync_s3 import SyncRun, _parse  # the S3 test's run record and output parser

pytest.importorskip("azure.storage.blob",
                    reason="azure-storage-blob is not installed in this Python (%s)" % sys.executable)
from azure.storage.blob import BlobServiceClient  # noqa: E402

IMAGE = "mlops/azurite:local"
BLOB_PORT = 10000  # inside the container
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key (public, the same in every Azurite)
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
MiB = 1048576
BIG = 9 * MiB + 123  # above the single-request size of multipart_threshold_mb=8: uploaded in 4 MiB blocks

PLAY = """\
- name: Copy an artifact tree into Azure Blob with artifact_sync
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Sync
      mlops.mlflow.artifact_sync:
        src: "{{ sync_src }}"
        dest: "{{ sync_dest }}"
        azure_connection_string: "{{ sync_connection_string }}"
        on_conflict: "{{ sync_on_conflict | default(omit) }}"
        multipart_threshold_mb: "{{ sync_multipart_threshold_mb | default(omit) }}"
"""


def _docker_problem() -> str | None:
    """Why no Azurite container can be started here, or None."""
    docker = shutil.which("docker")
    if not docker:
        return "the docker CLI is not installed"
    info = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                          timeout=60, check=False)
    if info.returncode != 0:
        return "the Docker engine is not reachable (docker info: %s)" % info.stderr.strip()[-300:]
    image = subprocess.run([docker, "image", "inspect", IMAGE], capture_output=True, text=True, timeout=60,
                           check=False)
    if image.returncode != 0:
        return "the image %s is not built (scripts/build-images.sh azurite)" % IMAGE
    return None


@dataclass
class BlobServer:
    connection_string: str
    ansible_home: Path

    @property
    def service(self) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.connection_string)

    def container(self, name: str):
        client = self.service.get_container_client(name)
        client.create_container()
        return client

    def sync(self, workdir: Path, src: Path, dest: str, check: bool = False, **options) -> SyncRun:
        workdir.mkdir(parents=True, exist_ok=True)
        playbook = workdir / "play.yml"
        playbook.write_text(PLAY)
        variables = {"sync_src": str(src), "sync_dest": dest, "sync_connection_string": self.connection_string}
        variables.update({"sync_" + key: value for key, value in options.items()})
        vars_file = workdir / "vars.json"
        vars_file.touch(mode=0o600)
        vars_file.write_text(json.dumps(variables))
        home = self.ansible_home
        env = {key: value for key, value in ansible_env(home, drop=("ANSIBLE_", "AZURE_")).items()
               if key.lower() not in ("http_proxy", "https_proxy")}
        env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
        command = [ANSIBLE_PLAYBOOK, "-i", str(home / "inventory.yml"), str(playbook), "-e", f"@{vars_file}"]
        if check:
            command.append("--check")
        proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
                              check=False)
        return _parse(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def azure(ansible_home, monkeypatch_module) -> Iterator[BlobServer]:
    """A throw-away Azurite blob service on 127.0.0.1:<free port>."""
    problem = _docker_problem()
    if problem:
        pytest.skip("no Azure Blob service for the artifact_sync tests: " + problem)
    docker = shutil.which("docker")
    name = "mlops-itest-azure-" + uuid.uuid4().hex[:10]
    run = subprocess.run([docker, "run", "-d", "--name", name, "--label", "org.mlops.test=artifact_sync_azure",
                          "-p", "127.0.0.1::%d" % BLOB_PORT, IMAGE],
                         capture_output=True, text=True, timeout=120, check=False)
    try:
        assert run.returncode == 0, "docker run %s failed: %s" % (name, run.stderr)
        port = subprocess.run([docker, "port", name, "%d/tcp" % BLOB_PORT], capture_output=True, text=True,
                              check=True).stdout.split()[0].rpartition(":")[2]
        connection_string = ("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;"
                             "BlobEndpoint=http://127.0.0.1:%s/%s;" % (ACCOUNT, ACCOUNT_KEY, port, ACCOUNT))
        # this process talks to 127.0.0.1 directly too
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            monkeypatch_module.delenv(var, raising=False)
        monkeypatch_module.setenv("NO_PROXY", "127.0.0.1,localhost")
        server = BlobServer(connection_string=connection_string, ansible_home=ansible_home)
        # ready when a blob can be written and read (not just when the port answers)
        deadline, last = time.monotonic() + 120, None
        while True:
            try:
                probe = server.service.get_container_client("itest-ready")
                if not probe.exists():
                    probe.create_container()
                probe.upload_blob("probe", b"ready", overwrite=True)
                assert probe.download_blob("probe").readall() == b"ready"
                break
            except Exception as e:  # noqa: BLE001 (connection refused while Azurite starts, ...)
                last = e
            state = subprocess.run([docker, "inspect", "-f", "{{.State.Running}}", name], capture_output=True,
                                   text=True, check=False).stdout.strip()
            if state != "true" or time.monotonic() > deadline:
                logs = subprocess.run([docker, "logs", "--tail", "40", name], capture_output=True, text=True,
                                      check=False)
                pytest.fail("Azurite (%s) did not answer (running=%s, last error: %s); logs:\n%s"
                            % (name, state, last, (logs.stdout + logs.stderr)[-4000:]))
            time.sleep(0.5)
        yield server
    finally:
        subprocess.run([docker, "rm", "-f", "-v", name], capture_output=True, check=False, timeout=120)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


# ---------------------------------------------------------------- local trees and blobs


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _tree(src: Path, prefix: str) -> dict[str, Path]:
    """{blob name: file} of every file below src."""
    return {prefix + "/" + p.relative_to(src).as_posix(): p for p in sorted(src.rglob("*")) if p.is_file()}


def _blobs(container, prefix: str) -> dict[str, dict]:
    """{name: {size, md5, etag, modified, sha256}} below prefix/."""
    found = {}
    for blob in container.list_blobs(name_starts_with=prefix + "/", include=["metadata"]):
        md5 = blob.content_settings.content_md5
        found[blob.name] = {"size": blob.size, "md5": bytes(md5).hex() if md5 else None, "etag": blob.etag,
                            "modified": blob.last_modified, "sha256": (blob.metadata or {}).get("sha256")}
    return found


def _assert_same_bytes(container, files: dict[str, Path]) -> None:
    wrong = [name for name, path in files.items()
             if hashlib.sha256(container.download_blob(name).readall()).digest()
             != hashlib.sha256(path.read_bytes()).digest()]
    assert not wrong, "blobs whose bytes differ from their file: %s" % wrong


def _assert_untouched(before: dict[str, dict], after: dict[str, dict], names) -> None:
    touched = {n: (before[n], after.get(n)) for n in names
               if after.get(n) is None or after[n]["etag"] != before[n]["etag"]}
    assert not touched, "blobs written again (before, after): %s" % touched


# ---------------------------------------------------------------- the tests


def test_first_sync_same_paths_blocks_verified_then_nothing_to_do(azure, tmp_path):
    container = azure.container("itest-first")
    src = tmp_path / "artifacts"
    rng = random.Random(16)
    _write(src / "1/0a1b/artifacts/model/MLmodel", b"artifact_path: model\nflavors: {}\n")
    _write(src / "1/0a1b/artifacts/metrics.json", json.dumps({"rmse": 0.5}).encode())
    _write(src / "1/0a1b/artifacts/empty.txt", b"")
    _write(src / "1/0a1b/artifacts/model/weights.bin", rng.randbytes(BIG))
    _write(src / "2/ffee/artifacts/small.bin", rng.randbytes(3 * MiB + 17))
    files = _tree(src, "artifacts")
    big = "artifacts/1/0a1b/artifacts/model/weights.bin"
    dest = "wasbs://itest-first@%s.blob.core.windows.net/artifacts" % ACCOUNT

    first = azure.sync(tmp_path / "first", src, dest, multipart_threshold_mb=8)
    r = first.result
    assert first.rc == 0 and r.get("changed") is True, first.describe()
    assert r["files"] == len(files) == 5, first.describe()
    assert sorted(r["uploaded"]) == sorted(files) and r["uploaded_count"] == 5, first.describe()
    assert r["skipped_count"] == 0 and r["verified"] == 5 and r["conflicts"] == [], first.describe()
    assert r["bytes_uploaded"] == sum(p.stat().st_size for p in files.values()), first.describe()

    blobs = _blobs(container, "artifacts")
    assert sorted(blobs) == sorted(files), "blob names must be PREFIX/<relative path>"
    for name, path in files.items():
        body = path.read_bytes()
        assert blobs[name]["size"] == len(body), name
        assert blobs[name]["md5"] == hashlib.md5(body).hexdigest(), name
        assert blobs[name]["sha256"] == hashlib.sha256(body).hexdigest(), name
    # the 9 MiB file went in blocks (Put Block List): its Content-MD5 is the one the module set
    committed, _uncommitted = container.get_blob_client(big).get_block_list("committed")
    assert len(committed) == 3, "the %d-byte file should be 3 blocks of 4 MiB, got %d" % (BIG, len(committed))
    assert container.get_blob_client(big).get_blob_properties().content_settings.content_type == \
        "application/octet-stream"
    _assert_same_bytes(container, files)

    second = azure.sync(tmp_path / "second", src, dest, multipart_threshold_mb=8)
    r = second.result
    assert second.rc == 0 and r.get("changed") is False, second.describe()
    assert r["uploaded_count"] == 0 and r["uploaded"] == [] and r["bytes_uploaded"] == 0, second.describe()
    assert r["skipped_count"] == 5 and r["verified"] == 5, second.describe()
    _assert_untouched(blobs, _blobs(container, "artifacts"), files)

    # with the default threshold (64 MiB) the 9 MiB file would be one request; its blob is still recognised
    third = azure.sync(tmp_path / "third", src, dest)
    assert third.rc == 0 and third.result.get("changed") is False, third.describe()


def test_check_mode_writes_nothing(azure, tmp_path):
    container = azure.container("itest-check")
    src = tmp_path / "artifacts"
    _write(src / "1/r/artifacts/a.txt", b"a\n")
    _write(src / "1/r/artifacts/b.txt", b"b\n")
    container.upload_blob("artifacts/1/r/artifacts/a.txt", b"a\n")
    before = _blobs(container, "artifacts")
    dest = "wasbs://itest-check@%s.blob.core.windows.net/artifacts" % ACCOUNT

    checked = azure.sync(tmp_path / "check", src, dest, check=True)
    r = checked.result
    assert checked.rc == 0 and r.get("changed") is True, checked.describe()
    assert r["uploaded"] == ["artifacts/1/r/artifacts/b.txt"] and r["skipped_count"] == 1, checked.describe()
    assert "would upload 1 of 2" in r["msg"], checked.describe()
    after = _blobs(container, "artifacts")
    assert sorted(after) == sorted(before)
    _assert_untouched(before, after, before)


def test_conflict_fails_before_upload_then_overwrite(azure, tmp_path):
    container = azure.container("itest-conflict")
    src = tmp_path / "artifacts"
    rng = random.Random(17)
    same, other, new = (src / "1/r/artifacts/same.bin", src / "1/r/artifacts/other.bin",
                        src / "1/r/artifacts/new.txt")
    _write(same, rng.randbytes(MiB))
    _write(other, rng.randbytes(MiB))
    _write(new, b"not in the container yet\n")
    files = _tree(src, "artifacts")
    container.upload_blob("artifacts/1/r/artifacts/same.bin", same.read_bytes())
    container.upload_blob("artifacts/1/r/artifacts/other.bin", rng.randbytes(MiB))  # same size, other bytes
    container.upload_blob("artifacts/9/extra.txt", b"no local file\n")
    before = _blobs(container, "artifacts")
    dest = "wasbs://itest-conflict@%s.blob.core.windows.net/artifacts" % ACCOUNT

    refused = azure.sync(tmp_path / "refused", src, dest)
    r = refused.result
    assert refused.rc != 0 and r.get("failed") is True, refused.describe()
    assert r.get("conflicts") == [{"key": "artifacts/1/r/artifacts/other.bin", "reason": "md5 differs"}], \
        refused.describe()
    assert "nothing was uploaded" in r.get("msg", "") and r["extra_objects"] == 1, refused.describe()
    after = _blobs(container, "artifacts")
    assert "artifacts/1/r/artifacts/new.txt" not in after, "a run that fails on conflicts must not upload anything"
    _assert_untouched(before, after, before)

    replaced = azure.sync(tmp_path / "replaced", src, dest, on_conflict="overwrite")
    r = replaced.result
    assert replaced.rc == 0 and r.get("changed") is True, replaced.describe()
    assert sorted(r["uploaded"]) == ["artifacts/1/r/artifacts/new.txt", "artifacts/1/r/artifacts/other.bin"], \
        replaced.describe()
    assert r["skipped_count"] == 1 and r["verified"] == 3 and r["extra_objects"] == 1, replaced.describe()
    after = _blobs(container, "artifacts")
    _assert_untouched(before, after, ["artifacts/1/r/artifacts/same.bin", "artifacts/9/extra.txt"])
    _assert_same_bytes(container, files)


def test_missing_container_fails_clearly(azure, tmp_path):
    src = tmp_path / "artifacts"
    _write(src / "a.txt", b"a\n")
    run = azure.sync(tmp_path / "missing", src, "wasbs://no-such-container@%s.blob.core.windows.net/x" % ACCOUNT)
    assert run.rc != 0 and run.result.get("failed") is True, run.describe()
    assert "container no-such-container does not exist" in run.result["msg"], run.describe()
    assert ACCOUNT_KEY not in run.stdout + run.stderr
