#!/usr/bin/env bash
# Build the collection tarball, check what it ships, install it into an empty collections path
# and use its roles and plugins by FQCN from a playbook outside this repository.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.build/dist"
rm -rf "$out" && mkdir -p "$out"
ansible-galaxy collection build --force --output-path "$out" "$root" >/dev/null
tarball=$(ls "$out"/mlops-mlflow-*.tar.gz)
echo "built $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"

listing=$(tar -tzf "$tarball")
if grep -E '^(\./)?(molecule|tests|\.ci|\.config|\.venv|\.build|benchmarks)/' <<<"$listing"; then
  echo "FAIL: the tarball ships test, CI or build files (above)" >&2; exit 1
fi
for f in MANIFEST.json FILES.json meta/runtime.yml roles/docker/tasks/main.yml roles/docker/meta/argument_specs.yml; do
  grep -qx "\(./\)\?$f" <<<"$listing" || { echo "FAIL: $f missing from the tarball" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ansible-galaxy collection install --force --no-deps -p "$work/collections" "$tarball" >/dev/null
roles=$(ls "$work/collections/ansible_collections/mlops/mlflow/roles")
echo "installed roles: ${roles//$'\n'/ }"

cat > "$work/outside.yml" <<'YAML'
- name: Use mlops.mlflow from an installed tarball
  hosts: localhost
  connection: local
  gather_facts: true
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    # Only the tasks tagged docker_preflight run (--tags below): nothing changes on this machine.
    - name: Run the docker role's preflight by FQCN
      ansible.builtin.import_role:
        name: mlops.mlflow.docker
      vars:
        docker_install_source: distro
YAML
cd "$work"
env -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_ROLES_PATH ANSIBLE_COLLECTIONS_PATH="$work/collections" \
  ansible-playbook -i localhost, outside.yml --tags docker_preflight --check >"$work/out.log" 2>&1 \
  || { cat "$work/out.log"; echo "FAIL: the installed collection could not be used by FQCN" >&2; exit 1; }
for r in $roles; do
  ANSIBLE_COLLECTIONS_PATH="$work/collections" ansible-doc -t role "mlops.mlflow.$r" >/dev/null \
    || { echo "FAIL: ansible-doc cannot read mlops.mlflow.$r" >&2; exit 1; }
done
installed="$work/collections/ansible_collections/mlops/mlflow"
for kind in filter module; do
  dir="$installed/plugins/${kind/module/modules}"
  [[ -d "$dir" ]] || continue
  for f in "$dir"/[a-z]*.py; do
    [[ -e "$f" ]] || continue
    p=$(basename "$f" .py)
    ANSIBLE_COLLECTIONS_PATH="$work/collections" ansible-doc -t "$kind" "mlops.mlflow.$p" >/dev/null \
      || { echo "FAIL: ansible-doc cannot read $kind mlops.mlflow.$p" >&2; exit 1; }
  done
done
echo "collection build: ok (roles and plugins usable by FQCN from outside the repository)"
