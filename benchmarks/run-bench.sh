#!/usr/bin/env bash
# Stack benchmarks of issue #8, side by side in one run on this machine (`make bench`):
#   deploy     bare host -> healthy production stack with `ansible-playbook site.yml`, then a
#              second run with no changes; the same with the docker-compose peer
#   writes     N parallel MLflow clients logging runs (log_batch): local stage (SQLite) vs
#              production stage (PostgreSQL, through Nginx)
#   search     search_runs over BENCH_SEARCH_RUNS runs, filter + order on a metric, both stages
#   artifacts  one BENCH_ARTIFACT_MB file up and down with a stock client: the default production
#              path (presigned, client -> Nginx -> S3), proxied only (Nginx -> MLflow -> S3) and
#              direct (client -> S3), with the MLflow container's peak memory
# Settings (environment): BENCH_N="1 4 16 32", BENCH_RUNS_PER_CLIENT=4, BENCH_ARTIFACT_MB=1024,
# BENCH_SEARCH_RUNS=10000, BENCH_PARTS="deploy writes search artifacts", BENCH_KEEP=1 keeps the
# instances (BENCH_REUSE=1 runs on them again: development only), BENCH_OUT=.build/bench (logs, one JSON per figure, report.md).
# Instances: mlops-bench-ansible and mlops-bench-compose on the network mlops-bench, made like
# the Molecule instances (.config/molecule/config.yml) and removed at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

BENCH_N=${BENCH_N:-"1 4 16 32"}
BENCH_RUNS_PER_CLIENT=${BENCH_RUNS_PER_CLIENT:-4}
BENCH_ARTIFACT_MB=${BENCH_ARTIFACT_MB:-1024}
BENCH_SEARCH_RUNS=${BENCH_SEARCH_RUNS:-10000}
BENCH_PARTS=${BENCH_PARTS:-"deploy writes search artifacts"}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_REUSE=${BENCH_REUSE:-0}
out=${BENCH_OUT:-$root/.build/bench}
net=mlops-bench
A=mlops-bench-ansible
B=mlops-bench-compose
inv=benchmarks/inventory
# Bench-only credentials (benchmarks/inventory/host_vars/mlops-bench-ansible.yml).
public_name=mlflow.bench.test
web_user=bench
web_password=B3nch-user-only
s3_key=mlflow
s3_secret=Mlfl0w-s3-bench-only

has_part() { [[ " $BENCH_PARTS " == *" $1 "* ]]; }
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(round($(now) - $1, 1))"; }

