# -*- coding: utf-8 -*-
"""mlops.mlflow.artifact_sync against a real S3 server: multipart uploads, resuming, other clients' objects.

The module's documentation claims that it uploads files at or above its threshold (64 MiB by
default) in parts, that it is resumable and idempotent (an object with the file's size and ETag
is skipped, also a multipart one another client uploaded with another part size) and that an
object with other bytes under the same key is a conflict that stops the task before any upload.
The unit tests check the logic against a fake S3; the sqlite_migration scenario migrates files
of at most 3 MiB. Here each claim is checked with data and a server that can prove it wrong:

- **multipart**: a 70 MiB file must land as a multipart object (ETag `...-2`, part 1 is 64 MiB),
  with the file's bytes (SHA-256 of the download), and a second run must change nothing;
- **resumable**: a run over 130 MiB (40 files of 1-2 MiB and the 70 MiB one) is killed (SIGKILL
  of ansible-playbook and every process below it) once the first 20 files have landed and the
  70 MiB file's multipart upload has begun. The run is let go on in 50 ms slices and stopped while the
  bucket is listed, so the kill comes at that point however fast the machine is (a slice cannot
  upload 70 MiB), and the partial state is asserted, not assumed. The next run must skip exactly what is there (unchanged ETag
  and Last-Modified) and upload the rest, and every object's bytes must then match its file;
- **other clients**: objects boto3 uploaded with 8 MiB parts, and with 7 MiB parts (a size no
  common client uses: only the server's answer for part 1 tells it), are skipped; objects with
  other bytes (same size) fail the task before anything is uploaded, and `on_conflict=overwrite`
  replaces them.

The module runs the way the roles run it: `ansible-playbook` on localhost with the collection
(this checkout, see conftest.py) and the secret key in an extra-vars file. The S3 server is a
throw-away SeaweedFS container (`mlops/seaweedfs:local`, as in the Molecule scenarios) named
`mlops-itest-s3-<random>` on a free port of 127.0.0.1 that docker picks, removed with its data
afterwards. The tests are skipped, naming what is missing, without boto3, docker or the image
(`scripts/build-images.sh seaweedfs` builds it).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
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

boto3 = pytest.importorskip("boto3", reason="boto3 is not installed in this Python (%s)" % sys.executable)
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402

IMAGE = "mlops/seaweedfs:local"
S3_PORT = 8333  # inside the container
MiB = 1048576
BIG = 70 * MiB  # above the module's default multipart threshold (64 MiB): 2 parts of 64 MiB and 6 MiB
DEFAULT_PART = 64 * MiB  # the module's part size for the default threshold: max(8, min(64, 512)) MiB
MULTIPART_ETAG = re.compile(r'^"?[0-9a-f]{32}-(\d+)"?$')
PLAIN_ETAG = re.compile(r'^"?[0-9a-f]{32}"?$')

PLAY = """\
- name: Copy an artifact tree into S3 with artifact_sync
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Sync
      mlops.mlflow.artifact_sync:
        src: "{{ sync_src }}"
        dest: "{{ sync_dest }}"
        endpoint_url: "{{ sync_endpoint_url }}"
        access_key: "{{ sync_access_key }}"
        secret_key: "{{ sync_secret_key }}"
        on_conflict: "{{ sync_on_conflict | default(omit) }}"
        multipart_threshold_mb: "{{ sync_multipart_threshold_mb | default(omit) }}"
