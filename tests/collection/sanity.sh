#!/usr/bin/env bash
# ansible-test sanity on exactly what the collection ships (the built tarball), without
# ansible-test's download site: its pip bootstrap script is replaced by a stand-in that uses
# ensurepip and then installs the pip version ansible-test asks for (see ENVIRONMENT notes).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tarballs=("$root"/.build/dist/mlops-mlflow-*.tar.gz)
if [[ ! -e "${tarballs[0]}" ]]; then
  "$root/tests/collection/check_build.sh" >/dev/null
  tarballs=("$root"/.build/dist/mlops-mlflow-*.tar.gz)
fi
tarball="${tarballs[0]}"
dest="$root/.build/sanity/ansible_collections/mlops/mlflow"
rm -rf "$root/.build/sanity" && mkdir -p "$dest"
tar -xzf "$tarball" -C "$dest"

cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
for v in 24_2 25_0 25_1; do
  cat > "$cache/get_pip_$v.py" <<PY
# stand-in for get-pip.py: bootstrap pip from the interpreter's bundled wheel
import subprocess, sys
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "pip==${v/_/.}"])
PY
done

cd "$dest"
git init -q . && git add -A >/dev/null 2>&1 && git -c user.name=ci -c user.email=ci@localhost commit -qm sanity
ansible-test sanity --local --python 3.11 --color no "$@"
