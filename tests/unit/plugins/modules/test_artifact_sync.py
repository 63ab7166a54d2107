# -*- coding: utf-8 -*-
"""Unit tests of mlops.mlflow.artifact_sync's pure logic: the upload plan, the proof after upload,
S3 URI parsing, the recorded-location scan and its rewrite (plain pytest, no S3 needed)."""
from __future__ import annotations

import hashlib
import io
import os
import sqlite3

import boto3
import botocore.exceptions
import pytest
from ansible.module_utils import basic
from s3transfer.utils import ChunksizeAdjuster

from ansible_collections.mlops.mlflow.plugins.modules import artifact_sync as m
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules.module_harness import doc_blocks, patch_exits, run_main

MiB = 1048576
LOCAL = {"size": 5, "md5": hashlib.md5(b"hello").hexdigest(), "sha256": hashlib.sha256(b"hello").hexdigest()}
# the multipart ETag of b"hello" in one part (a client with a part size >= 5 bytes)
HELLO_1_PART = "%s-1" % hashlib.md5(hashlib.md5(b"hello").digest()).hexdigest()


@pytest.mark.parametrize("uri,expected", [
    ("s3://mlflow", ("mlflow", "")),
    ("s3://mlflow/", ("mlflow", "")),
    ("s3://mlflow/artifacts", ("mlflow", "artifacts")),
    ("s3://mlflow/a/b/", ("mlflow", "a/b")),
])
def test_parse_s3_uri(uri, expected):
    assert m.parse_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["", "mlflow/artifacts", "s3://", "s3:///x", "file:///tmp"])
def test_parse_s3_uri_refuses(uri):
    with pytest.raises(ValueError):
        m.parse_s3_uri(uri)


@pytest.mark.parametrize("prefix,rel,key", [
    ("", "1/r/artifacts/a.txt", "1/r/artifacts/a.txt"),
    ("artifacts", "1/a", "artifacts/1/a"),
    ("artifacts/", "/1/a", "artifacts/1/a"),
    ("a/b", "", "a/b"),
])
def test_join_key(prefix, rel, key):
    assert m.join_key(prefix, rel) == key


@pytest.mark.parametrize("uri,path", [
    ("mlflow-artifacts:/1/r/artifacts", "1/r/artifacts"),
    ("mlflow-artifacts://srv:5000/1/r", "1/r"),
    ("mlflow-artifacts:/", ""),
    ("/mlflow/data/1", None),
    ("s3://b/1", None),
])
def test_served_path(uri, path):
    assert m.served_path(uri) == path


@pytest.mark.parametrize("uri,foreign", [
    ("mlflow-artifacts:/1/r/artifacts", False),
    ("models:/m-123", False),
    ("runs:/abc/model", False),
    (None, False),
    ("", False),
    ("/mlflow/data/mlruns/1/r/artifacts", True),
    ("file:///home/u/mlruns/1", True),
    ("s3://elsewhere/x", True),
])
def test_is_foreign(uri, foreign):
    assert m.is_foreign(uri) is foreign


def test_classify_missing_object_is_uploaded():
    assert m.classify(LOCAL, None) == ("upload", "missing")


def test_classify_same_md5_etag_is_skipped_without_head():
    assert m.classify(LOCAL, {"size": 5, "etag": '"%s"' % LOCAL["md5"]}) == ("skip", "md5")


def test_classify_multipart_etag_asks_for_other_part_sizes():
    remote = {"size": 5, "etag": '"abc-2"'}
    assert m.classify(LOCAL, remote) == ("parts", 2)
    # metadata plays no part: the ETag the server computed decides
    assert m.classify(LOCAL, dict(remote, sha256=LOCAL["sha256"])) == ("parts", 2)
    assert m.classify(dict(LOCAL, etags={5: HELLO_1_PART}), {"size": 5, "etag": '"%s"' % HELLO_1_PART}) == \
        ("skip", "multipart etag")


def test_classify_size_or_md5_difference_is_a_conflict():
    assert m.classify(LOCAL, {"size": 6, "etag": LOCAL["md5"]})[0] == "conflict"
    assert m.classify(LOCAL, {"size": 5, "etag": "0" * 32, "sha256": None}) == ("conflict", "md5 differs")


@pytest.mark.parametrize("remote,expected", [
    (None, ("upload", "missing")),
    ({"size": 5, "etag": '"%s"' % LOCAL["md5"]}, ("skip", "md5")),
    ({"size": 5, "etag": LOCAL["md5"].upper()}, ("skip", "md5")),
    ({"size": 5, "etag": '"%s"' % hashlib.md5(b"HELLO").hexdigest(), "sha256": LOCAL["sha256"]},
     ("conflict", "md5 differs")),
    ({"size": 5, "etag": None}, ("conflict", "no ETag")),
    ({"size": 5, "etag": '"abc-x"'}, ("conflict", "unknown ETag format abc-x")),
    ({"size": 5, "etag": '"abc-0"'}, ("conflict", "unknown ETag format abc-0")),
])
def test_classify(remote, expected):
    assert m.classify(LOCAL, remote) == expected


@pytest.mark.parametrize("head,ok", [
    ({"size": 5, "etag": '"%s"' % LOCAL["md5"], "sha256": None}, True),
    ({"size": 5, "etag": '"%s"' % LOCAL["md5"], "sha256": LOCAL["sha256"]}, True),
    (None, False),
    ({"size": 4, "etag": LOCAL["md5"], "sha256": LOCAL["sha256"]}, False),
    # right metadata, but the server computed another MD5 or a multipart ETag nobody computed here
    ({"size": 5, "etag": '"%s"' % ("0" * 32), "sha256": LOCAL["sha256"]}, False),
    ({"size": 5, "etag": '"x-3"', "sha256": LOCAL["sha256"]}, False),
    ({"size": 5, "etag": '"x-3"', "sha256": None}, False),
    # a wrong sha256 is not rescued by a matching md5
    ({"size": 5, "etag": LOCAL["md5"], "sha256": "0" * 64}, False),
    ({"size": 5, "etag": '"%s"' % HELLO_1_PART, "sha256": None}, False),
])
def test_verified(head, ok):
    assert m.verified(LOCAL, head) is ok


