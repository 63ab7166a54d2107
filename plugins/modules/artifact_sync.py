#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: artifact_sync
short_description: Copy a local MLflow artifact tree into S3 or Azure Blob, verified; report artifact URIs stored elsewhere
description:
  - Uploads every file below O(src) (the directory an MLflow server with C(--serve-artifacts) and a local
    C(--artifacts-destination) writes to) to O(dest) (C(s3://BUCKET/PREFIX), the C(--artifacts-destination) of the
    server that takes over) under the same relative path. A C(mlflow-artifacts:/1/RUN/artifacts/x) URI recorded
    by the old server therefore resolves to the same bytes through the new one.
  - O(dest) may also be an Azure Blob container, C(wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PREFIX) (the
    form MLflow's C(--artifacts-destination) takes), authenticated with O(azure_connection_string). Files become
    block blobs named C(PREFIX/<relative path>) in CONTAINER, the same relative paths as in a bucket, and every
    guarantee below holds with the blob's Content-MD5 in place of the ETag (see the notes).
  - Resumable and idempotent. An object that already exists with the same size and the ETag the server computed
    for the file's bytes is skipped. That is the MD5 of the file for a single-part upload, and for a multipart upload
    (ETag C(MD5-N)) the MD5 of the parts' MD5s, which the module computes from the file with the part size of its
    own uploads, the part size the server reports for part 1 (C(HEAD ?partNumber=1), where supported) and the
    part sizes of common clients (5, 8, 10, 15, 16, 32, 64, 100, 128, 256 and 512 MiB).
  - Uploaded objects carry the file's SHA-256 as user metadata C(sha256), for other tools. The module never
    trusts it, since anyone who can write an object can write its metadata; a C(sha256) value that contradicts
    the file only makes a verification fail.
  - Every uploaded object is read back with HEAD (size and ETag), and the file is hashed again after its upload.
    The task fails unless every local file is present and verified in the bucket and no file changed while it was
    uploaded (RV(changed_files)).
  - Nothing is read through a symbolic link that leaves O(src) (or a rule's C(local_path)). Every directory and
    file is opened relative to its parent with C(O_NOFOLLOW), so a link placed in the tree by whoever can write it
    (also while the module runs) never makes the module upload a file from elsewhere on the host. Skipped paths
    are listed in RV(skipped_paths) and warned about.
  - File names that are not valid UTF-8 cannot be S3 keys or blob names; the task fails and lists them before
    anything is uploaded.
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
  - boto3 (for example the C(python3-boto3) package) on the host that runs the module, for an C(s3://) O(dest)
  - azure-storage-blob (for example C(pip install azure-storage-blob)) on the host that runs the module, for a
    C(wasbs://) O(dest)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Lists the bucket (or container), reads checksums and reports what would be uploaded and rewritten.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode).
    support: none
options:
  src:
    description:
      - Local artifact root (on the host that runs the module). O(src) itself may be a symbolic link.
      - Below it, a symbolic link to a regular file inside the same tree is uploaded under the link's path with
        the target's bytes (what the old server served there). Links that leave the tree, links to directories,
        dangling links and special files (FIFOs, sockets, devices) are not copied; they are listed in
        RV(skipped_paths) with the reason and warned about.
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
      - Target as C(s3://BUCKET) or C(s3://BUCKET/PREFIX), or as
        C(wasbs://CONTAINER@ACCOUNT.blob.core.windows.net[/PREFIX]) for Azure Blob Storage; the same value as the
        MLflow server's C(--artifacts-destination).
      - The container of a C(wasbs://) target must exist (the task fails and says so otherwise). Its endpoint and
        account are taken from O(azure_connection_string), as MLflow does with C(AZURE_STORAGE_CONNECTION_STRING);
        an account name there that differs from the one in O(dest) is warned about.
    type: str
    required: true
  endpoint_url:
    description:
      - S3 endpoint, for example C(http://127.0.0.1:9000) for MinIO or SeaweedFS. AWS when omitted.
      - Only for an C(s3://) O(dest).
    type: str
  region:
    description: Region name of the client.
    type: str
    default: us-east-1
  access_key:
    description:
      - Access key id. boto3's own lookup (environment, profile, instance role) when omitted.
      - Only for an C(s3://) O(dest).
    type: str
  secret_key:
    description:
      - Secret access key.
      - Only for an C(s3://) O(dest).
    type: str
  azure_connection_string:
    description:
      - Connection string of the storage account of a C(wasbs://) O(dest), for example
        C(DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=core.windows.net), one with
        C(BlobEndpoint=...) for an emulator such as Azurite, or one with C(SharedAccessSignature=...).
      - Required for, and only allowed with, a C(wasbs://) O(dest).
    type: str
  validate_certs:
    description: Verify the endpoint's TLS certificate (S3 or Azure Blob).
    type: bool
    default: true
  ca_bundle:
    description: CA bundle (PEM) to verify the endpoint (S3 or Azure Blob) with.
    type: path
  on_conflict:
    description:
      - What to do when an object (or blob) exists with the same key but other content (size or checksum differ,
        or a blob has no Content-MD5).
      - C(fail) stops before any upload and lists the keys, C(overwrite) replaces them.
    type: str
    choices: [fail, overwrite]
    default: fail
  multipart_threshold_mb:
    description:
      - Files of this size or larger are uploaded in parts of C(max(8, min(this, 512))) MiB (doubled while a file
        would need more than 10000 parts), as boto3 does. Their ETag is then the MD5 of the parts' MD5s, which
        the module computes from the file with the same part size to verify the upload.
      - For a C(wasbs://) O(dest), files of this size (at most 256 MiB) or larger are uploaded in blocks of 4 MiB,
        smaller ones in one request.
    type: int
    default: 64
  sqlite_path:
    description:
      - MLflow SQLite store whose recorded artifact locations are reported (and rewritten with O(update_sqlite)).
      - Opened through a percent-encoded C(file:) URI of its resolved path, read-only (read-write, never create,
        with O(update_sqlite)), so any character in the path is taken literally. A path that does not exist or is
        no regular file is an error.
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
  - The checks need MD5-based ETags, which SeaweedFS, MinIO without server-side encryption and AWS S3 (unencrypted
    or SSE-S3) return. Objects encrypted otherwise (SSE-C, SSE-KMS) have other ETags; they are reported as
    conflicts and cannot be verified.
  - "Azure Blob: a blob with the file's size and a Content-MD5 equal to the file's MD5 is skipped and counts as
    verified. Blobs the module uploads in one request get the Content-MD5 the service computes from the bytes it
    received; for blobs uploaded in blocks the service computes none, so the module sets the file's MD5, which the
    service stores as given (every request's bytes are checked by the service against a transactional MD5, and
    the file is hashed again after its upload, see RV(changed_files)). A blob another client uploaded in blocks
    without a Content-MD5 is a conflict."
  - Checked with Azurite (the Azure Storage emulator) and azure-storage-blob 12.31.
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

- name: Copy the artifacts into an Azure Blob container (the same relative paths below the prefix)
  mlops.mlflow.artifact_sync:
    src: /var/lib/mlflow/artifacts
    dest: wasbs://mlflow@mlflowprod.blob.core.windows.net/artifacts
    azure_connection_string: "{{ vault_azure_storage_connection_string }}"

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
  description:
    - Files whose object was confirmed (size and ETag, or size and Content-MD5 for a blob) after the run; equals
      RV(files) on success.
  returned: success
  type: int
  sample: 40
conflicts:
  description: Keys (or blob names) that exist with other content (at most 200 listed).
  returned: always
  type: list
  elements: dict
  sample: [{key: artifacts/1/x/artifacts/a.txt, reason: size differs}]
extra_objects:
  description: Objects (or blobs) under the prefix without a local file (left alone).
  returned: success
  type: int
  sample: 0
skipped_paths:
  description:
    - Paths below O(src) or a rule's C(local_path) that were not copied (at most 200 listed), with the reason
      (symbolic link that leaves the tree, to a directory, dangling; special file). They are not counted in
      RV(files).
  returned: when the local trees were read
  type: list
  elements: dict
  sample:
    - path: /var/lib/mlflow/artifacts/1/0a1b/artifacts/passwd
      reason: symbolic link to /etc/passwd, outside the tree
undecodable_paths:
  description:
    - Local files whose name is not valid UTF-8 (bytes shown as C(\xNN)), at most 200 listed. The task fails
      before anything is uploaded.
  returned: failure, when such names exist
  type: list
  elements: str
  sample: [/var/lib/mlflow/artifacts/1/0a1b/artifacts/r\xe9sum\xe9.txt]
mismatched:
  description:
    - Uploaded keys whose object does not show the file's size and ETag (a blob, its size and Content-MD5), at most
      200 listed.
  returned: failure after an upload
  type: list
  elements: str
  sample: []
missing:
  description: Keys of local files that are not in the bucket (or container) after the upload (at most 200 listed).
  returned: failure after an upload
  type: list
  elements: str
  sample: []
changed_files:
  description:
    - Uploaded keys whose local file had other content when it was hashed again after its upload (at most 200
      listed); run the task again once the files are stable.
  returned: failure after an upload
  type: list
  elements: str
  sample: [artifacts/1/0a1b/artifacts/metrics.json]
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

import errno
import hashlib
import mimetypes
import os
import sqlite3
import stat
import traceback

from urllib.parse import quote

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

AZURE_IMPORT_ERROR = None
try:
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from azure.storage.blob import BlobServiceClient, ContentSettings
except ImportError:
    BlobServiceClient = None
    AZURE_IMPORT_ERROR = traceback.format_exc()

SERVED_SCHEME = "mlflow-artifacts:"
# Locations that are references, not storage places.
REFERENCE_SCHEMES = ("models:/", "runs:/", SERVED_SCHEME)
LIST_LIMIT = 200
MiB = 1048576
# S3 multipart limits, as boto3's s3transfer applies them (ChunksizeAdjuster).
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10000
# Part sizes of common clients (rclone 5, aws cli and boto3 8, MLflow 10, s3cmd 15, mc 16 MiB, ...),
# tried on an existing multipart object whose ETag the module's own part size does not explain.
COMMON_PART_SIZES = tuple(n * MiB for n in (5, 8, 10, 15, 16, 32, 64, 100, 128, 256, 512))
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
# Linux: an open file descriptor as a file name that reopens the same inode
PROC_FD = "/proc/self/fd"
# Azure Blob: uploads above the single-request size go in blocks of this size (the SDK's default); a single
# request is read into memory by the SDK, so its size is capped.
AZURE_BLOCK_SIZE = 4 * MiB
AZURE_MAX_SINGLE_PUT = 256 * MiB
WASBS = "wasbs://"

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


def parse_wasbs_uri(uri):
    """'wasbs://container@account.blob.core.windows.net/some/prefix' -> ('container', 'account', 'some/prefix'),
    the form MLflow's --artifacts-destination takes; ValueError when malformed."""
    if not uri or not uri.startswith(WASBS):
        raise ValueError("expected %sCONTAINER@ACCOUNT.blob.core.windows.net[/PREFIX], got %r" % (WASBS, uri))
    rest = uri[len(WASBS):]
    authority, dummy, prefix = rest.partition("/")
    container, at, host = authority.partition("@")
    account, dot, suffix = host.partition(".")
    if not container or not at or not account or not dot or not suffix.startswith("blob."):
        raise ValueError("expected %sCONTAINER@ACCOUNT.blob.core.windows.net[/PREFIX], got %r" % (WASBS, uri))
    return container, account, prefix.strip("/")


def parse_dest(uri):
    """('s3', bucket, prefix, None) or ('azure', container, prefix, account) of O(dest); ValueError otherwise."""
    if uri and uri.startswith(WASBS):
        container, account, prefix = parse_wasbs_uri(uri)
        return "azure", container, prefix, account
    if uri and uri.startswith("s3://"):
        bucket, prefix = parse_s3_uri(uri)
        return "s3", bucket, prefix, None
    raise ValueError("expected s3://BUCKET[/PREFIX] or %sCONTAINER@ACCOUNT.blob.core.windows.net[/PREFIX], got %r"
                     % (WASBS, uri))


def azure_sizes(threshold_mb):
    """(largest single-request upload, block size) in bytes of the module's Azure uploads: files of
    multipart_threshold_mb MiB (at most AZURE_MAX_SINGLE_PUT) or more go in blocks."""
    return min(threshold_mb * MiB, AZURE_MAX_SINGLE_PUT) - 1, AZURE_BLOCK_SIZE


def md5_hex(content_md5):
    """A blob's Content-MD5 (bytes or bytearray, None when the blob has none) as lower-case hex, or None."""
    if not content_md5:
        return None
    return bytes(content_md5).hex()


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


def transfer_sizes(threshold_mb):
    """(multipart threshold, configured part size) in bytes of the module's uploads."""
    return threshold_mb * MiB, max(8, min(threshold_mb, 512)) * MiB


def upload_part_size(size, threshold, chunksize):
    """Part size boto3 uses to upload `size` bytes, or None for a single-part upload (s3transfer's rules)."""
    if size < threshold:
        return None
    part = chunksize
    while -(-size // part) > MAX_PARTS:
        part *= 2
    return min(max(part, MIN_PART_SIZE), MAX_PART_SIZE)


def multipart_etag(part_md5s):
    """ETag of a multipart object from the binary MD5 digests of its parts: MD5(concatenation)-N."""
    return "%s-%d" % (hashlib.md5(b"".join(part_md5s)).hexdigest(), len(part_md5s))


def etag_value(etag):
    """An ETag without quotes and in lower case ('' when absent)."""
    return (etag or "").strip().strip('"').lower()


def etag_parts(etag):
    """Number of parts of a multipart ETag ('abc-3' -> 3), None for any other ETag."""
    base, dash, count = etag_value(etag).rpartition("-")
    if not dash or not base or not count.isdigit() or int(count) < 1:
        return None
    return int(count)


def part_size_candidates(size, parts, hints=()):
    """Part sizes that split `size` bytes into exactly `parts` parts: the hints first, then COMMON_PART_SIZES."""
    if not parts or parts < 1:
        return []
    if parts == 1:
        return [max(size, 1)]  # one part: its size does not change the ETag
    found = []
    for part in list(hints) + list(COMMON_PART_SIZES):
        if part and part > 0 and part not in found and -(-size // part) == parts:
            found.append(part)
    return found


def etag_matches(local, etag):
    """True when an ETag is the one the server computes for the local file's bytes."""
    etag = etag_value(etag)
    if not etag:
        return False
    if "-" in etag:
        return etag in local.get("etags", {}).values()
    return etag == local["md5"]


def classify(local, remote, checksum="ETag"):
    """Decide for one file from the listing: ('upload', reason), ('skip', how), ('parts', N) or ('conflict', reason).

    local: {'size', 'md5', 'sha256', 'etags': {part size: multipart ETag}}; remote: None (absent) or
    {'size', 'etag'}. Only what the server computed (size, ETag) decides; ('parts', N) asks for the ETags of the
    file with other part sizes that make N parts, after which an unmatched multipart ETag is a conflict.
    """
    if remote is None:
        return "upload", "missing"
    if remote["size"] != local["size"]:
        return "conflict", "size differs (%s in the bucket, %s here)" % (remote["size"], local["size"])
    etag = etag_value(remote.get("etag"))
    if etag_matches(local, etag):
        return "skip", "multipart etag" if "-" in etag else "md5"
    if not etag:
        return "conflict", "no %s" % checksum
    if "-" in etag:
        parts = etag_parts(etag)
        if parts:
            return "parts", parts
        return "conflict", "unknown ETag format %s" % etag
    return "conflict", "md5 differs"


def verified(local, head):
    """True when a HEAD answer proves the object holds the local file: same size and the server's ETag.

    The object's C(sha256) metadata proves nothing (whoever writes an object writes its metadata), but one that
    contradicts the file makes the check fail.
    """
    if head is None or head["size"] != local["size"]:
        return False
    if head.get("sha256") and head["sha256"] != local["sha256"]:
        return False
    return etag_matches(local, head.get("etag"))


def same_content(a, b):
    return all(a[k] == b[k] for k in ("size", "md5", "sha256"))


def display_path(path):
    """A path as text: bytes of a name that is not UTF-8 shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_utf8(name):
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_below(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def open_below(root, rel):
    """Open the regular file `rel` (posix path below root) without following any symbolic link below root.

    Every directory is opened relative to its parent with O_NOFOLLOW, the file too, so a link placed in the tree
    (also one swapped in while the module runs) makes this fail instead of leaving the tree. OSError otherwise.
    """
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise OSError(errno.EINVAL, "not a plain relative path", rel)
    fd = os.open(root, os.O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    try:
        for part in parts[:-1]:
            sub = os.open(part, os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = sub
        # O_NONBLOCK: a FIFO swapped in must not block the open; no effect on a regular file
        file_fd = os.open(parts[-1], os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise OSError(errno.EINVAL, "not a regular file", os.path.join(root, rel))
    return os.fdopen(file_fd, "rb")


def link_problem(root, rel):
    """Why the symbolic link `rel` below root is not copied, or None with the target's path below root.

    Returns (reason, None) or (None, target relative to root).
    """
    path = os.path.join(root, rel)
    target = display_path(os.readlink(path))
    resolved = os.path.realpath(path)
    if not is_below(resolved, root):
        return "symbolic link to %s, outside the tree" % target, None
    try:
        mode = os.stat(resolved, follow_symlinks=False).st_mode
    except OSError:
        return "dangling symbolic link to %s" % target, None
    if stat.S_ISLNK(mode):  # realpath stops at a loop
        return "dangling symbolic link to %s (a loop)" % target, None
    if stat.S_ISDIR(mode):
        return "symbolic link to the directory %s (not followed)" % target, None
    if not stat.S_ISREG(mode):
        return "symbolic link to %s, no regular file" % target, None
    return None, os.path.relpath(resolved, root).replace(os.sep, "/")


def scan_tree(root):
    """The files below root, walked without following links (directories opened with O_NOFOLLOW).

    Returns {'root': resolved root, 'files': {relative posix path: target path relative to root},
    'skipped': [{'path', 'reason'}], 'undecodable': [path]}; a link to a regular file inside the tree maps to its
    target; paths in 'skipped' and 'undecodable' are shown below `root` as given. OSError when a directory
    cannot be read.
    """
    real_root = os.path.realpath(root)
    tree = dict(root=real_root, files={}, skipped=[], undecodable=[])

    def skip(rel, reason):
        tree["skipped"].append(dict(path=display_path(os.path.join(root, rel)), reason=reason))

    def visit(dir_fd, rel_dir):
        with os.scandir(dir_fd) as it:
            names = sorted(entry.name for entry in it)
        for name in names:
            rel = rel_dir + "/" + name if rel_dir else name
            try:
                mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            except FileNotFoundError:  # removed since the listing
                continue
            if stat.S_ISDIR(mode):
                sub = os.open(name, os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=dir_fd)
                try:
                    visit(sub, rel)
                finally:
                    os.close(sub)
                continue
            if stat.S_ISLNK(mode):
                reason, target = link_problem(real_root, rel)
            elif stat.S_ISREG(mode):
                reason, target = None, rel
            else:
                reason, target = "special file (FIFO, socket or device)", None
            if reason:
                skip(rel, reason)
            elif not is_utf8(rel):
                tree["undecodable"].append(display_path(os.path.join(root, rel)))
            else:
                tree["files"][rel] = target

    fd = os.open(real_root, os.O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    try:
        visit(fd, "")
    finally:
        os.close(fd)
    return tree


def digests(f, part_sizes=()):
    """Size, MD5, SHA-256 and {part size: multipart ETag} of a binary stream, in one pass."""
    md5 = hashlib.md5()
    sha = hashlib.sha256()
    size = 0
    parts = dict((p, [hashlib.md5(), 0, []]) for p in set(part_sizes) if p and p > 0)
    for chunk in iter(lambda: f.read(MiB), b""):
        md5.update(chunk)
        sha.update(chunk)
        size += len(chunk)
        for part_size, state in parts.items():
            view = memoryview(chunk)
            while len(view):
                piece = view[:part_size - state[1]]
                state[0].update(piece)
                state[1] += len(piece)
                view = view[len(piece):]
                if state[1] == part_size:
                    state[2].append(state[0].digest())
                    state[0], state[1] = hashlib.md5(), 0
    etags = {}
    for part_size, (current, filled, done) in parts.items():
        if filled or not done:
            done = done + [current.digest()]
        etags[part_size] = multipart_etag(done)
    return dict(size=size, md5=md5.hexdigest(), sha256=sha.hexdigest(), etags=etags)


def file_digests(root, rel, threshold=None, chunksize=None, part_sizes=()):
    """digests() of the file `rel` below root (opened with open_below), with the multipart ETag of the
    module's own upload when the file is that large; 'part_size' is that upload's part size or None."""
    with open_below(root, rel) as f:
        part = None
        if threshold is not None:
            part = upload_part_size(os.fstat(f.fileno()).st_size, threshold, chunksize)
        found = digests(f, list(part_sizes) + ([part] if part else []))
    found["part_size"] = part
    return found


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


def sqlite_uri(path, write=False):
    """SQLite URI of a database file: the resolved path percent-encoded (so '?', '#', '%' are literal), opened
    read-only or read-write, never created."""
    real = os.path.realpath(path)
    return "file://%s?mode=%s" % (quote(os.fsencode(real), safe="/"), "rw" if write else "ro")


def summary_message(files, uploaded, nbytes, skipped, verified_count, check_mode, not_copied=0):
    verb = "would upload" if check_mode else "uploaded"
    msg = "%s %d of %d files (%.1f MiB), %d already present" % (
        verb, uploaded, files, nbytes / 1048576.0, skipped)
    if not check_mode:
        msg += "; %d verified" % verified_count
    if not_copied:
        msg += "; %d path(s) not copied (skipped_paths)" % not_copied
    return msg


# ---------------------------------------------------------------------------------------------
# Stores: S3 and Azure Blob, with the same methods
#   listing(prefix) -> {key: {size, etag}}   (etag: the checksum the store keeps, None when it has none)
#   head(key) -> {size, etag, sha256} or None
#   first_part_size(key) -> part 1's size of a multipart object, or None
#   upload(f, key, item)   (item: the local file's size, md5, sha256)
# ---------------------------------------------------------------------------------------------


class S3Store(object):
    kind = "s3"
    checksum = "ETag"  # what the store computes from the bytes it receives
    objects = "object(s)"
    key_name = "S3 keys"

    def __init__(self, module, bucket):
        p = module.params
        self.module = module
        self.bucket = bucket
        self.where = "s3://%s" % bucket
        verify = p["ca_bundle"] if p["ca_bundle"] else p["validate_certs"]
        config = botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5})
        self.client = boto3.client(
            "s3", endpoint_url=p["endpoint_url"], region_name=p["region"], verify=verify, config=config,
            aws_access_key_id=p["access_key"], aws_secret_access_key=p["secret_key"])
        threshold, chunksize = transfer_sizes(p["multipart_threshold_mb"])
        self.transfer = boto3.s3.transfer.TransferConfig(multipart_threshold=threshold, multipart_chunksize=chunksize)

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

    def first_part_size(self, key):
        """Size of part 1 of a multipart object (HEAD ?partNumber=1), None where the server does not tell."""
        try:
            r = self.client.head_object(Bucket=self.bucket, Key=key, PartNumber=1)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return None
        if (r.get("PartsCount") or 0) > 1:
            return r.get("ContentLength")
        return None

    def upload(self, f, key, item):
        """Upload the open file f (the inode it refers to, never a path that could be swapped for a link)."""
        extra = {"Metadata": {"sha256": item["sha256"]}}
        content_type = mimetypes.guess_type(key)[0]
        if content_type:
            extra["ContentType"] = content_type
        try:
            if os.path.isdir(PROC_FD):
                # the same inode, read part by part from disk as with any file name (upload_fileobj would hold
                # up to 10 parts in memory)
                self.client.upload_file("%s/%d" % (PROC_FD, f.fileno()), self.bucket, key, ExtraArgs=extra,
                                        Config=self.transfer)
            else:
                self.client.upload_fileobj(f, self.bucket, key, ExtraArgs=extra, Config=self.transfer)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
                boto3.exceptions.S3UploadFailedError) as e:
            self.fail("upload of %s" % key, e)


class AzureStore(object):
    """A container of an Azure Blob storage account (or an emulator such as Azurite), through azure-storage-blob.

    Blobs uploaded in one request get the Content-MD5 the service computes from the bytes it received; blobs
    uploaded in blocks get the file's MD5 as Content-MD5 (the service stores it as given). Every request carries a
    transactional MD5 that the service checks (validate_content)."""
    kind = "azure"
    checksum = "Content-MD5"
    objects = "blob(s)"
    key_name = "blob names"

    def __init__(self, module, container, account):
        p = module.params
        self.module = module
        self.container = container
        self.where = "%s%s@%s" % (WASBS, container, account)
        self.single_put, block = azure_sizes(p["multipart_threshold_mb"])
        verify = p["ca_bundle"] if p["ca_bundle"] else p["validate_certs"]
        try:
            self.service = BlobServiceClient.from_connection_string(
                p["azure_connection_string"], max_single_put_size=self.single_put, max_block_size=block,
                connection_verify=verify)
        except (ValueError, AzureError) as e:
            # the message of a malformed connection string does not contain it
            module.fail_json(msg="invalid azure_connection_string: %s" % e)
        if self.service.account_name and self.service.account_name != account:
            module.warn("dest names the storage account %s, azure_connection_string the account %s; the connection "
                        "string's endpoint is used (as MLflow does)" % (account, self.service.account_name))
        self.client = self.service.get_container_client(container)

    def fail(self, what, e):
        if isinstance(e, ResourceNotFoundError) and getattr(e, "error_code", None) == "ContainerNotFound":
            self.module.fail_json(msg="the container %s does not exist in the storage account %s (%s failed); "
                                      "create it first" % (self.container, self.service.account_name, what))
        self.module.fail_json(msg="Azure Blob %s failed on container %s: %s" % (what, self.container, e))

    def listing(self, prefix):
        objects = {}
        try:
            for blob in self.client.list_blobs(name_starts_with=(prefix + "/") if prefix else None):
                objects[blob.name] = dict(size=blob.size, etag=md5_hex(blob.content_settings.content_md5))
        except AzureError as e:
            self.fail("listing", e)
        return objects

    def head(self, key):
        try:
            r = self.client.get_blob_client(key).get_blob_properties()
        except ResourceNotFoundError as e:
            if getattr(e, "error_code", None) == "ContainerNotFound":
                self.fail("HEAD %s" % key, e)
            return None
        except AzureError as e:
            self.fail("HEAD %s" % key, e)
        return dict(size=r.size, etag=md5_hex(r.content_settings.content_md5),
                    sha256=(r.metadata or {}).get("sha256"))

    def first_part_size(self, key):
        """Azure blobs have no multipart checksums."""
        return None

    def upload(self, f, key, item):
        """Upload item["size"] bytes of the open file f as a block blob (replacing one that exists)."""
        settings = dict(content_type=mimetypes.guess_type(key)[0])
        if item["size"] > self.single_put:
            # uploaded in blocks: the service keeps no MD5 of its own, so the file's is set explicitly
            settings["content_md5"] = bytearray(bytes.fromhex(item["md5"]))
        try:
            self.client.get_blob_client(key).upload_blob(
                f, length=item["size"], overwrite=True, metadata={"sha256": item["sha256"]},
                content_settings=ContentSettings(**settings), validate_content=True, max_concurrency=1)
        except AzureError as e:
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
        azure_connection_string=dict(type="str", no_log=True),
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
        kind, bucket_name, prefix, account = parse_dest(p["dest"])
    except ValueError as e:
        module.fail_json(msg="invalid dest: %s" % e)
    problems = rule_problems(rules)
    if kind == "azure":
        if not p["azure_connection_string"]:
            problems.append("a %s dest needs azure_connection_string" % WASBS)
        problems += ["%s applies to an s3:// dest only" % name
                     for name in ("endpoint_url", "access_key", "secret_key") if p[name]]
    elif p["azure_connection_string"]:
        problems.append("azure_connection_string applies to a %s dest only" % WASBS)
    if p["update_sqlite"] and not p["sqlite_path"]:
        problems.append("update_sqlite needs sqlite_path")
    if problems:
        module.fail_json(msg="invalid options: " + "; ".join(problems), problems=problems)
    result = dict(changed=False, conflicts=[])

    # -- Recorded locations --------------------------------------------------------------------
    if p["sqlite_path"]:
        if not os.path.exists(p["sqlite_path"]):
            module.fail_json(msg="sqlite_path %s does not exist" % p["sqlite_path"])
        if not os.path.isfile(p["sqlite_path"]):
            module.fail_json(msg="sqlite_path %s is not a regular file" % p["sqlite_path"])
        write = p["update_sqlite"] and not module.check_mode
        try:
            conn = sqlite3.connect(sqlite_uri(p["sqlite_path"], write), uri=True)
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
    # Read and hashed before anything reaches the bucket; every file opened without following links.
    threshold, chunksize = transfer_sizes(p["multipart_threshold_mb"])
    local, not_copied, undecodable = {}, [], []
    result["skipped_paths"] = []
    for root, key_prefix in sources(p["src"], prefix, rules):
        if not os.path.isdir(root):
            if root == p["src"] and p["allow_missing_src"]:
                continue
            module.fail_json(msg="artifact directory %s does not exist" % root, **result)
        try:
            tree = scan_tree(root)
        except OSError as e:
            module.fail_json(msg="cannot read the artifact directory %s: %s" % (root, e), **result)
        not_copied += tree["skipped"]
        undecodable += tree["undecodable"]
        for rel, target in sorted(tree["files"].items()):
            local[join_key(key_prefix, rel)] = dict(root=tree["root"], target=target, path=os.path.join(root, rel))
    result["skipped_paths"] = not_copied[:LIST_LIMIT]
    if not_copied:
        module.warn("%d path(s) below the artifact directories are not copied: %s%s" % (
            len(not_copied), "; ".join("%s (%s)" % (s["path"], s["reason"]) for s in not_copied[:10]),
            " ..." if len(not_copied) > 10 else ""))
    if undecodable:
        module.fail_json(msg="%d file name(s) are not valid UTF-8 and cannot be %s; nothing was uploaded. "
                             "Rename them: %s%s" % (len(undecodable), "blob names" if kind == "azure" else "S3 keys",
                                                    ", ".join(undecodable[:10]),
                                                    " ..." if len(undecodable) > 10 else ""),
                         undecodable_paths=undecodable[:LIST_LIMIT], **result)
    for key, item in local.items():
        try:
            item.update(file_digests(item["root"], item["target"], threshold, chunksize))
        except OSError as e:
            module.fail_json(msg="cannot read %s: %s" % (display_path(item["path"]), e), **result)

    if kind == "azure":
        if BlobServiceClient is None:
            module.fail_json(msg=missing_required_lib("azure-storage-blob"), exception=AZURE_IMPORT_ERROR)
        s3 = AzureStore(module, bucket_name, account)
    else:
        if boto3 is None:
            module.fail_json(msg=missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
        s3 = S3Store(module, bucket_name)
    remote = s3.listing(prefix)

    # -- Plan -------------------------------------------------------------------------------------
    to_upload, conflicts, skipped = [], [], 0
    for key in sorted(local):
        item = local[key]
        action, reason = classify(item, remote.get(key), s3.checksum)
        if action == "parts":
            # a multipart object: try the part sizes that give its number of parts
            parts = reason
            hints = [s3.first_part_size(key), chunksize] if parts > 1 else []
            sizes = part_size_candidates(item["size"], parts, hints)
            sizes = [size for size in sizes if size not in item["etags"]]
            if sizes:
                try:
                    more = file_digests(item["root"], item["target"], part_sizes=sizes)
                except OSError as e:
                    module.fail_json(msg="cannot read %s: %s" % (display_path(item["path"]), e), **result)
                if not same_content(item, more):
                    module.fail_json(msg="%s changed while the module ran; run it again once the files are stable"
                                         % display_path(item["path"]), **result)
                item["etags"].update(more["etags"])
                action, reason = classify(item, remote[key], s3.checksum)
            if action == "parts":
                action, reason = ("conflict",
                                  "multipart ETag (%d parts) matches the file with no part size tried" % parts)
        if action == "skip":
            skipped += 1
        elif action == "upload":
            to_upload.append(key)
        else:
            conflicts.append(dict(key=key, reason=reason))
    result["conflicts"] = conflicts[:LIST_LIMIT]
    result["extra_objects"] = len(set(remote) - set(local))
    if conflicts and p["on_conflict"] == "fail":
        module.fail_json(msg="%d %s exist in %s with other content than the local files; nothing was "
                             "uploaded. Remove them or use on_conflict=overwrite." % (len(conflicts), s3.objects,
                                                                                      s3.where),
                         **result)
    to_upload += [c["key"] for c in conflicts]
    nbytes = sum(local[k]["size"] for k in to_upload)
    result.update(files=len(local), uploaded=to_upload[:LIST_LIMIT], uploaded_count=len(to_upload),
                  bytes_uploaded=nbytes, skipped_count=skipped)
    if to_upload:
        result["changed"] = True
    if module.check_mode:
        result.update(verified=skipped, msg=summary_message(len(local), len(to_upload), nbytes, skipped, skipped,
                                                            True, len(not_copied)))
        module.exit_json(**result)

    # -- Upload and prove --------------------------------------------------------------------------
    # Each file is uploaded from the descriptor it is opened with, and hashed again from it afterwards.
    changed_files = []
    for key in to_upload:
        item = local[key]
        try:
            with open_below(item["root"], item["target"]) as f:
                s3.upload(f, key, item)
                f.seek(0)
                after = digests(f)
        except OSError as e:
            module.fail_json(msg="cannot read %s: %s" % (display_path(item["path"]), e), **result)
        if not same_content(item, after):
            changed_files.append(key)
    bad = [k for k in to_upload if not verified(local[k], s3.head(k))]
    after = s3.listing(prefix)
    missing = sorted(k for k in local if k not in after)
    result["verified"] = len(local) - len(set(bad) | set(missing) | set(changed_files))
    if bad or missing or changed_files:
        module.fail_json(msg="after the upload, %d %s do not match their file, %d are missing in %s and "
                             "%d file(s) changed while they were uploaded (run again once they are stable)"
                             % (len(bad), s3.objects, len(missing), s3.where, len(changed_files)),
                         mismatched=bad[:LIST_LIMIT], missing=missing[:LIST_LIMIT],
                         changed_files=changed_files[:LIST_LIMIT], **result)
    result["msg"] = summary_message(len(local), len(to_upload), nbytes, skipped, result["verified"], False,
                                    len(not_copied))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
