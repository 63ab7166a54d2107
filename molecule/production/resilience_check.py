#!/usr/bin/env python3
"""Fault and large-artifact checks of the production stage, from OUTSIDE the instance, with the
real MLflow client through Nginx only (proxied artifacts).

    resilience_check.py seed SETTINGS STATE
        log an experiment, a run (params, a metric history, a 2 MiB artifact) and a registered
        model version; write what must be read back to STATE (JSON)
    resilience_check.py readback SETTINGS STATE --timeout S [--since EPOCH]
        read all of it back (artifact by sha256) until it passes or S seconds have passed;
        "recovery_s" is the time from EPOCH (when the fault was injected) to the first success
    resilience_check.py warm SETTINGS STATE --instance NAME [--container NAME]
        send bursts of parallel requests until every uvicorn worker of the server holds a
        database connection (checked inside the instance with ss; at most 10 bursts). A worker
        that has not built its store yet retries the engine creation with backoff for ~100 s
        when the database is down (MLflow's create_sqlalchemy_engine_with_retry) instead of
        answering 503 at once
    resilience_check.py db-down SETTINGS STATE --timeout S
        while the database is down: one client call must fail within S seconds with a clear
        error (HTTP 5xx, an MlflowException with a message), not hang
    resilience_check.py large SETTINGS --mib N --max-body SIZE --workdir DIR --instance NAME
                        --container NAME --max-anon-growth-mib M
        (a) a PUT whose Content-Length exceeds Nginx's client_max_body_size (SIZE, Nginx syntax)
        gets 413 at once; (b) an N MiB random file (written to DIR on disk, removed afterwards)
        is logged with mlflow.log_artifact and downloaded again (sha256 compared) while the
        server container's cgroup memory is sampled every 0.5 s inside the instance NAME;
        the peak anonymous memory may grow by at most M MiB over the idle value

Settings come from the same 0600 JSON file as production_check.py (CHECK_IP, CHECK_PUBLIC_URL,
CHECK_USER, CHECK_PASSWORD); no secret is on a command line. Prints one JSON line; exit code 0
when every check passed.
"""
import argparse
import base64
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("mode", choices=["seed", "readback", "warm", "db-down", "large"])
parser.add_argument("settings")
parser.add_argument("state", nargs="?")
parser.add_argument("--timeout", type=float, default=300)
parser.add_argument("--since", type=float, default=None)
parser.add_argument("--mib", type=int, default=1024)
parser.add_argument("--max-body", default="10G")
parser.add_argument("--workdir", default=None)
parser.add_argument("--instance", default=None)
parser.add_argument("--container", default="mlflow-server")
parser.add_argument("--max-anon-growth-mib", type=int, default=256)
args = parser.parse_args()

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared"))
from checklib import load_settings, public_name, seen, sha256, stock_client, wait_until, write_random  # noqa: E402

cfg = load_settings(args.settings)
PUBLIC = cfg["CHECK_PUBLIC_URL"]
BASE = PUBLIC.rstrip("/")
NAME = public_name(PUBLIC, cfg["CHECK_IP"])
USER, PASSWORD, CA = cfg["CHECK_USER"], cfg["CHECK_PASSWORD"], cfg["CHECK_CA"]
# The real client, through Nginx; each request bounded, no hidden retries (the loops here retry).
stock_client(PUBLIC, USER, PASSWORD, CA, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="20")

import mlflow  # noqa: E402
import requests  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflowlib import artifact_digest, connect, metric_history  # noqa: E402

client = connect(PUBLIC)
PARAMS = {"alpha": "0.5", "layers": "3"}
LOSS = [1.0 / (step + 1) for step in range(5)]


class Mismatch(Exception):
    """The server answered, with data that differs from what was logged (data loss)."""


def done(ok, **extra):
    print(json.dumps({"ok": ok, "mode": args.mode, **extra, "seen": seen}))
    sys.exit(0 if ok else 1)


