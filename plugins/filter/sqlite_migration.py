# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin of the sqlite_migration role: what it picks from the containers it read.

mlops.mlflow.sqlite_migration_target takes the results of the preflight's
community.docker.docker_container_info loop and gives the address the host reaches PostgreSQL on
and the MLflow image that upgrades the SQLite copy. Every other input is an argument: the filter
reads no variable itself. It picks what the role's Jinja picked before (a string counts as set
when it is not empty, like ``| length > 0``; the values are passed through as given), but where
that Jinja failed on an undefined variable - a container that does not exist or was not read, a
network the PostgreSQL container is not on - the filter fails with a message that names it.
Without a network, a PostgreSQL container that is not there has no address, '', as before: the
preflight's assert reports it. Errors name containers, networks and arguments, never what the
containers hold (their environment may carry secrets).
"""
from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# Documentation: sqlite_migration_target.yml next to this file.

NAME = "sqlite_migration_target"
# A loop result without `container`: docker_container_info did not run for that item (skipped).
_NOT_READ = object()


def _fail(message):
    raise AnsibleFilterError("%s: %s" % (NAME, message))


def _is_set(what, value):
    """Jinja's ``value | length > 0``, refusing what has no length (numbers, booleans, null)."""
    try:
        return len(value) > 0
    except TypeError:
        _fail("%s must be a string, got %s" % (what, type(value).__name__))


def _containers(results):
    """Container name -> docker inspect data (None: no such container), as the role's
    ``dict(results | map(attribute='item') | zip(results | map(attribute='container')))``."""
    if not isinstance(results, (list, tuple)):
        _fail("the input must be the list of docker_container_info loop results (.results), got %s"
              % type(results).__name__)
    containers = {}
    for result in results:
        if not isinstance(result, Mapping) or "item" not in result:
            _fail("the input must be the list of docker_container_info loop results (.results), "
                  "got an item that is no loop result")
        containers[result["item"]] = result.get("container", _NOT_READ)
    return containers


def _container(containers, name, role):
    """The docker inspect data of the container `name` (`role` says what the role wants it for)."""
    if not isinstance(name, str):
        _fail("the name of %s must be a string, got %s" % (role, type(name).__name__))
    info = containers.get(name, _NOT_READ)
    if info is _NOT_READ:
        _fail("the container %s (%s) was not read by docker_container_info" % (name, role))
    if info is None:
        _fail("the container %s (%s) does not exist" % (name, role))
    if not isinstance(info, Mapping):
        _fail("the docker_container_info result of the container %s (%s) is no dictionary" % (name, role))
    return info


def _networks(info):
    """NetworkSettings.Networks of docker inspect's data; None when it has none."""
    settings = info.get("NetworkSettings") if isinstance(info, Mapping) else None
    networks = settings.get("Networks") if isinstance(settings, Mapping) else None
    return networks if isinstance(networks, Mapping) else None


def _pg_address(containers, name, pg_network):
    """The container's address on `pg_network`, or its first non-empty one."""
    if not isinstance(name, str):
        _fail("the name of pg_container must be a string, got %s" % type(name).__name__)
    if not _is_set("pg_network", pg_network):
        # '' when there is none, also when the container does not exist or was not read, as the
        # role's Jinja (`| default('')`) did: the preflight's assert reports the empty address.
        networks = _networks(containers.get(name)) or {}
        addresses = (network.get("IPAddress") for network in networks.values() if isinstance(network, Mapping))
        return next((address for address in addresses if address), "")
    networks = _networks(_container(containers, name, "pg_container"))
    if networks is None:
        _fail("the container %s has no NetworkSettings.Networks in its docker_container_info result" % name)
    if pg_network not in networks:
        _fail("the container %s is not on the network %s (pg_network); its networks: %s"
              % (name, pg_network, ", ".join(str(n) for n in networks) or "none"))
    network = networks[pg_network]
    address = network.get("IPAddress") if isinstance(network, Mapping) else None
    if not isinstance(address, str):
        _fail("the container %s has no IPAddress on the network %s" % (name, pg_network))
    return address


def _target_image(containers, target_containers):
    """The image (as given when it was created: Config.Image) of the first target container."""
    if not isinstance(target_containers, (list, tuple)):
        _fail("target_containers must be a list, got %s" % type(target_containers).__name__)
    if not target_containers:
        _fail("image is empty and target_containers names no container to take the MLflow image from")
    name = target_containers[0]
    config = _container(containers, name, "the first of target_containers").get("Config")
    image = config.get("Image") if isinstance(config, Mapping) else None
    if not isinstance(image, str):
        _fail("the container %s has no Config.Image in its docker_container_info result" % name)
    return image


def sqlite_migration_target(results, pg_container, target_containers, pg_host="", pg_network="", image=""):
    """The PostgreSQL address and the MLflow image of the migration's target, the production stage.

    pg_address: `pg_host` when set, else the PostgreSQL container's address on `pg_network` when
    set, else its first non-empty address, '' when it has none or cannot be read (the caller
    asserts that it is set).
    image: `image` when set, else the image of the first of `target_containers`. A container is
    only looked at when its value is needed, as the role's lazily rendered Jinja did.
    """
    containers = _containers(results)
    if _is_set("pg_host", pg_host):
        pg_address = pg_host
    else:
        pg_address = _pg_address(containers, pg_container, pg_network)
    if not _is_set("image", image):
        image = _target_image(containers, target_containers)
    return {"pg_address": pg_address, "image": image}


class FilterModule:
    """Ansible filters of mlops.mlflow for the sqlite_migration role."""

    def filters(self):
        return {
            "sqlite_migration_target": sqlite_migration_target,
        }
