# -*- coding: utf-8 -*-
"""Unit tests of the sqlite_migration role's filter mlops.mlflow.sqlite_migration_target
(plugins/filter/sqlite_migration.py), and of the preflight task that calls it.

The inputs are community.docker.docker_container_info loop results as the role registers them
(`item`, `exists`, `container`: docker inspect's data, null for a container that does not exist).
OLD_TASK is the task "Pick the PostgreSQL address and the MLflow image" as it was, in Jinja; the
equivalence tests render it and the task now in roles/sqlite_migration/tasks/preflight.yml with
ansible-core's Templar over the same results and variables and require the same values and types,
or both to fail - the new one with the filter's error, naming the container or network and none
of the values the containers hold.
"""
from __future__ import annotations

import copy
import functools
import itertools
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.mlops.mlflow.plugins.filter.sqlite_migration import FilterModule, sqlite_migration_target
# one definition of "the same value, type and order" for the equivalence tests (this folder is on
# sys.path under pytest's default import mode)
from test_minio_equivalence import _typed

REPO = Path(__file__).resolve().parents[4]
ROLE = REPO / "roles" / "sqlite_migration"
TASK_NAME = "Pick the PostgreSQL address and the MLflow image"
OLD_TASK = """
- name: Pick the PostgreSQL address and the MLflow image
  ansible.builtin.set_fact:
    __sqlite_migration_pg_address: >-
      {{ sqlite_migration_pg_host if sqlite_migration_pg_host | length > 0
         else (_networks[sqlite_migration_pg_network].IPAddress if sqlite_migration_pg_network | length > 0
               else (_networks.values() | map(attribute='IPAddress') | select | first | default(''))) }}
    __sqlite_migration_image: >-
      {{ sqlite_migration_image if sqlite_migration_image | length > 0
         else _containers[sqlite_migration_target_containers[0]].Config.Image }}
  vars:
    _containers: >-
      {{ dict(__sqlite_migration_containers.results | map(attribute='item')
              | zip(__sqlite_migration_containers.results | map(attribute='container'))) }}
    _networks: "{{ _containers[sqlite_migration_pg_container].NetworkSettings.Networks }}"
  when: __sqlite_migration_missing | length == 0
"""
FACTS = ("__sqlite_migration_pg_address", "__sqlite_migration_image")
# Secrets in the containers' environment (docker inspect's Config.Env): no error may show them.
PG_SECRET = "pg-Secret-in-env/1"
MLFLOW_SECRET = "mlflow-Secret-in-env/2"
SECRETS = (PG_SECRET, MLFLOW_SECRET)

LOADER = DataLoader()

# ---------------------------------------------------------------- docker_container_info results


def _network(address, network_id="707cf10e224c04b3cba5a6dbda978ae2f00d2fc9ab10bab45a57da5c199f2a98"):
    """One entry of NetworkSettings.Networks, as Docker 20.10 to 28 inspect it."""
    return {
        "IPAMConfig": None, "Links": None, "Aliases": ["b85edb68267a"], "MacAddress": "02:42:c0:a8:20:02" if address else "",
        "DriverOpts": None, "NetworkID": network_id, "EndpointID": "ca1b9bce9bfe" if address else "",
        "Gateway": address.rsplit(".", 1)[0] + ".1" if address else "", "IPAddress": address,
        "IPPrefixLen": 16 if address else 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }


def container(name, image, networks, env=(), running=True, network_mode=None):
    """docker inspect's data of a container (the keys the role reads and their neighbours).
    `networks`: network name -> IPv4 address ('' for none, e.g. when stopped)."""
    return {
        "Id": "8e47bf643eb9" + "0" * 52,
        "Created": "2025-06-01T08:00:00.000000000Z",
        "Path": "docker-entrypoint.sh",
        "State": {"Status": "running" if running else "exited", "Running": running, "ExitCode": 0 if running else 137},
        "Image": "sha256:" + "ab" * 32,
        "Name": "/" + name,
        "HostConfig": {"NetworkMode": network_mode or next(iter(networks), "default"), "RestartPolicy": {"Name": "unless-stopped"}},
        "Config": {"Hostname": "8e47bf643eb9", "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", *env], "Image": image,
                   "Labels": {}, "Cmd": None, "Entrypoint": None},
        "NetworkSettings": {
            "Bridge": "", "SandboxID": "560b19576285", "Ports": {}, "IPAddress": "", "Gateway": "", "MacAddress": "",
            "Networks": {net: _network(address) for net, address in networks.items()},
        },
    }


