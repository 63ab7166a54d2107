# -*- coding: utf-8 -*-
"""Unit tests of plugins/module_utils/pgloader.py (plain pytest, no PostgreSQL, no pgloader).

The CSV fixtures under tests/unit/fixtures/pgloader/ were written by pgloader 3.6.9 (Debian
bookworm) loading a real MLflow 3.17.2 SQLite store into PostgreSQL 15:
- summary_clean.csv: a clean load (pgloader's default FK handling: drop + re-create);
- summary_fk_error.csv: an orphan params row; the re-creation of params_run_uuid_fkey failed
  ("Create Foreign Keys";57;56;1), exit code 0;
- summary_row_error.csv: an experiment name longer than varchar(256): "experiments";5;0;1
  ("1 error, 0 rows": the whole table lost), exit code 0, with `no foreign keys`;
- summary_row_and_fk_errors.csv: the same with FK re-creation: three FKs lost as well.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils import pgloader as pl

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pgloader"
PASSWORD = "s3cr3t!pw"


def fixture(name):
    return (FIXTURES / name).read_text()


# --------------------------------------------------------------------------------------------
# Load file
# --------------------------------------------------------------------------------------------


def render(**kwargs):
    uri = pl.build_pg_uri("db.internal", 5432, "mlflow", "mlflow")
    return pl.render_load_file("/srv/mlflow/mlflow.db", uri, **kwargs)


def test_load_file_has_no_password_and_the_data_only_options():
    text = render()
    assert PASSWORD not in text
    assert "INTO postgresql://mlflow@db.internal:5432/mlflow\n" in text
    assert "FROM '/srv/mlflow/mlflow.db'" in text
    for option in ("data only", "truncate", "create no tables", "create no indexes",
                   "reset no sequences"):
        assert option in text
    assert "reset sequences" not in text
    assert "include drop" not in text
    assert "EXCLUDING TABLE NAMES LIKE 'alembic_version'" in text
    assert text.rstrip().endswith(";")
    assert text.count(";") == 1  # one command; a stray ';' would end it early


def test_load_file_keep_foreign_keys_uses_replica_mode():
    text = render(keep_foreign_keys=True)
    assert "no foreign keys" in text
    assert "session_replication_role = 'replica'" in text


def test_load_file_recreate_foreign_keys_needs_no_replica_mode():
    text = render(keep_foreign_keys=False)
    assert "foreign keys" not in text
    assert "session_replication_role" not in text


def test_load_file_tuning_options():
    text = render(work_mem="128MB", maintenance_work_mem="1GB", workers=4, concurrency=2,
                  batch_rows=10000, batch_size="20MB", prefetch_rows=5000)
    assert "work_mem = '128MB'" in text
    assert "maintenance_work_mem = '1GB'" in text
    assert "workers = 4" in text
    assert "concurrency = 2" in text
    assert "batch rows = 10000" in text
    assert "batch size = 20 MB" in text
    assert "prefetch rows = 5000" in text


def test_load_file_defaults_leave_pgloader_tuning_alone():
    text = render()
    for option in ("workers", "concurrency", "batch rows", "batch size", "prefetch rows",
                   "maintenance_work_mem"):
        assert option not in text
    assert "work_mem = '64MB'" in text


def test_load_file_exclusions_are_configurable():
    text = render(exclude_tables=("alembic_version", "alembic_version_auth"))
    assert "EXCLUDING TABLE NAMES LIKE 'alembic_version', 'alembic_version_auth'" in text
    assert "EXCLUDING" not in render(exclude_tables=())


def test_load_file_quotes_a_path_with_spaces():
    text = pl.render_load_file("/srv/ml flow/mlflow.db", "postgresql://u@h:5432/d")
    assert "FROM '/srv/ml flow/mlflow.db'" in text


@pytest.mark.parametrize("host, port, db, user, sslmode, expected", [
    ("db.internal", 5432, "mlflow", "mlflow", None, "postgresql://mlflow@db.internal:5432/mlflow"),
    ("127.0.0.1", 5433, "ml-flow", "ml_user", "require",
     "postgresql://ml_user@127.0.0.1:5433/ml-flow?sslmode=require"),
    ("/run/postgresql", 5432, "mlflow", "mlflow", None,
     "postgresql://mlflow@unix:/run/postgresql:5432/mlflow"),
    (None, 5432, "mlflow", "mlflow", None, "postgresql://mlflow@:5432/mlflow"),
])
def test_build_pg_uri(host, port, db, user, sslmode, expected):
    assert pl.build_pg_uri(host, port, db, user, sslmode) == expected


@pytest.mark.parametrize("uri, expected", [
    ("postgresql://mlflow@db:5432/mlflow",
     dict(host="db", port=5432, database="mlflow", user="mlflow", password=None, sslmode=None)),
    ("postgres://ml%5Fuser@db/ml?sslmode=require",
     dict(host="db", port=None, database="ml", user="ml_user", password=None, sslmode="require")),
    ("postgresql://mlflow@/mlflow?host=/run/postgresql",
     dict(host="/run/postgresql", port=None, database="mlflow", user="mlflow", password=None,
          sslmode=None)),
    ("postgresql://mlflow:p%40ss@db/mlflow",
     dict(host="db", port=None, database="mlflow", user="mlflow", password="p@ss", sslmode=None)),
])
def test_parse_pg_uri(uri, expected):
    assert pl.parse_pg_uri(uri) == expected


@pytest.mark.parametrize("uri", [
    "mysql://u@h/db",
    "postgresql://u@h:99999/db",
    "postgresql://u@h/db?application_name=x",
])
def test_parse_pg_uri_rejects(uri):
    with pytest.raises(ValueError):
        pl.parse_pg_uri(uri)


GOOD = dict(sqlite_path="/srv/mlflow/mlflow.db", host="db.internal", port=5432,
            database="mlflow", user="mlflow", sslmode="prefer", work_mem="64MB",
            maintenance_work_mem=None, batch_size=None)


def test_load_file_values_ok():
    assert pl.load_file_problems(**GOOD) == []
    assert pl.load_file_problems(**dict(GOOD, host="/run/postgresql")) == []
    assert pl.load_file_problems(**dict(GOOD, sqlite_path="/srv/ml flow/x.db")) == []
    assert pl.load_file_problems(**dict(GOOD, batch_size="20MB", work_mem="1 GB")) == []


def _refused(field, *values, fragment=None):
    """(change, fragment) for each value of `field`: the problem names the field unless told otherwise."""
    return [(dict({field: value}), fragment or field) for value in values]


REFUSED = (
    _refused("sqlite_path", "mlflow.db", fragment="absolute")
    + _refused("sqlite_path", "/srv/it's/mlflow.db", "/srv/*/mlflow.db", "/srv/a\nb.db")
    + _refused("user", "ml@flow", "ml flow", "1mlflow")
    + _refused("database", "ml flow", "ml/flow")
    + _refused("host", "::1", fragment="IPv6")
    + _refused("host", "db internal")
    + _refused("host", "/run/post gres", fragment="socket")
    + _refused("port", 0, 70000)
    + _refused("sslmode", "verify-full")
    + _refused("work_mem", "64MB', x = 'y")
    + _refused("maintenance_work_mem", "lots")
    + _refused("batch_size", "20")
)


@pytest.mark.parametrize("change, fragment", REFUSED)
def test_load_file_values_refused(change, fragment):
    problems = pl.load_file_problems(**dict(GOOD, **change))
    assert len(problems) == 1
    assert fragment in problems[0]


def test_pgloader_command_has_no_secret():
    argv = pl.pgloader_command("/usr/bin/pgloader", "/w/x.load", "/w/x.csv", "/w/x.log", "/w")
    assert argv == ["/usr/bin/pgloader", "--summary", "/w/x.csv", "--logfile", "/w/x.log",
                    "--root-dir", "/w", "/w/x.load"]


# --------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [
    ("0.072s", 0.072),
    ("0.000s", 0.0),
    ("12.5s", 12.5),
    ("1m2.500s", 62.5),
    ("1h3m0.125s", 3780.125),
    ("2 days 1h0m1.000s", 2 * 86400 + 3600 + 1),
    ("soon", None),
    ("", None),
])
def test_parse_interval(text, seconds):
    assert pl.parse_interval(text) == seconds


def test_parse_clean_summary():
    rows = pl.parse_summary(fixture("summary_clean.csv"))
    tables = pl.summary_table_rows(rows)
    assert len(tables) == 64  # 65 MLflow 3.17.2 tables minus alembic_version
    assert "alembic_version" not in tables
    assert tables["metrics"] == dict(name="metrics", read=264, imported=264, errors=0,
                                     bytes=18564, time="0.144s", seconds=0.144)
    sections = [r["name"] for r in rows if r["name"] in pl.SUMMARY_SECTIONS]
    assert "Create Foreign Keys" in sections and "Truncate" in sections
    assert all(r["name"] != "Total" for r in rows)
    assert pl.summary_problems(rows, expected_tables=set(tables)) == []


def test_summary_with_lost_table():
    rows = pl.parse_summary(fixture("summary_row_error.csv"))
    assert pl.summary_problems(rows) == ["experiments: read 5, imported 0, errors 1"]


def test_summary_with_dropped_foreign_key():
    rows = pl.parse_summary(fixture("summary_fk_error.csv"))
    assert pl.summary_problems(rows) == ["Create Foreign Keys: read 57, imported 56, errors 1"]
    assert pl.summary_table_rows(rows)["params"]["imported"] == 25  # the orphan itself loaded


def test_summary_with_lost_table_and_foreign_keys():
    rows = pl.parse_summary(fixture("summary_row_and_fk_errors.csv"))
    assert pl.summary_problems(rows) == [
        "experiments: read 5, imported 0, errors 1",
        "Create Foreign Keys: read 57, imported 54, errors 3",
    ]


def test_summary_tolerates_quoting_line_endings_and_blank_lines():
    text = ('"runs";12;12;0;2100;"0.072s"\r\n\r\n'
            'metrics;264;264;0;18564;0.144s\n'
            '"public"."tags";60;60;0;3264;"0.304s"\n'
            '"odd;name";1;1;0;5;"0.001s"\n')
    rows = pl.parse_summary(text)
    assert len(rows) == 4
    tables = pl.summary_table_rows(rows)
    assert set(tables) == {"runs", "metrics", "tags", "odd;name"}
    assert tables["metrics"]["seconds"] == 0.144
    assert pl.summary_problems(rows) == []


def test_summary_skips_a_header_line():
    rows = pl.parse_summary('table name;read;imported;errors;bytes;time\n"runs";1;1;0;1;"0.1s"\n')
    assert [r["name"] for r in rows] == ["runs"]


@pytest.mark.parametrize("text", [
    '"runs";12;12;0;"0.072s"\n',
    '"runs";twelve;12;0;2100;"0.072s"\n',
])
def test_summary_refuses_an_unknown_shape(text):
    with pytest.raises(ValueError):
        pl.parse_summary(text)


def test_summary_problems_missing_and_empty():
    rows = pl.parse_summary('"runs";1;1;0;1;"0.1s"\n')
    assert pl.summary_problems(rows, expected_tables={"runs", "metrics"}) == [
        "metrics: missing from the pgloader summary (not loaded)"]
    assert pl.summary_problems([]) == ["the pgloader summary is empty"]


def test_summary_read_differs_from_imported_without_errors():
    rows = pl.parse_summary('"runs";10;9;0;1;"0.1s"\n')
    assert pl.summary_problems(rows) == ["runs: read 10, imported 9, errors 0"]


# --------------------------------------------------------------------------------------------
# Counts and decision
# --------------------------------------------------------------------------------------------


def test_compare_counts():
    assert pl.compare_counts({"a": 1, "b": 0}, {"a": 1, "b": 0, "c": 9}) == []
    assert pl.compare_counts({"a": 1, "b": 2}, {"a": 0}) == [
        dict(table="a", source=1, target=0), dict(table="b", source=2, target=None)]


SRC = {"experiments": 5, "runs": 12, "workspaces": 1, "metrics": 264}
EMPTY = {"experiments": 0, "runs": 0, "workspaces": 0, "metrics": 0}
SEEDED = {"experiments": 1, "runs": 0, "workspaces": 1, "metrics": 0}
SEEDS = {"experiments": 1, "workspaces": 1}
OTHER = {"experiments": 3, "runs": 2, "workspaces": 1, "metrics": 0}


@pytest.mark.parametrize("target, seeds, truncate, force, content, action, replaces", [
    (EMPTY, {}, False, False, None, "migrate", False),
    (SEEDED, SEEDS, False, False, None, "migrate", False),  # server started once: seed rows only
    (SEEDED, SEEDS, True, True, None, "migrate", False),
    (SRC, SEEDS, False, False, [], "skip", False),          # already migrated: same content
    (SRC, SEEDS, True, False, [], "skip", False),           # truncate alone does not re-migrate
    (SRC, SEEDS, False, True, [], "migrate", True),         # force re-migrates the same copy
    (OTHER, SEEDS, False, False, None, "fail", False),      # foreign data: refuse
    (OTHER, SEEDS, False, True, None, "fail", False),       # force is not truncate
    (OTHER, SEEDS, True, False, None, "migrate", True),
    # Same row counts, different content (a tampered target, or another store of the same size):
    # never "already migrated", and only truncate may replace it.
    (SRC, SEEDS, False, False, ["runs"], "fail", False),
    (SRC, SEEDS, False, True, ["runs"], "fail", False),
    (SRC, SEEDS, True, False, ["runs"], "migrate", True),
    (SRC, SEEDS, True, True, ["runs"], "migrate", True),
    # Same counts but content not compared: not proven to be the same data.
    (SRC, SEEDS, False, False, None, "fail", False),
    (SRC, SEEDS, False, True, None, "fail", False),
    (SRC, SEEDS, True, False, None, "migrate", True),
])
def test_decide(target, seeds, truncate, force, content, action, replaces):
    d = pl.decide(SRC, target, seeds, truncate=truncate, force=force, content_mismatches=content)
    assert (d["action"], d["replaces_data"]) == (action, replaces)
    assert d["reason"]


def test_decide_names_tables_whose_content_differs():
    d = pl.decide(SRC, SRC, SEEDS, content_mismatches=["metrics", "runs"])
    assert d["action"] == "fail"
    assert "same row counts" in d["reason"]
    assert "metrics, runs" in d["reason"]
    assert "truncate=true" in d["reason"]
    assert "already migrated" in pl.decide(SRC, SRC, SEEDS, content_mismatches=[])["reason"]


def test_decide_fail_message_names_the_differences():
    d = pl.decide(SRC, OTHER, SEEDS)
    assert "truncate=true" in d["reason"]
    assert "experiments (source 5, target 3)" in d["reason"]
    assert "runs (source 12, target 2)" in d["reason"]


def test_decide_empty_source_is_a_noop():
    assert pl.decide(EMPTY, EMPTY, {})["action"] == "skip"


def test_decide_unseeded_default_experiment_counts_as_data():
    # an experiment 0 that is not MLflow's seed (seed count 0) is data
    d = pl.decide(SRC, {"experiments": 1, "runs": 0, "workspaces": 0, "metrics": 0}, {})
    assert d["action"] == "fail"


def test_target_data_counts():
    assert pl.target_data_counts(SEEDED, SEEDS) == {}
    assert pl.target_data_counts(OTHER, SEEDS) == {"experiments": 2, "runs": 2}


def test_revision_problem():
    assert pl.revision_problem(["dc11669786a5"], ["dc11669786a5"]) is None
    msg = pl.revision_problem(["bf29a5ff90ea"], ["dc11669786a5"], "/srv/mlflow/mlflow.db")
    assert "bf29a5ff90ea" in msg and "dc11669786a5" in msg
    assert "mlflow db upgrade sqlite:///" in msg
    assert "/srv/mlflow/mlflow.db" in msg
    assert pl.revision_problem([], []) is not None


# --------------------------------------------------------------------------------------------
# SQL builders
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, quoted", [
    ("runs", '"runs"'), ('we"ird', '"we""ird"'), ("Upper Case", '"Upper Case"')])
def test_quote_ident(name, quoted):
    assert pl.quote_ident(name) == quoted


def test_sequence_statements():
    columns = [
        ("experiments", "experiment_id", "public.experiments_experiment_id_seq"),
        ("sql_trace_metric_daily_rollups", "id", "public.sql_trace_metric_daily_rollups_id_seq"),
        ("no_seq", "id", None),
        ("not_loaded", "id", "public.not_loaded_id_seq"),
    ]
    tables = {"experiments", "sql_trace_metric_daily_rollups", "no_seq"}
    stmts = pl.sequence_statements(columns, "public", tables)
    assert [(s[2], s[3], s[4]) for s in stmts] == [
        ("experiments", "experiment_id", "public.experiments_experiment_id_seq"),
        ("sql_trace_metric_daily_rollups", "id", "public.sql_trace_metric_daily_rollups_id_seq"),
    ]
    sql, params = stmts[0][0], stmts[0][1]
    assert sql == ('SELECT setval(%s, COALESCE((SELECT MAX("experiment_id") FROM '
                   '"public"."experiments"), 0) + 1, false)')
    assert params == ("public.experiments_experiment_id_seq",)
    assert len(pl.sequence_statements(columns)) == 3  # no table filter


def test_sequence_columns_sql_covers_serial_and_identity():
    sql = pl.SEQUENCE_COLUMNS_SQL
    assert "pg_get_serial_sequence" in sql
    assert "nextval%%" in sql  # escaped for psycopg2 parameter substitution
    assert "is_identity = 'YES'" in sql


def test_seed_count_sql():
    assert pl.seed_count_sql("experiments") == (
        'SELECT count(*) FROM "public"."experiments" WHERE experiment_id = 0')
    assert "name = 'default'" in pl.seed_count_sql("workspaces")
    assert pl.seed_count_sql("runs") is None


def test_missing_foreign_keys():
    before = [("runs", "runs_experiment_id_fkey", "FOREIGN KEY (experiment_id) ..."),
              ("params", "params_run_uuid_fkey", "FOREIGN KEY (run_uuid) ...")]
    after = [("runs", "runs_experiment_id_fkey", "FOREIGN KEY (experiment_id) ...")]
    assert pl.missing_foreign_keys(before, after) == [before[1]]
    assert pl.missing_foreign_keys(before, before) == []


@pytest.mark.parametrize("count, expected, ok", [
    (57, 57, True), (58, 57, True), (56, 57, False), (0, None, True)])
def test_foreign_key_problem(count, expected, ok):
    assert (pl.foreign_key_problem(count, expected) is None) == ok


# --------------------------------------------------------------------------------------------
# SQLite source: real files made here
# --------------------------------------------------------------------------------------------

MLFLOW_LIKE_SCHEMA = """
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name VARCHAR(256) NOT NULL UNIQUE);
CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY, experiment_id INTEGER,
                   FOREIGN KEY (experiment_id) REFERENCES experiments (experiment_id));
