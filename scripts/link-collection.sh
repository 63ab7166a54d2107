#!/usr/bin/env bash
# Expose this checkout as the installed collection mlops.mlflow under .build/collections,
# so playbooks and Molecule resolve mlops.mlflow.* without `ansible-galaxy collection install`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.build/collections/ansible_collections/mlops"
mkdir -p "$dest"
ln -sfn "$root" "$dest/mlflow"