def result(name, info):
    """One loop result of community.docker.docker_container_info (info None: no such container)."""
    return {
        "changed": False, "exists": info is not None, "container": info, "failed": False,
        "invocation": {"module_args": {"name": name, "docker_host": "unix:///var/run/docker.sock", "tls": False}},
        "item": name, "ansible_loop_var": "item",
    }


def skipped(name):
    """A loop result of a skipped item (no Docker engine answered): no `container`."""
    return {"changed": False, "skipped": True, "skip_reason": "Conditional result was False",
            "false_condition": "__sqlite_migration_docker.host_info is defined", "item": name, "ansible_loop_var": "item"}


PG_IMAGE = "mlops/postgres:18"
PG_ENV = ("POSTGRES_PASSWORD=" + PG_SECRET, "PGDATA=/var/lib/postgresql/data")
MLFLOW_ENV = ("MLFLOW_BACKEND_STORE_PASSWORD=" + MLFLOW_SECRET,)
# The PostgreSQL container's networks in the shapes Docker gives: on one network, on two, on an
# IPv6-only network first (no IPv4 there), stopped (no addresses), network_mode host, and
# network_mode container:... (no networks of its own).
PG_SHAPES = {
    "one-network": container("postgres", PG_IMAGE, {"mlops": "172.18.0.2"}, PG_ENV),
    "two-networks": container("postgres", PG_IMAGE, {"mlops-backend": "10.89.0.5", "mlops": "172.18.0.2"}, PG_ENV),
    "ipv6-only-first": container("postgres", PG_IMAGE, {"mlops-v6": "", "mlops": "172.18.0.2"}, PG_ENV),
    "stopped": container("postgres", PG_IMAGE, {"mlops": ""}, PG_ENV, running=False),
    "host-network": container("postgres", PG_IMAGE, {"host": ""}, PG_ENV),
    "container-network": container("postgres", PG_IMAGE, {}, PG_ENV, network_mode="container:8e47bf643eb9"),
}
MLFLOW = container("mlflow-server", "mlops/mlflow:3.7.0", {"mlops": "172.18.0.3"}, MLFLOW_ENV)
MLFLOW_B = container("mlflow-server-b", "mlops/mlflow:3.6.0", {"mlops": "172.18.0.4"}, MLFLOW_ENV)
LOCAL = container("mlflow-local", "mlops/mlflow:2.22.0", {"bridge": "172.17.0.2"})


def results(pg="one-network", targets=("mlflow-server",), sources=(), missing=()):
    """The role's loop results: [pg container] + targets + sources; the names in `missing` do not exist."""
    known = {"postgres": PG_SHAPES.get(pg), "mlflow-server": MLFLOW, "mlflow-server-b": MLFLOW_B, "mlflow-local": LOCAL}
    return [result(name, None if name in missing else copy.deepcopy(known[name]))
            for name in ["postgres", *targets, *sources]]


def target(res, **kwargs):
    kwargs.setdefault("pg_container", "postgres")
    kwargs.setdefault("target_containers", ["mlflow-server"])
    return sqlite_migration_target(res, **kwargs)


def _no_secret(message):
    assert not any(secret in message for secret in SECRETS), message


# ---------------------------------------------------------------- the filter


def test_filter_names():
    assert FilterModule().filters() == {"sqlite_migration_target": sqlite_migration_target}


def test_defaults_take_the_first_address_and_the_first_target_image():
    assert target(results()) == {"pg_address": "172.18.0.2", "image": "mlops/mlflow:3.7.0"}


def test_given_host_and_image_are_passed_through_without_reading_the_containers():
    # not even the containers' existence matters then, as with the lazily rendered Jinja
    res = results(missing=("postgres", "mlflow-server"))
    assert target(res, pg_host="127.0.0.1", image="mlops/mlflow:custom") == {
        "pg_address": "127.0.0.1", "image": "mlops/mlflow:custom"}
    assert target([], target_containers=[], pg_host="db.internal", image="x") == {"pg_address": "db.internal", "image": "x"}


