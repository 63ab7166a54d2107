"""Bulk-insert synthetic runs into an MLflow backend store, for the search benchmark.

Runs INSIDE the MLflow server container (`docker exec -i CONTAINER python - ARGS < fill_runs.py`),
where MLflow's own SQLAlchemy models, the driver and the backend URI are: the same code fills
SQLite and PostgreSQL. Creating 10,000 runs through the REST API would take ~15 minutes per
backend on 2 cores (the server is CPU-bound at ~25 requests/s); rows inserted in bulk take seconds.

Each run: status FINISHED, --metrics metric keys m0.. with one value each (metrics +
latest_metrics rows, values uniform in [0, 1)), --params params, the usual mlflow.* tags.
Args: EXPERIMENT_ID RUNS [--metrics K] [--params P] [--seed S]. Prints one JSON line.
PostgreSQL is ANALYZEd afterwards (autovacuum would do it a little later on a real server).
"""

import argparse
import json
import os
import random
import time
import uuid

import sqlalchemy as sa
from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("experiment_id", type=int)
    ap.add_argument("runs", type=int)
    ap.add_argument("--metrics", type=int, default=5)
    ap.add_argument("--params", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chunk", type=int, default=1000)
    args = ap.parse_args()

    uri = os.environ["MLFLOW_BACKEND_STORE_URI"]
    pw_file = os.environ.get("PGPASSWORD_FILE")
    if pw_file and "PGPASSWORD" not in os.environ:
        with open(pw_file) as fh:
            os.environ["PGPASSWORD"] = fh.read().strip()
    engine = sa.create_engine(uri)
    rng = random.Random(args.seed)
    base_ms = 1767225600000  # 2026-01-01T00:00:00Z
    t0 = time.perf_counter()
    counts = dict(runs=0, metrics=0, params=0, tags=0)
    with engine.begin() as conn:
        for start in range(0, args.runs, args.chunk):
            runs, metrics, latest, params, tags = [], [], [], [], []
            for r in range(start, min(start + args.chunk, args.runs)):
                run_uuid = uuid.UUID(int=rng.getrandbits(128), version=4).hex
                ts = base_ms + r * 1000
                name = "fill-%06d" % r
                runs.append(dict(run_uuid=run_uuid, name=name, source_type="LOCAL", source_name="",
                                 entry_point_name="", user_id="bench", status="FINISHED",
                                 start_time=ts, end_time=ts + 500, source_version="",
                                 lifecycle_stage="active",
                                 artifact_uri="mlflow-artifacts:/%d/%s/artifacts" % (args.experiment_id, run_uuid),
                                 experiment_id=args.experiment_id, deleted_time=None))
                for k in range(args.metrics):
                    row = dict(key="m%d" % k, value=rng.random(), timestamp=ts + k, step=0,
                               is_nan=False, run_uuid=run_uuid)
                    metrics.append(row)
                    latest.append(dict(row))
                for p in range(args.params):
                    params.append(dict(key="p%d" % p, value=str(rng.choice([0.001, 0.01, 0.1, 1, 10])),
                                       run_uuid=run_uuid))
                for key, value in (("mlflow.runName", name), ("mlflow.user", "bench"),
                                   ("mlflow.source.type", "LOCAL")):
                    tags.append(dict(key=key, value=value, run_uuid=run_uuid))
            conn.execute(sa.insert(SqlRun.__table__), runs)
            conn.execute(sa.insert(SqlMetric.__table__), metrics)
            conn.execute(sa.insert(SqlLatestMetric.__table__), latest)
            conn.execute(sa.insert(SqlParam.__table__), params)
            conn.execute(sa.insert(SqlTag.__table__), tags)
            counts["runs"] += len(runs)
            counts["metrics"] += len(metrics)
            counts["params"] += len(params)
            counts["tags"] += len(tags)
    insert_s = time.perf_counter() - t0
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    print(json.dumps(dict(backend=engine.dialect.name, inserted=counts, insert_s=round(insert_s, 1))))


if __name__ == "__main__":
    main()
