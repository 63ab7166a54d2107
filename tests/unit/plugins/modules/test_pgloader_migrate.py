# -*- coding: utf-8 -*-
"""Unit tests of the mlops.mlflow.pgloader_migrate module (plain pytest).

No PostgreSQL and no pgloader: the PostgreSQL side (class Target) is replaced by a fake that holds
counts and foreign keys, and run_command by a fake pgloader that writes one of the real pgloader
3.6.9 summaries kept under tests/unit/fixtures/pgloader/. The SQLite side is a real file made by
the test. What is asserted is what a user sees: changed, msg, failures and what reaches pgloader.
"""
from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlops.mlflow.plugins.module_utils import pgloader as pl
from ansible_collections.mlops.mlflow.plugins.modules import pgloader_migrate as mod
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules.module_checks import DocumentationTests
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules.module_harness import patch_exits, run_main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pgloader"
PASSWORD = "s3cr3t!pw"

# ---------------------------------------------------------------------------------------------
# Documentation against the argument spec (what ansible-test sanity's validate-modules checks)
# ---------------------------------------------------------------------------------------------


class TestDocumentation(DocumentationTests):
    module = mod
    no_log = ("pg_password",)


# ---------------------------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------------------------


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
        self.sqlite_path = module.params["sqlite_path"]
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

    def not_owned(self, tables):
        return sorted(t for t in self.state.get("not_owned", []) if t in tables)

    def column_types(self, tables):
        return dict((t, c) for t, c in self.state["column_types"].items() if t in tables)

    def content_hashes(self, plan):
        # PostgreSQL's content is stood in for by a SQLite file: the source itself unless a test
        # says otherwise (`target_db` before the load, `target_db_after` after it).
        key = "target_db_after" if self.loaded else "target_db"
        self.hashed = getattr(self, "hashed", 0) + 1
        return pl.sqlite_content_hashes(self.state.get(key) or self.sqlite_path, plan)

    def sequence_states(self, tables):
        return [s for s in self.state.get("sequence_states", []) if s["table"] in tables]

    def set_sequences(self, tables, only=None):
        self.sequences_set = sorted(tables)
        self.sequences_only = only
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
COLUMN_TYPES = {
    "experiments": {"experiment_id": "integer", "name": "character varying"},
    "runs": {"run_uuid": "character varying", "experiment_id": "integer"},
    "params": {"key": "character varying", "run_uuid": "character varying"},
}
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
    patch_exits(monkeypatch)
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
        column_types=dict(COLUMN_TYPES),
    )
    calls = []

    def fake_pgloader(summary=CLEAN_SUMMARY, rc=0):
        def run_command(self, args, environ_update=None, **kwargs):
            calls.append(dict(args=list(args), environ=dict(environ_update or {}),
                              load=Path(args[-1]).read_text(),
                              load_mode=os.stat(args[-1]).st_mode & 0o777,
                              umask=kwargs.get("umask")))
            Path(args[args.index("--summary") + 1]).write_text(summary)
            Path(args[args.index("--logfile") + 1]).write_text("log\n")
            FakeTarget.instances[-1].loaded = True
            return rc, "stdout", "stderr"
        monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)

    fake_pgloader()

    def run(args, check_mode=False):
        args = dict(args)
        args.setdefault("pg_password", PASSWORD)
        return run_main(mod.main, args, check_mode)

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


REPLICA_DENIED = 'permission denied to set parameter "session_replication_role"'


def test_keep_refusal_says_which_right_is_missing_and_how_each_provider_grants_it(harness, sqlite_db):
    harness["state"]["replica_problem"] = REPLICA_DENIED
    for check_mode in (True, False):
        result = harness["run"](dict(sqlite_path=sqlite_db, foreign_keys="keep"), check_mode=check_mode)
        assert result["failed"]
        msg = result["msg"]
        assert "Missing right: SET on the parameter session_replication_role" in msg
        assert "GRANT SET ON PARAMETER session_replication_role TO mlflow" in msg
        assert "GRANT rds_superuser TO mlflow" in msg and "REVOKE rds_superuser FROM mlflow" in msg
        assert "azure_pg_admin" in msg
        assert "foreign_keys=recreate (or auto)" in msg
        assert "action" not in result  # a refusal never reads as a plan to migrate
    assert harness["calls"] == []


def test_auto_keeps_the_foreign_keys_when_the_user_may_set_the_replica_role(harness, sqlite_db):
    result = harness["run"](dict(sqlite_path=sqlite_db, foreign_keys="auto"))
    assert result["changed"] is True
    assert result["foreign_keys_mode"] == "keep"
    assert "foreign keys kept" in result["msg"]
    load = harness["calls"][0]["load"]
    assert "no foreign keys" in load and "session_replication_role = 'replica'" in load


