"""The cloud stages as a user and the provider's console see them (issue #16).

    python cloud_check.py SETTINGS.json stores        the bucket / blob container (the user's step in the cloud)
    python cloud_check.py SETTINGS.json log           a stock MLflow client logs a run and reads it back
    python cloud_check.py SETTINGS.json objects RUNS  the runs' artifacts in the store, by path
    python cloud_check.py SETTINGS.json denied        the MLflow key reaches its bucket only (S3)

`log` runs with the Python of the client under test (the test venv's MLflow 3.17, or
.build/clients/mlflow-<version>/bin/python) through Nginx only: the public name resolves to the VM
in this process, basic auth, the test CA. It logs params, a metric history and two artifacts,
downloads them again, compares them byte for byte and prints the run's ids and files.
`stores`, `objects` and `denied` run with the test venv (boto3, azure-storage-blob) straight
against the stand-ins, as the provider's console would show them. Settings (JSON, mode 0600):
CHECK_IP, CHECK_ENDPOINTS (the stand-ins' names and addresses), CHECK_PUBLIC_URL, CHECK_USER,
CHECK_PASSWORD, CHECK_CA, CHECK_STORE (s3 or azure), CHECK_BUCKET, CHECK_PREFIX, CHECK_OTHER_BUCKET,
CHECK_S3_ENDPOINT, CHECK_S3_ADMIN_KEY, CHECK_S3_ADMIN_SECRET, CHECK_S3_KEY, CHECK_S3_SECRET,
CHECK_AZURE_CONNECTION_STRING.
Prints one JSON line; exit code 0 when every check passed.
"""
import json
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared"))
from checklib import expect, fail, finish, load_settings, map_host, public_name, run_mode, s3_client  # noqa: E402
from checklib import seen, sha256, stock_client, write_random  # noqa: E402

S = {}


def _blob_container():
    from azure.storage.blob import BlobServiceClient  # pylint: disable=import-outside-toplevel

    service = BlobServiceClient.from_connection_string(S["CHECK_AZURE_CONNECTION_STRING"])
    return service.get_container_client(S["CHECK_BUCKET"])


def _store_objects(prefix):
    """{path: size} under prefix in the bucket or blob container."""
    if S["CHECK_STORE"] == "azure":
        return {blob.name: blob.size for blob in _blob_container().list_blobs(name_starts_with=prefix)}
    s3 = s3_client(S["CHECK_S3_ENDPOINT"], S["CHECK_S3_ADMIN_KEY"], S["CHECK_S3_ADMIN_SECRET"])
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=S["CHECK_BUCKET"], Prefix=prefix):
        out.update({obj["Key"]: obj["Size"] for obj in page.get("Contents", [])})
    return out


def stores():
    if S["CHECK_STORE"] == "azure":
        container = _blob_container()
        if not container.exists():
            container.create_container()
        seen["container"] = S["CHECK_BUCKET"]
    else:
        s3 = s3_client(S["CHECK_S3_ENDPOINT"], S["CHECK_S3_ADMIN_KEY"], S["CHECK_S3_ADMIN_SECRET"])
        have = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
        for bucket in (S["CHECK_BUCKET"], S["CHECK_OTHER_BUCKET"]):
            if bucket not in have:
                s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=S["CHECK_OTHER_BUCKET"], Key="secret-of-another-team.txt", Body=b"not for MLflow")
        seen["buckets"] = sorted(bucket["Name"] for bucket in s3.list_buckets()["Buckets"])
    finish(True)


