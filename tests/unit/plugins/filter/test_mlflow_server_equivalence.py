# -*- coding: utf-8 -*-
"""roles/mlflow_server/vars/main.yml renders exactly what it rendered before its Jinja moved into
the mlops.mlflow.mlflow_server_* filters (plugins/filter/mlflow_server.py).

fixtures/mlflow_server_vars_before.yml is the vars file as it was. Both files are rendered with
ansible-core's own Templar over the role's defaults and many inputs: every bool and choice of
meta/argument_specs.yml, the shipped inventories and the Molecule scenarios' inventories (as
Ansible's own inventory and variable managers load them, per MLflow server host), a seeded
sample of combinations of realistic values, and odd values the argument spec lets through.
EVERY variable of the old file is compared, types and order included: a port that turns from
5000 into '5000', an argument that moves, a key that is added, dropped or reordered fails.
Values that made the old file fail must make the new one fail too.
"""
from __future__ import annotations

import itertools
from collections import ChainMap
import random
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible.inventory.manager import InventoryManager
from ansible.template import trust_as_template
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager
from ansible_collections.community.general.plugins.filter.dict_kv import dict_kv

from ansible_collections.mlops.mlflow.plugins.filter.mlflow_server import FilterModule
from ansible_collections.mlops.mlflow.plugins.filter.stack import stack
from ansible_collections.mlops.mlflow.plugins.test.placeholder import TestModule as PlaceholderTests
from ansible_collections.mlops.mlflow.tests.unit.plugins.filter.equivalence import (
    LOADER, filter_templar, load, render, typed)

REPO = Path(__file__).resolve().parents[4]
ROLE = REPO / "roles" / "mlflow_server"
BEFORE = Path(__file__).resolve().parent / "fixtures" / "mlflow_server_vars_before.yml"
AFTER = ROLE / "vars" / "main.yml"
# what the new file adds: the filters' results that several old variables are picked from
ADDED = {"_mlflow_server_middleware", "_mlflow_server_environment", "_mlflow_server_backend"}
# and what came later with new options (mlflow_server_metrics: empty/unused when it is off)
ADDED |= {"_mlflow_server_metrics_path", "_mlflow_server_tmpfs"}
# (mlflow_server_auth: its secret, configuration file, mount and environment; nothing when it is off)
ADDED |= {"_mlflow_server_store_secrets", "_mlflow_server_auth_secrets", "_mlflow_server_auth_ini_file",
          "_mlflow_server_auth_ini_path", "_mlflow_server_auth_env", "_mlflow_server_auth_mounts",
          "_mlflow_server_auth_url"}
# (the auth database backed up before an upgrade: false when mlflow_server_auth is off)
ADDED |= {"_mlflow_server_auth_db", "_mlflow_server_auth_db_backup"}
# (the database's CA for sslmode=verify-full: empty when mlflow_server_backend_ca_cert is)
ADDED |= {"_mlflow_server_backend_ca_path"}
# old lists of secret files that gained an entry for an option added later (compared without it)
GAINED = {name: {"mlflow_server_backend_ca_cert"} for name in
          ("_mlflow_server_managed_secrets", "_mlflow_server_store_secrets", "_mlflow_server_secrets_unset")}
