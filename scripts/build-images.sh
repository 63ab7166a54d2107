#!/usr/bin/env bash
# Build local images from Debian packages (no registry needed), reusing them by content hash.
#
#   scripts/build-images.sh NAME[:TAG] [NAME[:TAG]...]
#
# NAME is a folder under images/ (host, python, postgres, seaweedfs, ...). Each image is
# tagged mlops/NAME:local and labelled with a hash of its folder and of its base image: an
# unchanged folder is not rebuilt, a changed one is. The debootstrap base (mlops/bookworm:base,
# BASE_IMAGE to name it otherwise) comes first.
#
# A folder with a `variants` file builds one image per line `TAG SUITE [ARG=VALUE...]`:
# mlops/NAME:TAG, FROM the debootstrap base of that Debian suite (mlops/SUITE:base, built
# and reused the same way), with the build args (images/postgres: PostgreSQL 15 on bookworm
# as :local, 18 on forky as :18). NAME builds every line, NAME:TAG only that one.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BASE="${BASE_IMAGE:-mlops/bookworm:base}"

declare -A base_tags base_ids
# ensure_base SUITE: build (or reuse) the suite's base; sets base_tag and base_id
ensure_base() {
  local suite="$1"
  if [[ -z "${base_ids[$suite]:-}" ]]; then
    if [[ "$suite" == bookworm ]]; then base_tags[$suite]="$BASE"; else base_tags[$suite]="mlops/$suite:base"; fi
    "$here/scripts/build-base-image.sh" "${base_tags[$suite]}" "$suite"
    base_ids[$suite]=$(docker image inspect -f '{{.Id}}' "${base_tags[$suite]}")
  fi
  base_tag="${base_tags[$suite]}"
  base_id="${base_ids[$suite]}"
}

ensure_base bookworm

for arg in "$@"; do
  name="${arg%%:*}"
  want=""
  [[ "$arg" == *:* ]] && want="${arg#*:}"
  dir="$here/images/$name"
  [[ -f "$dir/Dockerfile" ]] || { echo "no images/$name/Dockerfile" >&2; exit 2; }
  variants=()
  if [[ -f "$dir/variants" ]]; then
    while read -r line; do
      line="${line%%#*}"
      [[ -n "${line//[[:space:]]/}" ]] && variants+=("$line")
    done < "$dir/variants"
  else
    variants=("local bookworm")
  fi
  sums=$(cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
  found=0
  for variant in "${variants[@]}"; do
    read -r -a words <<<"$variant"
    vtag="${words[0]}" suite="${words[1]:-}" build_args=("${words[@]:2}")
    [[ -n "$suite" ]] || { echo "images/$name/variants: no suite in '$variant'" >&2; exit 2; }
    [[ -z "$want" || "$want" == "$vtag" ]] || continue
    found=1
    ensure_base "$suite"
    tag="mlops/$name:$vtag"
    # the variant line only enters the hash of folders that have variants (the others keep theirs)
    extra=""
    [[ -f "$dir/variants" ]] && extra="$variant"
    hash=$( (echo "$sums"; echo "$base_id"; [[ -z "$extra" ]] || echo "$extra") | sha256sum | cut -c1-16)
    have=$(docker image inspect -f '{{index .Config.Labels "mlops.hash"}}' "$tag" 2>/dev/null || true)
    if [[ "$have" == "$hash" ]]; then
      echo "image $tag up to date, reusing it"
      continue
    fi
    echo "building $tag"
    start=$(date +%s)
    opts=(--build-arg "BASE=$base_tag")
    for a in "${build_args[@]}"; do opts+=(--build-arg "$a"); done
    docker build -q "${opts[@]}" --label "mlops.hash=$hash" -t "$tag" "$dir" >/dev/null
    echo "built $tag in $(( $(date +%s) - start ))s"
  done
  [[ "$found" == 1 ]] || { echo "images/$name has no variant $want" >&2; exit 2; }
done
