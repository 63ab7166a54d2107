# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin of the production stage: who talks to whom, from the inventory's groups.

``hostvars | mlops.mlflow.stack(groups, inventory_hostname)`` reads the four groups of the stage
(mlflow_db, mlflow_objectstore, mlflow_servers, mlflow_proxy) and the site's decisions (the
``mlflow_*`` variables of docs/production.md: public URL, artifact mode, TLS, private addresses)
and gives every role the connection settings it gets by default: where PostgreSQL and the object
store are published, the MLflow server's backend URI, S3 endpoint, networks and bind address,
Nginx's upstreams. The roles' defaults read them from here (``__<role>_stack``), so that an
inventory holds decisions only and a role pulled into another playbook with the same groups gets
the same wiring. A setting the stack does not decide is left out; the role's own default
applies then (a role used without these groups behaves as it does standalone).

Values other hosts set in the inventory are honoured (``mlflow_server_host_port`` of a server,
``minio_api_port`` of the object store host, ...); where a host does not set one, the default of
its role applies: DEFAULTS below, kept equal to the roles' defaults/main.yml by the unit tests.
Errors name groups, hosts and variables, never a value.
"""
from __future__ import annotations

import copy
import multiprocessing
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

# Documentation: stack.yml next to this file.

NAME = "stack"
# part of the stage: its group
GROUPS = {"db": "mlflow_db", "objectstore": "mlflow_objectstore", "servers": "mlflow_servers", "proxy": "mlflow_proxy"}
# The roles' defaults of the variables read from other hosts (tests/unit: equal to defaults/main.yml).
DEFAULTS = {
    "postgres_container_name": "postgres",
    "postgres_network_name": "mlflow",
    "postgres_network_aliases": ["postgres"],
    "postgres_port": 5432,
    "postgres_publish_port": 5432,
    "postgres_db_name": "mlflow",
    "postgres_db_user": "mlflow",
    "minio_container_name": "minio",
    "minio_network_name": "mlflow",
    "minio_network_aliases": ["minio"],
    "minio_api_port": 9000,
    "minio_mlflow_access_key": "mlflow",
    "mlflow_server_host_port": 5001,
    # metrics (issue #15): who exports what, and on which port
    "mlflow_server_metrics": False,
    "nginx_proxy_metrics": False,
    "nginx_proxy_metrics_exporter_port": 9113,
    "postgres_exporter": False,
    "postgres_exporter_port": 9187,
    "minio_engine": "seaweedfs",
    "minio_metrics": False,
    "minio_metrics_port": 9327,
    # the Debian packages each role installs on its host (packages below)
    "docker_install_source": "official",
    "docker_package_state": "present",
    "docker_distro_packages": ["docker.io"],
    "docker_install_python_sdk": True,
    "docker_python_sdk_packages": ["python3-docker", "python3-requests"],
    "postgres_install_client_deps": True,
    "postgres_client_packages": ["python3-psycopg2"],
    "minio_install_client_deps": True,
    "minio_client_packages": ["python3-boto3", "python3-packaging"],
}
# The site's decisions when the inventory leaves them out (inventories/prod shows each).
DECISIONS = {
    "mlflow_public_url": "",
    "mlflow_artifacts_mode": "proxied",
    "mlflow_auth_mode": "nginx",
    "mlflow_artifacts_bucket": "mlflow",
    "mlflow_artifacts_presigned": True,
    "mlflow_s3_public_port": 9443,
    "mlflow_tls_selfsigned": False,
    "mlflow_tls_ca_cert": "",
    "mlflow_proxy_selfsigned_cert": "",
}
# Container port of the object store's S3 API on the stack network (both engines).
S3_CONTAINER_PORT = 9000
WILDCARDS = ("0.0.0.0", "::", "")
# The Prometheus hosts (roles/prometheus); not a part of the stage: its hosts get the scrape
# targets, and the hosts they scrape publish their metrics for them.
MONITORING = "mlflow_monitoring"


def _fail(message):
    raise AnsibleFilterError("%s: %s" % (NAME, message))


class _Host:
    """One host's variables: the inventory's value, else the role default / the decision."""

    def __init__(self, hostvars, name):
        try:
            self.vars = hostvars[name]
        except KeyError:
            _fail("host %s of the inventory has no variables (is it in the inventory?)" % name)
        self.name = name
        # Ansible templates a host variable on every read; one computation reads each once.
        self._read = {}

    def _value(self, key):
        """The host's value of `key`, None when unset."""
        if key not in self._read:
            self._read[key] = self.vars[key] if key in self.vars else None
        return self._read[key]

    def get(self, key):
        value = self._value(key)
        if value is not None:
            return value
        if key in DEFAULTS:
            return DEFAULTS[key]
        return DECISIONS.get(key)

    def set_here(self, key):
        """The host's own value of `key` (inventory, host or extra vars), None when it sets none."""
        value = self._value(key)
        return str(value).strip() if isinstance(value, str) else value

    def reached_at(self, key):
        """Where the other hosts reach a service this host publishes on `key` (a bind address): that
        address when the host sets a specific one, else the host's private address."""
        bind = self.set_here(key)
        if bind and str(bind) not in WILDCARDS and not str(bind).startswith("127."):
            return str(bind)
        return self.address

    def flag(self, key):
        try:
            return boolean(self.get(key), strict=True)
        except TypeError:
            _fail("%s of %s must be a boolean" % (key, self.name))

    @property
    def address(self):
        """Where the other hosts reach this one: mlflow_private_address, else ansible_host, else its name."""
        for key in ("mlflow_private_address", "ansible_host"):
            if self._value(key):
                return str(self._value(key)).strip()
        return self.name


