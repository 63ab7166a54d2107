#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: artifact_sync
short_description: Copy a local MLflow artifact tree into an S3 bucket, verified, and report artifact URIs stored elsewhere
description:
  - Uploads every file below O(src) (the directory an MLflow server with C(--serve-artifacts) and a local
    C(--artifacts-destination) writes to) to O(dest) (C(s3://BUCKET/PREFIX), the C(--artifacts-destination) of the
    server that takes over) under the same relative path. A C(mlflow-artifacts:/1/RUN/artifacts/x) URI recorded
    by the old server therefore resolves to the same bytes through the new one.
  - Resumable and idempotent. An object that already exists with the same size and either an ETag equal to the
    file's MD5 (single-part upload) or a C(sha256) user metadata value equal to the file's SHA-256 is skipped.
    Uploaded objects carry the file's SHA-256 as user metadata C(sha256), are read back with HEAD (size and
    checksum) and the task fails unless every local file is present and verified in the bucket.
  - An existing object with the same key but other content is a conflict. The task fails before uploading
    anything, unless O(on_conflict=overwrite).
  - Objects under the prefix that have no local file are counted (RV(extra_objects)) and left alone.
  - With O(sqlite_path), the module also reads the artifact locations that the MLflow store records (experiments,
    runs, logged models, model versions, trace tags) and reports the ones that do not live under the served
    artifact root (C(mlflow-artifacts:)), for example absolute file paths or other buckets. O(rewrite) rules map
    such prefixes to a C(mlflow-artifacts:/...) location; with O(update_sqlite=true) the module rewrites them in
    that file (meant for a migration work copy, never the live store), and a rule's C(local_path) uploads the
    files it names to the matching place in the bucket.
version_added: 0.1.0
author:
  - mlops.mlflow maintainers (@mlops)
requirements:
  - boto3 (for example the C(python3-boto3) package) on the host that runs the module
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Lists the bucket, reads checksums and reports what would be uploaded and rewritten.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode).
    support: none
