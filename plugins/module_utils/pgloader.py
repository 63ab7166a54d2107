# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the mlops.mlflow.pgloader_migrate module.

Everything that can be decided without a PostgreSQL connection lives here as a plain function, so
the unit tests can exercise it directly: load-file rendering and input validation, parsing of
pgloader's CSV summary, count comparison, the migrate/skip/fail decision, the SQL that sets
sequences, and the read-only inspection of the SQLite source (stdlib sqlite3 only).

Measured with pgloader 3.6.9 (Debian bookworm), PostgreSQL 15 and MLflow 3.17.2; see the module's
documentation for the facts these helpers rely on.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sqlite3

from urllib.parse import parse_qsl, unquote, urlsplit
from urllib.request import pathname2url

ALEMBIC_TABLE = "alembic_version"

# Rows that a fresh MLflow schema already holds and that do not count as data: the `workspaces`
# row named 'default' is inserted by the alembic migrations (MLflow 3.17), the Default experiment
# (id 0) is created by the tracking server on its first start. Anything else in the target is data.
SEED_ROWS = {
    "experiments": "experiment_id = 0",
    "workspaces": "name = 'default'",
}

# Options of pgloader's `sslmode` URI parameter (pgloader does not know verify-ca/verify-full).
SSLMODES = ("disable", "allow", "prefer", "require")

# Non-table lines of the CSV summary written by pgloader 3.6.9 for a SQLite load.
SUMMARY_SECTIONS = frozenset(
    [
        "fetch",
        "fetch meta data",
        "Drop Foreign Keys",
        "Truncate",
        "COPY Threads Completion",
        "Create Foreign Keys",
        "Create Indexes",
        "Index Build Completion",
        "Reset Sequences",
        "Primary Keys",
        "Create Triggers",
        "Set Table OIDs",
        "Install Comments",
        "Before Load",
        "After Load",
    ]
)

SQLITE_HEADER = b"SQLite format 3\x00"

_USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.$-]*$")
_DBNAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_HOST_RE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_SOCKET_DIR_RE = re.compile(r"^/[A-Za-z0-9/._-]*$")
_MEMORY_RE = re.compile(r"^[0-9]+ ?(kB|MB|GB|TB)?$")
_BATCH_SIZE_RE = re.compile(r"^[0-9]+ ?(kB|MB|GB)$")
_INTERVAL_RE = re.compile(
    r"^\s*(?:(?P<years>\d+) years? )?(?:(?P<months>\d+) months? )?(?:(?P<days>\d+) days? )?"
    r"(?:(?P<hours>\d+)h)?(?:(?P<minutes>\d+)m)?(?P<seconds>\d+(?:\.\d*)?)s\s*$"
)


# ---------------------------------------------------------------------------------------------
# Identifiers and connection strings
# ---------------------------------------------------------------------------------------------


def quote_ident(name):
    """Quote an SQL identifier (PostgreSQL and SQLite share the double-quote syntax)."""
    return '"' + str(name).replace('"', '""') + '"'


