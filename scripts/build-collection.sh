#!/usr/bin/env bash
# Build the collection tarball as Galaxy users get it (the release build; `make collection`
# builds with it and checks the result):
#
#   scripts/build-collection.sh [OUTPUT_DIR] [SOURCE_DIR]
#       OUTPUT_DIR  default .build/dist of this checkout; prints the tarball's path
#       SOURCE_DIR  default this checkout
#
# The tarball's README.md is README-collection.md (install with ansible-galaxy, run the
# playbooks by FQCN, links only to files that ship); the checkout's README.md is about working
# in the repository (make targets, tests, benchmarks). Galaxy shows the README.md at the root of
# the tarball whatever galaxy.yml's `readme:` says, and `ansible-galaxy collection build` cannot
# rename a file, so the build runs on a copy of the source in which README-collection.md
# replaces README.md. What ships is decided by galaxy.yml's build_ignore alone: the copy leaves
# out only the big directories that build_ignore drops anyway.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/.build/dist}
src=$(cd "${2:-$root}" && pwd)
[[ -f "$src/galaxy.yml" && -f "$src/README-collection.md" ]] \
  || { echo "$src: no galaxy.yml or README-collection.md" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
tar -C "$src" --exclude=./.git --exclude=./.venv --exclude=./.build --exclude=./.cache \
  --exclude=./.pytest_cache --exclude=./.ansible -cf - . | tar -C "$stage" -xf -
mv "$stage/README-collection.md" "$stage/README.md"

version=$(awk '$1 == "version:" {print $2}' "$src/galaxy.yml" | tr -d "\"'")
ansible-galaxy collection build --force --output-path "$out" "$stage" >/dev/null
tarball="$out/mlops-mlflow-$version.tar.gz"
[[ -f "$tarball" ]] || { echo "ansible-galaxy built no $tarball" >&2; exit 1; }
echo "$tarball"