"""




# ---------------------------------------------------------------- the S3 server


def _docker_problem() -> str | None:
    """Why no SeaweedFS container can be started here, or None."""
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
        return "the image %s is not built (scripts/build-images.sh seaweedfs)" % IMAGE
    return None


def _client(endpoint: str, access_key: str, secret_key: str, **config):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key,
                        config=Config(s3={"addressing_style": "path"}, **config))


@dataclass
class SyncRun:
    rc: int
    result: dict  # the task's result ({} when the output could not be read)
    stdout: str
    stderr: str

    def describe(self) -> str:
        """rc, the result without its invocation (the secret is no_log, but nothing else is needed) and the
        stderr tail when there is no result."""
        shown = {k: v for k, v in self.result.items() if k != "invocation"}
        text = "rc=%d result=%s" % (self.rc, json.dumps(shown, indent=1, sort_keys=True)[:6000])
        if not self.result:
            text += "\nstdout (tail): %s\nstderr (tail): %s" % (self.stdout[-2000:], self.stderr[-2000:])
        return text


def _parse(rc: int, stdout: str, stderr: str) -> SyncRun:
    result: dict = {}
    try:
        data = json.loads(stdout)
        for play in data.get("plays", []):
            for task in play.get("tasks", []):
                if task.get("task", {}).get("name") == "Sync":
                    result = task.get("hosts", {}).get("localhost", {})
    except ValueError:
        pass
    return SyncRun(rc=rc, result=result, stdout=stdout, stderr=stderr)


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    ansible_home: Path

    @property
    def client(self):
        return _client(self.endpoint, self.access_key, self.secret_key, retries={"max_attempts": 5})

    def bucket(self, name: str) -> str:
        self.client.create_bucket(Bucket=name)
        return name

    def command(self, workdir: Path, src: Path, dest: str, **options) -> tuple[list[str], dict]:
        """The ansible-playbook command line and environment of one artifact_sync run (secret in a vars file)."""
        workdir.mkdir(parents=True, exist_ok=True)
        playbook = workdir / "play.yml"
        playbook.write_text(PLAY)
        variables = {"sync_src": str(src), "sync_dest": dest, "sync_endpoint_url": self.endpoint,
                     "sync_access_key": self.access_key, "sync_secret_key": self.secret_key}
        variables.update({"sync_" + key: value for key, value in options.items()})
        vars_file = workdir / "vars.json"
        vars_file.touch(mode=0o600)
        vars_file.write_text(json.dumps(variables))
        home = self.ansible_home
        env = {key: value for key, value in ansible_env(home, drop=("ANSIBLE_", "AWS_")).items()
               if key.lower() not in ("http_proxy", "https_proxy")}
        env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
        command = [ANSIBLE_PLAYBOOK, "-i", str(home / "inventory.yml"), str(playbook), "-e", f"@{vars_file}"]
        return command, env

    def sync(self, workdir: Path, src: Path, dest: str, **options) -> SyncRun:
        command, env = self.command(workdir, src, dest, **options)
        proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
                              check=False)
        return _parse(proc.returncode, proc.stdout, proc.stderr)


def _docker_logs(docker: str, name: str) -> str:
    logs = subprocess.run([docker, "logs", "--tail", "40", name], capture_output=True, text=True, check=False)
    return (logs.stdout + logs.stderr)[-4000:]


@pytest.fixture(scope="module")
def s3(tmp_path_factory, ansible_home) -> Iterator[S3Server]:
    """A throw-away SeaweedFS S3 server on 127.0.0.1:<free port>, with one identity (random keys)."""
    problem = _docker_problem()
    if problem:
        pytest.skip("no S3 server for the artifact_sync tests: " + problem)
    docker = shutil.which("docker")
    access_key, secret_key = "itest" + secrets.token_hex(6), secrets.token_urlsafe(24)
    config_dir = tmp_path_factory.mktemp("seaweedfs")
    config = config_dir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "itest", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    config.chmod(0o644)  # read by the container's root, in a directory only we can enter
    name = "mlops-itest-s3-" + uuid.uuid4().hex[:10]
    run = subprocess.run([
        docker, "run", "-d", "--name", name, "--label", "org.mlops.test=artifact_sync_s3",
        "-p", "127.0.0.1::%d" % S3_PORT,  # docker picks a free host port
        "-v", "%s:/etc/seaweedfs/s3.json:ro" % config,
        IMAGE, "server",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3.ip.bind=0.0.0.0",
        "-s3", "-s3.port=%d" % S3_PORT, "-s3.config=/etc/seaweedfs/s3.json",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=256", "-volume.max=0", "-master.volumePreallocate=false",
        "-volume.preStopSeconds=1",
    ], capture_output=True, text=True, timeout=120, check=False)
    try:
        assert run.returncode == 0, "docker run %s failed: %s" % (name, run.stderr)
        port = subprocess.run([docker, "port", name, "%d/tcp" % S3_PORT], capture_output=True, text=True,
                              check=True).stdout.split()[0].rpartition(":")[2]
        endpoint = "http://127.0.0.1:%s" % port
        # ready when an authenticated client can write and read an object (not just when the port answers)
        probe = _client(endpoint, access_key, secret_key, retries={"max_attempts": 1}, connect_timeout=2,
                        read_timeout=10)
        deadline, last = time.monotonic() + 120, None
        while True:
            try:
                if "itest-ready" not in [b["Name"] for b in probe.list_buckets().get("Buckets", [])]:
                    probe.create_bucket(Bucket="itest-ready")
                probe.put_object(Bucket="itest-ready", Key="probe", Body=b"ready")
                assert probe.get_object(Bucket="itest-ready", Key="probe")["Body"].read() == b"ready"
                break
            except Exception as e:  # noqa: BLE001 (connection refused, 503 while the volume server starts, ...)
                last = e
            state = subprocess.run([docker, "inspect", "-f", "{{.State.Running}}", name], capture_output=True,
                                   text=True, check=False).stdout.strip()
            if state != "true" or time.monotonic() > deadline:
                pytest.fail("SeaweedFS (%s) did not answer S3 requests (running=%s, last error: %s); logs:\n%s"
                            % (name, state, last, _docker_logs(docker, name)))
            time.sleep(0.5)
        yield S3Server(endpoint=endpoint, access_key=access_key, secret_key=secret_key, ansible_home=ansible_home)
    finally:
        subprocess.run([docker, "rm", "-f", "-v", name], capture_output=True, check=False, timeout=120)


# ---------------------------------------------------------------- local trees and objects


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    """One 70 MiB file of random bytes, hard-linked into the trees that need it (written once)."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    path.write_bytes(random.Random(70).randbytes(BIG))
    return path


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _link(source: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, path)
    except OSError:
        shutil.copyfile(source, path)


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            sha.update(chunk)
    return sha.hexdigest()


