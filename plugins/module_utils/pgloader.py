# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the mlops.mlflow.pgloader_migrate module.

Everything that can be decided without a PostgreSQL connection lives here as a plain function, so
the unit tests can exercise it directly: load-file rendering and input validation, parsing of
pgloader's CSV summary, count comparison, the content fingerprint (per-table hashes computed the
same way from SQLite's and psycopg2's values), the migrate/skip/fail decision, the SQL that checks
and sets sequences, the passwords hidden in a URI, private work files, and the read-only
inspection of the SQLite source (stdlib sqlite3 only).

Measured with pgloader 3.6.9 (Debian bookworm), PostgreSQL 15 and MLflow 3.17.2; see the module's
documentation for the facts these helpers rely on.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import hashlib
import io
import json
import math
import os
import re
import sqlite3
import struct
import tempfile
import time

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

# umask of the pgloader process: its summary, log, reject directories and files hold row data.
PGLOADER_UMASK = 0o077

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


def uri_password_values(uri):
    """Every form in which a password of `uri` may show up: {as written, percent-decoded}.

    Never raises: it runs before the URI is validated, so that the module can hide the password
    (module.no_log_values) from any result, including the failure that refuses the URI. Besides
    the RFC 3986 reading (userinfo ends at the first '/', '?' or '#'), the userinfo up to the last
    '@' is considered too, which catches a password with an unencoded '/'.
    """
    values = set()
    if not isinstance(uri, str) or "://" not in uri:
        return values
    rest = uri.split("://", 1)[1]
    candidates = []
    netloc = re.split(r"[/?#]", rest, 1)[0]
    if "@" in netloc:
        candidates.append(netloc.rpartition("@")[0])
    greedy = rest.rpartition("@")[0]
    if greedy and "@" not in greedy:
        candidates.append(greedy)
    for userinfo in candidates:
        if ":" not in userinfo:
            continue
        raw = userinfo.split(":", 1)[1]
        if raw:
            values.add(raw)
            decoded = unquote(raw)
            if decoded:
                values.add(decoded)
    return values


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


def private_work_dir(log_dir=None):
    """A new directory, mode 0700, for the load file and everything pgloader writes.

    Inside log_dir (created 0700 when missing) as pgloader-TIMESTAMP.XXXXXXXX, else a temporary
    directory. mkdtemp picks a name nobody could predict and creates it exclusively, so nothing
    planted in a shared log_dir (a symlink at a known name) is ever followed.
    """
    if log_dir:
        if not os.path.isdir(log_dir):
            os.makedirs(log_dir, 0o700)
            os.chmod(log_dir, 0o700)
        return tempfile.mkdtemp(prefix="pgloader-%s." % time.strftime("%Y%m%dT%H%M%S"),
                                dir=log_dir)
    return tempfile.mkdtemp(prefix="pgloader_migrate.")


