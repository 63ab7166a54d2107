# -*- coding: utf-8 -*-
"""A role's preflight runs with any of the role's tags: `--tags <role>_configure` cannot skip the checks.

Each case runs one role in check mode with its valid baseline plus ONE value the preflight refuses,
and `--tags` set to a later tag of the role (not <role>_preflight). The value is one the argument
spec cannot refuse (a range, a placeholder): the spec's validation is tagged `always` and would fail
with any tag, proving nothing. The run must fail in a task of roles/<role>/tasks/preflight.yml (or
of a file it imports), naming the variable, before any task of the later tag runs.
(tests/lint/check_roles.py checks statically that the preflight carries every tag of tasks/main.yml.)
"""
from __future__ import annotations

from pathlib import Path

import pytest

from test_bad_input import BASELINES, PROD_PLACEHOLDER, VALIDATION_TASK

# role: (a later tag of the role, the bad value, the variable the message names)
CASES = {
    "docker": ("docker_configure", {"docker_wait_timeout": 0}, "docker_wait_timeout"),
    "postgres": ("postgres_configure", {"postgres_port": 70000}, "postgres_port"),
    "minio": ("minio_configure", {"minio_api_port": 0}, "minio_api_port"),
    "mlflow_server": ("mlflow_server_run", {"mlflow_server_workers": 0}, "mlflow_server_workers"),
    "nginx_proxy": ("nginx_proxy_configure", {"nginx_proxy_http_port": 70000}, "nginx_proxy_http_port"),
    "sqlite_migration": ("sqlite_migration_migrate", {"sqlite_migration_pg_password": PROD_PLACEHOLDER},
                         "sqlite_migration_pg_password"),
    "mlflow_backup": ("mlflow_backup_configure", {"mlflow_backup_keep": 0}, "mlflow_backup_keep"),
    "prometheus": ("prometheus_run", {"prometheus_port": 70000}, "prometheus_port"),
}
# tasks that may come before the preflight's: facts, the spec validation, the include of the preflight
BEFORE_PREFLIGHT = {"Gathering Facts", "ansible.builtin.include_tasks", "include_tasks"}


def test_every_role_has_a_case():
    assert set(CASES) == set(BASELINES)
    for role, (tag, variables, names) in CASES.items():
        assert tag.startswith(role + "_") and tag != role + "_preflight", role
        assert all(key.startswith(role + "_") for key in variables) and names in variables, role


@pytest.mark.parametrize("role", sorted(CASES))
def test_preflight_runs_with_a_later_tag(role, run_role, role_preflight, tmp_path: Path):
    tag, bad, names = CASES[role]
    run = run_role(role, {**BASELINES[role], **bad}, tmp_path, tags=tag)
    summary = run.summary()
    index, failed = run.first_failure
    assert run.rc != 0 and failed is not None, f"--tags {tag} skipped {role}'s preflight:\n{summary}"

    preflight_names, preflight_files = role_preflight(role)
    assert not failed.name.startswith(VALIDATION_TASK), f"the spec refused it, not the preflight:\n{summary}"
    task_file = Path(failed.path.rsplit(":", 1)[0]).resolve()
    assert failed.name in preflight_names and task_file in preflight_files, (
        f"with --tags {tag} '{failed.name}' failed, not a task of {role}'s preflight:\n{summary}")
    assert names in failed.messages, summary

    for task in run.tasks[:index]:
        if task.name in BEFORE_PREFLIGHT or task.action in BEFORE_PREFLIGHT or task.name.startswith(VALIDATION_TASK):
            continue
        path = Path(task.path.rsplit(":", 1)[0]).resolve()
        assert path in preflight_files, f"'{task.name}' ({path}) ran before the preflight failed:\n{summary}"
    assert not [t.name for t in run.tasks[: index + 1] if t.changed], summary
