# -*- coding: utf-8 -*-
"""Unit tests of mlops.mlflow.artifact_sync's pure logic: the upload plan, the proof after upload,
S3 URI parsing, the recorded-location scan and its rewrite (plain pytest, no S3 needed)."""
from __future__ import annotations

import hashlib
import sqlite3

import pytest

from ansible_collections.mlops.mlflow.plugins.modules import artifact_sync as m

LOCAL = {"size": 5, "md5": hashlib.md5(b"hello").hexdigest(), "sha256": hashlib.sha256(b"hello").hexdigest()}


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


def test_classify_multipart_etag_needs_head_then_sha256_decides():
    remote = {"size": 5, "etag": '"abc-2"'}
    assert m.classify(LOCAL, remote) == ("head", None)
    assert m.classify(LOCAL, dict(remote, sha256=LOCAL["sha256"])) == ("skip", "sha256")
    assert m.classify(LOCAL, dict(remote, sha256="0" * 64))[0] == "conflict"
    assert m.classify(LOCAL, dict(remote, sha256=None)) == ("conflict", "multipart object without sha256 metadata")


def test_classify_size_or_md5_difference_is_a_conflict():
    assert m.classify(LOCAL, {"size": 6, "etag": LOCAL["md5"]})[0] == "conflict"
    assert m.classify(LOCAL, {"size": 5, "etag": "0" * 32, "sha256": None}) == ("conflict", "md5 differs")


def test_verified():
    assert m.verified(LOCAL, {"size": 5, "etag": '"x-3"', "sha256": LOCAL["sha256"]})
    assert m.verified(LOCAL, {"size": 5, "etag": '"%s"' % LOCAL["md5"], "sha256": None})
    assert not m.verified(LOCAL, None)
    assert not m.verified(LOCAL, {"size": 4, "etag": LOCAL["md5"], "sha256": LOCAL["sha256"]})
    assert not m.verified(LOCAL, {"size": 5, "etag": '"x-3"', "sha256": None})
    # a wrong sha256 is not rescued by a matching md5
    assert not m.verified(LOCAL, {"size": 5, "etag": LOCAL["md5"], "sha256": "0" * 64})


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


def test_walk_files_and_digests(tmp_path):
    (tmp_path / "1" / "r" / "artifacts").mkdir(parents=True)
    (tmp_path / "1" / "r" / "artifacts" / "a.txt").write_bytes(b"hello")
    (tmp_path / "top.bin").write_bytes(b"")
    files = m.walk_files(str(tmp_path))
    assert sorted(files) == ["1/r/artifacts/a.txt", "top.bin"]
    assert m.file_digests(files["1/r/artifacts/a.txt"]) == LOCAL


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