def test_auto_lets_pgloader_recreate_the_foreign_keys_on_a_managed_database(harness, sqlite_db):
    """RDS / Azure flexible server: the owner may not set session_replication_role."""
    harness["state"]["replica_problem"] = REPLICA_DENIED
    plan = harness["run"](dict(sqlite_path=sqlite_db, foreign_keys="auto"), check_mode=True)
    assert plan["changed"] is True and plan["foreign_keys_mode"] == "recreate"
    assert "re-created by pgloader (user mlflow may not set session_replication_role)" in plan["msg"]
    assert harness["calls"] == []
    result = harness["run"](dict(sqlite_path=sqlite_db, foreign_keys="auto"))
    assert result["changed"] is True and result["foreign_keys_mode"] == "recreate"
    assert result["foreign_keys"]["after"] == 2
    load = harness["calls"][0]["load"]
    assert "session_replication_role" not in load and "foreign keys" not in load
    assert "disable triggers" not in load


@pytest.mark.parametrize("foreign_keys, replica_problem", [
    ("recreate", None), ("auto", REPLICA_DENIED)])
def test_recreate_without_owning_the_tables_is_refused_before_the_load(harness, sqlite_db,
                                                                       foreign_keys, replica_problem):
    # measured: pgloader logs "must be owner of table runs", loads nothing and exits 0
    harness["state"]["replica_problem"] = replica_problem
    harness["state"]["not_owned"] = ["runs", "params"]
    result = harness["run"](dict(sqlite_path=sqlite_db, foreign_keys=foreign_keys), check_mode=True)
    assert result["failed"]
    assert result["not_owned"] == ["params", "runs"]
    assert "Missing right: ownership" in result["msg"] and "params, runs" in result["msg"]
    assert ("session_replication_role" in result["msg"]) == (foreign_keys == "auto")
    assert "foreign_keys=recreate (or auto)" not in result["msg"]
    assert harness["calls"] == []


def test_auto_with_the_replica_role_needs_no_ownership(harness, sqlite_db):
    harness["state"]["not_owned"] = ["runs"]
    result = harness["run"](dict(sqlite_path=sqlite_db, foreign_keys="auto"))
    assert result["changed"] is True and result["foreign_keys_mode"] == "keep"


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
    workdir = os.path.dirname(result["load_file"])
    assert os.path.dirname(workdir) == str(log_dir)  # a private directory per run inside log_dir
    for key in ("summary_file", "log_file", "load_file"):
        assert os.path.dirname(result[key]) == workdir
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
        sslmode="require", ca_cert=None)
    assert "INTO postgresql://ml_user@db.internal:6432/ml?sslmode=require" in harness["calls"][0]["load"]


