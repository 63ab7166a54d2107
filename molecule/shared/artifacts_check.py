"""Artifacts of any size with a STOCK MLflow client, as a user runs it: only the tracking URI, the
basic-auth user and password, and the CA of a self-signed certificate (REQUESTS_CA_BUNDLE).

    python artifacts_check.py SETTINGS.json --sizes 1K,100M,600M,1G --workdir DIR
    python artifacts_check.py SETTINGS.json --private     (needs CHECK_S3_ACCESS_KEY/SECRET_KEY)

Run it with the Python of the client under test (the test venv's MLflow 3.17, or
.build/clients/mlflow-<version>/bin/python from scripts/client-venvs.sh). Settings (JSON, mode
0600): CHECK_IP (the public name resolves to it inside this process only), CHECK_PUBLIC_URL,
CHECK_USER, CHECK_PASSWORD, CHECK_CA (the proxy's certificate), CHECK_S3_PUBLIC_URL (the object
store published for presigned transfers), CHECK_BUCKET.

Sizes: each file is logged to a run, downloaded again and compared by sha256; the times are
printed. Whether a transfer went straight to the object store or through MLflow is for the
caller to read where the user would: the S3 site's access log on the proxy.
--private: the published bucket answers 403 to an unsigned request, to an expired presigned URL
and to a tampered signature.
Prints one JSON line; exit code 0 when every check passed.
"""
import argparse
import os
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import finish, load_settings, public_name, s3_client, seen, sha256, stock_client  # noqa: E402
from checklib import write_random  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("settings")
parser.add_argument("--sizes", default="1K")
parser.add_argument("--workdir", default=None)
parser.add_argument("--private", action="store_true")
args = parser.parse_args()

settings = load_settings(args.settings)
# A stock client: nothing from the caller's environment, only what a user sets; the public name
# resolves to the instance in this process.
stock_client(settings["CHECK_PUBLIC_URL"], settings["CHECK_USER"], settings["CHECK_PASSWORD"], settings.get("CHECK_CA"))
public_name(settings["CHECK_PUBLIC_URL"], settings.get("CHECK_IP"))

import mlflow  # noqa: E402
import requests  # noqa: E402

seen["client"] = mlflow.__version__


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def server_info():
    r = requests.get(f"{settings['CHECK_PUBLIC_URL'].rstrip('/')}/api/3.0/mlflow/server-info",
                     auth=(settings["CHECK_USER"], settings["CHECK_PASSWORD"]), timeout=30)
    return {k: v for k, v in r.json().items() if k.startswith("multipart")} if r.status_code == 200 else r.status_code


def sizes():
    seen["server_info"] = server_info()
    exp_id = mlflow.create_experiment(f"artifacts-{mlflow.__version__}-{uuid.uuid4().hex[:6]}")
    workdir = tempfile.mkdtemp(prefix="artifacts-", dir=args.workdir)
    results = {}
    try:
        with mlflow.start_run(experiment_id=exp_id) as run:
            pass
        for label in args.sizes.split(","):
            size = parse_size(label)
            src = os.path.join(workdir, f"blob-{label}.bin")
            digest = write_random(src, size)
            t0 = time.time()
            with mlflow.start_run(run_id=run.info.run_id):
                mlflow.log_artifact(src, artifact_path=f"sizes/{label}")
            up = time.time() - t0
            os.unlink(src)
            dst = os.path.join(workdir, f"down-{label}")
            os.mkdir(dst)
            t0 = time.time()
            got = mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                      artifact_path=f"sizes/{label}/blob-{label}.bin", dst_path=dst)
            down = time.time() - t0
            same = os.path.getsize(got) == size and sha256(got) == digest
            os.unlink(got)
            mib = size / (1 << 20)
            results[label] = {"same": same, "up_s": round(up, 2), "down_s": round(down, 2),
                              "up_mib_s": round(mib / up, 1), "down_mib_s": round(mib / down, 1)}
            if not same:
                seen["sizes"] = results
                finish(False, f"{label}: the downloaded artifact differs from the uploaded one")
        seen["sizes"] = results
        seen["run_id"] = run.info.run_id
    finally:
        for root, dirs, files in os.walk(workdir, topdown=False):
            for name in files:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                os.rmdir(os.path.join(root, name))
        os.rmdir(workdir)
    finish(True)


def private():
    from botocore.config import Config

    base = settings["CHECK_S3_PUBLIC_URL"].rstrip("/")
    bucket = settings["CHECK_BUCKET"]
    s3 = s3_client(base, settings["CHECK_S3_ACCESS_KEY"], settings["CHECK_S3_SECRET_KEY"],
                   verify=settings.get("CHECK_CA") or True,
                   config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    key = f"private-check/{uuid.uuid4().hex}.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"private")
    verify = settings.get("CHECK_CA") or True
    try:
        good = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
        r = requests.get(good, verify=verify, timeout=30)
        seen["signed"] = r.status_code
        if r.status_code != 200 or r.content != b"private":
            finish(False, f"a valid presigned URL got {r.status_code}")
        r = requests.get(f"{base}/{bucket}/{key}", verify=verify, timeout=30)
        seen["unsigned_get"] = r.status_code
        r = requests.get(f"{base}/{bucket}?list-type=2", verify=verify, timeout=30)
        seen["unsigned_list"] = r.status_code
        r = requests.put(f"{base}/{bucket}/{key}-anon", data=b"x", verify=verify, timeout=30)
        seen["unsigned_put"] = r.status_code
        expiring = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=1)
        time.sleep(2.5)
        r = requests.get(expiring, verify=verify, timeout=30)
        seen["expired"] = r.status_code
        tampered = good.replace("X-Amz-Signature=", "X-Amz-Signature=0")
        r = requests.get(tampered, verify=verify, timeout=30)
        seen["tampered"] = r.status_code
    finally:
        s3.delete_object(Bucket=bucket, Key=key)
    refused = {k: seen[k] for k in ("unsigned_get", "unsigned_list", "unsigned_put", "expired", "tampered")}
    if any(code != 403 for code in refused.values()):
        finish(False, f"the published bucket answered without a valid signature: {refused}")
    finish(True)


if __name__ == "__main__":
    private() if args.private else sizes()
