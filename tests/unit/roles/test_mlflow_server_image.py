# -*- coding: utf-8 -*-
"""Credentials of the pip index (mlflow_server_pip_index_url, ..._extra_index_urls) stay out of
the MLflow server image: not in its ENV/labels (`docker inspect`), not in its history
(`docker history --no-trunc`), not in any of its layers (`docker save`), and not in the rendered
Dockerfile on the host either.

The build works with the classic builder (docker 20.10, community.docker.docker_image
source: build; no BuildKit secrets): pip reads the index settings from a pip.conf (0600, no_log)
in the build context that only the build stage of a multi-stage build copies; the final stage
copies the venv from it.

The Dockerfile and pip.conf are rendered from the role's own files (Dockerfile.j2 and the pip.conf
task of build.yml). When a Docker engine answers, the rendered Dockerfile is built FROM a stub
base image (a few host binaries plus stand-ins for python3/pip, made here without a registry)
and the image is inspected; otherwise that test is skipped and the render tests remain.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest
import yaml

jinja2 = pytest.importorskip("jinja2")

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "mlflow_server"
INDEX_USER = "pipuser"
INDEX_TOKEN = "S3cr3t-index-token"
EXTRA_TOKEN = "Xtra-s3cr3t-token"
SECRETS = [INDEX_TOKEN, EXTRA_TOKEN]
SETTINGS = {
    "mlflow_server_pip_index_url": f"https://{INDEX_USER}:{INDEX_TOKEN}@pypi.example.internal/simple",
    "mlflow_server_pip_extra_index_urls": [f"https://ci:{EXTRA_TOKEN}@extra.example.internal/simple"],
    "mlflow_server_pip_trusted_hosts": ["pypi.example.internal"],
}


def _context(**overrides):
    context = {"ansible_managed": "Ansible managed (unit test)"}
    context.update(yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()))
    for key, value in (yaml.safe_load((ROLE / "vars" / "main.yml").read_text()) or {}).items():
        if not (isinstance(value, str) and "{{" in value):
            context[key] = value  # constants only
    context.update(overrides)
    return context


def _env():
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True)


def render_dockerfile(**overrides):
    text = _env().from_string((ROLE / "templates" / "Dockerfile.j2").read_text()).render(_context(**overrides))
    assert "{{" not in text, "a variable of the Dockerfile was not rendered"
    return text


def _pip_conf_task():
    def flat(tasks):  # the tasks of build_image.yml (included by build_steps.yml), blocks included
        for task in tasks or []:
            yield task
            for key in ("block", "rescue", "always"):
                yield from flat(task.get(key))

    tasks = list(flat(yaml.safe_load((ROLE / "tasks" / "build_image.yml").read_text())))
    found = [t for t in tasks if str((t.get("ansible.builtin.copy") or {}).get("dest", "")).endswith("/pip.conf")]
    assert len(found) == 1, "build_image.yml must write pip.conf into the build context with ansible.builtin.copy"
    return found[0]


def render_pip_conf(**overrides):
    return _env().from_string(_pip_conf_task()["ansible.builtin.copy"]["content"]).render(_context(**overrides))


def stages(dockerfile):
    """[(FROM line, [instructions])] of a Dockerfile (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", dockerfile)
    result = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append((line, []))
        else:
            assert result, "instruction before FROM: " + line
            result[-1][1].append(line)
    return result


# ------------------------------------------------------------------ render tests (always)
def test_no_credentials_in_the_rendered_dockerfile():
    dockerfile = render_dockerfile(**SETTINGS)
    for secret in SECRETS:
        assert secret not in dockerfile
    assert "PIP_INDEX_URL" not in dockerfile and "PIP_EXTRA_INDEX_URL" not in dockerfile


def test_the_dockerfile_does_not_depend_on_the_index_settings():
    """The image tag hashes the rendered Dockerfile: a rotated token must not rebuild the image
    (nor may the tag be a hash over the token)."""
    assert render_dockerfile(**SETTINGS) == render_dockerfile()


def test_pip_conf_is_used_by_the_build_stage_only():
    parts = stages(render_dockerfile(**SETTINGS))
    assert len(parts) == 2, "a build stage and the final stage"
    (build_from, build), (final_from, final) = parts
    assert re.match(r"FROM \S+ AS \S+$", build_from, re.IGNORECASE)
    stage_name = build_from.split()[-1]
    assert any(i.startswith("COPY") and "pip.conf" in i for i in build)
    assert any("pip install" in i for i in build if i.startswith("RUN"))
    assert not any("pip.conf" in i for i in final)
    assert not any(i.startswith("ARG") for i in build + final), "ARG values show in docker history"
    assert any(re.match(rf"COPY --from={stage_name} \S*/opt/mlflow\S* ", i) for i in final), final
    assert not any("PIP_CONFIG_FILE" in i for i in final)


def test_pip_conf_holds_the_index_settings():
    conf = render_pip_conf(**SETTINGS)
    lines = [line.strip() for line in conf.splitlines()]
    assert "[global]" in lines
    assert f"index-url = {SETTINGS['mlflow_server_pip_index_url']}" in lines
    assert f"extra-index-url = {SETTINGS['mlflow_server_pip_extra_index_urls'][0]}" in lines
    assert "trusted-host = pypi.example.internal" in lines
    empty = render_pip_conf()
    assert "index-url" not in empty and "[global]" in empty


def test_pip_conf_task_is_private():
    task = _pip_conf_task()
    assert task.get("no_log") is True
    assert task["ansible.builtin.copy"]["mode"] == "0600"


def test_the_ca_bundle_reaches_both_stages():
    parts = stages(render_dockerfile(mlflow_server_ca_bundle="/etc/ssl/certs/ca.pem", **SETTINGS))
    for _, instructions in parts:
        assert any(i.startswith("COPY ca-bundle.pem") for i in instructions)


# ------------------------------------------------------------------ build with the engine (when it answers)
STUB_BINARIES = {"bin/sh": "/bin/sh", "bin/mkdir": "/bin/mkdir", "bin/chown": "/bin/chown", "bin/cat": "/bin/cat",
                 "bin/grep": "/bin/grep", "bin/cp": "/bin/cp", "bin/chmod": "/bin/chmod"}
STUB_SCRIPTS = {
    # `python3 -m venv DIR`: a venv with stand-ins for pip and mlflow
    "usr/bin/python3": """#!/bin/sh
set -eu
[ "$1" = -m ] && [ "$2" = venv ] || { echo "stub python3: only -m venv" >&2; exit 2; }
mkdir -p "$3/bin"
cp /stub/pip /stub/mlflow /stub/python "$3/bin/"
""",
    # pip succeeds only when it is given the index (as the real pip would need to reach it)
    "stub/pip": """#!/bin/sh
if [ -n "${PIP_INDEX_URL:-}" ]; then exit 0; fi
if [ -n "${PIP_CONFIG_FILE:-}" ] && grep -q '^index-url = https://' "$PIP_CONFIG_FILE"; then exit 0; fi
echo "stub pip: no index configured" >&2
exit 1
""",
    "stub/mlflow": "#!/bin/sh\necho 'mlflow, version 0.0.0+stub'\n",
    # the venv's python records the migrations next to itself (schema_probe.py --record)
    "stub/python": """#!/bin/sh
set -eu
[ "${2:-}" = --record ] || { echo "stub python: only schema_probe.py --record" >&2; exit 2; }
echo '{"heads": ["stub"], "revisions": ["stub"]}' > "${0%/bin/python}/mlflow-migrations.json"
""",
    "usr/sbin/groupadd": "#!/bin/sh\nexit 0\n",
    "usr/sbin/useradd": "#!/bin/sh\nexit 0\n",
}


def _docker():
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: no engine here
        pytest.skip(f"no Docker engine answers: {exc}")
    if not shutil.which("ldd") or not Path("/bin/sh").exists():
        pytest.skip("ldd or /bin/sh missing: cannot make the stub base image")
    return docker, client


def _libraries(binaries):
    libs = set()
    for path in binaries:
        out = subprocess.run(["ldd", path], capture_output=True, text=True, check=False).stdout
        libs.update(re.findall(r"(/\S+\.so[.\d]*)", out))
    return sorted(libs)


def _stub_rootfs(path: Path):
    with tarfile.open(path, "w") as tar:
        def add_dir(name, mode=0o755):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def add_bytes(name, data, mode):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        libs = _libraries(STUB_BINARIES.values())
        dirs = {"tmp", "etc", "opt"}
        for name in list(STUB_BINARIES) + list(STUB_SCRIPTS) + [lib.lstrip("/") for lib in libs]:
            parts = name.split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        for name in sorted(dirs):
            add_dir(name, 0o1777 if name == "tmp" else 0o755)
        for name, source in STUB_BINARIES.items():
            add_bytes(name, Path(source).resolve().read_bytes(), 0o755)
        for lib in libs:
            add_bytes(lib.lstrip("/"), Path(lib).resolve().read_bytes(), 0o755)
        for name, text in STUB_SCRIPTS.items():
            add_bytes(name, text.encode(), 0o755)


@pytest.mark.parametrize("ca_bundle", [False, True], ids=["plain", "with-ca-bundle"])
def test_built_image_has_no_credentials(tmp_path, ca_bundle):
    docker, client = _docker()
    run_id = uuid.uuid4().hex[:12]
    base_tag = f"mlops-unit-test/stub-base:{run_id}"
    image_tag = f"mlops-unit-test/mlflow-server:{run_id}"
    try:
        base_dir = tmp_path / "base"
        base_dir.mkdir()
        _stub_rootfs(base_dir / "rootfs.tar")
        (base_dir / "Dockerfile").write_text(f"FROM scratch\nADD rootfs.tar /\nLABEL mlops-mlflow-unit-test={run_id}\n")
        client.images.build(path=str(base_dir), tag=base_tag, rm=True, forcerm=True, pull=False)

        # the build context as build.yml leaves it
        context = tmp_path / "context"
        context.mkdir()
        overrides = dict(SETTINGS, mlflow_server_base_image=base_tag)
        if ca_bundle:
            overrides["mlflow_server_ca_bundle"] = "/etc/ssl/ca.pem"
            (context / "ca-bundle.pem").write_text("-----BEGIN CERTIFICATE-----\nstub\n-----END CERTIFICATE-----\n")
        (context / "Dockerfile").write_text(render_dockerfile(**overrides))
        (context / "pip.conf").write_text(render_pip_conf(**overrides))
        (context / "pip.conf").chmod(0o600)
        (context / "requirements.txt").write_text("mlflow==0.0.0\n")
        (context / "constraints.txt").write_text("")
        for name in ("entrypoint.sh", "schema_probe.py"):
            shutil.copy(ROLE / "files" / name, context / name)
        try:
            image, _ = client.images.build(path=str(context), tag=image_tag, rm=True, forcerm=True, pull=False)
        except docker.errors.BuildError as exc:
            raise AssertionError("build failed: " + "".join(str(x.get("stream", x)) for x in exc.build_log)[-3000:])

        inspect = json.dumps(client.api.inspect_image(image.id))
        history = json.dumps(client.api.history(image.id))
        layers = b"".join(image.save(named=False))
        for secret in SECRETS:
            assert secret not in inspect, "a credential is in docker inspect"
            assert secret not in history, "a credential is in docker history"
            assert secret.encode() not in layers, "a credential is in a layer of the image"
        # the venv of the build stage made it into the final image
        out = client.containers.run(image.id, entrypoint=["/opt/mlflow/bin/mlflow"], command=["--version"], remove=True)
        assert b"0.0.0+stub" in out
        # so did the record of the migrations that the schema probe reads
        out = client.containers.run(image.id, entrypoint=["/bin/cat"], command=["/opt/mlflow/mlflow-migrations.json"],
                                    remove=True)
        assert json.loads(out) == {"heads": ["stub"], "revisions": ["stub"]}
    finally:
        for tag in (image_tag, base_tag):
            try:
                client.images.remove(tag, force=True)
            except docker.errors.APIError:
                pass
        try:
            client.images.prune(filters={"dangling": True, "label": f"mlops-mlflow-unit-test={run_id}"})
        except docker.errors.APIError:
            pass
        # the label of the stub base marks every image of this run, the build stage's included
        for leftover in client.images.list(all=True, filters={"label": f"mlops-mlflow-unit-test={run_id}"}):
            try:
                client.images.remove(leftover.id, force=True)
            except docker.errors.APIError:
                pass