@pytest.mark.parametrize("network, address", [("mlops", "172.18.0.2"), ("mlops-backend", "10.89.0.5")])
def test_the_address_on_the_given_network(network, address):
    assert target(results("two-networks"), pg_network=network)["pg_address"] == address


@pytest.mark.parametrize("shape, address", [
    ("one-network", "172.18.0.2"),
    ("two-networks", "10.89.0.5"),  # the first network in docker inspect's order
    ("ipv6-only-first", "172.18.0.2"),  # the first NON-EMPTY address
    ("stopped", ""),
    ("host-network", ""),
    ("container-network", ""),
])
def test_the_first_non_empty_address_or_empty(shape, address):
    assert target(results(shape))["pg_address"] == address


def test_an_empty_address_on_the_given_network_is_returned_for_the_assert():
    # a stopped container is still on its networks, without an address: the preflight's assert
    # "Assert that PostgreSQL has an address this host can reach" refuses it, as before
    assert target(results("stopped"), pg_network="mlops")["pg_address"] == ""


@pytest.mark.parametrize("res", [
    results(missing=("postgres",)),
    [skipped("postgres"), skipped("mlflow-server")],
    results()[1:],
    [result("postgres", {"NetworkSettings": None, "Config": {"Image": "x"}})],
], ids=["missing", "skipped", "not-in-results", "no-networks"])
def test_without_a_network_a_postgres_container_not_there_has_no_address(res):
    # as the Jinja's `| default('')`: the preflight's assert reports the empty address
    assert target(res, image="mlops/mlflow:custom")["pg_address"] == ""


def test_the_image_of_the_first_target_container_as_created():
    res = results(targets=("mlflow-server-b", "mlflow-server"), sources=("mlflow-local",))
    assert target(res, target_containers=["mlflow-server-b", "mlflow-server"])["image"] == "mlops/mlflow:3.6.0"


def test_results_are_read_in_order_the_last_of_a_name_wins():
    # dict(zip(...)) in the Jinja kept the last result of a name too
    res = results() + [result("postgres", PG_SHAPES["two-networks"])]
    assert target(res)["pg_address"] == "10.89.0.5"


def test_returns_a_new_plain_dictionary():
    res = results()
    first, second = target(res), target(res)
    assert first == second and first is not second
    assert list(first) == ["pg_address", "image"] and all(type(v) is str for v in first.values())


@pytest.mark.parametrize("kwargs, res, message", [
    ({"pg_network": "mlops-frontend"}, results("two-networks"),
     "the container postgres is not on the network mlops-frontend (pg_network); its networks: mlops-backend, mlops"),
    ({"pg_network": "mlops"}, results("container-network"),
     "the container postgres is not on the network mlops (pg_network); its networks: none"),
    ({"pg_network": "mlops"}, results(missing=("postgres",)), "the container postgres (pg_container) does not exist"),
    ({"pg_network": "mlops", "pg_container": "db"}, results(),
     "the container db (pg_container) was not read by docker_container_info"),
    ({"pg_network": "mlops"}, [skipped("postgres"), skipped("mlflow-server")],
     "the container postgres (pg_container) was not read by docker_container_info"),
    ({"pg_host": "127.0.0.1"}, results(missing=("mlflow-server",)),
     "the container mlflow-server (the first of target_containers) does not exist"),
    ({"pg_host": "127.0.0.1", "target_containers": ["mlflow-server-b"]}, results(),
     "the container mlflow-server-b (the first of target_containers) was not read by docker_container_info"),
    ({"pg_host": "127.0.0.1", "target_containers": []}, results(),
     "image is empty and target_containers names no container to take the MLflow image from"),
])
def test_missing_containers_and_networks_are_named(kwargs, res, message):
    with pytest.raises(AnsibleFilterError) as error:
        target(res, **kwargs)
    assert str(error.value) == "sqlite_migration_target: " + message
    _no_secret(str(error.value))


def _broken(section, key):
    res = results()
    del res[0 if section == "NetworkSettings" else 1]["container"][section][key]
    return res


