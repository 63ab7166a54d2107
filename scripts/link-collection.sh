#!/usr/bin/env bash
# Expose this checkout as the installed collection mlops.mlflow under .build/collections,
# so playbooks and Molecule resolve mlops.mlflow.* without `ansible-galaxy collection install`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.build/collections/ansible_collections/mlops"
mkdir -p "$dest"
# Already right: nothing to do (each `molecule test` runs this again while another scenario may
# be reading the link). Otherwise a new link is renamed over the old one in one step, so that no
# reader ever finds the link missing (`ln -sfn` unlinks, then creates).
[[ "$(readlink "$dest/mlflow" 2>/dev/null)" == "$root" ]] && exit 0
tmp="$dest/.mlflow.$$"
ln -sfn "$root" "$tmp"
mv -Tf "$tmp" "$dest/mlflow"
