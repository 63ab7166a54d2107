#!/usr/bin/env python3
"""End-to-end checks of the production stage from OUTSIDE the instance, as a user would.

    production_check.py proxied SETTINGS.json   through Nginx only (https, basic auth, /mlflow/): 401s, Host
                                  and CORS checks of MLflow's middleware, the web UI and its JS
                                  bundle, a run with params/metrics, a 50 MB artifact that lands
                                  in the bucket, a registered model loaded back; MLflow's own
                                  port is refused
    production_check.py direct SETTINGS.json    the stage in direct mode (mlflow_artifacts_mode: direct
                                  through the playbook; --no-serve-artifacts): through the public
                                  URL, the client uploads to the object store itself with
                                  MLFLOW_S3_ENDPOINT_URL and AWS_* credentials, as docs/production.md
                                  section 8 says

Settings come from a JSON file (mode 0600), so that no secret is on a command line or in a
process environment: CHECK_IP (instance address), CHECK_PUBLIC_URL (https://NAME/mlflow/; NAME is resolved to
CHECK_IP inside this process), CHECK_USER / CHECK_PASSWORD (basic auth), CHECK_S3_ENDPOINT (the public S3 address Nginx publishes;
its certificate checked against CHECK_CA),
CHECK_S3_ACCESS_KEY / CHECK_S3_SECRET_KEY (MLflow's key, to look into the bucket),
CHECK_BUCKET, CHECK_PREFIX (key prefix of the artifacts); in direct mode CHECK_S3_ENDPOINT is the object
store's own API on the host's private address.
Prints one JSON line; exit code 0 when every check passed.
"""
import json
import os
import re
import socket
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared"))
from checklib import bucket_objects, expect, load_settings, public_name, s3_client, seen, sha256  # noqa: E402
from checklib import stock_client, write_random  # noqa: E402

ARTIFACT_MB = 50
if len(sys.argv) != 3 or sys.argv[1] not in ("proxied", "direct"):
    print(__doc__, file=sys.stderr)
    sys.exit(2)
cfg = load_settings(sys.argv[2])
IP = cfg["CHECK_IP"]
PUBLIC = cfg.get("CHECK_PUBLIC_URL", "")
NAME = public_name(PUBLIC, IP) if PUBLIC else None
# Keep the client honest: nothing it needs may come from the caller's environment by accident,
# not even ~/.aws. What a user sets: URI, user, password and the CA of the self-signed certificate.
stock_client(PUBLIC, cfg["CHECK_USER"], cfg["CHECK_PASSWORD"], cfg["CHECK_CA"],
             AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)

import mlflow  # noqa: E402
import requests  # noqa: E402
from mlflowlib import artifact_digest, connect, log_add_model, metric_history, predict  # noqa: E402


def s3_objects(prefix):
    s3 = s3_client(cfg["CHECK_S3_ENDPOINT"], cfg["CHECK_S3_ACCESS_KEY"], cfg["CHECK_S3_SECRET_KEY"], verify=cfg["CHECK_CA"])
    return bucket_objects(s3, cfg["CHECK_BUCKET"], prefix)


