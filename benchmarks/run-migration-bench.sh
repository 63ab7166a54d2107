#!/usr/bin/env bash
# Set up what benchmarks/migration_bench.py needs on a Debian host (as root) and run it:
# PostgreSQL + pgloader + python3-psycopg2 from apt, a running cluster, a throwaway role
# `mlflow_bench` with a fresh random password (given to psql on stdin, to the benchmark through
# PGPASSWORD, never on a command line), and a virtualenv with the full mlflow package.
#   benchmarks/run-migration-bench.sh [migration_bench.py args]   e.g. --runs 50 --metrics-per-run 100
#   benchmarks/run-migration-bench.sh upgrade [upgrade_bench.py args]   (also a venv with MLflow 3.7.0)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

need=()
command -v pgloader >/dev/null || need+=(pgloader)
command -v pg_lsclusters >/dev/null || need+=(postgresql)
dpkg -s python3-psycopg2 >/dev/null 2>&1 || need+=(python3-psycopg2)
if (( ${#need[@]} )); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

read -r version cluster _port status _ < <(pg_lsclusters -h | sed -n 1p)
if [[ "$status" != online ]]; then
  pg_ctlcluster "$version" "$cluster" start
fi

PGPASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export PGPASSWORD
su postgres -c "psql -q -v ON_ERROR_STOP=1" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mlflow_bench') THEN
    CREATE ROLE mlflow_bench LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE mlflow_bench PASSWORD '${PGPASSWORD}';
GRANT SET ON PARAMETER session_replication_role TO mlflow_bench;
SQL

venv="$root/.build/bench-venv"
if [[ ! -x "$venv/bin/mlflow" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q mlflow==3.17.2 psycopg2-binary
fi
"$root/scripts/link-collection.sh"
if [[ "${1:-}" == upgrade ]]; then
  shift
  old="$root/.build/bench-venv-3.7.0"
  if [[ ! -x "$old/bin/mlflow" ]]; then
    python3 -m venv "$old"
    # the mlflow_server role adds the same constraint for MLflow < 3.17
    "$old/bin/pip" install -q mlflow==3.7.0 psycopg2-binary "sqlalchemy<2.1"
  fi
  exec "$venv/bin/python" "$root/benchmarks/upgrade_bench.py" --old-python "$old/bin/python" "$@"
fi
exec "$venv/bin/python" "$root/benchmarks/migration_bench.py" "$@"