def parse_pg_uri(uri):
    """Split a postgresql:// URI into connection settings.

    Returns a dict with host, port, database, user, password and sslmode (None when absent).
    Raises ValueError on a URI this module cannot use. The caller refuses URIs that carry a
    password: the password belongs in its own no_log option.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("pg_uri must start with postgresql:// (got scheme %r)" % parts.scheme)
    try:
        port = parts.port
    except ValueError:
        raise ValueError("pg_uri has an invalid port")
    database = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    sslmode = query.pop("sslmode", None)
    host = unquote(parts.hostname) if parts.hostname else None
    if query.get("host"):  # libpq style socket directory: postgresql://user@/db?host=/run/postgresql
        host = query.pop("host")
    if query:
        raise ValueError("pg_uri parameters not supported: %s" % ", ".join(sorted(query)))
    return dict(
        host=host,
        port=port,
        database=database or None,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        sslmode=sslmode,
    )


def build_pg_uri(host, port, database, user, sslmode=None):
    """Render the target URI for the load file: never with a password.

    pgloader 3.6.9 falls back to the PGPASSWORD environment variable when the URI carries no
    password (measured). A host starting with '/' is a Unix socket directory (`unix:/dir`).
    """
    if host and host.startswith("/"):
        netloc = "unix:" + host
    else:
        netloc = host or ""
    uri = "postgresql://%s@%s:%d/%s" % (user, netloc, int(port), database)
    if sslmode:
        uri += "?sslmode=%s" % sslmode
    return uri


def load_file_problems(sqlite_path, host, port, database, user, sslmode=None, work_mem=None,
                       maintenance_work_mem=None, batch_size=None):
    """Check that every value interpolated into the load file is representable there.

    pgloader's command grammar has no escaping for most of these places (a quote in a path or
    GUC value, an '@' in a user name, a space in a database name ...). Returns a list of messages;
    empty means the values can be rendered verbatim.
    """
    problems = []
    if not sqlite_path or not os.path.isabs(sqlite_path):
        problems.append("sqlite_path must be an absolute path")
    elif any(c in sqlite_path for c in "'\n\r\\*?["):
        # The path is rendered as a quoted filename: no quote inside; SBCL treats * ? [ and
        # backslash as wildcards/escapes in a namestring.
        problems.append("sqlite_path must not contain any of: ' \\ * ? [ or a newline")
    if not user or not _USER_RE.match(user):
        problems.append("the PostgreSQL user name must match %s to be usable in a pgloader URI"
                        % _USER_RE.pattern)
    if not database or not _DBNAME_RE.match(database):
        problems.append("the PostgreSQL database name must match %s to be usable in a pgloader URI"
                        % _DBNAME_RE.pattern)
    if host:
        if host.startswith("/"):
            if not _SOCKET_DIR_RE.match(host):
                problems.append("a socket directory host must match %s" % _SOCKET_DIR_RE.pattern)
        elif not _HOST_RE.match(host):
            problems.append("the PostgreSQL host must be a host name or IPv4 address "
                            "(pgloader's URI grammar has no IPv6 literals)")
    try:
        port_ok = 0 < int(port) < 65536
    except (TypeError, ValueError):
        port_ok = False
    if not port_ok:
        problems.append("the PostgreSQL port must be between 1 and 65535")
    if sslmode is not None and sslmode not in SSLMODES:
        problems.append("sslmode must be one of %s" % ", ".join(SSLMODES))
    for name, value in (("work_mem", work_mem), ("maintenance_work_mem", maintenance_work_mem)):
        if value is not None and not _MEMORY_RE.match(str(value)):
            problems.append("%s must look like 64MB (digits and kB/MB/GB/TB)" % name)
    if batch_size is not None and not _BATCH_SIZE_RE.match(str(batch_size)):
        problems.append("batch_size must look like 20MB (digits and kB/MB/GB)")
    return problems


def _pgloader_bytes(value):
    """'20MB' -> '20 MB' (pgloader's byte-size syntax: digits, optional space, [kMGTP]B)."""
    m = re.match(r"^([0-9]+) ?(kB|MB|GB)$", str(value))
    return "%s %s" % (m.group(1), m.group(2)[0] + "B")


def render_load_file(sqlite_path, pg_uri, keep_foreign_keys=True, work_mem="64MB",
                     maintenance_work_mem=None, workers=None, concurrency=None, batch_rows=None,
                     batch_size=None, prefetch_rows=None, exclude_tables=(ALEMBIC_TABLE,)):
    """Render the pgloader command file for a data-only load into MLflow's existing schema.

    - `data only, create no tables, create no indexes`: the schema is MLflow's own (alembic).
    - `truncate`: pgloader empties every loaded table first; whether the target may hold data is
      decided by the module before pgloader runs.
    - `reset no sequences`: the module sets every serial/identity sequence itself afterwards.
    - keep_foreign_keys: `no foreign keys` plus session_replication_role = 'replica' leaves the
      constraints in place (pgloader otherwise drops all of them and re-creates them after the
      load; a re-creation that fails is logged and the table stays WITHOUT the constraint, exit
      code 0). Replica mode needs a superuser or, on PostgreSQL 15+,
      GRANT SET ON PARAMETER session_replication_role.
    - alembic_version is excluded: it must keep the target's row.
    The URI carries no password: pgloader reads PGPASSWORD from its environment.
    """
    options = ["data only", "truncate", "create no tables", "create no indexes",
               "reset no sequences"]
    if keep_foreign_keys:
        options.append("no foreign keys")
    for label, value in (("workers", workers), ("concurrency", concurrency),
                         ("batch rows", batch_rows), ("prefetch rows", prefetch_rows)):
        if value is not None:
            options.append("%s = %d" % (label, int(value)))
    if batch_size is not None:
        options.append("batch size = %s" % _pgloader_bytes(batch_size))

    gucs = []
    if keep_foreign_keys:
        gucs.append("session_replication_role = 'replica'")
    if work_mem:
        gucs.append("work_mem = '%s'" % work_mem)
    if maintenance_work_mem:
        gucs.append("maintenance_work_mem = '%s'" % maintenance_work_mem)

    lines = [
        "LOAD DATABASE",
        "     FROM '%s'" % sqlite_path,
        "     INTO %s" % pg_uri,
        "",
        " WITH " + (",\n      ".join(options)),
    ]
    if gucs:
        lines += ["", "  SET PostgreSQL PARAMETERS", "      " + ",\n      ".join(gucs)]
    if exclude_tables:
        lines += ["", " EXCLUDING TABLE NAMES LIKE " + ", ".join("'%s'" % t for t in exclude_tables)]
    return "\n".join(lines) + ";\n"


def pgloader_command(pgloader, load_file, summary_file, log_file, root_dir):
    """argv of the pgloader run: no secret here, the password travels in PGPASSWORD."""
    return [pgloader, "--summary", summary_file, "--logfile", log_file, "--root-dir", root_dir,
            load_file]


# ---------------------------------------------------------------------------------------------
# pgloader summary (--summary FILE.csv)
# ---------------------------------------------------------------------------------------------


def parse_interval(text):
    """pgloader's duration ('0.072s', '1m2.500s', '1h3m0.125s', '2 days 1h0m1.000s') -> seconds."""
    m = _INTERVAL_RE.match(text or "")
    if not m:
        return None
    g = m.groupdict()
    seconds = float(g["seconds"])
    seconds += int(g["minutes"] or 0) * 60 + int(g["hours"] or 0) * 3600
    seconds += int(g["days"] or 0) * 86400 + int(g["months"] or 0) * 30 * 86400
    seconds += int(g["years"] or 0) * 365 * 86400
    return round(seconds, 3)


def parse_summary(csv_text):
    """Parse pgloader's CSV summary: `"name";read;imported;errors;bytes;"time"` per line.

    pgloader 3.6.9 writes no header and no Total row; names are double-quoted (tolerated unquoted
    too). Returns a list of dicts: name, read, imported, errors, bytes, seconds, time.
    Raises ValueError on a line that does not have this shape, so a format change is loud.
    """
    rows = []
    reader = csv.reader(io.StringIO(csv_text), delimiter=";", quotechar='"')
    for lineno, fields in enumerate(reader, 1):
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != 6:
            raise ValueError("summary line %d has %d fields, expected 6: %r"
                             % (lineno, len(fields), ";".join(fields)))
        name = fields[0].strip()
        if name.lower() in ("table name", "name"):  # a header, should a version write one
            continue
        try:
            read, imported, errors, nbytes = (int(f.strip() or 0) for f in fields[1:5])
        except ValueError:
            raise ValueError("summary line %d has non-numeric counters: %r"
                             % (lineno, ";".join(fields)))
        rows.append(dict(name=name, read=read, imported=imported, errors=errors, bytes=nbytes,
                         time=fields[5].strip(), seconds=parse_interval(fields[5].strip())))
    return rows


def _bare_table_name(name):
    """'"public"."runs"' or 'public.runs' -> 'runs' (3.6.9 prints the bare name for SQLite)."""
    name = name.strip()
    m = re.match(r'^(?:"?[^".]+"?\.)?"?([^"]+)"?$', name)
    return m.group(1) if m else name


def summary_table_rows(rows):
    """{table: row} for the summary lines that are tables (not pgloader's own sections)."""
    return dict((_bare_table_name(r["name"]), r) for r in rows if r["name"] not in SUMMARY_SECTIONS)


def summary_problems(rows, expected_tables=None):
    """List what is wrong in a parsed summary; empty means every line is clean.

    Every line, tables and sections alike, must have 0 errors and read == imported ("1 error,
    0 rows" loses a whole table; "Create Foreign Keys";57;56;1 is a dropped constraint). When
    expected_tables is given, each of them must have a line (a missing target table is only
    logged as "Skipping").
    """
    problems = []
    if not rows:
        problems.append("the pgloader summary is empty")
    for r in rows:
        if r["errors"] or r["read"] != r["imported"]:
            problems.append("%s: read %d, imported %d, errors %d"
                            % (r["name"], r["read"], r["imported"], r["errors"]))
    if expected_tables is not None and rows:
        seen = summary_table_rows(rows)
        for table in sorted(set(expected_tables) - set(seen)):
            problems.append("%s: missing from the pgloader summary (not loaded)" % table)
    return problems


# ---------------------------------------------------------------------------------------------
# Counts and decision
# ---------------------------------------------------------------------------------------------


def compare_counts(source, target):
    """Per-table row count differences: [{table, source, target}] for every table of source.

    A table absent from target is reported with target None.
    """
    mismatches = []
    for table in sorted(source):
        if target.get(table) != source[table]:
            mismatches.append(dict(table=table, source=source[table], target=target.get(table)))
    return mismatches


def target_data_counts(target_counts, seed_counts):
    """Rows in the target that are data, i.e. not MLflow's own seed rows: {table: rows} (>0 only)."""
    data = {}
    for table, rows in target_counts.items():
        rows = (rows or 0) - (seed_counts.get(table) or 0)
        if rows > 0:
            data[table] = rows
    return data


def decide(source_counts, target_counts, seed_counts, truncate=False, force=False):
    """Decide what to do with the target. Returns dict(action, reason, replaces_data).

    action is 'migrate', 'skip' (nothing to do, changed=false) or 'fail'.
    - equal row counts for every table (and a non-empty source): already migrated -> skip,
      unless force (then the earlier copy is replaced);
    - a target empty apart from MLflow's seed rows -> migrate;
    - a target holding other data -> migrate only with truncate, else fail.
    """
    source_total = sum(source_counts.values())
    same = not compare_counts(source_counts, target_counts)
    data = target_data_counts(target_counts, seed_counts)

    if source_total == 0:
        return dict(action="skip", replaces_data=False,
                    reason="the SQLite source holds no rows; nothing to migrate")
    if same and not force:
        return dict(action="skip", replaces_data=False,
                    reason="already migrated: the target holds the same row count as the source "
                           "in every table (%d rows); use force=true to migrate again" % source_total)
    if not data:
        return dict(action="migrate", replaces_data=False,
                    reason="the target is empty apart from MLflow's seed rows")
    if same and force:
        return dict(action="migrate", replaces_data=True,
                    reason="force=true: replacing the target's earlier copy (same row counts)")
    if truncate:
        return dict(action="migrate", replaces_data=True,
                    reason="truncate=true: replacing %d rows of data in %d target tables"
                           % (sum(data.values()), len(data)))
    details = ", ".join(
        "%s (source %s, target %s)" % (m["table"], m["source"], m["target"])
        for m in compare_counts(source_counts, target_counts))
    return dict(action="fail", replaces_data=False,
                reason="the target already holds data (%d rows in %d tables) that differs from the "
                       "source: %s. Set truncate=true to replace it, or point the module at an "
                       "empty database" % (sum(data.values()), len(data), details))


def revision_problem(source_revisions, target_revisions, sqlite_path="/path/to/mlflow.db"):
    """None when both alembic revisions are equal, else a message that says how to fix it."""
    src, dst = sorted(source_revisions), sorted(target_revisions)
    if src == dst and src:
        return None
    return (
        "alembic revisions differ: SQLite is at %s, PostgreSQL at %s. Both schemas must be at the "
        "same revision before a data-only load. Either upgrade a COPY of the SQLite file with the "
        "same MLflow version as the server (`cp %s /tmp/mlflow-copy.db && mlflow db upgrade "
        "sqlite:////tmp/mlflow-copy.db`) and migrate that copy, or bring the server (and its "
        "PostgreSQL schema) to the SQLite revision (run the MLflow version that wrote the SQLite "
        "file once against the empty database, or `mlflow db upgrade` with it)."
        % (", ".join(src) or "none", ", ".join(dst) or "none", sqlite_path)
    )


# ---------------------------------------------------------------------------------------------
# Foreign keys and sequences (SQL builders; executed by the module)
# ---------------------------------------------------------------------------------------------

FOREIGN_KEYS_SQL = (
    "SELECT c.conrelid::regclass::text AS table_name, c.conname, pg_get_constraintdef(c.oid) "
    "FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = %s::regnamespace "
    "ORDER BY 1, 2"
)

SEQUENCE_COLUMNS_SQL = (
    "SELECT table_name, column_name, "
    "pg_get_serial_sequence(quote_ident(table_schema) || '.' || quote_ident(table_name), column_name) "
    "FROM information_schema.columns "
    "WHERE table_schema = %s AND (column_default LIKE 'nextval%%' OR is_identity = 'YES') "
    "ORDER BY table_name, column_name"
)


def foreign_key_problem(target_count, expected):
    """None when the target has at least `expected` foreign keys, else a message.

    pgloader (data only, without `no foreign keys`) drops every constraint and leaves out any it
    cannot re-create; a later run only re-creates what it dropped itself, so the count of a
    previous victim stays low. `expected` defaults to the count declared in the SQLite schema
    (57 on both sides for MLflow 3.17.2).
    """
    if expected is None or target_count >= expected:
        return None
    return ("PostgreSQL has %d foreign keys where %d are expected (the SQLite schema's count, or "
            "expected_foreign_keys): an earlier load probably dropped some. Re-create the target "
            "database from MLflow's schema (drop it, create it, start the server or run `mlflow db "
            "upgrade` once) and migrate again, or set expected_foreign_keys if the schemas "
            "legitimately differ." % (target_count, expected))


def missing_foreign_keys(before, after):
    """Foreign keys present before the load and absent after it: sorted [(table, name, def)]."""
    after_keys = set((fk[0], fk[1]) for fk in after)
    return sorted(fk for fk in before if (fk[0], fk[1]) not in after_keys)


def sequence_statements(columns, schema="public", tables=None):
    """Build `setval` statements for serial and identity columns.

    columns: iterable of (table, column, sequence) rows from SEQUENCE_COLUMNS_SQL; rows without
    a sequence are skipped, and so are tables not in `tables` when it is given.
    Returns [(sql, params, table, column, sequence)]; each sql sets the sequence so that the next
    nextval() returns MAX(column) + 1 (1 on an empty table) and returns that value.
    """
    statements = []
    for table, column, sequence in columns:
        if not sequence or (tables is not None and table not in tables):
            continue
        sql = ("SELECT setval(%%s, COALESCE((SELECT MAX(%s) FROM %s.%s), 0) + 1, false)"
               % (quote_ident(column), quote_ident(schema), quote_ident(table)))
        statements.append((sql, (sequence,), table, column, sequence))
    return statements


def seed_count_sql(table, schema="public"):
    """SQL counting MLflow's seed rows in table, or None when the table has none."""
    where = SEED_ROWS.get(table)
    if where is None:
        return None
    return "SELECT count(*) FROM %s.%s WHERE %s" % (quote_ident(schema), quote_ident(table), where)


# ---------------------------------------------------------------------------------------------
# SQLite source (read-only inspection, stdlib only)
# ---------------------------------------------------------------------------------------------


def sqlite_file_problem(path):
    """None when path is an existing, readable SQLite 3 file, else a message.

    Checked before anything else: pgloader 3.6.9 given a missing path creates an empty file
    there and exits 0.
    """
    if not os.path.exists(path):
        return "the SQLite file %s does not exist" % path
    if not os.path.isfile(path):
        return "%s is not a regular file" % path
    try:
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except (IOError, OSError) as e:
        return "cannot read %s: %s" % (path, e)
    if header != SQLITE_HEADER:
        return "%s is not a SQLite 3 database (bad header)" % path
    return None


def sqlite_connect_ro(path):
    """Open the SQLite file read-only (never creates it)."""
    return sqlite3.connect("file:%s?mode=ro" % pathname2url(path), uri=True)


def inspect_sqlite(path, integrity="full"):
    """Read-only inspection of an MLflow SQLite database.

    Returns dict(tables, counts, revisions, is_mlflow, integrity, fk_violations, foreign_keys):
    - tables: user tables (sqlite_* internals excluded), counts: {table: rows} without
      alembic_version;
    - integrity: the rows of PRAGMA integrity_check (['ok'] when sound), or quick_check;
    - fk_violations: [{table, rowid, parent, fkid}] from PRAGMA foreign_key_check;
    - foreign_keys: number of foreign key constraints declared in the source.
    """
    conn = sqlite_connect_ro(path)
    try:
        cur = conn.cursor()
        tables = [r[0] for r in cur.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
            "ESCAPE '\\' ORDER BY name")]
        is_mlflow = ALEMBIC_TABLE in tables and "experiments" in tables
        pragma = "quick_check" if integrity == "quick" else "integrity_check"
        integrity_rows = [r[0] for r in cur.execute("PRAGMA %s" % pragma)]
        result = dict(tables=tables, is_mlflow=is_mlflow, integrity=integrity_rows,
                      revisions=[], counts={}, fk_violations=[], foreign_keys=0)
        if not is_mlflow:
            return result
        result["revisions"] = sorted(
            r[0] for r in cur.execute("SELECT version_num FROM %s" % quote_ident(ALEMBIC_TABLE)))
        for table in tables:
            if table == ALEMBIC_TABLE:
                continue
            result["counts"][table] = cur.execute(
                "SELECT count(*) FROM %s" % quote_ident(table)).fetchone()[0]
            result["foreign_keys"] += len(set(
                r[0] for r in cur.execute("PRAGMA foreign_key_list(%s)" % quote_ident(table))))
        result["fk_violations"] = [
            dict(table=r[0], rowid=r[1], parent=r[2], fkid=r[3])
            for r in cur.execute("PRAGMA foreign_key_check")]
        return result
    finally:
        conn.close()