cleanup() {
  local rc=$?
  if [[ "$BENCH_KEEP" != 1 ]]; then
    docker rm -f -v "$A" "$B" >/dev/null 2>&1 || true
    docker network rm "$net" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.log "$out"/*.txt
bench_start=$(now)
uptime > "$out/load-before.txt"
# The CPU's speed on this machine drifts from run to run (a VM): the same Python loop before and
# after tells how fast it was while the figures were taken.
cpu_reference() {
  python3 -c 'import time
t = time.perf_counter()
s = 0
for i in range(10 ** 7):
    s += i
print(round(time.perf_counter() - t, 2))'
}
cpu_reference > "$out/cpu-before.txt"

# shellcheck disable=SC1091
source "$root/.venv/bin/activate"
scripts/ensure-docker.sh
scripts/link-collection.sh
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections" ANSIBLE_ROLES_PATH="$root/roles"
export ANSIBLE_FORCE_COLOR=false ANSIBLE_NOCOLOR=true ANSIBLE_PIPELINING=true
export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=all
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false

# ---------------------------------------------------------------- images and instances (untimed)
log "images: mlops/{host,python,postgres,seaweedfs}:local (reused when up to date), mlops/bench-nginx:local"
scripts/build-images.sh host python postgres seaweedfs >/dev/null
if ! docker image inspect mlops/bench-nginx:local >/dev/null 2>&1; then
  docker build -q -t mlops/bench-nginx:local benchmarks/compose/nginx >/dev/null
fi

if [[ "$BENCH_REUSE" == 1 ]] && docker inspect "$A" >/dev/null 2>&1; then
  # Development only: keep the instances of a BENCH_KEEP=1 run (nothing is "bare" then).
  image=$(docker exec "$A" docker images --format '{{.Repository}}:{{.Tag}}' mlflow-server | sed -n 1p)
  instances=("$A")
  docker inspect "$B" >/dev/null 2>&1 && instances+=("$B")
else
  docker rm -f -v "$A" "$B" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
  docker network create "$net" >/dev/null
  caps=(AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER
        FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE MAC_ADMIN MAC_OVERRIDE MKNOD NET_ADMIN
        NET_BIND_SERVICE NET_BROADCAST NET_RAW SETFCAP SETGID SETPCAP SETUID SYSLOG SYS_ADMIN SYS_BOOT
        SYS_CHROOT SYS_MODULE SYS_NICE SYS_PACCT SYS_PTRACE SYS_RAWIO SYS_TIME SYS_TTY_CONFIG WAKE_ALARM)
  cap_args=()
  for c in "${caps[@]}"; do cap_args+=(--cap-add "$c"); done
  instances=("$A")
  has_part deploy && instances+=("$B")
  for name in "${instances[@]}"; do
    docker run -d --name "$name" --hostname "$name" --network "$net" --cgroupns host "${cap_args[@]}" \
      --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
      -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v /var/lib/docker \
      --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
      mlops/host:local /lib/systemd/systemd >/dev/null
  done

  # The MLflow image: build it once on the compose instance (or reuse the copy kept in this
  # machine's engine), then copy it out and into the production instance.
  cached=$(docker images --format '{{.Repository}}:{{.Tag}}' mlflow-server | grep -v '<none>' || true)
  extra=$(python3 -c 'import json, sys; print(json.dumps({"bench_extra_images": sys.argv[1].split()}))' "$cached")
  build_host=$B
  has_part deploy || build_host=$A
  log "prepare ${instances[*]}: Docker engine (docker role), images$( [[ -n "$cached" ]] && echo ", cached $cached")"
  ansible-playbook benchmarks/prepare.yml -i "$inv" --limit "$(IFS=,; echo "${instances[*]}")" -e "$extra" \
    > "$out/prepare.log" 2>&1 || { tail -40 "$out/prepare.log"; exit 1; }
  log "build (or reuse) the MLflow image on $build_host"
  ansible-playbook benchmarks/build-image.yml -i "$inv" --tags mlflow_server_build \
    -e "{\"bench_build_host\": \"$build_host\"}" --limit "$build_host" \
    > "$out/build-image.log" 2>&1 || { tail -40 "$out/build-image.log"; exit 1; }
  image=$(sed -n 's/.*"BENCH_IMAGE=\([^"]*\)".*/\1/p' "$out/build-image.log" | sed -n 1p)
  [[ -n "$image" ]] || { echo "no image tag in $out/build-image.log" >&2; exit 1; }
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    docker exec "$build_host" docker save "$image" | docker load -q >/dev/null
  fi
  if [[ "$build_host" != "$A" ]] && ! docker exec "$A" docker image inspect "$image" >/dev/null 2>&1; then
    docker save "$image" | docker exec -i "$A" docker load -q >/dev/null
  fi
fi
log "MLflow image $image present on ${instances[*]}"

# ---------------------------------------------------------------- 1. deployment
recap_changed() { sed -n "s/^$A *: .*changed=\([0-9]*\).*/\1/p" "$1" | tail -1; }
deploy() {  # label, extra env...
  local label=$1 t0 secs
  shift
  t0=$(now)
  env "$@" ansible-playbook site.yml -i "$inv" > "$out/deploy-$label.log" 2>&1 \
    || { tail -60 "$out/deploy-$label.log"; exit 1; }
  secs=$(since "$t0")
  printf '{"label": "%s", "seconds": %s, "changed": %s}\n' "$label" "$secs" "$(recap_changed "$out/deploy-$label.log")" \
    > "$out/deploy-$label.json"
  log "ansible $label: ${secs}s, changed=$(recap_changed "$out/deploy-$label.log")"
}
deploy first  # the repository's defaults (ansible.cfg): Mitogen (strategy_plugins/mlops_mitogen.py), pipelining
if has_part deploy; then
  # Three no-op runs back to back, reported as their median: this VM's speed drifts by +-15 % within
  # minutes (the CPU reference in the report); the report lists all three.
  deploy second
  deploy second-2
  deploy second-3
  # the peer of the no-op run: Ansible's own linear strategy (what a run gets without ansible.cfg)
  deploy second-linear ANSIBLE_STRATEGY=linear

  log "compose peer on $B"
  docker cp benchmarks/compose "$B:/opt/bench-compose"
  docker exec "$B" sh -c "echo MLFLOW_IMAGE=$image > /opt/bench-compose/.env"
  for label in first second; do
    t0=$(now)
    docker exec "$B" sh -c 'cd /opt/bench-compose && docker-compose up -d 2>&1 && ./wait.sh 600' \
      > "$out/compose-$label.log" 2>&1 || { cat "$out/compose-$label.log"; exit 1; }
    secs=$(since "$t0")
    recreated=$(grep -c -E '(Creating|Recreating|Starting) .* done' "$out/compose-$label.log" || true)
    printf '{"label": "%s", "seconds": %s, "created_or_started": %s}\n' "$label" "$secs" "$recreated" \
      > "$out/compose-$label.json"
    log "compose $label: ${secs}s (containers created/started: $recreated)"
  done
  docker exec "$B" docker-compose version --short > "$out/compose-version.txt" 2>&1 || true
  docker rm -f -v "$B" >/dev/null  # free its memory and CPU for the throughput benchmarks
fi

# ---------------------------------------------------------------- the stages for the clients
log "local stage (SQLite) on $A"
t0=$(now)
ansible-playbook benchmarks/local-stage.yml -i "$inv" > "$out/local-stage.log" 2>&1 \
  || { tail -40 "$out/local-stage.log"; exit 1; }
log "local stage first: $(since "$t0")s"
if has_part deploy; then  # the local stage's run with nothing to change (`make local` again)
  t0=$(now)
  ansible-playbook benchmarks/local-stage.yml -i "$inv" > "$out/local-second.log" 2>&1 \
    || { tail -40 "$out/local-second.log"; exit 1; }
  secs=$(since "$t0")
  changed=$(sed -n "s/^$A *: .*changed=\([0-9]*\).*/\1/p" "$out/local-second.log" | tail -1)
  printf '{"label": "local-second", "seconds": %s, "changed": %s}\n' "$secs" "$changed" > "$out/local-second.json"
  log "local stage second: ${secs}s, changed=$changed"
fi
ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" "$A")
local_uri="http://$ip:5002"
prod_uri="https://$public_name/mlflow"
docker exec "$A" cat /etc/nginx/ssl/mlflow.crt > "$out/proxy-ca.crt"  # the clients' CA (self-signed)
client() {  # stage, args... -> the JSON line (the last line; MLflow prints run links before it)
  local stage=$1
  shift
  if [[ "$stage" == sqlite ]]; then
    python benchmarks/bench_client.py --uri "$local_uri" "$@" | tail -n 1
  else
    MLFLOW_TRACKING_USERNAME=$web_user MLFLOW_TRACKING_PASSWORD=$web_password REQUESTS_CA_BUNDLE="$out/proxy-ca.crt" \
      python benchmarks/bench_client.py --uri "$prod_uri" --resolve "$public_name=$ip" "$@" | tail -n 1
  fi
}
container_of() { [[ "$1" == sqlite ]] && echo mlflow-local || echo mlflow-server; }

{
  echo "nproc: $(nproc)"
  lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|Hypervisor)' || true
  free -g | sed -n 1,2p
  uname -r
  echo "ansible: $(ansible --version | sed -n 1p)"
  echo "docker (outer): $(docker version -f '{{.Server.Version}}')"
  echo "docker (instance): $(docker exec "$A" docker version -f '{{.Server.Version}}')"
  echo "nginx: $(docker exec "$A" nginx -v 2>&1)"
  echo "postgres: $(docker exec "$A" docker exec postgres postgres --version)"
  echo "mlflow (server): $(docker exec "$A" docker exec mlflow-server mlflow --version)"
  echo "mlflow (client): $(python -c 'import mlflow; print(mlflow.__version__)')"
  echo "mlflow image: $image"
  [[ -f "$out/compose-version.txt" ]] && echo "docker-compose: $(cat "$out/compose-version.txt")"
} > "$out/machine.txt" 2>&1