def test_verified_multipart():
    local = dict(LOCAL, etags={5 * MiB: HELLO_1_PART})
    assert m.verified(local, {"size": 5, "etag": '"%s"' % HELLO_1_PART, "sha256": LOCAL["sha256"]})
    assert not m.verified(local, {"size": 5, "etag": '"%s-2"' % ("0" * 32), "sha256": LOCAL["sha256"]})


@pytest.mark.parametrize("size", [0, 1, 5 * MiB, 64 * MiB - 1, 64 * MiB, 10000 * 8 * MiB + 1, 6 * 1024 ** 4])
@pytest.mark.parametrize("threshold_mb", [1, 8, 64, 600])
def test_upload_part_size_is_the_one_of_s3transfer(size, threshold_mb):
    threshold, chunksize = m.transfer_sizes(threshold_mb)
    expected = None if size < threshold else ChunksizeAdjuster().adjust_chunksize(chunksize, size)
    assert m.upload_part_size(size, threshold, chunksize) == expected


@pytest.mark.parametrize("threshold_mb,sizes", [
    (64, (64 * MiB, 64 * MiB)),
    (1, (1 * MiB, 8 * MiB)),
    (600, (600 * MiB, 512 * MiB)),
])
def test_transfer_sizes(threshold_mb, sizes):
    assert m.transfer_sizes(threshold_mb) == sizes


@pytest.mark.parametrize("etag,parts", [
    ('"0123abcd-3"', 3), ("abc-12", 12), ('"0123abcd"', None), ("", None), (None, None), ("-3", None),
    ("abc-", None), ("abc-0", None), ("abc-x", None),
])
def test_etag_parts(etag, parts):
    assert m.etag_parts(etag) == parts


@pytest.mark.parametrize("size,parts,hints,expected", [
    (5, 1, (), [5]),
    (0, 1, (), [1]),
    (33 * MiB, 7, (), [5 * MiB]),
    (33 * MiB, 5, (), [8 * MiB]),
    (33 * MiB, 3, (), [15 * MiB, 16 * MiB]),
    (33 * MiB, 3, (12 * MiB, None, 16 * MiB), [12 * MiB, 16 * MiB, 15 * MiB]),
    (33 * MiB, 2, (), [32 * MiB]),
    (33 * MiB, 0, (), []),
    (1000 * MiB, 3, (), []),
])
def test_part_size_candidates(size, parts, hints, expected):
    assert m.part_size_candidates(size, parts, hints) == expected


