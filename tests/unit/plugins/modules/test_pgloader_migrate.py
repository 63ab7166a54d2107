# -*- coding: utf-8 -*-
"""Unit tests of the mlops.mlflow.pgloader_migrate module (plain pytest).

No PostgreSQL and no pgloader: the PostgreSQL side (class Target) is replaced by a fake that holds
counts and foreign keys, and run_command by a fake pgloader that writes one of the real pgloader
3.6.9 summaries kept under tests/unit/fixtures/pgloader/. The SQLite side is a real file made by
the test. What is asserted is what a user sees: changed, msg, failures and what reaches pgloader.
"""
from __future__ import annotations

import ast
import json
import os
import sqlite3
import tempfile
from pathlib import Path

import pytest
import yaml
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlops.mlflow.plugins.modules import pgloader_migrate as mod

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pgloader"
MODULE_PATH = Path(mod.__file__)
PASSWORD = "s3cr3t!pw"

# ---------------------------------------------------------------------------------------------
# Documentation against the argument spec (what ansible-test sanity's validate-modules checks)
# ---------------------------------------------------------------------------------------------


def _doc_blocks():
    tree = ast.parse(MODULE_PATH.read_text())
    blocks = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                blocks[node.targets[0].id] = yaml.safe_load(node.value.value)
    return blocks


def test_module_file_basics():
    text = MODULE_PATH.read_text()
    assert text.startswith("#!/usr/bin/python\n")
    assert "print(" not in text
    assert set(_doc_blocks()) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}


def test_documentation_matches_argument_spec():
    doc = _doc_blocks()["DOCUMENTATION"]
    assert doc["module"] == "pgloader_migrate"
    options = doc["options"]
    spec = mod.argument_spec()
    assert set(options) == set(spec)
    for name, arg in spec.items():
        o = options[name]
        assert o["type"] == arg["type"], name
        assert o.get("default") == arg.get("default"), name
        assert o.get("choices") == arg.get("choices"), name
        assert bool(o.get("required")) == bool(arg.get("required")), name
        assert o["description"], name
    assert spec["pg_password"]["no_log"] is True
    assert doc["attributes"]["check_mode"]["support"] == "full"


def test_examples_use_the_fqcn_and_documented_options():
    examples = _doc_blocks()["EXAMPLES"]
    options = set(mod.argument_spec())
    for task in examples:
        args = task["mlops.mlflow.pgloader_migrate"]
        assert set(args) <= options


# ---------------------------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------------------------


class Exit(Exception):
    def __init__(self, result):
        Exception.__init__(self, result.get("msg"))
        self.result = result