class _Hosts:
    """The `_Host` of each host name, made once per computation: reading a host's variables out of
    hostvars computes all of them (Ansible's VariableManager), and the wiring looks at the same
    hosts several times."""

    def __init__(self, hostvars):
        self.hostvars = hostvars
        self._made = {}

    def __getitem__(self, name):
        if name not in self._made:
            self._made[name] = _Host(self.hostvars, name)
        return self._made[name]


def _hosts(groups, part):
    hosts = groups.get(GROUPS[part]) or []
    if not isinstance(hosts, (list, tuple)):
        _fail("groups['%s'] must be a list of hosts" % GROUPS[part])
    return list(hosts)


def _first_alias(host, key):
    aliases = host.get(key)
    if not isinstance(aliases, (list, tuple)) or not aliases:
        _fail("%s of %s must be a list with at least one name" % (key, host.name))
    return str(aliases[0])


def _server_upstream(hosts, name, proxies):
    """host:port Nginx uses for the MLflow server `name`."""
    server = hosts[name]
    bind = server.set_here("mlflow_server_bind_address") or _server_bind(server, proxies)
    if str(bind).strip() in WILDCARDS:
        bind = server.address
    return "%s:%s" % (str(bind).strip(), server.get("mlflow_server_host_port"))


def _server_bind(server, proxies):
    """127.0.0.1 when no proxy (or Prometheus) runs on another host (basic auth cannot be bypassed), else the
    private address."""
    return server.address if [p for p in proxies if p != server.name] else "127.0.0.1"


def _metrics_bind(host, monitors):
    """Where an exporter of `host` listens: 127.0.0.1 when Prometheus runs on this host only (it
    uses the host's network), else the host's private address."""
    return host.address if [m for m in monitors if m != host.name] else "127.0.0.1"


def _metrics_address(host, key, monitors):
    """Where Prometheus reaches an exporter of `host` that listens on `key` (a bind address)."""
    bind = host.set_here(key)
    if bind is None:
        return _metrics_bind(host, monitors)
    bind = str(bind)
    if bind in WILDCARDS:
        return "127.0.0.1" if monitors == [host.name] else host.address
    return bind


def _scrape_jobs(hosts, parts, monitors):
    """Prometheus' jobs: every exporter the inventory switches on, where the monitoring host reaches it."""
    others = parts["proxy"] + monitors
    jobs = []

    def job(name, path, targets):
        if targets:
            jobs.append({"job": name, "metrics_path": path, "targets": targets})

    servers = [hosts[name] for name in parts["servers"]]
    job("mlflow", "/metrics", [
        {"target": _server_upstream(hosts, s.name, others), "host": s.name}
        for s in servers if s.flag("mlflow_server_metrics")])
    proxies = [hosts[name] for name in parts["proxy"]]
    job("nginx", "/metrics", [
        {"target": "%s:%s" % (_metrics_address(p, "nginx_proxy_metrics_exporter_address", monitors),
                              p.get("nginx_proxy_metrics_exporter_port")), "host": p.name}
        for p in proxies if p.flag("nginx_proxy_metrics")])
    dbs = [hosts[name] for name in parts["db"][:1]]
    job("postgres", "/metrics", [
        {"target": "%s:%s" % (_metrics_address(d, "postgres_exporter_publish_address", monitors),
                              d.get("postgres_exporter_port")), "host": d.name}
        for d in dbs if d.flag("postgres_exporter")])
    # SeaweedFS' own metrics port (minio_metrics; refused with MinIO, whose metrics share the S3 API port)
    stores = [hosts[name] for name in parts["objectstore"][:1]]
    job("objectstore", "/metrics", [
        {"target": "%s:%s" % (_metrics_address(st, "minio_metrics_address", monitors),
                              st.get("minio_metrics_port")), "host": st.name}
        for st in stores if st.flag("minio_metrics") and st.get("minio_engine") != "minio"])
    return jobs