def seed():
    suffix = uuid.uuid4().hex[:8]
    exp_id = client.create_experiment(f"resilience-{suffix}")
    run = client.create_run(exp_id)
    run_id = run.info.run_id
    client.log_batch(run_id, params=[mlflow.entities.Param(k, v) for k, v in PARAMS.items()],
                     metrics=[mlflow.entities.Metric("loss", v, int(time.time() * 1000), s) for s, v in enumerate(LOSS)])
    with tempfile.TemporaryDirectory() as tmp:
        blob = os.path.join(tmp, "blob.bin")
        digest = write_random(blob, 4 << 20)
        client.log_artifact(run_id, blob, "data")
    client.set_terminated(run_id)
    model = f"resilience-model-{suffix}"
    client.create_registered_model(model)
    version = client.create_model_version(model, f"{run.info.artifact_uri}/data", run_id=run_id)
    state = {"experiment_id": exp_id, "run_id": run_id, "sha256": digest, "size": 4 << 20,
             "model": model, "version": version.version, "source": version.source}
    with open(args.state, "w") as f:
        json.dump(state, f)
    read_back(state)
    done(True, state=state)


def read_back(state):
    run = client.get_run(state["run_id"])
    if run.data.params != PARAMS:
        raise Mismatch(f"params differ: {run.data.params}")
    hist = metric_history(client, state["run_id"], "loss")
    if hist != list(enumerate(LOSS)):
        raise Mismatch(f"metric history differs: {[v for _, v in hist]}")
    runs = client.search_runs([state["experiment_id"]])
    if [r.info.run_id for r in runs] != [state["run_id"]]:
        raise Mismatch(f"search_runs: {[r.info.run_id for r in runs]}")
    if artifact_digest(client, state["run_id"], "data/blob.bin") != (state["size"], state["sha256"]):
        raise Mismatch("downloaded artifact differs")
    mv = client.get_model_version(state["model"], state["version"])
    if (mv.run_id, mv.source, mv.status) != (state["run_id"], state["source"], "READY"):
        raise Mismatch(f"model version differs: {mv.run_id} {mv.source} {mv.status}")


def readback():
    with open(args.state) as f:
        state = json.load(f)
    since = args.since or time.time()
    deadline = time.time() + args.timeout
    attempts, last_error, not_found, last_not_found = 0, None, 0, False
    while True:
        attempts += 1
        try:
            read_back(state)
        except Mismatch as exc:
            done(False, error=f"data lost: {exc}", attempts=attempts)
        except MlflowException as exc:
            # "Not found" while the stack comes back: right after a host restart the object
            # store answered an empty listing for a few seconds (SeaweedFS, 2026-12-01), so it
            # is retried, counted and shown; if it is still the answer at the deadline, the
            # data is lost (not "not recovered").
            last_not_found = exc.error_code == "RESOURCE_DOES_NOT_EXIST"
            not_found += last_not_found
            last_error = f"{type(exc).__name__} {exc.error_code}: {str(exc)[:300]}"
        except (requests.RequestException, OSError) as exc:
            last_not_found = False
            last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
        else:
            done(True, recovery_s=round(time.time() - since, 1), attempts=attempts, last_error=last_error,
                 not_found_answers=not_found)
        if time.time() > deadline:
            done(False, error=(f"data lost: still not found after {args.timeout:.0f} s" if last_not_found
                               else f"not recovered within {args.timeout:.0f} s"),
                 attempts=attempts, last_error=last_error, not_found_answers=not_found)
        time.sleep(1)


COLD_WORKERS = r"""
set -eu
init=$(docker inspect -f '{{.State.Pid}}' "$1")
cli=$(pgrep -P "$init" | head -n 1)
master=$(pgrep -P "$cli" -f uvicorn | head -n 1)
connected=$(nsenter -t "$init" -n ss -Htnp state established '( dport = :5432 )' | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
for worker in $(pgrep -P "$master" -f spawn_main); do
  echo "$connected" | grep -qx "$worker" && echo "warm $worker" || echo "cold $worker"
done
"""


def warm():
    """Bursts of 32 parallel get_run calls (new connections) until no worker is without a DB connection."""
    from concurrent.futures import ThreadPoolExecutor

    with open(args.state) as f:
        state = json.load(f)

    def one(_):
        return requests.get(f"{BASE}/api/2.0/mlflow/runs/get", params={"run_id": state["run_id"]}, auth=(USER, PASSWORD),
                            verify=CA, timeout=30).status_code

    for burst in range(1, 11):
        with ThreadPoolExecutor(16) as pool:
            codes = set(pool.map(one, range(32)))
        workers = subprocess.run(["docker", "exec", args.instance, "sh", "-c", COLD_WORKERS, "cold", args.container],
                                 capture_output=True, text=True, timeout=60, check=True).stdout.split("\n")
        seen.update(bursts=burst, statuses=sorted(codes), workers=[w for w in workers if w])
        if codes == {200} and workers and not [w for w in workers if w.startswith("cold")]:
            done(True)
    done(False, error="a server worker holds no database connection after 10 bursts")


