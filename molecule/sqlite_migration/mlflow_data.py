#!/usr/bin/env python3
"""The MLflow client side of the sqlite_migration scenario (the controller's mlflow-skinny).

    mlflow_data.py populate URL STATE       write a varied store through the local server; the
                                            names and ids it needs later go to STATE (JSON)
    mlflow_data.py snapshot URL OUT         everything the client reads, as JSON (artifacts as
                                            sha256 per file, downloaded the default way);
                                            exit 1 when a download fails or fewer objects than
                                            `populate` writes come back (MINIMUM)
    mlflow_data.py compare A B [FROM=TO..]  exit 1 and print the differences unless A == B
                                            (after replacing FROM by TO in A's text)
    mlflow_data.py extend URL STATE         after the migration: a new experiment, run, artifact
                                            and model version must be creatable (sequences)
Prints one JSON line; exit 0 when everything passed.
"""
import json
import math
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared"))
from checklib import map_host, run_mode, sha256  # noqa: E402

# The production stage is read as its users read it: through Nginx at the public URL, with
# basic auth (MLFLOW_TRACKING_USERNAME/PASSWORD), the proxy's certificate (REQUESTS_CA_BUNDLE)
# and the client's default artifact settings (files this small go through the tracking URL;
# presigned transfers start at MLflow's multipart threshold). The public name resolves to the
# instance in this process only: MIGRATION_RESOLVE=name=address.
if os.environ.get("MIGRATION_RESOLVE"):
    map_host(*os.environ["MIGRATION_RESOLVE"].split("=", 1))

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from google.protobuf.json_format import MessageToDict  # noqa: E402
from mlflow.entities import ViewType  # noqa: E402
from mlflowlib import connect, log_add_model, predict  # noqa: E402

MODEL = "mig-model"
CUSTOM_ROOT = "/mlflow/data/custom-root"  # a location outside mlflow-artifacts: (the role rewrites it)


def proto(entity):
    return MessageToDict(entity.to_proto(), preserving_proto_field_name=True)