@pytest.mark.parametrize("length", [0, 1, 3 * MiB, 4 * MiB, 4 * MiB + 1, 9 * MiB + 7])
def test_digests_compute_the_etags_a_server_computes(length):
    body = bytes(range(251)) * (length // 251) + b"x" * (length % 251)
    found = m.digests(io.BytesIO(body), [MiB, 2 * MiB, 5 * MiB])
    assert found["size"] == length
    assert found["md5"] == hashlib.md5(body).hexdigest()
    assert found["sha256"] == hashlib.sha256(body).hexdigest()
    for part_size in (MiB, 2 * MiB, 5 * MiB):
        assert '"%s"' % found["etags"][part_size] == multipart_etag(body, part_size)
    assert m.digests(io.BytesIO(body))["etags"] == {}


RULES = [
    {"from": "/mlflow/data/mlruns", "to": "mlflow-artifacts:/legacy", "local_path": "/srv/mlruns"},
    {"from": "file:///home/u/mlruns/", "to": "mlflow-artifacts:/home-u", "local_path": None},
]


@pytest.mark.parametrize("uri,new", [
    ("/mlflow/data/mlruns", "mlflow-artifacts:/legacy"),
    ("/mlflow/data/mlruns/1/r/artifacts", "mlflow-artifacts:/legacy/1/r/artifacts"),
    ("/mlflow/data/mlruns2/1", None),  # not a path boundary
    ("file:///home/u/mlruns/3/x", "mlflow-artifacts:/home-u/3/x"),
    ("s3://other/1", None),
])
def test_apply_rewrite(uri, new):
    assert m.apply_rewrite(uri, RULES) == new


def test_rule_problems():
    assert m.rule_problems(RULES) == []
    bad = [{"from": "/", "to": "s3://b/x", "local_path": "rel/dir"}]
    problems = m.rule_problems(bad)
    assert len(problems) == 3


def test_sources_adds_rule_directories_below_the_prefix():
    assert m.sources("/var/lib/mlflow/artifacts", "artifacts", RULES) == [
        ("/var/lib/mlflow/artifacts", "artifacts"),
        ("/srv/mlruns", "artifacts/legacy"),
    ]


def test_scan_tree_and_digests(tmp_path):
    (tmp_path / "1" / "r" / "artifacts").mkdir(parents=True)
    (tmp_path / "1" / "r" / "artifacts" / "a.txt").write_bytes(b"hello")
    (tmp_path / "top.bin").write_bytes(b"")
    tree = m.scan_tree(str(tmp_path))
    assert tree["files"] == {"1/r/artifacts/a.txt": "1/r/artifacts/a.txt", "top.bin": "top.bin"}
    assert tree["skipped"] == tree["undecodable"] == []
    found = m.file_digests(tree["root"], "1/r/artifacts/a.txt")
    assert dict((k, found[k]) for k in LOCAL) == LOCAL
    assert found["part_size"] is None and found["etags"] == {}
    found = m.file_digests(tree["root"], "1/r/artifacts/a.txt", threshold=5, chunksize=8 * MiB)
    assert found["part_size"] == 8 * MiB and found["etags"] == {8 * MiB: HELLO_1_PART}


def test_scan_tree_through_a_linked_root(tmp_path):
    """src itself may be a link (chosen by the administrator); links below it are judged against its target."""
    write(tmp_path / "real" / "a.txt", b"a")
    write(tmp_path / "real" / "sub" / "b.txt", b"b")
    os.symlink("../a.txt", str(tmp_path / "real" / "sub" / "up.txt"))
    os.symlink(str(tmp_path / "real"), str(tmp_path / "src"))
    tree = m.scan_tree(str(tmp_path / "src"))
    assert tree["root"] == os.path.realpath(str(tmp_path / "real"))
    assert tree["files"] == {"a.txt": "a.txt", "sub/b.txt": "sub/b.txt", "sub/up.txt": "a.txt"}


@pytest.mark.parametrize("target,reason", [
    ("{outside}/x.txt", "outside the tree"),
    ("../../outside/x.txt", "outside the tree"),
    ("{outside}", "outside the tree"),
    ("nothing-here", "dangling"),
    ("self", "dangling"),
    ("d", "directory"),
    ("a.txt", None),
    ("d/../a.txt", None),
    ("{root}/a.txt", None),
])
def test_link_problem(tmp_path, target, reason):
    root = tmp_path / "root"
    write(root / "a.txt", b"a")
    (root / "d").mkdir()
    write(tmp_path / "outside" / "x.txt", b"x")
    os.symlink(target.format(outside=tmp_path / "outside", root=root), str(root / "self"))
    got_reason, got_target = m.link_problem(os.path.realpath(str(root)), "self")
    if reason is None:
        assert (got_reason, got_target) == (None, "a.txt")
    else:
        assert reason in got_reason and got_target is None


def make_store():
    conn = sqlite3.connect(":memory:")
    conn.executescript("""
        CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, artifact_location TEXT);
        CREATE TABLE runs (run_uuid TEXT PRIMARY KEY, artifact_uri TEXT);
        CREATE TABLE model_versions (name TEXT, version INTEGER, source TEXT, storage_location TEXT);
        CREATE TABLE trace_tags (request_id TEXT, key TEXT, value TEXT);
        INSERT INTO experiments VALUES (0, 'mlflow-artifacts:/0'), (1, '/mlflow/data/mlruns/1');
        INSERT INTO runs VALUES ('a', 'mlflow-artifacts:/0/a/artifacts'), ('b', '/mlflow/data/mlruns/1/b/artifacts'),
                                ('c', 's3://other/1/c');
        INSERT INTO model_versions VALUES ('m', 1, 'models:/m-1', 'mlflow-artifacts:/0/models/m-1/artifacts');
        INSERT INTO trace_tags VALUES ('tr-1', 'mlflow.artifactLocation', '/mlflow/data/mlruns/1/traces/tr-1'),
                                      ('tr-1', 'other', '/not/a/location');
    """)
    return conn


def test_scan_uris_reports_only_foreign_locations():
    found = m.scan_uris(make_store(), RULES)
    got = sorted((f["table"], f["id"], f["new_uri"]) for f in found)
    assert got == [
        ("experiments", "1", "mlflow-artifacts:/legacy/1"),
        ("runs", "b", "mlflow-artifacts:/legacy/1/b/artifacts"),
        ("runs", "c", None),
        ("trace_tags", "tr-1", "mlflow-artifacts:/legacy/1/traces/tr-1"),
    ]


def test_rewrite_rows_changes_matched_rows_only():
    conn = make_store()
    found = m.scan_uris(conn, RULES)
    assert m.rewrite_rows(conn, found) == 3
    assert conn.execute("SELECT artifact_uri FROM runs ORDER BY run_uuid").fetchall() == [
        ("mlflow-artifacts:/0/a/artifacts",), ("mlflow-artifacts:/legacy/1/b/artifacts",), ("s3://other/1/c",)]
    assert conn.execute("SELECT value FROM trace_tags WHERE key = 'other'").fetchone() == ("/not/a/location",)
    # a second scan finds only the unmatched one: the rewrite is idempotent
    assert [f["id"] for f in m.scan_uris(conn, RULES)] == ["c"]


def test_summary_message():
    assert m.summary_message(3, 1, 1048576, 2, 3, False) == "uploaded 1 of 3 files (1.0 MiB), 2 already present; 3 verified"
    assert m.summary_message(3, 3, 0, 0, 0, True).startswith("would upload 3 of 3")
    assert m.summary_message(3, 0, 0, 3, 3, False, 2).endswith("; 3 verified; 2 path(s) not copied (skipped_paths)")


# ---------------------------------------------------------------------------------------------
# Harness: main() against a fake S3 server
# ---------------------------------------------------------------------------------------------

def md5_etag(body):
    return '"%s"' % hashlib.md5(body).hexdigest()


def multipart_etag(body, part_size):
    parts = [body[i:i + part_size] for i in range(0, len(body), part_size)] or [b""]
    return '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(), len(parts))


class FakeS3(object):
    """Stands for an S3 server (SeaweedFS, MinIO) and boto3's transfer manager together.

    Like a real server, it computes every ETag from the bytes it receives: a single-part upload's
    ETag is the quoted MD5 of the body, a multipart upload's the MD5 of the parts' MD5s followed by
    -N. Uploads are split the way s3transfer splits them (size >= multipart_threshold: parts of
    multipart_chunksize as s3transfer's ChunksizeAdjuster adjusts it). User metadata is stored as
    sent and never checked. Keys are encoded as UTF-8, as botocore does (surrogates raise).
    """

    def __init__(self):
        self.objects = {}
        self.uploaded = []
        self.part_number = True   # HEAD ?partNumber=1 answers with the first part (AWS, MinIO)
        self.before_read = None   # hooks called with the key around reading an upload's body
        self.after_read = None
        self.corrupt = False      # store other bytes than received (the ETag shows it)

    def put(self, key, body, metadata=None, part_size=None):
        key.encode("utf-8")
        etag = multipart_etag(body, part_size) if part_size else md5_etag(body)
        self.objects[key] = dict(body=body, etag=etag, metadata=dict(metadata or {}), part_size=part_size)

    def _store(self, body, key, extra, config):
        part_size = None
        if len(body) >= config.multipart_threshold:
            part_size = ChunksizeAdjuster().adjust_chunksize(config.multipart_chunksize, len(body))
        if self.corrupt:
            body = body[:-1] + bytes([body[-1] ^ 1])
        self.put(key, body, metadata=(extra or {}).get("Metadata"), part_size=part_size)
        self.uploaded.append(key)
        if self.after_read:
            self.after_read(key)

    def upload_file(self, Filename, Bucket, Key, ExtraArgs=None, Config=None, Callback=None):
        assert Bucket == "mlflow"
        Key.encode("utf-8")
        if self.before_read:
            self.before_read(Key)
        with open(Filename, "rb") as f:
            body = f.read()
        self._store(body, Key, ExtraArgs, Config)

    def upload_fileobj(self, Fileobj, Bucket, Key, ExtraArgs=None, Config=None, Callback=None):
        assert Bucket == "mlflow"
        Key.encode("utf-8")
        if self.before_read:
            self.before_read(Key)
        self._store(Fileobj.read(), Key, ExtraArgs, Config)

    def get_paginator(self, name):
        assert name == "list_objects_v2"
        fake = self

        class Paginator(object):
            def paginate(self, Bucket, Prefix=""):
                assert Bucket == "mlflow"
                yield {"Contents": [dict(Key=k, Size=len(o["body"]), ETag=o["etag"])
                                    for k, o in sorted(fake.objects.items()) if k.startswith(Prefix)]}
        return Paginator()

    def head_object(self, Bucket, Key, PartNumber=None):
        assert Bucket == "mlflow"
        obj = self.objects.get(Key)
        if obj is None:
            raise botocore.exceptions.ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        answer = dict(ContentLength=len(obj["body"]), ETag=obj["etag"], Metadata=dict(obj["metadata"]))
        if PartNumber is not None and self.part_number and obj["part_size"]:
            size = obj["part_size"]
            start = (PartNumber - 1) * size
            answer.update(ContentLength=len(obj["body"][start:start + size]),
                          PartsCount=int(obj["etag"].strip('"').rsplit("-", 1)[1]))
        return answer


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def harness(monkeypatch, tmp_path):
    fake = FakeS3()
    warnings = []
    patch_exits(monkeypatch)
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning, **kw: warnings.append(warning))
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: fake)
    src = tmp_path / "artifacts"
    src.mkdir()

    def run(args=None, check_mode=False):
        args = dict(args or {})
        args.setdefault("src", str(src))
        args.setdefault("dest", "s3://mlflow/artifacts")
        del warnings[:]
        return run_main(m.main, args, check_mode)

    return dict(run=run, s3=fake, src=src, warnings=warnings)