def _tree(src: Path, prefix: str) -> dict[str, Path]:
    """{object key: file} of every file below src."""
    return {prefix + "/" + p.relative_to(src).as_posix(): p for p in sorted(src.rglob("*")) if p.is_file()}


def _objects(client, bucket: str, prefix: str) -> dict[str, dict]:
    """{key: {size, etag, modified}} below prefix/."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = {"size": obj["Size"], "etag": obj["ETag"], "modified": obj["LastModified"]}
    return found


def _sha256_object(client, bucket: str, key: str) -> str:
    sha = hashlib.sha256()
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(MiB), b""):
        sha.update(chunk)
    return sha.hexdigest()


def _assert_same_bytes(client, bucket: str, files: dict[str, Path]) -> None:
    wrong = [key for key, path in files.items() if _sha256_object(client, bucket, key) != _sha256_file(path)]
    assert not wrong, "objects whose bytes differ from their file: %s" % wrong


def _assert_untouched(before: dict[str, dict], after: dict[str, dict], keys) -> None:
    """Same ETag and Last-Modified: the object was not written again."""
    touched = {key: (before[key], after.get(key)) for key in keys
               if after.get(key) is None or (after[key]["etag"], after[key]["modified"])
               != (before[key]["etag"], before[key]["modified"])}
    assert not touched, "objects written again (before, after): %s" % touched


def _next_second() -> None:
    """Sleep into the next second, so that an object written from now on has a later Last-Modified (S3 gives it in
    seconds) than any object written before."""
    time.sleep(1.05 - (time.time() % 1))


# ---------------------------------------------------------------- the tests


def test_multipart_upload_above_threshold_then_nothing_to_do(s3, big_file, tmp_path):
    bucket = s3.bucket("itest-multipart")
    src = tmp_path / "artifacts"
    _write(src / "1/0a1b/artifacts/model/MLmodel", b"artifact_path: model\nflavors: {}\n")
    _write(src / "1/0a1b/artifacts/metrics.json", json.dumps({"rmse": 0.5}).encode())
    _write(src / "1/0a1b/artifacts/empty.txt", b"")
    _write(src / "1/0a1b/artifacts/weights-small.bin", random.Random(1).randbytes(3 * MiB + 17))
    _link(big_file, src / "1/0a1b/artifacts/model/weights.bin")
    files = _tree(src, "artifacts")
    big_key = "artifacts/1/0a1b/artifacts/model/weights.bin"
    client = s3.client

    first = s3.sync(tmp_path / "first", src, "s3://%s/artifacts" % bucket)  # default threshold: 64 MiB
    r = first.result
    assert first.rc == 0 and r.get("changed") is True, first.describe()
    assert r["files"] == len(files) == 5, first.describe()
    assert r["uploaded_count"] == len(files) and sorted(r["uploaded"]) == sorted(files), first.describe()
    assert r["skipped_count"] == 0 and r["verified"] == len(files) and r["conflicts"] == [], first.describe()
    assert r["bytes_uploaded"] == sum(p.stat().st_size for p in files.values()), first.describe()

    head = client.head_object(Bucket=bucket, Key=big_key)
    match = MULTIPART_ETAG.match(head["ETag"])
    assert match and int(match.group(1)) == 2, (
        "the 70 MiB file should be a multipart object of 2 parts (64 MiB + 6 MiB), ETag %s" % head["ETag"])
    assert head["ContentLength"] == BIG
    assert head["Metadata"].get("sha256") == _sha256_file(big_file)
    assert client.head_object(Bucket=bucket, Key=big_key, PartNumber=1)["ContentLength"] == DEFAULT_PART
    for key in files:
        if key != big_key:
            assert PLAIN_ETAG.match(client.head_object(Bucket=bucket, Key=key)["ETag"]), key
    _assert_same_bytes(client, bucket, files)

    before = _objects(client, bucket, "artifacts")
    _next_second()
    second = s3.sync(tmp_path / "second", src, "s3://%s/artifacts" % bucket)
    r = second.result
    assert second.rc == 0 and r.get("changed") is False, second.describe()
    assert r["uploaded_count"] == 0 and r["uploaded"] == [] and r["bytes_uploaded"] == 0, second.describe()
    assert r["skipped_count"] == len(files) and r["verified"] == len(files), second.describe()
    _assert_untouched(before, _objects(client, bucket, "artifacts"), files)


def _processes() -> dict[int, tuple[int, str]]:
    """{pid: (parent pid, state)} of every process (Linux /proc)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        found[int(stat.parent.name)] = (int(fields[1]), fields[0])
    return found


