# -*- coding: utf-8 -*-
"""Unit tests of the mlops.mlflow.placeholder test plugin (plain pytest), and of its use: ONE
placeholder rule for every role (the roles used to carry five regexes that disagreed)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.mlops.mlflow.plugins.test import placeholder as plugin

REPO = Path(__file__).resolve().parents[4]
is_placeholder = plugin.is_placeholder

# what the shipped inventories and examples fall back to until the vault is filled in
SHIPPED_PLACEHOLDERS = [
    "ChangeMe",
    "ChangeMe-postgres-mlflow",  # inventories/prod fallback; sqlite_migration used to accept it
    "ChangeMe-postgres-superuser",
    "ChangeMe-minio-mlflow",
    "ChangeMe-rds-mlflow",
    "ChangeMe-mlflow-user",
    "ChangeMe-DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...",
]


@pytest.mark.parametrize(
    "value",
    SHIPPED_PLACEHOLDERS
    + [
        "changeme", "CHANGE_ME", "change-me", "change me", "Change.Me!",
        "prod-changeme-2024",  # anywhere in the value (nginx_proxy's rule; the other roles missed it)
        "my-CHANGE_ME-secret",
        "password", "Password123!", "passwordpassword",  # prefixes
        "secret", "secret-key-here",
        "minioadmin", "minio123", "minio123456",
        "todo", "TODO-fill-in",
        "xxx", "xxxxxxxx", "XXXX-XXXX",
        "<your password>", "<vault_postgres_password>",
        "  changeme  ",
    ],
)
def test_placeholders_are_recognised(value):
    assert is_placeholder(value) is True


@pytest.mark.parametrize(
    "value",
    [
        "t3st-dummy-pw-1",
        "Sup3r-molecule-only",
        "R00t-s3-molecule-only",
        "Mlfl0w-s3-molecule-only",
        "alice-test-password",  # "password" only counts as a prefix
        "b0b:with $pecial chars",
        "correct horse battery staple",
        "my-secret-is-long",  # "secret" only counts as a prefix
        "xx-not-three-x",
        "ch4nge-me-not",  # not change?me
        "kX9#mQ2$vL7@pR4!",
        "",  # empty is refused by the roles' length checks, not by this test
    ],
)
def test_real_values_are_not_placeholders(value):
    assert is_placeholder(value) is False


@pytest.mark.parametrize("value", [None, 12345678, 1.5, True, ["ChangeMe"], {"password": "ChangeMe"}])
def test_non_strings_are_not_placeholders(value):
    # the roles check `is string` (and the length) separately; this test never raises
    assert is_placeholder(value) is False


def test_vault_like_objects_are_read_as_text():
    class EncryptedString:  # ansible-core 2.19 hands vaulted values over as this (no str subclass)
        def __str__(self):
            return "ChangeMe-from-vault"

    assert is_placeholder(EncryptedString()) is True


def test_bytes_are_decoded():
    assert is_placeholder(b"ChangeMe-bytes") is True
    assert is_placeholder(b"kX9#mQ2$vL7@pR4!") is False


def test_test_is_registered():
    assert plugin.TestModule().tests()["placeholder"] is is_placeholder


def test_documentation_parses():
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc["name"] == "placeholder"
    assert set(doc["options"]) == {"_input"}
    assert yaml.safe_load(plugin.EXAMPLES)
    assert "_value" in yaml.safe_load(plugin.RETURN)


# ------------------------------------------------------------------ one rule, used by every role
ROLES_WITH_SECRETS = ["postgres", "minio", "mlflow_server", "nginx_proxy", "sqlite_migration", "mlflow_backup"]


def _role_text(role):
    files = list((REPO / "roles" / role / "tasks").glob("*.yml")) + [REPO / "roles" / role / "vars" / "main.yml"]
    return {path: path.read_text() for path in files if path.exists()}


@pytest.mark.parametrize("role", ROLES_WITH_SECRETS)
def test_every_role_uses_the_shared_test(role):
    texts = _role_text(role)
    assert any("mlops.mlflow.placeholder" in text for text in texts.values()), (
        f"{role} does not use the shared `is mlops.mlflow.placeholder` test"
    )


@pytest.mark.parametrize("role", ROLES_WITH_SECRETS)
def test_no_role_keeps_its_own_placeholder_regex(role):
    pattern = re.compile(r"placeholder_(regex|pattern)|changeme\|change_me|change\.\?me", re.IGNORECASE)
    offenders = [str(p.relative_to(REPO)) for p, text in _role_text(role).items() if pattern.search(text)]
    assert not offenders, f"own placeholder rule left in {offenders}"


def _ansible_playbook():
    exe = Path(sys.executable).with_name("ansible-playbook")
    return str(exe) if exe.exists() else shutil.which("ansible-playbook")


@pytest.mark.skipif(_ansible_playbook() is None, reason="ansible-playbook is not installed next to this Python")
def test_through_ansible_by_fqcn(tmp_path):
    """`is mlops.mlflow.placeholder` and selectattr/select with the FQCN resolve in a real play."""
    collections = tmp_path / "collections" / "ansible_collections" / "mlops"
    collections.mkdir(parents=True)
    (collections / "mlflow").symlink_to(REPO)
    (tmp_path / "play.yml").write_text(
        """
- hosts: localhost
  gather_facts: false
  vars:
    users: [{name: a, password: ChangeMe-1}, {name: b, password: kX9-real-pw}, {name: c, password: Password1}]
  tasks:
    - ansible.builtin.assert:
        that:
          - "'ChangeMe-postgres-mlflow' is mlops.mlflow.placeholder"
          - "'kX9-real-pw' is not mlops.mlflow.placeholder"
          - "users | selectattr('password', 'mlops.mlflow.placeholder') | map(attribute='name') | list == ['a', 'c']"
          - "['x', 'changeme'] | select('mlops.mlflow.placeholder') | list == ['changeme']"
"""
    )
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_NOCOLOR="1",
    )
    proc = subprocess.run(
        [_ansible_playbook(), "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, "play.yml"],
        capture_output=True, text=True, env=env, check=False, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