def bodies(fake):
    return dict((k, o["body"]) for k, o in fake.objects.items())


# ---------------------------------------------------------------------------------------------
# Finding 1: symbolic links out of the tree, special files
# ---------------------------------------------------------------------------------------------

SECRET = b"root:$6$secret:19000:0:99999:7:::\n"


def test_links_that_leave_the_tree_are_skipped_and_reported(harness, tmp_path):
    host = tmp_path / "host"
    write(host / "shadow", SECRET)
    art = harness["src"] / "1" / "r" / "artifacts"
    write(art / "a.txt", b"hello")
    os.symlink(str(host / "shadow"), str(art / "leak.txt"))            # absolute, to a file outside
    os.symlink("../../../../host/shadow", str(art / "rel-leak.txt"))  # relative, to a file outside
    os.symlink(str(host), str(art / "hostdir"))                        # to a directory outside
    os.symlink("missing.txt", str(art / "dangling.txt"))
    os.symlink("a.txt", str(art / "alias.txt"))                        # inside: same bytes as a.txt
    os.symlink(".", str(art / "loop"))                                 # to a directory inside
    os.mkfifo(str(art / "pipe"))

    result = harness["run"]()

    assert not result.get("failed"), result["msg"]
    assert SECRET not in bodies(harness["s3"]).values()
    assert bodies(harness["s3"]) == {"artifacts/1/r/artifacts/a.txt": b"hello",
                                     "artifacts/1/r/artifacts/alias.txt": b"hello"}
    assert result["files"] == result["verified"] == 2
    skipped = dict((s["path"], s["reason"]) for s in result["skipped_paths"])
    names = ("leak.txt", "rel-leak.txt", "hostdir", "dangling.txt", "loop", "pipe")
    assert sorted(skipped) == sorted(str(art / n) for n in names)
    assert "outside" in skipped[str(art / "leak.txt")]
    assert "outside" in skipped[str(art / "rel-leak.txt")]
    assert "outside" in skipped[str(art / "hostdir")]
    assert "directory" in skipped[str(art / "loop")]
    assert "not copied" in result["msg"]
    warning = " ".join(harness["warnings"])
    assert "leak.txt" in warning and "hostdir" in warning


def test_links_are_reported_in_check_mode_too(harness, tmp_path):
    write(tmp_path / "host" / "shadow", SECRET)
    write(harness["src"] / "a.txt", b"hello")
    os.symlink(str(tmp_path / "host" / "shadow"), str(harness["src"] / "leak.txt"))
    result = harness["run"](check_mode=True)
    assert result["uploaded"] == ["artifacts/a.txt"]
    assert [s["path"] for s in result["skipped_paths"]] == [str(harness["src"] / "leak.txt")]
    assert harness["s3"].objects == {}


def test_a_file_swapped_for_a_link_during_the_run_is_not_followed(harness, tmp_path):
    """The container user replaces a checked file with a link just before it is read."""
    shadow = write(tmp_path / "host" / "shadow", SECRET)
    victim = write(harness["src"] / "a.txt", b"hello")

    def swap(key):
        victim.unlink()
        os.symlink(str(shadow), str(victim))

    harness["s3"].before_read = swap
    harness["run"]()
    assert SECRET not in bodies(harness["s3"]).values()