@pytest.mark.parametrize("kwargs, res, message", [
    ({}, "not a list", "the input must be the list of docker_container_info loop results (.results), got str"),
    ({}, [{"container": None}], "got an item that is no loop result"),
    ({"pg_network": "mlops"}, [result("postgres", "running")],
     "the docker_container_info result of the container postgres (pg_container) is no dictionary"),
    ({"pg_network": "mlops"}, _broken("NetworkSettings", "Networks"), "the container postgres has no NetworkSettings.Networks"),
    ({"pg_host": "h"}, _broken("Config", "Image"), "the container mlflow-server has no Config.Image"),
    ({"pg_network": "mlops"}, [result("postgres", {"NetworkSettings": {"Networks": {"mlops": {}}}})],
     "the container postgres has no IPAddress on the network mlops"),
    ({"pg_host": None}, results(), "pg_host must be a string, got NoneType"),
    ({"pg_network": 5}, results(), "pg_network must be a string, got int"),
    ({"image": False}, results(), "image must be a string, got bool"),
    ({"target_containers": "mlflow-server"}, results(), "target_containers must be a list, got str"),
    ({"pg_container": ["postgres"]}, results(), "the name of pg_container must be a string, got list"),
])
def test_inputs_of_the_wrong_shape_are_refused(kwargs, res, message):
    with pytest.raises(AnsibleFilterError, match="^sqlite_migration_target: ") as error:
        target(res, **kwargs)
    assert message in str(error.value)
    _no_secret(str(error.value))


# ---------------------------------------------------------------- the task, old and new


def _load_task(text=None):
    """The task by its name, from OLD_TASK or from the role's preflight, its strings trusted."""
    if text is None:
        tasks = LOADER.load_from_file(str(ROLE / "tasks" / "preflight.yml"), trusted_as_template=True)
    else:
        tasks = LOADER.load(trust_as_template(text))
    found = [task for task in tasks if task.get("name") == TASK_NAME]
    assert len(found) == 1, TASK_NAME
    return found[0]


OLD = _load_task(OLD_TASK)
NEW = _load_task()
DEFAULTS = LOADER.load_from_file(str(ROLE / "defaults" / "main.yml"), trusted_as_template=True)


def _recording(func, returned):
    @functools.wraps(func)
    def call(*args, **kwargs):
        returned.append(value := func(*args, **kwargs))
        return value

    return call


def _render(task, res, inputs, returned=None):
    """The task's facts as set_fact sets them: rendered over the role's defaults, the inputs (as
    extra vars), the registered loop results and the task's vars (rendered when used)."""
    variables = dict(DEFAULTS)
    variables.update(inputs)
    variables["__sqlite_migration_containers"] = {"changed": False, "msg": "All items completed", "results": res}
    variables["__sqlite_migration_missing"] = []
    variables.update(task["vars"])
    templar = Templar(LOADER, variables=variables)
    # The collection's filter, as Ansible loads a collection's filter plugins; Templar.environment
    # is the deprecated public alias.
    filters = templar._engine.environment.filters
    for name, func in FilterModule().filters().items():
        filters["mlops.mlflow." + name] = _recording(func, [] if returned is None else returned)
    return {fact: templar.template(task["ansible.builtin.set_fact"][fact]) for fact in FACTS}


def test_the_old_task_and_the_new_one_differ_only_in_how_they_compute():
    assert "mlops.mlflow" not in OLD_TASK
    assert set(NEW) == set(OLD) == {"name", "ansible.builtin.set_fact", "vars", "when"}
    assert NEW["when"] == OLD["when"]
    assert list(NEW["ansible.builtin.set_fact"]) == list(FACTS) == list(OLD["ansible.builtin.set_fact"])
    assert list(NEW["vars"]) == ["_target"] and "mlops.mlflow.sqlite_migration_target(" in NEW["vars"]["_target"]


def _pg_results(shape):
    """The loop results with the PostgreSQL container in a shape of PG_SHAPES, missing or unread."""
    if shape == "missing":
        return results(missing=("postgres",))
    if shape == "unread":
        return [skipped("postgres"), skipped("mlflow-server")]
    return results(shape)


def _address_cases():
    """The PostgreSQL address: every container shape, missing and unread containers, each way of
    naming the address (the image given)."""
    shapes = [*PG_SHAPES, "missing", "unread"]
    for shape, host, network in itertools.product(shapes, ["", "db.internal"], ["", "mlops", "mlops-backend", "absent"]):
        res = _pg_results(shape)
        inputs = {"sqlite_migration_pg_host": host, "sqlite_migration_pg_network": network,
                  "sqlite_migration_image": "mlops/mlflow:custom"}
        yield "address:%s,host=%s,network=%s" % (shape, host, network), res, inputs


