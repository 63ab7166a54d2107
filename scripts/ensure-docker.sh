#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install Debian's docker.io when no
# engine is installed, start it (systemd, the sysvinit script, or dockerd directly when
# neither manages services, as in WSL or CI containers) and wait for `docker info`.
set -euo pipefail

answers() { docker info >/dev/null 2>&1; }

if answers; then exit 0; fi

if ! command -v dockerd >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "No Docker engine here. Install Docker (or run as root to install docker.io)." >&2
    exit 1
  fi
  echo "installing docker.io from the distribution"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if [[ -d /run/systemd/system ]]; then
  systemctl start docker
elif [[ -x /etc/init.d/docker ]]; then
  /etc/init.d/docker start >/dev/null || true
fi
for _ in $(seq 1 30); do answers && break; sleep 1; done
if ! answers; then
  echo "starting dockerd in the background (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do answers && break; sleep 1; done
fi
answers || { echo "Docker engine did not answer" >&2; exit 1; }
echo "Docker engine: $(docker info -f '{{.ServerVersion}}')"
