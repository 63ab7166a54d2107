# -*- coding: utf-8 -*-
"""A role's checks run once per host and settings in a playbook run, and again when a setting changes.

playbooks/production.yml reaches mlflow_server's checks through five entry points and
nginx_proxy's through two; each role fingerprints its variables and skips checks that already
passed with the same values on the same host (roles/*/tasks/preflight.yml). Three plays call the
same entry point: the second (same values) must skip the checks (the one include that holds them
is skipped, so none of them runs), the third (one value made bad by play-level vars, as a playbook
would pass them) must still be refused, naming the variable.
"""
from __future__ import annotations

import pytest

from test_bad_input import BASELINES

PLAY = """\
- name: {name}
  hosts: localhost
  gather_facts: false
{vars}  tasks:
    - name: Run the checks
      ansible.builtin.include_role:
        name: mlops.mlflow.{role}
        tasks_from: {entry}
        apply:
          tags: [always]
      tags: [always]
"""


def _play(name: str, play_vars: str = "") -> str:
    """One play that calls the entry point ({role}, {entry} and {bad_*} are filled in later)."""
    return PLAY.replace("{name}", name).replace("{vars}", play_vars)


PLAYS = "\n".join([
    _play("First call"),
    _play("Same settings again"),
    _play("One setting changed in the play", "  vars:\n    {bad_var}: {bad_value}\n"),
])

CASES = [
    # role, entry point, the include that holds the checks, one check task, a bad value for the third play
    ("mlflow_server", "validate", "Check the variables (once per host and settings)",
     "Check the server settings (every check; the failure lists each one that fails)", "mlflow_server_workers", 0),
    ("nginx_proxy", "preflight", "Check the settings and the host (once per host and settings)",
     "Check the proxy settings and the host (every check; the failure lists each one that fails)",
     "nginx_proxy_http_port", 70000),
]


@pytest.mark.parametrize("role,entry,include,check,bad_var,bad_value", CASES, ids=[c[0] for c in CASES])
def test_checks_run_once_per_settings(role, entry, include, check, bad_var, bad_value, run_role, tmp_path):
    play = PLAYS.replace("{entry}", entry).replace("{bad_var}", bad_var).replace("{bad_value}", str(bad_value))
    run = run_role(role, BASELINES[role], tmp_path, play)
    includes = [task for task in run.tasks if task.name == include]
    assert len(includes) == 3, run.summary()
    assert [bool(task.result.get("skipped")) for task in includes] == [False, True, False], (
        "same settings: the checks should be skipped\n" + run.summary())
    calls = [task for task in run.tasks if task.name == check]
    assert len(calls) == 2, "the checks ran in the first and third play only\n" + run.summary()
    first, third = calls
    assert not first.result.get("skipped") and not first.failed, run.summary()
    assert third.failed and bad_var in third.messages, "a changed bad value must be refused\n" + run.summary()
    assert run.rc != 0
    assert not any(task.changed for task in run.tasks), run.summary()
