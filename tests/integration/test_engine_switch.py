# -*- coding: utf-8 -*-
"""The minio role refuses to start the other engine on a host that already runs one.

The default engine changed from minio to seaweedfs (0.2.0). A host deployed with the old default
has a container `minio` running MinIO on the data volume; the new default would start SeaweedFS on
that volume and hide every object. The preflight reads the existing container (here: a container
created, never started, with the command line the role gives each engine) and must refuse the
other engine before any change, naming minio_engine, and accept the engine that runs.
"""
from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from test_bad_input import BASELINES

# roles/minio/tasks/preflight.yml: the one task of the role's checks (mlops.mlflow.checks)
CHECKS = "Check the settings (every check; the failure lists each one that fails)"

# the commands roles/minio/vars/main.yml builds for each engine (shortened: the flag that tells them apart)
COMMANDS = {
    "minio": ["server", "/data", "--address", ":9000", "--console-address", ":9001"],
    "seaweedfs": ["server", "-ip=127.0.0.1", "-s3", "-s3.port=9000", "-s3.config=/etc/seaweedfs/s3.json"],
}


def _image(docker):
    """Any local image will do: the container is created, never started."""
    out = subprocess.run([docker, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                         text=True, check=False).stdout.split()
    return next((image for image in out if not image.endswith(":<none>")), None)


@pytest.fixture(params=sorted(COMMANDS))
def existing(request):
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no Docker engine to hold an existing object store container")
    image = _image(docker)
    if image is None:
        pytest.skip("no local image to create a container from")
    name = f"mlops-itest-objstore-{uuid.uuid4().hex[:8]}"
    subprocess.run([docker, "create", "--name", name, "--label", "org.mlops.test=engine_switch",
                    "--entrypoint", "/bin/true", image, *COMMANDS[request.param]],
                   capture_output=True, text=True, check=True)
    yield request.param, name
    subprocess.run([docker, "rm", "-f", name], capture_output=True, check=False)


def test_the_other_engine_is_refused_before_any_change(existing, run_role, tmp_path):
    running, name = existing
    other = "minio" if running == "seaweedfs" else "seaweedfs"
    run = run_role("minio", {**BASELINES["minio"], "minio_container_name": name, "minio_engine": other}, tmp_path)
    index, failed = run.first_failure
    assert run.rc != 0 and failed is not None, f"{other} accepted over a {running} container:\n{run.summary()}"
    assert failed.name == CHECKS, run.summary()
    assert not [t.name for t in run.tasks[: index + 1] if t.changed], run.summary()
    assert f"minio_engine: {running} to keep it" in failed.messages, run.summary()


def test_the_running_engine_passes(existing, run_role, tmp_path):
    running, name = existing
    run = run_role("minio", {**BASELINES["minio"], "minio_container_name": name, "minio_engine": running}, tmp_path)
    assert run.rc == 0, run.summary()
    assert CHECKS in [t.name for t in run.tasks if not t.failed and not t.result.get("skipped")], run.summary()
    assert not [t.name for t in run.tasks if t.changed], run.summary()