def test_open_below_refuses_every_link(tmp_path):
    root = tmp_path / "root"
    write(root / "d" / "x.txt", b"x")
    write(tmp_path / "outside" / "x.txt", b"secret")
    os.symlink(str(tmp_path / "outside"), str(root / "out"))
    os.symlink("x.txt", str(root / "d" / "link.txt"))
    with m.open_below(str(root), "d/x.txt") as f:
        assert f.read() == b"x"
    for rel in ("out/x.txt", "d/link.txt", "d", "../outside/x.txt"):
        with pytest.raises(OSError):
            m.open_below(str(root), rel)


# ---------------------------------------------------------------------------------------------
# Finding 2: what the server computed decides, not the module's own metadata
# ---------------------------------------------------------------------------------------------


def test_sha256_metadata_does_not_outvote_the_md5_etag(harness):
    """Repro of the review: object BBBB carrying sha256(AAAA), local file AAAA."""
    write(harness["src"] / "a.txt", b"AAAA")
    harness["s3"].put("artifacts/a.txt", b"BBBB", metadata={"sha256": hashlib.sha256(b"AAAA").hexdigest()})

    result = harness["run"]()
    assert result.get("failed")
    assert result["conflicts"] == [{"key": "artifacts/a.txt", "reason": "md5 differs"}]
    assert bodies(harness["s3"]) == {"artifacts/a.txt": b"BBBB"}

    result = harness["run"](dict(on_conflict="overwrite"))
    assert not result.get("failed"), result["msg"]
    assert result["uploaded_count"] == 1
    assert bodies(harness["s3"]) == {"artifacts/a.txt": b"AAAA"}

    result = harness["run"]()
    assert result["changed"] is False and result["skipped_count"] == 1


def test_sha256_metadata_does_not_outvote_a_multipart_etag(harness):
    local = b"A" * (9 * MiB)
    write(harness["src"] / "big.bin", local)
    harness["s3"].put("artifacts/big.bin", b"B" * (9 * MiB), part_size=8 * MiB,
                      metadata={"sha256": hashlib.sha256(local).hexdigest()})
    result = harness["run"](dict(multipart_threshold_mb=8))
    assert result.get("failed")
    assert [c["key"] for c in result["conflicts"]] == ["artifacts/big.bin"]


def test_upload_is_proven_by_the_etag_the_server_computed(harness):
    """The server stored other bytes than sent: the sha256 metadata it echoes proves nothing."""
    write(harness["src"] / "a.txt", b"hello")
    harness["s3"].corrupt = True
    result = harness["run"]()
    assert result.get("failed")
    assert result["mismatched"] == ["artifacts/a.txt"]