@pytest.fixture
def ca_file(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    return str(path)


@pytest.mark.parametrize("sslmode", ["verify-full", "verify-ca"])
def test_verify_modes_and_the_ca_reach_libpq_and_pgloader(harness, sqlite_db, ca_file, sslmode):
    """Before: verify-ca / verify-full were refused by the argument spec, and no CA could be given."""
    result = harness["run"](dict(sqlite_path=sqlite_db, pg_host="db.example.com", pg_sslmode=sslmode,
                                 pg_ca_cert=ca_file))
    assert result["changed"] is True, result["msg"]
    settings = FakeTarget.instances[0].settings
    assert settings["sslmode"] == sslmode and settings["ca_cert"] == ca_file
    kwargs = mod.connect_kwargs(settings, 10)
    assert kwargs["sslmode"] == sslmode and kwargs["sslrootcert"] == ca_file
    call = harness["calls"][0]
    # pgloader 3.6.9's grammar knows no verify-*: `require` verifies the chain against SSL_CERT_FILE
    assert "INTO postgresql://mlflow@db.example.com:5432/mlflow?sslmode=require" in call["load"]
    assert call["environ"] == {"PGPASSWORD": PASSWORD, "SSL_CERT_FILE": ca_file}


def test_verify_full_in_the_uri(harness, sqlite_db, ca_file):
    result = harness["run"](dict(sqlite_path=sqlite_db, pg_ca_cert=ca_file,
                                 pg_uri="postgresql://mlflow@db.example.com/mlflow?sslmode=verify-full"))
    assert result["changed"] is True, result["msg"]
    assert FakeTarget.instances[0].settings["sslmode"] == "verify-full"
    assert "?sslmode=require" in harness["calls"][0]["load"]


def test_without_a_ca_nothing_is_added(harness, sqlite_db):
    harness["run"](dict(sqlite_path=sqlite_db, pg_sslmode="require"))
    assert "sslrootcert" not in mod.connect_kwargs(FakeTarget.instances[0].settings, 10)
    assert harness["calls"][0]["environ"] == {"PGPASSWORD": PASSWORD}


@pytest.mark.parametrize("ca, sslmode, expected", [
    ("missing", "verify-full", "pg_ca_cert must be the absolute path of a readable PEM file"),
    ("relative", "verify-full", "pg_ca_cert must be the absolute path of a readable PEM file"),
    ("ok", "disable", "pg_ca_cert is given but sslmode is disable"),
])
def test_unusable_ca_settings_are_refused_before_connecting(harness, sqlite_db, ca_file, tmp_path,
                                                            ca, sslmode, expected):
    path = dict(missing=str(tmp_path / "nope.pem"), relative="ca.pem", ok=ca_file)[ca]
    result = harness["run"](dict(sqlite_path=sqlite_db, pg_sslmode=sslmode, pg_ca_cert=path))
    assert result["failed"] and expected in result["msg"]
    assert FakeTarget.instances == []


def test_values_pgloader_cannot_parse_are_refused(harness, sqlite_db):
    result = harness["run"](dict(sqlite_path=sqlite_db, pg_user="ml@flow"))
    assert result["failed"] and "user name" in result["msg"]


# ---------------------------------------------------------------------------------------------
# Review finding 3: "already migrated" decided by content, not by row counts alone
# ---------------------------------------------------------------------------------------------


def altered_copy(sqlite_db, tmp_path, sql, name="target.db"):
    """A copy of the source with `sql` applied: stands for a PostgreSQL target holding it."""
    path = tmp_path / name
    src = sqlite3.connect(sqlite_db)
    dst = sqlite3.connect(str(path))
    src.backup(dst)
    src.close()
    dst.executescript(sql)
    dst.commit()
    dst.close()
    return str(path)


SAME_COUNTS_OTHER_CONTENT = [
    # the target was changed after the migration
    "UPDATE experiments SET name = 'TAMPERED' WHERE experiment_id = 1;",
    # another store of the same size
    "PRAGMA foreign_keys = OFF; UPDATE runs SET run_uuid = 'r9'; UPDATE params SET run_uuid = 'r9';",
]


@pytest.mark.parametrize("change", SAME_COUNTS_OTHER_CONTENT)
def test_same_counts_but_other_content_is_not_already_migrated(harness, sqlite_db, tmp_path,
                                                               change):
    harness["state"]["before"] = dict(SOURCE_COUNTS)
    harness["state"]["target_db"] = altered_copy(sqlite_db, tmp_path, change)
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["failed"]
    assert result["action"] == "fail"
    assert "same row counts" in result["msg"] and "truncate=true" in result["msg"]
    assert harness["calls"] == []


@pytest.mark.parametrize("change", SAME_COUNTS_OTHER_CONTENT)
def test_force_without_truncate_never_replaces_other_content(harness, sqlite_db, tmp_path, change):
    harness["state"]["before"] = dict(SOURCE_COUNTS)
    harness["state"]["target_db"] = altered_copy(sqlite_db, tmp_path, change)
    result = harness["run"](dict(sqlite_path=sqlite_db, force=True))
    assert result["failed"] and "truncate=true" in result["msg"]
    assert harness["calls"] == []
    result = harness["run"](dict(sqlite_path=sqlite_db, force=True, truncate=True))
    assert result["changed"] is True and len(harness["calls"]) == 1


def test_already_migrated_compares_content_and_returns_the_fingerprint(harness, sqlite_db):
    harness["state"]["before"] = dict(SOURCE_COUNTS)
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert (result["action"], result["changed"]) == ("skip", False)
    assert FakeTarget.instances[-1].hashed == 1
    assert len(result["fingerprint"]) == 64
    migrated = harness["run"](dict(sqlite_path=sqlite_db, force=True))
    assert migrated["changed"] is True
    assert migrated["fingerprint"] == result["fingerprint"]


def test_content_that_differs_after_the_load_fails(harness, sqlite_db, tmp_path):
    harness["state"]["target_db_after"] = altered_copy(
        sqlite_db, tmp_path, "UPDATE experiments SET name = 'x' WHERE experiment_id = 1;")
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["failed"]
    assert result["mismatches"]["content"] == ["experiments"]
    assert "content differs" in result["msg"]
    assert "sequences" not in result


def test_a_column_missing_in_postgresql_is_refused_before_the_load(harness, sqlite_db):
    harness["state"]["column_types"] = dict(COLUMN_TYPES, params={"key": "character varying"})
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["failed"] and "params.run_uuid" in result["msg"]
    assert harness["calls"] == []


# ---------------------------------------------------------------------------------------------
# Review finding 4: a skipped run checks (and fixes) the sequences
# ---------------------------------------------------------------------------------------------

BEHIND = [dict(table="experiments", column="experiment_id",
               sequence="public.experiments_experiment_id_seq", last_value=1, is_called=False,
               increment=1, max_value=1)]


def test_skip_fixes_a_sequence_left_behind(harness, sqlite_db):
    harness["state"]["before"] = dict(SOURCE_COUNTS)
    harness["state"]["sequence_states"] = BEHIND
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert not result.get("failed"), result["msg"]
    assert (result["action"], result["changed"]) == ("skip", True)
    assert "public.experiments_experiment_id_seq" in result["msg"]
    assert result["sequences"][0]["next_value"] == 2
    assert FakeTarget.instances[-1].sequences_only == {("experiments", "experiment_id")}
    assert harness["calls"] == []


def test_skip_in_check_mode_reports_the_sequence_without_fixing_it(harness, sqlite_db):
    harness["state"]["before"] = dict(SOURCE_COUNTS)
    harness["state"]["sequence_states"] = BEHIND
    result = harness["run"](dict(sqlite_path=sqlite_db), check_mode=True)
    assert (result["action"], result["changed"]) == ("skip", True)
    assert result["sequences"] == [dict(table="experiments", column="experiment_id",
                                        sequence="public.experiments_experiment_id_seq",
                                        next_value=2)]
    assert FakeTarget.instances[-1].sequences_set is None


def test_skip_with_sequences_false_fails_on_a_sequence_left_behind(harness, sqlite_db):
    harness["state"]["before"] = dict(SOURCE_COUNTS)
    harness["state"]["sequence_states"] = BEHIND
    result = harness["run"](dict(sqlite_path=sqlite_db, sequences=False))
    assert result["failed"]
    assert "duplicate key" in result["msg"]
    assert FakeTarget.instances[-1].sequences_set is None


def test_skip_with_sequences_in_order_changes_nothing(harness, sqlite_db):
    harness["state"]["before"] = dict(SOURCE_COUNTS)
    harness["state"]["sequence_states"] = [dict(BEHIND[0], last_value=2)]
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert (result["action"], result["changed"]) == ("skip", False)
    assert FakeTarget.instances[-1].sequences_set is None


# ---------------------------------------------------------------------------------------------
# Review finding 5: a password inside pg_uri never reaches the result (real fail_json output)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    dict(pg_uri="postgresql://mlflow:Secr3tPw@db/mlflow"),
    dict(pg_uri="postgresql://mlflow:Secr%40tPw@db/mlflow"),
    dict(pg_uri="postgresql://mlflow:Secr3tPw@db:99999/mlflow"),           # invalid port
    dict(pg_uri="postgresql://mlflow:Secr3tPw@db/mlflow?application_name=x"),
    dict(pg_uri="postgresql://mlflow:pa/Secr3tPw@db/mlflow"),              # unencoded slash
    dict(pg_uri="postgresql://mlflow:Secr3tPw@db/mlflow", pg_host="db"),   # AnsibleModule refuses
    dict(pg_uri="postgresql://mlflow:Secr3tPw@db/mlflow", workers="many"),
])
def test_password_in_pg_uri_never_reaches_the_result(sqlite_db, capsys, args):
    with patch_module_args(dict(sqlite_path=sqlite_db, **args)):
        with pytest.raises(SystemExit) as excinfo:
            mod.main()
    assert excinfo.value.code == 1
    out = capsys.readouterr().out
    result = json.loads(out)
    assert result["failed"] is True
    for secret in ("Secr3tPw", "Secr%40tPw", "Secr@tPw"):
        assert secret not in out