def write_private_file(path, content):
    """Create path (mode 0600) and write content; refuse an existing file or any symlink there."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0))
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except Exception:
        os.close(fd)
        raise
    with os.fdopen(fd, "w") as f:
        f.write(content)


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


def decide(source_counts, target_counts, seed_counts, truncate=False, force=False,
           content_mismatches=None):
    """Decide what to do with the target. Returns dict(action, reason, replaces_data).

    action is 'migrate', 'skip' (nothing to do, changed=false) or 'fail'.
    content_mismatches: tables whose content hashes differ between source and target ([] when
    all are equal), or None when the content was not compared (a target is then never taken
    for "already migrated": equal row counts alone prove nothing).
    - equal row counts AND equal content in every table (and a non-empty source): already
      migrated -> skip, unless force (then the identical copy is loaded again);
    - a target empty apart from MLflow's seed rows -> migrate;
    - a target holding other data -> migrate only with truncate, else fail. force never replaces
      data that differs from the source.
    """
    source_total = sum(source_counts.values())
    count_mismatches = compare_counts(source_counts, target_counts)
    same = not count_mismatches and content_mismatches == []
    data = target_data_counts(target_counts, seed_counts)

    if source_total == 0:
        return dict(action="skip", replaces_data=False,
                    reason="the SQLite source holds no rows; nothing to migrate")
    if same and not force:
        return dict(action="skip", replaces_data=False,
                    reason="already migrated: the target holds the same rows as the source in "
                           "every table (%d rows, equal row counts and content hashes); use "
                           "force=true to migrate again" % source_total)
    if same:
        return dict(action="migrate", replaces_data=True,
                    reason="force=true: replacing the target's identical copy (same row counts "
                           "and content)")
    if not data:
        return dict(action="migrate", replaces_data=False,
                    reason="the target is empty apart from MLflow's seed rows")
    if truncate:
        return dict(action="migrate", replaces_data=True,
                    reason="truncate=true: replacing %d rows of data in %d target tables"
                           % (sum(data.values()), len(data)))
    if count_mismatches:
        details = ", ".join("%s (source %s, target %s)" % (m["table"], m["source"], m["target"])
                            for m in count_mismatches)
    elif content_mismatches:
        details = ("the same row counts in every table, but different content in %s"
                   % ", ".join(sorted(content_mismatches)))
    else:
        details = "the same row counts in every table, content not compared"
    return dict(action="fail", replaces_data=False,
                reason="the target already holds data (%d rows in %d tables) that differs from the "
                       "source: %s. Set truncate=true to replace it (force=true alone never does), "
                       "or point the module at an empty database"
                       % (sum(data.values()), len(data), details))


# ---------------------------------------------------------------------------------------------
# Content fingerprint: per-table hashes computed the same way from both databases
# ---------------------------------------------------------------------------------------------

# information_schema.columns.data_type -> how a value of the column is canonicalised.
# Everything not listed is compared as text (and selected as ::text from PostgreSQL).
_COLUMN_KINDS = {
    "boolean": "bool",
    "smallint": "int",
    "integer": "int",
    "bigint": "int",
    "double precision": "float",
    "numeric": "float",
    "real": "float4",
    "date": "date",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamp",
    "jsonb": "jsonb",
    "bytea": "bytes",
    "character": "char",
    "uuid": "uuid",
}

# Kinds read from PostgreSQL as ::text: psycopg2 would otherwise hand out parsed JSON, enum
# objects, arrays ...; char(n)::text drops the padding.
_CAST_TO_TEXT = frozenset(["text", "jsonb", "uuid", "char"])

_TRUE = frozenset(["1", "t", "true", "y", "yes", "on"])
_FALSE = frozenset(["0", "f", "false", "n", "no", "off"])
_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_DATE_RE = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:$|[ T])")
_TIMESTAMP_RE = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6})[0-9]*)?"
    r"\s*(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?$")
_MASK128 = (1 << 128) - 1


def column_kind(data_type):
    """The canonicalisation kind of a PostgreSQL column (information_schema data_type)."""
    return _COLUMN_KINDS.get(data_type, "text")


def _as_text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _float4(value):
    try:
        return struct.unpack("f", struct.pack("f", value))[0]
    except (OverflowError, struct.error):
        return value


def _canonical_number(value, float4=False):
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return "fnan"
        if value.is_infinite():
            return "finf" if value > 0 else "f-inf"
        if value == value.to_integral_value() and not float4:
            return "i%d" % int(value)
        value = float(value)
    if isinstance(value, int) and not float4:
        return "i%d" % value
    if isinstance(value, (int, float)):
        value = float(value)
        if float4:
            value = _float4(value)
        if math.isnan(value):
            return "fnan"
        if math.isinf(value):
            return "finf" if value > 0 else "f-inf"
        if value.is_integer():
            return "i%d" % int(value)
        return "f" + repr(value)
    text = _as_text(value).strip()
    try:
        if _INT_RE.match(text):
            return _canonical_number(int(text), float4)
        return _canonical_number(float(text), float4)
    except (ValueError, OverflowError):
        return "s" + _as_text(value)


def _canonical_timestamp(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return "t" + value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, datetime.date):
        return "t" + value.strftime("%Y-%m-%d 00:00:00.000000")
    text = _as_text(value).strip()
    m = _TIMESTAMP_RE.match(text)
    if not m:
        return "s" + text
    y, mo, d, h, mi, sec, frac, tz = m.groups()
    try:
        stamp = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec),
                                  int((frac or "0").ljust(6, "0")))
    except ValueError:
        return "s" + text
    if tz:
        offset = datetime.timedelta(0)
        if tz != "Z":
            digits = tz[1:].replace(":", "")
            offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
            if tz[0] == "-":
                offset = -offset
        stamp = stamp - offset
    return "t" + stamp.strftime("%Y-%m-%d %H:%M:%S.%f")


def canonical_value(kind, value):
    """One column value as a tagged string that is equal for SQLite's and psycopg2's forms.

    SQLite hands out int/float/str/bytes (booleans as 0/1, dates as text, +-inf as floats),
    psycopg2 bool/int/float/Decimal/date/datetime/memoryview; `kind` comes from the PostgreSQL
    column (column_kind) and is applied to both sides. NULL is never equal to a value. Numbers
    compare by value (5 == 5.0, shortest repr otherwise; real columns after rounding to float4),
    jsonb by its parsed value, timestamps as naive UTC with microseconds, text verbatim.
    """
    if value is None:
        return "N"
    if kind == "bool":
        if isinstance(value, (bool, int, float, decimal.Decimal)):
            return "i%d" % int(bool(value))
        text = _as_text(value).strip().lower()
        if text in _TRUE:
            return "i1"
        if text in _FALSE:
            return "i0"
        return "s" + _as_text(value)
    if kind in ("int", "float", "float4"):
        return _canonical_number(value, float4=kind == "float4")
    if kind == "date":
        if isinstance(value, datetime.datetime):
            value = value.date()
        if isinstance(value, datetime.date):
            return "d" + value.isoformat()
        m = _DATE_RE.match(_as_text(value).strip())
        return "d" + m.group(1) if m else "s" + _as_text(value)
    if kind == "timestamp":
        return _canonical_timestamp(value)
    if kind == "bytes":
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        elif not isinstance(value, (bytes, bytearray, memoryview)):
            value = _as_text(value).encode("utf-8", "surrogateescape")
        return "b" + bytes(value).hex()
    if kind == "jsonb":
        if isinstance(value, (dict, list)):
            parsed = value
        else:
            try:
                parsed = json.loads(_as_text(value))
            except ValueError:
                return "s" + _as_text(value)
        return "j" + json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = _as_text(value)
    if kind == "char":
        text = text.rstrip(" ")
    elif kind == "uuid":
        text = text.strip().lower()
    return "s" + text


def _row_digest(canonical_values):
    h = hashlib.blake2b(digest_size=16)
    for c in canonical_values:
        b = c.encode("utf-8", "surrogatepass")
        h.update(b"%d:" % len(b))
        h.update(b)
    return int.from_bytes(h.digest(), "big")


def content_hash(rows, kinds):
    """Order-independent hash of a table: dict(rows=N, hash=32 hex digits).

    Each row's canonical values (canonical_value, length-prefixed) are hashed with BLAKE2b-128
    and the digests are added modulo 2**128: the result does not depend on row order (no ORDER
    BY, so no collation differences between SQLite and PostgreSQL, and no sort), counts each row
    as often as it occurs, and streams in constant memory.
    """
    total = 0
    count = 0
    kinds = list(kinds)
    for row in rows:
        total = (total + _row_digest([canonical_value(k, v) for k, v in zip(kinds, row)])) & _MASK128
        count += 1
    return dict(rows=count, hash="%032x" % total)


def content_mismatches(source_hashes, target_hashes):
    """Tables of source_hashes whose hash (or row count) differs in target_hashes, sorted."""
    return sorted(t for t in source_hashes if target_hashes.get(t) != source_hashes[t])


def fingerprint_of(table_hashes):
    """sha256 (hex) over every table's row count and content hash: one value for a whole store."""
    h = hashlib.sha256()
    for table in sorted(table_hashes):
        entry = table_hashes[table]
        h.update(("%s\t%d\t%s\n" % (table, entry["rows"], entry["hash"])).encode("utf-8"))
    return h.hexdigest()


