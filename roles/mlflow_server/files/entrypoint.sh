#!/bin/sh
# mlflow-server entrypoint: for every NAME listed in MLFLOW_SECRET_ENV (space separated),
# read the secret from the file named by NAME_FILE into NAME, so that no secret has to be
# put into the container's configuration (e.g. PGPASSWORD for a postgresql+psycopg2
# backend, AWS_SECRET_ACCESS_KEY for S3). With MLFLOW_SPOOL_DIR, empty that directory and use
# it as TMPDIR. Then run the command (mlflow server ...).
set -eu
for name in ${MLFLOW_SECRET_ENV:-}; do
  eval "file=\${${name}_FILE:-}"
  if [ -z "$file" ]; then
    echo "mlflow-entrypoint: ${name}_FILE is not set" >&2
    exit 64
  fi
  if [ ! -r "$file" ]; then
    echo "mlflow-entrypoint: cannot read ${name}_FILE=$file" >&2
    exit 66
  fi
  value=$(cat "$file")
  export "$name=$value"
  unset "${name}_FILE"
done
unset MLFLOW_SECRET_ENV
# Temporary files of proxied artifact transfers: a directory of the data mount, emptied at
# every start (a transfer cut off by a crash leaves nothing behind for long).
if [ -n "${MLFLOW_SPOOL_DIR:-}" ]; then
  rm -rf -- "$MLFLOW_SPOOL_DIR"
  mkdir -p -- "$MLFLOW_SPOOL_DIR"
  chmod 0700 -- "$MLFLOW_SPOOL_DIR"
  export TMPDIR="$MLFLOW_SPOOL_DIR"
fi
exec "$@"