def db_down():
    with open(args.state) as f:
        state = json.load(f)
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(args.timeout))
    # What the REST API answers (status and body), bounded by the timeout.
    t0 = time.time()
    try:
        r = requests.get(f"{BASE}/api/2.0/mlflow/runs/get", params={"run_id": state["run_id"]}, auth=(USER, PASSWORD),
                         verify=CA, timeout=args.timeout)
        seen["http"] = {"status": r.status_code, "body": r.text[:300], "s": round(time.time() - t0, 1)}
    except requests.RequestException as exc:
        done(False, error=f"no answer within {args.timeout:.0f} s: {type(exc).__name__}: {exc}")
    # MLflow's own answer, at once: 503 TEMPORARILY_UNAVAILABLE. Nginx's 502/504 (the server
    # gone or hanging) or an answer after seconds of waiting are failures.
    if r.status_code != 503 or "TEMPORARILY_UNAVAILABLE" not in r.text:
        done(False, error=f"HTTP {r.status_code} while the database is down, not 503 TEMPORARILY_UNAVAILABLE")
    if seen["http"]["s"] >= 5:
        done(False, error=f"503 after {seen['http']['s']} s, not at once (< 5 s)")
    # What the Python client raises.
    t0 = time.time()
    try:
        client.get_run(state["run_id"])
    except MlflowException as exc:
        exc_text = str(exc)
        seen["client"] = {"exception": type(exc).__name__, "error_code": exc.error_code,
                          "message": str(exc)[:120] + " ... " + str(exc)[-120:], "s": round(time.time() - t0, 1)}
    except requests.RequestException as exc:
        done(False, error=f"client got no answer: {type(exc).__name__}: {exc}")
    else:
        done(False, error="get_run succeeded while the database is down")
    if "503" not in str(exc_text) and "TEMPORARILY_UNAVAILABLE" not in str(exc_text):
        done(False, error="the client's error does not say the server is temporarily unavailable (503)")
    done(True)


def nginx_size(text):
    text = text.strip().lower()
    factor = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("kmg")) * factor