# ---------------------------------------------------------------------------------------------
# Review finding 14: private work files
# ---------------------------------------------------------------------------------------------


def test_work_files_are_private_and_not_at_a_predictable_name(harness, sqlite_db, tmp_path,
                                                              monkeypatch):
    log_dir = tmp_path / "logs"
    log_dir.mkdir(mode=0o755)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    # Links planted at the names an earlier version used: pgloader-<time>-<pid>.{load,csv,log}
    monkeypatch.setattr(mod.time, "strftime", lambda fmt, *args: "20250101T000000")
    for ext in ("load", "csv", "log"):
        (log_dir / ("pgloader-20250101T000000-%d.%s" % (os.getpid(), ext))).symlink_to(victim)
    result = harness["run"](dict(sqlite_path=sqlite_db, log_dir=str(log_dir), keep_load_file=True))
    assert not result.get("failed"), result["msg"]
    assert victim.read_text() == "keep"
    call = harness["calls"][0]
    assert call["umask"] == 0o077          # pgloader's reject files and directories: private
    assert call["load_mode"] == 0o600
    workdir = os.path.dirname(result["load_file"])
    assert os.path.dirname(workdir) == str(log_dir)
    assert os.stat(workdir).st_mode & 0o777 == 0o700
    assert call["args"][call["args"].index("--root-dir") + 1] == workdir
    for key in ("summary_file", "log_file"):
        assert os.path.dirname(result[key]) == workdir


