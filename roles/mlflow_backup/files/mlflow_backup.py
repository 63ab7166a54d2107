# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mlflow_backup.py CONFIG.json: one backup of an MLflow stack (run by mlflow-backup.service).

- database: `pg_dump -Fc` inside the PostgreSQL container (its own pg_dump, local socket, no
  password) into DIR/database/<UTC stamp>.dump, listed with `pg_restore --list` (must hold the
  data of alembic_version) before it is kept; the newest `keep` dumps are kept;
- artifacts: `rclone sync` of the bucket into DIR/artifacts/current (checksums), objects that
  changed or disappeared since the last run moved to DIR/artifacts/changed/<stamp> (kept as
  long as the dumps); the S3 remote `mlflow` comes from the environment (RCLONE_CONFIG_MLFLOW_*,
  a root-only EnvironmentFile);
- a status file (JSON, readable by a monitor, no secrets): last attempt, result, last success,
  sizes, seconds, error.
Everything it writes under DIR is root only (umask 077). Exit code 0 on success.
"""
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time

STAMP = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")


def expired(names, keep):
    """Stamped names (dumps without suffix, or directories) beyond the newest `keep`, oldest first."""
    stamps = sorted(n for n in names if STAMP.match(n))
    if keep < 1 or len(stamps) <= keep:
        return []
    return stamps[:-keep]


def dump_database(cfg, target):
    part = target + ".part"
    container, user, db = cfg["pg_container"], cfg["pg_superuser"], cfg["pg_database"]
    with open(part, "wb") as out:
        subprocess.run(["docker", "exec", container, "pg_dump", "-U", user, "-d", db, "-Fc"], stdout=out, check=True)
    with open(part, "rb") as dump:
        listing = subprocess.run(["docker", "exec", "-i", container, "pg_restore", "--list"], stdin=dump,
                                 capture_output=True, check=True, text=True).stdout
    if not re.search(r"TABLE DATA public alembic_version ", listing):
        raise RuntimeError("pg_restore --list shows no data of alembic_version: not an MLflow dump")
    os.replace(part, target)
    entries = sum(1 for line in listing.splitlines() if line and not line.startswith(";"))
    return {"path": target, "bytes": os.path.getsize(target), "toc_entries": entries}


def mirror_artifacts(cfg, current, changed):
    subprocess.run(["rclone", "sync", "--checksum", "--backup-dir", changed, "mlflow:" + cfg["bucket"], current],
                   check=True, capture_output=True, text=True)
    size = json.loads(subprocess.run(["rclone", "size", "--json", current], check=True, capture_output=True,
                                     text=True).stdout)
    return {"path": current, "objects": size.get("count", 0), "bytes": size.get("bytes", 0)}


def prune(directory, keep, suffix=""):
    names = [n[: -len(suffix)] if suffix and n.endswith(suffix) else n for n in os.listdir(directory)]
    for name in expired(names, keep):
        path = os.path.join(directory, name + suffix)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def write_status(path, status):
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        json.dump(status, out, indent=1, sort_keys=True)
        out.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(config_path):
    with open(config_path) as f:
        cfg = json.load(f)
    os.umask(0o077)
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    status = {}
    if os.path.exists(cfg["status_file"]):
        try:
            with open(cfg["status_file"]) as f:
                status = json.load(f)
        except ValueError:
            status = {}
    status.update({"last_attempt": now.isoformat(timespec="seconds"), "result": "running", "error": None})
    start = time.monotonic()
    try:
        if cfg.get("database"):
            directory = os.path.join(cfg["dir"], "database")
            os.makedirs(directory, exist_ok=True)
            t0 = time.monotonic()
            status["database"] = dump_database(cfg, os.path.join(directory, stamp + ".dump"))
            status["database"]["seconds"] = round(time.monotonic() - t0, 1)
            prune(directory, int(cfg["keep"]), ".dump")
        if cfg.get("artifacts"):
            base = os.path.join(cfg["dir"], "artifacts")
            os.makedirs(os.path.join(base, "changed"), exist_ok=True)
            t0 = time.monotonic()
            status["artifacts"] = mirror_artifacts(cfg, os.path.join(base, "current"), os.path.join(base, "changed", stamp))
            status["artifacts"]["seconds"] = round(time.monotonic() - t0, 1)
            prune(os.path.join(base, "changed"), int(cfg["keep"]))
    except (OSError, RuntimeError, ValueError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        status.update({"result": "failed", "error": str(detail).strip()[-500:],
                       "seconds": round(time.monotonic() - start, 1)})
        write_status(cfg["status_file"], status)
        print(json.dumps(status), file=sys.stderr)
        return 1
    status.update({"result": "ok", "last_success": status["last_attempt"], "stamp": stamp,
                   "seconds": round(time.monotonic() - start, 1)})
    write_status(cfg["status_file"], status)
    print(json.dumps(status))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
