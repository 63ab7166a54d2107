#!/usr/bin/env bash
# The released collection, as Galaxy users get it: build the tarball (scripts/build-collection.sh,
# into .build/dist), check what it ships, import it with Galaxy's own importer, install it into
# an empty collections path and use its playbooks, roles and plugins by FQCN from outside this
# repository.
#   1. contents: no tests, Molecule, CI or development files, nothing .gitignore ignores, the
#      collection README (README-collection.md) as README.md;
#   2. build_ignore: a by-hand `ansible-galaxy collection build` of a copy of the checkout that
#      holds throw-away files (.env, mlflow-data/mlflow.db, .idea/, __pycache__/, a filled-in
#      vault.yml, ...) ships exactly the same files;
#   3. every relative link in the shipped Markdown resolves inside the tarball;
#   4. galaxy-importer (PyPI, pinned in requirements-galaxy-importer.txt, own virtualenv under
#      .build/) with ansible-lint and ansible-doc, without containers or network: 0 warnings;
#   5. installed: the playbooks pass --syntax-check by FQCN, a role runs by FQCN, ansible-doc
#      reads every role and plugin.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/tests/collection"
out="$root/.build/dist"
rm -rf "$out" && mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step_start=$(date +%s)
step() { local now; now=$(date +%s); echo "$1 ($((now - step_start)) s)"; step_start=$now; }

# ---------------------------------------------------------------- 1. build, contents
tarball=$("$root/scripts/build-collection.sh" "$out")
listing=$(tar -tzf "$tarball" | sed 's|^\./||' | sort)
files=$(grep -v '/$' <<<"$listing")
echo "built $(basename "$tarball") ($(du -h "$tarball" | cut -f1), $(wc -l <<<"$files") files)"

if grep -E '^(molecule|tests|benchmarks|\.ci|\.config|\.github|\.venv|\.build|\.cache|\.ansible|\.pytest_cache)/' <<<"$listing"; then
  fail "the tarball ships test, CI or build files (above)"
fi
dev_only="Makefile CONTRIBUTING.md README-collection.md requirements-test.txt .gitignore .yamllint .ansible-lint
  scripts/build-collection.sh scripts/client-venvs.sh scripts/ensure-docker.sh scripts/install-prereqs.sh
  scripts/link-collection.sh scripts/run-molecule.sh scripts/role-docs.py images/host/Dockerfile"
for f in $dev_only; do
  ! grep -qxF "$f" <<<"$files" || fail "$f ships (development only; galaxy.yml build_ignore)"
done
for f in MANIFEST.json FILES.json README.md LICENSE CHANGELOG.rst changelogs/changelog.yaml meta/runtime.yml \
    site.yml roles/docker/tasks/main.yml roles/docker/meta/argument_specs.yml \
    scripts/build-images.sh scripts/build-base-image.sh images/python/Dockerfile; do
  grep -qxF "$f" <<<"$files" || fail "$f missing from the tarball"
done
if [[ -d "$root/.git" ]]; then
  ignored=$(git -C "$root" check-ignore --no-index --stdin <<<"$files" || true)
  [[ -z "$ignored" ]] || fail "the tarball ships files .gitignore ignores: ${ignored//$'\n'/ }"
fi
mkdir -p "$work/tarball"
tar -xzf "$tarball" -C "$work/tarball"
cmp -s "$work/tarball/README.md" "$root/README-collection.md" \
  || fail "the tarball's README.md is not README-collection.md"
step "contents: no test, development or ignored files; README.md is README-collection.md"

# ---------------------------------------------------------------- 2. build_ignore
# A copy of the checkout with throw-away files that a working copy collects (never created in
# the checkout itself), built the way anyone would by hand.
copy="$work/copy"
mkdir -p "$copy"
tar -C "$root" --exclude=./.git --exclude=./.venv --exclude=./.build --exclude=./.cache \
  --exclude=./.pytest_cache --exclude=./.ansible -cf - . | tar -C "$copy" -xf -
junk=(.env .env.local mlflow-data/mlflow.db mlflow-data/artifacts/0/x/artifacts/model.pkl notes.db
  .idea/workspace.xml .vscode/settings.json roles/docker/.idea/misc.xml roles/docker/tasks/main.yml.swp
  plugins/filter/__pycache__/htpasswd.cpython-311.pyc plugins/filter/stale.pyc roles/mlflow_server/.env
  inventories/prod/group_vars/mlflow_production/vault.yml .DS_Store site.yml~ mlops-mlflow-0.0.9.tar.gz
  .venv/pyvenv.cfg .build/dist/x .cache/x .pytest_cache/x .ansible/x roles/postgres/.venv/pyvenv.cfg)
for f in "${junk[@]}"; do mkdir -p "$copy/$(dirname "$f")" && echo junk >"$copy/$f"; done
ansible-galaxy collection build --force --output-path "$work/by-hand" "$copy" >/dev/null
by_hand=$(tar -tzf "$work"/by-hand/mlops-mlflow-*.tar.gz | sed 's|^\./||' | grep -v '/$' | sort)
if [[ "$by_hand" != "$files" ]]; then
  diff <(echo "$files") <(echo "$by_hand") >&2 || true
  fail "a by-hand build of a checkout with throw-away files ships other files (> lines above): galaxy.yml build_ignore"
fi
step "build_ignore: a by-hand build of a copy with ${#junk[@]} throw-away files ships the same $(wc -l <<<"$files") files"

# ---------------------------------------------------------------- 3. links
python3 "$here/check_links.py" "$work/tarball" >"$work/links.log" || { cat "$work/links.log"; fail "broken links in the tarball"; }
step "links: $(tail -n 1 "$work/links.log" | sed 's/^check_links: //')"