def _tree_pids(pid: int) -> set[int]:
    """pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for child, (parent, _state) in _processes().items():
        children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, []))
    return found


def _signal(pids, signum) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _freeze(pid: int) -> set[int]:
    """SIGSTOP a process and every descendant; returns their pids once all are stopped.

    The whole tree, not the process group: Ansible's worker processes call setsid(), so the worker and the module
    it runs are in sessions of their own (a SIGKILL of ansible-playbook's group leaves the module uploading).
    A stopped process cannot fork: the tree is collected again until no new process appears."""
    frozen: set[int] = set()
    while True:
        new = _tree_pids(pid) - frozen
        if not new:
            break
        _signal(new, signal.SIGSTOP)
        frozen |= new
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the signal is asynchronous: wait until none runs any more
        table = _processes()
        if all(p not in table or table[p][1] in ("T", "t", "Z", "X") for p in frozen):
            break
        time.sleep(0.005)
    return frozen


def _alive(pids) -> set[int]:
    """The pids that are still running (zombies do not count)."""
    table = _processes()
    return {pid for pid in pids if pid in table and table[pid][1] not in ("Z", "X")}


def test_killed_run_resumes_where_it_stopped(s3, big_file, tmp_path):
    bucket = s3.bucket("itest-resume")
    src = tmp_path / "artifacts"
    rng = random.Random(2)
    # keys in upload order (the module uploads in key order): 20 small files, the 70 MiB file, 20 small files
    first_half = []
    for run in ("a", "z"):
        for i in range(20):
            path = src / ("1/run-%s/artifacts/part-%02d.bin" % (run, i))
            _write(path, rng.randbytes(rng.randint(MiB, 2 * MiB)))
            if run == "a":
                first_half.append("artifacts/" + path.relative_to(src).as_posix())
    big_key = "artifacts/1/run-m/artifacts/model.bin"
    _link(big_file, src / "1/run-m/artifacts/model.bin")
    files = _tree(src, "artifacts")
    assert len(files) == 41
    client = s3.client

    # The run goes on in slices of 50 ms and is stopped (SIGSTOP) while the bucket is listed, so it cannot outrun
    # the check however fast the machine is. Once the first 20 files have landed and the 70 MiB file's multipart
    # upload has begun, it is killed (SIGKILL) while stopped: a slice cannot upload 70 MiB, so it is killed
    # halfway through that upload.
    command, env = s3.command(tmp_path / "killed", src, "s3://%s/artifacts" % bucket)
    with open(tmp_path / "killed.out", "wb") as out:
        proc = subprocess.Popen(command, cwd=tmp_path / "killed", env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    frozen: set[int] = set()
    slices = 0
    try:
        deadline = time.monotonic() + 300
        while True:
            time.sleep(0.05)
            frozen = _freeze(proc.pid)
            slices += 1
            present = _objects(client, bucket, "artifacts")
            started = [u for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
                       if u["Key"] == big_key]
            if set(first_half) <= set(present) and started:
                _signal(frozen, signal.SIGKILL)  # an interrupted migration: nothing gets to clean up
                break
            if big_key in present or proc.poll() is not None or time.monotonic() > deadline:
                how = ("ended (rc=%s)" % proc.returncode if proc.returncode is not None
                       else "finished the 70 MiB file unseen" if big_key in present else "timed out")
                pytest.fail("the run was not interrupted: it %s with %d of %d objects in the bucket\n%s" % (
                    how, len(present), len(files), (tmp_path / "killed.out").read_text()[-3000:]))
            _signal(frozen, signal.SIGCONT)
    finally:
        if proc.poll() is None:
            frozen |= _freeze(proc.pid)
            _signal(frozen, signal.SIGKILL)
        proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while _alive(frozen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(frozen), "processes of the killed run are still alive: %s" % _alive(frozen)
    time.sleep(1)  # lets an upload whose request was complete when it was killed land
    _next_second()
    before = _objects(client, bucket, "artifacts")
    # the precondition, checked rather than assumed: killed halfway, before the 70 MiB file was complete
    assert set(first_half) <= set(before) and big_key not in before and 0 < len(before) < len(files), (
        "expected a partial upload after the kill (the first 20 files, not the 70 MiB one), found %d of %d "
        "objects: %s" % (len(before), len(files), sorted(before)))
    assert set(before) <= set(files)

    resumed = s3.sync(tmp_path / "resumed", src, "s3://%s/artifacts" % bucket)
    r = resumed.result
    assert resumed.rc == 0 and r.get("changed") is True, resumed.describe()
    assert r["files"] == len(files) and r["verified"] == len(files) and r["conflicts"] == [], resumed.describe()
    assert r["skipped_count"] == len(before), (
        "%d objects were in the bucket before the second run: all should be skipped\n%s"
        % (len(before), resumed.describe()))
    assert r["uploaded_count"] == len(files) - len(before), resumed.describe()
    assert sorted(r["uploaded"]) == sorted(set(files) - set(before)), resumed.describe()
    after = _objects(client, bucket, "artifacts")
    assert sorted(after) == sorted(files)
    _assert_untouched(before, after, before)
    match = MULTIPART_ETAG.match(after[big_key]["etag"])
    assert match and match.group(1) == "2", after[big_key]
    _assert_same_bytes(client, bucket, files)
    print("killed after %d slices with %d of %d objects in the bucket; unfinished multipart uploads: %d at the "
          "kill, %d after the second run" % (slices, len(before), len(files), len(started),
                                              len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))))


def test_objects_of_other_clients_skipped_or_conflict(s3, tmp_path):
    bucket = s3.bucket("itest-foreign")
    src = tmp_path / "artifacts"
    rng = random.Random(3)
    same8, same7 = src / "1/r/artifacts/same-8mib-parts.bin", src / "1/r/artifacts/same-7mib-parts.bin"
    other_small, other_multi = src / "1/r/artifacts/differs-small.bin", src / "1/r/artifacts/differs-multipart.bin"
    new = src / "1/r/artifacts/new.txt"
    for path in (same8, same7, other_multi):
        _write(path, rng.randbytes(20 * MiB))
    _write(other_small, rng.randbytes(MiB))
    _write(new, b"not in the bucket yet\n")
    files = _tree(src, "artifacts")
    client = s3.client

    def key(path: Path) -> str:
        return "artifacts/" + path.relative_to(src).as_posix()

    def put_multipart(path_or_bytes, key_: str, part: int) -> None:
        """Upload as another client would: boto3's upload_file, threshold 5 MiB, the given part size."""
        config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=part)
        if isinstance(path_or_bytes, bytes):
            scratch = tmp_path / "scratch.bin"
            scratch.write_bytes(path_or_bytes)
            path_or_bytes = scratch
        client.upload_file(str(path_or_bytes), bucket, key_, Config=config)

    put_multipart(same8, key(same8), 8 * MiB)
    put_multipart(same7, key(same7), 7 * MiB)  # 3 parts, as with 8 MiB: the part size is only known from the server
    put_multipart(rng.randbytes(20 * MiB), key(other_multi), 8 * MiB)  # same size, other bytes
    client.put_object(Bucket=bucket, Key=key(other_small), Body=rng.randbytes(MiB))  # same size, other bytes
    before = _objects(client, bucket, "artifacts")
    for path in (same8, same7, other_multi):
        assert MULTIPART_ETAG.match(before[key(path)]["etag"]).group(1) == "3", before[key(path)]
    _next_second()

    # default on_conflict=fail: the task fails, names both conflicts, uploads nothing
    refused = s3.sync(tmp_path / "refused", src, "s3://%s/artifacts" % bucket)
    r = refused.result
    assert refused.rc != 0 and r.get("failed") is True, refused.describe()
    conflicts = {c["key"]: c["reason"] for c in r.get("conflicts", [])}
    assert sorted(conflicts) == sorted([key(other_small), key(other_multi)]), refused.describe()
    assert "md5 differs" in conflicts[key(other_small)], refused.describe()
    assert "multipart ETag" in conflicts[key(other_multi)], refused.describe()
    assert "nothing was uploaded" in r.get("msg", ""), refused.describe()
    after = _objects(client, bucket, "artifacts")
    assert key(new) not in after, "a run that fails on conflicts must not upload anything"
    _assert_untouched(before, after, before)

    # on_conflict=overwrite: the two conflicts are replaced, the other clients' copies of the same bytes stay
    replaced = s3.sync(tmp_path / "replaced", src, "s3://%s/artifacts" % bucket, on_conflict="overwrite")
    r = replaced.result
    assert replaced.rc == 0 and r.get("changed") is True, replaced.describe()
    assert sorted(c["key"] for c in r["conflicts"]) == sorted([key(other_small), key(other_multi)]), \
        replaced.describe()
    assert sorted(r["uploaded"]) == sorted([key(new), key(other_small), key(other_multi)]), replaced.describe()
    assert r["skipped_count"] == 2 and r["verified"] == len(files), replaced.describe()
    after = _objects(client, bucket, "artifacts")
    # not written again: still the other client's multipart objects (the module would upload 20 MiB in one part)
    _assert_untouched(before, after, [key(same8), key(same7)])
    assert sorted(after) == sorted(files)
    _assert_same_bytes(client, bucket, files)
