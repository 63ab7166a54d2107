#!/usr/bin/env bash
# Molecule dependency step that works offline: no Galaxy. The collections the roles use come
# from the `ansible` package on PyPI (requirements.txt); this collection itself is exposed at
# .build/collections/ansible_collections/mlops/mlflow (a link to the checkout) so that roles
# and plugins resolve by FQCN. Local images the instances need are built (or reused by tag).
set -euo pipefail
root="${MOLECULE_PROJECT_DIRECTORY:-$(cd "$(dirname "$0")/../.." && pwd)}"
"$root/scripts/link-collection.sh"
for c in community.docker community.postgresql community.general community.crypto amazon.aws ansible.posix; do
  ansible-galaxy collection list "$c" >/dev/null 2>&1 || {
    echo "collection $c missing: pip install -r requirements.txt" >&2; exit 1; }
done
"$root/scripts/ensure-docker.sh" >/dev/null
# Every image under images/ (host, python, postgres, seaweedfs, ...): each is built once and
# reused by content hash, so this is quick after the first run. (Molecule 26 does not pass a
# scenario's dependency `env:` to this command, so scenarios cannot narrow the list.)
images=()
for d in "$root"/images/*/; do images+=("$(basename "$d")"); done
"$root/scripts/build-images.sh" "${images[@]}" | grep -v -i -E 'deprecat|buildx|^ *$' || true