class Fail(Exit):
    pass


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise Exit(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs["msg"] = msg
    kwargs["failed"] = True
    raise Fail(kwargs)


class FakePsycopg2(object):
    class Error(Exception):
        pass


FKS = [("runs", "runs_experiment_id_fkey", "FOREIGN KEY (experiment_id) REFERENCES experiments"),
       ("params", "params_run_uuid_fkey", "FOREIGN KEY (run_uuid) REFERENCES runs(run_uuid)")]


class FakeTarget(object):
    """Stands for PostgreSQL. Tests set `state` before running the module."""

    state = None
    instances = []

    def __init__(self, module, settings):
        self.settings = settings
        self.loaded = False
        self.sequences_set = None
        FakeTarget.instances.append(self)

    def tables(self):
        return set(self.state["tables"])

    def revisions(self):
        return list(self.state["revision"])

    def counts(self, tables):
        counts = self.state["after"] if self.loaded else self.state["before"]
        return dict((t, counts.get(t, 0)) for t in tables)

    def seed_counts(self, tables):
        return dict((t, n) for t, n in self.state.get("seeds", {}).items() if t in tables)

    def foreign_keys(self):
        return list(self.state["fks_after"] if self.loaded else FKS)

    def replica_role_problem(self):
        return self.state.get("replica_problem")

    def set_sequences(self, tables):
        self.sequences_set = sorted(tables)
        return [dict(table="experiments", column="experiment_id",
                     sequence="public.experiments_experiment_id_seq", next_value=2)]

    def close(self):
        pass


SCHEMA = """
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name VARCHAR(256));
CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY, experiment_id INTEGER,
                   FOREIGN KEY (experiment_id) REFERENCES experiments (experiment_id));
CREATE TABLE params (key VARCHAR(250), run_uuid VARCHAR(32), PRIMARY KEY (key, run_uuid),
                     FOREIGN KEY (run_uuid) REFERENCES runs (run_uuid));
INSERT INTO alembic_version VALUES ('dc11669786a5');
INSERT INTO experiments VALUES (0, 'Default'), (1, 'exp');
INSERT INTO runs VALUES ('r1', 1);
INSERT INTO params VALUES ('lr', 'r1');
"""
SOURCE_COUNTS = {"experiments": 2, "runs": 1, "params": 1}
CLEAN_SUMMARY = ('"fetch meta data";5;5;0;0;"0.010s"\n"Truncate";3;3;0;0;"0.010s"\n'
                 '"experiments";2;2;0;40;"0.020s"\n"runs";1;1;0;20;"0.030s"\n'
                 '"params";1;1;0;10;"0.040s"\n"COPY Threads Completion";4;4;0;0;"0.1s"\n')


@pytest.fixture
def sqlite_db(tmp_path):
    path = tmp_path / "mlflow.db"
    conn = sqlite3.connect(str(path))
    conn.executescript(SCHEMA)
    conn.commit()
    conn.close()
    return str(path)


@pytest.fixture
def harness(monkeypatch, tmp_path):
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False, opt_dirs=None: "/usr/bin/" + name)
    monkeypatch.setattr(mod, "psycopg2", FakePsycopg2)
    monkeypatch.setattr(mod, "Target", FakeTarget)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # work directories kept on failure
    FakeTarget.instances = []
    FakeTarget.state = dict(
        tables=["alembic_version", "experiments", "runs", "params", "workspaces"],
        revision=["dc11669786a5"],
        before={"experiments": 1},            # the server's Default experiment
        seeds={"experiments": 1},
        after=dict(SOURCE_COUNTS),
        fks_after=list(FKS),
    )
    calls = []

    def fake_pgloader(summary=CLEAN_SUMMARY, rc=0):
        def run_command(self, args, environ_update=None, **kwargs):
            calls.append(dict(args=list(args), environ=dict(environ_update or {}),
                              load=Path(args[-1]).read_text(),
                              load_mode=os.stat(args[-1]).st_mode & 0o777))
            Path(args[args.index("--summary") + 1]).write_text(summary)
            Path(args[args.index("--logfile") + 1]).write_text("log\n")
            FakeTarget.instances[-1].loaded = True
            return rc, "stdout", "stderr"
        monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)

    fake_pgloader()

    def run(args, check_mode=False):
        args = dict(args)
        args.setdefault("pg_password", PASSWORD)
        if check_mode:
            args["_ansible_check_mode"] = True
        with patch_module_args(args):
            with pytest.raises(Exit) as excinfo:
                mod.main()
        return excinfo.value.result

    return dict(run=run, calls=calls, pgloader=fake_pgloader, state=FakeTarget.state)


# ---------------------------------------------------------------------------------------------
# Flows
# ---------------------------------------------------------------------------------------------


def test_clean_migration(harness, sqlite_db):
    result = harness["run"](dict(sqlite_path=sqlite_db, pg_host="db.internal"))
    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True
    assert result["action"] == "migrate"
    assert result["tables"]["runs"] == dict(source_rows=1, target_rows=1, seconds=0.03)
    assert result["total_rows"] == 4
    assert result["foreign_keys"] == dict(source=2, expected=2, before=2, after=2)
    assert result["sequences"][0]["next_value"] == 2
    assert FakeTarget.instances[-1].sequences_set == ["experiments", "params", "runs"]
    assert "summary_file" not in result  # temporary directory removed after success

    call = harness["calls"][0]
    assert call["environ"] == {"PGPASSWORD": PASSWORD}
    assert PASSWORD not in " ".join(call["args"])
    assert PASSWORD not in call["load"]
    assert PASSWORD not in json.dumps(result)
    assert call["load_mode"] == 0o600
    assert "INTO postgresql://mlflow@db.internal:5432/mlflow?sslmode=prefer" in call["load"]
    assert "no foreign keys" in call["load"]
    assert not os.path.exists(call["args"][-1])


