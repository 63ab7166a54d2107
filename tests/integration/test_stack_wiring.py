# -*- coding: utf-8 -*-
"""The connection settings ("wiring") each role gets on each host of the production stage.

The roles derive them from the inventory's groups and the site's mlflow_* settings
(plugins/filter/stack.py, read by the roles' defaults). wiring/render.yml loads the roles on every
host of an inventory for their defaults only (no task of theirs runs, nothing is contacted) and
writes each host's values; they must equal wiring/expected.yml. That file holds what the
inventories' hand-written group_vars gave before the wiring moved into the roles (rendered from
them just before that commit), so it also pins that the move changed nothing. Only the variables of the
roles a host runs are compared (postgres_* on mlflow_db, ...).

Cases: the shipped inventories (prod: one machine; cloud-aws, cloud-azure: managed services),
prod with direct artifacts, without presigned transfers, with a self-signed or a private-CA
certificate, and two splits over several machines (wiring/inventories: molecule/multihost's
split, and every part on its own host) that use inventories/prod's group_vars as they are.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ANSIBLE_PLAYBOOK, ROOT, ansible_env

HERE = Path(__file__).parent / "wiring"
CERT = "-----BEGIN CERTIFICATE-----\nselfsigned\n-----END CERTIFICATE-----"
PROD = ROOT / "inventories" / "prod"
# case: (inventory, extra vars)
CASES = {
    "prod": (PROD, {}),
    "prod-direct": (PROD, {"mlflow_artifacts_mode": "direct"}),
    "prod-nopresign": (PROD, {"mlflow_artifacts_presigned": False}),
    "prod-selfsigned": (PROD, {"mlflow_tls_selfsigned": True, "mlflow_proxy_selfsigned_cert": CERT}),
    "prod-ca": (PROD, {"mlflow_tls_ca_cert": CERT}),
    "split": (HERE / "inventories" / "split", {}),
    "split-direct": (HERE / "inventories" / "split", {"mlflow_artifacts_mode": "direct"}),
    "web": (HERE / "inventories" / "web", {"mlflow_tls_selfsigned": True, "mlflow_proxy_selfsigned_cert": CERT}),
    "web-nopresign": (HERE / "inventories" / "web", {"mlflow_artifacts_presigned": False}),
    "cloud-aws": (ROOT / "inventories" / "cloud-aws", {}),
    "cloud-azure": (ROOT / "inventories" / "cloud-azure", {}),
}
# variable prefix: the group whose hosts run that role
ROLE_GROUPS = {"postgres_": "mlflow_db", "minio_": "mlflow_objectstore", "mlflow_server_": "mlflow_servers",
               "nginx_proxy_": "mlflow_proxy", "sqlite_migration_": "mlflow_migration"}


def host_groups(inventory: Path) -> dict[str, set[str]]:
    """Every host of hosts.yml with the groups it is in (directly or through a child group)."""
    groups: dict[str, set[str]] = {}

    def walk(name, node, parents):
        node = node or {}
        for host in node.get("hosts") or {}:
            groups.setdefault(host, set()).update(parents | {name})
        for child, sub in (node.get("children") or {}).items():
            walk(child, sub, parents | {name})

    walk("all", yaml.safe_load((inventory / "hosts.yml").read_text())["all"], set())
    return groups


def relevant(values: dict, groups: set[str]) -> dict:
    """The variables of the roles the host runs."""
    return {key: value for key, value in values.items()
            if next(group for prefix, group in ROLE_GROUPS.items() if key.startswith(prefix)) in groups}


def render(ansible_home: Path, inventory: Path, extra: dict, out: Path) -> dict[str, dict]:
    env = {**ansible_env(ansible_home), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    run = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(HERE / "render.yml"), "-e", f"@{HERE / 'names.yml'}",
         "-e", json.dumps({"wiring_output": str(out), **extra})],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    groups = host_groups(inventory)
    return {path.stem: relevant(json.loads(path.read_text()), groups[path.stem]) for path in out.glob("*.json")}


EXPECTED = yaml.safe_load((HERE / "expected.yml").read_text())


def test_every_case_is_expected():
    assert set(EXPECTED) == set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_wiring(case, ansible_home, tmp_path: Path):
    inventory, extra = CASES[case]
    got = render(ansible_home, inventory, extra, tmp_path)
    assert sorted(got) == sorted(EXPECTED[case]), "hosts"
    for host, values in EXPECTED[case].items():
        differences = {key: (value, got[host].get(key, "<missing>")) for key, value in values.items()
                       if got[host].get(key, "<missing>") != value}
        assert not differences, f"{case} {host}: expected, got: {differences}"
