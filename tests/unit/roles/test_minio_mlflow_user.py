# -*- coding: utf-8 -*-
"""The MinIO engine's `mc` calls (roles/minio/tasks/mlflow_user_minio.yml) keep secrets off
command lines: a docker exec's argv is visible in the host's `ps`, in `docker events` and in the
container's /proc while mc runs. The engine cannot run here (no minio image), so the task file
itself is inspected."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
TASKS = REPO / "roles" / "minio" / "tasks" / "mlflow_user_minio.yml"
SECRETS = ("minio_mlflow_secret_key", "minio_root_password", "__minio_mc_env")
EXEC = ("community.docker.docker_container_exec", "docker_container_exec")


def _tasks():
    return yaml.safe_load(TASKS.read_text())


def _exec_tasks():
    found = []
    for task in _tasks():
        for key in EXEC:
            if key in task:
                found.append((task["name"], task[key], task))
    return found


def test_the_task_file_has_exec_tasks():
    assert len(_exec_tasks()) >= 4


@pytest.mark.parametrize("name", [name for name, _, _ in _exec_tasks()])
def test_no_secret_in_the_command_line(name):
    args = next(a for n, a, _ in _exec_tasks() if n == name)
    command_line = yaml.safe_dump({k: args.get(k) for k in ("argv", "command")})
    for secret in SECRETS:
        assert secret not in command_line, f"{name}: {secret} is on mc's command line"
    assert "sh -c" not in command_line and "$(cat" not in command_line


def test_the_mlflow_user_secret_goes_through_stdin():
    add = [(n, a, t) for n, a, t in _exec_tasks() if a.get("argv", [])[:4] == ["mc", "admin", "user", "add"]]
    assert len(add) == 1
    name, args, task = add[0]
    # mc admin user add ALIAS ACCESSKEY: without SECRETKEY, mc reads it as one line from stdin
    assert args["argv"] == ["mc", "admin", "user", "add", "mlops", "{{ minio_mlflow_access_key }}"]
    assert args["stdin"].strip() == "{{ minio_mlflow_secret_key }}"
    assert args.get("stdin_add_newline", True) is True
    assert task.get("no_log") is True


def test_root_credentials_only_in_the_exec_environment():
    for name, args, task in _exec_tasks():
        assert args.get("env") == "{{ __minio_mc_env }}", name
        assert task.get("no_log") is True, name
