# -*- coding: utf-8 -*-
"""Unit tests of the backup job of roles/mlflow_backup (retention, status file, failure path)."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[3] / "roles" / "mlflow_backup" / "files" / "mlflow_backup.py"
_SPEC = importlib.util.spec_from_file_location("mlflow_backup_job", _PATH)
job = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(job)

S = ["20261125T023000Z", "20261126T023000Z", "20261127T023000Z", "20261128T023000Z"]


@pytest.mark.parametrize(
    "names, keep, gone",
    [
        (S, 2, S[:2]),
        (list(reversed(S)), 3, S[:1]),
        (S, 4, []),
        (S, 10, []),
        (S, 0, []),  # never delete everything
        (S + ["before-restore-x", "notes.txt", "20261129T023000Z.dump.part"], 3, S[:1]),
    ],
)
def test_expired(names, keep, gone):
    assert job.expired(names, keep) == gone


def test_prune_removes_oldest_dumps_and_dirs(tmp_path):
    for s in S:
        (tmp_path / f"{s}.dump").write_text("x")
    (tmp_path / "20261129T023000Z.dump.part").write_text("x")
    job.prune(str(tmp_path), 2, ".dump")
    assert sorted(os.listdir(tmp_path)) == sorted([f"{S[2]}.dump", f"{S[3]}.dump", "20261129T023000Z.dump.part"])
    changed = tmp_path / "changed"
    for s in S:
        (changed / s).mkdir(parents=True)
    job.prune(str(changed), 1)
    assert os.listdir(changed) == [S[3]]


def test_failure_is_recorded_and_keeps_last_success(tmp_path, monkeypatch):
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"last_success": "2026-11-29T02:30:00+00:00", "result": "ok"}))
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"dir": str(tmp_path / "b"), "keep": 3, "status_file": str(status), "database": True,
                               "artifacts": False, "pg_container": "postgres", "pg_superuser": "postgres",
                               "pg_database": "mlflow", "bucket": "mlflow"}))

    def boom(cfg, target):
        raise RuntimeError("pg_restore --list shows no data of alembic_version: not an MLflow dump")

    monkeypatch.setattr(job, "dump_database", boom)
    assert job.main(str(cfg)) == 1
    got = json.loads(status.read_text())
    assert got["result"] == "failed" and "alembic_version" in got["error"]
    assert got["last_success"] == "2026-11-29T02:30:00+00:00"
    assert oct(status.stat().st_mode & 0o777) == "0o644"


def test_success_writes_status(tmp_path, monkeypatch):
    status = tmp_path / "status.json"
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"dir": str(tmp_path / "b"), "keep": 3, "status_file": str(status), "database": True,
                               "artifacts": False, "pg_container": "postgres", "pg_superuser": "postgres",
                               "pg_database": "mlflow", "bucket": "mlflow"}))
    monkeypatch.setattr(job, "dump_database", lambda cfg, target: {"path": target, "bytes": 42, "toc_entries": 7})
    assert job.main(str(cfg)) == 0
    got = json.loads(status.read_text())
    assert got["result"] == "ok" and got["last_success"] == got["last_attempt"] and got["database"]["bytes"] == 42
    assert got["database"]["path"].endswith(got["stamp"] + ".dump")
