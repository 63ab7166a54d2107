#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: an MLflow upgrade of a 1,000-run / 1M-metric PostgreSQL store, its backup and restore.

Not a test (the upgrade scenario tests the flow): it measures the parts of issue #12's flow whose
time grows with the store, with the commands the roles run, on this machine's PostgreSQL:

1. A store at the OLD version's schema (the old MLflow creates it), filled with COPY: runs,
   metrics (every step), latest_metrics, params, tags.
2. Backup as mlflow_server's upgrade and mlflow_backup take it: ``pg_dump -Fc``, then
   ``pg_restore --list`` must show alembic_version's data. Time and size.
3. Downtime of the upgrade: ``mlflow db upgrade`` of the NEW version, then the new server starts
   and answers a search (first good request). Peer in the same run: a plain restart of the same
   new server on the upgraded store (what a no-change deploy costs); the ratio is printed.
4. Rollback as playbooks/rollback.yml and restore.yml do it: a dump of the store as it is, DROP
   SCHEMA public / CREATE SCHEMA, ``pg_restore --exit-on-error --single-transaction`` of the
   pre-upgrade dump, then the OLD server starts and answers. The store must come back at the old
   revision with the same row counts (checked; the run fails otherwise).

Not measured here: docker stop/start and the probe's one-off container (fixed costs, in the
upgrade scenario's printed downtime). The password comes from PGPASSWORD, never from argv.
Run with benchmarks/run-migration-bench.sh upgrade (make bench-upgrade).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import migration_bench as M  # noqa: E402  (PostgreSQL helpers, versions, log)

TABLES = ("experiments", "runs", "metrics", "latest_metrics", "params", "tags")


