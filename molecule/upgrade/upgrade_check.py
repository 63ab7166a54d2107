#!/usr/bin/env python3
"""The real MLflow client, through Nginx, around an MLflow upgrade and its rollback.

    upgrade_check.py log SETTINGS STATE       log experiments, runs (params, metric history, tags,
                                              artifacts), a registered model with an alias, and a
                                              run to delete later (gc); STATE gets the snapshot
    upgrade_check.py read SETTINGS STATE [KEY]  read everything back: equal to STATE's snapshot
                                              (or the one saved under KEY)
    upgrade_check.py write SETTINGS STATE     log one more run (after the upgrade); its id -> STATE
    upgrade_check.py absent SETTINGS STATE    the run written by `write` is gone (after a rollback)
    upgrade_check.py poll SETTINGS OUT STOP   one search request every 0.2 s until the file STOP
                                              exists; OUT gets the downtime (first failed to first
                                              good request after it)
    upgrade_check.py version SETTINGS         the server's version (/version through Nginx)
    upgrade_check.py delete SETTINGS STATE    delete the run logged for gc; count its objects
    upgrade_check.py gc SETTINGS STATE        after `mlflow gc`: that run and its objects are gone,
                                              everything else reads back as before (saved as
                                              snapshot_after_gc)
    upgrade_check.py wipe SETTINGS STATE      delete every object of the bucket (before a restore)

Settings come from a JSON file (mode 0600): CHECK_IP (instance address), CHECK_PUBLIC_URL
(https://NAME/mlflow/; NAME resolves to CHECK_IP inside this process), CHECK_USER /
CHECK_PASSWORD (basic auth), CHECK_S3_ENDPOINT, CHECK_S3_ACCESS_KEY, CHECK_S3_SECRET_KEY,
CHECK_BUCKET (to look into the bucket), CHECK_CA (the proxy's certificate). Prints one JSON line; exit code 0 when every check passed.
"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared"))
from checklib import bucket_objects, expect, fail, load_settings, public_name, s3_client, seen, sha256  # noqa: E402
from checklib import stock_client  # noqa: E402

if len(sys.argv) < 3:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
MODE = sys.argv[1]
cfg = load_settings(sys.argv[2])
PUBLIC = cfg["CHECK_PUBLIC_URL"].rstrip("/")
public_name(PUBLIC, cfg["CHECK_IP"])
# A stock client: URI, user, password and the CA of the proxy's self-signed certificate, nothing
# else (this stage runs with mlflow_artifacts_presigned: false, so Nginx tells clients that the
# server has no multipart transfers). The poller alone must not retry: it measures the downtime.
CA = cfg["CHECK_CA"]
stock_client(PUBLIC, cfg["CHECK_USER"], cfg["CHECK_PASSWORD"], CA,
             **({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"} if MODE == "poll" else {}))

import requests  # noqa: E402
import urllib3  # noqa: E402

urllib3.disable_warnings()
AUTH = (cfg["CHECK_USER"], cfg["CHECK_PASSWORD"])
EXPERIMENTS = ["upgrade-a", "upgrade-b"]
MODEL = "upgrade-model"


def client():
    from mlflow import MlflowClient
    return MlflowClient()


def log_run(c, exp_id, name, steps, blob_kib):
    run = c.create_run(exp_id, run_name=name, tags={"team": "day2", "kind": name})
    rid = run.info.run_id
    c.log_param(rid, "alpha", "0.5")
    c.log_param(rid, "name", name)
    for step in range(steps):
        c.log_metric(rid, "loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
        c.log_metric(rid, "acc", step / steps, step=step, timestamp=1_700_000_000_000 + step)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "notes.txt"), "w") as f:
            f.write(f"run {name}\n")
        os.makedirs(os.path.join(tmp, "data"))
        with open(os.path.join(tmp, "data", "blob.bin"), "wb") as f:
            f.write(os.urandom(blob_kib * 1024))
        c.log_artifacts(rid, tmp)
    c.set_terminated(rid, "FINISHED", end_time=1_700_000_100_000)
    return rid


def snapshot(c):
    from mlflow.entities import ViewType
    out = {"experiments": {}, "models": {}}
    for name in EXPERIMENTS:
        exp = c.get_experiment_by_name(name)
        expect(exp is not None, f"experiment {name} is missing")
        runs = {}
        for r in c.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=100):
            rid = r.info.run_id
            history = {key: sorted((m.step, m.value, m.timestamp) for m in c.get_metric_history(rid, key))
                       for key in sorted(r.data.metrics)}
            artifacts = {}
            if r.info.lifecycle_stage == "active":
                with tempfile.TemporaryDirectory() as tmp:
                    local = c.download_artifacts(rid, "", tmp)
                    for root, _, files in os.walk(local):
                        for f in files:
                            path = os.path.join(root, f)
                            artifacts[os.path.relpath(path, local)] = sha256(path)
            runs[rid] = {
                "name": r.info.run_name, "status": r.info.status, "stage": r.info.lifecycle_stage,
                "start": r.info.start_time, "end": r.info.end_time, "params": r.data.params,
                "tags": {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")},
                "metrics": history, "artifacts": artifacts,
            }
        out["experiments"][name] = {"id": exp.experiment_id, "stage": exp.lifecycle_stage, "runs": runs}
    model = c.get_registered_model(MODEL)
    versions = c.search_model_versions(f"name='{MODEL}'")
    out["models"][MODEL] = {
        "aliases": dict(sorted(model.aliases.items())) if model.aliases else {},
        "versions": sorted([v.version, v.run_id, v.source, v.status] for v in versions),
    }
    return json.loads(json.dumps(out))  # as it is saved (tuples become lists)


def s3():
    return s3_client(cfg["CHECK_S3_ENDPOINT"], cfg["CHECK_S3_ACCESS_KEY"], cfg["CHECK_S3_SECRET_KEY"])


def bucket_keys():
    return list(bucket_objects(s3(), cfg["CHECK_BUCKET"]))


def load(state):
    with open(state) as f:
        return json.load(f)


def save(state, data):
    with open(state, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def diff(a, b, path=""):
    """First differing path of two JSON trees (for the message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}/{key}: only in {'after' if key not in a else 'before'}"
            d = diff(a[key], b[key], f"{path}/{key}")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {str(a)[:200]} != {str(b)[:200]}"