def _minio_bind(store, parts, s3_published, artifacts_mode):
    """The S3 API on the private address when another host (or, in direct mode, the clients) must reach it."""
    others = [h for h in parts["servers"] if h != store.name]
    proxies_elsewhere = [h for h in parts["proxy"] if h != store.name]
    if others or artifacts_mode == "direct" or (s3_published and proxies_elsewhere):
        return store.address
    return "127.0.0.1"


def _auth_db(db):
    """The auth database of MLflow's built-in authentication, next to the backend's."""
    return "%s_auth" % db.get("postgres_db_name")


# Results per worker process. Ansible runs each task for each host in a process of its own
# (forked from the controller, gone after the task), and no variable changes while it runs, so the
# wiring cannot change either: a task that reads several __<role>_stack values computes it once
# (each computation reads every host's variables: about 13 ms, 570 times in a production run with
# nothing to change). The controller process lives for the whole run, where set_fact may change a
# variable between two tasks: nothing is kept there.
_MEMO = {}


def _memo_key(hostvars, groups, inventory_hostname):
    if multiprocessing.parent_process() is None:
        return None
    try:
        # the only groups the wiring reads (_hosts, MONITORING)
        members = tuple(repr(groups.get(name)) for name in (*GROUPS.values(), MONITORING))
    except (AttributeError, TypeError, ValueError):
        return None
    return (os.getpid(), id(hostvars), str(inventory_hostname), members)


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy(value):
    """A copy of a result (dicts, lists, strings, numbers): copy.deepcopy's general machinery costs
    more than the computation it saves."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, _IMMUTABLE):
        return value
    return copy.deepcopy(value)


def _list(host, key):
    value = host.get(key)
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        _fail("%s of %s must be a list of package names" % (key, host.name))
    return [str(v) for v in value]


def _packages(me, here, monitor, selfsigned):
    """The Debian packages the stage's roles install on this host, for one apt run before them
    (playbooks/production.yml). Each role still installs what is not in this list itself, so a
    package left out here costs an apt run, never a missing package."""
    packages = []
    if (here["db"] or here["objectstore"] or here["servers"] or monitor) \
            and me.get("docker_install_source") == "distro" and me.get("docker_package_state") == "present":
        packages += _list(me, "docker_distro_packages")
        if me.flag("docker_install_python_sdk"):
            packages += _list(me, "docker_python_sdk_packages")
    if here["db"] and me.flag("postgres_install_client_deps"):
        packages += _list(me, "postgres_client_packages")
    if here["objectstore"]:
        if me.flag("minio_install_client_deps"):
            packages += _list(me, "minio_client_packages")
        packages.append("rclone")  # mlflow_backup's artifact mirror (the play of the object store hosts)
    if here["proxy"]:
        # nginx_proxy: python3-cryptography signs a self-signed certificate
        packages += ["nginx"] + (["python3-cryptography"] if selfsigned else [])
    return sorted(set(packages))


def stack(hostvars, groups, inventory_hostname):
    """The production stage's wiring as seen from `inventory_hostname` (see stack.yml)."""
    key = _memo_key(hostvars, groups, inventory_hostname)
    if key is None:
        return _stack(hostvars, groups, inventory_hostname)
    if key not in _MEMO:
        _MEMO.clear()  # one entry is enough: a task asks for its own host
        _MEMO[key] = _stack(hostvars, groups, inventory_hostname)
    return _copy(_MEMO[key])