def hash_plan(sqlite_columns, pg_column_types):
    """Columns to hash per table, with their kind: ({table: [(column, kind)]}, missing).

    sqlite_columns: {table: [column, ...]} (inspect_sqlite), pg_column_types: {table: {column:
    data_type}} (information_schema). Columns are sorted by name, the same list on both sides.
    missing lists the SQLite columns PostgreSQL lacks ('table.column').
    """
    plan = {}
    missing = []
    for table in sorted(sqlite_columns):
        types = pg_column_types.get(table, {})
        columns = []
        for column in sqlite_columns[table]:
            if column in types:
                columns.append((column, column_kind(types[column])))
            else:
                missing.append("%s.%s" % (table, column))
        plan[table] = sorted(columns)
    return plan, missing


def pg_content_sql(table, columns, schema="public"):
    """SELECT of the hashed columns in PostgreSQL (no ORDER BY: the hash is order-independent)."""
    exprs = [quote_ident(c) + ("::text" if kind in _CAST_TO_TEXT else "") for c, kind in columns]
    return "SELECT %s FROM %s.%s" % (", ".join(exprs) or "1", quote_ident(schema),
                                     quote_ident(table))


def sqlite_content_sql(table, columns):
    """The same SELECT for SQLite."""
    return "SELECT %s FROM %s" % (", ".join(quote_ident(c[0]) for c in columns) or "1",
                                  quote_ident(table))


