# -*- coding: utf-8 -*-
"""mlops.mlflow.checks through ansible-playbook (the roles' variable checks, issue #19): every check
is evaluated and every failing one reported in one task, `when` limits a check, a message is
rendered for failures only, an error in one check does not hide the others, check mode is the same."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]


def _ansible_playbook():
    exe = Path(sys.executable).with_name("ansible-playbook")
    return str(exe) if exe.exists() else shutil.which("ansible-playbook")


pytestmark = pytest.mark.skipif(_ansible_playbook() is None, reason="ansible-playbook is not installed next to this Python")

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    port: 70000
    name: "bad name"
    tls: false
    items_list: [a, b]
  tasks:
    - name: {name}
      mlops.mlflow.checks:
        checks: {checks}
      vars:
        limit: 65535
      ignore_errors: true
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("checks")
    collections = tmp_path / "collections" / "ansible_collections" / "mlops"
    collections.mkdir(parents=True)
    (collections / "mlflow").symlink_to(REPO)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    env.pop("ANSIBLE_CONFIG", None)

    def _run(checks, *extra):
        (tmp_path / "play.yml").write_text(PLAY.format(name="Check", checks=json.dumps(checks)))
        proc = subprocess.run([_ansible_playbook(), "-i", "localhost,", "-c", "local", "play.yml", *extra],
                              capture_output=True, text=True, env=env, check=False, cwd=tmp_path)
        assert proc.stdout.strip().startswith("{"), proc.stdout + proc.stderr
        result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
        return result

    return _run


GOOD_PORT = {"that": ["port | int <= limit + 10000"], "msg": "port must be at most {{ limit + 10000 }}"}
BAD_PORT = {"that": ["port | int >= 1", "port | int <= limit"], "msg": "port must be 1-{{ limit }}; got {{ port }}"}
BAD_NAME = {"that": "name is match('^[a-z]+$')", "msg": "name must be lower-case letters; got '{{ name }}'"}


def test_all_hold(run):
    result = run([GOOD_PORT, {"that": "items_list | length == 2", "msg": "two items"}])
    assert not result.get("failed"), result
    assert result["msg"] == "All 2 checks passed"
    assert result["changed"] is False


def test_every_failing_check_is_reported_once(run):
    result = run([BAD_PORT, GOOD_PORT, BAD_NAME])
    assert result["failed"] is True
    assert result["failures"] == ["port must be 1-65535; got 70000", "name must be lower-case letters; got 'bad name'"]
    assert result["msg"] == "(1/2) port must be 1-65535; got 70000 (2/2) name must be lower-case letters; got 'bad name'"


def test_one_failure_is_its_message(run):
    result = run([GOOD_PORT, BAD_NAME])
    assert result["failed"] is True
    assert result["msg"] == "name must be lower-case letters; got 'bad name'"


def test_when_limits_a_check(run):
    tls_check = {"that": "false", "msg": "TLS needs a certificate", "when": "tls"}
    assert not run([tls_check, GOOD_PORT]).get("failed")
    result = run([dict(tls_check, when=["not tls", "port | int > 0"]), GOOD_PORT])
    assert result["failures"] == ["TLS needs a certificate"]


def test_a_check_that_cannot_be_evaluated_does_not_hide_the_others(run):
    result = run([{"that": "undefined_setting | int > 0", "msg": "undefined_setting must be a number"}, BAD_NAME])
    assert result["failed"] is True
    assert len(result["failures"]) == 2
    assert result["failures"][0].startswith("undefined_setting must be a number (the check could not be evaluated:")
    assert "undefined_setting" in result["failures"][0].split("evaluated:", 1)[1]
    assert result["failures"][1] == "name must be lower-case letters; got 'bad name'"


def test_the_message_of_a_check_that_holds_is_not_rendered(run):
    pytest.importorskip("ansible._internal._templating")  # ansible-core 2.19+ (older ones render all up front)
    result = run([{"that": "true", "msg": "{{ undefined_setting.attribute }}"}, GOOD_PORT])
    assert not result.get("failed"), result


def test_check_mode_evaluates_the_same(run):
    result = run([BAD_PORT, BAD_NAME], "--check")
    assert result["failed"] is True and len(result["failures"]) == 2


@pytest.mark.parametrize("checks, message", [
    ([], "non-empty list"),
    ([{"that": "true"}], "expected the keys that, msg and optionally when"),
    ([{"that": "true", "msg": "x", "fail_msg": "y"}], "expected the keys that, msg and optionally when"),
])
def test_malformed_checks_fail_with_a_clear_message(run, checks, message):
    result = run(checks)
    assert result["failed"] is True and message in result["msg"], result
