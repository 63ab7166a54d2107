#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: SQLite -> PostgreSQL migration of an MLflow tracking store, two ways.

Not a test: it builds a large store, loads it twice, measures, prints a table. See
benchmarks/README.md for how to run it and for the figures measured so far.

1. Build an MLflow SQLite store: the schema comes from MLflow itself (SqlAlchemyStore runs the
   alembic migrations), the rows are bulk-inserted with sqlite3 executemany (runs, metrics,
   latest_metrics, params, tags) for speed.
2. Schema-first (what mlops.mlflow.pgloader_migrate does): an empty database, MLflow's schema via
   `mlflow db upgrade`, the collection's source check (inspect_sqlite), pgloader with the load
   file rendered by render_load_file (data only, truncate, foreign keys kept, alembic_version
   excluded), then the collection's sequence statements and a per-table count comparison.
3. pgloader default mode: an empty database, `LOAD DATABASE FROM sqlite://... INTO postgresql://...`
   with no options (pgloader creates the tables from the SQLite schema).
4. Query latency of a typical search_runs (filter on a metric, order by a metric, 100 results)
   through SqlAlchemyStore on SQLite and both PostgreSQL databases, the SQL part alone (captured
   from SQLAlchemy and replayed with psycopg2 on both databases), and the structural difference
   (indexes, constraints, column types).

Needs a Python with mlflow (full package: SQLAlchemy, alembic) and psycopg2, pgloader on PATH
and a PostgreSQL role that may create databases (and SET session_replication_role, see the
README). The password comes from PGPASSWORD, never from the command line.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import logging
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGLOADER_UTILS = os.path.join(ROOT, "plugins", "module_utils", "pgloader.py")


def load_collection_utils():
    """Import plugins/module_utils/pgloader.py (stdlib only) straight from this checkout."""
    spec = importlib.util.spec_from_file_location("mlops_mlflow_pgloader_utils", PGLOADER_UTILS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


U = load_collection_utils()


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def percentile(values, pct):
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, int(round(pct / 100.0 * len(ordered) + 0.4999)))
    return ordered[min(rank, len(ordered)) - 1]


# ---------------------------------------------------------------------------------------------
# 1. SQLite source
# ---------------------------------------------------------------------------------------------