def too_large():
    """PUT with a Content-Length 1 GiB over the limit and 3 bytes of body: Nginx must answer 413."""
    parts = urllib.parse.urlsplit(PUBLIC)
    length = nginx_size(args.max_body) + (1 << 30)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    kw = {"context": ssl.create_default_context(cafile=CA)} if parts.scheme == "https" else {}
    conn = cls(NAME, parts.port or (443 if parts.scheme == "https" else 80), timeout=30, **kw)
    t0 = time.time()
    conn.putrequest("PUT", f"{parts.path.rstrip('/')}/api/2.0/mlflow-artifacts/artifacts/too-large/blob.bin")
    conn.putheader("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(length))
    conn.endheaders(b"abc")
    resp = conn.getresponse()
    seen["too_large"] = {"content_length": length, "status": resp.status, "reason": resp.reason,
                         "s": round(time.time() - t0, 2)}
    conn.close()
    if resp.status != 413:
        done(False, error=f"Content-Length {length} over {args.max_body}: HTTP {resp.status}, not 413")


SAMPLER = r"""
set -eu
c=$1; stop=$2; max=$3
pid=$(docker inspect -f '{{.State.Pid}}' "$c")
upper=$(docker inspect -f '{{.GraphDriver.Data.UpperDir}}' "$c")
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/$pid/cgroup); anon=anon; file=file; total=memory.current
else
  cg=/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' /proc/$pid/cgroup); anon=total_rss; file=total_cache
  total=memory.usage_in_bytes
fi
echo "cgroup $cg"
i=0
while [ "$i" -lt "$max" ] && [ ! -e "$stop" ]; do
  echo "$(date +%s.%N) $(awk -v a=$anon -v f=$file '$1==a{x=$2} $1==f{y=$2} END{print x, y}' $cg/memory.stat) \
$(cat $cg/$total) $(du -sk "$upper/tmp" 2>/dev/null | cut -f1)"
  sleep 0.5
  i=$((i + 1))
done
rm -f "$stop"
"""


class Sampler:
    """Samples the server container's cgroup memory (anon, page cache, total) and its /tmp use."""

    def __init__(self, instance, container, seconds):
        self.stop_file = f"/run/mem-sampler-{uuid.uuid4().hex[:8]}"
        self.instance, self.samples, self.cgroup = instance, [], None
        self.proc = subprocess.Popen(
            ["docker", "exec", instance, "sh", "-c", SAMPLER, "sampler", container, self.stop_file,
             str(int(seconds * 2))], stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            fields = line.split()
            if fields[0] == "cgroup":
                self.cgroup = fields[1]
            elif len(fields) >= 4:
                tmp_kib = int(fields[4]) if len(fields) > 4 else 0
                self.samples.append((float(fields[0]), int(fields[1]), int(fields[2]), int(fields[3]), tmp_kib))

    def mark(self):
        return len(self.samples)

    def wait_samples(self, n, timeout=10):
        wait_until(lambda: len(self.samples) >= n, time.time() + timeout, 0.1)

    def stop(self):
        subprocess.run(["docker", "exec", self.instance, "touch", self.stop_file], check=False, timeout=30)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.thread.join(timeout=5)

    def require_during(self, start, what):
        """At least one sample since `start` (taken while the transfer ran), or the peak is a guess."""
        if len(self.samples) <= start:
            done(False, error=f"no memory sample taken during {what}")

    def peak(self, start, end=None):
        window = self.samples[start:end]
        if not window:
            done(False, error=f"no memory sample between samples {start} and {end}: the peak would be a guess")
        mib = 1 << 20
        return {"anon_mib": round(max(s[1] for s in window) / mib), "page_cache_mib": round(max(s[2] for s in window) / mib),
                "total_mib": round(max(s[3] for s in window) / mib), "tmp_spool_mib": round(max(s[4] for s in window) / 1024),
                "samples": len(window)}


def large():
    too_large()
    mib = args.mib
    workdir = tempfile.mkdtemp(prefix="large-", dir=args.workdir)
    sampler = Sampler(args.instance, args.container, args.timeout)
    try:
        path = os.path.join(workdir, "large.bin")
        t0 = time.time()
        digest = write_random(path, mib << 20)
        seen["generate_s"] = round(time.time() - t0, 1)
        sampler.wait_samples(4)
        idle = sampler.peak(0)
        seen["cgroup"] = sampler.cgroup
        seen["idle"] = idle
        exp_id = client.create_experiment(f"large-{uuid.uuid4().hex[:8]}")
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(args.timeout))
        with mlflow.start_run(experiment_id=exp_id) as run:
            mark = sampler.mark()
            t0 = time.time()
            mlflow.log_artifact(path, artifact_path="large")
            took = time.time() - t0
            sampler.require_during(mark, "the upload")
            seen["upload"] = {"s": round(took, 1), "mib_per_s": round(mib / took, 1), **sampler.peak(mark)}
        os.unlink(path)
        mark = sampler.mark()
        t0 = time.time()
        got = client.download_artifacts(run.info.run_id, "large/large.bin", workdir)
        took = time.time() - t0
        sampler.require_during(mark, "the download")
        sampler.wait_samples(sampler.mark() + 1)
        seen["download"] = {"s": round(took, 1), "mib_per_s": round(mib / took, 1), **sampler.peak(mark)}
        same = os.path.getsize(got) == mib << 20 and sha256(got) == digest
        os.unlink(got)
    finally:
        sampler.stop()
        for root, _, files in os.walk(workdir, topdown=False):
            for name in files:
                os.unlink(os.path.join(root, name))
            os.rmdir(root)
    if not same:
        done(False, error=f"the {mib} MiB artifact came back different")
    growth = max(seen["upload"]["anon_mib"], seen["download"]["anon_mib"]) - idle["anon_mib"]
    seen["anon_growth_mib"] = growth
    if growth > args.max_anon_growth_mib:
        done(False, error=f"server anonymous memory grew by {growth} MiB for a {mib} MiB artifact "
                          f"(bound {args.max_anon_growth_mib} MiB): it buffers the body in memory")
    done(True)


if __name__ == "__main__":
    {"seed": seed, "readback": readback, "warm": warm, "db-down": db_down, "large": large}[args.mode]()