options:
  src:
    description:
      - Local artifact root (on the host that runs the module). Symbolic links are followed for files only.
      - A missing directory is an error unless O(allow_missing_src=true).
    type: path
    required: true
  allow_missing_src:
    description:
      - Treat a missing O(src) as an empty tree (a store that never logged an artifact).
    type: bool
    default: false
  dest:
    description:
      - Target as C(s3://BUCKET) or C(s3://BUCKET/PREFIX), the same value as the MLflow server's
        C(--artifacts-destination).
    type: str
    required: true
  endpoint_url:
    description:
      - S3 endpoint, for example C(http://127.0.0.1:9000) for MinIO or SeaweedFS. AWS when omitted.
    type: str
  region:
    description: Region name of the client.
    type: str
    default: us-east-1
  access_key:
    description: Access key id. boto3's own lookup (environment, profile, instance role) when omitted.
    type: str
  secret_key:
    description: Secret access key.
    type: str
  validate_certs:
    description: Verify the endpoint's TLS certificate.
    type: bool
    default: true
  ca_bundle:
    description: CA bundle (PEM) to verify the endpoint with.
    type: path
  on_conflict:
    description:
      - What to do when an object exists with the same key but other content (size or checksum differ).
      - C(fail) stops before any upload and lists the keys, C(overwrite) replaces them.
    type: str
    choices: [fail, overwrite]
    default: fail
  multipart_threshold_mb:
    description:
      - Files larger than this are uploaded in parts (their ETag is then no MD5; the C(sha256) metadata is used).
    type: int
    default: 64
  sqlite_path:
    description:
      - MLflow SQLite store whose recorded artifact locations are reported (and rewritten with O(update_sqlite)).
    type: path
  rewrite:
    description:
      - Rules for artifact locations outside C(mlflow-artifacts:). A location equal to C(from), or starting with
        C(from) followed by C(/), becomes C(to) plus the rest.
    type: list
    elements: dict
    default: []
    suboptions:
      from:
        description: Recorded prefix, as stored, for example C(file:///home/ml/mlruns) or C(/mlflow/data/old).
        type: str
        required: true
      to:
        description: New prefix; must start with C(mlflow-artifacts:/).
        type: str
        required: true
      local_path:
        description:
          - Directory on this host holding the files below C(from). They are uploaded below the key that C(to) maps
            to in O(dest). Without it, only the recorded locations change.
        type: path
  update_sqlite:
    description:
      - Apply O(rewrite) to O(sqlite_path). Use it only on a copy that is about to be migrated.
    type: bool
    default: false
  fail_on_unmatched:
    description:
      - Fail when locations outside C(mlflow-artifacts:) remain that no O(rewrite) rule covers (they are always
        reported in RV(foreign_uris) and warned about).
    type: bool
    default: false
notes:
  - MLflow's proxied artifact access maps C(mlflow-artifacts:/PATH) to C(DESTINATION/PATH) for both local and S3
    destinations, which is why relative paths are kept as they are.
  - Checked with SeaweedFS (S3 API) and boto3 1.26 (Debian bookworm).
seealso:
  - module: mlops.mlflow.pgloader_migrate
"""

EXAMPLES = r"""
- name: Copy the local stage's artifacts into the production bucket
  mlops.mlflow.artifact_sync:
    src: /var/lib/mlflow/artifacts
    dest: s3://mlflow/artifacts
    endpoint_url: http://127.0.0.1:9000
    access_key: mlflow
    secret_key: "{{ vault_s3_secret }}"

- name: Report locations outside the served root, and rewrite an old file store in a work copy
  mlops.mlflow.artifact_sync:
    src: /var/lib/mlflow/artifacts
    dest: s3://mlflow/artifacts
    endpoint_url: http://127.0.0.1:9000
    access_key: mlflow
    secret_key: "{{ vault_s3_secret }}"
    sqlite_path: /var/backups/mlflow-migration/work/mlflow.db
    update_sqlite: true
    rewrite:
      - from: /mlflow/data/mlruns
        to: mlflow-artifacts:/legacy
        local_path: /var/lib/mlflow/mlruns
"""

RETURN = r"""
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
  sample: uploaded 12 of 40 files (3.1 MiB), 28 already present; 40 verified
files:
  description: Number of local files (O(src) and every rule's C(local_path)).
  returned: success
  type: int
  sample: 40
uploaded:
  description: Keys uploaded (or, in check mode, to be uploaded), at most 200 listed.
  returned: success
  type: list
  elements: str
  sample: [artifacts/1/0a1b/artifacts/model/MLmodel]
uploaded_count:
  description: Number of files uploaded (or to be uploaded).
  returned: success
  type: int
  sample: 12
bytes_uploaded:
  description: Bytes uploaded (or to be uploaded).
  returned: success
  type: int
  sample: 3250000
skipped_count:
  description: Files already present with the same content.
  returned: success
  type: int
  sample: 28
verified:
  description: Files whose object was confirmed (size and checksum) after the run; equals RV(files) on success.
  returned: success
  type: int
  sample: 40
conflicts:
  description: Keys that exist with other content (at most 200 listed).
  returned: always
  type: list
  elements: dict
  sample: [{key: artifacts/1/x/artifacts/a.txt, reason: size differs}]
extra_objects:
  description: Objects under the prefix without a local file (left alone).
  returned: success
  type: int
  sample: 0
foreign_uris:
  description:
    - Recorded artifact locations outside C(mlflow-artifacts:) (at most 200 listed), with the rewritten value
      when a rule matches.
  returned: when O(sqlite_path) is given
  type: list
  elements: dict
  sample: [{table: runs, id: 0a1b, column: artifact_uri, uri: /tmp/mlruns/1/0a1b/artifacts, new_uri: null}]
foreign_count:
  description: Number of such locations.
  returned: when O(sqlite_path) is given
  type: int
  sample: 1
unmatched_count:
  description: Number of such locations that no rule covers.
  returned: when O(sqlite_path) is given
  type: int
  sample: 1
rewritten_rows:
  description: Rows rewritten in O(sqlite_path) (or that would be).
  returned: when O(sqlite_path) is given
  type: int
  sample: 0
"""

import hashlib
import mimetypes
import os
import sqlite3
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

BOTO3_IMPORT_ERROR = None
try:
    import boto3
    import boto3.exceptions
    import boto3.s3.transfer
    import botocore.config
    import botocore.exceptions
except ImportError:
    boto3 = None
    BOTO3_IMPORT_ERROR = traceback.format_exc()

SERVED_SCHEME = "mlflow-artifacts:"
# Locations that are references, not storage places.
REFERENCE_SCHEMES = ("models:/", "runs:/", SERVED_SCHEME)
LIST_LIMIT = 200

# (table, id expression, column, extra WHERE) of every artifact location an MLflow store records.
# Tables or columns a version does not have are skipped.
URI_COLUMNS = (
    ("experiments", "experiment_id", "artifact_location", None),
    ("runs", "run_uuid", "artifact_uri", None),
    ("logged_models", "model_id", "artifact_location", None),
    ("model_versions", "name || '/' || version", "storage_location", None),
    ("model_versions", "name || '/' || version", "source", None),
    ("trace_tags", "request_id", "value", "key = 'mlflow.artifactLocation'"),
)


# ---------------------------------------------------------------------------------------------
# Pure helpers (unit tested)
# ---------------------------------------------------------------------------------------------


def parse_s3_uri(uri):
    """'s3://bucket/some/prefix/' -> ('bucket', 'some/prefix'); ValueError when malformed."""
    if not uri or not uri.startswith("s3://"):
        raise ValueError("expected s3://BUCKET[/PREFIX], got %r" % (uri,))
    rest = uri[len("s3://"):]
    bucket, dummy, prefix = rest.partition("/")
    if not bucket:
        raise ValueError("no bucket in %r" % (uri,))
    return bucket, prefix.strip("/")


def join_key(prefix, rel):
    """Object key of a relative path below a prefix (either may be empty)."""
    parts = [p.strip("/") for p in (prefix, rel) if p and p.strip("/")]
    return "/".join(parts)


def served_path(uri):
    """Path part of a mlflow-artifacts: URI ('mlflow-artifacts://host:5000/1/x' -> '1/x'), else None."""
    if not uri or not uri.startswith(SERVED_SCHEME):
        return None
    rest = uri[len(SERVED_SCHEME):]
    if rest.startswith("//"):  # authority form
        rest = rest[2:]
        rest = rest.partition("/")[2]
    return rest.strip("/")


def is_foreign(uri):
    """True for a recorded location that the served artifact root does not cover."""
    if not uri:
        return False
    return not uri.startswith(REFERENCE_SCHEMES)


def rule_matches(rule_from, uri):
    base = rule_from.rstrip("/")
    if not base:
        return False
    return uri == base or uri == rule_from or uri.startswith(base + "/")


def apply_rewrite(uri, rules):
    """New location of `uri` under the first matching rule, or None."""
    for rule in rules:
        if rule_matches(rule["from"], uri):
            base = rule["from"].rstrip("/")
            return rule["to"].rstrip("/") + uri[len(base):]
    return None


def rule_problems(rules):
    problems = []
    for i, rule in enumerate(rules):
        if not rule.get("from") or not rule["from"].strip("/"):
            problems.append("rewrite[%d].from must not be empty or /" % i)
        if not (rule.get("to") or "").startswith(SERVED_SCHEME):
            problems.append("rewrite[%d].to must start with %s/ (got %r)" % (i, SERVED_SCHEME, rule.get("to")))
        if rule.get("local_path") and not os.path.isabs(rule["local_path"]):
            problems.append("rewrite[%d].local_path must be absolute" % i)
    return problems


def classify(local, remote):
    """Decide for one file: ('upload', reason), ('skip', how), ('head', None) or ('conflict', reason).

    local: {'size', 'md5', 'sha256'}; remote: None (absent) or {'size', 'etag', 'sha256'} where
    'sha256' is absent until the object's metadata was read (HEAD), and None when it has none.
    """
    if remote is None:
        return "upload", "missing"
    if remote["size"] != local["size"]:
        return "conflict", "size differs (%s in the bucket, %s here)" % (remote["size"], local["size"])
    etag = (remote.get("etag") or "").strip('"')
    if etag and "-" not in etag and etag == local["md5"]:
        return "skip", "md5"
    if "sha256" not in remote:
        return "head", None
    if remote["sha256"] == local["sha256"]:
        return "skip", "sha256"
    if remote["sha256"] is None and "-" not in etag and etag:
        return "conflict", "md5 differs"
    if remote["sha256"] is None:
        return "conflict", "multipart object without sha256 metadata"
    return "conflict", "sha256 differs"


def verified(local, head):
    """True when a HEAD answer proves the object holds the local file."""
    if head is None or head["size"] != local["size"]:
        return False
    etag = (head.get("etag") or "").strip('"')
    if head.get("sha256"):
        return head["sha256"] == local["sha256"]
    return bool(etag) and "-" not in etag and etag == local["md5"]


def walk_files(root):
    """{relative posix path: absolute path} of the regular files below root (sorted walk)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if not os.path.isfile(path):
                continue
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            found[rel] = path
    return found


def file_digests(path):
    md5 = hashlib.md5()
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return dict(size=size, md5=md5.hexdigest(), sha256=sha.hexdigest())


def sources(src, prefix, rules):
    """[(local dir, key prefix)] to upload: the artifact root, then each rule's local_path."""
    pairs = [(src, prefix)]
    for rule in rules:
        if rule.get("local_path"):
            pairs.append((rule["local_path"], join_key(prefix, served_path(rule["to"]))))
    return pairs


def scan_uris(conn, rules):
    """Recorded artifact locations outside mlflow-artifacts: -> list of dicts (rowid kept for updates)."""
    found = []
    tables = set(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    for table, ident, column, where in URI_COLUMNS:
        if table not in tables:
            continue
        columns = set(r[1] for r in conn.execute('PRAGMA table_info("%s")' % table))
        if column not in columns:
            continue
        sql = 'SELECT rowid, %s, "%s" FROM "%s"' % (ident, column, table)
        if where:
            sql += " WHERE " + where
        for rowid, ident_value, uri in conn.execute(sql):
            if is_foreign(uri):
                found.append(dict(table=table, id=str(ident_value), column=column, uri=uri,
                                  new_uri=apply_rewrite(uri, rules), rowid=rowid))
    return found


def rewrite_rows(conn, found):
    """Apply new_uri of every entry that has one; returns the number of rows changed."""
    n = 0
    for item in found:
        if item["new_uri"] is None:
            continue
        cur = conn.execute('UPDATE "%s" SET "%s" = ? WHERE rowid = ? AND "%s" = ?'
                           % (item["table"], item["column"], item["column"]),
                           (item["new_uri"], item["rowid"], item["uri"]))
        n += cur.rowcount
    return n


def summary_message(files, uploaded, nbytes, skipped, verified_count, check_mode):
    verb = "would upload" if check_mode else "uploaded"
    msg = "%s %d of %d files (%.1f MiB), %d already present" % (
        verb, uploaded, files, nbytes / 1048576.0, skipped)
    if not check_mode:
        msg += "; %d verified" % verified_count
    return msg


# ---------------------------------------------------------------------------------------------
# S3 side
# ---------------------------------------------------------------------------------------------


class Bucket(object):
    def __init__(self, module, bucket):
        p = module.params
        self.module = module
        self.bucket = bucket
        verify = p["ca_bundle"] if p["ca_bundle"] else p["validate_certs"]
        config = botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5})
        self.client = boto3.client(
            "s3", endpoint_url=p["endpoint_url"], region_name=p["region"], verify=verify, config=config,
            aws_access_key_id=p["access_key"], aws_secret_access_key=p["secret_key"])
        self.transfer = boto3.s3.transfer.TransferConfig(
            multipart_threshold=p["multipart_threshold_mb"] * 1048576,
            multipart_chunksize=max(8, min(p["multipart_threshold_mb"], 512)) * 1048576)

    def fail(self, what, e):
        self.module.fail_json(msg="S3 %s failed on bucket %s: %s" % (what, self.bucket, e))

    def listing(self, prefix):
        objects = {}
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=(prefix + "/") if prefix else ""):
                for obj in page.get("Contents", []):
                    objects[obj["Key"]] = dict(size=obj["Size"], etag=obj.get("ETag"))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            self.fail("listing", e)
        return objects

    def head(self, key):
        try:
            r = self.client.head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            self.fail("HEAD %s" % key, e)
        except botocore.exceptions.BotoCoreError as e:
            self.fail("HEAD %s" % key, e)
        return dict(size=r["ContentLength"], etag=r.get("ETag"),
                    sha256=(r.get("Metadata") or {}).get("sha256"))

    def upload(self, path, key, sha256):
        extra = {"Metadata": {"sha256": sha256}}
        content_type = mimetypes.guess_type(path)[0]
        if content_type:
            extra["ContentType"] = content_type
        try:
            self.client.upload_file(path, self.bucket, key, ExtraArgs=extra, Config=self.transfer)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
                boto3.exceptions.S3UploadFailedError) as e:
            self.fail("upload of %s" % key, e)


def argument_spec():
    return dict(
        src=dict(type="path", required=True),
        allow_missing_src=dict(type="bool", default=False),
        dest=dict(type="str", required=True),
        endpoint_url=dict(type="str"),
        region=dict(type="str", default="us-east-1"),
        access_key=dict(type="str", no_log=False),
        secret_key=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_bundle=dict(type="path"),
        on_conflict=dict(type="str", choices=["fail", "overwrite"], default="fail"),
        multipart_threshold_mb=dict(type="int", default=64),
        sqlite_path=dict(type="path"),
        rewrite=dict(type="list", elements="dict", default=[], options=dict(
            local_path=dict(type="path"),
            to=dict(type="str", required=True),
            **{"from": dict(type="str", required=True)})),
        update_sqlite=dict(type="bool", default=False),
        fail_on_unmatched=dict(type="bool", default=False),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    rules = p["rewrite"]
    try:
        bucket_name, prefix = parse_s3_uri(p["dest"])
    except ValueError as e:
        module.fail_json(msg="invalid dest: %s" % e)
    problems = rule_problems(rules)
    if p["update_sqlite"] and not p["sqlite_path"]:
        problems.append("update_sqlite needs sqlite_path")
    if problems:
        module.fail_json(msg="invalid options: " + "; ".join(problems), problems=problems)
    result = dict(changed=False, conflicts=[])

    # -- Recorded locations --------------------------------------------------------------------
    if p["sqlite_path"]:
        if not os.path.isfile(p["sqlite_path"]):
            module.fail_json(msg="sqlite_path %s is not a file" % p["sqlite_path"])
        write = p["update_sqlite"] and not module.check_mode
        uri = "file:%s?mode=%s" % (p["sqlite_path"], "rw" if write else "ro")
        try:
            conn = sqlite3.connect(uri, uri=True)
            found = scan_uris(conn, rules)
            rewritten = 0
            if p["update_sqlite"]:
                if write:
                    with conn:
                        rewritten = rewrite_rows(conn, found)
                else:
                    rewritten = len([f for f in found if f["new_uri"] is not None])
            conn.close()
        except sqlite3.Error as e:
            module.fail_json(msg="cannot read %s: %s" % (p["sqlite_path"], e))
        unmatched = [f for f in found if f["new_uri"] is None]
        for f in found:
            f.pop("rowid")
        result.update(foreign_uris=found[:LIST_LIMIT], foreign_count=len(found),
                      unmatched_count=len(unmatched), rewritten_rows=rewritten)
        if rewritten:
            result["changed"] = True
        if unmatched:
            text = ("%d recorded artifact location(s) are outside mlflow-artifacts: and no rewrite rule covers "
                    "them (the new server cannot serve them), e.g. %s"
                    % (len(unmatched), ", ".join("%s %s=%s" % (u["table"], u["id"], u["uri"]) for u in unmatched[:3])))
            if p["fail_on_unmatched"]:
                module.fail_json(msg=text, **result)
            module.warn(text)

    # -- Local files ----------------------------------------------------------------------------
    local = {}
    for root, key_prefix in sources(p["src"], prefix, rules):
        if not os.path.isdir(root):
            if root == p["src"] and p["allow_missing_src"]:
                continue
            module.fail_json(msg="artifact directory %s does not exist" % root, **result)
        for rel, path in walk_files(root).items():
            local[join_key(key_prefix, rel)] = dict(path=path, **file_digests(path))

    if boto3 is None:
        module.fail_json(msg=missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    s3 = Bucket(module, bucket_name)
    remote = s3.listing(prefix)

    # -- Plan -------------------------------------------------------------------------------------
    to_upload, conflicts, skipped = [], [], 0
    for key in sorted(local):
        action, reason = classify(local[key], remote.get(key))
        if action == "head":
            action, reason = classify(local[key], dict(remote[key], sha256=(s3.head(key) or {}).get("sha256")))
        if action == "skip":
            skipped += 1
        elif action == "upload":
            to_upload.append(key)
        else:
            conflicts.append(dict(key=key, reason=reason))
    result["conflicts"] = conflicts[:LIST_LIMIT]
    result["extra_objects"] = len(set(remote) - set(local))
    if conflicts and p["on_conflict"] == "fail":
        module.fail_json(msg="%d object(s) exist in s3://%s with other content than the local files; nothing was "
                             "uploaded. Remove them or use on_conflict=overwrite." % (len(conflicts), bucket_name),
                         **result)
    to_upload += [c["key"] for c in conflicts]
    nbytes = sum(local[k]["size"] for k in to_upload)
    result.update(files=len(local), uploaded=to_upload[:LIST_LIMIT], uploaded_count=len(to_upload),
                  bytes_uploaded=nbytes, skipped_count=skipped)
    if to_upload:
        result["changed"] = True
    if module.check_mode:
        result.update(verified=skipped,
                      msg=summary_message(len(local), len(to_upload), nbytes, skipped, skipped, True))
        module.exit_json(**result)

    # -- Upload and prove --------------------------------------------------------------------------
    for key in to_upload:
        s3.upload(local[key]["path"], key, local[key]["sha256"])
    bad = [k for k in to_upload if not verified(local[k], s3.head(k))]
    after = s3.listing(prefix)
    missing = sorted(k for k in local if k not in after)
    result["verified"] = len(local) - len(set(bad) | set(missing))
    if bad or missing:
        module.fail_json(msg="after the upload, %d object(s) do not match their file and %d are missing in s3://%s"
                             % (len(bad), len(missing), bucket_name),
                         mismatched=bad[:LIST_LIMIT], missing=missing[:LIST_LIMIT], **result)
    result["msg"] = summary_message(len(local), len(to_upload), nbytes, skipped, result["verified"], False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