def _stack(hostvars, groups, inventory_hostname):
    if not isinstance(groups, Mapping):
        _fail("groups must be the inventory's groups (a mapping)")
    parts = {part: _hosts(groups, part) for part in GROUPS}
    monitors = groups.get(MONITORING) or []
    if not isinstance(monitors, (list, tuple)):
        _fail("groups['%s'] must be a list of hosts" % MONITORING)
    monitors = list(monitors)
    hosts = _Hosts(hostvars)
    me = hosts[inventory_hostname]
    here = {part: inventory_hostname in hosts for part, hosts in parts.items()}

    public_url = str(me.get("mlflow_public_url") or "")
    artifacts_mode = me.get("mlflow_artifacts_mode")
    if artifacts_mode not in ("proxied", "direct"):
        _fail("mlflow_artifacts_mode must be proxied or direct")
    auth_mode = me.get("mlflow_auth_mode")
    if auth_mode not in ("nginx", "mlflow"):
        _fail("mlflow_auth_mode must be nginx or mlflow")
    bucket = me.get("mlflow_artifacts_bucket")
    artifacts_uri = me.get("mlflow_artifacts_uri") or "s3://%s/artifacts" % bucket
    s3_public_url = me.get("mlflow_s3_public_url")
    if not s3_public_url and public_url:
        url = urlsplit(public_url)
        host = "[%s]" % url.hostname if ":" in (url.hostname or "") else url.hostname
        s3_public_url = "%s://%s:%s" % (url.scheme, host, me.get("mlflow_s3_public_port"))
    # Presigned transfers go to our own object store, published by Nginx at a public URL: only
    # with an object store, a proxy and that URL.
    s3_published = bool(artifacts_mode == "proxied" and me.flag("mlflow_artifacts_presigned")
                        and parts["objectstore"] and parts["proxy"] and s3_public_url)
    selfsigned = me.flag("mlflow_tls_selfsigned")

    result = {
        "groups": dict(GROUPS),
        "hosts": parts,
        "here": here,
        "address": me.address,
        "public_url": public_url,
        "artifacts_mode": artifacts_mode,
        "auth_mode": auth_mode,
        "artifacts_bucket": bucket,
        "artifacts_uri": artifacts_uri,
        "s3_published": s3_published,
        "s3_public_url": s3_public_url or "",
    }
    if inventory_hostname in monitors:
        result["prometheus"] = {"prometheus_scrape_jobs": _scrape_jobs(hosts, parts, monitors)}
    result["packages"] = _packages(me, here, inventory_hostname in monitors, selfsigned)
    if not any(here.values()):
        # not a host of the stage (a role in another playbook): no wiring
        return result

    db = hosts[parts["db"][0]] if parts["db"] else None
    store = hosts[parts["objectstore"][0]] if parts["objectstore"] else None

    postgres = {}
    if here["db"]:
        postgres = {
            "postgres_publish": bool([h for h in parts["servers"] if h != inventory_hostname]),
            "postgres_publish_address": me.address,
        }
        if auth_mode == "mlflow":
            postgres["postgres_extra_databases"] = [_auth_db(me)]

    minio = {}
    local_s3_host = None
    if here["objectstore"]:
        minio = {
            "minio_bind_address": _minio_bind(me, parts, s3_published, artifacts_mode),
            "minio_buckets": [{"name": bucket}],
            "minio_mlflow_bucket": bucket,
        }
        # where this host reaches its own S3 API (Nginx's S3 site, backups): the bind address the
        # inventory sets, else the derived one; a wildcard through the loopback
        bind = me.set_here("minio_bind_address")
        bind = str(minio["minio_bind_address"] if bind is None else bind)
        local_s3_host = "127.0.0.1" if bind in WILDCARDS else bind

    server = {
        "mlflow_server_auth": auth_mode == "mlflow",
        "mlflow_server_serve_artifacts": artifacts_mode == "proxied",
        "mlflow_server_artifacts_destination": artifacts_uri,
        "mlflow_server_default_artifact_root": "" if artifacts_mode == "proxied" else artifacts_uri,
    }
    if public_url:
        server["mlflow_server_public_url"] = public_url
    if parts["proxy"]:
        server["mlflow_server_bind_address"] = _server_bind(me, parts["proxy"] + monitors)
    wait_for = []
    if db:
        if here["db"]:
            location = "%s:%s" % (_first_alias(me, "postgres_network_aliases"), me.get("postgres_port"))
            wait_for.append({"container": me.get("postgres_container_name")})
        else:
            db_address = db.reached_at("postgres_publish_address")
            location = "%s:%s" % (db_address, db.get("postgres_publish_port"))
            wait_for.append({"host": db_address, "port": db.get("postgres_publish_port")})
        server["mlflow_server_backend_store_uri"] = "postgresql+psycopg2://%s@%s/%s" % (
            db.get("postgres_db_user"), location, db.get("postgres_db_name"))
        if auth_mode == "mlflow":
            server["mlflow_server_auth_database_uri"] = "postgresql+psycopg2://%s@%s/%s" % (
                db.get("postgres_db_user"), location, _auth_db(db))
    if store:
        if here["objectstore"]:
            private_s3 = "http://%s:%s" % (_first_alias(me, "minio_network_aliases"), S3_CONTAINER_PORT)
            wait_for.append({"container": me.get("minio_container_name")})
        else:
            store_address = store.reached_at("minio_bind_address")
            private_s3 = "http://%s:%s" % (store_address, store.get("minio_api_port"))
            wait_for.append({"host": store_address, "port": store.get("minio_api_port")})
        server["mlflow_server_s3_endpoint_url"] = s3_public_url if s3_published else private_s3
        server["mlflow_server_aws_access_key_id"] = store.get("minio_mlflow_access_key")
    if wait_for:
        server["mlflow_server_wait_for"] = wait_for
    if here["servers"] and [m for m in monitors if m != inventory_hostname] and me.flag("mlflow_server_metrics"):
        # Prometheus elsewhere asks with Host: <address>:<port>, which MLflow's security middleware
        # refuses (403) unless it is an allowed host
        server["mlflow_server_allowed_hosts"] = [_server_upstream(hosts, inventory_hostname, parts["proxy"] + monitors)]
    if db or store:
        networks = ([me.get("postgres_network_name")] if here["db"] else []) + (
            [me.get("minio_network_name")] if here["objectstore"] else [])
        server["mlflow_server_networks"] = sorted(set(networks), key=networks.index)
    if store:
        if s3_published:
            proxy = hosts[parts["proxy"][0]]
            server["mlflow_server_etc_hosts"] = {
                urlsplit(s3_public_url).hostname: "host-gateway" if here["proxy"] else proxy.address}
            server["mlflow_server_s3_ca_cert"] = (
                me.get("mlflow_proxy_selfsigned_cert") if selfsigned else me.get("mlflow_tls_ca_cert")) or ""
        else:
            server["mlflow_server_etc_hosts"] = {}
            server["mlflow_server_s3_ca_cert"] = ""

    # mlflow: MLflow asks for the password itself, Nginx passes the Authorization header on
    nginx = {"nginx_proxy_tls_selfsigned": selfsigned, "nginx_proxy_auth_enabled": auth_mode == "nginx"}
    if public_url:
        nginx["nginx_proxy_public_url"] = public_url
    if parts["servers"]:
        nginx["nginx_proxy_upstreams"] = [_server_upstream(hosts, name, parts["proxy"] + monitors)
                                          for name in parts["servers"]]
    if store:
        nginx["nginx_proxy_s3_enabled"] = s3_published
        nginx["nginx_proxy_advertise_multipart"] = s3_published
        nginx["nginx_proxy_s3_port"] = me.get("mlflow_s3_public_port")
        s3_host = local_s3_host if here["objectstore"] else store.reached_at("minio_bind_address")
        nginx["nginx_proxy_s3_upstreams"] = ["%s:%s" % (s3_host, store.get("minio_api_port"))]

    if monitors:
        # exporters listen where Prometheus reaches them
        if here["db"]:
            postgres["postgres_exporter_publish_address"] = _metrics_bind(me, monitors)
        if here["objectstore"]:
            minio["minio_metrics_address"] = _metrics_bind(me, monitors)
        if here["proxy"]:
            nginx["nginx_proxy_metrics_exporter_address"] = _metrics_bind(me, monitors)

    if here["objectstore"]:
        # the S3 API as this host reaches it (backups)
        result["s3_local"] = {
            "url": "http://%s:%s" % (local_s3_host, me.get("minio_api_port")),
            "bucket": me.get("minio_mlflow_bucket") or bucket,
            "access_key": me.get("minio_mlflow_access_key"),
        }
    result.update(postgres=postgres, minio=minio, mlflow_server=server, nginx_proxy=nginx,
                  sqlite_migration={"sqlite_migration_artifacts_destination": artifacts_uri})
    return result


class FilterModule(object):
    def filters(self):
        return {"stack": stack}