def tree_digests(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = sha256(path)
    return dict(sorted(out.items()))


def log_model(version_hint, run_name, experiment_id):
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.log_param("n", str(version_hint))
        info = log_add_model(version_hint, MODEL)
    return run.info.run_id, info


def populate(url, state_path):
    client = connect(url)
    alpha = client.create_experiment("mig-alpha", tags={"team": "a", "purpose": "migration test"})
    beta = client.create_experiment("mig-beta")
    custom = client.create_experiment("mig-custom-root", artifact_location=CUSTOM_ROOT)
    gone = client.create_experiment("mig-deleted", tags={"x": "y"})
    with mlflow.start_run(experiment_id=gone, run_name="in-deleted") as r:
        mlflow.log_param("p", "1")
        mlflow.log_text("deleted experiment artifact", "gone.txt")
    client.delete_experiment(gone)

    df = pd.DataFrame({"x1": [1.0, 2.0, 3.0, 4.0], "x2": [0.5, 0.1, 0.2, 0.3], "y": [0, 1, 0, 1]})
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(experiment_id=alpha, run_name="train") as run:
        mlflow.log_params({"lr": "0.01", "layers": "3", "unicode": "\u00fcn\u00efc\u00f8d\u00e9 \u2713"})
        mlflow.set_tags({"stage": "dev", "long": "t" * 5000})
        for step in range(25):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metric("acc", step / 25.0, step=step)
        mlflow.log_metrics({"nan": math.nan, "pos_inf": math.inf, "neg_inf": -math.inf, "tiny": 5e-324})
        mlflow.log_text("hello artifacts\n", "notes/readme.txt")
        mlflow.log_dict({"a": 1, "b": [1, 2]}, "config/params.json")
        blob = os.path.join(tmp, "blob.bin")
        with open(blob, "wb") as f:
            f.write(os.urandom(3 * 1024 * 1024 + 7))
        mlflow.log_artifact(blob, artifact_path="data")
        mlflow.log_input(mlflow.data.from_pandas(df, name="toy", targets="y"), context="training",
                         tags={"split": "train"})
        mlflow.log_input(mlflow.data.from_pandas(df.head(2), name="toy-eval", targets="y"), context="eval")
        with mlflow.start_run(experiment_id=alpha, run_name="child", nested=True):
            mlflow.log_metric("child_metric", 1.5)
        info = log_add_model(1, MODEL)
        mlflow.log_metric("model_metric", 0.9, model_id=info.model_id)
    failed = client.create_run(alpha, run_name="failed")
    client.log_batch(failed.info.run_id, metrics=[], params=[], tags=[])
    client.log_metric(failed.info.run_id, "loss", 7.0)
    client.set_terminated(failed.info.run_id, "FAILED")
    deleted = client.create_run(beta, run_name="deleted-run")
    client.log_param(deleted.info.run_id, "p", "x")
    client.delete_run(deleted.info.run_id)
    run2, info2 = log_model(2, "second-version", beta)
    custom_run = client.create_run(custom, run_name="custom-location")
    client.log_param(custom_run.info.run_id, "where", "custom")
    client.set_terminated(custom_run.info.run_id)

    client.update_registered_model(MODEL, description="model for the migration test")
    client.set_registered_model_tag(MODEL, "owner", "ml-team")
    client.set_model_version_tag(MODEL, "1", "validated", "true")
    client.update_model_version(MODEL, "2", description="second version")
    client.set_registered_model_alias(MODEL, "champion", "2")
    client.set_registered_model_alias(MODEL, "previous", "1")

    mlflow.set_experiment(experiment_id=beta)

    @mlflow.trace(name="predict")
    def predict(x):
        with mlflow.start_span(name="inner") as span:
            span.set_inputs({"x": x})
            span.set_attribute("factor", 2)
            span.set_outputs({"y": x * 2})
        return x * 2

    predict(21)
    with mlflow.start_span(name="manual-root") as span:
        span.set_inputs({"q": "question"})
        span.set_outputs({"a": "answer"})
    mlflow.flush_trace_async_logging()

    state = {"alpha": alpha, "beta": beta, "custom": custom, "deleted": gone, "run": run.info.run_id,
             "custom_run": custom_run.info.run_id, "model": MODEL, "custom_root": CUSTOM_ROOT}
    with open(state_path, "w") as f:
        json.dump(state, f, indent=2)
    print(json.dumps({"ok": True, "mode": "populate", **state}))


# What `populate` writes, at least (the snapshot may hold more, e.g. after `extend`): the
# Default experiment and four more, seven runs, one registered model with two versions, two
# logged models, two traces, and four run artifact files (notes, config, blob, the deleted
# experiment's text). A snapshot that reads less back proves nothing when compared.
MINIMUM = {"experiments": 5, "runs": 7, "registered_models": 1, "model_versions": 2, "logged_models": 2,
           "traces": 2, "run_artifact_files": 4}


def download(fn, tmp, errors, what):
    """sha256 per file of what fn(dst) downloads; a failure is recorded in `errors` (and fails
    the snapshot: two equal error entries would otherwise compare equal)."""
    dst = tempfile.mkdtemp(dir=tmp)
    try:
        fn(dst)
    except Exception as e:  # noqa: BLE001 (every failure is reported)
        errors.append(f"{what}: {type(e).__name__}: {str(e)[:200]}")
        return {"error": type(e).__name__}
    return tree_digests(dst)


def snapshot(url, out):
    client = connect(url)
    snap = {"experiments": [], "runs": [], "registered_models": [], "model_versions": [],
            "logged_models": [], "traces": []}
    errors = []
    exps = sorted(client.search_experiments(view_type=ViewType.ALL), key=lambda e: int(e.experiment_id))
    ids = [e.experiment_id for e in exps]
    names = {e.experiment_id: e.name for e in exps}
    snap["experiments"] = [proto(e) for e in exps]
    with tempfile.TemporaryDirectory() as tmp:
        runs = client.search_runs(ids, run_view_type=ViewType.ALL, max_results=1000)
        for run in sorted(runs, key=lambda r: r.info.run_id):
            item = proto(run)
            item["metric_history"] = {
                key: [proto(m) for m in sorted(client.get_metric_history(run.info.run_id, key),
                                               key=lambda m: (m.step, m.timestamp, str(m.value)))]
                for key in sorted(run.data.metrics)}
            # the custom-root experiment's files are not reachable before the migration (they
            # sit in a directory the local server does not serve); `extend` checks them after
            if names[run.info.experiment_id] != "mig-custom-root":
                item["artifacts"] = download(
                    lambda d, r=run: client.download_artifacts(r.info.run_id, "", d), tmp, errors,
                    f"run {run.info.run_id}")
            snap["runs"].append(item)
        for rm in sorted(client.search_registered_models(max_results=1000), key=lambda m: m.name):
            snap["registered_models"].append(proto(rm))
            for mv in sorted(client.search_model_versions(f"name='{rm.name}'"), key=lambda v: int(v.version)):
                item = proto(mv)
                item["artifacts"] = download(lambda d, v=mv: mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{v.name}/{v.version}", dst_path=d), tmp, errors,
                    f"model version {mv.name}/{mv.version}")
                if not any(path.endswith("MLmodel") for path in item["artifacts"]):
                    errors.append(f"model version {mv.name}/{mv.version}: no MLmodel file downloaded")
                snap["model_versions"].append(item)
        for lm in sorted(client.search_logged_models(ids), key=lambda m: m.model_id):
            item = proto(lm)
            item["artifacts"] = download(lambda d, m=lm: mlflow.artifacts.download_artifacts(
                artifact_uri=m.artifact_location, dst_path=d), tmp, errors, f"logged model {lm.model_id}")
            if not any(path.endswith("MLmodel") for path in item["artifacts"]):
                errors.append(f"logged model {lm.model_id}: no MLmodel file downloaded")
            snap["logged_models"].append(item)
    for trace in sorted(client.search_traces(locations=ids, max_results=500), key=lambda t: t.info.trace_id):
        snap["traces"].append(json.loads(json.dumps(trace.to_dict(), sort_keys=True, default=str)))
    with open(out, "w") as f:
        json.dump(snap, f, indent=1, sort_keys=True)
    counts = {k: len(v) for k, v in snap.items()}
    counts["run_artifact_files"] = sum(len(r.get("artifacts", {})) for r in snap["runs"])
    short = {k: f"{counts[k]} < {n}" for k, n in MINIMUM.items() if counts[k] < n}
    ok = not errors and not short
    print(json.dumps({"ok": ok, "mode": "snapshot", "counts": counts, "too_few": short, "errors": errors[:20]}))
    if not ok:
        raise SystemExit(1)


def diff(a, b, path=""):
    if type(a) is not type(b):
        return [f"{path}: {a!r:.120} != {b!r:.120}"]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'after' if k not in a else 'before'}")
            else:
                out += diff(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items before, {len(b)} after"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r:.120} != {b!r:.120}"]