def test_temporary_work_dir_is_private_and_removed(harness, sqlite_db, monkeypatch):
    seen = {}
    real = mod.os.path.isdir

    def spy_run_command(self, args, environ_update=None, **kwargs):
        workdir = args[args.index("--root-dir") + 1]
        seen["mode"] = os.stat(workdir).st_mode & 0o777
        seen["workdir"] = workdir
        seen["umask"] = kwargs.get("umask")
        Path(args[args.index("--summary") + 1]).write_text(CLEAN_SUMMARY)
        FakeTarget.instances[-1].loaded = True
        return 0, "", ""
    monkeypatch.setattr(basic.AnsibleModule, "run_command", spy_run_command)
    result = harness["run"](dict(sqlite_path=sqlite_db))
    assert result["changed"] is True
    assert seen["mode"] == 0o700 and seen["umask"] == 0o077
    assert not real(seen["workdir"])


# ---------------------------------------------------------------------------------------------
# Against a real PostgreSQL and a real pgloader
#
# A throw-away cluster (initdb in a temporary directory, 127.0.0.1 on a free port, scram
# passwords) is started once per session when the server binaries and pgloader are installed
# (Debian: `apt-get install postgresql pgloader`; `make prereqs` installs both); otherwise these
# tests are skipped with the reason. As root, the cluster runs as the `postgres` user.
# The schema is a small MLflow look-alike with the column types MLflow 3.17 uses in PostgreSQL
# (serial, bigint, boolean, double precision, varchar, json, date, bytea).
# ---------------------------------------------------------------------------------------------

PG_PASSWORD = "Pw-for-the-test-cluster-1"

PG_SCHEMA = """
CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);
CREATE TABLE experiments (experiment_id SERIAL PRIMARY KEY, name VARCHAR(256) NOT NULL UNIQUE,
                          creation_time BIGINT, tags_json JSON, rollup_day DATE);
CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY, name VARCHAR(250),
                   experiment_id INTEGER REFERENCES experiments (experiment_id),
                   deleted BOOLEAN, start_time BIGINT);
CREATE TABLE metrics (key VARCHAR(250) NOT NULL, value DOUBLE PRECISION NOT NULL,
                      timestamp BIGINT NOT NULL, run_uuid VARCHAR(32) NOT NULL REFERENCES runs,
                      step BIGINT NOT NULL, is_nan BOOLEAN NOT NULL,
                      PRIMARY KEY (key, timestamp, step, run_uuid, value, is_nan));
CREATE TABLE secrets (id SERIAL PRIMARY KEY, encrypted_value BYTEA NOT NULL, weight FLOAT);
INSERT INTO alembic_version VALUES ('dc11669786a5');
INSERT INTO experiments (experiment_id, name, creation_time) VALUES (0, 'Default', 1);
"""

SQLITE_SCHEMA = """
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, PRIMARY KEY (version_num));
CREATE TABLE experiments (experiment_id INTEGER NOT NULL, name VARCHAR(256) NOT NULL,
                          creation_time BIGINT, tags_json JSON, rollup_day DATE,
                          PRIMARY KEY (experiment_id), UNIQUE (name));
CREATE TABLE runs (run_uuid VARCHAR(32) NOT NULL, name VARCHAR(250), experiment_id INTEGER,
                   deleted BOOLEAN, start_time BIGINT, PRIMARY KEY (run_uuid),
                   FOREIGN KEY (experiment_id) REFERENCES experiments (experiment_id));
CREATE TABLE metrics (key VARCHAR(250) NOT NULL, value FLOAT NOT NULL, timestamp BIGINT NOT NULL,
                      run_uuid VARCHAR(32) NOT NULL, step BIGINT NOT NULL, is_nan BOOLEAN NOT NULL,
                      PRIMARY KEY (key, timestamp, step, run_uuid, value, is_nan),
                      FOREIGN KEY (run_uuid) REFERENCES runs (run_uuid));
CREATE TABLE secrets (id INTEGER NOT NULL PRIMARY KEY, encrypted_value BLOB NOT NULL, weight FLOAT);
INSERT INTO alembic_version VALUES ('dc11669786a5');
"""

SQLITE_ROWS = {
    "experiments": [(0, "Default", 1, None, None),
                    (1, "exp ☃", 2, '{"b": 1,  "a": [1, 2]}', "2025-11-30"),
                    (2, "it's", 3, None, None)],
    "runs": [("r1", "run one", 1, 0, 10), ("r2", None, 1, 1, 11), ("r3", "run three", 2, 0, 12)],
    # MLflow stores +-inf as +-DBL_MAX and NaN as 0 with is_nan (pgloader 3.6 cannot COPY an
    # infinite double: "#.DOUBLE-FLOAT-POSITIVE-INFINITY", the table is lost, exit code 0)
    "metrics": [("loss", 0.1, 100, "r1", 0, 0), ("loss", 1.7976931348623157e308, 101, "r1", 1, 0),
                ("loss", -1.7976931348623157e308, 103, "r1", 3, 0),
                ("loss", 0.0, 102, "r1", 2, 1), ("acc", -1e-300, 100, "r2", 0, 0),
                ("acc", 1.0, 100, "r3", 0, 0), ("big", 1e15, 100, "r3", 0, 0),
                ("odd", 0.30000000000000004, 100, "r3", 0, 0)],
    "secrets": [(1, b"\x00\xff\x10", 1.5)],
}


