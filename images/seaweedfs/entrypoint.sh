#!/bin/sh
# Same contract as the official chrislusf/seaweedfs entrypoint for the `server` command:
# the data directory is /data, extra arguments are passed through to `weed server`.
set -e
case "$1" in
  server)
    shift
    exec /usr/bin/weed -logtostderr=true server -dir=/data "$@"
    ;;
  weed)
    shift
    exec /usr/bin/weed "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
