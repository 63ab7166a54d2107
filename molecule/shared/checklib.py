"""Helpers shared by the scenarios' client scripts (they run on the test machine).

Standard library only (the S3 helpers import boto3 when called): scripts run with any client's
Python (artifacts_check.py with the older stock clients of .build/clients, mlflow-skinny without
pandas or numpy) and doc_snippet.py copies this file into the snippets' sitecustomize. What needs
MLflow's model flavours and pandas is in mlflowlib.py. A script adds this folder to sys.path and
imports what it needs:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared"))
    from checklib import expect, fail, seen, sha256  # noqa: E402

`seen` collects what the checks observed; `fail` prints it with the error as one JSON line and
exits 1, `finish` prints the last line either way. Settings files (`load_settings`, JSON, mode
0600) keep the secrets off command lines. `stock_client` gives this process the environment of a
user's stock MLflow client, `map_host` (`public_name` from a URL) resolves the stage's public
name to the instance in this process only (no /etc/hosts edit on the test machine); call both
before importing mlflow. Besides: `sha256` and `write_random` for artifacts, `wait_until` for
bounded waits, `run_mode` for a `script.py MODE ARGS...` command line, `s3_client` and
`bucket_objects` to look into a bucket.
"""
import hashlib
import inspect
import json
import os
import socket
import sys
import time
import urllib.parse

seen = {}


def fail(msg):
    print(json.dumps({"ok": False, "error": msg, "seen": seen}))
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def finish(ok, error=None, **fields):
    """The last line, {"ok", **fields, "seen"[, "error"]}; exit code 0 when ok, else 1."""
    print(json.dumps({"ok": ok, **fields, "seen": seen, **({"error": error} if error else {})}))
    sys.exit(0 if ok else 1)


def sha256(path):
    """Hex SHA-256 of a file, read piece by piece (artifacts may be GBs)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_random(path, size):
    """An incompressible file of size bytes, written 8 MiB at a time (never whole in memory);
    returns its hex SHA-256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        while size > 0:
            chunk = os.urandom(min(size, 8 << 20))
            h.update(chunk)
            f.write(chunk)
            size -= len(chunk)
    return h.hexdigest()


def wait_until(cond, deadline, interval=1.0):
    """Call cond every interval seconds until it is true (True) or time.time() passes deadline (False)."""
    while not cond():
        if time.time() >= deadline:
            return False
        time.sleep(interval)
    return True


def run_mode(argv, modes, usage):
    """Run the mode argv[1] names, modes[argv[1]], with the arguments after it (as many as its
    parameters take). A call no mode takes prints usage to stderr: exit code 2; else the
    mode's own (None: 0)."""
    mode = modes.get(argv[1]) if len(argv) > 1 else None
    try:
        inspect.signature(mode).bind(*argv[2:])
    except TypeError:  # no such mode, or not its arguments
        print(usage, file=sys.stderr)
        return 2
    return mode(*argv[2:]) or 0


def load_settings(path):
    """The scenario's settings file (JSON, mode 0600): no secret on a command line."""
    with open(path) as f:
        return json.load(f)


# What the caller's environment could lend the client by accident.
CALLER_ENV_PREFIXES = ("MLFLOW_", "AWS_")
CALLER_ENV_NAMES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def stock_client(url, user=None, password=None, ca=None, **extra):
    """This process's environment as a user's stock MLflow client has it: no MLFLOW_*, AWS_* or CA
    setting of the caller's, only the tracking URI, the basic-auth user and password (when both
    are given), the CA of a self-signed certificate (when given) and `extra` (NAME=value)."""
    for name in list(os.environ):
        if name.startswith(CALLER_ENV_PREFIXES) or name in CALLER_ENV_NAMES:
            del os.environ[name]
    os.environ["MLFLOW_TRACKING_URI"] = url
    if user and password:
        os.environ.update({"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password})
    if ca:
        os.environ["REQUESTS_CA_BUNDLE"] = ca
    os.environ.update(extra)


def map_host(name, address):
    """Resolve host name `name` to `address` in this process (socket.getaddrinfo); every other name
    resolves as before. Nothing to do (False) without both or when they are the same, else True."""
    if not name or not address or name == address:
        return False
    getaddrinfo = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return getaddrinfo(address if host == name else host, *args, **kwargs)

    socket.getaddrinfo = resolve
    return True


def public_name(url, address=None):
    """The host name of url, mapped to address in this process (map_host) when one is given."""
    name = urllib.parse.urlsplit(url).hostname
    map_host(name, address)
    return name


def s3_client(endpoint, access_key, secret_key, **kwargs):
    """A boto3 S3 client of the object store at endpoint (region us-east-1) with that key."""
    import boto3  # pylint: disable=import-outside-toplevel

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key, **kwargs)


def bucket_objects(s3, bucket, prefix=""):
    """{key: size} of the bucket's objects under prefix."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj["Size"]
    return out
