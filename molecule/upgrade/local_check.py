"""Run INSIDE the instance (python3 - < local_check.py MODE): the local stage's REST API on
127.0.0.1:5003. `log` creates an experiment and a run with a metric history; `read` checks them
and prints the server version. One JSON line; exit code 1 on a difference."""
import json
import sys
import urllib.request

BASE = "http://127.0.0.1:5003"


def call(path, body=None):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"}, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
    return json.loads(text) if text.startswith("{") else text


mode = sys.argv[1]
if mode == "log":
    exp = call("/api/2.0/mlflow/experiments/create", {"name": "local-upgrade"})["experiment_id"]
    run = call("/api/2.0/mlflow/runs/create", {"experiment_id": exp, "run_name": "local-1"})["run"]["info"]["run_id"]
    for step in range(5):
        call("/api/2.0/mlflow/runs/log-metric", {"run_id": run, "key": "loss", "value": 1.0 / (step + 1),
                                                 "timestamp": 1_700_000_000_000 + step, "step": step})
    call("/api/2.0/mlflow/runs/log-parameter", {"run_id": run, "key": "alpha", "value": "0.5"})
got = call("/api/2.0/mlflow/experiments/get-by-name?experiment_name=local-upgrade")["experiment"]
runs = call("/api/2.0/mlflow/runs/search", {"experiment_ids": [got["experiment_id"]]})["runs"]
run = runs[0]["info"]["run_id"]
hist = call(f"/api/2.0/mlflow/metrics/get-history?run_id={run}&metric_key=loss&max_results=1000")["metrics"]
values = sorted((m["step"], m["value"]) for m in hist)
ok = len(runs) == 1 and values == [(s, 1.0 / (s + 1)) for s in range(5)] and runs[0]["data"]["params"][0]["value"] == "0.5"
print(json.dumps({"ok": ok, "version": call("/version"), "runs": len(runs), "metrics": len(values)}))
sys.exit(0 if ok else 1)