# ---------------------------------------------------------------- 2. concurrent writes
if has_part writes; then
  for n in $BENCH_N; do
    for stage in sqlite postgres; do
      t_since=$(date +%s)
      client "$stage" writes --n "$n" --runs-per-client "$BENCH_RUNS_PER_CLIENT" > "$out/writes-$stage-$n.json"
      locked=$(docker exec "$A" docker logs --since "$t_since" "$(container_of "$stage")" 2>&1 \
        | grep -c -i 'database is locked' || true)
      python3 - "$out/writes-$stage-$n.json" "$locked" <<'PY'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["server_log_database_locked"] = int(sys.argv[2])
json.dump(d, open(p, "w"))
print("writes %-8s N=%-3d %6.1f req/s  p50 %7.1f ms  p99 %8.1f ms  failed %d  'database is locked' in log: %s"
      % (p.rsplit("-", 2)[-2], d["n"], d["req_per_s"], d["p50_ms"] or 0, d["p99_ms"] or 0, d["failed"], sys.argv[2]),
      file=sys.stderr)
PY
    done
  done
fi

# ---------------------------------------------------------------- 4. search
if has_part search; then
  for stage in sqlite postgres; do
    exp=$(client "$stage" experiment --experiment bench-search)
    docker exec -i "$A" docker exec -i "$(container_of "$stage")" python - "$exp" "$BENCH_SEARCH_RUNS" \
      < benchmarks/fill_runs.py > "$out/fill-$stage.json"
    client "$stage" search --experiment bench-search > "$out/search-$stage.json"
    log "search $stage: $(cat "$out/fill-$stage.json") $(cat "$out/search-$stage.json")"
  done
