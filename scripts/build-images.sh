#!/usr/bin/env bash
# Build local images from Debian packages (no registry needed), reusing them by tag.
#
#   scripts/build-images.sh NAME [NAME...]
#
# NAME is a folder under images/ (host, python, postgres, seaweedfs, ...). Each image is
# tagged mlops/NAME:local and labelled with a hash of its folder: an unchanged folder is
# not rebuilt, a changed one is. The debootstrap base (mlops/bookworm:base) comes first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BASE="${BASE_IMAGE:-mlops/bookworm:base}"

"$here/scripts/build-base-image.sh" "$BASE"
base_id=$(docker image inspect -f '{{.Id}}' "$BASE")

for name in "$@"; do
  dir="$here/images/$name"
  [[ -f "$dir/Dockerfile" ]] || { echo "no images/$name/Dockerfile" >&2; exit 2; }
  tag="mlops/$name:local"
  hash=$( (cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum; echo "$base_id") | sha256sum | cut -c1-16)
  have=$(docker image inspect -f '{{index .Config.Labels "mlops.hash"}}' "$tag" 2>/dev/null || true)
  if [[ "$have" == "$hash" ]]; then
    echo "image $tag up to date, reusing it"
    continue
  fi
  echo "building $tag"
  start=$(date +%s)
  docker build -q --build-arg "BASE=$BASE" --label "mlops.hash=$hash" -t "$tag" "$dir" >/dev/null
  echo "built $tag in $(( $(date +%s) - start ))s"
done
