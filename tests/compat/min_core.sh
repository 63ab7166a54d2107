#!/usr/bin/env bash
# The oldest ansible-core the collection claims to support (meta/runtime.yml: >= 2.17), tested
# rather than assumed, in a virtualenv of its own (.build/venv-min-core, from
# tests/compat/requirements-min-core.txt): every playbook passes --syntax-check; every role's
# argument spec and preflight accept the bad-input table's valid baseline (in --check against
# this machine), the checks-once tests pass, and so does artifact_sync against a real S3 server.
# The module unit tests use ansible-core 2.19's test helpers and run on 2.19 only (make unit).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
venv=.build/venv-min-core
req=tests/compat/requirements-min-core.txt
if [[ ! -f "$venv/.installed" ]] || ! cmp -s "$req" "$venv/.installed"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  cp "$req" "$venv/.installed"
fi
# Not piping `ansible --version` into head: under pipefail, head closing the pipe early fails the script
# (BrokenPipeError in ansible, seen in CI on 2026-12-01).
version=$("$venv/bin/ansible" --version)
echo "${version%%$'\n'*}"
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections" ANSIBLE_ROLES_PATH="$root/roles"
for playbook in site.yml playbooks/*.yml; do
  if ! ANSIBLE_DEPRECATION_WARNINGS=false "$venv/bin/ansible-playbook" --syntax-check -i inventories/prod "$playbook" \
      >.build/min-core-syntax.log 2>&1; then
    cat .build/min-core-syntax.log
    echo "syntax check of $playbook failed on the oldest ansible-core" >&2
    exit 1
  fi
done
echo "syntax: site.yml and every playbook"
# Each role's preflight with valid values (the baseline of the bad-input table: every check's
# expression evaluated), the checks-once logic and the artifact_sync module against a real S3
# server. The whole table of bad values (about 7 minutes more) runs on the current release.
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/integration -k "baseline or checks_once or artifact_sync"
# mlops.mlflow.checks evaluates conditions through a different API before ansible-core 2.19
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit/plugins/action
