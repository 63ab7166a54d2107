#!/usr/bin/env bash
# Run Molecule scenarios (`molecule test -s NAME`), JOBS of them side by side.
#
#   scripts/run-molecule.sh [-j JOBS] SCENARIO...
#
# Each scenario has its own instances and Docker network (mlops-<scenario>), so scenarios do not
# see each other; running two at a time keeps a 2-core machine busy while one waits for apt,
# pip or a health check. The shared dependency step (collection link, images) runs once first.
# Full logs: .build/molecule-<scenario>.log (the tail is printed for a failed scenario).
# Prints one line per scenario and the summary `molecule: N passed, M failed`, then searches the
# scenarios' logs for their test secrets (tests/audit/secrets_in_logs.py); exit code 1 when any
# scenario failed or a secret showed up in a log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=1
if [[ "${1:-}" == -j ]]; then jobs=$2; shift 2; fi
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "run-molecule: -j needs a positive integer" >&2; exit 2; }
(($# > 0)) || { echo "usage: $0 [-j JOBS] SCENARIO..." >&2; exit 2; }
mkdir -p .build
status=$(mktemp -d .build/molecule-status.XXXXXX)
trap 'rm -rf "$status"' EXIT

# Images and the collection link once, before scenarios start in parallel.
MOLECULE_PROJECT_DIRECTORY="$root" molecule/shared/dependency.sh
# The multihost scenario's fixed addresses: a /24 that nothing on this machine uses.
if [[ -z "${MOLECULE_MULTIHOST_NET:-}" ]]; then
  MOLECULE_MULTIHOST_NET=$(molecule/shared/free_subnet.py)
  export MOLECULE_MULTIHOST_NET
fi
# An empty MLflow image cache (molecule/shared/image_cache.yml): each image of this run is built
# once by the role, in the first scenario that needs it.
docker images --format '{{.Repository}}:{{.Tag}}' mlflow-server | xargs -r docker rmi -f >/dev/null

run_one() {
  local s=$1 start rc=0
  start=$(date +%s)
  molecule test -s "$s" >".build/molecule-$s.log" 2>&1 || rc=$?
  echo "$rc $(($(date +%s) - start))" >"$status/$s"
}

declare -A pids=()
for s in "$@"; do
  if [[ ! -d "molecule/$s" ]]; then
    echo "no scenario $s, skipping"
    continue
  fi
  while ((${#pids[@]} >= jobs)); do
    wait -n || true
    for name in "${!pids[@]}"; do
      # a runner that died without a status counts as failed
      if [[ ! -f "$status/$name" ]] && ! kill -0 "${pids[$name]}" 2>/dev/null; then
        echo "1 0" >"$status/$name"
      fi
      if [[ -f "$status/$name" ]]; then
        read -r rc secs <"$status/$name"
        echo "=== molecule $name $([[ $rc == 0 ]] && echo passed || echo FAILED) in ${secs}s"
        unset "pids[$name]"
      fi
    done
  done
  echo "=== molecule test -s $s"
  run_one "$s" &
  pids[$s]=$!
done
wait || true
for name in "${!pids[@]}"; do
  [[ -f "$status/$name" ]] || echo "1 0" >"$status/$name"
  read -r rc secs <"$status/$name"
  echo "=== molecule $name $([[ $rc == 0 ]] && echo passed || echo FAILED) in ${secs}s"
done

passed=0 failed=0
for f in "$status"/*; do
  [[ -f "$f" ]] || continue
  read -r rc _ <"$f"
  name=$(basename "$f")
  if [[ $rc == 0 ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "----- tail of .build/molecule-$name.log"
    tail -n 150 ".build/molecule-$name.log"
    echo "=== molecule $name FAILED (log: .build/molecule-$name.log)"
  fi
done
echo "molecule: $passed passed, $failed failed"
# Secrets audit of the whole Ansible output of every scenario that ran.
logs=()
for s in "$@"; do [[ -f ".build/molecule-$s.log" ]] && logs+=(".build/molecule-$s.log"); done
audit=0
((${#logs[@]} == 0)) || python3 tests/audit/secrets_in_logs.py "${logs[@]}" || audit=1
((failed == 0 && audit == 0))