# old variables whose text changed for an option added later (rendered as before while it is off)
NEWER_TEXT = {"_mlflow_server_mlflow_extras"}
# old variables whose text did not change (constants, one-line Jinja kept as it was)
UNCHANGED = {
    "_mlflow_server_container_port", "_mlflow_server_home", "_mlflow_server_data_path", "_mlflow_server_venv",
    "_mlflow_server_ca_path", "_mlflow_server_default_artifact_root",
    "_mlflow_server_public", "_mlflow_server_localhost_hosts", "_mlflow_server_secret_mount_dir",
    "_mlflow_server_secrets_set", "_mlflow_server_secrets_unset",
    "_mlflow_server_secret_files", "_mlflow_server_artifact_store", "_mlflow_server_env_names",
    "_mlflow_server_aws_credential_env", "_mlflow_server_missing_secrets", "_mlflow_server_placeholder_secrets",
    "_mlflow_server_spool_path", "_mlflow_server_s3_ca_file", "_mlflow_server_s3_ca_path",
    "_mlflow_server_health_path", "_mlflow_server_healthcheck", "_mlflow_server_wait_url",
    "_mlflow_server_job_secrets_dir", "_mlflow_server_job_mounts", "_mlflow_server_job_networks",
    "_mlflow_server_upgrade_record", "_mlflow_server_gc_container", "_mlflow_server_gc_env_file",
}
PEM = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
INVENTORIES = [
    "inventories/prod",
    "inventories/cloud-aws",
    "inventories/cloud-azure",
    "inventories/local",
    "molecule/production/inventory",
    "molecule/upgrade/inventory",
    "molecule/multihost/inventory",
]
# What the play would set on top of an inventory: facts (the local stage), the CA the Molecule
# host_vars read from a file, and the site's own choices.
INVENTORY_CONTEXT = {
    "ansible_facts": {"user_dir": "/home/alice", "user_uid": 1000, "user_gid": 1000},
    "mlflow_tls_ca_cert": PEM,
    # options added later (the old file had neither): off, as there; molecule/production switches
    # metrics on, molecule/multihost MLflow's own authentication
    "mlflow_server_metrics": False,
    "mlflow_auth_mode": "nginx",
    # (the cloud inventories read their database's CA into mlflow_server_backend_ca_cert)
    "mlflow_server_backend_ca_cert": "",
}
ENV_LOOKUP = re.compile(r"lookup\('ansible\.builtin\.env', '[A-Za-z0-9_]+'\)")
INVENTORY_VARIANTS = {
    "as-shipped": {},
    "direct": {"mlflow_artifacts_mode": "direct"},
    "not-presigned": {"mlflow_artifacts_presigned": False},
    "selfsigned": {"mlflow_tls_selfsigned": True, "mlflow_proxy_selfsigned_cert": PEM},
    "vaulted": {"vault_postgres_mlflow_password": "db-pw-9f2k", "vault_minio_mlflow_secret_key": "s3-pw-4h1x",
                "vault_db_mlflow_password": "rds-pw-7q", "vault_azure_storage_connection_string": "AccountKey=x;y"},
}

DEFAULTS = load(ROLE / "defaults" / "main.yml")
OLD = load(BEFORE)
NEW = load(AFTER)
# The production stage's wiring (plugins/filter/stack.py, tests/unit/plugins/filter/test_stack.py)
# is an input here: none for the role's own cases, the inventory's for the inventory cases.
STACK = "__mlflow_server_stack"
del NEW[STACK]
SPEC = load(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]