def make_sqlite_store(path, rows=None):
    rows = rows or SQLITE_ROWS
    conn = sqlite3.connect(str(path))
    conn.executescript(SQLITE_SCHEMA)
    for table, values in rows.items():
        conn.executemany("INSERT INTO %s VALUES (%s)" % (table, ", ".join("?" * len(values[0]))),
                         values)
    conn.commit()
    conn.close()
    return str(path)


def _pg_bindir():
    candidates = [os.environ.get("PG_BINDIR")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if shutil.which("initdb"):
        candidates.append(os.path.dirname(os.path.realpath(shutil.which("initdb"))))
    for d in candidates:
        if d and all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl")):
            return d
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql "
                    "(make prereqs installs it)")
    if not shutil.which("pgloader"):
        pytest.skip("no pgloader in PATH: apt-get install pgloader (make prereqs installs it)")
    try:
        import psycopg  # noqa: F401  (requirements-test.txt)
    except ImportError:
        pytest.skip("psycopg (3) is not installed: pip install -r requirements-test.txt")
    prefix = []
    base = tempfile.mkdtemp(prefix="pgloader-migrate-pg.")
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the cluster")
        if not shutil.which("runuser"):
            pytest.skip("running as root and there is no runuser to start the cluster as postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    pwfile = os.path.join(base, "pw")
    with open(pwfile, "w") as f:
        f.write(PG_PASSWORD + "\n")
    if prefix:
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    data = os.path.join(base, "data")
    port = _free_port()

    def pg(*argv):
        return subprocess.run(prefix + [os.path.join(bindir, argv[0])] + list(argv[1:]),
                              capture_output=True, text=True)

    r = pg("initdb", "-D", data, "-U", "postgres", "-E", "UTF8", "--locale=C",
           "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwfile)
    if r.returncode:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail("initdb failed: %s" % r.stderr)
    r = pg("pg_ctl", "-D", data, "-l", os.path.join(base, "log"), "-w", "-t", "60", "-o",
           "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c full_page_writes=off"
           % (port, base), "start")
    if r.returncode:
        log = open(os.path.join(base, "log")).read() if os.path.exists(os.path.join(base, "log")) else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail("the test cluster did not start: %s %s" % (r.stderr, log))
    server = dict(host="127.0.0.1", port=port, counter=[0])
    admin = _pg_connect(server, "postgres", "postgres")
    admin.execute("CREATE ROLE mlflow LOGIN PASSWORD %s" % _literal(PG_PASSWORD))
    admin.execute("GRANT SET ON PARAMETER session_replication_role TO mlflow")
    admin.close()
    try:
        yield server
    finally:
        pg("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _literal(text):
    return "'" + text.replace("'", "''") + "'"


def _pg_connect(server, dbname, user="mlflow"):
    import psycopg
    return psycopg.connect(host=server["host"], port=server["port"], dbname=dbname, user=user,
                           password=PG_PASSWORD, autocommit=True)


class _Psycopg3AsPsycopg2(object):
    """psycopg2's API as far as the module uses it, on psycopg 3 (client-side binding like psycopg2)."""

    def __init__(self):
        import psycopg
        self.psycopg = psycopg
        self.Error = psycopg.Error

    def connect(self, **kwargs):
        return self.psycopg.connect(cursor_factory=self.psycopg.ClientCursor, **kwargs)


@pytest.fixture
def pg_db(pg_server):
    """A fresh database holding the look-alike schema, owned by mlflow, with its seed row."""
    pg_server["counter"][0] += 1
    name = "mlflow_%d_%d" % (os.getpid(), pg_server["counter"][0])
    admin = _pg_connect(pg_server, "postgres", "postgres")
    admin.execute("CREATE DATABASE %s OWNER mlflow" % name)
    admin.close()
    conn = _pg_connect(pg_server, name)
    conn.execute(PG_SCHEMA)
    yield dict(pg_server, database=name, conn=conn)
    conn.close()


@pytest.fixture
def real_run(monkeypatch, pg_db, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # work directories kept on failure
    patch_exits(monkeypatch)
    if mod.psycopg2 is None:
        monkeypatch.setattr(mod, "psycopg2", _Psycopg3AsPsycopg2())

    def run(args, check_mode=False):
        args = dict(args, pg_host=pg_db["host"], pg_port=pg_db["port"],
                    pg_database=pg_db["database"], pg_user="mlflow", pg_password=PG_PASSWORD,
                    pg_sslmode="disable")
        return run_main(mod.main, args, check_mode)
    return run


def _rows(conn, sql):
    return conn.execute(sql).fetchall()


def test_db_tampered_target_is_not_already_migrated(real_run, pg_db, tmp_path):
    db = make_sqlite_store(tmp_path / "mlflow.db")
    conn = pg_db["conn"]
    result = real_run(dict(sqlite_path=db))
    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True and result["total_rows"] == 15
    # the content check right after a real pgloader load: NaN/Inf, booleans, json, bytea ...
    again = real_run(dict(sqlite_path=db))
    assert (again["action"], again["changed"]) == ("skip", False), again["msg"]
    assert again["fingerprint"] == result["fingerprint"]

    conn.execute("UPDATE runs SET name = 'TAMPERED' WHERE run_uuid = 'r1'")
    tampered = real_run(dict(sqlite_path=db))
    assert tampered["failed"] and "runs" in tampered["msg"] and "truncate=true" in tampered["msg"]
    forced = real_run(dict(sqlite_path=db, force=True))
    assert forced["failed"] and "truncate=true" in forced["msg"]
    assert _rows(conn, "SELECT name FROM runs WHERE run_uuid = 'r1'") == [("TAMPERED",)]

    replaced = real_run(dict(sqlite_path=db, truncate=True))
    assert replaced["changed"] is True, replaced["msg"]
    assert _rows(conn, "SELECT name FROM runs WHERE run_uuid = 'r1'") == [("run one",)]


def test_db_another_store_with_the_same_counts_is_refused(real_run, pg_db, tmp_path):
    first = make_sqlite_store(tmp_path / "a.db")
    rows = dict(SQLITE_ROWS)
    rows["runs"] = [(u, "other " + str(n), e, d, t) for u, n, e, d, t in SQLITE_ROWS["runs"]]
    other = make_sqlite_store(tmp_path / "b.db", rows)
    assert real_run(dict(sqlite_path=first))["changed"] is True
    for args in (dict(), dict(force=True)):
        result = real_run(dict(sqlite_path=other, **args))
        assert result["failed"], args
        assert "same row counts" in result["msg"] and "runs" in result["msg"]
    assert _rows(pg_db["conn"], "SELECT name FROM runs WHERE run_uuid = 'r1'") == [("run one",)]


def test_db_skip_repairs_a_sequence_left_behind(real_run, pg_db, tmp_path):
    db = make_sqlite_store(tmp_path / "mlflow.db")
    conn = pg_db["conn"]
    assert real_run(dict(sqlite_path=db))["changed"] is True
    conn.execute("SELECT setval('experiments_experiment_id_seq', 2, false)")

    planned = real_run(dict(sqlite_path=db), check_mode=True)
    assert (planned["action"], planned["changed"]) == ("skip", True), planned["msg"]
    assert _rows(conn, "SELECT last_value, is_called FROM experiments_experiment_id_seq") == [
        (2, False)]
    refused = real_run(dict(sqlite_path=db, sequences=False))
    assert refused["failed"] and "experiments_experiment_id_seq" in refused["msg"]

    fixed = real_run(dict(sqlite_path=db))
    assert (fixed["action"], fixed["changed"]) == ("skip", True), fixed["msg"]
    assert fixed["sequences"] == [dict(table="experiments", column="experiment_id",
                                       sequence="public.experiments_experiment_id_seq",
                                       next_value=3)]
    conn.execute("INSERT INTO experiments (name) VALUES ('created after the migration')")
    assert real_run(dict(sqlite_path=db, truncate=True))["changed"] is True
    assert real_run(dict(sqlite_path=db))["changed"] is False


def test_db_pgloader_reject_files_are_private(real_run, pg_db, tmp_path):
    # pgloader 3.6 (SQLite source) loses the batch, creates a reject directory per table under
    # --root-dir and writes the rejected value into its log (CONTEXT: COPY runs, ... "xxx...").
    # Everything it creates must be private (0700/0600), whatever log_dir's own mode.
    rows = dict(SQLITE_ROWS)
    rows["runs"] = SQLITE_ROWS["runs"] + [("r4", "secret-row-data-" + "x" * 300, 1, 0, 13)]
    db = make_sqlite_store(tmp_path / "mlflow.db", rows)
    log_dir = tmp_path / "logs"
    log_dir.mkdir(mode=0o755)
    result = real_run(dict(sqlite_path=db, log_dir=str(log_dir)))
    assert result["failed"] and "NOT complete" in result["msg"]
    assert "secret-row-data-" in Path(result["log_file"]).read_text()
    workdir = os.path.dirname(result["log_file"])
    assert os.path.dirname(workdir) == str(log_dir)
    found = []
    for top, dirs, files in os.walk(workdir):
        for name in dirs + files:
            path = os.path.join(top, name)
            found.append((path, os.path.isdir(path), os.stat(path).st_mode & 0o777))
    assert any(isdir for _, isdir, _ in found), found        # the reject directories
    assert oct(os.stat(workdir).st_mode & 0o777) == oct(0o700)
    for path, isdir, mode in found:
        assert oct(mode) == oct(0o700 if isdir else 0o600), path


# ---------------------------------------------------------------------------------------------
# A managed-style target (Amazon RDS, Azure Database for PostgreSQL flexible server): the MLflow
# user owns its database and the tables MLflow created, but is no superuser and may not set
# session_replication_role (no GRANT SET ON PARAMETER).
# ---------------------------------------------------------------------------------------------

MANAGED_USER = "mlflow_managed"


@pytest.fixture
def managed_db(pg_server):
    admin = _pg_connect(pg_server, "postgres", "postgres")
    if not _rows(admin, "SELECT 1 FROM pg_roles WHERE rolname = %s" % _literal(MANAGED_USER)):
        admin.execute("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s"
                      % (MANAGED_USER, _literal(PG_PASSWORD)))
    pg_server["counter"][0] += 1
    name = "managed_%d_%d" % (os.getpid(), pg_server["counter"][0])
    admin.execute("CREATE DATABASE %s OWNER %s" % (name, MANAGED_USER))
    conn = _pg_connect(pg_server, name, MANAGED_USER)
    admin.close()
    conn.execute(PG_SCHEMA)  # MLflow creates its schema as this user
    superuser = _pg_connect(pg_server, name, "postgres")
    yield dict(pg_server, database=name, conn=conn, admin=superuser)
    conn.close()
    superuser.close()


@pytest.fixture
def managed_run(monkeypatch, managed_db, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    patch_exits(monkeypatch)
    if mod.psycopg2 is None:
        monkeypatch.setattr(mod, "psycopg2", _Psycopg3AsPsycopg2())

    def run(args, check_mode=False):
        args = dict(args, pg_host=managed_db["host"], pg_port=managed_db["port"],
                    pg_database=managed_db["database"], pg_user=MANAGED_USER,
                    pg_password=PG_PASSWORD, pg_sslmode="disable")
        return run_main(mod.main, args, check_mode)
    return run


def test_db_managed_keep_is_refused_up_front(managed_run, managed_db, tmp_path):
    db = make_sqlite_store(tmp_path / "mlflow.db")
    for check_mode in (True, False):
        result = managed_run(dict(sqlite_path=db, foreign_keys="keep"), check_mode=check_mode)
        assert result["failed"]
        assert 'permission denied to set parameter "session_replication_role"' in result["msg"]
        assert "GRANT rds_superuser TO %s" % MANAGED_USER in result["msg"]
    assert _rows(managed_db["conn"], "SELECT count(*) FROM runs") == [(0,)]


def test_db_managed_auto_migrates_and_keeps_every_foreign_key(managed_run, managed_db, tmp_path):
    db = make_sqlite_store(tmp_path / "mlflow.db")
    conn = managed_db["conn"]
    fks = "SELECT conname FROM pg_constraint WHERE contype = 'f' ORDER BY 1"
    before = _rows(conn, fks)
    result = managed_run(dict(sqlite_path=db, foreign_keys="auto"))
    assert result["changed"] is True, result["msg"]
    assert result["foreign_keys_mode"] == "recreate"
    assert _rows(conn, fks) == before and len(before) == 2
    assert _rows(conn, "SELECT count(*) FROM metrics") == [(len(SQLITE_ROWS["metrics"]),)]
    # the re-created constraints are enforced
    with pytest.raises(Exception, match="foreign key"):
        conn.execute("INSERT INTO runs (run_uuid, experiment_id) VALUES ('orphan', 99)")
    again = managed_run(dict(sqlite_path=db, foreign_keys="auto"))
    assert (again["action"], again["changed"]) == ("skip", False), again["msg"]


def test_db_managed_tables_of_another_owner_are_refused_up_front(managed_run, managed_db, tmp_path):
    db = make_sqlite_store(tmp_path / "mlflow.db")
    admin = managed_db["admin"]
    admin.execute("ALTER TABLE runs OWNER TO postgres")
    admin.execute("GRANT ALL ON runs TO %s" % MANAGED_USER)
    result = managed_run(dict(sqlite_path=db, foreign_keys="auto"))
    assert result["failed"] and result["not_owned"] == ["runs"], result["msg"]
    assert "Missing right: ownership" in result["msg"]
    assert _rows(managed_db["conn"], "SELECT count(*) FROM experiments") == [(1,)]
