# -*- coding: utf-8 -*-
"""Fixtures of the integration tests: run a role with ansible-playbook on this machine.

SAFETY: these tests run on the CI machine itself. Every run is `ansible-playbook --check
--tags <role>_preflight` against `localhost` (connection local): check mode changes nothing, and
the tag keeps everything after the role's preflight from running at all (the argument-spec
validation is tagged `always` by Ansible and still runs). test_preflight_tags.py passes a later
tag of the role instead, with a value the preflight refuses: the run stops in the preflight,
which carries every tag of its role, before a task of that tag starts (and check mode still
changes nothing). Ansible's temporary files go to a pytest temporary directory; no ansible.cfg
of the machine or the user is read.

The whole directory is skipped when ansible-playbook is not installed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"


def _find_ansible_playbook() -> str | None:
    """ansible-playbook of the virtualenv pytest runs in, else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("ansible-playbook")


ANSIBLE_PLAYBOOK = _find_ansible_playbook()


def pytest_collection_modifyitems(config, items):
    if ANSIBLE_PLAYBOOK:
        return
    skip = pytest.mark.skip(reason="ansible-playbook is not installed")
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(skip)


# ---------------------------------------------------------------- the role's preflight tasks
def _task_entries(tasks, tasks_dir: Path, names: set[str], files: set[Path]) -> None:
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always"):
            if key in task:
                _task_entries(task[key], tasks_dir, names, files)
        if "name" in task and not any(k in task for k in ("block", "rescue", "always")):
            names.add(task["name"])
        for key in ("ansible.builtin.import_tasks", "import_tasks", "ansible.builtin.include_tasks", "include_tasks"):
            target = task.get(key)
            if isinstance(target, dict):
                target = target.get("file")
            if isinstance(target, str) and "{{" not in target:
                _load_tasks_file((tasks_dir / target).resolve(), names, files)


def _load_tasks_file(path: Path, names: set[str], files: set[Path]) -> None:
    import yaml  # noqa: PLC0415 (PyYAML comes with Ansible: not needed when the tests are skipped)

    if path in files:
        return
    files.add(path)
    _task_entries(yaml.safe_load(path.read_text()), path.parent, names, files)


def preflight_tasks(role: str) -> tuple[set[str], set[Path]]:
    """Names of the tasks in roles/<role>/tasks/preflight.yml (and the files it imports), and those files."""
    names: set[str] = set()
    files: set[Path] = set()
    _load_tasks_file((ROLES / role / "tasks" / "preflight.yml").resolve(), names, files)
    return names, files


# ---------------------------------------------------------------- one ansible-playbook run

PLAY = """\
- name: Bad-input check of {role}
  hosts: localhost
  gather_facts: true
  # distribution (the roles' platform checks) and platform (architecture) only: no env facts in the output
  gather_subset: ["!all", "!min", "distribution", "platform"]
  roles:
    - role: mlops.mlflow.{role}
"""

INVENTORY = """\
all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""


@dataclass
class TaskResult:
    name: str          # without the "mlops.mlflow.<role> : " prefix
    path: str          # file:line of the task
    action: str
    result: dict

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed")) or any(
            isinstance(item, dict) and item.get("changed") for item in self.result.get("results", []) or []
        )

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed")) and not self.result.get("ignore_errors")

    @property
    def messages(self) -> str:
        """Every msg of the result and of its loop items."""
        parts = [str(self.result.get("msg", ""))]
        for item in self.result.get("results", []) or []:
            if isinstance(item, dict):
                parts.append(str(item.get("msg", "")))
        return "\n".join(p for p in parts if p)


@dataclass
class PlaybookRun:
    role: str
    rc: int
    stdout: str
    stderr: str
    tasks: list[TaskResult] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def first_failure(self) -> tuple[int, TaskResult] | tuple[None, None]:
        for index, task in enumerate(self.tasks):
            if task.failed:
                return index, task
        return None, None

    def summary(self) -> str:
        """Task names, changed/failed flags and messages (no facts, no raw output): safe to print."""
        lines = [f"rc={self.rc} stats={self.stats}"]
        for task in self.tasks:
            flags = ("CHANGED " if task.changed else "") + ("FAILED " if task.failed else "")
            lines.append(f"  {flags}{task.name} [{task.action}]")
            if task.failed:
                lines.append("    " + task.messages.replace("\n", "\n    "))
        if not self.tasks:
            lines.append("stderr (tail): " + self.stderr[-2000:])
        return "\n".join(lines)


def _parse(role: str, rc: int, stdout: str, stderr: str) -> PlaybookRun:
    run = PlaybookRun(role=role, rc=rc, stdout=stdout, stderr=stderr)
    try:
        data = json.loads(stdout)
    except ValueError:
        return run
    prefix = f"mlops.mlflow.{role} : "
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            meta = task.get("task", {})
            name = meta.get("name", "")
            if name.startswith(prefix):
                name = name[len(prefix):]
            for host_result in task.get("hosts", {}).values():
                run.tasks.append(TaskResult(name=name, path=meta.get("path", ""),
                                            action=host_result.get("action", ""), result=host_result))
    run.stats = data.get("stats", {}).get("localhost", {})
    return run


@pytest.fixture(scope="session")
def role_preflight():
    """role_preflight(role) -> (task names, task files) of the role's preflight."""
    return preflight_tasks


@pytest.fixture(scope="session")
def ansible_home(tmp_path_factory) -> Path:
    """A collection path with mlops.mlflow -> this checkout, an empty ansible.cfg, temp dirs."""
    base = tmp_path_factory.mktemp("ansible")
    namespace = base / "collections" / "ansible_collections" / "mlops"
    namespace.mkdir(parents=True)
    (namespace / "mlflow").symlink_to(ROOT)
    (base / "ansible.cfg").write_text("")
    (base / "tmp").mkdir()
    (base / "inventory.yml").write_text(INVENTORY)
    return base


def ansible_env(ansible_home: Path, drop: tuple[str, ...] = ("ANSIBLE_",)) -> dict[str, str]:
    """This process's environment without the variables that start with `drop`, plus the settings
    every integration run shares: the isolated config, collections and temp directories of
    `ansible_home`, JSON output, no retry files, no colour, no deprecation warnings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    env.update({
        "ANSIBLE_CONFIG": str(ansible_home / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(ansible_home / "collections"),
        "ANSIBLE_LOCAL_TEMP": str(ansible_home / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(ansible_home / "tmp"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
    })
    return env


@pytest.fixture(scope="session")
def run_role(ansible_home):
    """run_role(role, vars, workdir[, play][, tags]) -> PlaybookRun: the role in check mode, preflight only.

    play: the playbook's text ({role} is replaced), PLAY (the role once) by default.
    tags: --tags, <role>_preflight by default."""

    def _run(role: str, variables: dict, workdir: Path, play: str = PLAY, tags: str = "") -> PlaybookRun:
        playbook = workdir / "play.yml"
        playbook.write_text(play.replace("{role}", role))
        vars_file = workdir / "vars.json"
        vars_file.write_text(json.dumps(variables))
        env = ansible_env(ansible_home)
        env.update({
            # facts are gathered once per session (the first run) and read from this cache after
            "ANSIBLE_GATHERING": "smart",
            "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(ansible_home / "facts"),
            "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "3600",
        })
        command = [
            ANSIBLE_PLAYBOOK, "-i", str(ansible_home / "inventory.yml"), str(playbook),
            "--check", "--tags", tags or f"{role}_preflight", "-e", f"@{vars_file}",
        ]
        proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=180, check=False)
        return _parse(role, proc.returncode, proc.stdout, proc.stderr)

    return _run