def refused(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        return type(exc).__name__
    return None


def log_run(exp_name, blob_mb):
    """A run with params, a metric history and a blob artifact; returns (run, sha, seconds)."""
    exp_id = mlflow.create_experiment(exp_name)
    with tempfile.TemporaryDirectory() as tmp:
        blob = os.path.join(tmp, "blob.bin")
        digest = write_random(blob, blob_mb << 20)
        with mlflow.start_run(experiment_id=exp_id) as run:
            mlflow.log_params({"alpha": "0.5", "layers": "3"})
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            t0 = time.time()
            mlflow.log_artifact(blob, artifact_path="data")
            took = time.time() - t0
    return run, digest, took


def read_back(client, run, digest, blob_mb):
    got = client.get_run(run.info.run_id)
    expect(got.data.params == {"alpha": "0.5", "layers": "3"}, f"params differ: {got.data.params}")
    expect(metric_history(client, run.info.run_id, "loss") == [(s, 1.0 / (s + 1)) for s in range(5)],
           "metric history differs")
    expect(artifact_digest(client, run.info.run_id, "data/blob.bin") == (blob_mb << 20, digest),
           "downloaded artifact differs")


def proxied():
    base = PUBLIC.rstrip("/")
    user, password = cfg["CHECK_USER"], cfg["CHECK_PASSWORD"]
    api = f"{base}/api/2.0/mlflow/experiments/search"
    body = {"max_results": 1}

    # Basic auth in front of everything but /health and /version.
    r = requests.post(api, json=body, verify=cfg["CHECK_CA"], timeout=30)
    seen["no_credentials"] = r.status_code
    expect(r.status_code == 401, f"no credentials: {r.status_code}")
    r = requests.post(api, json=body, auth=(user, password + "-wrong"), verify=cfg["CHECK_CA"], timeout=30)
    seen["wrong_password"] = r.status_code
    expect(r.status_code == 401, f"wrong password: {r.status_code}")
    r = requests.post(api, json=body, auth=(user, password), verify=cfg["CHECK_CA"], timeout=30)
    seen["right_password"] = r.status_code
    expect(r.status_code == 200, f"right password: {r.status_code} {r.text[:200]}")
    r = requests.get(f"{base}/health", verify=cfg["CHECK_CA"], timeout=30)
    seen["health_open"] = r.status_code
    expect(r.status_code == 200 and r.text.strip() == "OK", f"/health: {r.status_code}")
    r = requests.get(f"http://{NAME}/mlflow/", allow_redirects=False, timeout=30)
    seen["http_redirect"] = r.status_code
    expect(r.status_code in (301, 308) and r.headers.get("location", "").startswith("https://"),
           f"http -> https redirect: {r.status_code}")

    # MLflow's security middleware is on: another Host header (Nginx answers any name and
    # forwards it) is refused by MLflow, the public one passes; so does the CORS check.
    # (TLS to the public name, its certificate checked; only the Host header is foreign)
    r = requests.post(api, json=body, auth=(user, password),
                      headers={"Host": "evil.example"}, verify=cfg["CHECK_CA"], timeout=30)
    seen["foreign_host"] = r.status_code
    expect(r.status_code == 403 and "Invalid Host header" in r.text, f"foreign Host: {r.status_code} {r.text[:100]}")
    origin = f"{urllib.parse.urlsplit(PUBLIC).scheme}://{NAME}"
    create = f"{base}/api/2.0/mlflow/experiments/create"
    r = requests.post(create, json={"name": f"cors-evil-{uuid.uuid4().hex[:6]}"}, auth=(user, password),
                      headers={"Origin": "https://evil.example"}, verify=cfg["CHECK_CA"], timeout=30)
    seen["foreign_origin"] = r.status_code
    expect(r.status_code == 403, f"foreign Origin: {r.status_code}")
    r = requests.post(create, json={"name": f"cors-ok-{uuid.uuid4().hex[:6]}"}, auth=(user, password),
                      headers={"Origin": origin}, verify=cfg["CHECK_CA"], timeout=30)
    seen["public_origin"] = r.status_code
    expect(r.status_code == 200, f"public Origin {origin}: {r.status_code} {r.text[:200]}")

    # The web UI under the sub-path: index, then the JS bundle it references.
    r = requests.get(f"{base}/", auth=(user, password), verify=cfg["CHECK_CA"], timeout=30)
    expect(r.status_code == 200 and "text/html" in r.headers.get("content-type", ""), f"UI index: {r.status_code}")
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', r.text)
    expect(scripts, "UI index references no script")
    js_url = urllib.parse.urljoin(f"{base}/", scripts[0])
    r = requests.get(js_url, auth=(user, password), verify=cfg["CHECK_CA"], timeout=60)
    seen["ui_js"] = {"url": js_url.replace(base, ""), "status": r.status_code,
                     "type": r.headers.get("content-type"), "bytes": len(r.content)}
    expect(r.status_code == 200 and "javascript" in r.headers.get("content-type", "") and len(r.content) > 10000,
           f"UI bundle {js_url}: {r.status_code} {r.headers.get('content-type')}")

    # MLflow's own port is not reachable from outside the instance.
    for port in (5000, 5001):
        how = refused(IP, port)
        seen[f"port_{port}"] = how or "OPEN"
        expect(how is not None, f"{IP}:{port} accepts connections")

    # MLflow advertises presigned (multipart) transfers; the URLs it signs point at the object
    # store published by Nginx (https, same name, own port), which the clients reach.
    r = requests.get(f"{base}/api/3.0/mlflow/server-info", auth=(user, password), verify=cfg["CHECK_CA"], timeout=30)
    seen["server_info_multipart"] = {k: v for k, v in r.json().items() if k.startswith("multipart")}
    expect(seen["server_info_multipart"] == {"multipart_uploads_enabled": True, "multipart_downloads_enabled": True},
           f"server-info: {seen['server_info_multipart']}")

    # The real client, through the public URLs only, with what a user sets (stock_client above).
    client = connect(PUBLIC)
    suffix = uuid.uuid4().hex[:8]
    run, digest, took = log_run(f"production-{suffix}", ARTIFACT_MB)
    seen["upload_50mb_s"] = round(took, 2)
    read_back(client, run, digest, ARTIFACT_MB)
    artifact_uri = client.get_run(run.info.run_id).info.artifact_uri
    seen["artifact_uri"] = artifact_uri
    expect(artifact_uri.startswith("mlflow-artifacts:/"), f"proxied run has artifact_uri {artifact_uri}")
    key_part = artifact_uri.split("mlflow-artifacts:/", 1)[1].strip("/")
    objects = s3_objects(f"{cfg['CHECK_PREFIX'].strip('/')}/{key_part}/data/")
    seen["bucket_objects"] = objects
    expect(list(objects.values()) == [ARTIFACT_MB * 1024 * 1024], f"artifact not in the bucket: {objects}")

    # The web UI's Download button: it asks for a presigned URL and sends the browser there.
    # The URL must be https on the public name (no mixed content, resolvable), and serve the file
    # as an attachment without any other credential.
    r = requests.get(f"{base}/ajax-api/2.0/mlflow-artifacts/presigned/{key_part}/data/blob.bin",
                     auth=(user, password), verify=cfg["CHECK_CA"], timeout=30)
    expect(r.status_code == 200, f"UI presigned URL: {r.status_code} {r.text[:200]}")
    url = r.json()["url"]
    seen["ui_download_url"] = url.split("?")[0]
    expect(url.startswith(cfg["CHECK_S3_PUBLIC_URL"].rstrip("/") + "/"), f"UI download goes to {url.split('?')[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        target = os.path.join(tmp, "ui.bin")
        with requests.get(url, verify=cfg["CHECK_CA"], stream=True, timeout=60) as r, open(target, "wb") as f:
            for chunk in r.iter_content(1 << 20):
                f.write(chunk)
        seen["ui_download"] = {"status": r.status_code, "disposition": r.headers.get("content-disposition")}
        expect(r.status_code == 200 and sha256(target) == digest, f"UI download: {r.status_code}")
        expect("attachment" in (r.headers.get("content-disposition") or ""), f"UI download: {seen['ui_download']}")

    model_name = f"production-model-{suffix}"
    with mlflow.start_run(experiment_id=run.info.experiment_id):
        info = log_add_model(2, model_name)
    got = predict(f"models:/{model_name}/{info.registered_model_version}", [1.0, 2.0])
    expect(got == [3.0, 4.0], f"model prediction {got}")
    seen["model"] = f"{model_name}/{info.registered_model_version}"
    print(json.dumps({"ok": True, "mode": "proxied", "run_id": run.info.run_id, "seen": seen}))


def direct():
    url = PUBLIC
    auth = (cfg["CHECK_USER"], cfg["CHECK_PASSWORD"])
    # As docs/production.md section 8 says: the client itself writes to the object store.
    os.environ.update({"MLFLOW_S3_ENDPOINT_URL": cfg["CHECK_S3_ENDPOINT"], "AWS_ACCESS_KEY_ID": cfg["CHECK_S3_ACCESS_KEY"],
                       "AWS_SECRET_ACCESS_KEY": cfg["CHECK_S3_SECRET_KEY"], "AWS_DEFAULT_REGION": "us-east-1"})
    client = connect(url)
    run, digest, took = log_run(f"direct-{uuid.uuid4().hex[:8]}", 5)
    artifact_uri = client.get_run(run.info.run_id).info.artifact_uri
    seen["artifact_uri"] = artifact_uri
    bucket_prefix = f"s3://{cfg['CHECK_BUCKET']}/{cfg['CHECK_PREFIX'].strip('/')}/"
    expect(artifact_uri.startswith(bucket_prefix), f"direct run has artifact_uri {artifact_uri}")
    read_back(client, run, digest, 5)
    objects = s3_objects(artifact_uri[len(f"s3://{cfg['CHECK_BUCKET']}/"):] + "/data/")
    seen["bucket_objects"] = objects
    expect(list(objects.values()) == [5 * 1024 * 1024], f"artifact not in the bucket: {objects}")
    # The server refuses to proxy artifacts in this mode: the client really went to S3 itself.
    r = requests.get(f"{url.rstrip('/')}/api/2.0/mlflow-artifacts/artifacts", auth=auth, verify=cfg["CHECK_CA"],
                     timeout=30)
    seen["proxy_endpoint"] = r.status_code
    expect(r.status_code in (404, 503), f"artifact proxy answers in direct mode: {r.status_code}")
    print(json.dumps({"ok": True, "mode": "direct", "run_id": run.info.run_id, "seen": seen}))


if __name__ == "__main__":
    proxied() if sys.argv[1] == "proxied" else direct()
