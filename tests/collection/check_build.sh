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
echo "installed roles: $(echo $roles)"

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
if [[ -d "$work/collections/ansible_collections/mlops/mlflow/plugins/filter" ]]; then
  for p in $(ls "$work/collections/ansible_collections/mlops/mlflow/plugins/filter" | grep -E '^[a-z].*\.py$' | sed 's/\.py$//'); do
    ANSIBLE_COLLECTIONS_PATH="$work/collections" ansible-doc -t filter "mlops.mlflow.$p" >/dev/null \
      || { echo "FAIL: ansible-doc cannot read filter mlops.mlflow.$p" >&2; exit 1; }
  done
fi
if [[ -d "$work/collections/ansible_collections/mlops/mlflow/plugins/modules" ]]; then
  for p in $(ls "$work/collections/ansible_collections/mlops/mlflow/plugins/modules" | grep -E '^[a-z].*\.py$' | sed 's/\.py$//'); do
    ANSIBLE_COLLECTIONS_PATH="$work/collections" ansible-doc -t module "mlops.mlflow.$p" >/dev/null \
      || { echo "FAIL: ansible-doc cannot read module mlops.mlflow.$p" >&2; exit 1; }
  done
fi
echo "collection build: ok (roles and plugins usable by FQCN from outside the repository)"
