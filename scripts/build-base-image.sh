#!/usr/bin/env bash
# Build a Debian base image from the OS package mirror with debootstrap, for sites that
# reach no container registry (air-gapped or proxied).
#
#   scripts/build-base-image.sh [TAG [SUITE]]   defaults: TAG mlops/bookworm:base, SUITE bookworm
#
# SUITE is any suite the mirror carries (bookworm, trixie, forky, sid, ...); one the host's
# debootstrap has no script for is bootstrapped with its sid script (as debootstrap itself
# does for testing and trixie). The apt sources inside point at SUITE (and SUITE-updates).
#
# Environment:
#   DEBIAN_MIRROR  apt mirror to bootstrap from (default: the host's first deb URI,
#                  else http://deb.debian.org/debian)
#   CA_BUNDLE      PEM bundle copied into the image as its system CA bundle
#                  (default: /etc/ssl/certs/ca-certificates.crt of this host), so that
#                  pip and curl inside work behind an intercepting proxy.
#   CHECK_VALID_UNTIL  yes|no|auto (default auto). The Release files of testing and unstable
#                  (and of the -updates suites) expire after a week, so apt refuses them from
#                  a frozen or snapshot mirror; "no" writes `Check-Valid-Until: no` into the
#                  image's apt sources (signatures are still checked). auto: no when the
#                  suite's own Release expires (forky, sid), else apt's default (bookworm).
#   FORCE=1        rebuild even if TAG exists.
# The image is reused by tag (and its mlops.suite label): a second call returns at once.
set -euo pipefail

TAG="${1:-mlops/bookworm:base}"
SUITE="${2:-bookworm}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
  have=$(docker image inspect -f '{{index .Config.Labels "mlops.suite"}}' "$TAG" 2>/dev/null || true)
  # bases built before the label existed were all bookworm
  if [[ "${have:-bookworm}" == "$SUITE" ]]; then
    echo "base image $TAG present, reusing it"
    exit 0
  fi
  echo "base image $TAG is $have, not $SUITE: rebuilding it"
fi

if [[ -z "${DEBIAN_MIRROR:-}" ]]; then
  DEBIAN_MIRROR=$(grep -hoE '^(URIs:|deb) +http[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -v security | awk 'NR == 1 {print $2}' || true)
  DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
fi

if ! command -v debootstrap >/dev/null; then
  echo "installing debootstrap" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
scripts_dir="${DEBOOTSTRAP_DIR:-/usr/share/debootstrap}/scripts"
script=()
if [[ ! -e "$scripts_dir/$SUITE" ]]; then
  [[ -e "$scripts_dir/sid" ]] || { echo "debootstrap has no script for $SUITE nor sid" >&2; exit 1; }
  script=("$scripts_dir/sid")
fi
case "$SUITE" in
  sid | unstable | experimental) suites="$SUITE" ;;
  *) suites="$SUITE $SUITE-updates" ;;
esac

root=$(mktemp -d /var/tmp/mlops-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap $SUITE from $DEBIAN_MIRROR (about a minute)"
debootstrap --variant=minbase --include=python3,ca-certificates "$SUITE" "$root" "$DEBIAN_MIRROR" \
  "${script[@]}" >/dev/null

check="${CHECK_VALID_UNTIL:-auto}"
if [[ "$check" == auto ]]; then
  check=yes
  if grep -qs '^Valid-Until:' "$root"/var/lib/apt/lists/*_dists_"${SUITE}"_Release \
      "$root"/var/lib/apt/lists/*_dists_"${SUITE}"_InRelease; then
    check=no
  fi
fi

# apt sources of the mirror we used (security updates from the same host when it has them)
rm -f "$root/etc/apt/sources.list"
{
  cat <<SRC
Types: deb
URIs: ${DEBIAN_MIRROR}
Suites: ${suites}
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  if [[ "$check" == no ]]; then echo 'Check-Valid-Until: no'; fi
} > "$root/etc/apt/sources.list.d/debian.sources"
if [[ -f "$CA_BUNDLE" ]]; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
  cp "$CA_BUNDLE" "$root/usr/local/share/ca-certificates/site-bundle.crt"
fi
# keep images small and apt quiet
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$root/etc/apt/apt.conf.d/90mlops"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar -C "$root" -c . | docker import --change "LABEL mlops.suite=$SUITE" \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
echo "built $TAG"
