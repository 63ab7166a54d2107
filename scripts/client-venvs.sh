#!/usr/bin/env bash
# Virtualenvs with older stock MLflow clients for the scenarios' artifact checks:
# .build/clients/mlflow-<version>/bin/python for each version given (default: the versions users
# still have next to the test venv's 3.17.2). Installed once; reused while the marker exists.
#
#   scripts/client-venvs.sh [VERSION...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(($# > 0)) || set -- 3.7.0 2.22.1
# `make test` starts this beside the scenarios, which call it too: one at a time.
mkdir -p "$root/.build/clients"
exec 9>"$root/.build/clients/.lock"
flock 9
for version in "$@"; do
  dir="$root/.build/clients/mlflow-$version"
  [[ -f "$dir/.installed" ]] && continue
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install -q --upgrade pip 2>&1 | { grep -v "^WARNING: Location" || true; }
  "$dir/bin/pip" install -q "mlflow-skinny==$version" boto3 2>&1 | { grep -v "^WARNING: Location" || true; }
  touch "$dir/.installed"
  echo "client venv: $dir ($("$dir/bin/python" -c 'import mlflow; print(mlflow.__version__)'))"
done
