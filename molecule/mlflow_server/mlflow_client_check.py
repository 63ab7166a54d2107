#!/usr/bin/env python3
"""End-to-end check of an MLflow tracking server with the real MLflow client.

    mlflow_client_check.py write URL STATE   log an experiment, params, metric history, a
                                              20 MB artifact, a pyfunc model + registered
                                              version; remember what was written in STATE
    mlflow_client_check.py check URL STATE   read all of it back through the server
    mlflow_client_check.py smoke URL         small write/read round trip (other versions)

Exit code 0 when every check passed; prints one JSON line with what it saw.
"""
import json
import os
import sys
import tempfile
import time
import uuid

import mlflow

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared"))
from checklib import run_mode, write_random  # noqa: E402
from mlflowlib import artifact_digest, connect, log_add_model, metric_history, predict  # noqa: E402

ARTIFACT_MB = 20
STEPS = 10


def fail(msg):
    print(json.dumps({"ok": False, "error": msg}))
    sys.exit(1)


def write(url, state_path):
    connect(url)
    suffix = uuid.uuid4().hex[:8]
    exp_name = f"molecule-{suffix}"
    model_name = f"molecule-model-{suffix}"
    exp_id = mlflow.create_experiment(exp_name)
    params = {"alpha": "0.5", "layers": "3", "optimizer": "adam"}
    metrics = {"loss": [1.0 / (s + 1) for s in range(STEPS)], "acc": [s / STEPS for s in range(STEPS)]}
    with tempfile.TemporaryDirectory() as tmp:
        blob = os.path.join(tmp, "blob.bin")
        blob_sha = write_random(blob, ARTIFACT_MB << 20)
        with mlflow.start_run(experiment_id=exp_id) as run:
            mlflow.log_params(params)
            for step in range(STEPS):
                mlflow.log_metrics({k: v[step] for k, v in metrics.items()}, step=step)
            t0 = time.time()
            mlflow.log_artifact(blob, artifact_path="data")
            upload_s = time.time() - t0
            info = log_add_model(2, model_name)
    version = info.registered_model_version
    state = {
        "url": url,
        "experiment_name": exp_name,
        "experiment_id": exp_id,
        "run_id": run.info.run_id,
        "params": params,
        "metrics": metrics,
        "artifact_sha256": blob_sha,
        "model_name": model_name,
        "model_version": str(version),
        "model_uri": info.model_uri,
    }
    with open(state_path, "w") as f:
        json.dump(state, f, indent=2)
    print(json.dumps({"ok": True, "mode": "write", "run_id": run.info.run_id,
                      "model": f"{model_name}/{version}", "upload_20mb_s": round(upload_s, 2)}))


def check(url, state_path):
    with open(state_path) as f:
        st = json.load(f)
    client = connect(url)
    exp = client.get_experiment_by_name(st["experiment_name"])
    if exp is None or exp.experiment_id != st["experiment_id"]:
        fail(f"experiment {st['experiment_name']} missing or changed id: {exp}")
    run = client.get_run(st["run_id"])
    if run.data.params != st["params"]:
        fail(f"params differ: {run.data.params} != {st['params']}")
    for key, values in st["metrics"].items():
        hist = metric_history(client, st["run_id"], key)
        if hist != list(enumerate(values)):
            fail(f"metric history {key} differs: {[v for _, v in hist]} != {values}")
    size, digest = artifact_digest(client, st["run_id"], "data/blob.bin")
    if (size, digest) != (ARTIFACT_MB << 20, st["artifact_sha256"]):
        fail(f"artifact differs (size {size})")
    mv = client.get_model_version(st["model_name"], st["model_version"])
    if mv.status != "READY":
        fail(f"model version status {mv.status}")
    got = predict(f"models:/{st['model_name']}/{st['model_version']}", [1.0, 2.0, 3.0])
    if got != [3.0, 4.0, 5.0]:
        fail(f"model prediction differs: {got}")
    print(json.dumps({"ok": True, "mode": "check", "run_id": st["run_id"],
                      "model": f"{st['model_name']}/{st['model_version']}", "status": run.info.status}))


def smoke(url):
    client = connect(url)
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    exp_id = client.create_experiment(name)
    run = client.create_run(exp_id)
    client.log_param(run.info.run_id, "p", "1")
    for step in range(3):
        client.log_metric(run.info.run_id, "m", step * 1.5, step=step)
    client.set_terminated(run.info.run_id)
    got = client.get_run(run.info.run_id)
    hist = [m.value for m in client.get_metric_history(run.info.run_id, "m")]
    if got.data.params != {"p": "1"} or sorted(hist) != [0.0, 1.5, 3.0]:
        fail(f"smoke round trip differs: {got.data.params} {hist}")
    print(json.dumps({"ok": True, "mode": "smoke", "experiment_id": exp_id, "run_id": run.info.run_id}))


if __name__ == "__main__":
    sys.exit(run_mode(sys.argv, {"write": write, "check": check, "smoke": smoke}, __doc__))
