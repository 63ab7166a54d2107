#!/usr/bin/env bash
# Host packages the tests and the air-gap image builds need, installed when missing (root only):
# docker.io (when no engine is installed), debootstrap, apache2-utils (htpasswd -v in unit tests),
# postgresql and pgloader (the pgloader_migrate unit tests start a throw-away cluster with initdb
# in a temporary directory and run the real pgloader against it; they are skipped without them),
# chromium (the scenarios' browser checks of the web UI, driven by Playwright).
set -euo pipefail
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
if ! docker info >/dev/null 2>&1 && ! command -v dockerd >/dev/null; then missing+=(docker.io); fi
command -v rsync >/dev/null || missing+=(rsync)
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v pgloader >/dev/null || missing+=(pgloader)
command -v chromium >/dev/null || missing+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if (( ${#missing[@]} )); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing host packages: ${missing[*]} (install them, or run as root)" >&2
    exit 1
  fi
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
