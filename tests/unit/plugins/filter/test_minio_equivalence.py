# -*- coding: utf-8 -*-
"""roles/minio/vars/main.yml renders exactly what it rendered before its Jinja moved into the
mlops.mlflow.minio_* filters (plugins/filter/minio.py).

fixtures/minio_vars_before.yml is the vars file as it was (the engines, the published ports, the
admin endpoint and the SeaweedFS identities computed in Jinja). Both files are rendered with
ansible-core's own Templar over a grid of role inputs and the four computed variables compared,
types and order included: a port that turns from '9000' into 9000, a command argument that moves,
a key that is added, dropped or reordered fails the test. Every other variable must be unchanged.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ansible_collections.mlops.mlflow.plugins.filter.minio import FilterModule
from ansible_collections.mlops.mlflow.tests.unit.plugins.filter.equivalence import filter_templar, load, render, typed

_typed = typed  # test_sqlite_migration.py imports the comparison from here

REPO = Path(__file__).resolve().parents[4]
ROLE = REPO / "roles" / "minio"
BEFORE = Path(__file__).resolve().parent / "fixtures" / "minio_vars_before.yml"
# what the old file had and the new one does not: the table the filter replaces
DROPPED = {"_minio_engines"}
# the variables the filters compute now (every other one is the same text as before)
COMPUTED = {
    "_minio_engine": "minio_container",
    "_minio_published_ports": "minio_published_ports",
    "_minio_admin_endpoint": "minio_admin_endpoint",
    "_minio_seaweedfs_identities": "minio_seaweedfs_identities",
}
SECRETS = {"minio_root_password": "root-Secret/1", "minio_mlflow_secret_key": "mlflow-Secret+2"}
# values other than the role's defaults for everything else the computed variables read
OTHER = {
    "minio_api_port": 19000,
    "minio_console_port": 19001,
    "minio_image": "registry.example.com/minio:custom",
    "minio_seaweedfs_image": "registry.example.com/seaweedfs:custom",
    "minio_secrets_dir": "/srv/secrets/s3",
    "minio_seaweedfs_volume_size_limit_mb": 256,
    "minio_root_user": "admin-2",
    "minio_mlflow_bucket": "artifacts-prod",
    "minio_data_dir": "/srv/s3-data",
}

DEFAULTS = load(ROLE / "defaults" / "main.yml")


def _grid():
    engines = ["seaweedfs", "minio"]
    console = [True, False]
    binds = ["127.0.0.1", "0.0.0.0", "::", "10.20.30.40"]
    endpoints = ["", "https://s3.example.com:9443"]
    access_keys = ["mlflow", ""]
    extra_args = [[], ["-s3.allowEmptyFolder=false", "-volume.readMode=proxy"]]
    others = [{}, OTHER]
    for engine, on, bind, endpoint, key, extra, other in itertools.product(
        engines, console, binds, endpoints, access_keys, extra_args, others
    ):
        yield {
            "minio_engine": engine,
            "minio_console_enabled": on,
            "minio_bind_address": bind,
            "minio_admin_endpoint": endpoint,
            "minio_mlflow_access_key": key,
            "minio_seaweedfs_extra_args": extra,
            **other,
        }


GRID = list(_grid())
# Values the argument spec would convert or refuse, rendered the same way anyway.
ODD = [
    {"minio_engine": "minio", "minio_api_port": "9100", "minio_console_port": "9101"},  # ports as strings
    {"minio_engine": "seaweedfs", "minio_seaweedfs_volume_size_limit_mb": "2048"},
    {"minio_engine": "minio", "minio_console_enabled": "false"},  # a non-empty string is true in Jinja too
    {"minio_engine": "minio", "minio_console_enabled": 0},
    {"minio_engine": "minio", "minio_bind_address": "", "minio_root_user": "root"},
    {"minio_engine": "seaweedfs", "minio_bind_address": "fd00::5", "minio_seaweedfs_extra_args": ["-a", "-b", "-a"]},
]


def _render(vars_file, inputs, returned=None):
    """The computed variables rendered over the role's defaults, the vars file, secrets and the
    inputs; `returned` receives what each filter call returned, before Ansible saw it."""
    variables = dict(DEFAULTS)
    variables.update(load(vars_file))
    variables["__minio_stack"] = {}  # not in the production stage (plugins/filter/stack.py)
    variables.update(SECRETS)
    variables.update(inputs)
    templar = filter_templar(variables, FilterModule().filters(), returned)
    return {name: render(templar, name) for name in COMPUTED}


def test_the_fixture_is_the_old_file_and_only_the_computed_values_changed():
    before = load(BEFORE)
    after = load(ROLE / "vars" / "main.yml")
    assert "_minio_engines" in before and "mlops.mlflow" not in BEFORE.read_text()
    assert set(before) - set(after) == DROPPED
    assert set(after) == set(before) - DROPPED | {"__minio_stack"}  # the wiring, an input (test_stack.py)
    for name in after:
        if name == "__minio_stack":
            assert "mlops.mlflow.stack" in after[name]
        elif name in COMPUTED:
            assert "mlops.mlflow.minio_" in after[name], name
        else:
            assert typed(after[name]) == typed(before[name]), name


def test_the_grid_covers_every_input():
    assert len(GRID) == 256
    for key in ("minio_engine", "minio_console_enabled", "minio_bind_address", "minio_admin_endpoint",
                "minio_mlflow_access_key", "minio_seaweedfs_extra_args", "minio_api_port"):
        assert len({repr(case.get(key, DEFAULTS.get(key))) for case in GRID}) >= 2, key


@pytest.mark.parametrize("inputs", GRID + ODD, ids=lambda case: ",".join("%s=%s" % (k[6:], v) for k, v in case.items())[:150])
def test_new_vars_render_as_the_old_ones(inputs):
    old = _render(BEFORE, inputs)
    returned = {}
    new = _render(ROLE / "vars" / "main.yml", inputs, returned)
    for name, filter_name in COMPUTED.items():
        assert typed(new[name]) == typed(old[name]), name
        # the filter's own value too, of its last call (Ansible would turn a tuple into a list, for example)
        assert typed(returned[filter_name][-1]) == typed(old[name]), filter_name


def test_the_rendered_values_have_the_consumers_types():
    """What community.docker.docker_container gets: lists of strings, a dict of strings."""
    for inputs in ({"minio_engine": "minio"}, {"minio_engine": "seaweedfs", "minio_seaweedfs_extra_args": ["-x"]}):
        rendered = _render(ROLE / "vars" / "main.yml", inputs)
        engine, ports = rendered["_minio_engine"], rendered["_minio_published_ports"]
        assert list(engine) == ["image", "command", "env", "secret_mounts", "healthcheck"]
        for key in ("command", "healthcheck"):
            assert isinstance(engine[key], list) and all(isinstance(arg, str) for arg in engine[key])
        assert all(isinstance(v, str) for v in engine["env"].values())
        assert isinstance(ports, list) and all(isinstance(p, str) for p in ports)
        assert isinstance(rendered["_minio_admin_endpoint"], str)
