# -*- coding: utf-8 -*-
"""strategy_plugins/mlops_mitogen.py, the repository's default strategy (ansible.cfg): a play gives
the same results under it as under Ansible's `linear`, with its shared compiled templates (first
run, second run from the cache, a corrupt cache) - templates, conditions, a template file with its
own delimiters, an undefined variable and a syntax error reported as usual."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    base: 40
    items_list: [a, b, c]
    derived: "{{ base + 2 }}"
  tasks:
    - name: A template of a template
      ansible.builtin.debug:
        msg: "{{ derived | int * 2 }} {{ items_list | join('-') }}"
    - name: A condition that holds
      ansible.builtin.debug:
        msg: held
      when: derived | int == 42 and 'b' in items_list
    - name: A condition that does not
      ansible.builtin.debug:
        msg: should be skipped
      when: derived | int != 42
    - name: Conditions in a loop
      ansible.builtin.debug:
        msg: "{{ item }}"
      loop: "{{ items_list }}"
      when: item != 'b'
    - name: A template file with its own delimiters
      ansible.builtin.debug:
        msg: "{{ lookup('ansible.builtin.template', 'own.j2') | trim }}"
    - name: The same text with the default delimiters
      ansible.builtin.debug:
        msg: "{{ lookup('ansible.builtin.template', 'plain.j2') | trim }}"
    - name: An undefined variable
      ansible.builtin.debug:
        msg: "{{ not_defined_anywhere }}"
      ignore_errors: true
    - name: A syntax error
      ansible.builtin.debug:
        msg: "{{ base + }}"
      ignore_errors: true
    - name: A syntax error in a condition
      ansible.builtin.debug:
        msg: never
      when: base ==
      ignore_errors: true
"""


def _ansible_playbook():
    exe = Path(sys.executable).with_name("ansible-playbook")
    return str(exe) if exe.exists() else shutil.which("ansible-playbook")


pytestmark = pytest.mark.skipif(_ansible_playbook() is None, reason="ansible-playbook is not installed next to this Python")


@pytest.fixture
def play(tmp_path):
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "own.j2").write_text("#jinja2:variable_start_string:'[%', variable_end_string:'%]'\n[% base %] {{ base }}\n")
    (tmp_path / "plain.j2").write_text("[% base %] {{ base }}\n")
    home = tmp_path / "ansible-home"

    def run(strategy):
        env = dict(os.environ, ANSIBLE_HOME=str(home), ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
                   ANSIBLE_STRATEGY_PLUGINS=str(REPO / "strategy_plugins"), ANSIBLE_STRATEGY=strategy,
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
        env.pop("ANSIBLE_CONFIG", None)
        proc = subprocess.run([_ansible_playbook(), "-i", "localhost,", "-c", "local", "play.yml"],
                              capture_output=True, text=True, env=env, check=False, cwd=tmp_path)
        assert proc.stdout.lstrip().startswith("{"), proc.stdout + proc.stderr
        tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
        return [(task["task"]["name"], _essence(task["hosts"]["localhost"])) for task in tasks]

    return run, home


def _essence(result):
    """What a user reads of a result (no durations, no paths)."""
    if "results" in result:
        return [_essence(item) for item in result["results"]]
    return {key: result.get(key) for key in ("msg", "skipped", "failed", "changed")}


def _code_dirs(home):
    return sorted((home / "tmp").glob("mlops-jinja-code-*"))


def test_same_results_as_linear_first_run_cached_run_and_corrupt_cache(play):
    run, home = play
    expected = run("linear")
    assert expected[0][1]["msg"] == "84 a-b-c"
    assert expected[4][1]["msg"] == "40 {{ base }}" and expected[5][1]["msg"] == "[% base %] 40"
    assert expected[6][1]["failed"] and "not_defined_anywhere" in expected[6][1]["msg"]
    assert expected[7][1]["failed"] and expected[8][1]["failed"]
    assert not _code_dirs(home)

    assert run("mlops_mitogen") == expected  # compiles and stores
    (directory,) = _code_dirs(home)
    mode = directory.stat().st_mode
    assert stat.S_IMODE(mode) == 0o700, oct(mode)
    stored = sorted(directory.iterdir())
    assert len(stored) >= 10, stored

    assert run("mlops_mitogen") == expected  # loads what the first run stored
    for path in stored:
        path.write_bytes(b"not a code object")
    assert run("mlops_mitogen") == expected  # compiles again over a corrupt cache


def test_a_cache_directory_others_can_write_is_not_used(play):
    run, home = play
    expected = run("linear")
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    run("mlops_mitogen")
    (directory,) = _code_dirs(home)
    for path in directory.iterdir():
        path.unlink()
    directory.chmod(0o777)
    try:
        assert run("mlops_mitogen") == expected
        assert not list(directory.iterdir()), "a directory others can write to must not be used"
    finally:
        directory.chmod(0o700)