fi

# ---------------------------------------------------------------- 3. artifacts
if has_part artifacts; then
  cid=$(docker exec "$A" docker inspect -f '{{.Id}}' mlflow-server)
  cg=$(find /sys/fs/cgroup/memory -maxdepth 6 -type d -name "*$cid*" 2>/dev/null | sed -n 1p)
  [[ -n "$cg" ]] || log "no cgroup directory found for mlflow-server ($cid): no memory figures"
  [[ -n "$cg" ]] && client postgres idle-mem --cgroup "$cg" > "$out/mem-idle.json"
  # The default production path with a stock client (presigned: the bytes go to the object store
  # published by Nginx), then everything through MLflow (what mlflow_artifacts_presigned: false
  # gives; the client is told so here instead of re-deploying), then straight to S3.
  client postgres artifacts --mode proxied --size-mb "$BENCH_ARTIFACT_MB" --cgroup "$cg" \
    > "$out/artifacts-presigned.json"
  log "artifacts presigned (default): $(cat "$out/artifacts-presigned.json")"
  MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=false MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD=false \
    client postgres artifacts --mode proxied --size-mb "$BENCH_ARTIFACT_MB" --cgroup "$cg" \
    > "$out/artifacts-proxied.json"
  log "artifacts proxied only: $(cat "$out/artifacts-proxied.json")"
  MLFLOW_S3_ENDPOINT_URL="http://$ip:9000" AWS_ACCESS_KEY_ID=$s3_key AWS_SECRET_ACCESS_KEY=$s3_secret \
    client postgres artifacts --mode direct --size-mb "$BENCH_ARTIFACT_MB" --cgroup "$cg" \
    --artifact-location s3://mlflow/bench-direct > "$out/artifacts-direct.json"
  log "artifacts direct: $(cat "$out/artifacts-direct.json")"
fi

uptime > "$out/load-after.txt"
cpu_reference > "$out/cpu-after.txt"
printf '{"seconds": %s}\n' "$(since "$bench_start")" > "$out/wall.json"
python3 benchmarks/report.py "$out" | tee "$out/report.md"
