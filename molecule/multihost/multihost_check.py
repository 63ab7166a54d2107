#!/usr/bin/env python3
"""End-to-end checks of the multi-host production stage, from the test machine through Nginx only.

    multihost_check.py SETTINGS.json

1. Runs logged through Nginx (params, metrics, a small artifact) are all in the one PostgreSQL
   on the data host (queried on its published port), and every artifact reads back.
2. Both MLflow replicas served API requests (counted in each server's access log).
3. Failover: a bounded loop of requests (two create_run POSTs, one get_run GET, ...) while
   the replica on CHECK_STOP_HOST is stopped after a third of the loop and started again:
   no request may fail (the client's own retries are off, so Nginx alone must hide the stop),
   the database holds exactly as many runs as calls succeeded (a POST passed on to the other
   replica after the first one wrote it would show as an extra run; MLflow would silently
   merge a repeated metric, so metrics could not show it), and the restarted replica serves again.

Settings come from a JSON file (mode 0600), so that no secret is on a command line or in a
process environment: CHECK_PROXY_IP, CHECK_PUBLIC_URL (https://NAME/mlflow/; NAME is resolved
to CHECK_PROXY_IP inside this process), CHECK_USER / CHECK_PASSWORD (basic auth), CHECK_DB_HOST,
CHECK_DB_PORT, CHECK_DB_NAME, CHECK_DB_USER, CHECK_DB_PASSWORD, CHECK_REPLICAS (instance names of
the MLflow hosts), CHECK_CONTAINER (MLflow's container name), CHECK_STOP_HOST, CHECK_REQUESTS,
CHECK_PROXY_HOST and CHECK_NGINX_ERROR_LOG (Nginx's error log there).
Prints one JSON line; exit code 0 when every check passed.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared"))
from checklib import expect, load_settings, public_name, seen, stock_client, wait_until  # noqa: E402

if len(sys.argv) != 2:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
cfg = load_settings(sys.argv[1])
PUBLIC = cfg["CHECK_PUBLIC_URL"]
public_name(PUBLIC, cfg["CHECK_PROXY_IP"])  # the public name resolves to the proxy host
# What a user sets (URI, user, password, the CA of the self-signed certificate); the client
# retries failed requests by itself (7 times by default): off, so that any request Nginx lets
# fail is counted.
stock_client(PUBLIC, cfg["CHECK_USER"], cfg["CHECK_PASSWORD"], cfg["CHECK_CA"],
             MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="120")

import mlflow  # noqa: E402
import psycopg  # noqa: E402
import urllib3  # noqa: E402
from mlflowlib import connect  # noqa: E402

urllib3.disable_warnings()
CONTAINER = cfg["CHECK_CONTAINER"]
REPLICAS = cfg["CHECK_REPLICAS"]
API_LINE = re.compile(r'"(GET|POST) /api/2\.0/mlflow(-artifacts)?/')


def on_host(host, *argv, timeout=120):
    """Run a docker command in the engine of a Molecule instance."""
    return subprocess.run(["docker", "exec", host, "docker", *argv], capture_output=True, text=True,
                          timeout=timeout, check=True).stdout


def api_requests(host):
    """API requests in the access log of the MLflow server on host (uvicorn logs to stdout)."""
    return sum(1 for line in on_host(host, "logs", CONTAINER).splitlines() if API_LINE.search(line))


def resets_after_sending():
    """Requests Nginx had sent to a server that then closed or reset the connection (its error log)."""
    log = subprocess.run(["docker", "exec", cfg["CHECK_PROXY_HOST"], "cat", cfg["CHECK_NGINX_ERROR_LOG"]],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return sum(1 for line in log.splitlines() if "while reading response header from upstream" in line)


def served():
    return {host: api_requests(host) for host in REPLICAS}


def db():
    return psycopg.connect(host=cfg["CHECK_DB_HOST"], port=cfg["CHECK_DB_PORT"], dbname=cfg["CHECK_DB_NAME"],
                           user=cfg["CHECK_DB_USER"], password=cfg["CHECK_DB_PASSWORD"], connect_timeout=10)


def runs_in_database(client):
    """Several runs through Nginx; the same run ids, params and metrics are in PostgreSQL."""
    exp_id = mlflow.create_experiment(f"multihost-{uuid.uuid4().hex[:8]}")
    logged = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(4):
            note = os.path.join(tmp, "note.txt")
            with open(note, "w") as f:
                f.write(f"run {n} {uuid.uuid4()}\n")
            with mlflow.start_run(experiment_id=exp_id) as run:
                mlflow.log_params({"n": str(n), "layers": "3"})
                for step in range(3):
                    mlflow.log_metric("loss", 1.0 / (n + step + 1), step=step)
                mlflow.log_artifact(note)
            logged[run.info.run_id] = open(note).read()
        for run_id, text in logged.items():
            path = client.download_artifacts(run_id, "note.txt", os.path.join(tmp, run_id))
            expect(open(path).read() == text, f"artifact of run {run_id} reads back different")
    with db() as conn:
        rows = conn.execute(
            "SELECT r.run_uuid, r.status, "
            " (SELECT count(*) FROM params p WHERE p.run_uuid = r.run_uuid), "
            " (SELECT count(*) FROM metrics m WHERE m.run_uuid = r.run_uuid AND m.key = 'loss') "
            "FROM runs r WHERE r.experiment_id = %s", (int(exp_id),)).fetchall()
    in_db = {row[0]: row[1:] for row in rows}
    seen["runs_logged"] = len(logged)
    seen["runs_in_postgres"] = len(in_db)
    expect(set(in_db) == set(logged), f"run ids in PostgreSQL {sorted(in_db)} != logged {sorted(logged)}")
    expect(all(v == ("FINISHED", 2, 3) for v in in_db.values()), f"runs in PostgreSQL: {in_db}")


def failover(client):
    """N requests through Nginx while one replica is stopped and started again."""
    total = int(cfg["CHECK_REQUESTS"])
    stop_host = cfg["CHECK_STOP_HOST"]
    exp_id = client.create_experiment(f"failover-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp_id).info.run_id
    events = {}
    trigger = threading.Event()

    def stop_and_start():
        trigger.wait()
        events["stop_begin"] = time.time()
        on_host(stop_host, "stop", CONTAINER)
        events["stopped"] = time.time()
        on_host(stop_host, "start", CONTAINER)
        events["started"] = time.time()

    def health():
        return on_host(stop_host, "inspect", "-f", "{{.State.Health.Status}}", CONTAINER).strip()

    before, resets = served(), resets_after_sending()
    stopper = threading.Thread(target=stop_and_start, daemon=True)
    stopper.start()
    failures, times, posts = [], [], 0

    def request(i):
        nonlocal posts
        try:
            if i % 3 != 2:  # period 3 over 2 replicas: each gets POSTs and GETs
                client.create_run(exp_id)
                posts += 1
            else:
                client.get_run(run_id)
        except Exception as exc:  # noqa: BLE001 (every failure is counted and shown)
            failures.append(f"request {i}: {type(exc).__name__}: {str(exc)[:200]}")
        times.append(time.time())

    for i in range(total):
        if i == total // 3:
            trigger.set()
        request(i)
    stopper.join(timeout=300)
    expect("started" in events, f"the replica on {stop_host} was not stopped and started: {events}")
    during = sum(1 for t in times if events["stop_begin"] <= t <= events["started"])
    after_loop = served()
    # The restarted replica serves again: wait until it is healthy and Nginx sends it requests
    # (it may keep it out for fail_timeout seconds after the failed attempts).
    deadline = time.time() + 180
    wait_until(lambda: health() == "healthy", deadline, 2)
    extra = 0
    while api_requests(stop_host) == after_loop[stop_host] and time.time() < deadline:
        for _ in range(10):
            request(total + extra)
            extra += 1
        time.sleep(1)
    after = served()
    with db() as conn:
        # every run of the experiment but the one the GETs read
        runs_in_db = conn.execute("SELECT count(*) FROM runs WHERE experiment_id = %s",
                                  (int(exp_id),)).fetchone()[0] - 1
    seen["failover"] = {
        "requests": total + extra, "failures": len(failures), "first_failures": failures[:5],
        "requests_between_stop_and_start": during,
        "stop_s": round(events["stopped"] - events["stop_begin"], 1),
        "per_replica_during_loop": {h: after_loop[h] - before[h] for h in REPLICAS},
        "per_replica_after_restart": {h: after[h] - after_loop[h] for h in REPLICAS},
        "runs_created": posts, "runs_in_postgres": runs_in_db,
        # informative: how often Nginx passed a request on after the stopping server reset it
        "passed_on_after_reset": resets_after_sending() - resets,
    }
    expect(not failures, f"{len(failures)} of {total + extra} requests failed during the failover")
    expect(during > 0, "no request was sent while the replica was stopped (the loop was too short)")
    expect(runs_in_db == posts, f"{posts} runs created, {runs_in_db} in PostgreSQL (lost or duplicated)")
    expect(after[stop_host] > after_loop[stop_host], f"the restarted replica on {stop_host} got no request")
    return before, after


def main():
    client = connect(PUBLIC)
    start = served()
    runs_in_database(client)
    before_failover, end = failover(client)
    seen["per_replica_runs_phase"] = {h: before_failover[h] - start[h] for h in REPLICAS}
    seen["per_replica_total"] = {h: end[h] - start[h] for h in REPLICAS}
    expect(all(end[h] > start[h] for h in REPLICAS), f"not every replica served: {seen['per_replica_total']}")
    print(json.dumps({"ok": True, "seen": seen}))


if __name__ == "__main__":
    main()