# Realistic values of every variable the computed variables read (the role's defaults are added).
VALUES = {
    "mlflow_server_version": ["3.17.2", "3.7.0", "3.16.9", "3.17", "3.17.0rc1", "4.0.0", 3.7],
    "mlflow_server_pip_constraints": [[], ["numpy<3", "protobuf<6"]],
    "mlflow_server_pip_packages_extra": [[], ["mlflow-oidc-auth==5.1.0"], ["psycopg[binary]==3.2.9", "x==1"]],
    "mlflow_server_install_auth": [False, True],
    "mlflow_server_install_prometheus": [False, True],
    "mlflow_server_install_azure": [False, True],
    "mlflow_server_install_gcs": [False, True],
    "mlflow_server_workers": [4, 1, "2"],
    "mlflow_server_serve_artifacts": [True, False],
    "mlflow_server_artifacts_destination": [
        "/mlflow/data/artifacts", "s3://mlflow/artifacts", "wasbs://mlflow@acct.blob.core.windows.net/artifacts",
        "gs://bucket/mlflow", "",
    ],
    "mlflow_server_default_artifact_root": [
        "", "mlflow-artifacts:/", "s3://mlflow/artifacts", "wasbs://mlflow@acct.blob.core.windows.net/a", "gs://b/a",
    ],
    "mlflow_server_static_prefix": ["", "/mlflow"],
    "mlflow_server_extra_args": [[], ["--expose-prometheus", "/mlflow/data/metrics"], ["--gunicorn-opts", 30]],
    "mlflow_server_public_url": [
        "", "https://mlflow.example.com/mlflow/", "http://mlflow.internal:8080", "https://MLflow.Example.COM:443/",
        "http://10.0.0.5", "https://mlflow.example.com:8443/a/b", "http://mlflow.example.com:80/", "https://[fd00::5]:8443/",
        "http://mlflow.example.com:443/",
    ],
    "mlflow_server_allowed_hosts": [[], ["mlflow.internal", "mlflow.internal:*"], ["MLFLOW.example.com", "mlflow.example.com:443"]],
    "mlflow_server_cors_allowed_origins": [[], ["https://mlflow.example.com", "https://notebooks.example.com"]],
    "mlflow_server_disable_security_middleware": [False, True],
    "mlflow_server_enable_job_execution": [False, True],
    "mlflow_server_disable_telemetry": [True, False],
    "mlflow_server_sqlalchemy_pool_size": [None, 5],
    "mlflow_server_sqlalchemy_max_overflow": [None, 0, 10],
    "mlflow_server_sqlalchemy_pool_recycle": [None, 1800, -1],
    "mlflow_server_s3_endpoint_url": ["", "http://minio:9000", "https://mlflow.example.com:9443"],
    "mlflow_server_spool": [True, False],
    "mlflow_server_s3_ca_cert": ["", PEM],
    "mlflow_server_secret_env": [{}, {"PGPASSWORD": "/run/secrets/db_password"},
                                 {"AWS_SHARED_CREDENTIALS_FILE": "/run/secrets/aws", "pgpassfile": "/run/x"}],
    "mlflow_server_env": [
        {}, {"AWS_DEFAULT_REGION": "eu-west-1"}, {"PGPASSFILE": "/run/secrets/pgpass", "MLFLOW_X": 5, "DEBUG": True},
        {"AZURE_STORAGE_ACCOUNT": "acct", "AWS_PROFILE": "mlflow"}, {"MLFLOW_SERVER_ALLOWED_HOSTS": "x", "TMPDIR": "/tmp"},
    ],
    "mlflow_server_backend_password": ["", "db-pw-1", "ChangeMe-postgres-mlflow", None],
    "mlflow_server_aws_access_key_id": ["", "mlflow"],
    "mlflow_server_aws_secret_access_key": ["", "s3-secret-2"],
    "mlflow_server_azure_storage_connection_string": ["", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k"],
    "mlflow_server_azure_storage_access_key": ["", "azure-key-3"],
    "mlflow_server_backend_store_uri": [
        "sqlite:////mlflow/data/mlflow.db", "sqlite:////mlflow/data/sub/x.db", "sqlite:////srv/other/mlflow.db",
        "postgresql+psycopg2://mlflow@postgres:5432/mlflow", "postgresql+psycopg2://mlflow@10.0.0.5:5432/mlflow?sslmode=require",
        "postgresql://mlflow@db/mlflow", "postgresql+psycopg2://mlflow:pw@db:5432/mlflow", "mysql+pymysql://u@h/db?Password=x",
        "postgresql+psycopg2://mlflow@[fd00::5]:5432/mlflow", "mssql+pyodbc://sa@sql:1433/mlflow?driver=ODBC",
    ],
    # "[::1]" left out on purpose: the old vars doubled its brackets in the wait URL (fixed; see
    # test_wait_host_of_a_bracketed_address)
    "mlflow_server_bind_address": ["127.0.0.1", "0.0.0.0", "", "::", "::1", "fd00::5", "10.0.0.5"],
    "mlflow_server_host_port": [5001, None, "5002"],
    "mlflow_server_data_dir": ["/var/lib/mlflow", "/srv/mlflow-data"],
    "mlflow_server_data_volume": ["", "mlflow-data"],
    "mlflow_server_networks": [[], ["mlflow", "monitoring"]],
    "mlflow_server_mounts": [[], [{"type": "bind", "source": "/etc/pg", "target": "/run/secrets/db", "read_only": True}]],
    "mlflow_server_container_name": ["mlflow-server", "mlflow-local"],
    "mlflow_server_secrets_dir": ["/etc/mlops/mlflow", "/srv/secrets"],
    "mlflow_server_upgrade_backup_dir": ["/var/backups/mlflow", "/srv/backups"],
}
SAMPLES = 100
# Values the argument spec lets through (it checks, it does not convert), rendered the same way anyway.
ODD = [
    {"mlflow_server_serve_artifacts": "false"},  # a non-empty string is true in Jinja too
    {"mlflow_server_install_prometheus": "yes", "mlflow_server_enable_job_execution": "yes"},
    {"mlflow_server_disable_telemetry": 0, "mlflow_server_spool": 0, "mlflow_server_install_auth": 1},
    {"mlflow_server_sqlalchemy_pool_size": "5", "mlflow_server_sqlalchemy_pool_recycle": 0},
    {"mlflow_server_version": "3.7", "mlflow_server_psycopg2_version": 2.9, "mlflow_server_boto3_version": 1},
    {"mlflow_server_aws_access_key_id": None, "mlflow_server_aws_secret_access_key": 0,
     "mlflow_server_s3_endpoint_url": "http://minio:9000"},
    {"mlflow_server_backend_password": 12345678, "mlflow_server_backend_store_uri": "postgresql://u@h/d"},
    {"mlflow_server_allowed_hosts": ["A.example.com", "a.example.com", 8080], "mlflow_server_public_url": "https://a.EXAMPLE.com"},
    {"mlflow_server_secret_env": {"b_token": "/run/b", "A_KEY": "/run/a", "C": "/run/c"}},
    {"mlflow_server_backend_store_uri": "sqlite:////mlflow/data/mlflow.db", "mlflow_server_data_volume": "vol"},
    {"mlflow_server_backend_store_uri": "sqlite:///relative.db"},
    {"mlflow_server_backend_store_uri": "postgresql+psycopg2://mlflow@db"},
    {"mlflow_server_public_url": "https://mlflow.example.com:0/"},
]
# Values that made the old file fail: the new one fails on the same variable.
FAILING = [
    ({"mlflow_server_allowed_hosts": "mlflow.internal"}, "_mlflow_server_env"),
    ({"mlflow_server_cors_allowed_origins": "https://x"}, "_mlflow_server_cors_allowed_origins"),
    ({"mlflow_server_public_url": "https://mlflow.example.com:99999/"}, "_mlflow_server_allowed_hosts"),
    ({"mlflow_server_public_url": "https://mlflow.example.com:port/"}, "_mlflow_server_env"),
    ({"mlflow_server_public_url": None}, "_mlflow_server_env"),
    ({"mlflow_server_s3_endpoint_url": None}, "_mlflow_server_env"),
    ({"mlflow_server_s3_ca_cert": None}, "_mlflow_server_env"),
    ({"mlflow_server_static_prefix": None}, "_mlflow_server_command"),
    ({"mlflow_server_pip_packages_extra": "x==1"}, "_mlflow_server_requirements"),
    ({"mlflow_server_pip_constraints": "x<1"}, "_mlflow_server_constraints"),
    ({"mlflow_server_version": ""}, "_mlflow_server_constraints"),
    ({"mlflow_server_version": "3.x.1"}, "_mlflow_server_constraints"),
    ({"mlflow_server_env": ["A=1"]}, "_mlflow_server_env"),
    ({"mlflow_server_secret_env": ["PGPASSWORD"]}, "_mlflow_server_env"),
    ({"mlflow_server_bind_address": None}, "_mlflow_server_wait_url"),
    ({"mlflow_server_aws_secret_access_key": 12345678}, "_mlflow_server_required_secrets"),
    ({"mlflow_server_azure_storage_access_key": 42, "mlflow_server_default_artifact_root": "wasbs://c@a.blob/x",
      "mlflow_server_serve_artifacts": False}, "_mlflow_server_missing_secrets"),
    ({"mlflow_server_data_volume": None}, "_mlflow_server_job_mounts"),
]
SECRET_VALUES = ("12345678", "42")
# Values the old file turned into something broken, refused now (the argument spec lets a string
# through as a list): the old command had every character of the string as an argument.
REFUSED_NOW = [({"mlflow_server_extra_args": "--expose-prometheus"}, "_mlflow_server_command", "extra_args must be a list")]


# Options added after the move, which the old file did not have (their own tests: test_mlflow_server.py).
NEWER_OPTIONS = {"mlflow_server_metrics", "mlflow_server_auth", "mlflow_server_auth_default_permission"}


def _spec_cases():
    """Every bool of the argument spec flipped, every choice taken, one at a time."""
    for name, option in sorted(SPEC.items()):
        if name in NEWER_OPTIONS:
            continue
        values = option.get("choices") or ([True, False] if option.get("type") == "bool" else [])
        for value in values:
            if value != DEFAULTS.get(name):
                yield "spec:%s=%s" % (name, value), {name: value}


def _sampled_cases():
    """A seeded sample of combinations: the first ones take every value of VALUES in turn."""
    rng = random.Random(17)
    cover = max(len(values) for values in VALUES.values())
    for i in range(SAMPLES):
        yield "sample:%d" % i, {name: values[i % len(values)] if i < cover else rng.choice(values)
                                for name, values in sorted(VALUES.items())}


CASES = ([("defaults", {})] + list(_spec_cases()) + list(_sampled_cases())
         + [("odd:%d" % i, case) for i, case in enumerate(ODD)])


def _without_lookups(inventory, manager):
    """The Molecule inventories' lookups as a run without their environment gives them: the
    collection loader that resolves ansible.builtin.* lookups is not installed in unit tests."""
    for host in inventory.get_hosts():
        for name, value in manager.get_vars(host=host, include_hostvars=False).items():
            if isinstance(value, str) and "lookup(" in value:
                if "ansible.builtin.file" in value:
                    value = PEM
                else:
                    value = trust_as_template(ENV_LOOKUP.sub("''", value))
                    assert "lookup(" not in value, name
                manager.set_host_variable(host.name, name, value)


def _inventory_vars(source):
    """{host: variables} of the MLflow servers of an inventory, as a play would see them."""
    inventory = InventoryManager(LOADER, sources=[str(REPO / source)])
    manager = VariableManager(LOADER, inventory=inventory)
    manager._hostvars = HostVars(inventory=inventory, variable_manager=manager, loader=LOADER)
    _without_lookups(inventory, manager)
    groups = inventory.get_groups_dict()
    hosts = groups.get("mlflow_servers") or groups.get("mlflow_local") or []
    return {host: (manager.get_vars(host=inventory.get_host(host), include_hostvars=True), manager._hostvars, groups)
            for host in hosts}


class _Overlay(Mapping):
    """HostVars with the extra vars on top of one host's variables (as -e gives them)."""

    def __init__(self, hostvars, host, extra):
        self.hostvars, self.host, self.extra = hostvars, host, extra

    def __getitem__(self, name):
        found = self.hostvars[name]
        return ChainMap(self.extra, found) if name == self.host else found

    def __iter__(self):
        return iter(self.hostvars)

    def __len__(self):
        return len(self.hostvars)


def _inventory_cases():
    for source in INVENTORIES:
        for host, (hostvars, all_hostvars, groups) in _inventory_vars(source).items():
            for variant, extra in INVENTORY_VARIANTS.items():
                wiring = stack(_Overlay(all_hostvars, host, dict(INVENTORY_CONTEXT, **extra)), groups, host)
                yield "%s:%s:%s" % (source, host, variant), (dict(hostvars, **{STACK: wiring}), extra)


INVENTORY_CASES = list(_inventory_cases())


def _render(role_vars, inputs, base=None, returned=None, names=None, lazy=False):
    """Every variable of the vars file (or `names`), rendered over the role's defaults, the base
    (an inventory's variables), the vars file and the inputs (extra vars). Unless lazy, each one is
    rendered once, in the file's order, and its value handed to the later ones (the same values:
    it only saves rendering the chains again); lazy renders each from scratch as Ansible does."""
    variables = dict(DEFAULTS, **{STACK: {}})
    variables.update(base or {})
    variables.update(role_vars)
    variables.update(inputs)
    # the plugins the files use
    templar = filter_templar(variables, FilterModule().filters(), returned, tests=PlaceholderTests().tests(),
                             other_filters={"community.general.dict_kv": dict_kv})
    rendered = {}
    for name in names or role_vars:
        rendered[name] = render(templar, name)
        if not lazy:
            variables[name] = rendered[name]
    return rendered


def _plain(value):
    """Only what YAML and JSON have: no tuples or sets that Ansible would convert."""
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, bool, int, float))