def _image_cases():
    """The image: given or not, one, two or no target containers, the first one there, missing or
    unread, with and without source containers (the address given)."""
    target_lists = [["mlflow-server"], ["mlflow-server-b", "mlflow-server"], []]
    for image, targets, state, sources in itertools.product(
        ["", "mlops/mlflow:custom"], target_lists, ["there", "missing", "unread"], [[], ["mlflow-local"]]
    ):
        res = results(targets=targets, sources=sources, missing=targets[:1] if state == "missing" else ())
        if state == "unread" and targets:
            res = [r for r in res if r["item"] != targets[0]]
        inputs = {"sqlite_migration_pg_host": "127.0.0.1", "sqlite_migration_image": image,
                  "sqlite_migration_target_containers": targets, "sqlite_migration_source_containers": sources}
        yield "image:%s,targets=%s,%s,sources=%s" % (image, ",".join(targets), state, ",".join(sources)), res, inputs


# both computed at once, over the role's defaults (sqlite_migration_pg_host "" and so on)
DEFAULT_CASES = [("defaults:%s" % shape, results(shape), {}) for shape in PG_SHAPES]
CASES = [*_address_cases(), *_image_cases(), *DEFAULT_CASES]


def _filter_error(exc):
    """The error the filter raised, under the one the templating wrapped it in."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


@pytest.mark.parametrize("res, inputs", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_the_new_task_sets_what_the_old_one_set(res, inputs):
    try:
        old = _render(OLD, res, inputs)
    except Exception:  # noqa: BLE001 - an undefined variable, in whatever ansible-core wraps it
        old = None
    returned = []
    if old is None:
        with pytest.raises(Exception) as new:
            _render(NEW, res, inputs, returned)
        error = _filter_error(new.value)
        assert isinstance(error, AnsibleFilterError), repr(new.value)
        assert str(error).startswith("sqlite_migration_target: the container ") or "target_containers" in str(error)
        _no_secret(str(new.value))
        return
    new = _render(NEW, res, inputs, returned)
    for fact in FACTS:
        assert _typed(new[fact]) == _typed(old[fact]), fact
    assert returned, "the new task called no filter"
    # the filter's own value too, before Ansible saw it
    assert all(_typed(value) == _typed({"pg_address": old[FACTS[0]], "image": old[FACTS[1]]}) for value in returned)


def test_the_cases_cover_both_outcomes_of_every_branch():
    outcomes = {}
    for label, res, inputs in CASES:
        try:
            _render(OLD, res, inputs)
            outcomes.setdefault(label.split(":")[0], set()).add("set")
        except Exception:  # noqa: BLE001
            outcomes.setdefault(label.split(":")[0], set()).add("failed")
    assert outcomes == {"address": {"set", "failed"}, "image": {"set", "failed"}, "defaults": {"set"}}
    assert len(CASES) > 100


def test_the_assert_after_the_task_still_refuses_an_empty_address():
    """"Assert that PostgreSQL has an address this host can reach" (unchanged) gets '' where it got
    it before - a stopped container, one without networks, one not there - and passes otherwise."""
    tasks = LOADER.load_from_file(str(ROLE / "tasks" / "preflight.yml"), trusted_as_template=True)
    names = [task.get("name") for task in tasks]
    check = tasks[names.index(TASK_NAME) + 1]
    assert check["name"] == "Assert that PostgreSQL has an address this host can reach"
    assert check["ansible.builtin.assert"]["that"] == ["__sqlite_migration_pg_address | length > 0"]
    for shape, reachable in [("one-network", True), ("ipv6-only-first", True), ("stopped", False),
                             ("host-network", False), ("container-network", False), ("missing", False), ("unread", False)]:
        res = _pg_results(shape)
        inputs = {"sqlite_migration_image": "mlops/mlflow:custom"}  # the image is no matter here
        old, new = _render(OLD, res, inputs), _render(NEW, res, inputs)
        assert _typed(new) == _typed(old), shape
        templar = Templar(LOADER, variables=dict(DEFAULTS, **new))
        that = check["ansible.builtin.assert"]["that"][0]
        assert templar.evaluate_conditional(that) is reachable, shape
