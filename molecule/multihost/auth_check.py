#!/usr/bin/env python3
"""MLflow's built-in authentication on the multi-host stage (mlflow_auth_mode: mlflow), as users see it.

    auth_check.py SETTINGS.json

Through Nginx (the public URL, its name resolved to the proxy host) and on each MLflow server's own
port (CHECK_SERVERS, port 5001), with the REST API and the stock MLflow client:
- no credentials and a wrong password get 401 from MLflow (realm "mlflow": Nginx asks for nothing);
- alice, who created CHECK_EXPERIMENT and CHECK_MODEL on MLflow 3.7.0, logs a run there;
- bob (READ grant on both) reads them, and gets 403 creating a run or changing the model; his
  old password gets 401, his new one works;
- carol (DENY grant on both) gets 403 reading them;
- the admin reads and writes everything and reads the users.
Settings: CHECK_PUBLIC_URL, CHECK_PROXY_IP, CHECK_CA, CHECK_ADMIN, CHECK_ADMIN_PASSWORD, CHECK_USERS
({name: password}), CHECK_BOB_OLD_PASSWORD, CHECK_EXPERIMENT, CHECK_MODEL, CHECK_SERVERS.
Prints one JSON line; exit code 0 when every check passed.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared"))
from checklib import expect, finish, load_settings, public_name, seen, stock_client  # noqa: E402

if len(sys.argv) != 2:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
cfg = load_settings(sys.argv[1])
PUBLIC = cfg["CHECK_PUBLIC_URL"].rstrip("/")
public_name(PUBLIC, cfg["CHECK_PROXY_IP"])
USERS = cfg["CHECK_USERS"]
stock_client(PUBLIC, "alice", USERS["alice"], cfg["CHECK_CA"], MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")

import mlflow  # noqa: E402
import requests  # noqa: E402
import urllib3  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

urllib3.disable_warnings()
EXPERIMENT = cfg["CHECK_EXPERIMENT"]
MODEL = cfg["CHECK_MODEL"]


def call(base, method, path, user=None, password=None, **kwargs):
    """(status, WWW-Authenticate) of one REST request to base (a tracking URI)."""
    auth = (user, password) if user else None
    response = requests.request(method, base + path, auth=auth, timeout=60, **_target(base), **kwargs)
    return response.status_code, response.headers.get("WWW-Authenticate", "")


def _target(base):
    """The CA of the public URL; on a server's own port, the public Host header (the security
    middleware allows only the public name and localhost)."""
    if base.startswith("https:"):
        return {"verify": cfg["CHECK_CA"]}
    return {"headers": {"Host": public_name(PUBLIC)}}


def as_user(base, user, password):
    """The REST calls each check makes, with that user's credentials: {name: status}."""
    exp = call(base, "GET", "/api/2.0/mlflow/experiments/get-by-name", user, password,
               params={"experiment_name": EXPERIMENT})
    out = {"read_experiment": exp[0], "read_model": call(base, "GET", "/api/2.0/mlflow/registered-models/get",
                                                        user, password, params={"name": MODEL})[0]}
    return out


def experiment_id(base):
    response = requests.get(base + "/api/2.0/mlflow/experiments/get-by-name",
                            params={"experiment_name": EXPERIMENT}, auth=(cfg["CHECK_ADMIN"], cfg["CHECK_ADMIN_PASSWORD"]),
                            timeout=60, **_target(base))
    expect(response.status_code == 200, f"admin cannot read {EXPERIMENT}: {response.status_code}")
    return response.json()["experiment"]["experiment_id"]


def writes(base, user, password, exp_id):
    """Create a run in the experiment and change the model's description: (status, status)."""
    run = call(base, "POST", "/api/2.0/mlflow/runs/create", user, password,
               json={"experiment_id": exp_id, "start_time": int(time.time() * 1000), "run_name": f"auth-{user}"})[0]
    model = call(base, "PATCH", "/api/2.0/mlflow/registered-models/update", user, password,
                 json={"name": MODEL, "description": f"touched by {user}"})[0]
    return run, model


def check(base, label):
    exp_id = experiment_id(base)
    # no credentials, wrong password: MLflow's own 401 (Nginx would say realm="MLflow")
    anonymous = call(base, "GET", "/api/2.0/mlflow/experiments/search", params={"max_results": 1})
    wrong = call(base, "GET", "/api/2.0/mlflow/experiments/search", "alice", "not-" + USERS["alice"],
                 params={"max_results": 1})
    seen[label] = {"anonymous": anonymous, "wrong_password": wrong[0]}
    expect(anonymous[0] == 401 and anonymous[1] == 'Basic realm="mlflow"', f"{label}: without credentials {anonymous}")
    expect(wrong[0] == 401, f"{label}: wrong password {wrong}")
    expected = {
        "alice": ({"read_experiment": 200, "read_model": 200}, (200, 200)),
        "bob": ({"read_experiment": 200, "read_model": 200}, (403, 403)),
        "carol": ({"read_experiment": 403, "read_model": 403}, (403, 403)),
        cfg["CHECK_ADMIN"]: ({"read_experiment": 200, "read_model": 200}, (200, 200)),
    }
    passwords = {**USERS, cfg["CHECK_ADMIN"]: cfg["CHECK_ADMIN_PASSWORD"]}
    for user, (reads, write) in expected.items():
        got_reads = as_user(base, user, passwords[user])
        got_writes = writes(base, user, passwords[user], exp_id)
        seen[label][user] = {**got_reads, "create_run": got_writes[0], "update_model": got_writes[1]}
        expect(got_reads == reads and got_writes == write,
               f"{label}: {user} got {seen[label][user]}, expected reads {reads}, writes {write}")
    users = call(base, "GET", "/api/2.0/mlflow/users/get", cfg["CHECK_ADMIN"], cfg["CHECK_ADMIN_PASSWORD"],
                 params={"username": "bob"})[0]
    not_admin = call(base, "GET", "/api/2.0/mlflow/users/get", "bob", USERS["bob"], params={"username": "alice"})[0]
    old = call(base, "GET", "/api/2.0/mlflow/experiments/search", "bob", cfg["CHECK_BOB_OLD_PASSWORD"],
               params={"max_results": 1})[0]
    seen[label].update(admin_reads_users=users, bob_reads_users=not_admin, bob_old_password=old)
    expect(users == 200 and not_admin == 403, f"{label}: users/get admin {users}, bob {not_admin}")
    expect(old == 401, f"{label}: bob's old password got {old}")


def stock_clients():
    """The stock client (fluent API) as bob: reads the experiment, cannot start a run there."""
    os.environ.update({"MLFLOW_TRACKING_USERNAME": "bob", "MLFLOW_TRACKING_PASSWORD": USERS["bob"]})
    mlflow.set_tracking_uri(PUBLIC)
    exp = mlflow.get_experiment_by_name(EXPERIMENT)
    expect(exp is not None, "bob's stock client cannot read the experiment")
    try:
        with mlflow.start_run(experiment_id=exp.experiment_id):
            pass
        denied = None
    except MlflowException as exc:
        denied = exc.error_code
    seen["stock_client_bob"] = {"read": exp.name, "start_run": denied}
    expect(denied == "PERMISSION_DENIED", f"bob's stock client started a run: {denied}")


def main():
    check(PUBLIC, "nginx")
    for address in cfg["CHECK_SERVERS"]:
        if address != cfg["CHECK_PROXY_IP"]:  # the proxy host's MLflow listens on 127.0.0.1 only
            check(f"http://{address}:5001", f"server {address}")
    stock_clients()
    finish(True)


if __name__ == "__main__":
    main()