def _assert_same(old, new, returned=None):
    assert set(old) == set(new) - ADDED
    for name in old:
        value = new[name]
        if name in GAINED:
            value = [entry for entry in value if entry["name"] not in GAINED[name]]
        assert typed(value) == typed(old[name]), name
    for name, results in (returned or {}).items():
        # the filters' own values too, before Ansible saw them
        assert all(_plain(result) for result in results), name


def _folded(value):
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, Mapping):
        return {k: _folded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_folded(v) for v in value]
    return value


def test_the_fixture_is_the_old_file_and_every_name_is_kept():
    assert "mlops.mlflow.mlflow_server" not in BEFORE.read_text()
    assert set(NEW) - set(OLD) == ADDED
    assert set(OLD) <= set(NEW)
    for name in OLD:
        if name in UNCHANGED:  # the same text, but for line breaks
            assert typed(_folded(NEW[name])) == typed(_folded(OLD[name])), name
        elif name not in NEWER_TEXT:
            assert "mlops.mlflow.mlflow_server_" in str(NEW[name]) or "{{ _mlflow_server_" in str(NEW[name]), name


def test_the_cases_cover_every_value():
    assert len(CASES) > 120 and len(INVENTORY_CASES) >= 7 * len(INVENTORY_VARIANTS)
    for name, values in VALUES.items():
        seen = {repr(case[name]) for label, case in CASES if label.startswith("sample:")}
        assert seen == {repr(v) for v in values}, name
    assert {label.split(":")[0] for label, _ in INVENTORY_CASES} == set(INVENTORIES)


