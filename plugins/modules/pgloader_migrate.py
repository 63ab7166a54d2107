#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgloader_migrate
short_description: Migrate an MLflow SQLite store into an existing PostgreSQL schema with pgloader
description:
  - Copies the data of an MLflow tracking store kept in SQLite into a PostgreSQL database whose
    schema was created by MLflow itself (the server's first start or C(mlflow db upgrade)), using
    C(pgloader) in data-only mode, and proves the result instead of trusting pgloader's exit code.
  - "Before the load, nothing is changed unless every check passes: the SQLite file exists (pgloader
    would create an empty one and exit 0), it is an MLflow database (C(alembic_version) and
    C(experiments) tables), C(PRAGMA integrity_check) is C(ok), C(PRAGMA foreign_key_check) finds no
    orphan row, the alembic revisions of SQLite and PostgreSQL are equal, every SQLite table and column
    exists in PostgreSQL, and the target is empty apart from MLflow's seed rows (the Default experiment
    id 0 and the C(default) workspace) unless O(truncate=true)."
  - "After the load, the module requires every line of pgloader's CSV summary to have 0 errors and
    read == imported, compares the row count and the content hash of every table in SQLite and
    PostgreSQL, compares the foreign keys present in PostgreSQL before and after the load, and sets
    every serial and identity
    sequence to MAX+1 (pgloader with C(reset no sequences) leaves C(experiments_experiment_id_seq) at
    1, so the next experiment creation fails with a duplicate key). Any mismatch fails the task with
    the details."
  - pgloader's exit code cannot be trusted (it exits 0 after losing a whole table, after dropping a
    foreign key it could not re-create, when a target table is missing). A non-zero exit code is a
    failure; a zero exit code proves nothing and is always followed by the checks above.
  - The password never appears on a command line, in the load file or in the result. pgloader 3.6.9
    reads it from the E(PGPASSWORD) environment variable when the URI has no password, and the module
    passes it only there.
  - "Content hashes: every loaded table is read completely from both databases (PostgreSQL in one
    read-only REPEATABLE READ snapshot through a server-side cursor, rows streamed, no ORDER BY); each
    value is brought to a canonical form chosen by the PostgreSQL column type (booleans as 0/1, numbers
    by value, C(real) after rounding to float4, C(jsonb) parsed, timestamps as naive UTC, C(bytea) as
    hex, text verbatim, NULL distinct from everything), each row is hashed with BLAKE2b-128 and the
    row hashes are added modulo 2^128, so the hash does not depend on row order or collation. This
    costs a full read of both sides (about 200,000 rows per second and side on one core)."
  - A second run against a migrated target (same row count B(and) the same content hash in every
    table) changes nothing and says so, unless O(force=true). Equal row counts with different content
    (a target changed after the migration, or another store of the same size) is data that differs;
    the task fails unless O(truncate=true), and O(force=true) alone never replaces it.
  - On such a skipped run the module still checks every serial and identity sequence of the loaded
    tables against its column's maximum, and sets one that is behind (the next INSERT would fail with
    a duplicate key) to MAX+1, reporting changed (O(sequences=false) fails instead).
  - "Work files: each run gets its own directory created by mkdtemp (mode 0700, inside O(log_dir) when
    given); the load file is created there exclusively (O_EXCL|O_NOFOLLOW, mode 0600), and pgloader
    runs with umask 077 and C(--root-dir) in that directory, so its summary, log (which quotes
    rejected values) and reject directories are private."
  - Stop the MLflow server that writes to the SQLite file before the migration, and start the one on
    PostgreSQL only after this module succeeded.
  - Runs on the host that holds the SQLite file. Tables are expected in the C(public) schema (MLflow's
    default).
version_added: 0.1.0
author:
  - mlops.mlflow maintainers (@mlops)
requirements:
  - pgloader (tested with 3.6.9 from Debian bookworm)
  - psycopg2 (for example the C(python3-psycopg2) package) on the host that runs the module
  - PostgreSQL 15 or later when O(foreign_keys=keep) and the user is not a superuser
    (C(GRANT SET ON PARAMETER session_replication_role)); O(foreign_keys=recreate) needs only
    ownership of the tables (managed services such as Amazon RDS or Azure Database for PostgreSQL)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Runs every read-only check and reports the per-table row counts that would be moved.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode).
    support: none
