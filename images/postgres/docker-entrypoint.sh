#!/usr/bin/env bash
# Minimal re-implementation of the official postgres image's docker-entrypoint.sh contract
# (see images/postgres/Dockerfile). Runs as root, reads secrets, prepares PGDATA, then
# drops to the postgres user with gosu. The password never reaches the server's environment.
set -Eeuo pipefail

# usage: file_env VAR [DEFAULT]; VAR_FILE wins over nothing, both set is an error
file_env() {
  local var="$1" def="${2:-}" fileVar="${1}_FILE" val
  if [[ -n "${!var:-}" && -n "${!fileVar:-}" ]]; then
    echo "error: both $var and $fileVar are set (but are exclusive)" >&2
    exit 1
  fi
  val="$def"
  if [[ -n "${!var:-}" ]]; then
    val="${!var}"
  elif [[ -n "${!fileVar:-}" ]]; then
    val="$(< "${!fileVar}")"
  fi
  export "$var"="$val"
  unset "$fileVar"
}

# options first: `docker run image -c foo=bar` means `postgres -c foo=bar`
if [[ "${1:-}" == -* ]]; then
  set -- postgres "$@"
fi

if [[ "${1:-}" != "postgres" ]]; then
  exec "$@"
fi

if [[ "$(id -u)" != "0" ]]; then
  echo "error: this stand-in entrypoint must start as root (it drops to postgres itself)" >&2
  exit 1
fi

file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

mkdir -p "$PGDATA" /var/run/postgresql
chmod 00700 "$PGDATA"
chown postgres:postgres /var/run/postgresql
chmod 03775 /var/run/postgresql
find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +

as_pg() { gosu postgres "$@"; }

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  if [[ -z "$POSTGRES_PASSWORD" && "$POSTGRES_HOST_AUTH_METHOD" != "trust" ]]; then
    cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       Set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (or POSTGRES_HOST_AUTH_METHOD=trust).
MSG
    exit 1
  fi
  echo "initialising database cluster in $PGDATA"
  pwfile=$(mktemp)
  chown postgres "$pwfile"
  chmod 0600 "$pwfile"
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  # shellcheck disable=SC2086
  as_pg initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
    --auth-host="$POSTGRES_HOST_AUTH_METHOD" $POSTGRES_INITDB_ARGS >/dev/null
  rm -f "$pwfile"
  # every host connection needs a password (the official image appends the same line)
  printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"

  # temporary server on the unix socket only, for POSTGRES_DB and the init scripts
  as_pg pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p 5432" start >/dev/null
  psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [[ "$POSTGRES_DB" != "postgres" ]]; then
    as_pg "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<'SQL' >/dev/null
CREATE DATABASE :"db";
SQL
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    [[ -e "$f" ]] || continue
    case "$f" in
      *.sh) echo "running $f"; if [[ -x "$f" ]]; then as_pg "$f"; else as_pg bash "$f"; fi ;;
      *.sql) echo "running $f"; as_pg "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" >/dev/null ;;
      *.sql.gz) echo "running $f"; gunzip -c "$f" | as_pg "${psql[@]}" --dbname "$POSTGRES_DB" >/dev/null ;;
      *) echo "ignoring $f" ;;
    esac
  done
  as_pg pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "PostgreSQL init process complete; ready for start up."
fi

# the password is not needed any more: keep it out of the server's environment
unset POSTGRES_PASSWORD
exec gosu postgres "$@"