@pytest.mark.parametrize("inputs", [case for _, case in CASES], ids=[label for label, _ in CASES])
def test_new_vars_render_as_the_old_ones(inputs):
    returned = {}
    _assert_same(_render(OLD, inputs), _render(NEW, inputs, returned=returned), returned)
    assert returned, "the new file called no filter"


@pytest.mark.parametrize("hostvars, extra", [case for _, case in INVENTORY_CASES], ids=[label for label, _ in INVENTORY_CASES])
def test_new_vars_render_as_the_old_ones_over_the_inventories(hostvars, extra):
    inputs = dict(INVENTORY_CONTEXT, **extra)
    lazy = not extra  # the shipped settings as Ansible renders them, the variants faster
    returned = {}
    old = _render(OLD, inputs, base=hostvars, lazy=lazy)
    _assert_same(old, _render(NEW, inputs, base=hostvars, returned=returned, lazy=lazy), returned)


@pytest.mark.parametrize("inputs, name", FAILING, ids=[",".join(inputs) + ">" + name for inputs, name in FAILING])
def test_values_that_failed_still_fail(inputs, name):
    with pytest.raises(Exception):
        _render(OLD, inputs, names=[name], lazy=True)
    with pytest.raises(Exception) as new:
        _render(NEW, inputs, names=[name], lazy=True)
    # failed in one of the filters, with AnsibleFilterError: says which, names no value
    assert re.search(r"failed: mlflow_server_[a-z_]+: ", str(new.value)), str(new.value)
    assert isinstance(_filter_error(new.value), AnsibleFilterError)
    assert not any(secret in str(new.value) for secret in SECRET_VALUES)