CREATE TABLE params (key VARCHAR(250), value VARCHAR(8000), run_uuid VARCHAR(32),
                     PRIMARY KEY (key, run_uuid),
                     FOREIGN KEY (run_uuid) REFERENCES runs (run_uuid));
INSERT INTO alembic_version VALUES ('dc11669786a5');
INSERT INTO experiments VALUES (0, 'Default'), (1, 'exp');
INSERT INTO runs VALUES ('r1', 1), ('r2', 1);
INSERT INTO params VALUES ('lr', '0.1', 'r1'), ('lr', '0.2', 'r2');
"""


def make_db(path, script=MLFLOW_LIKE_SCHEMA):
    conn = sqlite3.connect(str(path))
    conn.executescript(script)
    conn.commit()
    conn.close()
    return str(path)


def test_inspect_a_sound_mlflow_db(tmp_path):
    db = make_db(tmp_path / "mlflow.db")
    assert pl.sqlite_file_problem(db) is None
    info = pl.inspect_sqlite(db)
    assert info["is_mlflow"]
    assert info["revisions"] == ["dc11669786a5"]
    assert info["counts"] == {"experiments": 2, "runs": 2, "params": 2}
    assert info["integrity"] == ["ok"]
    assert info["fk_violations"] == []
    assert info["foreign_keys"] == 2
    assert pl.source_problems(info) == []
    assert pl.inspect_sqlite(db, integrity="quick")["integrity"] == ["ok"]


def test_inspect_finds_an_orphan_row(tmp_path):
    db = make_db(tmp_path / "mlflow.db", MLFLOW_LIKE_SCHEMA
                 + "INSERT INTO params VALUES ('ghost', '1', 'no-such-run');")
    info = pl.inspect_sqlite(db)
    assert info["fk_violations"] == [dict(table="params", rowid=3, parent="runs", fkid=0)]
    problems = pl.source_problems(info)
    assert len(problems) == 1
    assert "foreign_key_check" in problems[0]
    assert "params -> runs: 1 row(s), rowid 3" in problems[0]


def test_summarize_fk_violations_samples_rowids():
    rows = [dict(table="params", rowid=i, parent="runs", fkid=0) for i in range(10)]
    rows.append(dict(table="tags", rowid=1, parent="runs", fkid=0))
    assert pl.summarize_fk_violations(rows, sample=3) == [
        dict(table="params", parent="runs", rows=10, rowids=[0, 1, 2]),
        dict(table="tags", parent="runs", rows=1, rowids=[1]),
    ]


def test_inspect_refuses_a_db_without_alembic_table(tmp_path):
    db = make_db(tmp_path / "other.db", "CREATE TABLE experiments (experiment_id INTEGER);")
    info = pl.inspect_sqlite(db)
    assert not info["is_mlflow"]
    assert pl.source_problems(info) == ["not an MLflow database: table(s) alembic_version missing"]


def test_inspect_reports_a_broken_index(tmp_path):
    db = make_db(tmp_path / "mlflow.db")
    conn = sqlite3.connect(db)
    conn.execute("CREATE INDEX idx_runs_exp ON runs (experiment_id)")
    conn.commit()
    # Make the index disagree with its table the way a torn write would: rewrite its definition.
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX idx_runs_exp ON runs (run_uuid)' "
                 "WHERE name = 'idx_runs_exp'")
    conn.commit()
    conn.close()
    info = pl.inspect_sqlite(db)
    assert info["integrity"] != ["ok"]
    problems = pl.source_problems(info)
    assert any("integrity_check" in p for p in problems)


def test_missing_file_is_refused_and_not_created(tmp_path):
    path = str(tmp_path / "nope.db")
    assert "does not exist" in pl.sqlite_file_problem(path)
    with pytest.raises(sqlite3.OperationalError):
        pl.inspect_sqlite(path)
    assert not os.path.exists(path)  # unlike pgloader, which creates an empty file


def test_non_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "mlflow.db"
    path.write_text("not a database")
    assert "not a SQLite 3 database" in pl.sqlite_file_problem(str(path))
    assert "not a regular file" in pl.sqlite_file_problem(str(tmp_path))


def test_inspect_opens_read_only(tmp_path):
    db = make_db(tmp_path / "my db's copy.db")
    before = os.stat(db).st_mtime_ns
    pl.inspect_sqlite(db)
    assert os.stat(db).st_mtime_ns == before
    conn = pl.sqlite_connect_ro(db)
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM runs")
    conn.close()


# --------------------------------------------------------------------------------------------
# Content fingerprint (finding: "already migrated" must not be decided by row counts alone)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data_type, kind", [
    ("boolean", "bool"),
    ("smallint", "int"), ("integer", "int"), ("bigint", "int"),
    ("double precision", "float"), ("numeric", "float"), ("real", "float4"),
    ("date", "date"),
    ("timestamp without time zone", "timestamp"), ("timestamp with time zone", "timestamp"),
    ("json", "text"), ("jsonb", "jsonb"),
    ("bytea", "bytes"),
    ("character", "char"),
    ("uuid", "uuid"),
    ("character varying", "text"), ("text", "text"), ("USER-DEFINED", "text"),
])
def test_column_kind(data_type, kind):
    assert pl.column_kind(data_type) == kind


# (kind, value as SQLite returns it, value as psycopg2 returns it for the PostgreSQL column)
SAME_VALUE = [
    ("bool", 1, True), ("bool", 0, False), ("bool", None, None),
    ("int", 5, 5), ("int", 2 ** 62, 2 ** 62), ("int", 5.0, 5),
    ("float", 0.1, 0.1), ("float", 3, 3.0), ("float", 1e300, 1e300),
    ("float", float("inf"), float("inf")), ("float", float("-inf"), float("-inf")),
    ("float", 2.5, pytest.importorskip("decimal").Decimal("2.5")),
    ("float4", 0.123456789, 0.12345679),
    ("date", "2025-11-30", __import__("datetime").date(2025, 11, 30)),
    ("timestamp", "2025-11-30 12:00:01.500000",
     __import__("datetime").datetime(2025, 11, 30, 12, 0, 1, 500000)),
    ("timestamp", "2025-11-30 12:00:01", __import__("datetime").datetime(2025, 11, 30, 12, 0, 1)),
    ("text", "naïve ☃", "naïve ☃"), ("text", "", ""),
    ("text", '{"b": 1,  "a": [1, 2]}', '{"b": 1,  "a": [1, 2]}'),   # json kept verbatim
    ("jsonb", '{"b": 1,  "a": [1, 2]}', '{"a": [1, 2], "b": 1}'),   # jsonb normalises
    ("bytes", b"\x00\xffk", memoryview(b"\x00\xffk")), ("bytes", "abc", b"abc"),
    ("char", "ab", "ab   "),
    ("uuid", "0E984725-C51C-4BF4-9960-E1C80E27ABA0", "0e984725-c51c-4bf4-9960-e1c80e27aba0"),
]


@pytest.mark.parametrize("kind, sqlite_value, pg_value", SAME_VALUE)
def test_canonical_value_is_the_same_on_both_sides(kind, sqlite_value, pg_value):
    assert pl.canonical_value(kind, sqlite_value) == pl.canonical_value(kind, pg_value)


@pytest.mark.parametrize("kind, a, b", [
    ("text", "run", "TAMPERED"),
    ("text", None, ""),                 # NULL is not the empty string
    ("text", "1", None),
    ("int", 1, 2),
    ("int", 0, None),
    ("float", 0.1, 0.10000000000000002),
    ("float", float("inf"), float("-inf")),
    ("bool", 1, False),
    ("bytes", b"a", b"b"),
    ("jsonb", '{"a": 1}', '{"a": 2}'),
])
def test_canonical_value_tells_different_values_apart(kind, a, b):
    assert pl.canonical_value(kind, a) != pl.canonical_value(kind, b)


KINDS = ["int", "text", "float"]
ROWS = [(1, "a", 0.5), (2, "b", None), (3, "c", 1.0)]


def test_content_hash_ignores_row_order_but_not_content():
    h = pl.content_hash(ROWS, KINDS)
    assert h["rows"] == 3
    assert h == pl.content_hash(list(reversed(ROWS)), KINDS)
    assert h != pl.content_hash([(1, "a", 0.5), (2, "TAMPERED", None), (3, "c", 1.0)], KINDS)
    assert h != pl.content_hash(ROWS[:2], KINDS)
    # a value moved to the neighbouring column is a different row
    assert pl.content_hash([(1, "ab", None)], ["int", "text", "text"]) != pl.content_hash(
        [(1, "a", "b")], ["int", "text", "text"])
    # the same rows twice are not the same as once (a multiset, not a set)
    assert pl.content_hash(ROWS + ROWS, KINDS) != h


def test_content_hash_of_an_empty_table():
    assert pl.content_hash([], KINDS)["rows"] == 0
    assert pl.content_hash([], KINDS) == pl.content_hash(iter(()), KINDS)


def test_content_mismatches_and_fingerprint():
    a = {"runs": dict(rows=1, hash="x"), "params": dict(rows=2, hash="y")}
    b = {"runs": dict(rows=1, hash="x"), "params": dict(rows=2, hash="z")}
    assert pl.content_mismatches(a, dict(a)) == []
    assert pl.content_mismatches(a, b) == ["params"]
    assert pl.content_mismatches(a, {"runs": a["runs"]}) == ["params"]
    assert pl.fingerprint_of(a) == pl.fingerprint_of(dict(reversed(list(a.items()))))
    assert pl.fingerprint_of(a) != pl.fingerprint_of(b)
    assert len(pl.fingerprint_of(a)) == 64


def test_hash_plan_takes_kinds_from_postgresql_and_reports_missing_columns():
    plan, missing = pl.hash_plan(
        {"runs": ["run_uuid", "name", "deleted"], "params": ["key", "value"]},
        {"runs": {"run_uuid": "character varying", "name": "character varying",
                  "deleted": "boolean", "extra": "integer"},
         "params": {"key": "character varying"}})
    assert plan == {"runs": [("deleted", "bool"), ("name", "text"), ("run_uuid", "text")],
                    "params": [("key", "text")]}
    assert missing == ["params.value"]


def test_pg_content_sql_casts_what_the_driver_would_parse():
    sql = pl.pg_content_sql("runs", [("a", "text"), ("b", "jsonb"), ("c", "uuid"), ("d", "int")])
    assert sql == 'SELECT "a"::text, "b"::text, "c"::text, "d" FROM "public"."runs"'
    assert pl.sqlite_content_sql("runs", [("a", "text"), ("d", "int")]) == (
        'SELECT "a", "d" FROM "runs"')


def test_sqlite_content_hashes_of_a_real_file(tmp_path):
    db = make_db(tmp_path / "mlflow.db")
    info = pl.inspect_sqlite(db)
    assert info["columns"]["params"] == ["key", "value", "run_uuid"]
    types = {"experiments": {"experiment_id": "integer", "name": "character varying"},
             "runs": {"run_uuid": "character varying", "experiment_id": "integer"},
             "params": {"key": "character varying", "value": "character varying",
                        "run_uuid": "character varying"}}
    plan, missing = pl.hash_plan(info["columns"], types)
    assert missing == []
    hashes = pl.sqlite_content_hashes(db, plan)
    assert {t: h["rows"] for t, h in hashes.items()} == {"experiments": 2, "runs": 2, "params": 2}
    # the same rows computed from Python values as psycopg2 would return them
    assert hashes["params"] == pl.content_hash(
        [("lr", "r2", "0.2"), ("lr", "r1", "0.1")], [k for _, k in plan["params"]])
    conn = sqlite3.connect(db)
    conn.execute("UPDATE params SET value = 'TAMPERED' WHERE run_uuid = 'r1'")
    conn.commit()
    conn.close()
    tampered = pl.sqlite_content_hashes(db, plan)
    assert pl.content_mismatches(hashes, tampered) == ["params"]


# --------------------------------------------------------------------------------------------
# Sequences on a skipped run (finding: a skip never checked them)
# --------------------------------------------------------------------------------------------


def seq_state(last_value, is_called, max_value, increment=1):
    return dict(table="experiments", column="experiment_id",
                sequence="public.experiments_experiment_id_seq", last_value=last_value,
                is_called=is_called, increment=increment, max_value=max_value)


@pytest.mark.parametrize("state, behind, next_value", [
    (seq_state(10, False, 12), True, 10),   # setval(seq, 10, false): the next id 10 exists
    (seq_state(12, True, 12), False, 13),
    (seq_state(12, False, 12), True, 12),   # the next id 12 is taken
    (seq_state(13, False, 12), False, 13),
    (seq_state(1, False, None), False, 1),  # empty table
    (seq_state(1, False, 0), False, 1),     # only the Default experiment (id 0)
    (seq_state(1, True, 5, increment=10), False, 11),
    (seq_state(1, True, 15, increment=10), True, 11),
])
def test_sequences_behind(state, behind, next_value):
    found = pl.sequences_behind([state])
    assert bool(found) == behind
    if found:
        assert found == [dict(table="experiments", column="experiment_id",
                              sequence="public.experiments_experiment_id_seq",
                              next_value=next_value, max_value=state["max_value"])]


def test_sequence_state_sql():
    sql, params = pl.sequence_state_sql("experiments", "experiment_id",
                                        "public.experiments_experiment_id_seq")
    assert params == ("public.experiments_experiment_id_seq",)
    assert "FROM public.experiments_experiment_id_seq" in sql
    assert 'MAX("experiment_id") FROM "public"."experiments"' in sql
    assert "last_value" in sql and "is_called" in sql and "seqincrement" in sql


@pytest.mark.parametrize("sequence", ['public."odd; name"', "x; DROP TABLE runs", "public.a b"])
def test_sequence_state_sql_refuses_what_is_not_a_sequence_name(sequence):
    if sequence == 'public."odd; name"':
        assert 'FROM public."odd; name"' in pl.sequence_state_sql("t", "c", sequence)[0]
    else:
        with pytest.raises(ValueError):
            pl.sequence_state_sql("t", "c", sequence)


# --------------------------------------------------------------------------------------------
# Secrets in pg_uri (finding: the password was echoed in the result)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("uri, expected", [
    ("postgresql://mlflow@db/mlflow", set()),
    ("postgresql://mlflow:Secr3tPw@db/mlflow", {"Secr3tPw"}),
    ("postgresql://mlflow:Secr%40tPw@db:5432/mlflow", {"Secr%40tPw", "Secr@tPw"}),
    ("postgresql://mlflow:Secr3tPw@db:99999/mlflow", {"Secr3tPw"}),     # unparsable port
    ("postgresql://mlflow:pa/ss@db/mlflow", {"pa/ss"}),                 # unencoded slash
    ("postgresql://mlflow:@db/mlflow", set()),
    ("not a uri", set()),
    ("", set()),
    (None, set()),
])
def test_uri_password_values(uri, expected):
    assert pl.uri_password_values(uri) == expected


# --------------------------------------------------------------------------------------------
# Private work files (finding: predictable names, no O_EXCL/O_NOFOLLOW, 0644 reject files)
# --------------------------------------------------------------------------------------------


def test_write_private_file(tmp_path):
    path = tmp_path / "x.load"
    pl.write_private_file(str(path), "LOAD DATABASE;\n")
    assert path.read_text() == "LOAD DATABASE;\n"
    assert os.stat(path).st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        pl.write_private_file(str(path), "again")
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "planted.load"
    link.symlink_to(victim)
    with pytest.raises(OSError):
        pl.write_private_file(str(link), "overwrite?")
    assert victim.read_text() == "keep"
    dangling = tmp_path / "dangling.load"
    dangling.symlink_to(tmp_path / "created-through-the-link")
    with pytest.raises(OSError):
        pl.write_private_file(str(dangling), "x")
    assert not (tmp_path / "created-through-the-link").exists()


def test_private_work_dir(tmp_path):
    log_dir = tmp_path / "logs"
    first = pl.private_work_dir(str(log_dir))
    second = pl.private_work_dir(str(log_dir))
    assert first != second
    for d in (first, second):
        assert os.path.dirname(d) == str(log_dir)
        assert os.stat(d).st_mode & 0o777 == 0o700
        assert os.listdir(d) == []
    assert os.stat(log_dir).st_mode & 0o777 == 0o700
    assert os.path.basename(first).startswith("pgloader-")
    tmp = pl.private_work_dir(None)
    assert os.stat(tmp).st_mode & 0o777 == 0o700
    os.rmdir(tmp)
    assert pl.PGLOADER_UMASK == 0o077