def sqlite_content_hashes(path, plan):
    """content_hash of every table of plan, read from the SQLite file (read-only)."""
    conn = sqlite_connect_ro(path)
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    try:
        return dict((table, content_hash(conn.execute(sqlite_content_sql(table, columns)),
                                         [c[1] for c in columns]))
                    for table, columns in plan.items())
    finally:
        conn.close()


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


_SEQUENCE_NAME_RE = re.compile(
    r'^(?:(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")\.)?(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")$')


def sequence_state_sql(table, column, sequence, schema="public"):
    """(sql, params) reading a sequence's state and its column's maximum in one row:
    last_value, is_called, increment, MAX(column).

    sequence is the (already quoted) name pg_get_serial_sequence returns; anything else is
    refused with ValueError, since it is interpolated as a relation name.
    """
    if not isinstance(sequence, str) or not _SEQUENCE_NAME_RE.match(sequence):
        raise ValueError("unexpected sequence name %r" % (sequence,))
    sql = ("SELECT s.last_value, s.is_called, "
           "(SELECT seqincrement FROM pg_catalog.pg_sequence WHERE seqrelid = %%s::regclass), "
           "(SELECT MAX(%s) FROM %s.%s) FROM %s s"
           % (quote_ident(column), quote_ident(schema), quote_ident(table), sequence))
    return sql, (sequence,)


def sequences_behind(states):
    """Sequences whose next nextval() would return a value their column already holds.

    states: [dict(table, column, sequence, last_value, is_called, increment, max_value)].
    The next value is last_value (+ increment when is_called). Returns [dict(table, column,
    sequence, next_value, max_value)]; empty tables and descending sequences never count.
    """
    behind = []
    for s in states:
        increment = s.get("increment") or 1
        next_value = s["last_value"] + increment if s["is_called"] else s["last_value"]
        if s["max_value"] is None or increment < 0 or next_value > s["max_value"]:
            continue
        behind.append(dict(table=s["table"], column=s["column"], sequence=s["sequence"],
                           next_value=next_value, max_value=s["max_value"]))
    return behind


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

    Returns dict(tables, counts, columns, revisions, is_mlflow, integrity, fk_violations,
    foreign_keys):
    - tables: user tables (sqlite_* internals excluded), counts: {table: rows} without
      alembic_version, columns: {table: [column, ...]} in declaration order (same tables);
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
                      revisions=[], counts={}, columns={}, fk_violations=[], foreign_keys=0)
        if not is_mlflow:
            return result
        result["revisions"] = sorted(
            r[0] for r in cur.execute("SELECT version_num FROM %s" % quote_ident(ALEMBIC_TABLE)))
        for table in tables:
            if table == ALEMBIC_TABLE:
                continue
            result["counts"][table] = cur.execute(
                "SELECT count(*) FROM %s" % quote_ident(table)).fetchone()[0]
            result["columns"][table] = [
                r[1] for r in cur.execute("PRAGMA table_info(%s)" % quote_ident(table))]
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
