#!/bin/sh
# What `docker compose up --wait` does, for docker-compose 1.29 which lacks it: poll until every
# container of the project runs and each one with a healthcheck is healthy, then (beyond --wait)
# until MLflow answers through Nginx with basic auth. Polls every 0.5 s; gives up after $1 s.
set -eu
limit=${1:-600}
start=$(date +%s)
cd "$(dirname "$0")"
while :; do
  ids=$(docker-compose ps -q)
  ready=1
  for id in $ids; do
    state=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
    case "$state" in
      running/healthy|running/none) ;;
      *) ready=0 ;;
    esac
  done
  if [ -n "$ids" ] && [ "$ready" = 1 ] \
     && curl -fsS -o /dev/null -u bench:B3nch-user-only http://127.0.0.1/health; then
    exit 0
  fi
  if [ $(( $(date +%s) - start )) -ge "$limit" ]; then
    echo "compose stack not ready after ${limit}s" >&2
    docker-compose ps >&2
    exit 1
  fi
  sleep 0.5
done