def test_check_mode_reports_without_running_pgloader(harness, sqlite_db):
    result = harness["run"](dict(sqlite_path=sqlite_db), check_mode=True)
    assert result["changed"] is True
    assert result["msg"].startswith("would migrate 4 rows in 3 tables")
    assert result["tables"]["experiments"]["source_rows"] == 2
    assert harness["calls"] == []


def test_already_migrated_is_not_changed(harness, sqlite_db):
    harness["state"]["before"] = dict(SOURCE_COUNTS)
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["changed"] is False
    assert result["action"] == "skip"
    assert "already migrated" in result["msg"]
    assert harness["calls"] == []


def test_force_migrates_again(harness, sqlite_db):
    harness["state"]["before"] = dict(SOURCE_COUNTS)
    result = harness["run"](dict(sqlite_path=sqlite_db, force=True))
    assert result["changed"] is True
    assert len(harness["calls"]) == 1


def test_foreign_data_is_refused_without_truncate(harness, sqlite_db):
    harness["state"]["before"] = {"experiments": 5, "runs": 7}
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["failed"]
    assert "truncate=true" in result["msg"]
    assert harness["calls"] == []
    result = harness["run"](dict(sqlite_path=sqlite_db, truncate=True))
    assert result["changed"] is True


def test_orphan_row_is_refused_before_connecting(harness, sqlite_db):
    conn = sqlite3.connect(sqlite_db)
    conn.execute("INSERT INTO params VALUES ('ghost', 'no-such-run')")
    conn.commit()
    conn.close()
    result = harness["run"](dict(sqlite_path=sqlite_db, truncate=True, force=True))
    assert result["failed"]
    assert "foreign_key_check" in result["msg"]
    assert result["fk_violations"] == [dict(table="params", rowid=2, parent="runs", fkid=0)]
    assert FakeTarget.instances == []
    assert harness["calls"] == []


def test_revision_mismatch_is_refused(harness, sqlite_db):
    harness["state"]["revision"] = ["bf29a5ff90ea"]
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["failed"]
    assert "mlflow db upgrade sqlite:///" in result["msg"]
    assert harness["calls"] == []


def test_missing_file_is_refused(harness, tmp_path):
    path = str(tmp_path / "nope.db")
    result = harness["run"](dict(sqlite_path=path))
    assert result["failed"] and "does not exist" in result["msg"]
    assert not os.path.exists(path)


def test_target_without_mlflow_schema(harness, sqlite_db):
    harness["state"]["tables"] = ["something_else"]
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["failed"] and "no MLflow schema" in result["msg"]


def test_target_missing_a_table(harness, sqlite_db):
    harness["state"]["tables"] = ["alembic_version", "experiments", "runs"]
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["failed"] and "params" in result["msg"]


def test_replica_role_privilege_is_checked_first(harness, sqlite_db):
    harness["state"]["replica_problem"] = 'permission denied to set parameter "session_replication_role"'
    result = harness["run"](dict(sqlite_path=sqlite_db), check_mode=True)
    assert result["failed"]
    assert "GRANT SET ON PARAMETER session_replication_role TO mlflow" in result["msg"]
    result = harness["run"](dict(sqlite_path=sqlite_db, foreign_keys="recreate"))
    assert result["changed"] is True
    load = harness["calls"][0]["load"]
    assert "session_replication_role" not in load and "foreign keys" not in load