@pytest.mark.parametrize("size_mb,threshold_mb", [(9, 8), (17, 8), (2, 1)])
def test_multipart_upload_is_verified_and_then_skipped(harness, size_mb, threshold_mb):
    body = bytes(range(256)) * (size_mb * MiB // 256)
    write(harness["src"] / "big.bin", body)
    result = harness["run"](dict(multipart_threshold_mb=threshold_mb))
    assert not result.get("failed"), result["msg"]
    assert "-" in harness["s3"].objects["artifacts/big.bin"]["etag"]
    assert result["verified"] == 1
    result = harness["run"](dict(multipart_threshold_mb=threshold_mb))
    assert result["changed"] is False and result["skipped_count"] == 1


@pytest.mark.parametrize("part_number", [True, False], ids=["head-part-number", "no-part-number"])
@pytest.mark.parametrize("part_mb", [5, 8, 16])
def test_multipart_object_of_another_client_is_recognised(harness, part_number, part_mb):
    """Uploaded earlier by another tool (rclone 5 MiB, aws cli 8 MiB, mc 16 MiB parts), no metadata."""
    body = bytes(range(256)) * (33 * MiB // 256)
    write(harness["src"] / "big.bin", body)
    harness["s3"].put("artifacts/big.bin", body, part_size=part_mb * MiB)
    harness["s3"].part_number = part_number
    result = harness["run"]()
    assert not result.get("failed"), result["msg"]
    assert result["skipped_count"] == 1 and result["uploaded_count"] == 0


@pytest.mark.parametrize("proc_fd", [True, False], ids=["upload_file-proc-fd", "upload_fileobj"])
def test_upload_reads_the_opened_file(harness, tmp_path, monkeypatch, proc_fd):
    if not proc_fd:
        monkeypatch.setattr(m, "PROC_FD", str(tmp_path / "no-proc"))
    body = bytes(range(256)) * (9 * MiB // 256)
    write(harness["src"] / "big.bin", body)
    write(harness["src"] / "a.json", b"{}")
    result = harness["run"](dict(multipart_threshold_mb=8))
    assert not result.get("failed"), result["msg"]
    assert bodies(harness["s3"]) == {"artifacts/big.bin": body, "artifacts/a.json": b"{}"}
    assert harness["s3"].objects["artifacts/a.json"]["metadata"] == {"sha256": hashlib.sha256(b"{}").hexdigest()}


def _run_changing_the_file(harness, hook):
    """The failed result of a run whose a.txt the fake S3 rewrites at `hook` (before_read, after_read)."""
    path = write(harness["src"] / "a.txt", b"hello")
    setattr(harness["s3"], hook, lambda key: path.write_bytes(b"HELLO"))
    result = harness["run"]()
    assert result.get("failed")
    return result


def test_file_changed_after_it_was_uploaded_is_reported(harness):
    result = _run_changing_the_file(harness, "after_read")
    assert result["changed_files"] == ["artifacts/a.txt"]
    assert "changed" in result["msg"]


def test_file_changed_before_it_was_uploaded_is_reported(harness):
    result = _run_changing_the_file(harness, "before_read")
    assert result["mismatched"] == ["artifacts/a.txt"]


# ---------------------------------------------------------------------------------------------
# Finding 12: sqlite_path as a proper file: URI
# ---------------------------------------------------------------------------------------------


def make_store_file(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path))
    conn.executescript("""
        CREATE TABLE runs (run_uuid TEXT PRIMARY KEY, artifact_uri TEXT);
        INSERT INTO runs VALUES ('b', '/mlflow/data/mlruns/1/b/artifacts');
    """)
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("dirname", ["we?ird", "we#ird", "we%3Fird", "we ird", "we%ird"])
def test_sqlite_path_with_uri_characters(harness, tmp_path, dirname):
    db = make_store_file(tmp_path / dirname / "mlflow.db")
    before = sorted(os.listdir(str(tmp_path)))
    result = harness["run"](dict(sqlite_path=str(db)))
    assert not result.get("failed"), result["msg"]
    assert result["foreign_count"] == 1
    assert sorted(os.listdir(str(tmp_path))) == before  # no stray database file created

    rules = [{"from": "/mlflow/data/mlruns", "to": "mlflow-artifacts:/legacy"}]
    result = harness["run"](dict(sqlite_path=str(db), update_sqlite=True, rewrite=rules))
    assert result["rewritten_rows"] == 1
    conn = sqlite3.connect(str(db))
    assert conn.execute("SELECT artifact_uri FROM runs").fetchall() == [("mlflow-artifacts:/legacy/1/b/artifacts",)]
    conn.close()


def test_sqlite_uri(tmp_path):
    base = os.path.realpath(str(tmp_path))
    assert m.sqlite_uri(os.path.join(str(tmp_path), "we?ird", "mlflow.db")) == \
        "file://%s/we%%3Fird/mlflow.db?mode=ro" % base
    assert m.sqlite_uri(os.path.join(str(tmp_path), "a#b %c", "x.db"), write=True) == \
        "file://%s/a%%23b%%20%%25c/x.db?mode=rw" % base


@pytest.mark.parametrize("name", ["missing.db", "dir.db"])
def test_sqlite_path_that_is_no_file_fails_clearly(harness, tmp_path, name):
    (tmp_path / "dir.db").mkdir()
    before = sorted(os.listdir(str(tmp_path)))
    result = harness["run"](dict(sqlite_path=str(tmp_path / name)))
    assert result.get("failed")
    assert str(tmp_path / name) in result["msg"]
    assert sorted(os.listdir(str(tmp_path))) == before


# ---------------------------------------------------------------------------------------------
# Finding 13: file names that are not UTF-8
# ---------------------------------------------------------------------------------------------


def test_non_utf8_names_fail_before_anything_is_uploaded(harness):
    src = os.fsencode(str(harness["src"]))
    write(harness["src"] / "a.txt", b"hello")
    with open(src + b"/\xff-latin1.bin", "wb") as f:
        f.write(b"x")
    os.mkdir(src + b"/d\xe9j\xe0")
    with open(src + b"/d\xe9j\xe0/x.txt", "wb") as f:
        f.write(b"y")
    result = harness["run"]()
    assert result.get("failed")
    assert harness["s3"].objects == {}
    assert sorted(result["undecodable_paths"]) == sorted([
        os.path.join(str(harness["src"]), "\\xff-latin1.bin"),
        os.path.join(str(harness["src"]), "d\\xe9j\\xe0", "x.txt")])
    assert "\\xff-latin1.bin" in result["msg"]


@pytest.mark.parametrize("name,expected", [
    ("a.txt", "a.txt"),
    ("d\u00e9j\u00e0/x", "d\u00e9j\u00e0/x"),
    (os.fsdecode(b"\xff.bin"), "\\xff.bin"),
])
def test_display_path(name, expected):
    assert m.display_path(name) == expected


# ---------------------------------------------------------------------------------------------
# Documentation (what ansible-test sanity's validate-modules checks, and the new return values)
# ---------------------------------------------------------------------------------------------


def test_documentation_matches_argument_spec():
    text = open(m.__file__).read()
    assert text.startswith("#!/usr/bin/python\n")
    assert "from __future__ import annotations" in text
    doc = doc_blocks(m)
    assert set(doc) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    options = doc["DOCUMENTATION"]["options"]
    spec = m.argument_spec()
    assert set(options) == set(spec)
    for name, arg in spec.items():
        assert options[name]["type"] == arg["type"], name
        assert options[name].get("default") == arg.get("default"), name
        assert options[name].get("choices") == arg.get("choices"), name


def test_returned_keys_are_documented(harness, tmp_path):
    returned = set(doc_blocks(m)["RETURN"]) | {"changed", "failed"}
    write(harness["src"] / "a.txt", b"hello")
    os.symlink("/etc/passwd", str(harness["src"] / "passwd"))
    result = harness["run"](dict(sqlite_path=str(make_store_file(tmp_path / "db" / "mlflow.db"))))
    assert set(result) <= returned
    harness["s3"].after_read = lambda key: (harness["src"] / "a.txt").write_bytes(b"HELLO")
    harness["s3"].objects.clear()
    assert set(harness["run"]()) <= returned


# ---------------------------------------------------------------------------------------------
# Azure Blob (wasbs:// dest): main() against a fake azure-storage-blob client
# ---------------------------------------------------------------------------------------------

from azure.core.exceptions import ResourceNotFoundError  # noqa: E402
from azure.storage.blob import ContentSettings  # noqa: E402

AZ_DEST = "wasbs://mlflow@acct.blob.core.windows.net/artifacts"
AZ_CONN = "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/acct;"


def _not_found(code):
    e = ResourceNotFoundError(message="%s: the specified resource does not exist." % code)
    e.error_code = code
    return e


class FakeAzure(object):
    """Stands for an Azure Blob service and azure-storage-blob together, as the module uses them.

    A blob uploaded in one request (length <= max_single_put_size) gets the MD5 the service computes from the
    bytes it received; one uploaded in blocks gets the Content-MD5 the client sent, as given (Put Block List)."""

    def __init__(self):
        self.blobs = {}
        self.uploaded = []
        self.calls = []
        self.containers = {"mlflow"}
        self.account_name = "acct"
        self.max_single_put_size = None
        self.before_read = None
        self.corrupt = False

    # BlobServiceClient
    def from_connection_string(self, conn_str, **kwargs):
        assert conn_str == AZ_CONN
        self.max_single_put_size = kwargs["max_single_put_size"]
        self.kwargs = kwargs
        return self

    def get_container_client(self, name):
        return FakeContainer(self, name)

    def put(self, name, body, content_md5="computed", metadata=None):
        md5 = hashlib.md5(body).digest() if content_md5 == "computed" else content_md5
        self.blobs[name] = dict(body=body, md5=bytearray(md5) if md5 else None, metadata=dict(metadata or {}))


class FakeContainer(object):
    def __init__(self, fake, name):
        self.fake, self.name = fake, name

    def _check(self):
        if self.name not in self.fake.containers:
            raise _not_found("ContainerNotFound")

    def list_blobs(self, name_starts_with=None):
        self._check()
        for name, blob in sorted(self.fake.blobs.items()):
            if name.startswith(name_starts_with or ""):
                settings = ContentSettings(content_md5=blob["md5"])
                yield type("BlobProperties", (), dict(name=name, size=len(blob["body"]), content_settings=settings))

    def get_blob_client(self, name):
        return FakeBlob(self, name)


class FakeBlob(object):
    def __init__(self, container, name):
        self.container, self.name, self.fake = container, name, container.fake

    def upload_blob(self, data, length, overwrite, metadata, content_settings, validate_content, max_concurrency):
        self.container._check()
        assert overwrite is True and validate_content is True
        self.fake.calls.append(dict(name=self.name, length=length, content_settings=content_settings))
        if self.fake.before_read:
            self.fake.before_read(self.name)
        body = data.read(length)
        if self.fake.corrupt:
            body = body[:-1] + bytes([body[-1] ^ 1])
        single = length <= self.fake.max_single_put_size
        self.fake.put(self.name, body, "computed" if single else content_settings.content_md5, metadata)
        self.fake.uploaded.append(self.name)

    def get_blob_properties(self):
        self.container._check()
        blob = self.fake.blobs.get(self.name)
        if blob is None:
            raise _not_found("BlobNotFound")
        return type("BlobProperties", (), dict(size=len(blob["body"]), metadata=dict(blob["metadata"]),
                                               content_settings=ContentSettings(content_md5=blob["md5"])))


@pytest.fixture
def az(monkeypatch, tmp_path):
    fake = FakeAzure()
    warnings = []
    patch_exits(monkeypatch)
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning, **kw: warnings.append(warning))
    monkeypatch.setattr(m, "BlobServiceClient", fake)
    monkeypatch.setattr(boto3, "client", lambda *a, **kw: pytest.fail("no S3 client for a wasbs:// dest"))
    src = tmp_path / "artifacts"
    src.mkdir()

    def run(args=None, check_mode=False):
        args = dict(args or {})
        args.setdefault("src", str(src))
        args.setdefault("dest", AZ_DEST)
        args.setdefault("azure_connection_string", AZ_CONN)
        del warnings[:]
        return run_main(m.main, args, check_mode)

    return dict(run=run, az=fake, src=src, warnings=warnings)


def az_bodies(fake):
    return dict((k, b["body"]) for k, b in fake.blobs.items())


@pytest.mark.parametrize("uri,expected", [
    ("wasbs://c@acct.blob.core.windows.net", ("c", "acct", "")),
    ("wasbs://c@acct.blob.core.windows.net/", ("c", "acct", "")),
    ("wasbs://mlflow@acct.blob.core.windows.net/a/b/", ("mlflow", "acct", "a/b")),
    ("wasbs://c@acct.blob.core.chinacloudapi.cn/x", ("c", "acct", "x")),
])
def test_parse_wasbs_uri(uri, expected):
    assert m.parse_wasbs_uri(uri) == expected
    assert m.parse_dest(uri) == ("azure", expected[0], expected[2], expected[1])


@pytest.mark.parametrize("uri", ["wasbs://", "wasbs://c/x", "wasbs://@acct.blob.core.windows.net/x",
                                 "wasbs://c@acct/x", "wasbs://c@acct.dfs.core.windows.net/x",
                                 "wasb://c@acct.blob.core.windows.net/x", "gs://b/x", ""])
def test_parse_dest_refuses(uri):
    with pytest.raises(ValueError):
        m.parse_dest(uri)


def test_parse_dest_s3_unchanged():
    assert m.parse_dest("s3://mlflow/artifacts") == ("s3", "mlflow", "artifacts", None)


def test_classify_blob_without_content_md5_is_a_conflict():
    assert m.classify(LOCAL, {"size": 5, "etag": None}, "Content-MD5") == ("conflict", "no Content-MD5")
    assert m.classify(LOCAL, {"size": 5, "etag": m.md5_hex(hashlib.md5(b"hello").digest())}, "Content-MD5") == \
        ("skip", "md5")


def test_azure_sizes():
    assert m.azure_sizes(64) == (64 * MiB - 1, 4 * MiB)
    assert m.azure_sizes(1) == (MiB - 1, 4 * MiB)
    assert m.azure_sizes(4096) == (256 * MiB - 1, 4 * MiB)


def test_azure_first_sync_then_nothing_to_do(az):
    files = {"1/r/artifacts/model/MLmodel": b"flavors: {}\n", "1/r/artifacts/m.json": b"{}",
             "1/r/artifacts/empty.txt": b"", "1/r/artifacts/big.bin": bytes(range(256)) * (9 * MiB // 256)}
    for rel, body in files.items():
        write(az["src"] / rel, body)
    first = az["run"](dict(multipart_threshold_mb=8))
    assert not first.get("failed"), first["msg"]
    assert first["changed"] and first["uploaded_count"] == 4 and first["verified"] == 4
    assert az_bodies(az["az"]) == dict(("artifacts/" + rel, body) for rel, body in files.items())
    calls = dict((c["name"], c["content_settings"]) for c in az["az"].calls)
    # blocks: the file's MD5 is set explicitly; one request: left to the service
    big_md5 = hashlib.md5(files["1/r/artifacts/big.bin"]).digest()
    assert bytes(calls["artifacts/1/r/artifacts/big.bin"].content_md5) == big_md5
    assert calls["artifacts/1/r/artifacts/m.json"].content_md5 is None
    assert calls["artifacts/1/r/artifacts/m.json"].content_type == "application/json"
    assert az["az"].blobs["artifacts/1/r/artifacts/m.json"]["metadata"] == {"sha256": hashlib.sha256(b"{}").hexdigest()}
    assert az["az"].kwargs["max_single_put_size"] == 8 * MiB - 1
    second = az["run"](dict(multipart_threshold_mb=8))
    assert not second.get("failed") and not second["changed"], second["msg"]
    assert second["uploaded_count"] == 0 and second["skipped_count"] == 4 and second["verified"] == 4
    assert len(az["az"].uploaded) == 4


def test_azure_check_mode_writes_nothing(az):
    write(az["src"] / "a.txt", b"hello")
    result = az["run"](check_mode=True)
    assert result["changed"] and result["uploaded"] == ["artifacts/a.txt"]
    assert az["az"].blobs == {} and az["az"].calls == []
    assert "would upload" in result["msg"]


def test_azure_conflict_fails_before_upload_and_overwrite_replaces(az):
    write(az["src"] / "a.txt", b"hello")
    write(az["src"] / "b.txt", b"new")
    write(az["src"] / "c.bin", b"x" * 10)
    az["az"].put("artifacts/a.txt", b"HELLO")
    az["az"].put("artifacts/c.bin", b"x" * 10, content_md5=None)  # another client's block blob, no Content-MD5
    az["az"].put("artifacts/extra.txt", b"only in the container")
    result = az["run"]()
    assert result.get("failed") and "nothing was uploaded" in result["msg"] and "blob(s)" in result["msg"]
    assert {c["key"]: c["reason"] for c in result["conflicts"]} == {
        "artifacts/a.txt": "md5 differs", "artifacts/c.bin": "no Content-MD5"}
    assert result["extra_objects"] == 1
    assert az["az"].uploaded == []
    result = az["run"](dict(on_conflict="overwrite"))
    assert not result.get("failed"), result["msg"]
    assert sorted(result["uploaded"]) == ["artifacts/a.txt", "artifacts/b.txt", "artifacts/c.bin"]
    assert result["verified"] == 3 and result["extra_objects"] == 1
    assert az_bodies(az["az"])["artifacts/a.txt"] == b"hello"


def test_azure_sha256_metadata_is_never_trusted(az):
    write(az["src"] / "a.txt", b"hello")
    az["az"].put("artifacts/a.txt", b"HELLO", metadata={"sha256": LOCAL["sha256"]})
    result = az["run"]()
    assert result.get("failed") and result["conflicts"][0]["reason"] == "md5 differs"


def test_azure_corrupted_upload_is_not_verified(az):
    write(az["src"] / "a.txt", b"hello")
    az["az"].corrupt = True
    result = az["run"]()
    assert result.get("failed") and result["mismatched"] == ["artifacts/a.txt"]


def test_azure_file_changed_before_upload_is_reported(az):
    path = write(az["src"] / "a.txt", b"hello")
    az["az"].before_read = lambda name: path.write_bytes(b"HELLO")
    result = az["run"]()
    assert result.get("failed")
    # one request: the service's MD5 of what it received shows it, and so does the second hash of the file
    assert result["mismatched"] == ["artifacts/a.txt"] and result["changed_files"] == ["artifacts/a.txt"]


def test_azure_missing_container_fails_clearly(az):
    write(az["src"] / "a.txt", b"hello")
    az["az"].containers.clear()
    for check_mode in (False, True):
        result = az["run"](check_mode=check_mode)
        assert result.get("failed")
        assert "container mlflow does not exist in the storage account acct" in result["msg"]


def test_azure_links_are_skipped_as_for_s3(az, tmp_path):
    write(tmp_path / "host" / "shadow", SECRET)
    write(az["src"] / "a.txt", b"hello")
    os.symlink(str(tmp_path / "host" / "shadow"), str(az["src"] / "shadow"))
    result = az["run"]()
    assert not result.get("failed"), result["msg"]
    assert list(az_bodies(az["az"])) == ["artifacts/a.txt"]
    assert [s["path"] for s in result["skipped_paths"]] == [str(az["src"] / "shadow")]


@pytest.mark.parametrize("args,problem", [
    (dict(azure_connection_string=None), "needs azure_connection_string"),
    (dict(endpoint_url="http://127.0.0.1:9000"), "endpoint_url applies to an s3:// dest only"),
    (dict(secret_key="x"), "secret_key applies to an s3:// dest only"),
    (dict(dest="s3://mlflow/artifacts"), "azure_connection_string applies to a wasbs:// dest only"),
])
def test_azure_option_problems(az, args, problem):
    result = az["run"](args)
    assert result.get("failed") and problem in result["msg"]


def test_azure_account_mismatch_is_warned(az):
    write(az["src"] / "a.txt", b"hello")
    result = az["run"](dict(dest="wasbs://mlflow@other.blob.core.windows.net/artifacts"))
    assert not result.get("failed"), result["msg"]
    assert any("storage account other" in w for w in az["warnings"])


def test_azure_returned_keys_are_documented(az):
    returned = set(doc_blocks(m)["RETURN"]) | {"changed", "failed"}
    write(az["src"] / "a.txt", b"hello")
    assert set(az["run"]()) <= returned
    az["az"].corrupt = True
    az["az"].blobs.clear()
    assert set(az["run"]()) <= returned