def main():
    if MODE == "version":
        # with credentials: open through Nginx's basic auth, but MLflow 3.7's own auth asks for them
        r = requests.get(f"{PUBLIC}/version", auth=AUTH, verify=CA, timeout=30)
        print(json.dumps({"ok": r.status_code == 200, "version": r.text.strip(), "status": r.status_code}))
        return
    if MODE == "poll":
        # poll SETTINGS OUT STOP [OLD NEW]: with OLD and NEW, also the version that answers each
        # time (through Nginx, which balances over every server): once any server answered NEW,
        # the schema is upgraded, and an OLD answer after that is an old server serving it.
        out, stop = sys.argv[3], sys.argv[4]
        old, new = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else (None, None)
        url = f"{PUBLIC}/api/2.0/mlflow/experiments/search"
        first_fail = last_fail = recovered = None
        total = failed = old_after_new = 0
        versions = []
        new_seen = False
        t_start = time.time()
        while not os.path.exists(stop) and time.time() - t_start < 1800:
            t = time.time()
            try:
                ok = requests.post(url, json={"max_results": 1}, auth=AUTH, verify=CA, timeout=10).status_code == 200
                if old:
                    r = requests.get(f"{PUBLIC}/version", auth=AUTH, verify=CA, timeout=10)
                    version = r.text.strip() if r.status_code == 200 else "down"
                    new_seen = new_seen or version == new
                    old_after_new += int(new_seen and version == old)
                    if not versions or versions[-1] != version:
                        versions.append(version)
            except requests.RequestException:
                ok = False
            total += 1
            if not ok:
                failed += 1
                first_fail = first_fail or t
                last_fail = t
                recovered = None
            elif first_fail and recovered is None:
                recovered = t
            time.sleep(max(0.0, 0.2 - (time.time() - t)))
        result = {"ok": True, "requests": total, "failed": failed,
                  "downtime_s": round(recovered - first_fail, 1) if first_fail and recovered else None,
                  "last_fail_to_ok_s": round(recovered - last_fail, 1) if last_fail and recovered else None}
        if old:
            result.update(versions=versions, old_after_new=old_after_new,
                          ok=old_after_new == 0 and bool(versions) and versions[0] == old and versions[-1] == new)
        save(out, result)
        print(json.dumps(result))
        return

    state = sys.argv[3]
    c = client()
    if MODE == "log":
        import mlflow
        ids = []
        for name in EXPERIMENTS:
            exp_id = c.create_experiment(name, tags={"owner": "day2"})
            ids.append(log_run(c, exp_id, f"{name}-1", 20, 256))
            ids.append(log_run(c, exp_id, f"{name}-2", 5, 64))
        doomed = log_run(c, c.get_experiment_by_name(EXPERIMENTS[1]).experiment_id, "doomed", 3, 128)
        c.create_registered_model(MODEL, description="day 2")
        run = c.get_run(ids[0])
        c.create_model_version(MODEL, source=f"{run.info.artifact_uri}/data", run_id=ids[0])
        c.set_registered_model_alias(MODEL, "champion", "1")
        seen["mlflow_client"] = mlflow.__version__
        data = {"snapshot": snapshot(c), "doomed": doomed, "runs": ids}
        save(state, data)
        seen["runs"] = len(ids) + 1
    elif MODE == "read":
        data = load(state)
        now = snapshot(c)
        d = diff(data[sys.argv[4] if len(sys.argv) > 4 else "snapshot"], now)
        expect(d is None, f"read back differs: {d}")
        seen["runs"] = sum(len(e["runs"]) for e in now["experiments"].values())
        seen["artifacts"] = sum(len(r["artifacts"]) for e in now["experiments"].values() for r in e["runs"].values())
    elif MODE == "write":
        data = load(state)
        exp_id = c.get_experiment_by_name(EXPERIMENTS[0]).experiment_id
        data["written"] = log_run(c, exp_id, "after-upgrade", 3, 16)
        expect(c.get_run(data["written"]).data.params["name"] == "after-upgrade", "new run not read back")
        save(state, data)
        seen["written"] = data["written"]
    elif MODE == "absent":
        data = load(state)
        try:
            c.get_run(data["written"])
        except Exception as exc:  # RESOURCE_DOES_NOT_EXIST
            seen["absent"] = type(exc).__name__
        else:
            fail("the run written after the upgrade is still there after the rollback")
    elif MODE == "delete":
        data = load(state)
        keys = bucket_keys()
        doomed = [k for k in keys if f"/{data['doomed']}/" in k]
        expect(len(doomed) > 0, "the run to delete has no objects in the bucket")
        c.delete_run(data["doomed"])
        data["objects_before_gc"], data["doomed_objects"] = keys, doomed
        save(state, data)
        seen["objects"], seen["doomed_objects"] = len(keys), len(doomed)
    elif MODE == "gc":
        data = load(state)
        try:
            c.get_run(data["doomed"])
        except Exception as exc:
            seen["doomed_run"] = type(exc).__name__
        else:
            fail("the deleted run is still in the database after mlflow gc")
        keys = bucket_keys()
        expect([k for k in keys if f"/{data['doomed']}/" in k] == [], "objects of the deleted run are still in the bucket")
        expected = sorted(set(data["objects_before_gc"]) - set(data["doomed_objects"]))
        expect(sorted(keys) == expected, f"other objects changed: {sorted(set(keys) ^ set(expected))[:5]}")
        before = data["snapshot"]
        del before["experiments"][EXPERIMENTS[1]]["runs"][data["doomed"]]
        now = snapshot(c)
        d = diff(before, now)
        expect(d is None, f"read back after gc differs: {d}")
        data["snapshot_after_gc"] = now
        save(state, data)
        seen["objects"], seen["removed"] = len(keys), len(data["doomed_objects"])
    elif MODE == "wipe":
        store, keys = s3(), bucket_keys()
        for k in keys:
            store.delete_object(Bucket=cfg["CHECK_BUCKET"], Key=k)
        expect(bucket_keys() == [], "the bucket is not empty after the wipe")
        seen["deleted"] = len(keys)
    else:
        fail(f"unknown mode {MODE}")
    print(json.dumps({"ok": True, "seen": seen}))


if __name__ == "__main__":
    main()