def log():
    stock_client(S["CHECK_PUBLIC_URL"], S["CHECK_USER"], S["CHECK_PASSWORD"], S["CHECK_CA"])
    public_name(S["CHECK_PUBLIC_URL"], S["CHECK_IP"])
    # the stores' endpoints as the cloud's DNS gives them: MLflow 3.x clients move some artifacts
    # straight to S3 / Blob Storage with URLs the server signs
    for name, address in S["CHECK_ENDPOINTS"].items():
        map_host(name, address)
    import mlflow  # pylint: disable=import-outside-toplevel

    seen["client"] = mlflow.__version__
    client = mlflow.MlflowClient()
    experiment = "cloud-" + S["CHECK_STORE"] + "-" + uuid.uuid4().hex[:8]
    mlflow.set_experiment(experiment)
    with tempfile.TemporaryDirectory() as work:
        files = {"model/weights.bin": 3 << 20, "notes.txt": 0}
        digests = {}
        for name, size in files.items():
            path = os.path.join(work, "up", name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if size:
                digests[name] = write_random(path, size)
            else:
                with open(path, "w") as f:
                    f.write("logged from the MLflow " + mlflow.__version__ + " client\n")
                digests[name] = sha256(path)
        with mlflow.start_run() as run:
            mlflow.log_params({"lr": "0.01", "store": S["CHECK_STORE"]})
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_artifact(os.path.join(work, "up", "notes.txt"))
            mlflow.log_artifact(os.path.join(work, "up", "model", "weights.bin"), artifact_path="model")
        run_id = run.info.run_id
        got = client.get_run(run_id)
        expect(got.data.params == {"lr": "0.01", "store": S["CHECK_STORE"]}, "params read back: %s" % got.data.params)
        history = [m.value for m in client.get_metric_history(run_id, "loss")]
        expect(history == [1.0 / (step + 1) for step in range(5)], "metric history read back: %s" % history)
        down = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="", dst_path=os.path.join(work, "down"))
        for name, digest in digests.items():
            path = os.path.join(down, name)
            expect(os.path.exists(path) and sha256(path) == digest, "artifact %s read back unchanged" % name)
        seen["read_back"] = sorted(digests)
    finish(True, run_id=run_id, experiment_id=run.info.experiment_id, files={name: size for name, size in files.items()})


def objects(runs_file):
    """Every run's artifacts at <prefix>/<experiment id>/<run id>/artifacts/<path>, with the size logged."""
    with open(runs_file) as f:
        runs = json.load(f)
    for run in runs:
        where = "%s/%s/%s/artifacts/" % (S["CHECK_PREFIX"], run["experiment_id"], run["run_id"])
        found = _store_objects(where)
        seen[run["run_id"]] = found
        for name, size in run["files"].items():
            expect(where + name in found, "%s not in the %s store" % (where + name, S["CHECK_STORE"]))
            expect(size == 0 or found[where + name] == size, "%s has %s bytes, logged %s" % (name, found[where + name], size))
    finish(True)


def denied():
    """An IAM-style key limited to the bucket: its own bucket works, another one is refused."""
    from botocore.exceptions import ClientError  # pylint: disable=import-outside-toplevel

    s3 = s3_client(S["CHECK_S3_ENDPOINT"], S["CHECK_S3_KEY"], S["CHECK_S3_SECRET"])
    s3.list_objects_v2(Bucket=S["CHECK_BUCKET"], MaxKeys=1)
    for call in (lambda: s3.list_objects_v2(Bucket=S["CHECK_OTHER_BUCKET"]),
                 lambda: s3.get_object(Bucket=S["CHECK_OTHER_BUCKET"], Key="secret-of-another-team.txt"),
                 lambda: s3.put_object(Bucket=S["CHECK_OTHER_BUCKET"], Key="x", Body=b"x")):
        try:
            call()
        except ClientError as error:
            seen.setdefault("refused", []).append(error.response["Error"]["Code"])
            continue
        fail("the MLflow key reached another bucket")
    expect(set(seen["refused"]) == {"AccessDenied"}, "refusals: %s" % seen["refused"])
    finish(True)


if __name__ == "__main__":
    S.update(load_settings(sys.argv[1]))
    sys.exit(run_mode(sys.argv[1:], {"stores": stores, "log": log, "objects": objects, "denied": denied},
                      __doc__))
