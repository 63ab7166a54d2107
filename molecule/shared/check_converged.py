#!/usr/bin/env python3
"""Dry-run a scenario's converge playbook on its converged instances and count what would change.

    check_converged.py SCENARIO_DIR EPHEMERAL_DIR

Runs `ansible-playbook --check --diff -i EPHEMERAL_DIR/inventory SCENARIO_DIR/converge.yml` with
the JSON callback (ansible.posix.json), then prints one line per host (ok / changed / failed
counts) and the names of the tasks that reported a change or failed. Task results are never
printed: they may hold secrets. Exit code 0 only when the run succeeded, every host reported
`changed=0` and `failed=0`, and at least one task ran.
"""
import json
import os
import subprocess
import sys


def main():
    scenario_dir, ephemeral_dir = sys.argv[1], sys.argv[2]
    cmd = [
        "ansible-playbook", "--check", "--diff",
        "-i", os.path.join(ephemeral_dir, "inventory"),
        os.path.join(scenario_dir, "converge.yml"),
    ]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_FORCE_COLOR="false")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    try:
        # other callbacks (profile_tasks) may print lines around the JSON document
        report, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        print("check_converged: no JSON report from ansible-playbook (rc=%d)" % proc.returncode)
        print("\n".join(proc.stderr.splitlines()[-20:]))
        return 1

    problems = []
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                for kind in ("changed", "failed", "unreachable"):
                    if result.get(kind):
                        problems.append("%s %s: %s" % (kind, host, task["task"]["name"]))
    stats = report.get("stats", {})
    total_ok = 0
    for host, counts in sorted(stats.items()):
        total_ok += counts.get("ok", 0)
        print("%s: ok=%d changed=%d failed=%d unreachable=%d skipped=%d" % (
            host, counts.get("ok", 0), counts.get("changed", 0), counts.get("failures", 0),
            counts.get("unreachable", 0), counts.get("skipped", 0)))
    bad_stats = [h for h, c in stats.items()
                 if c.get("changed") or c.get("failures") or c.get("unreachable")]
    for line in problems:
        print(line)
    if proc.returncode != 0 or bad_stats or problems or not stats or total_ok == 0:
        print("check_converged: FAILED (rc=%d): --check --diff on the converged hosts must "
              "report 0 changed and 0 failed" % proc.returncode)
        return 1
    print("check_converged: 0 changed on %d host(s)" % len(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