def _filter_error(exc):
    """The error the filter raised, under the one the templating wrapped it in."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


@pytest.mark.parametrize("inputs, name, message", REFUSED_NOW)
def test_values_that_rendered_broken_are_refused(inputs, name, message):
    assert _render(OLD, inputs, names=[name], lazy=True)[name][-3:] == ["e", "u", "s"]
    with pytest.raises(Exception) as new:
        _render(NEW, inputs, names=[name], lazy=True)
    assert message in str(_filter_error(new.value))


def test_the_rendered_values_have_the_consumers_types():
    """What community.docker.docker_container and the templates get: lists of strings, dicts of strings."""
    inputs = {"mlflow_server_backend_store_uri": "postgresql+psycopg2://mlflow@postgres:5432/mlflow",
              "mlflow_server_backend_password": "pw", "mlflow_server_sqlalchemy_pool_size": 5,
              "mlflow_server_public_url": "https://mlflow.example.com/mlflow/"}
    rendered = _render(NEW, inputs)
    for name in ("_mlflow_server_command", "_mlflow_server_requirements", "_mlflow_server_constraints"):
        assert isinstance(rendered[name], list) and all(isinstance(arg, str) for arg in rendered[name]), name
    for name in ("_mlflow_server_env", "_mlflow_server_job_env"):
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in rendered[name].items()), name
    assert rendered["_mlflow_server_env"]["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"] == "5"
    assert isinstance(rendered["_mlflow_server_job_no_log"], bool)
    assert isinstance(rendered["_mlflow_server_public_port"], int)


def test_lazy_and_handed_on_rendering_agree():
    """The shortcut of the grid (each variable rendered once, handed on) renders what Ansible does."""
    for _, inputs in CASES[:: len(CASES) // 6]:
        assert {k: typed(v) for k, v in _render(NEW, inputs).items()} == {
            k: typed(v) for k, v in _render(NEW, inputs, lazy=True).items()}


def test_combinations_of_the_public_url_and_the_allowed_lists():
    """Every public URL with every list of allowed hosts and origins, the rest default."""
    names = ["_mlflow_server_allowed_hosts", "_mlflow_server_allowed_hosts_env", "_mlflow_server_cors_allowed_origins",
             "_mlflow_server_public_origin", "_mlflow_server_public_port", "_mlflow_server_env_security"]
    for url, hosts, origins in itertools.product(VALUES["mlflow_server_public_url"], VALUES["mlflow_server_allowed_hosts"],
                                                 VALUES["mlflow_server_cors_allowed_origins"]):
        inputs = {"mlflow_server_public_url": url, "mlflow_server_allowed_hosts": hosts,
                  "mlflow_server_cors_allowed_origins": origins}
        old, new = _render(OLD, inputs, names=names, lazy=True), _render(NEW, inputs, names=names, lazy=True)
        assert {k: typed(v) for k, v in old.items()} == {k: typed(v) for k, v in new.items()}, inputs
