# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_ready: Docker's status first, else the container's own healthcheck run now."""
from __future__ import annotations

import pytest

from ansible_collections.mlops.mlflow.plugins.modules import container_ready as mod
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules.module_harness import patch_exits, run_main

NotFound = mod.NotFound


class FakeDocker:
    """The calls the module makes; `containers` maps a name to its inspect data, `probes` an id
    to the exit codes its healthcheck returns, one per run (the last one repeats)."""

    def __init__(self, containers, probes=None):
        self.containers = containers
        self.probes = {k: list(v) for k, v in (probes or {}).items()}
        self.execs = []

    def inspect(self, name):
        if name not in self.containers:
            raise NotFound("no such container: %s" % name)
        return self.containers[name]

    def exec(self, cid, argv, user=""):
        self.execs.append((cid, argv, user))
        codes = self.probes[cid]
        return (codes.pop(0) if len(codes) > 1 else codes[0]), "no response\n"

    def logs(self, name, tail=20):
        return "FATAL: the database system is starting up"


def container(cid, running=True, health=None, test=None, user=""):
    attrs = {"Id": cid, "State": {"Running": running, "Status": "running" if running else "exited", "ExitCode": 0 if running else 1},
             "Config": {"User": user}}
    if health:
        attrs["State"]["Health"] = {"Status": health}
    if test is not None:
        attrs["Config"]["Healthcheck"] = {"Test": test}
    return attrs


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def wait(api, names, timeout=10, delay=1):
    clock = Clock()
    return mod.wait(api, names, timeout, delay, clock=clock, sleep=clock.sleep)


PG_TEST = ["CMD", "pg_isready", "--host=127.0.0.1"]


def test_a_starting_container_whose_check_passes_is_ready_without_waiting_for_dockers_interval():
    api = FakeDocker({"postgres": container("pg1", health="starting", test=PG_TEST, user="postgres")}, {"pg1": [0]})
    ok, results, elapsed = wait(api, ["postgres"])
    assert ok and elapsed == 0
    assert results == [{"name": "postgres", "ready": True, "how": "probe", "output": ""}]
    # the container's own command, as its user
    assert api.execs == [("pg1", ["pg_isready", "--host=127.0.0.1"], "postgres")]


def test_the_probe_is_repeated_until_it_passes():
    api = FakeDocker({"s3": container("s1", health="starting", test=["CMD-SHELL", "wget -q -O- http://127.0.0.1:9000/healthz"])},
                  {"s1": [1, 1, 0]})
    ok, results, elapsed = wait(api, ["s3"])
    assert ok and elapsed == 2
    assert api.execs[0][1] == ["/bin/sh", "-c", "wget -q -O- http://127.0.0.1:9000/healthz"]
    assert len(api.execs) == 3


def test_healthy_and_no_healthcheck_are_ready_without_a_probe():
    api = FakeDocker({"a": container("a1", health="healthy", test=PG_TEST), "b": container("b1"),
                   "c": container("c1", test=["NONE"])})
    ok, results, _ = wait(api, ["a", "b", "c"])
    assert ok and [r["how"] for r in results] == ["docker", "no-healthcheck", "no-healthcheck"]
    assert api.execs == []


def test_a_failing_probe_times_out_with_its_output():
    api = FakeDocker({"postgres": container("pg1", health="starting", test=PG_TEST)}, {"pg1": [2]})
    ok, results, elapsed = wait(api, ["postgres"], timeout=5)
    assert not ok and elapsed == 5
    assert results[0]["how"] == "probe-failed"
    assert results[0]["output"] == "exit code 2: no response"


def test_an_unhealthy_container_is_probed_too_and_a_stopped_one_is_not():
    api = FakeDocker({"u": container("u1", health="unhealthy", test=PG_TEST), "x": container("x1", running=False, test=PG_TEST)},
                  {"u1": [0]})
    ok, results, _ = wait(api, ["u", "x"], timeout=3)
    assert not ok
    assert results[0]["how"] == "probe" and results[0]["ready"]
    assert results[1] == {"name": "x", "ready": False, "how": "not-running", "output": "status exited, exit code 1"}
    assert all(e[0] == "u1" for e in api.execs)


def test_a_missing_container_is_waited_for_then_reported():
    api = FakeDocker({})
    ok, results, _ = wait(api, ["postgres"], timeout=2)
    assert not ok and results[0]["how"] == "missing"


def test_ready_containers_are_not_probed_again_while_others_are_waited_for():
    api = FakeDocker({"a": container("a1", health="starting", test=PG_TEST), "b": container("b1", health="starting", test=PG_TEST)},
                  {"a1": [0], "b1": [1, 1, 1, 0]})
    ok, _, elapsed = wait(api, ["a", "b"])
    assert ok and elapsed == 3
    assert [e[0] for e in api.execs].count("a1") == 1


@pytest.mark.parametrize("test,argv", [
    (["CMD", "true"], ["true"]), (["CMD-SHELL", "exit 0"], ["/bin/sh", "-c", "exit 0"]),
    (["NONE"], None), ([], None), (None, None), (["CMD"], None), (["OTHER", "x"], None),
])
def test_probe_command(test, argv):
    assert mod.probe_command(test) == argv


def test_main_reports_each_container_and_fails_with_the_log_tail(monkeypatch):
    patch_exits(monkeypatch)
    api = FakeDocker({"postgres": container("pg1", health="starting", test=PG_TEST)}, {"pg1": [2]})
    monkeypatch.setattr(mod, "DockerCLI", lambda docker, host: api)
    monkeypatch.setattr(mod.AnsibleModule, "get_bin_path", lambda self, name, required=False: "/usr/bin/docker")
    monkeypatch.setattr(mod.time, "sleep", lambda s: None)
    result = run_main(mod.main, {"name": ["postgres"], "timeout": 0})
    assert result["failed"]
    assert "postgres: probe-failed (exit code 2: no response)" in result["msg"]
    assert "the database system is starting up" in result["msg"]

    api.probes["pg1"] = [0]
    result = run_main(mod.main, {"name": ["postgres"], "timeout": 0}, check_mode=True)
    assert not result.get("failed") and result["changed"] is False
    assert result["containers"][0]["how"] == "probe"


FAKE_DOCKER = r"""#!/bin/sh
# a docker client stand-in: logs its arguments, answers inspect / exec / logs
echo "$*" >> "$(dirname "$0")/calls"
case "$*" in
  *"container inspect gone"*) echo "Error: No such container: gone"; exit 1 ;;
  *"container inspect"*) echo '[{"Id": "c1", "State": {"Running": true, "Health": {"Status": "starting"}},
    "Config": {"User": "postgres", "Healthcheck": {"Test": ["CMD-SHELL", "pg_isready -q"]}}}]' ;;
  *" exec "*) echo "accepting connections"; exit 0 ;;
  *"logs --tail"*) echo "last line" ;;
esac
"""


def test_the_docker_client_is_called_as_docker_would_run_the_check(tmp_path):
    """The command lines the module runs: inspect, exec as the container's user, -H when given."""
    docker = tmp_path / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    client = mod.DockerCLI(str(docker), "tcp://10.0.0.5:2375")
    ok, results, _ = mod.wait(client, ["pg"], 5, 1)
    assert ok and results[0]["how"] == "probe"
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == ["-H tcp://10.0.0.5:2375 container inspect pg",
                     "-H tcp://10.0.0.5:2375 exec --user postgres c1 /bin/sh -c pg_isready -q"]
    assert mod.check(client, "gone") == (False, "missing", "")
    assert mod.log_tail(client, "pg") == "last line"