def summarize_fk_violations(violations, sample=5):
    """Group foreign_key_check rows: [{table, parent, rows, rowids (first `sample`)}]."""
    groups = {}
    for v in violations:
        key = (v["table"], v["parent"])
        g = groups.setdefault(key, dict(table=v["table"], parent=v["parent"], rows=0, rowids=[]))
        g["rows"] += 1
        if len(g["rowids"]) < sample:
            g["rowids"].append(v["rowid"])
    return [groups[k] for k in sorted(groups)]


def source_problems(info):
    """Messages for an inspected SQLite source that must not be migrated; empty when fine."""
    problems = []
    if not info["is_mlflow"]:
        missing = [t for t in (ALEMBIC_TABLE, "experiments") if t not in info["tables"]]
        problems.append("not an MLflow database: table(s) %s missing" % ", ".join(missing))
        return problems
    if info["integrity"] != ["ok"]:
        problems.append("PRAGMA integrity_check failed: %s" % "; ".join(info["integrity"][:10]))
    if info["fk_violations"]:
        groups = ["%s -> %s: %d row(s), rowid %s"
                  % (g["table"], g["parent"], g["rows"], ", ".join(str(r) for r in g["rowids"]))
                  for g in summarize_fk_violations(info["fk_violations"])]
        problems.append(
            "PRAGMA foreign_key_check found rows whose parent row is missing (SQLite does not "
            "enforce foreign keys; PostgreSQL will): %s. Delete or fix them in the SQLite file "
            "(a copy) and run again." % "; ".join(groups))
    if not info["revisions"]:
        problems.append("the SQLite alembic_version table is empty")
    return problems