def test_target_that_lost_foreign_keys_is_refused(harness, sqlite_db):
    result = harness["run"](dict(sqlite_path=sqlite_db, expected_foreign_keys=3))
    assert result["failed"] and "3 are expected" in result["msg"]
    assert harness["calls"] == []


@pytest.mark.parametrize("fixture_name, expected", [
    ("summary_row_error.csv", "experiments: read 5, imported 0, errors 1"),
    ("summary_fk_error.csv", "Create Foreign Keys: read 57, imported 56, errors 1"),
])
def test_exit_code_zero_with_errors_in_the_summary_fails(harness, sqlite_db, fixture_name,
                                                         expected):
    harness["pgloader"](summary=(FIXTURES / fixture_name).read_text(), rc=0)
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["failed"]
    assert "NOT complete although pgloader exited 0" in result["msg"]
    assert expected in result["mismatches"]["summary"]
    assert os.path.exists(result["log_file"])  # kept for the post-mortem
    assert "sequences" not in result


def test_row_count_mismatch_fails(harness, sqlite_db):
    harness["state"]["after"] = {"experiments": 0, "runs": 1, "params": 1}
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["failed"]
    assert result["mismatches"]["counts"] == [dict(table="experiments", source=2, target=0)]


def test_lost_foreign_key_fails(harness, sqlite_db):
    harness["state"]["fks_after"] = FKS[:1]
    result = harness["run"](dict(sqlite_path=sqlite_db, foreign_keys="recreate"))
    assert result["failed"]
    assert result["mismatches"]["missing_foreign_keys"] == [
        dict(table="params", name="params_run_uuid_fkey", definition=FKS[1][2])]
    assert "re-creating the lost constraints" in result["msg"]


def test_nonzero_exit_code_fails(harness, sqlite_db):
    harness["pgloader"](rc=1)
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["failed"] and result["rc"] == 1
    assert result["stderr"] == "stderr"


def test_log_dir_and_keep_load_file(harness, sqlite_db, tmp_path):
    log_dir = tmp_path / "logs"
    result = harness["run"](dict(sqlite_path=sqlite_db, log_dir=str(log_dir), keep_load_file=True))
    assert result["changed"] is True
    for key in ("summary_file", "log_file", "load_file"):
        assert os.path.dirname(result[key]) == str(log_dir)
        assert os.path.exists(result[key])
    assert PASSWORD not in Path(result["load_file"]).read_text()


def test_missing_psycopg2(harness, sqlite_db, monkeypatch):
    monkeypatch.setattr(mod, "psycopg2", None)
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["failed"] and "psycopg2" in result["msg"]


# ---------------------------------------------------------------------------------------------
# Connection settings
# ---------------------------------------------------------------------------------------------


def test_uri_with_password_is_refused(harness, sqlite_db):
    result = harness["run"](dict(sqlite_path=sqlite_db,
                                 pg_uri="postgresql://mlflow:secret@db/mlflow"))
    assert result["failed"] and "must not contain a password" in result["msg"]
    assert "secret" not in result["msg"]


def test_uri_and_host_are_exclusive(harness, sqlite_db):
    result = harness["run"](dict(sqlite_path=sqlite_db, pg_uri="postgresql://mlflow@db/mlflow",
                                 pg_host="db"))
    assert result["failed"] and "mutually exclusive" in result["msg"]


def test_uri_settings_reach_the_load_file(harness, sqlite_db):
    result = harness["run"](dict(sqlite_path=sqlite_db,
                                 pg_uri="postgresql://ml_user@db.internal:6432/ml?sslmode=require"))
    assert result["changed"] is True
    assert FakeTarget.instances[0].settings == dict(
        host="db.internal", port=6432, database="ml", user="ml_user", password=PASSWORD,
        sslmode="require")
    assert "INTO postgresql://ml_user@db.internal:6432/ml?sslmode=require" in harness["calls"][0]["load"]


def test_values_pgloader_cannot_parse_are_refused(harness, sqlite_db):
    result = harness["run"](dict(sqlite_path=sqlite_db, pg_user="ml@flow"))
    assert result["failed"] and "user name" in result["msg"]