# ---------------------------------------------------------------- 4. galaxy-importer
# Its own virtualenv: galaxy-importer caps attrs (<24), flake8 (<7) and ansible-lint, which would
# downgrade or hold back the test virtualenv. ansible-core and ansible-lint are pinned to the
# versions of requirements*.txt; the collections the roles use come from the `ansible` package of
# the active (test) virtualenv, linked into the importer's sys.path (ansible-core finds
# ansible_collections there) instead of a second 500 MB copy.
venv="$root/.build/venv-galaxy-importer"
pins=$(cat "$here/requirements-galaxy-importer.txt"; grep -hE '^(ansible-core|ansible-lint)==' "$root/requirements.txt" "$root/requirements-test.txt")
if [[ ! -f "$venv/.installed" ]] || [[ "$(cat "$venv/.installed")" != "$pins" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  echo "$pins" >"$work/pins.txt"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$work/pins.txt" 2>&1 | { grep -v '^WARNING: Location' || true; }
  echo "$pins" >"$venv/.installed"
fi
collections=$(python3 -c 'import importlib.metadata as m; print(m.distribution("ansible").locate_file("ansible_collections"))')
[[ -d "$collections/community/docker" ]] || fail "no community.docker in $collections (the test virtualenv's ansible package)"
mkdir -p "$venv/deps"
ln -sfn "$collections" "$venv/deps/ansible_collections"
echo "$venv/deps" >"$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/zz-mlops-collections.pth"
mkdir -p "$work/importer"
( cd "$work/importer" && env -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_ROLES_PATH PATH="$venv/bin:$PATH" \
    GALAXY_IMPORTER_CONFIG="$here/galaxy-importer.cfg" "$venv/bin/python" -m galaxy_importer.main "$tarball" ) \
  >"$work/importer.log" 2>&1 || { cat "$work/importer.log"; fail "galaxy-importer failed"; }
problems=$(grep -cE '^(WARNING|ERROR|CRITICAL)' "$work/importer.log" || true)
if ((problems > 0)) || ! grep -q '^Importer processing completed successfully' "$work/importer.log"; then
  cat "$work/importer.log"
  fail "galaxy-importer: $problems warning(s)/error(s) (above)"
fi
"$venv/bin/python" - "$work/importer/importer_result.json" <<'PY' || fail "galaxy-importer's result (above)"
import json, sys
result = json.load(open(sys.argv[1]))
readme = result["docs_blob"]["collection_readme"]
assert readme["name"] == "README.md" and "ansible-galaxy collection install" in readme["html"], "Galaxy would not show the collection README"
roles = sorted(c["name"] for c in result["contents"] if c["content_type"] == "role")
print(f"galaxy-importer: {len(result['contents'])} contents ({len(roles)} roles), README rendered, "
      f"docs {[d['name'] for d in result['docs_blob']['documentation_files']]}")
PY
step "galaxy-importer $("$venv/bin/pip" show galaxy-importer 2>/dev/null | sed -n 's/^Version: //p'): 0 warnings, 0 errors"

# ---------------------------------------------------------------- 5. installed, by FQCN
export ANSIBLE_COLLECTIONS_PATH="$work/collections"
unset ANSIBLE_ROLES_PATH
ansible-galaxy collection install --force --no-deps -p "$work/collections" "$tarball" >/dev/null
installed="$work/collections/ansible_collections/mlops/mlflow"
roles=$(ls "$installed/roles")
echo "installed roles: ${roles//$'\n'/ }"
[[ -x "$installed/scripts/build-images.sh" ]] || fail "scripts/build-images.sh is not executable once installed"

cd "$work"
playbooks=$(find "$installed/playbooks" -maxdepth 1 -name '*.yml' -printf 'mlops.mlflow.%f\n' | sed 's/\.yml$//' | sort)
# shellcheck disable=SC2086  # one word per playbook
ansible-playbook --syntax-check -i "$installed/inventories/prod" $playbooks >"$work/syntax.log" 2>&1 \
  || { cat "$work/syntax.log"; fail "the installed playbooks do not pass --syntax-check by FQCN"; }
step "playbooks by FQCN: ${playbooks//$'\n'/ } (--syntax-check)"

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
ansible-playbook -i localhost, outside.yml --tags docker_preflight --check >"$work/out.log" 2>&1 \
  || { cat "$work/out.log"; fail "the installed collection could not be used by FQCN"; }
for r in $roles; do
  ansible-doc -t role "mlops.mlflow.$r" >/dev/null || fail "ansible-doc cannot read mlops.mlflow.$r"
done
# Every plugin ansible-doc lists is readable, and every plugin file gives at least one of them
# (a file may hold several filters, documented by NAME.yml files beside it, e.g. minio.py).
for kind in filter module; do
  dir="$installed/plugins/${kind/module/modules}"
  [[ -d "$dir" ]] || continue
  names=$(ansible-doc -t "$kind" -l mlops.mlflow --json | python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)))')
  for name in $names; do
    ansible-doc -t "$kind" "$name" >/dev/null || fail "ansible-doc cannot read $kind $name"
  done
  for f in "$dir"/[a-z]*.py; do
    [[ -e "$f" ]] || continue
    p=$(basename "$f" .py)
    grep -qE "^mlops\.mlflow\.${p}(_|$)" <<<"$names" || fail "ansible-doc lists no $kind of $f (mlops.mlflow.$p...)"
  done
done
step "roles and plugins by FQCN: a role's preflight runs, ansible-doc reads every role and plugin"
echo "collection build: ok ($(basename "$tarball") as Galaxy users get it)"