options:
  sqlite_path:
    description:
      - Absolute path of the MLflow SQLite database file (the C(mlflow.db) of C(sqlite:////path/mlflow.db)).
      - It is opened read-only and must not contain C('), C(\), C(*), C(?) or C([).
    type: path
    required: true
  pg_uri:
    description:
      - Target as a URI C(postgresql://USER@HOST:PORT/DATABASE), optionally with C(?sslmode=MODE).
        A socket directory can be given as C(postgresql://USER@/DATABASE?host=/run/postgresql).
      - It must not contain a password; give it in O(pg_password). A URI that contains one is refused,
        and the password is hidden from the result (the whole option is C(no_log)).
      - Mutually exclusive with O(pg_host), O(pg_port), O(pg_database) and O(pg_user).
    type: str
  pg_host:
    description:
      - PostgreSQL host name or IPv4 address, or a Unix socket directory (starting with C(/)).
      - Defaults to C(localhost) when O(pg_uri) is not given.
    type: str
  pg_port:
    description:
      - PostgreSQL port. Defaults to C(5432) when O(pg_uri) is not given.
    type: int
  pg_database:
    description:
      - Database that holds MLflow's schema. Defaults to C(mlflow) when O(pg_uri) is not given.
    type: str
  pg_user:
    description:
      - PostgreSQL user. Defaults to C(mlflow) when O(pg_uri) is not given.
    type: str
  pg_password:
    description:
      - Password of the PostgreSQL user. Passed to psycopg2 and, as E(PGPASSWORD), to pgloader only.
      - When omitted, libpq's and pgloader's own lookup (E(PGPASSWORD) of the module's environment,
        C(~/.pgpass)) applies.
    type: str
  pg_sslmode:
    description:
      - SSL mode for both psycopg2 and pgloader.
      - pgloader 3.6.9 only knows C(disable), C(allow), C(prefer) and C(require); it gets C(require)
        for C(verify-ca) and C(verify-full). Measured - with C(require) it verifies the server's
        certificate chain against OpenSSL's default trust store (E(SSL_CERT_FILE), which the module
        sets to O(pg_ca_cert)), but not the host name. The module's own connection (libpq) checks
        the host name with C(verify-full) before pgloader runs, so a server with a certificate for
        another name is refused before anything changes.
      - When O(pg_uri) has C(sslmode), that value wins.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    default: prefer
  pg_ca_cert:
    description:
      - Absolute path of a PEM file with the CA certificate(s) that signed the server's certificate
        (for example the bundle of Amazon RDS or Azure Database for PostgreSQL). Given to psycopg2 as
        C(sslrootcert) and to pgloader as E(SSL_CERT_FILE).
      - Without it, libpq reads C(~/.postgresql/root.crt) (for C(verify-ca) and C(verify-full)) and
        pgloader the system's trust store.
    type: path
  truncate:
    description:
      - Allow the migration to delete data already in the target tables (other than MLflow's seed
        rows). Without it, a target holding other data makes the task fail before anything changes,
        including a target whose row counts equal the source's but whose content differs.
    type: bool
    default: false
  force:
    description:
      - Migrate again even when the target already holds the same rows as the source (same row count
        and content hash in every table; the identical copy is replaced). Data that differs, in count
        or in content, still needs O(truncate=true).
    type: bool
    default: false
  foreign_keys:
    description:
      - C(keep) renders C(no foreign keys) and sets C(session_replication_role = 'replica') for the
        load session, so the constraints are never dropped (orphans are refused beforehand by
        C(PRAGMA foreign_key_check)). It needs a superuser or, on PostgreSQL 15+,
        C(GRANT SET ON PARAMETER session_replication_role TO USER); the module checks this first.
      - C(recreate) lets pgloader drop all foreign keys and re-create them after the load, which
        re-validates the data in PostgreSQL and needs no special privilege. A constraint whose
        re-creation fails is left out by pgloader (exit code 0); the module detects it and fails,
        listing the missing constraints with their definitions. It needs ownership of the tables
        (C(ALTER TABLE ... DROP CONSTRAINT)); the module checks this first.
      - C(auto) uses C(keep) when the user may set C(session_replication_role), else C(recreate).
        This is what works on managed services (Amazon RDS, Azure Database for PostgreSQL), where
        the database owner is no superuser; RV(foreign_keys_mode) says which one ran.
      - "pgloader's C(disable triggers) (C(ALTER TABLE ... DISABLE TRIGGER ALL)) is never used: it
        needs a superuser for the foreign keys' system triggers."
    type: str
    choices: [keep, recreate, auto]
    default: keep
  integrity_check:
    description:
      - C(full) runs C(PRAGMA integrity_check), C(quick) runs C(PRAGMA quick_check) (faster on big
        files, skips index consistency).
    type: str
    choices: [full, quick]
    default: full
  sequences:
    description:
      - Set every serial and identity sequence of the loaded tables to MAX+1 after the load.
      - When the target is already migrated, set those that are behind their column's maximum to
        MAX+1 (changed). With C(false), such a run fails and lists them in RV(sequences_behind).
    type: bool
    default: true
  work_mem:
    description:
      - C(work_mem) of pgloader's sessions, for example C(64MB).
    type: str
    default: 64MB
  maintenance_work_mem:
    description:
      - C(maintenance_work_mem) of pgloader's sessions (used when re-creating foreign keys).
    type: str
  workers:
    description:
      - pgloader C(workers) setting (threads). pgloader's default when omitted.
    type: int
  concurrency:
    description:
      - pgloader C(concurrency) setting. pgloader's default when omitted.
    type: int
  batch_rows:
    description:
      - pgloader C(batch rows) setting (rows per COPY batch). pgloader's default (25000) when omitted.
    type: int
  batch_size:
    description:
      - pgloader C(batch size) setting, for example C(20MB). pgloader's default when omitted.
    type: str
  prefetch_rows:
    description:
      - pgloader C(prefetch rows) setting. pgloader's default when omitted.
    type: int
  pgloader_path:
    description:
      - Path of the pgloader executable. Looked up in E(PATH) when omitted.
    type: path
  log_dir:
    description:
      - Directory that keeps, per run, a private sub-directory C(pgloader-TIMESTAMP.XXXXXXXX) (mode
        0700, random suffix) with pgloader's CSV summary C(pgloader.csv), log C(pgloader.log) and
        reject directories, all private (pgloader runs with umask 077). O(log_dir) itself is created
        with mode 0700 when missing.
      - When omitted, a private temporary directory is used, removed after a successful run and kept
        (its path returned) after a failed one.
    type: path
  keep_load_file:
    description:
      - Keep the rendered load file C(pgloader.load) (it holds no password) for debugging; its path
        is returned. It is written into the run's private directory (in O(log_dir), or the temporary
        directory, which is then kept too).
    type: bool
    default: false
  expected_foreign_keys:
    description:
      - Number of foreign key constraints the target must have before the load. Fewer means an
        earlier load dropped some (pgloader never re-creates a constraint it did not drop itself),
        and the module refuses to go on.
      - Defaults to the number declared in the SQLite schema (57 for MLflow 3.17.2, the same as a
        fresh PostgreSQL schema). Set it only if the two schemas legitimately differ.
    type: int
  connect_timeout:
    description:
      - Seconds to wait for the PostgreSQL connection of the module's own checks.
    type: int
    default: 10
notes:
  - "Measured with pgloader 3.6.9, PostgreSQL 15 and MLflow 3.17.2: pgloader data-only mode drops every
    foreign key and re-creates them after the load (unless C(no foreign keys)); an orphan row makes one
    re-creation fail with only an ERROR in the log and exit code 0. A value too long for its column
    loses the whole batch (C(1 error, 0 rows)) with exit code 0."
  - The load excludes C(alembic_version) so the target keeps its revision row.
seealso:
  - name: pgloader SQLite documentation
    description: The load command options the module renders.
    link: https://pgloader.readthedocs.io/en/latest/ref/sqlite.html
"""

EXAMPLES = r"""
- name: Migrate the MLflow SQLite store into PostgreSQL
  mlops.mlflow.pgloader_migrate:
    sqlite_path: /srv/mlflow/mlflow.db
    pg_host: db.internal
    pg_database: mlflow
    pg_user: mlflow
    pg_password: "{{ vault_mlflow_db_password }}"
  register: __migration

- name: Same with a URI, replacing whatever an earlier attempt left in the target
  mlops.mlflow.pgloader_migrate:
    sqlite_path: /srv/mlflow/mlflow.db
    pg_uri: postgresql://mlflow@db.internal:5432/mlflow?sslmode=require
    pg_password: "{{ vault_mlflow_db_password }}"
    truncate: true
    log_dir: /var/log/mlflow-migration

- name: Show what would be moved
  mlops.mlflow.pgloader_migrate:
    sqlite_path: /srv/mlflow/mlflow.db
    pg_password: "{{ vault_mlflow_db_password }}"
  check_mode: true
  register: __plan

- name: Without the session_replication_role privilege (pgloader re-creates the foreign keys)
  mlops.mlflow.pgloader_migrate:
    sqlite_path: /srv/mlflow/mlflow.db
    pg_password: "{{ vault_mlflow_db_password }}"
    foreign_keys: recreate

- name: A managed database (the owner is no superuser), TLS checked against the provider's CA
  mlops.mlflow.pgloader_migrate:
    sqlite_path: /srv/mlflow/mlflow.db
    pg_host: mlflow.abcdefghijkl.eu-central-1.rds.amazonaws.com
    pg_user: mlflow
    pg_password: "{{ vault_mlflow_db_password }}"
    pg_sslmode: verify-full
    pg_ca_cert: /etc/ssl/certs/rds-global-bundle.pem
    foreign_keys: auto
"""

RETURN = r"""
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
  sample: migrated 433 rows in 64 tables
action:
  description:
    - C(migrate) (done or, in check mode, would be done) or C(skip) (nothing to load; sequences that
      were behind may still have been set, see RV(sequences)).
  returned: success
  type: str
  sample: migrate
revision:
  description: The alembic revision shared by source and target.
  returned: success
  type: str
  sample: dc11669786a5
tables:
  description:
    - One entry per migrated table (alembic_version excluded), keyed by table name, with the rows
      in SQLite, the rows in PostgreSQL after the load and pgloader's time for the table.
    - C(target_rows) and C(seconds) are null in check mode; when skipped, C(target_rows) holds the
      target's current count.
  returned: success
  type: dict
  sample:
    experiments: {source_rows: 5, target_rows: 5, seconds: 0.78}
    metrics: {source_rows: 264, target_rows: 264, seconds: 0.144}
total_rows:
  description: Sum of the source row counts.
  returned: success
  type: int
  sample: 433
fingerprint:
  description:
    - sha256 over the row count and content hash of every table of the source (see the description),
      computed the same way from PostgreSQL. Equal for an already migrated target.
  returned: when the content was compared (equal row counts before the load, or after a load)
  type: str
  sample: 632a18d549774f1cc61aabc62edc898ffde7f8a7a3bd0991837360c80b83c177
foreign_keys:
  description:
    - Foreign key constraints declared in SQLite, expected in PostgreSQL, and counted in PostgreSQL
      before and after the load (C(after) is null when no load ran).
  returned: success
  type: dict
  sample: {source: 57, expected: 57, before: 57, after: 57}
foreign_keys_mode:
  description:
    - How the foreign keys were (or, in check mode, would be) handled during the load - C(keep) or
      C(recreate); with O(foreign_keys=auto) the one chosen.
  returned: when a load ran or would run
  type: str
  sample: recreate
sequences:
  description:
    - Sequences set after the load, with the value the next nextval() returns.
    - On a skipped run, only those that were behind their column's maximum (in check mode, those that
      would be set).
  returned: when a migration ran and O(sequences=true), or a skipped run found sequences behind
  type: list
  elements: dict
  sample:
    - {table: experiments, column: experiment_id, sequence: public.experiments_experiment_id_seq,
       next_value: 5}
not_owned:
  description:
    - Tables the user does not own, when O(foreign_keys=recreate) (or C(auto) without the right to set
      C(session_replication_role)) is refused for them.
  returned: failure
  type: list
  elements: str
  sample: [experiments, runs]
sequences_behind:
  description: Sequences behind their column's maximum found by a skipped run with O(sequences=false).
  returned: failure
  type: list
  elements: dict
  sample:
    - {table: experiments, column: experiment_id, sequence: public.experiments_experiment_id_seq,
       next_value: 1, max_value: 4}
summary_file:
  description: pgloader's CSV summary, in the run's private directory.
  returned: when pgloader ran and the file is kept (O(log_dir), O(keep_load_file) or a failure)
  type: str
  sample: /var/log/mlflow-migration/pgloader-20250101T120000.k3j9x2ab/pgloader.csv
log_file:
  description: pgloader's log file, in the run's private directory.
  returned: when pgloader ran and the file is kept (O(log_dir), O(keep_load_file) or a failure)
  type: str
  sample: /tmp/pgloader_migrate.x1y2z3ab/pgloader.log
load_file:
  description: The rendered load file, when O(keep_load_file=true).
  returned: when kept
  type: str
  sample: /var/log/mlflow-migration/pgloader-20250101T120000.k3j9x2ab/pgloader.load
elapsed:
  description: Seconds spent in pgloader.
  returned: when pgloader ran
  type: float
  sample: 2.45
mismatches:
  description:
    - On failure after the load, what did not match (summary lines, row counts, tables whose content
      hash differs although the row counts are equal, foreign keys).
  returned: failure
  type: dict
  sample:
    summary: ["experiments: read 5, imported 0, errors 1"]
    counts: [{table: experiments, source: 5, target: 0}]
    content: []
    missing_foreign_keys: []
"""

import os
import shutil
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mlops.mlflow.plugins.module_utils.pgloader import (
    ALEMBIC_TABLE,
    FOREIGN_KEYS_SQL,
    PGLOADER_UMASK,
    SEQUENCE_COLUMNS_SQL,
    SSLMODES,
    build_pg_uri,
    compare_counts,
    content_hash,
    content_mismatches,
    decide,
    foreign_key_problem,
    hash_plan,
    inspect_sqlite,
    load_file_problems,
    missing_foreign_keys,
    parse_pg_uri,
    parse_summary,
    pg_content_sql,
    pgloader_command,
    private_work_dir,
    quote_ident,
    render_load_file,
    revision_problem,
    seed_count_sql,
    sequence_state_sql,
    sequence_statements,
    sequences_behind,
    fingerprint_of,
    source_problems,
    sqlite_content_hashes,
    sqlite_file_problem,
    summary_problems,
    summary_table_rows,
    uri_password_values,
    write_private_file,
)

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
except ImportError:
    psycopg2 = None
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

SCHEMA = "public"

# libpq's modes that check the server's certificate. pgloader 3.6.9's URI grammar lacks them: it
# gets `require`, with which it verifies the chain (against SSL_CERT_FILE) but not the host name.
VERIFY_SSLMODES = ("verify-ca", "verify-full")


def pgloader_sslmode(sslmode):
    """The sslmode written into pgloader's URI for the one psycopg2 uses."""
    return "require" if sslmode in VERIFY_SSLMODES else sslmode


def connect_kwargs(settings, connect_timeout):
    """psycopg2.connect() arguments of the module's own connection (the CA as sslrootcert)."""
    kwargs = dict(host=settings["host"], port=settings["port"], dbname=settings["database"],
                  user=settings["user"], sslmode=settings["sslmode"],
                  connect_timeout=connect_timeout, application_name="ansible-pgloader_migrate")
    if settings["password"] is not None:
        kwargs["password"] = settings["password"]
    if settings.get("ca_cert"):
        kwargs["sslrootcert"] = settings["ca_cert"]
    return kwargs


def pgloader_environment(settings):
    """Environment of the pgloader run: the password, and the CA file OpenSSL verifies against."""
    environ = {}
    if settings["password"] is not None:
        environ["PGPASSWORD"] = settings["password"]
    if settings.get("ca_cert"):
        environ["SSL_CERT_FILE"] = settings["ca_cert"]
    return environ


def replica_role_message(user, problem, alternative=True):
    """Why foreign_keys=keep is refused: the right that is missing and how each provider grants it
    (and, with `alternative`, that foreign_keys=recreate needs no such right)."""
    msg = (
        "foreign_keys=keep needs session_replication_role = 'replica' for the load, which user %(u)s "
        "may not set (%(p)s). Missing right: SET on the parameter session_replication_role. "
        "Self-managed PostgreSQL 15+: as a superuser, `GRANT SET ON PARAMETER session_replication_role "
        "TO %(u)s`. Amazon RDS/Aurora (no superuser): members of rds_superuser may set it; as the "
        "master user, `GRANT rds_superuser TO %(u)s` for the migration and `REVOKE rds_superuser FROM "
        "%(u)s` after it. Azure Database for PostgreSQL flexible server (no superuser): Microsoft "
        "documents no way to grant it; `GRANT azure_pg_admin TO %(u)s` (as the server admin) helps "
        "only where the admin itself may run `SET session_replication_role = replica`."
        % dict(u=user, p=problem))
    if alternative:
        msg += (" Or use foreign_keys=recreate (or auto), which needs no such right, only ownership "
                "of the tables: pgloader drops the foreign keys and re-creates them after the load, "
                "and the module checks that every one is back.")
    return msg


def ownership_message(user, tables, replica_problem=None):
    """Why foreign_keys=recreate (or auto) is refused: tables the user does not own."""
    listed = ", ".join(tables[:10]) + (" ..." if len(tables) > 10 else "")
    msg = ("foreign_keys=recreate drops and re-creates the foreign keys (ALTER TABLE), which needs "
           "ownership of the tables, but user %s is not (a member of) the owner of: %s. Missing right: "
           "ownership; as the owner or an admin, `ALTER TABLE ... OWNER TO %s` for each (MLflow's "
           "schema belongs to the user that created it: let the server or `mlflow db upgrade` create "
           "it as %s)." % (user, listed, user, user))
    if replica_problem:
        msg += (" The other way, foreign_keys=keep, is closed too: %s"
                % replica_role_message(user, replica_problem, alternative=False))
    return msg


def connection_settings(module):
    """Resolve the target from pg_uri or the pg_* options, defaults applied."""
    p = module.params
    if p["pg_uri"]:
        try:
            s = parse_pg_uri(p["pg_uri"])
        except ValueError as e:
            module.fail_json(msg="invalid pg_uri: %s" % e)
        if s["password"] is not None:
            module.fail_json(msg="pg_uri must not contain a password: give it in pg_password "
                                 "(a no_log option)")
        s["sslmode"] = s["sslmode"] or p["pg_sslmode"]
    else:
        s = dict(host=p["pg_host"], port=p["pg_port"], database=p["pg_database"],
                 user=p["pg_user"], sslmode=p["pg_sslmode"])
    s["host"] = s.get("host") or "localhost"
    s["port"] = s.get("port") or 5432
    s["database"] = s.get("database") or "mlflow"
    s["user"] = s.get("user") or "mlflow"
    s["password"] = p["pg_password"]
    s["ca_cert"] = p["pg_ca_cert"]
    return s


class Target(object):
    """The PostgreSQL side: read-only checks, counts, foreign keys, sequences (psycopg2)."""

    def __init__(self, module, settings):
        self.module = module
        try:
            self.conn = psycopg2.connect(**connect_kwargs(settings, module.params["connect_timeout"]))
        except psycopg2.Error as e:
            module.fail_json(msg="cannot connect to PostgreSQL %s@%s:%s/%s: %s"
                                 % (settings["user"], settings["host"], settings["port"],
                                    settings["database"], str(e).strip()))
        self.conn.autocommit = True

    def query(self, sql, params=None):
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
        except psycopg2.Error as e:
            self.module.fail_json(msg="PostgreSQL query failed: %s" % str(e).strip(), query=sql)
        finally:
            cur.close()

    def tables(self):
        return set(r[0] for r in self.query(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE'", (SCHEMA,)))

    def revisions(self):
        return sorted(r[0] for r in self.query(
            "SELECT version_num FROM %s.%s" % (quote_ident(SCHEMA), quote_ident(ALEMBIC_TABLE))))

    def counts(self, tables):
        return dict((t, self.query("SELECT count(*) FROM %s.%s"
                                   % (quote_ident(SCHEMA), quote_ident(t)))[0][0])
                    for t in tables)

    def seed_counts(self, tables):
        seeds = {}
        for t in tables:
            sql = seed_count_sql(t, SCHEMA)
            if sql:
                seeds[t] = self.query(sql)[0][0]
        return seeds

    def foreign_keys(self):
        return [tuple(r) for r in self.query(FOREIGN_KEYS_SQL, (SCHEMA,))]

    def column_types(self, tables):
        """{table: {column: data_type}} of the given tables (information_schema)."""
        types = {}
        for table, column, data_type in self.query(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s", (SCHEMA,)):
            if table in tables:
                types.setdefault(table, {})[column] = data_type
        return types

    def content_hashes(self, plan):
        """content_hash of every table of plan, in one read-only REPEATABLE READ snapshot.

        Rows are streamed through a server-side cursor (constant memory); the hash does not
        depend on their order, so there is no ORDER BY.
        """
        self.conn.autocommit = False
        try:
            cur = self.conn.cursor()
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur.execute("SET LOCAL TimeZone = 'UTC'")
            cur.close()
            hashes = {}
            for table in sorted(plan):
                columns = plan[table]
                named = self.conn.cursor(name="pgloader_migrate_content")
                named.itersize = 5000
                named.execute(pg_content_sql(table, columns, SCHEMA))
                hashes[table] = content_hash(named, [c[1] for c in columns])
                named.close()
            return hashes
        except psycopg2.Error as e:
            self.module.fail_json(msg="reading the PostgreSQL content failed: %s" % str(e).strip())
        finally:
            try:
                self.conn.rollback()
            except psycopg2.Error:
                pass
            self.conn.autocommit = True

    def sequence_states(self, tables):
        """State of every serial/identity sequence of tables, with its column's maximum."""
        states = []
        for table, column, sequence in self.query(SEQUENCE_COLUMNS_SQL, (SCHEMA,)):
            if not sequence or table not in tables:
                continue
            try:
                sql, params = sequence_state_sql(table, column, sequence, SCHEMA)
            except ValueError as e:
                self.module.fail_json(msg="cannot check the sequence of %s.%s: %s"
                                          % (table, column, e))
            last_value, is_called, increment, max_value = self.query(sql, params)[0]
            states.append(dict(table=table, column=column, sequence=sequence,
                               last_value=last_value, is_called=is_called, increment=increment,
                               max_value=max_value))
        return states

    def replica_role_problem(self):
        """None when this user may SET session_replication_role (tried and rolled back)."""
        cur = self.conn.cursor()
        try:
            cur.execute("BEGIN")
            cur.execute("SET LOCAL session_replication_role = 'replica'")
            return None
        except psycopg2.Error as e:
            return str(e).strip()
        finally:
            try:
                cur.execute("ROLLBACK")
            except psycopg2.Error:
                pass
            cur.close()

    def not_owned(self, tables):
        """Tables of `tables` whose owner this user is not (nor a member of): sorted names."""
        return sorted(r[0] for r in self.query(
            "SELECT c.relname FROM pg_catalog.pg_class c WHERE c.relnamespace = %s::regnamespace "
            "AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s) "
            "AND NOT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')",
            (SCHEMA, sorted(tables))))

    def set_sequences(self, tables, only=None):
        """Set the sequences of tables (only the (table, column) pairs in `only`, if given) to
        MAX+1; returns [dict(table, column, sequence, next_value)]."""
        done = []
        columns = self.query(SEQUENCE_COLUMNS_SQL, (SCHEMA,))
        for sql, params, table, column, sequence in sequence_statements(columns, SCHEMA, tables):
            if only is not None and (table, column) not in only:
                continue
            value = self.query(sql, params)[0][0]
            done.append(dict(table=table, column=column, sequence=sequence, next_value=value))
        return done

    def close(self):
        self.conn.close()


def table_report(source_counts, target_counts=None, summary_rows=None):
    report = {}
    for table in sorted(source_counts):
        line = summary_rows.get(table) if summary_rows else None
        report[table] = dict(source_rows=source_counts[table],
                             target_rows=target_counts.get(table) if target_counts else None,
                             seconds=line["seconds"] if line else None)
    return report


def hash_source(module, sqlite_path, plan):
    """Per-table content hashes of the SQLite source; a read error fails the task."""
    try:
        return sqlite_content_hashes(sqlite_path, plan)
    except Exception as e:  # sqlite3.Error and OS errors alike: report, never traceback
        module.fail_json(msg="cannot read the SQLite file %s: %s" % (sqlite_path, e))


def argument_spec():
    return dict(
        sqlite_path=dict(type="path", required=True),
        pg_uri=dict(type="str", no_log=True),
        pg_host=dict(type="str"),
        pg_port=dict(type="int"),
        pg_database=dict(type="str"),
        pg_user=dict(type="str"),
        pg_password=dict(type="str", no_log=True),
        pg_sslmode=dict(type="str", choices=list(SSLMODES) + list(VERIFY_SSLMODES), default="prefer"),
        pg_ca_cert=dict(type="path"),
        truncate=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        foreign_keys=dict(type="str", choices=["keep", "recreate", "auto"], default="keep"),
        integrity_check=dict(type="str", choices=["full", "quick"], default="full"),
        sequences=dict(type="bool", default=True),
        work_mem=dict(type="str", default="64MB"),
        maintenance_work_mem=dict(type="str"),
        workers=dict(type="int"),
        concurrency=dict(type="int"),
        batch_rows=dict(type="int"),
        batch_size=dict(type="str"),
        prefetch_rows=dict(type="int"),
        pgloader_path=dict(type="path"),
        log_dir=dict(type="path"),
        keep_load_file=dict(type="bool", default=False),
        connect_timeout=dict(type="int", default=10),
        expected_foreign_keys=dict(type="int", no_log=False),
    )


MUTUALLY_EXCLUSIVE = [
    ("pg_uri", "pg_host"), ("pg_uri", "pg_port"), ("pg_uri", "pg_database"), ("pg_uri", "pg_user"),
]


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        supports_check_mode=True,
    )
    p = module.params
    # A password inside pg_uri is refused below; it must not be echoed while refusing it (the
    # whole pg_uri is no_log too, which covers AnsibleModule's own argument errors).
    for value in uri_password_values(p["pg_uri"]):
        module.no_log_values.add(value)
    sqlite_path = p["sqlite_path"]

    # -- Inputs that end up in the load file -------------------------------------------------
    settings = connection_settings(module)
    problems = load_file_problems(sqlite_path, settings["host"], settings["port"],
                                  settings["database"], settings["user"],
                                  pgloader_sslmode(settings["sslmode"]),
                                  p["work_mem"], p["maintenance_work_mem"], p["batch_size"])
    ca_cert = settings["ca_cert"]
    if ca_cert is not None and not (os.path.isabs(ca_cert) and os.path.isfile(ca_cert)
                                    and os.access(ca_cert, os.R_OK)):
        problems.append("pg_ca_cert must be the absolute path of a readable PEM file (got %s)"
                        % ca_cert)
    if ca_cert is not None and settings["sslmode"] == "disable":
        problems.append("pg_ca_cert is given but sslmode is disable (no TLS to verify)")
    if problems:
        module.fail_json(msg="invalid options: " + "; ".join(problems), problems=problems)

    # -- SQLite source (read-only) -------------------------------------------------------------
    problem = sqlite_file_problem(sqlite_path)
    if problem:
        module.fail_json(msg=problem)
    try:
        source = inspect_sqlite(sqlite_path, p["integrity_check"])
    except Exception as e:  # sqlite3.Error and OS errors alike: report, never traceback
        module.fail_json(msg="cannot read the SQLite file %s: %s" % (sqlite_path, e))
    problems = source_problems(source)
    if problems:
        module.fail_json(msg="the SQLite source cannot be migrated: " + " ".join(problems),
                         problems=problems, integrity=source["integrity"][:10],
                         fk_violations=source["fk_violations"][:100])
    source_counts = source["counts"]
    loaded_tables = set(source_counts)

    # -- PostgreSQL target (read-only until pgloader runs) -----------------------------------
    if psycopg2 is None:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=PSYCOPG2_IMPORT_ERROR)
    target = Target(module, settings)
    target_tables = target.tables()
    if ALEMBIC_TABLE not in target_tables:
        module.fail_json(msg="the PostgreSQL database has no MLflow schema (no %s.%s table): start "
                             "the MLflow server once against it, or run `mlflow db upgrade` with "
                             "the server's MLflow version" % (SCHEMA, ALEMBIC_TABLE))
    problem = revision_problem(source["revisions"], target.revisions(), sqlite_path)
    if problem:
        module.fail_json(msg=problem, source_revision=source["revisions"])
    revision = source["revisions"][0]
    missing = sorted(loaded_tables - target_tables)
    if missing:
        module.fail_json(msg="tables of the SQLite file are missing in PostgreSQL schema %s: %s"
                             % (SCHEMA, ", ".join(missing)))

    plan, missing = hash_plan(source["columns"], target.column_types(loaded_tables))
    if missing:
        module.fail_json(msg="columns of the SQLite file are missing in PostgreSQL schema %s: %s"
                             % (SCHEMA, ", ".join(missing)))

    # Equal row counts prove nothing: compare the content of every table (hashes computed the
    # same way from both databases) before calling the target "already migrated".
    target_counts = target.counts(loaded_tables)
    source_hashes = None
    content = None
    if sum(source_counts.values()) and not compare_counts(source_counts, target_counts):
        source_hashes = hash_source(module, sqlite_path, plan)
        content = content_mismatches(source_hashes, target.content_hashes(plan))
    decision = decide(source_counts, target_counts, target.seed_counts(loaded_tables),
                      truncate=p["truncate"], force=p["force"], content_mismatches=content)
    fks_before = target.foreign_keys()
    expected_fks = p["expected_foreign_keys"]
    if expected_fks is None:
        expected_fks = source["foreign_keys"]
    fk_report = dict(source=source["foreign_keys"], expected=expected_fks, before=len(fks_before),
                     after=None)
    result = dict(changed=False, action=decision["action"], revision=revision,
                  total_rows=sum(source_counts.values()), foreign_keys=fk_report)
    if source_hashes is not None:
        result["fingerprint"] = fingerprint_of(source_hashes)

    if decision["action"] == "fail":
        module.fail_json(msg=decision["reason"], tables=table_report(source_counts, target_counts),
                         **dict((k, v) for k, v in result.items() if k != "changed"))
    if decision["action"] == "skip":
        problem = foreign_key_problem(len(fks_before), expected_fks)
        if problem:
            module.warn(problem)
        result["tables"] = table_report(source_counts, target_counts)
        msg = decision["reason"]
        # Already migrated does not mean usable: a sequence behind its column's maximum makes
        # the next INSERT fail with a duplicate key.
        behind = sequences_behind(target.sequence_states(loaded_tables))
        if behind:
            names = ", ".join("%s (next value %d, MAX(%s.%s) = %d)"
                              % (b["sequence"], b["next_value"], b["table"], b["column"],
                                 b["max_value"]) for b in behind)
            if not p["sequences"]:
                module.fail_json(
                    msg="the target is already migrated, but sequences are behind their column's "
                        "maximum, so the next INSERT fails with a duplicate key: %s. Set "
                        "sequences=true to let the module set them to MAX+1." % names,
                    sequences_behind=behind, **result)
            if module.check_mode:
                result["sequences"] = [
                    dict(table=b["table"], column=b["column"], sequence=b["sequence"],
                         next_value=b["max_value"] + 1) for b in behind]
            else:
                result["sequences"] = target.set_sequences(
                    loaded_tables, only=set((b["table"], b["column"]) for b in behind))
            result["changed"] = True
            msg += "; %s to MAX+1 the sequences that were behind: %s" % (
                "would set" if module.check_mode else "set", names)
        module.exit_json(msg=msg, **result)

    # How the foreign keys survive the load: kept in place under session_replication_role =
    # 'replica' (a superuser's right, or granted), or dropped and re-created by pgloader (the
    # owner's right). Checked here, before anything changes.
    fk_mode = p["foreign_keys"]
    replica_problem = None
    if fk_mode in ("keep", "auto"):
        replica_problem = target.replica_role_problem()
        if replica_problem and fk_mode == "keep":
            module.fail_json(msg=replica_role_message(settings["user"], replica_problem))
        fk_mode = "recreate" if replica_problem else "keep"
    if fk_mode == "recreate":
        not_owned = target.not_owned(loaded_tables)
        if not_owned:
            module.fail_json(msg=ownership_message(settings["user"], not_owned, replica_problem),
                             not_owned=not_owned)
    keep_fks = fk_mode == "keep"
    result["foreign_keys_mode"] = fk_mode
    fk_note = ""
    if p["foreign_keys"] == "auto":
        fk_note = ("; foreign keys re-created by pgloader (user %s may not set "
                   "session_replication_role)" % settings["user"] if replica_problem
                   else "; foreign keys kept (session_replication_role = replica)")
    problem = foreign_key_problem(len(fks_before), expected_fks)
    if problem:
        module.fail_json(msg=problem, **result)

    pgloader = p["pgloader_path"] or module.get_bin_path("pgloader", required=True)
    if module.check_mode:
        result.update(changed=True, tables=table_report(source_counts),
                      msg="would migrate %d rows in %d tables (%s%s)"
                          % (result["total_rows"], len(source_counts), decision["reason"], fk_note))
        module.exit_json(**result)

    # -- The load ------------------------------------------------------------------------------
    # A private directory (mkdtemp, 0700) per run, inside log_dir when given: the load file is
    # created there exclusively (0600, O_EXCL|O_NOFOLLOW) and pgloader runs with umask 077, so its
    # summary, log and reject directories/files (row data) are private too.
    temporary = not p["log_dir"]
    try:
        workdir = private_work_dir(p["log_dir"])
    except OSError as e:
        module.fail_json(msg="cannot create a private work directory in %s: %s"
                             % (p["log_dir"] or "the temporary directory", e))
    load_file = os.path.join(workdir, "pgloader.load")
    summary_file = os.path.join(workdir, "pgloader.csv")
    log_file = os.path.join(workdir, "pgloader.log")
    pg_uri = build_pg_uri(settings["host"], settings["port"], settings["database"],
                          settings["user"], pgloader_sslmode(settings["sslmode"]))
    content = render_load_file(
        sqlite_path, pg_uri, keep_foreign_keys=keep_fks, work_mem=p["work_mem"],
        maintenance_work_mem=p["maintenance_work_mem"], workers=p["workers"],
        concurrency=p["concurrency"], batch_rows=p["batch_rows"], batch_size=p["batch_size"],
        prefetch_rows=p["prefetch_rows"])
    write_private_file(load_file, content)

    environ = pgloader_environment(settings)
    started = time.time()
    rc, stdout, stderr = module.run_command(
        pgloader_command(pgloader, load_file, summary_file, log_file, workdir),
        environ_update=environ, umask=PGLOADER_UMASK)
    elapsed = round(time.time() - started, 3)
    if not p["keep_load_file"]:
        os.remove(load_file)
    else:
        result["load_file"] = load_file
    result.update(changed=True, summary_file=summary_file, log_file=log_file, elapsed=elapsed,
                  pgloader_rc=rc)

    if rc != 0:
        module.fail_json(msg="pgloader exited with %d (see stderr and %s)" % (rc, log_file),
                         rc=rc, stdout=stdout, stderr=stderr, **result)

    # -- Prove the result: never trust exit code 0 ---------------------------------------------
    mismatches = dict(summary=[], counts=[], content=[], missing_foreign_keys=[])
    summary_rows = []
    try:
        with open(summary_file) as f:
            summary_rows = parse_summary(f.read())
    except (IOError, OSError, ValueError) as e:
        mismatches["summary"].append("cannot read pgloader's summary %s: %s" % (summary_file, e))
    else:
        mismatches["summary"] = summary_problems(summary_rows, expected_tables=loaded_tables)
    target_counts = target.counts(loaded_tables)
    mismatches["counts"] = compare_counts(source_counts, target_counts)
    if not mismatches["counts"]:
        if source_hashes is None:
            source_hashes = hash_source(module, sqlite_path, plan)
            result["fingerprint"] = fingerprint_of(source_hashes)
        mismatches["content"] = content_mismatches(source_hashes, target.content_hashes(plan))
    fks_after = target.foreign_keys()
    fk_report["after"] = len(fks_after)
    mismatches["missing_foreign_keys"] = [
        dict(table=t, name=n, definition=d) for t, n, d in missing_foreign_keys(fks_before, fks_after)]
    result["tables"] = table_report(source_counts, target_counts, summary_table_rows(summary_rows))

    if any(mismatches.values()):
        parts = []
        if mismatches["summary"]:
            parts.append("pgloader summary: " + "; ".join(mismatches["summary"]))
        if mismatches["counts"]:
            parts.append("row counts differ: " + "; ".join(
                "%s SQLite %s / PostgreSQL %s" % (m["table"], m["source"], m["target"])
                for m in mismatches["counts"]))
        if mismatches["content"]:
            parts.append("content differs (same row counts): " + ", ".join(mismatches["content"]))
        if mismatches["missing_foreign_keys"]:
            parts.append("foreign keys lost: " + ", ".join(
                "%s.%s" % (m["table"], m["name"]) for m in mismatches["missing_foreign_keys"]))
        advice = "fix the cause (see %s), then run again with truncate=true" % log_file
        if mismatches["missing_foreign_keys"]:
            advice += (" after re-creating the lost constraints (their definitions are in "
                       "mismatches.missing_foreign_keys) or the whole target database")
        module.fail_json(msg="the migration is NOT complete although pgloader exited %d: %s. "
                             "Do not start MLflow on this database; %s."
                             % (rc, " | ".join(parts), advice),
                         mismatches=mismatches, stdout=stdout, stderr=stderr, **result)

    if p["sequences"]:
        result["sequences"] = target.set_sequences(loaded_tables)
    target.close()

    if temporary and not p["keep_load_file"]:
        shutil.rmtree(workdir, ignore_errors=True)
        for key in ("summary_file", "log_file"):
            result.pop(key)
    result["msg"] = "migrated %d rows in %d tables (%s%s)" % (
        result["total_rows"], len(source_counts), decision["reason"], fk_note)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
