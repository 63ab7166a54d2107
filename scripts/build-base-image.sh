#!/usr/bin/env bash
# Build a Debian bookworm base image from the OS package mirror with debootstrap,
# for sites that reach no container registry (air-gapped or proxied).
#
#   scripts/build-base-image.sh [TAG]        default TAG: mlops/bookworm:base
#
# Environment:
#   DEBIAN_MIRROR  apt mirror to bootstrap from (default: the host's first deb URI,
#                  else http://deb.debian.org/debian)
#   CA_BUNDLE      PEM bundle copied into the image as its system CA bundle
#                  (default: /etc/ssl/certs/ca-certificates.crt of this host), so that
#                  pip and curl inside work behind an intercepting proxy.
#   FORCE=1        rebuild even if TAG exists.
# The image is reused by tag: a second call returns at once.
set -euo pipefail

TAG="${1:-mlops/bookworm:base}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG present, reusing it"
  exit 0
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

root=$(mktemp -d /var/tmp/mlops-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm from $DEBIAN_MIRROR (about a minute)"
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$root" "$DEBIAN_MIRROR" >/dev/null

# apt sources of the mirror we used (security updates from the same host when it has them)
rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: ${DEBIAN_MIRROR}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
if [[ -f "$CA_BUNDLE" ]]; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
  cp "$CA_BUNDLE" "$root/usr/local/share/ca-certificates/site-bundle.crt"
fi
# keep images small and apt quiet
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$root/etc/apt/apt.conf.d/90mlops"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
echo "built $TAG"