def build_sqlite(path, args):
    """Create MLflow's schema in a new SQLite file and bulk-insert the synthetic rows."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    if os.path.exists(path):
        os.remove(path)
    t0 = time.perf_counter()
    store = SqlAlchemyStore("sqlite:///" + path, "mlflow-artifacts:/")
    exp_ids = [int(store.create_experiment("bench-%d" % i)) for i in range(args.experiments)]
    store.engine.dispose()
    schema_s = time.perf_counter() - t0

    rng = random.Random(args.seed)
    keys = ["m%d" % k for k in range(args.metric_keys)]
    steps = max(1, args.metrics_per_run // args.metric_keys)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA journal_mode = MEMORY")
    cols = {t: [r[1] for r in conn.execute("PRAGMA table_info(%s)" % t)]
            for t in ("runs", "metrics", "latest_metrics", "params", "tags")}
    expected = {
        "runs": ["run_uuid", "name", "source_type", "source_name", "entry_point_name", "user_id",
                 "status", "start_time", "end_time", "source_version", "lifecycle_stage",
                 "artifact_uri", "experiment_id", "deleted_time"],
        "metrics": ["key", "value", "timestamp", "run_uuid", "step", "is_nan"],
        "latest_metrics": ["key", "value", "timestamp", "step", "is_nan", "run_uuid"],
        "params": ["key", "value", "run_uuid"],
        "tags": ["key", "value", "run_uuid"],
    }
    for table, names in expected.items():
        if sorted(cols[table]) != sorted(names):
            raise SystemExit("unexpected columns in %s: %s (this script knows %s)"
                             % (table, cols[table], names))

    t0 = time.perf_counter()
    base_ms = 1767225600000  # 2026-01-01T00:00:00Z
    counts = dict(runs=0, metrics=0, latest_metrics=0, params=0, tags=0)
    with conn:
        for r in range(args.runs):
            run_uuid = uuid.UUID(int=rng.getrandbits(128), version=4).hex
            exp_id = exp_ids[r % len(exp_ids)]
            start = base_ms + r * 60000
            name = "run-%05d" % r
            conn.execute(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                "artifact_uri, experiment_id, deleted_time) "
                "VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', ?, ?, NULL)",
                (run_uuid, name, start, start + steps * 1000 + 1000,
                 "mlflow-artifacts:/%d/%s/artifacts" % (exp_id, run_uuid), exp_id))
            counts["runs"] += 1
            metrics = []
            latest = []
            for k, key in enumerate(keys):
                value = None
                for step in range(steps):
                    value = rng.random()
                    metrics.append((key, value, start + step * 1000 + k, run_uuid, step, 0))
                latest.append((key, value, start + (steps - 1) * 1000 + k, steps - 1, 0, run_uuid))
            conn.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "VALUES (?, ?, ?, ?, ?, ?)", metrics)
            conn.executemany(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, ?, ?, ?)", latest)
            conn.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                [("p%d" % p, str(rng.choice([0.001, 0.01, 0.1, 1, 10, 32, 64, 128])), run_uuid)
                 for p in range(args.params_per_run)])
            tags = [("mlflow.runName", name, run_uuid), ("mlflow.user", "bench", run_uuid),
                    ("mlflow.source.type", "LOCAL", run_uuid)]
            tags += [("t%d" % t, "value-%d" % rng.randrange(100), run_uuid)
                     for t in range(max(0, args.tags_per_run - len(tags)))]
            conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
            counts["metrics"] += len(metrics)
            counts["latest_metrics"] += len(latest)
            counts["params"] += args.params_per_run
            counts["tags"] += len(tags)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    insert_s = time.perf_counter() - t0
    return dict(path=path, experiment_ids=exp_ids, schema_seconds=round(schema_s, 2),
                insert_seconds=round(insert_s, 2), inserted=counts, steps=steps,
                size_mb=round(os.path.getsize(path) / 1048576.0, 1))


# ---------------------------------------------------------------------------------------------
# PostgreSQL helpers
# ---------------------------------------------------------------------------------------------


def pg_connect(args, database):
    import psycopg2

    return psycopg2.connect(host=args.pg_host, port=args.pg_port, user=args.pg_user,
                            dbname=database, connect_timeout=10)


def recreate_database(args, database):
    """Drop (if it exists) and create an empty database owned by the benchmark role."""
    conn = pg_connect(args, args.pg_admin_db)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % U.quote_ident(database))
            cur.execute("CREATE DATABASE %s" % U.quote_ident(database))
    finally:
        conn.close()


def drop_database(args, database):
    conn = pg_connect(args, args.pg_admin_db)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % U.quote_ident(database))
    finally:
        conn.close()


def sqlalchemy_uri(args, database):
    """postgresql+psycopg2 URI without password (libpq reads PGPASSWORD)."""
    return "postgresql+psycopg2://%s@%s:%d/%s" % (args.pg_user, args.pg_host, args.pg_port, database)


def pg_table_counts(conn, tables):
    counts = {}
    with conn.cursor() as cur:
        for table in tables:
            try:
                cur.execute("SELECT count(*) FROM public.%s" % U.quote_ident(table))
                counts[table] = cur.fetchone()[0]
            except Exception:  # a table pgloader did not create
                conn.rollback()
                counts[table] = None
    return counts


def pg_structure(conn):
    """Counts of tables, indexes and constraints in schema public, plus the types that matter."""
    out = {}
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
        out["tables"] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'")
        out["indexes"] = cur.fetchone()[0]
        cur.execute("SELECT contype, count(*) FROM pg_constraint "
                    "WHERE connamespace = 'public'::regnamespace GROUP BY contype")
        by_type = dict(cur.fetchall())
        names = dict(p="primary_keys", f="foreign_keys", u="unique", c="check")
        for code, label in names.items():
            out[label] = by_type.get(code, 0)
        cur.execute("SELECT count(*) FROM information_schema.sequences "
                    "WHERE sequence_schema = 'public'")
        out["sequences"] = cur.fetchone()[0]
        cur.execute("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                    "AND tablename IN ('metrics', 'latest_metrics', 'runs', 'params', 'tags') "
                    "ORDER BY tablename, indexname")
        out["hot_table_indexes"] = ["%s" % r[1] for r in cur.fetchall()]
        cur.execute("SELECT table_name || '.' || column_name, data_type FROM "
                    "information_schema.columns WHERE table_schema = 'public' AND "
                    "(table_name, column_name) IN (('metrics', 'is_nan'), ('metrics', 'value'), "
                    "('metrics', 'key'), ('latest_metrics', 'is_nan'), ('runs', 'run_uuid'), "
                    "('runs', 'experiment_id'), ('experiments', 'experiment_id')) ORDER BY 1")
        out["column_types"] = dict(cur.fetchall())
        cur.execute("SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
                    "AND c.relnamespace = 'public'::regnamespace AND NOT EXISTS (SELECT 1 FROM "
                    "pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p') ORDER BY 1")
        out["tables_without_pk"] = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND (column_default LIKE 'nextval%%' OR is_identity = 'YES')")
        out["serial_or_identity_columns"] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND is_generated <> 'NEVER'")
        out["generated_columns"] = cur.fetchone()[0]
        cur.execute("SELECT pg_database_size(current_database())")
        out["size_mb"] = round(cur.fetchone()[0] / 1048576.0, 1)
    return out


def run_pgloader(args, load_text, name):
    """Run pgloader on a load file; returns wall seconds, exit code and the parsed summary."""
    workdir = os.path.join(args.workdir, name)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    load_file = os.path.join(workdir, "load.file")
    with open(load_file, "w") as f:
        f.write(load_text)
    summary = os.path.join(workdir, "summary.csv")
    logfile = os.path.join(workdir, "pgloader.log")
    argv = U.pgloader_command(args.pgloader, load_file, summary, logfile, workdir)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    wall = time.perf_counter() - t0
    with open(os.path.join(workdir, "pgloader.out"), "w") as f:
        f.write(proc.stdout)
    rows = []
    if os.path.exists(summary):
        with open(summary) as f:
            rows = U.parse_summary(f.read())
    return dict(seconds=wall, rc=proc.returncode, summary=rows, workdir=workdir,
                problems=U.summary_problems(rows))


# ---------------------------------------------------------------------------------------------
# 2. Schema-first migration (the collection's way)
# ---------------------------------------------------------------------------------------------


def schema_first(args, sqlite_path, database):
    import psycopg2  # noqa: F401

    res = dict(database=database)
    recreate_database(args, database)
    t0 = time.perf_counter()
    proc = subprocess.run([args.mlflow, "db", "upgrade", sqlalchemy_uri(args, database)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    res["schema_seconds"] = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit("mlflow db upgrade failed:\n" + proc.stdout[-3000:])

    # The module's source check: integrity_check (full), foreign_key_check, counts, revision.
    t0 = time.perf_counter()
    source = U.inspect_sqlite(sqlite_path, "full")
    res["check_seconds"] = time.perf_counter() - t0
    problems = U.source_problems(source)
    if problems:
        raise SystemExit("source check failed: %s" % problems)

    problems = U.load_file_problems(sqlite_path, args.pg_host, args.pg_port, database,
                                    args.pg_user)
    if problems:
        raise SystemExit("cannot render the load file: %s" % problems)
    load_text = U.render_load_file(
        sqlite_path, U.build_pg_uri(args.pg_host, args.pg_port, database, args.pg_user),
        keep_foreign_keys=True, work_mem="64MB")
    res["load_file"] = load_text
    run = run_pgloader(args, load_text, "schema-first")
    res.update(pgloader_seconds=run["seconds"], rc=run["rc"], workdir=run["workdir"],
               problems=run["problems"])
    tables = U.summary_table_rows(run["summary"])
    res["rows_loaded"] = sum(r["imported"] for r in tables.values())

    # The module's post steps: sequences to MAX+1, per-table counts equal to SQLite's.
    t0 = time.perf_counter()
    conn = pg_connect(args, database)
    try:
        with conn.cursor() as cur:
            cur.execute(U.SEQUENCE_COLUMNS_SQL, ("public",))
            for sql, params, _t, _c, _s in U.sequence_statements(cur.fetchall()):
                cur.execute(sql, params)
        conn.commit()
        target = pg_table_counts(conn, source["counts"])
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                        "AND connamespace = 'public'::regnamespace")
            fks = cur.fetchone()[0]
    finally:
        conn.close()
    res["verify_seconds"] = time.perf_counter() - t0
    res["count_mismatches"] = U.compare_counts(source["counts"], target)
    fk_problem = U.foreign_key_problem(fks, source["foreign_keys"])
    if fk_problem:
        res["problems"].append(fk_problem)
    res["total_seconds"] = (res["schema_seconds"] + res["check_seconds"] + res["pgloader_seconds"]
                            + res["verify_seconds"])
    res["source_rows"] = sum(source["counts"].values())
    res["source_counts"] = source["counts"]
    return res


def via_module(args, sqlite_path, database):
    """The same migration through the module itself: ansible-playbook -> mlops.mlflow.pgloader_migrate.

    The schema is created first (not timed); the wall time covers ansible's start, the module's
    checks before and after, and pgloader. The password reaches the module from PGPASSWORD via an
    env lookup in the play, never on a command line.
    """
    recreate_database(args, database)
    proc = subprocess.run([args.mlflow, "db", "upgrade", sqlalchemy_uri(args, database)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode != 0:
        raise SystemExit("mlflow db upgrade failed:\n" + proc.stdout[-3000:])
    workdir = os.path.join(args.workdir, "module")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    collections = os.path.join(workdir, "collections")
    os.makedirs(os.path.join(collections, "ansible_collections", "mlops"))
    os.symlink(ROOT, os.path.join(collections, "ansible_collections", "mlops", "mlflow"))
    play = os.path.join(workdir, "migrate.yml")
    with open(play, "w") as f:
        f.write(json.dumps([dict(
            hosts="localhost", gather_facts=False,
            tasks=[{"mlops.mlflow.pgloader_migrate": dict(
                sqlite_path=sqlite_path, pg_host=args.pg_host, pg_port=args.pg_port,
                pg_database=database, pg_user=args.pg_user,
                pg_password="{{ lookup('env', 'PGPASSWORD') }}", log_dir=os.path.join(workdir, "logs")),
                "register": "migration", "no_log": True},
                {"copy": {"content": "{{ migration | to_json }}", "dest": os.path.join(workdir, "result.json")}}])],
            indent=1))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    argv = [args.ansible_playbook, "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=%s" % args.module_python, play]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, env=env)
    wall = time.perf_counter() - t0
    with open(os.path.join(workdir, "ansible.out"), "w") as f:
        f.write(proc.stdout)
    res = dict(database=database, seconds=wall, rc=proc.returncode)
    try:
        with open(os.path.join(workdir, "result.json")) as f:
            out = json.load(f)
        res.update(action=out.get("action"), total_rows=out.get("total_rows"),
                   module_elapsed=out.get("elapsed"), msg=out.get("msg"),
                   mismatches=out.get("mismatches"))
    except (OSError, ValueError):
        res["error"] = "no module result (see %s/ansible.out)" % workdir
    return res


# ---------------------------------------------------------------------------------------------
# 3. pgloader default mode
# ---------------------------------------------------------------------------------------------


def default_mode(args, sqlite_path, database, source_counts):
    res = dict(database=database)
    recreate_database(args, database)
    load_text = "LOAD DATABASE\n     FROM sqlite://%s\n     INTO %s;\n" % (
        sqlite_path, U.build_pg_uri(args.pg_host, args.pg_port, database, args.pg_user))
    res["load_file"] = load_text
    run = run_pgloader(args, load_text, "default-mode")
    res.update(pgloader_seconds=run["seconds"], total_seconds=run["seconds"], rc=run["rc"],
               workdir=run["workdir"], problems=run["problems"])
    # Only the table lines: pgloader's own sections ("Create tables" ...) carry counts too.
    tables = U.summary_table_rows(run["summary"])
    res["rows_loaded"] = sum(r["imported"] for t, r in tables.items()
                             if t in source_counts or t == U.ALEMBIC_TABLE)
    conn = pg_connect(args, database)
    try:
        target = pg_table_counts(conn, source_counts)
    finally:
        conn.close()
    res["count_mismatches"] = U.compare_counts(source_counts, target)
    return res


# ---------------------------------------------------------------------------------------------
# 4. Queries
# ---------------------------------------------------------------------------------------------


def search_runs_latency(uri, args, experiment_ids):
    """Median/p95 of SqlAlchemyStore.search_runs, with the SQL part timed by cursor events.

    Returns (result dict, captured statements of the last repetition) or an error.
    """
    from sqlalchemy import event
    from mlflow.entities import ViewType
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    try:
        store = SqlAlchemyStore(uri, "mlflow-artifacts:/")
    except Exception as e:  # noqa: BLE001 - report any refusal
        return dict(error="SqlAlchemyStore refused the database: %s" % _first_line(e)), []

    captured = []
    sql_time = [0.0]
    starts = {}

    def before(conn, cursor, statement, parameters, context, executemany):
        starts[id(cursor)] = time.perf_counter()
        captured.append((statement, parameters))

    def after(conn, cursor, statement, parameters, context, executemany):
        sql_time[0] += time.perf_counter() - starts.pop(id(cursor), time.perf_counter())

    event.listen(store.engine, "before_cursor_execute", before)
    event.listen(store.engine, "after_cursor_execute", after)
    ids = [str(e) for e in experiment_ids]
    totals, sqls, result_ids = [], [], None
    try:
        for i in range(args.warmup + args.repeat):
            del captured[:]
            sql_time[0] = 0.0
            t0 = time.perf_counter()
            runs = store.search_runs(ids, args.filter, ViewType.ACTIVE_ONLY,
                                     max_results=args.max_results, order_by=[args.order_by])
            elapsed = time.perf_counter() - t0
            if i >= args.warmup:
                totals.append(elapsed * 1000)
                sqls.append(sql_time[0] * 1000)
            result_ids = [r.info.run_id for r in runs]
    except Exception as e:  # noqa: BLE001
        return dict(error="search_runs failed: %s" % _first_line(e)), []
    finally:
        store.engine.dispose()
    return dict(median_ms=statistics.median(totals), p95_ms=percentile(totals, 95),
                sql_median_ms=statistics.median(sqls), sql_p95_ms=percentile(sqls, 95),
                statements=len(captured), results=len(result_ids),
                result_ids=result_ids), list(captured)


def replay_sql(args, database, statements):
    """Replay the statements SQLAlchemy sent for one search_runs, with psycopg2; median/p95 ms."""
    conn = pg_connect(args, database)
    conn.autocommit = True
    times = []
    first_ids = None
    try:
        with conn.cursor() as cur:
            for i in range(args.warmup + args.repeat):
                t0 = time.perf_counter()
                for statement, params in statements:
                    cur.execute(statement, params)
                    rows = cur.fetchall() if cur.description else []
                    if first_ids is None and rows:
                        first_ids = [r[0] for r in rows]
                if i >= args.warmup:
                    times.append((time.perf_counter() - t0) * 1000)
            plan = None
            if statements:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + statements[0][0],
                            statements[0][1])
                plan = "\n".join(r[0] for r in cur.fetchall())
    except Exception as e:  # noqa: BLE001
        return dict(error="replay failed: %s" % _first_line(e))
    finally:
        conn.close()
    return dict(median_ms=statistics.median(times), p95_ms=percentile(times, 95),
                statements=len(statements), plan=plan)


def write_check(uri):
    """What a server does first after the migration: create an experiment and a run, log metrics."""
    from mlflow.entities import Metric, Param
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    try:
        store = SqlAlchemyStore(uri, "mlflow-artifacts:/")
    except Exception as e:  # noqa: BLE001
        return "store refused the database: %s" % _first_line(e)
    from sqlalchemy import text

    out = {}
    try:
        now = int(time.time() * 1000)
        exp_id = store.create_experiment("bench-write-check-%d" % now)
        run = store.create_run(exp_id, "bench", now, [], "write-check")
        store.log_batch(run.info.run_id, metrics=[Metric("m0", 0.75, now, 0)],
                        params=[Param("p0", "1")], tags=[])
        out["new_experiment_and_run"] = "ok"
    except Exception as e:  # noqa: BLE001
        out["new_experiment_and_run"] = "failed: %s" % _first_line(e)
    try:
        # The same metric logged twice on a migrated run: metric_pk makes it one row.
        with store.engine.connect() as conn:
            run_id = conn.execute(text("SELECT min(run_uuid) FROM runs")).scalar()
        for _ in range(2):
            store.log_batch(run_id, metrics=[Metric("dup", 1.0, 1000, 0)], params=[], tags=[])
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM metrics WHERE run_uuid = :r AND "
                                     "key = 'dup'"), dict(r=run_id)).scalar()
        out["same_metric_logged_twice"] = "%d row(s) in metrics" % rows
    except Exception as e:  # noqa: BLE001
        out["same_metric_logged_twice"] = "failed: %s" % _first_line(e)
    finally:
        store.engine.dispose()
    return out


def analyze(args, database):
    conn = pg_connect(args, database)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
    finally:
        conn.close()


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def versions(args):
    import mlflow

    def out(argv):
        try:
            return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True).stdout.strip().splitlines()[0]
        except Exception as e:  # noqa: BLE001
            return "unknown (%s)" % e

    pg = "unknown"
    try:
        conn = pg_connect(args, args.pg_admin_db)
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            pg = cur.fetchone()[0]
        conn.close()
    except Exception:  # noqa: BLE001
        pass
    pgloader = getattr(args, "pgloader", None)  # benchmarks without pgloader (upgrade_bench) leave it out
    pkg = out(["dpkg-query", "-W", "-f", "${Version}", "pgloader"]) if pgloader and shutil.which("dpkg-query") else ""
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB" % (int(f.readline().split()[1]) / 1048576.0)
    except OSError:
        pass
    return dict(mlflow=mlflow.__version__, pgloader=out([pgloader, "--version"]) if pgloader else "",
                pgloader_package=pkg, postgresql=pg, python=platform.python_version(),
                cpus=os.cpu_count(), memory=mem, date=datetime.datetime.now(
                    datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def fmt(value, spec="%.1f"):
    return "-" if value is None else spec % value


def ratio(a, b):
    return None if not a or not b else a / b


def print_report(r):
    src, sf, dm = r["source"], r["schema_first"], r["default"]
    lines = []
    add = lines.append
    add("")
    add("MLflow migration benchmark (%s)" % r["versions"]["date"])
    add("  MLflow %(mlflow)s, %(pgloader)s (package %(pgloader_package)s), PostgreSQL %(postgresql)s,"
        " Python %(python)s, %(cpus)s CPUs, %(memory)s" % r["versions"])
    add("  source: %d runs x %d metric rows (%d keys x %d steps), %s MB SQLite; %d rows in %d "
        "tables (built in %.1f s)" % (
            r["args"]["runs"], r["args"]["metrics_per_run"], r["args"]["metric_keys"],
            src["steps"], src["size_mb"], sf["source_rows"],
            len([t for t, n in sf["source_counts"].items() if n]), src["insert_seconds"]))
    add("")
    add("Load                         rows       seconds    rows/s   exit  problems  counts")
    for label, m, secs in (("schema-first: pgloader", sf, sf["pgloader_seconds"]),
                           ("schema-first: end to end", sf, sf["total_seconds"]),
                           ("default mode: pgloader", dm, dm["pgloader_seconds"])):
        add("  %-26s %9d %9.1f %9.0f %5d %9d  %s" % (
            label, m["rows_loaded"], secs, m["rows_loaded"] / secs if secs else 0, m["rc"],
            len(m["problems"]), "equal" if not m["count_mismatches"] else
            "%d differ" % len(m["count_mismatches"])))
    add("  end to end = mlflow db upgrade %.1f s + source check %.1f s + pgloader %.1f s + "
        "sequences/count check %.1f s" % (sf["schema_seconds"], sf["check_seconds"],
                                          sf["pgloader_seconds"], sf["verify_seconds"]))
    if r.get("module"):
        m = r["module"]
        add("  %-26s %9s %9.1f %9s %5d  %s" % (
            "schema-first: the module", m.get("total_rows"), m["seconds"],
            "%.0f" % (m["total_rows"] / m["seconds"]) if m.get("total_rows") else "-", m["rc"],
            m.get("msg") or m.get("error")))
        if m.get("module_elapsed") is not None:
            add("  the module: ansible-playbook wall time; pgloader inside it took %.1f s" % m["module_elapsed"])
    add("  ratio default/schema-first (pgloader only): %s; (vs end to end): %s" % (
        fmt(ratio(dm["pgloader_seconds"], sf["pgloader_seconds"]), "%.2f"),
        fmt(ratio(dm["pgloader_seconds"], sf["total_seconds"]), "%.2f")))
    add("")
    q = r["queries"]
    add("search_runs(filter %r, order_by %r, max_results %d), %d repetitions after %d warm-up" % (
        r["args"]["filter"], r["args"]["order_by"], r["args"]["max_results"], r["args"]["repeat"],
        r["args"]["warmup"]))
    add("  database                  store median   p95 ms   SQL median  p95 ms   replay median  p95 ms")
    for label in ("sqlite", "schema_first", "default"):
        s = q.get(label, {}).get("store", {})
        p = q.get(label, {}).get("replay", {})
        add("  %-24s %12s %8s %12s %7s %15s %7s" % (
            label, fmt(s.get("median_ms")), fmt(s.get("p95_ms")), fmt(s.get("sql_median_ms")),
            fmt(s.get("sql_p95_ms")), fmt(p.get("median_ms")), fmt(p.get("p95_ms"))))
        for part in (s, p):
            if part.get("error"):
                add("      %s" % part["error"])
    add("  ratio default/schema-first: store %s, replayed SQL %s" % (
        fmt(ratio(q["default"]["store"].get("median_ms"), q["schema_first"]["store"].get("median_ms")), "%.2f"),
        fmt(ratio(q["default"]["replay"].get("median_ms"), q["schema_first"]["replay"].get("median_ms")), "%.2f")))
    if q.get("same_results") is not None:
        add("  same 100 run ids in the same order on every database that answered: %s" % q["same_results"])
    add("")
    add("Structure (schema public)     schema-first   default mode")
    a, b = r["structure"]["schema_first"], r["structure"]["default"]
    for key in ("tables", "indexes", "primary_keys", "foreign_keys", "unique", "check",
                "sequences", "serial_or_identity_columns", "generated_columns", "size_mb"):
        add("  %-28s %12s %14s" % (key, a.get(key), b.get(key)))
    metrics_idx = [len([i for i in s["hot_table_indexes"] if " ON public.metrics " in i]) for s in (a, b)]
    add("  %-28s %12s %14s" % ("indexes on metrics", metrics_idx[0], metrics_idx[1]))
    for col in sorted(set(a["column_types"]) | set(b["column_types"])):
        add("  %-28s %12s %14s" % (col, a["column_types"].get(col), b["column_types"].get(col)))
    for label, st in (("schema-first", a), ("default mode", b)):
        add("  tables without primary key, %s: %s" % (label, ", ".join(st["tables_without_pk"]) or "none"))
    add("")
    add("Writes after migration through SqlAlchemyStore (new experiment + run + log_batch; one metric "
        "logged twice on a migrated run)")
    for label in ("schema_first", "default"):
        wc = r["write_check"][label]
        if isinstance(wc, str):
            add("  %-14s %s" % (label, wc))
            continue
        for key, value in sorted(wc.items()):
            add("  %-14s %-26s %s" % (label, key, value))
    for label in ("schema_first", "default"):
        for p in r[label]["problems"]:
            add("  pgloader summary, %s: %s" % (label, p))
    add("")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


# ---------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--metrics-per-run", type=int, default=1000,
                   help="metric rows per run (metric keys x steps)")
    p.add_argument("--metric-keys", type=int, default=10)
    p.add_argument("--params-per-run", type=int, default=20)
    p.add_argument("--tags-per-run", type=int, default=5)
    p.add_argument("--experiments", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workdir", default="/tmp/mlflow-migration-bench",
                   help="SQLite file, load files, pgloader logs and results.json")
    p.add_argument("--reuse-sqlite", action="store_true",
                   help="reuse WORKDIR/mlflow.db when present (it must match the sizes)")
    p.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    p.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    p.add_argument("--pg-user", default=os.environ.get("PGUSER", "mlflow_bench"),
                   help="role with CREATEDB and SET on session_replication_role; password in PGPASSWORD")
    p.add_argument("--pg-admin-db", default="postgres", help="database to connect to for CREATE/DROP DATABASE")
    p.add_argument("--db-prefix", default="mlflow_bench",
                   help="databases PREFIX_schemafirst and PREFIX_default are dropped and re-created")
    p.add_argument("--keep-databases", action="store_true", help="do not drop them at the end")
    p.add_argument("--pgloader", default=shutil.which("pgloader") or "pgloader")
    p.add_argument("--mlflow", default=os.path.join(os.path.dirname(sys.executable), "mlflow"),
                   help="mlflow CLI of the same installation (runs `mlflow db upgrade`)")
    p.add_argument("--module", action="store_true",
                   help="also migrate into PREFIX_module through ansible-playbook and the module")
    p.add_argument("--ansible-playbook", default=shutil.which("ansible-playbook") or os.path.join(
        ROOT, ".venv", "bin", "ansible-playbook"))
    p.add_argument("--module-python", default="/usr/bin/python3",
                   help="interpreter of the module (needs psycopg2)")
    p.add_argument("--repeat", type=int, default=20, help="query repetitions measured")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--filter", default="metrics.m0 > 0.5")
    p.add_argument("--order-by", default="metrics.m1 DESC")
    p.add_argument("--max-results", type=int, default=100)
    args = p.parse_args(argv)
    if args.metrics_per_run < args.metric_keys:
        p.error("--metrics-per-run must be at least --metric-keys")
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if "PGPASSWORD" not in os.environ and not os.path.exists(os.path.expanduser("~/.pgpass")):
        log("warning: PGPASSWORD is not set (and no ~/.pgpass); PostgreSQL may refuse the login")
    if not os.path.exists(args.mlflow):
        raise SystemExit("mlflow CLI not found at %s (use --mlflow)" % args.mlflow)
    os.makedirs(args.workdir, exist_ok=True)
    sqlite_path = os.path.join(args.workdir, "mlflow.db")
    db_sf = "%s_schemafirst" % args.db_prefix
    db_dm = "%s_default" % args.db_prefix
    report = dict(args=vars(args), versions=versions(args))

    reuse = False
    if args.reuse_sqlite and os.path.exists(sqlite_path):
        conn = sqlite3.connect(sqlite_path)
        exp_ids = [r[0] for r in conn.execute(
            "SELECT experiment_id FROM experiments WHERE name LIKE 'bench-%' ORDER BY 1")]
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        metrics = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
        conn.close()
        steps = max(1, args.metrics_per_run // args.metric_keys)
        reuse = runs == args.runs and metrics == args.runs * args.metric_keys * steps
        if not reuse:
            log("%s holds %d runs / %d metric rows, not the requested sizes: rebuilding"
                % (sqlite_path, runs, metrics))
    if reuse:
        log("reusing %s" % sqlite_path)
        report["source"] = dict(path=sqlite_path, experiment_ids=exp_ids, insert_seconds=0.0,
                                steps=max(1, args.metrics_per_run // args.metric_keys),
                                size_mb=round(os.path.getsize(sqlite_path) / 1048576.0, 1))
    else:
        log("building the SQLite store: %d runs x %d metric rows" % (args.runs, args.metrics_per_run))
        report["source"] = build_sqlite(sqlite_path, args)
        log("built: %s" % json.dumps(report["source"]["inserted"]))
    exp_ids = report["source"]["experiment_ids"]

    log("schema-first migration into %s" % db_sf)
    report["schema_first"] = schema_first(args, sqlite_path, db_sf)
    log("schema-first: pgloader %.1f s, end to end %.1f s, problems %s" % (
        report["schema_first"]["pgloader_seconds"], report["schema_first"]["total_seconds"],
        report["schema_first"]["problems"] or "none"))

    if args.module:
        log("schema-first through the module (ansible-playbook) into %s_module" % args.db_prefix)
        report["module"] = via_module(args, sqlite_path, "%s_module" % args.db_prefix)
        log("module: %s" % report["module"])
        if not args.keep_databases:
            drop_database(args, "%s_module" % args.db_prefix)

    log("pgloader default mode into %s" % db_dm)
    report["default"] = default_mode(args, sqlite_path, db_dm, report["schema_first"]["source_counts"])
    log("default mode: pgloader %.1f s, problems %s" % (
        report["default"]["pgloader_seconds"], report["default"]["problems"] or "none"))

    structure = {}
    for label, db in (("schema_first", db_sf), ("default", db_dm)):
        analyze(args, db)  # same statistics for both: neither pgloader mode runs ANALYZE itself
        conn = pg_connect(args, db)
        try:
            structure[label] = pg_structure(conn)
        finally:
            conn.close()
    report["structure"] = structure

    log("search_runs latency (%d repetitions per database)" % args.repeat)
    queries = {}
    captured = {}
    for label, uri in (("sqlite", "sqlite:///" + sqlite_path),
                       ("schema_first", sqlalchemy_uri(args, db_sf)),
                       ("default", sqlalchemy_uri(args, db_dm))):
        store_res, statements = search_runs_latency(uri, args, exp_ids)
        queries[label] = dict(store=store_res)
        captured[label] = statements
        log("%s: %s" % (label, {k: v for k, v in store_res.items() if k != "result_ids"}))
    # The SQL MLflow sends to PostgreSQL for this search, replayed on both PostgreSQL databases.
    statements = captured["schema_first"]
    report["captured_sql"] = [s for s, _ in statements]
    for label, db in (("schema_first", db_sf), ("default", db_dm)):
        queries[label]["replay"] = replay_sql(args, db, statements)
        log("%s replay: %s" % (label, {k: v for k, v in queries[label]["replay"].items() if k != "plan"}))
    report["write_check"] = dict(
        schema_first=write_check(sqlalchemy_uri(args, db_sf)),
        default=write_check(sqlalchemy_uri(args, db_dm)))
    log("write check: %s" % report["write_check"])
    answered = [q["store"]["result_ids"] for q in queries.values() if q["store"].get("result_ids")]
    queries["same_results"] = all(ids == answered[0] for ids in answered) if answered else None
    report["queries"] = queries

    report["text"] = print_report(report)
    for label in ("schema_first", "default"):
        plan = queries[label]["replay"].get("plan")
        if plan:
            print("EXPLAIN ANALYZE of the main search query on %s:\n%s\n" % (label, plan))
    out = os.path.join(args.workdir, "results.json")
    with open(out, "w") as f:
        json.dump(report, f, indent=2, default=str)
    log("results written to %s" % out)
    if not args.keep_databases:
        for db in (db_sf, db_dm):
            drop_database(args, db)
    failed = report["schema_first"]["problems"] or report["schema_first"]["count_mismatches"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
