"""Schema probe, run by the role as `python -c` in a one-off container of the MLflow image about
to serve the database (same environment, secrets and mounts as the server).

Prints one line `MLFLOW_SCHEMA {json}`: the alembic heads and every revision of the image's own
migrations (as recorded in the image when it was built, else read from the installed mlflow
package), and the database's revision and table count. It only reads: a SQLite file that does not
exist is not created. The decision is taken by the filter mlops.mlflow.schema_plan.
"""
import importlib.util
import json
import os
import re
import sys

# Written when the role builds the image (Dockerfile.j2: `schema_probe.py --record`): reading the
# migrations imports the whole mlflow package, ~2 of the ~3.5 s this probe took on every run.
RECORD = os.path.join(sys.prefix, "mlflow-migrations.json")


def migrations():
    """The alembic heads and every revision of the installed mlflow package, newest first."""
    from alembic.script import ScriptDirectory

    package_dir = importlib.util.find_spec("mlflow").submodule_search_locations[0]
    scripts = ScriptDirectory(os.path.join(package_dir, "store", "db_migrations"))
    return {"heads": list(scripts.get_heads()), "revisions": [script.revision for script in scripts.walk_revisions()]}


if sys.argv[1:] == ["--record"]:
    with open(RECORD, "w", encoding="utf-8") as record:
        json.dump(migrations(), record)
    sys.exit(0)

try:  # an image of the role; other images (mlflow_server_image) have no record
    with open(RECORD, encoding="utf-8") as record:
        report = json.load(record)
except OSError:
    report = migrations()
report.update(db_revision=None, db_tables=0)

uri = os.environ["MLFLOW_BACKEND_STORE_URI"]
path = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else None
if path is None or (path not in ("", ":memory:") and os.path.exists(path)):
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri if path is None else "sqlite:///file:" + path + "?mode=ro&uri=true")
    try:
        conn = engine.connect()
    except sqlalchemy.exc.OperationalError as error:
        reason = " ".join(str(error.orig if error.orig is not None else error).split())
        if re.search(r"certificate|SSL error|root\.crt", reason):
            sys.exit("The database server's TLS certificate was not accepted: " + reason + ". With sslmode=verify-full "
                     "(or verify-ca) in mlflow_server_backend_store_uri, set mlflow_server_backend_ca_cert to the CA "
                     "bundle of the database (the provider's) and use the host name its certificate names.")
        if re.search(r"no encryption", reason):
            sys.exit("The database accepts only TLS connections: " + reason + ". Add ?sslmode=verify-full to "
                     "mlflow_server_backend_store_uri and set mlflow_server_backend_ca_cert to its CA bundle.")
        raise
    with conn:
        tables = sqlalchemy.inspect(conn).get_table_names()
        report["db_tables"] = len(tables)
        if "alembic_version" in tables:
            rows = conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).fetchall()
            if len(rows) != 1:
                sys.exit(f"alembic_version holds {len(rows)} rows, expected 1")
            report["db_revision"] = rows[0][0]
    engine.dispose()

print("MLFLOW_SCHEMA " + json.dumps(report), flush=True)