def old_schema(args, database):
    """The OLD MLflow creates its schema (and the experiments) in an empty database."""
    code = (
        "import sys\n"
        "from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore\n"
        "s = SqlAlchemyStore(sys.argv[1], '/tmp/upgrade-bench-artifacts')\n"
        "print(' '.join(s.create_experiment('bench-%d' % i) for i in range(int(sys.argv[2]))))\n"
    )
    out = subprocess.run([args.old_python, "-c", code, M.sqlalchemy_uri(args, database), str(args.experiments)],
                         check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
    return [int(x) for x in out.split()]


def copy_rows(cur, table, columns, rows):
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    buf.seek(0)
    cur.copy_expert("COPY %s (%s) FROM STDIN" % (table, ", ".join(columns)), buf)


def fill(args, database, exp_ids):
    """Runs with every metric step, latest_metrics, params and tags, with COPY (untimed)."""
    rng = random.Random(args.seed)
    keys = ["m%d" % k for k in range(args.metric_keys)]
    steps = max(1, args.metrics_per_run // args.metric_keys)
    base_ms = 1767225600000
    conn = M.pg_connect(args, database)
    with conn, conn.cursor() as cur:
        for first in range(0, args.runs, 50):
            runs, metrics, latest, params, tags = [], [], [], [], []
            for r in range(first, min(first + 50, args.runs)):
                run_uuid = uuid.UUID(int=rng.getrandbits(128), version=4).hex
                exp_id = exp_ids[r % len(exp_ids)]
                start = base_ms + r * 60000
                runs.append((run_uuid, "run-%05d" % r, "LOCAL", "", "", "bench", "FINISHED", start,
                             start + steps * 1000, "", "active",
                             "mlflow-artifacts:/%d/%s/artifacts" % (exp_id, run_uuid), exp_id))
                for k, key in enumerate(keys):
                    value = 0.0
                    for step in range(steps):
                        value = rng.random()
                        metrics.append((key, value, start + step * 1000 + k, run_uuid, step, "false"))
                    latest.append((key, value, start + (steps - 1) * 1000 + k, steps - 1, "false", run_uuid))
                params.extend(("p%d" % p, str(rng.random()), run_uuid) for p in range(args.params_per_run))
                tags.extend(("t%d" % t, "v%d" % t, run_uuid) for t in range(args.tags_per_run))
            copy_rows(cur, "runs", ["run_uuid", "name", "source_type", "source_name", "entry_point_name", "user_id",
                                    "status", "start_time", "end_time", "source_version", "lifecycle_stage",
                                    "artifact_uri", "experiment_id"], runs)
            copy_rows(cur, "metrics", ["key", "value", "timestamp", "run_uuid", "step", "is_nan"], metrics)
            copy_rows(cur, "latest_metrics", ["key", "value", "timestamp", "step", "is_nan", "run_uuid"], latest)
            copy_rows(cur, "params", ["key", "value", "run_uuid"], params)
            copy_rows(cur, "tags", ["key", "value", "run_uuid"], tags)
    conn.close()
    M.analyze(args, database)


def state(args, database):
    """Row counts of MLflow's main tables and the alembic revision."""
    conn = M.pg_connect(args, database)
    counts = M.pg_table_counts(conn, TABLES)
    with conn.cursor() as cur:
        cur.execute("SELECT version_num FROM alembic_version")
        revision = cur.fetchone()[0]
        cur.execute("SELECT pg_database_size(current_database())")
        size = cur.fetchone()[0]
    conn.close()
    return dict(counts=counts, revision=revision, db_mb=round(size / 1048576.0, 1))


def pg_env(args):
    return dict(os.environ, PGHOST=args.pg_host, PGPORT=str(args.pg_port), PGUSER=args.pg_user,
                PGOPTIONS="-c client_min_messages=warning")


def backup(args, database, path):
    """pg_dump -Fc, then pg_restore --list must show alembic_version's data (as the roles do)."""
    t0 = time.perf_counter()
    subprocess.run(["pg_dump", "-Fc", "-d", database, "-f", path], check=True, env=pg_env(args))
    listing = subprocess.run(["pg_restore", "--list", path], check=True, stdout=subprocess.PIPE,
                             universal_newlines=True, env=pg_env(args)).stdout
    seconds = time.perf_counter() - t0
    if "TABLE DATA public alembic_version " not in listing:
        raise SystemExit("the dump %s does not list alembic_version's data" % path)
    return dict(seconds=round(seconds, 2), mb=round(os.path.getsize(path) / 1048576.0, 1))


def serve(args, python, database, experiment_id):
    """Start `mlflow server` and wait for the first good search; returns (process, seconds)."""
    mlflow = os.path.join(os.path.dirname(python), "mlflow")
    t0 = time.perf_counter()
    proc = subprocess.Popen([mlflow, "server", "--backend-store-uri", M.sqlalchemy_uri(args, database),
                             "--default-artifact-root", "/tmp/upgrade-bench-artifacts", "--host", "127.0.0.1",
                             "--port", str(args.port), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(args.workdir, "server.log"), "ab"),
                            env=pg_env(args), start_new_session=True)
    body = json.dumps({"experiment_ids": [str(experiment_id)], "max_results": 10,
                       "order_by": ["metrics.m0 DESC"]}).encode()
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("mlflow server exited with %s (see %s/server.log)" % (proc.returncode, args.workdir))
        try:
            req = urllib.request.Request("http://127.0.0.1:%d/api/2.0/mlflow/runs/search" % args.port, data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                if resp.status == 200 and json.load(resp).get("runs"):
                    return proc, time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.1)
    stop(proc, args.port)
    raise SystemExit("mlflow server did not answer a search within %ds" % args.timeout)


def stop(proc, port):
    """Stop the server and its workers (the mlflow command starts uvicorn in a child process)."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for _ in range(300):  # the port is free again before the next start is timed
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return
        time.sleep(0.1)
    raise SystemExit("a server still answers on port %d" % port)


def restore(args, database, dump, workdir):
    """What restore.yml does: dump the store as it is, empty the schema, pg_restore in one transaction."""
    env = pg_env(args)
    t0 = time.perf_counter()
    subprocess.run(["pg_dump", "-Fc", "-d", database, "-f", os.path.join(workdir, "before-restore.dump")],
                   check=True, env=env)
    subprocess.run(["psql", "-q", "-d", database, "-v", "ON_ERROR_STOP=1", "--single-transaction",
                    "-c", "DROP SCHEMA public CASCADE", "-c", 'CREATE SCHEMA public AUTHORIZATION "%s"' % args.pg_user],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["pg_restore", "-d", database, "--exit-on-error", "--single-transaction", "--no-owner", dump],
                   check=True, env=env)
    return round(time.perf_counter() - t0, 2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--metrics-per-run", type=int, default=1000, help="metric rows per run (all steps of all keys)")
    p.add_argument("--metric-keys", type=int, default=10)
    p.add_argument("--params-per-run", type=int, default=20)
    p.add_argument("--tags-per-run", type=int, default=5)
    p.add_argument("--experiments", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--old-python", required=True, help="python of a venv with the OLD mlflow (full package)")
    p.add_argument("--workdir", default="/tmp/mlflow-upgrade-bench")
    p.add_argument("--port", type=int, default=5071)
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    p.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    p.add_argument("--pg-user", default=os.environ.get("PGUSER", "mlflow_bench"))
    p.add_argument("--pg-admin-db", default="postgres")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    port = args.port
    try:
        socket.create_connection(("127.0.0.1", args.port), timeout=1).close()
        raise SystemExit("port %d is in use: stop what listens there or pass --port" % args.port)
    except OSError:
        pass
    os.makedirs(args.workdir, exist_ok=True)
    database = "mlflow_upgrade_bench"
    old = subprocess.run([args.old_python, "-c", "import mlflow; print(mlflow.__version__)"], check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    new_python = sys.executable
    result = dict(versions=M.versions(args), old=old)
    new = result["versions"]["mlflow"]

    M.log("store: MLflow %s schema, %d runs x %d metric rows (COPY, untimed)" % (old, args.runs, args.metrics_per_run))
    M.recreate_database(args, database)
    exp_ids = old_schema(args, database)
    fill(args, database, exp_ids)
    before = state(args, database)
    result["store"] = before
    M.log("store: %s" % json.dumps(before))

    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        dump = os.path.join(work, "pre-upgrade.dump")
        M.log("backup: pg_dump -Fc + pg_restore --list")
        result["backup"] = backup(args, database, dump)

        M.log("upgrade: mlflow db upgrade (%s), then the %s server until its first good search" % (new, new))
        t0 = time.perf_counter()
        subprocess.run([os.path.join(os.path.dirname(new_python), "mlflow"), "db", "upgrade",
                        M.sqlalchemy_uri(args, database)], check=True, env=pg_env(args),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        upgrade_s = time.perf_counter() - t0
        proc, start_s = serve(args, new_python, database, exp_ids[0])
        stop(proc, args.port)
        after = state(args, database)
        M.log("peer: a plain restart of the %s server on the upgraded store" % new)
        proc, restart_s = serve(args, new_python, database, exp_ids[0])
        stop(proc, args.port)
        result["upgrade"] = dict(db_upgrade_seconds=round(upgrade_s, 2), server_start_seconds=round(start_s, 2),
                                 downtime_seconds=round(upgrade_s + start_s, 2), revision=after["revision"],
                                 plain_restart_seconds=round(restart_s, 2),
                                 downtime_vs_restart=round((upgrade_s + start_s) / restart_s, 1))
        if after["revision"] == before["revision"]:
            raise SystemExit("the upgrade did not change the revision %s" % before["revision"])
        if any(after["counts"][t] != before["counts"][t] for t in ("runs", "metrics", "params", "tags")):
            raise SystemExit("the upgrade changed row counts: %s -> %s" % (before["counts"], after["counts"]))

        M.log("rollback: restore the pre-upgrade dump, then the %s server until its first good search" % old)
        restore_s = restore(args, database, dump, work)
        restored = state(args, database)
        proc, old_start_s = serve(args, args.old_python, database, exp_ids[0])
        stop(proc, args.port)
        result["rollback"] = dict(restore_seconds=restore_s, server_start_seconds=round(old_start_s, 2),
                                  seconds=round(restore_s + old_start_s, 2), revision=restored["revision"])
        if restored["revision"] != before["revision"] or restored["counts"] != before["counts"]:
            raise SystemExit("the restore did not bring the store back: %s, expected %s" % (restored, before))
    M.drop_database(args, database)

    s, b, u, r = result["store"], result["backup"], result["upgrade"], result["rollback"]
    v = result["versions"]
    print("")
    print("MLflow upgrade benchmark (%s), %s CPUs, %s, PostgreSQL %s" % (v["date"], v["cpus"], v["memory"], v["postgresql"]))
    print("  store: %d runs, %d metric rows, %d params, %d tags; database %.1f MB; MLflow %s (%s) -> %s (%s)"
          % (s["counts"]["runs"], s["counts"]["metrics"], s["counts"]["params"], s["counts"]["tags"], s["db_mb"],
             old, s["revision"], new, u["revision"]))
    print("  backup   pg_dump -Fc + pg_restore --list   %7.1f s   %.1f MB" % (b["seconds"], b["mb"]))
    print("  upgrade  mlflow db upgrade                 %7.1f s" % u["db_upgrade_seconds"])
    print("           new server to first good search   %7.1f s" % u["server_start_seconds"])
    print("           downtime (both)                   %7.1f s   %.1fx a plain restart (%.1f s, peer)"
          % (u["downtime_seconds"], u["downtime_vs_restart"], u["plain_restart_seconds"]))
    print("  rollback restore (dump now, replace schema)%7.1f s" % r["restore_seconds"])
    print("           old server to first good search   %7.1f s   back at %s, same row counts"
          % (r["server_start_seconds"], r["revision"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