def normalize(value):
    """Lists of objects compare as multisets: the stores return tags, params and inputs in
    whatever order their query yields (SQLite and PostgreSQL differ)."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [normalize(v) for v in value]
        if items and all(isinstance(v, dict) for v in items):
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    return value


def compare(before, after, *rewrites):
    with open(before) as f:
        text = f.read()
    for rule in rewrites:
        old, new = rule.split("=", 1)
        text = text.replace(old, new)
    a = normalize(json.loads(text))
    with open(after) as f:
        b = normalize(json.load(f))
    problems = diff(a, b)
    summary = {k: len(v) for k, v in b.items()}
    checked = sum(len(r.get("artifacts", {})) for r in b["runs"])
    print(json.dumps({"ok": not problems, "mode": "compare", "counts": summary, "run_artifact_files": checked,
                      "differences": problems[:40]}))
    return 0 if not problems else 1


def extend(url, state_path):
    with open(state_path) as f:
        st = json.load(f)
    client = connect(url)
    before_ids = [int(e.experiment_id) for e in client.search_experiments(view_type=ViewType.ALL)]
    versions_before = [int(v.version) for v in client.search_model_versions(f"name='{MODEL}'")]
    new_exp = client.create_experiment(f"after-migration-{uuid.uuid4().hex[:6]}")
    if int(new_exp) <= max(before_ids):
        raise SystemExit(json.dumps({"ok": False, "error": f"new experiment id {new_exp} <= {max(before_ids)}"}))
    run_id, info = log_model(3, "after-migration", new_exp)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "after.txt")
        with open(path, "w") as f:
            f.write("written after the migration\n")
        client.log_artifact(run_id, path, "after")
        got = client.download_artifacts(run_id, "after/after.txt", os.path.join(tmp, "dl"))
        with open(got) as f:
            if f.read() != "written after the migration\n":
                raise SystemExit(json.dumps({"ok": False, "error": "artifact round trip differs"}))
        custom = client.download_artifacts(st["custom_run"], "", os.path.join(tmp, "custom"))
        custom_files = tree_digests(custom)
    mv = int(info.registered_model_version)
    if mv != max(versions_before) + 1:
        raise SystemExit(json.dumps({"ok": False, "error": f"new model version {mv}, expected {max(versions_before) + 1}"}))
    pred = predict(f"models:/{MODEL}@champion", [1.0])
    print(json.dumps({"ok": True, "mode": "extend", "experiment_id": new_exp, "run_id": run_id,
                      "model_version": mv, "champion_prediction": pred, "custom_run_files": custom_files}))


if __name__ == "__main__":
    sys.exit(run_mode(sys.argv, {"populate": populate, "snapshot": snapshot, "compare": compare, "extend": extend},
                      __doc__))
