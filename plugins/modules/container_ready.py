#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: container_ready
short_description: Wait until containers pass their own healthcheck, running it now instead of at Docker's next interval
description:
  - Waits until every container in O(name) runs and passes its healthcheck. A container that Docker already reports
    C(healthy), or that has no healthcheck, is ready at once.
  - Otherwise the module runs the container's own healthcheck command (C(Config.Healthcheck.Test), C(CMD) or
    C(CMD-SHELL)) with C(docker exec) every O(delay) seconds. Docker runs the first check only one healthcheck
    interval after the start (10 s by default in the roles; Docker before 25.0 has no C(start_interval)), so a
    container that is ready after 2 s would otherwise keep a deployment waiting for the rest of the interval.
  - The check is the one Docker runs, as the same user, so "ready" here means what C(healthy) means; Docker's
    own status catches up at its next interval.
  - Fails after O(timeout) seconds with each container's state, its last probe output and the last lines of its log.
  - Reads only; the healthcheck commands are expected to change nothing (as Docker runs them all the time).
version_added: 0.2.0
author:
  - mlops.mlflow maintainers (@mlops)
requirements:
  - the C(docker) command line client on the host (it comes with the engine)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Waits the same way; it changes nothing in either mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode).
    support: none
options:
  name:
    description: Names (or ids) of the containers.
    type: list
    elements: str
    required: true
  timeout:
    description: Seconds to wait for all of them together.
    type: int
    default: 120
  delay:
    description: Seconds between two rounds of checks.
    type: float
    default: 1.0
  docker_host:
    description: The Docker API the client connects to (C(docker -H)); empty takes C(DOCKER_HOST) or the local socket.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Wait until PostgreSQL answers (its healthcheck, run now)
  mlops.mlflow.container_ready:
    name: [postgres]
    timeout: 180
"""

RETURN = r"""
containers:
  description: One entry per container, in the order of O(name).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name asked for.
      type: str
    ready:
      description: Whether it ran and passed its healthcheck.
      type: bool
    how:
      description: >-
        C(docker) (Docker reported it healthy), C(probe) (the healthcheck passed when this module ran it) or
        C(no-healthcheck) (running, nothing to check); C(missing), C(not-running) or C(probe-failed) when not ready.
      type: str
    output:
      description: Output of the last failed probe (at most 2000 characters).
      type: str
  sample:
    - {name: postgres, ready: true, how: probe, output: ""}
elapsed:
  description: Seconds waited.
  returned: always
  type: float
"""

import json
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule


class NotFound(Exception):
    """No such container."""


class DockerError(Exception):
    """The docker client failed (engine unreachable, probe timed out, ...)."""


class DockerCLI:
    """The three calls the module makes, through the docker command line client (no Python SDK needed)."""

    def __init__(self, docker, host="", probe_timeout=30):
        self.base = [docker] + (["-H", host] if host else [])
        self.probe_timeout = probe_timeout

    def _run(self, args, timeout=60):
        try:
            proc = subprocess.run(self.base + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DockerError("%s did not finish within %s s" % (" ".join(args[:2]), timeout)) from exc
        return proc.returncode, proc.stdout.decode("utf-8", "replace")

    def inspect(self, name):
        rc, out = self._run(["container", "inspect", name])
        if rc != 0:
            if "no such" in out.lower():
                raise NotFound(out.strip())
            raise DockerError(out.strip())
        return json.loads(out)[0]

    def exec(self, cid, argv, user=""):
        """(exit code, output) of argv run in the container as user (the container's user when empty)."""
        return self._run(["exec"] + (["--user", user] if user else []) + [cid] + list(argv), timeout=self.probe_timeout)

    def logs(self, name, tail=20):
        rc, out = self._run(["logs", "--tail", str(tail), name])
        return out if rc == 0 else ""


OUTPUT_LIMIT = 2000


def probe_command(test):
    """The argv of a Config.Healthcheck.Test, or None when there is no check to run."""
    if not test or test[0] in ("NONE",):
        return None
    if test[0] == "CMD":
        return list(test[1:]) or None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", test[1]] if len(test) > 1 else None
    return None  # unknown form: leave it to Docker's status


def check(client, name):
    """One look at one container: (ready, how, output)."""
    try:
        attrs = client.inspect(name)
    except NotFound:
        return False, "missing", ""
    state = attrs.get("State") or {}
    if not state.get("Running"):
        return False, "not-running", "status %s, exit code %s" % (state.get("Status"), state.get("ExitCode"))
    health = (state.get("Health") or {}).get("Status")
    argv = probe_command(((attrs.get("Config") or {}).get("Healthcheck") or {}).get("Test"))
    if argv is None:
        return True, ("docker" if health == "healthy" else "no-healthcheck"), ""
    if health == "healthy":
        return True, "docker", ""
    user = (attrs.get("Config") or {}).get("User") or ""
    try:
        code, output = client.exec(attrs["Id"], argv, user)
    except DockerError as exc:  # the probe hung
        return False, "probe-failed", str(exc)[:OUTPUT_LIMIT]
    if code == 0:
        return True, "probe", ""
    return False, "probe-failed", ("exit code %s: %s" % (code, output.strip()))[-OUTPUT_LIMIT:]


def wait(client, names, timeout, delay, clock=time.monotonic, sleep=time.sleep):
    """Check every container until all are ready or the time is up: (all ready, results, seconds)."""
    start = clock()
    results = {}
    while True:
        for name in names:
            if not results.get(name, {}).get("ready"):
                ready, how, output = check(client, name)
                results[name] = {"name": name, "ready": ready, "how": how, "output": output}
        if all(r["ready"] for r in results.values()) or clock() - start >= timeout:
            return all(r["ready"] for r in results.values()), [results[n] for n in names], round(clock() - start, 1)
        sleep(delay)


def log_tail(client, name, lines=20):
    try:
        return client.logs(name, tail=lines).strip()
    except DockerError:
        return ""


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="list", elements="str", required=True),
            timeout=dict(type="int", default=120),
            delay=dict(type="float", default=1.0),
            docker_host=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    names = module.params["name"]
    if not names:
        module.exit_json(changed=False, containers=[], elapsed=0.0)
    if module.params["timeout"] < 0 or module.params["delay"] <= 0:
        module.fail_json(msg="timeout must be >= 0 and delay > 0")
    client = DockerCLI(module.get_bin_path("docker", required=True), module.params["docker_host"])
    try:
        ok, results, elapsed = wait(client, names, module.params["timeout"], module.params["delay"])
    except DockerError as exc:
        module.fail_json(msg="cannot reach the Docker engine: %s" % exc)
    if not ok:
        lines = []
        for r in results:
            if not r["ready"]:
                lines.append("%s: %s%s" % (r["name"], r["how"], (" (%s)" % r["output"]) if r["output"] else ""))
                tail = log_tail(client, r["name"]) if r["how"] != "missing" else ""
                if tail:
                    lines.append("last lines of its log:\n" + tail)
        module.fail_json(
            msg="not ready after %s s: %s" % (module.params["timeout"], "\n".join(lines)),
            containers=results, elapsed=elapsed,
        )
    module.exit_json(changed=False, containers=results, elapsed=elapsed)


if __name__ == "__main__":
    main()
