# -*- coding: utf-8 -*-
"""Unit tests of the production stage's filter mlops.mlflow.stack (plugins/filter/stack.py).

The inputs are what Ansible hands the roles' vars/main.yml: `hostvars` (plain dicts here: the
site's decisions of group_vars on every host, host_vars on top), `groups` and
`inventory_hostname`. Each test derives the wiring of every host of an inventory and compares it
with the values docs/production.md promises. The filter's DEFAULTS must equal the roles'
defaults/main.yml, and every key the filter gives a role must be one that role's defaults read.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.mlflow.plugins.filter import stack as plugin
from ansible_collections.mlops.mlflow.plugins.filter.stack import DEFAULTS, FilterModule, stack

REPO = Path(__file__).resolve().parents[4]
URL = "https://mlflow.example.com/mlflow/"
S3_URL = "https://mlflow.example.com:9443"
# group_vars/mlflow_production of inventories/prod, as far as the filter reads it
SITE = {"mlflow_public_url": URL}
# the keys of every result; a host in the stage's groups also gets PARTS (and s3_local on the object store host)
TOP = {"groups", "hosts", "here", "address", "public_url", "artifacts_mode", "auth_mode", "artifacts_bucket",
       "artifacts_uri", "s3_published", "s3_public_url", "packages"}
PARTS = {"postgres", "minio", "mlflow_server", "nginx_proxy", "sqlite_migration"}
# secret-looking values: no error may show them
SECRET = "Secret-Value/42"


def inventory(db=(), objectstore=(), servers=(), proxy=(), **other):
    """`groups` as Ansible gives it (all, ungrouped and the stage's four groups)."""
    groups = {"mlflow_db": list(db), "mlflow_objectstore": list(objectstore), "mlflow_servers": list(servers),
              "mlflow_proxy": list(proxy), "ungrouped": [], **{name: list(hosts) for name, hosts in other.items()}}
    groups["all"] = sorted({host for hosts in groups.values() for host in hosts})
    return groups


def host_vars(groups, site=SITE, **per_host):
    """`hostvars`: the site's decisions on every host, each host's own variables on top
    (per_host: host name with `-` and `.` written `_` -> variables)."""
    return {name: {**site, **per_host.get(re.sub(r"[-.]", "_", name), {})} for name in groups["all"]}


def wiring(groups, site=SITE, **per_host):
    """The filter's result on every host of the inventory."""
    hostvars = host_vars(groups, site, **per_host)
    return {name: stack(hostvars, groups, name) for name in groups["all"]}


def error_of(hostvars, groups, host):
    with pytest.raises(AnsibleFilterError) as caught:
        stack(hostvars, groups, host)
    return str(caught.value)


ONE = "mlflow.example.com"
SINGLE = inventory([ONE], [ONE], [ONE], [ONE])
# molecule/multihost: a data host, two MLflow servers, Nginx on the first one
SPLIT = inventory(["data"], ["data"], ["app1", "app2"], ["app1"])
SPLIT_VARS = {
    "data": {"ansible_host": "203.0.113.10", "mlflow_private_address": "10.0.0.10"},
    "app1": {"ansible_host": "203.0.113.21", "mlflow_private_address": "10.0.0.21"},
    "app2": {"ansible_host": "203.0.113.22", "mlflow_private_address": "10.0.0.22"},
}
# every part on its own host
APART = inventory(["db1"], ["s3-1"], ["app1"], ["web1"])
# inventories/cloud-aws: managed database and bucket
CLOUD = {"mlflow_public_url": URL, "mlflow_artifacts_uri": "s3://my-company-mlflow-artifacts/artifacts"}


# MLflow's built-in authentication instead of Nginx's
AUTH = {**SITE, "mlflow_auth_mode": "mlflow"}


# ------------------------------------------------------------------ one machine


def test_single_machine():
    """inventories/prod as shipped: one host in all four groups."""
    assert wiring(SINGLE)[ONE] == {
        "groups": {"db": "mlflow_db", "objectstore": "mlflow_objectstore", "servers": "mlflow_servers",
                   "proxy": "mlflow_proxy"},
        "hosts": {"db": [ONE], "objectstore": [ONE], "servers": [ONE], "proxy": [ONE]},
        "here": {"db": True, "objectstore": True, "servers": True, "proxy": True},
        "address": ONE,
        "public_url": URL,
        "artifacts_mode": "proxied",
        "auth_mode": "nginx",
        "artifacts_bucket": "mlflow",
        "artifacts_uri": "s3://mlflow/artifacts",
        "s3_published": True,
        "s3_public_url": S3_URL,
        "s3_local": {"url": "http://127.0.0.1:9000", "bucket": "mlflow", "access_key": "mlflow"},
        # docker_install_source: official (the role's default) -> Docker's own packages are not batched
        "packages": ["nginx", "python3-boto3", "python3-packaging", "python3-psycopg2", "rclone"],
        "postgres": {"postgres_publish": False, "postgres_publish_address": ONE},
        "minio": {"minio_bind_address": "127.0.0.1", "minio_buckets": [{"name": "mlflow"}],
                  "minio_mlflow_bucket": "mlflow"},
        "mlflow_server": {
            "mlflow_server_auth": False,
            "mlflow_server_serve_artifacts": True,
            "mlflow_server_artifacts_destination": "s3://mlflow/artifacts",
            "mlflow_server_default_artifact_root": "",
            "mlflow_server_public_url": URL,
            "mlflow_server_bind_address": "127.0.0.1",
            "mlflow_server_backend_store_uri": "postgresql+psycopg2://mlflow@postgres:5432/mlflow",
            "mlflow_server_s3_endpoint_url": S3_URL,
            "mlflow_server_aws_access_key_id": "mlflow",
            "mlflow_server_wait_for": [{"container": "postgres"}, {"container": "minio"}],
            "mlflow_server_networks": ["mlflow"],
            "mlflow_server_etc_hosts": {"mlflow.example.com": "host-gateway"},
            "mlflow_server_s3_ca_cert": "",
        },
        "nginx_proxy": {
            "nginx_proxy_tls_selfsigned": False,
            "nginx_proxy_auth_enabled": True,
            "nginx_proxy_public_url": URL,
            "nginx_proxy_upstreams": ["127.0.0.1:5001"],
            "nginx_proxy_s3_enabled": True,
            "nginx_proxy_advertise_multipart": True,
            "nginx_proxy_s3_port": 9443,
            "nginx_proxy_s3_upstreams": ["127.0.0.1:9000"],
        },
        "sqlite_migration": {"sqlite_migration_artifacts_destination": "s3://mlflow/artifacts"},
    }


def test_single_machine_with_ansible_host_keeps_everything_local():
    """An address changes only what is published on it (nothing here): the rest stays on 127.0.0.1."""
    result = wiring(SINGLE, mlflow_example_com={"ansible_host": "192.0.2.10"})[ONE]
    assert result["address"] == "192.0.2.10"
    assert result["postgres"] == {"postgres_publish": False, "postgres_publish_address": "192.0.2.10"}
    assert result["minio"]["minio_bind_address"] == "127.0.0.1"
    assert result["mlflow_server"]["mlflow_server_bind_address"] == "127.0.0.1"
    assert result["nginx_proxy"]["nginx_proxy_upstreams"] == ["127.0.0.1:5001"]
    assert result["nginx_proxy"]["nginx_proxy_s3_upstreams"] == ["127.0.0.1:9000"]
    assert result["s3_local"]["url"] == "http://127.0.0.1:9000"


def test_site_decisions_given():
    """Bucket, artifact URI, S3 port and S3 URL of the site."""
    site = {"mlflow_public_url": "http://mlflow.internal:8080/", "mlflow_artifacts_bucket": "ml-artifacts",
            "mlflow_s3_public_port": 9444}
    result = wiring(SINGLE, site)[ONE]
    assert result["artifacts_uri"] == "s3://ml-artifacts/artifacts"
    assert result["s3_public_url"] == "http://mlflow.internal:9444"
    assert result["minio"]["minio_buckets"] == [{"name": "ml-artifacts"}]
    assert result["minio"]["minio_mlflow_bucket"] == "ml-artifacts"
    assert result["s3_local"]["bucket"] == "ml-artifacts"
    assert result["mlflow_server"]["mlflow_server_s3_endpoint_url"] == "http://mlflow.internal:9444"
    assert result["mlflow_server"]["mlflow_server_etc_hosts"] == {"mlflow.internal": "host-gateway"}
    assert result["nginx_proxy"]["nginx_proxy_s3_port"] == 9444
    assert result["sqlite_migration"] == {"sqlite_migration_artifacts_destination": "s3://ml-artifacts/artifacts"}

    site = {**SITE, "mlflow_artifacts_uri": "s3://ml-artifacts/team-a", "mlflow_s3_public_url": "https://s3.example.com"}
    result = wiring(SINGLE, site)[ONE]
    assert result["artifacts_uri"] == "s3://ml-artifacts/team-a"
    assert result["artifacts_bucket"] == "mlflow"
    assert result["s3_public_url"] == "https://s3.example.com"
    assert result["mlflow_server"]["mlflow_server_artifacts_destination"] == "s3://ml-artifacts/team-a"
    assert result["mlflow_server"]["mlflow_server_s3_endpoint_url"] == "https://s3.example.com"
    assert result["mlflow_server"]["mlflow_server_etc_hosts"] == {"s3.example.com": "host-gateway"}
    assert result["sqlite_migration"] == {"sqlite_migration_artifacts_destination": "s3://ml-artifacts/team-a"}


def test_null_and_empty_decisions_take_the_defaults():
    site = {"mlflow_public_url": URL, "mlflow_artifacts_mode": None, "mlflow_artifacts_bucket": None,
            "mlflow_artifacts_uri": "", "mlflow_artifacts_presigned": None, "mlflow_tls_selfsigned": None}
    result = wiring(SINGLE, site)[ONE]
    assert (result["artifacts_mode"], result["artifacts_bucket"], result["artifacts_uri"]) == (
        "proxied", "mlflow", "s3://mlflow/artifacts")
    assert result["s3_published"] is True
    assert result["nginx_proxy"]["nginx_proxy_tls_selfsigned"] is False


# ------------------------------------------------------------------ several machines


def test_split():
    """molecule/multihost: PostgreSQL and the object store on `data`, MLflow on app1 and app2, Nginx on app1."""
    result = wiring(SPLIT, **SPLIT_VARS)
    data, app1, app2 = result["data"], result["app1"], result["app2"]
    assert [r["address"] for r in (data, app1, app2)] == ["10.0.0.10", "10.0.0.21", "10.0.0.22"]
    assert data["here"] == {"db": True, "objectstore": True, "servers": False, "proxy": False}
    assert app1["hosts"] == {"db": ["data"], "objectstore": ["data"], "servers": ["app1", "app2"], "proxy": ["app1"]}

    # the data host publishes both on its private address
    assert data["postgres"] == {"postgres_publish": True, "postgres_publish_address": "10.0.0.10"}
    assert data["minio"] == {"minio_bind_address": "10.0.0.10", "minio_buckets": [{"name": "mlflow"}],
                             "minio_mlflow_bucket": "mlflow"}
    assert data["s3_local"] == {"url": "http://10.0.0.10:9000", "bucket": "mlflow", "access_key": "mlflow"}
    assert data["mlflow_server"]["mlflow_server_networks"] == ["mlflow"]
    for app in (app1, app2):
        assert app["postgres"] == {} and app["minio"] == {}
        assert "s3_local" not in app

    # the servers reach them there; Nginx on app1 is reached through the host (app1) or app1's address (app2)
    common = {
        "mlflow_server_auth": False,
        "mlflow_server_serve_artifacts": True,
        "mlflow_server_artifacts_destination": "s3://mlflow/artifacts",
        "mlflow_server_default_artifact_root": "",
        "mlflow_server_public_url": URL,
        "mlflow_server_backend_store_uri": "postgresql+psycopg2://mlflow@10.0.0.10:5432/mlflow",
        "mlflow_server_s3_endpoint_url": S3_URL,
        "mlflow_server_aws_access_key_id": "mlflow",
        "mlflow_server_wait_for": [{"host": "10.0.0.10", "port": 5432}, {"host": "10.0.0.10", "port": 9000}],
        "mlflow_server_networks": [],
        "mlflow_server_s3_ca_cert": "",
    }
    assert app1["mlflow_server"] == {**common, "mlflow_server_bind_address": "127.0.0.1",
                                     "mlflow_server_etc_hosts": {"mlflow.example.com": "host-gateway"}}
    assert app2["mlflow_server"] == {**common, "mlflow_server_bind_address": "10.0.0.22",
                                     "mlflow_server_etc_hosts": {"mlflow.example.com": "10.0.0.21"}}

    # Nginx (the same on every host)
    for host in result.values():
        assert host["nginx_proxy"] == {
            "nginx_proxy_tls_selfsigned": False,
            "nginx_proxy_auth_enabled": True,
            "nginx_proxy_public_url": URL,
            "nginx_proxy_upstreams": ["127.0.0.1:5001", "10.0.0.22:5001"],
            "nginx_proxy_s3_enabled": True,
            "nginx_proxy_advertise_multipart": True,
            "nginx_proxy_s3_port": 9443,
            "nginx_proxy_s3_upstreams": ["10.0.0.10:9000"],
        }
        assert host["s3_published"] is True and host["s3_public_url"] == S3_URL


def test_every_part_on_its_own_host():
    """The address: mlflow_private_address, else ansible_host, else the inventory name."""
    result = wiring(APART, db1={"ansible_host": "10.0.0.10"},
                    s3_1={"ansible_host": "s3.example.net", "mlflow_private_address": "10.0.0.11"},
                    app1={"ansible_host": "10.0.0.21", "mlflow_private_address": ""})
    assert {name: r["address"] for name, r in result.items()} == {
        "db1": "10.0.0.10", "s3-1": "10.0.0.11", "app1": "10.0.0.21", "web1": "web1"}

    assert result["db1"]["postgres"] == {"postgres_publish": True, "postgres_publish_address": "10.0.0.10"}
    assert result["db1"]["minio"] == {}
    assert result["s3-1"]["postgres"] == {}
    assert result["s3-1"]["minio"]["minio_bind_address"] == "10.0.0.11"
    assert result["s3-1"]["s3_local"]["url"] == "http://10.0.0.11:9000"
    server = result["app1"]["mlflow_server"]
    assert server["mlflow_server_bind_address"] == "10.0.0.21"
    assert server["mlflow_server_backend_store_uri"] == "postgresql+psycopg2://mlflow@10.0.0.10:5432/mlflow"
    assert server["mlflow_server_wait_for"] == [{"host": "10.0.0.10", "port": 5432}, {"host": "10.0.0.11", "port": 9000}]
    assert server["mlflow_server_networks"] == []
    assert server["mlflow_server_s3_endpoint_url"] == S3_URL
    assert server["mlflow_server_etc_hosts"] == {"mlflow.example.com": "web1"}
    nginx = result["web1"]["nginx_proxy"]
    assert nginx["nginx_proxy_upstreams"] == ["10.0.0.21:5001"]
    assert nginx["nginx_proxy_s3_upstreams"] == ["10.0.0.11:9000"]
    assert result["web1"]["postgres"] == {} and result["web1"]["minio"] == {}


@pytest.mark.parametrize("variables, address", [
    ({}, "host1"),
    ({"ansible_host": "192.0.2.7"}, "192.0.2.7"),
    ({"ansible_host": "192.0.2.7", "mlflow_private_address": "10.1.2.3"}, "10.1.2.3"),
    ({"ansible_host": "192.0.2.7", "mlflow_private_address": None}, "192.0.2.7"),
    ({"ansible_host": "", "mlflow_private_address": ""}, "host1"),
    ({"mlflow_private_address": " 10.1.2.3 "}, "10.1.2.3"),
])
def test_address(variables, address):
    groups = inventory(["host1"], servers=["app9"], proxy=["app9"])
    result = stack({"host1": {**SITE, **variables}, "app9": SITE}, groups, "host1")
    assert result["address"] == address
    assert result["postgres"] == {"postgres_publish": True, "postgres_publish_address": address}


def test_database_and_object_store_with_the_servers_nginx_elsewhere():
    """The object store is published on the private address for Nginx on another host, only while
    Nginx publishes it (presigned transfers); PostgreSQL is not (no server elsewhere)."""
    groups = inventory(["backend"], ["backend"], ["backend"], ["web1"])
    variables = {"backend": {"mlflow_private_address": "10.0.0.5"}, "web1": {"mlflow_private_address": "10.0.0.6"}}
    result = wiring(groups, **variables)
    backend = result["backend"]
    assert backend["postgres"] == {"postgres_publish": False, "postgres_publish_address": "10.0.0.5"}
    assert backend["minio"]["minio_bind_address"] == "10.0.0.5"
    assert backend["mlflow_server"]["mlflow_server_bind_address"] == "10.0.0.5"
    assert backend["mlflow_server"]["mlflow_server_backend_store_uri"] == "postgresql+psycopg2://mlflow@postgres:5432/mlflow"
    assert backend["mlflow_server"]["mlflow_server_etc_hosts"] == {"mlflow.example.com": "10.0.0.6"}
    assert backend["mlflow_server"]["mlflow_server_networks"] == ["mlflow"]
    assert result["web1"]["nginx_proxy"]["nginx_proxy_upstreams"] == ["10.0.0.5:5001"]
    assert result["web1"]["nginx_proxy"]["nginx_proxy_s3_upstreams"] == ["10.0.0.5:9000"]

    result = wiring(groups, {**SITE, "mlflow_artifacts_presigned": False}, **variables)
    assert result["backend"]["minio"]["minio_bind_address"] == "127.0.0.1"
    assert result["backend"]["mlflow_server"]["mlflow_server_s3_endpoint_url"] == "http://minio:9000"
    assert result["backend"]["mlflow_server"]["mlflow_server_etc_hosts"] == {}
    assert result["web1"]["nginx_proxy"]["nginx_proxy_s3_enabled"] is False


def test_database_and_object_store_on_separate_hosts_with_one_server_each():
    """A server on the database host reaches the object store elsewhere and vice versa; networks
    hold only what runs on the host."""
    groups = inventory(["h1"], ["h2"], ["h1", "h2"], ["h1"])
    result = wiring(groups, {**SITE, "mlflow_artifacts_presigned": False},
                    h1={"mlflow_private_address": "10.0.0.1"}, h2={"mlflow_private_address": "10.0.0.2"})
    h1, h2 = result["h1"]["mlflow_server"], result["h2"]["mlflow_server"]
    assert h1["mlflow_server_backend_store_uri"] == "postgresql+psycopg2://mlflow@postgres:5432/mlflow"
    assert h1["mlflow_server_s3_endpoint_url"] == "http://10.0.0.2:9000"
    assert h1["mlflow_server_wait_for"] == [{"container": "postgres"}, {"host": "10.0.0.2", "port": 9000}]
    assert h1["mlflow_server_networks"] == ["mlflow"]
    assert h2["mlflow_server_backend_store_uri"] == "postgresql+psycopg2://mlflow@10.0.0.1:5432/mlflow"
    assert h2["mlflow_server_s3_endpoint_url"] == "http://minio:9000"
    assert h2["mlflow_server_wait_for"] == [{"host": "10.0.0.1", "port": 5432}, {"container": "minio"}]
    assert h2["mlflow_server_networks"] == ["mlflow"]
    assert result["h1"]["postgres"]["postgres_publish"] is True
    assert result["h2"]["minio"]["minio_bind_address"] == "10.0.0.2"


def test_networks_of_the_two_roles_differ():
    result = wiring(SINGLE, mlflow_example_com={"postgres_network_name": "db-net", "minio_network_name": "s3-net"})
    assert result[ONE]["mlflow_server"]["mlflow_server_networks"] == ["db-net", "s3-net"]


# ------------------------------------------------------------------ artifacts and TLS


def test_direct_mode():
    """Clients reach the object store themselves: it is bound to the private address even on one host."""
    site = {**SITE, "mlflow_artifacts_mode": "direct"}
    result = wiring(SINGLE, site, mlflow_example_com={"mlflow_private_address": "10.0.0.10"})[ONE]
    assert result["artifacts_mode"] == "direct"
    assert result["s3_published"] is False
    assert result["s3_public_url"] == S3_URL
    assert result["minio"]["minio_bind_address"] == "10.0.0.10"
    assert result["s3_local"]["url"] == "http://10.0.0.10:9000"
    server = result["mlflow_server"]
    assert server["mlflow_server_serve_artifacts"] is False
    assert server["mlflow_server_default_artifact_root"] == "s3://mlflow/artifacts"
    assert server["mlflow_server_artifacts_destination"] == "s3://mlflow/artifacts"
    assert server["mlflow_server_s3_endpoint_url"] == "http://minio:9000"
    assert server["mlflow_server_etc_hosts"] == {}
    assert server["mlflow_server_s3_ca_cert"] == ""
    assert result["nginx_proxy"]["nginx_proxy_s3_enabled"] is False
    assert result["nginx_proxy"]["nginx_proxy_advertise_multipart"] is False
    assert result["nginx_proxy"]["nginx_proxy_s3_upstreams"] == ["10.0.0.10:9000"]


def test_presigned_off():
    """Every byte through MLflow: the object store stays private, Nginx publishes no S3 API."""
    site = {**SITE, "mlflow_artifacts_presigned": False, "mlflow_tls_ca_cert": "-----BEGIN CERTIFICATE-----"}
    result = wiring(SINGLE, site)[ONE]
    assert result["s3_published"] is False
    assert result["minio"]["minio_bind_address"] == "127.0.0.1"
    server = result["mlflow_server"]
    assert server["mlflow_server_serve_artifacts"] is True
    assert server["mlflow_server_s3_endpoint_url"] == "http://minio:9000"
    assert server["mlflow_server_etc_hosts"] == {}
    assert server["mlflow_server_s3_ca_cert"] == ""
    nginx = result["nginx_proxy"]
    assert (nginx["nginx_proxy_s3_enabled"], nginx["nginx_proxy_advertise_multipart"]) == (False, False)
    assert nginx["nginx_proxy_s3_upstreams"] == ["127.0.0.1:9000"]

    # split: the servers elsewhere reach the object store on the data host's private address
    result = wiring(SPLIT, {**SITE, "mlflow_artifacts_presigned": False}, **SPLIT_VARS)
    assert result["data"]["minio"]["minio_bind_address"] == "10.0.0.10"
    for app in ("app1", "app2"):
        assert result[app]["mlflow_server"]["mlflow_server_s3_endpoint_url"] == "http://10.0.0.10:9000"
        assert result[app]["mlflow_server"]["mlflow_server_etc_hosts"] == {}


def test_presigned_needs_a_proxy():
    """Without Nginx hosts nothing publishes the S3 API."""
    result = wiring(inventory([ONE], [ONE], [ONE]))[ONE]
    assert result["s3_published"] is False
    assert "mlflow_server_bind_address" not in result["mlflow_server"]
    assert result["mlflow_server"]["mlflow_server_s3_endpoint_url"] == "http://minio:9000"
    assert result["nginx_proxy"]["nginx_proxy_s3_enabled"] is False
    assert result["nginx_proxy"]["nginx_proxy_upstreams"] == ["127.0.0.1:5001"]


CERT = "-----BEGIN CERTIFICATE-----\nselfsigned\n-----END CERTIFICATE-----\n"
CA = "-----BEGIN CERTIFICATE-----\nprivate CA\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("decisions, selfsigned, ca_cert", [
    ({"mlflow_tls_selfsigned": True, "mlflow_proxy_selfsigned_cert": CERT}, True, CERT),
    ({"mlflow_tls_selfsigned": True, "mlflow_proxy_selfsigned_cert": CERT, "mlflow_tls_ca_cert": CA}, True, CERT),
    ({"mlflow_tls_selfsigned": True}, True, ""),
    ({"mlflow_tls_selfsigned": False, "mlflow_tls_ca_cert": CA}, False, CA),
    ({"mlflow_tls_ca_cert": CA, "mlflow_proxy_selfsigned_cert": CERT}, False, CA),
    ({"mlflow_tls_ca_cert": None}, False, ""),
    ({}, False, ""),
])
def test_tls(decisions, selfsigned, ca_cert):
    """The servers trust the certificate Nginx publishes the object store with."""
    for result in wiring(SPLIT, {**SITE, **decisions}, **SPLIT_VARS).values():
        assert result["nginx_proxy"]["nginx_proxy_tls_selfsigned"] is selfsigned
        assert result["mlflow_server"]["mlflow_server_s3_ca_cert"] == ca_cert


# ------------------------------------------------------------------ managed services, other hosts


@pytest.mark.parametrize("groups", [
    inventory(servers=["app1", "app2"], proxy=["web1"]),
    {"mlflow_servers": ["app1", "app2"], "mlflow_proxy": ["web1"], "all": ["app1", "app2", "web1"]},
], ids=["empty-groups", "no-groups"])
def test_cloud(groups):
    """inventories/cloud-aws: no database or object store hosts; their settings stay the inventory's."""
    result = wiring(groups, CLOUD, app1={"mlflow_private_address": "10.0.0.21"},
                    app2={"mlflow_private_address": "10.0.0.22"})
    for name in ("app1", "app2"):
        assert result[name]["hosts"] == {"db": [], "objectstore": [], "servers": ["app1", "app2"], "proxy": ["web1"]}
        assert result[name]["s3_published"] is False
        assert "s3_local" not in result[name]
        assert result[name]["postgres"] == {} and result[name]["minio"] == {}
    assert result["app1"]["mlflow_server"] == {
        "mlflow_server_auth": False,
        "mlflow_server_serve_artifacts": True,
        "mlflow_server_artifacts_destination": "s3://my-company-mlflow-artifacts/artifacts",
        "mlflow_server_default_artifact_root": "",
        "mlflow_server_public_url": URL,
        "mlflow_server_bind_address": "10.0.0.21",
    }
    assert result["web1"]["nginx_proxy"] == {
        "nginx_proxy_tls_selfsigned": False,
        "nginx_proxy_auth_enabled": True,
        "nginx_proxy_public_url": URL,
        "nginx_proxy_upstreams": ["10.0.0.21:5001", "10.0.0.22:5001"],
    }
    assert result["web1"]["sqlite_migration"] == {
        "sqlite_migration_artifacts_destination": "s3://my-company-mlflow-artifacts/artifacts"}


def test_cloud_one_vm():
    """inventories/cloud-aws as shipped: MLflow and Nginx on one VM."""
    vm = "mlflow-vm.example.com"
    result = wiring(inventory(servers=[vm], proxy=[vm]), CLOUD)[vm]
    assert result["mlflow_server"]["mlflow_server_bind_address"] == "127.0.0.1"
    assert result["nginx_proxy"]["nginx_proxy_upstreams"] == ["127.0.0.1:5001"]
    for key in ("mlflow_server_backend_store_uri", "mlflow_server_s3_endpoint_url", "mlflow_server_wait_for",
                "mlflow_server_networks", "mlflow_server_etc_hosts", "mlflow_server_aws_access_key_id"):
        assert key not in result["mlflow_server"]


def test_no_public_url():
    groups = inventory(servers=["app1"], proxy=["app1"])
    result = wiring(groups, {})["app1"]
    assert result["public_url"] == "" and result["s3_public_url"] == ""
    assert "mlflow_server_public_url" not in result["mlflow_server"]
    assert "nginx_proxy_public_url" not in result["nginx_proxy"]


def test_host_outside_the_stage():
    """A role pulled into another playbook on a host of none of the four groups: no wiring."""
    groups = inventory(SPLIT["mlflow_db"], SPLIT["mlflow_objectstore"], SPLIT["mlflow_servers"],
                       SPLIT["mlflow_proxy"], monitoring=["mon1"], mlflow_migration=["mig1"])
    hostvars = host_vars(groups, mon1={"ansible_host": "10.0.0.99"}, **SPLIT_VARS)
    for name in ("mon1", "mig1"):
        result = stack(hostvars, groups, name)
        assert set(result) == TOP
        assert result["here"] == {"db": False, "objectstore": False, "servers": False, "proxy": False}
        assert result["hosts"]["servers"] == ["app1", "app2"]
        assert result["s3_published"] is True and result["s3_public_url"] == S3_URL
    assert stack(hostvars, groups, "mon1")["address"] == "10.0.0.99"


def test_auth_mode_mlflow_on_one_machine():
    """mlflow_auth_mode mlflow: the auth database next to the backend's, MLflow asks, Nginx does not."""
    result = wiring(SINGLE, AUTH)[ONE]
    assert result["auth_mode"] == "mlflow"
    assert result["postgres"]["postgres_extra_databases"] == ["mlflow_auth"]
    assert result["mlflow_server"]["mlflow_server_auth"] is True
    assert result["mlflow_server"]["mlflow_server_auth_database_uri"] == (
        "postgresql+psycopg2://mlflow@postgres:5432/mlflow_auth")
    assert result["nginx_proxy"]["nginx_proxy_auth_enabled"] is False


def test_auth_mode_mlflow_on_several_hosts_follows_the_database_settings():
    result = wiring(SPLIT, AUTH, data={**SPLIT_VARS["data"], "postgres_db_name": "tracking",
                                       "postgres_db_user": "ml", "postgres_publish_port": 6432},
                    app1=SPLIT_VARS["app1"], app2=SPLIT_VARS["app2"])
    assert result["data"]["postgres"]["postgres_extra_databases"] == ["tracking_auth"]
    for app in ("app1", "app2"):
        server = result[app]["mlflow_server"]
        assert server["mlflow_server_auth"] is True
        assert server["mlflow_server_backend_store_uri"] == "postgresql+psycopg2://ml@10.0.0.10:6432/tracking"
        assert server["mlflow_server_auth_database_uri"] == "postgresql+psycopg2://ml@10.0.0.10:6432/tracking_auth"
    assert result["app1"]["nginx_proxy"]["nginx_proxy_auth_enabled"] is False


def test_auth_mode_mlflow_without_a_database_host_keeps_the_role_default():
    """Cloud: the managed database is the inventory's; the auth database URI too (else SQLite in the data dir)."""
    result = wiring(inventory(servers=["app1"], proxy=["app1"]), {**CLOUD, "mlflow_auth_mode": "mlflow"})["app1"]
    assert result["mlflow_server"]["mlflow_server_auth"] is True
    assert "mlflow_server_auth_database_uri" not in result["mlflow_server"]


@pytest.mark.parametrize("mode", ["basic", "", "MLFLOW", None])
def test_bad_auth_mode(mode):
    hostvars = host_vars(SINGLE, {**SITE, "mlflow_auth_mode": mode})
    if mode is None:  # null in the inventory: the default
        assert stack(hostvars, SINGLE, ONE)["auth_mode"] == "nginx"
        return
    assert error_of(hostvars, SINGLE, ONE) == "stack: mlflow_auth_mode must be nginx or mlflow"


def test_every_host_of_the_stage_gets_every_part():
    for groups, variables in ((SINGLE, {}), (SPLIT, SPLIT_VARS), (APART, {})):
        for name, result in wiring(groups, **variables).items():
            assert PARTS <= set(result), name


# ------------------------------------------------------------------ values set in the inventory


def test_server_overrides():
    """A server's own port and a wildcard bind address: Nginx uses the port and the server's address."""
    result = wiring(SPLIT, app1={**SPLIT_VARS["app1"], "mlflow_server_host_port": 5101},
                    app2={**SPLIT_VARS["app2"], "mlflow_server_bind_address": "0.0.0.0"}, data=SPLIT_VARS["data"])
    assert result["app1"]["nginx_proxy"]["nginx_proxy_upstreams"] == ["127.0.0.1:5101", "10.0.0.22:5001"]

    result = wiring(SPLIT, app1={**SPLIT_VARS["app1"], "mlflow_server_bind_address": "::"},
                    app2={**SPLIT_VARS["app2"], "mlflow_server_bind_address": "10.9.9.9", "mlflow_server_host_port": 5002},
                    data=SPLIT_VARS["data"])
    assert result["app1"]["nginx_proxy"]["nginx_proxy_upstreams"] == ["10.0.0.21:5001", "10.9.9.9:5002"]

    result = wiring(SINGLE, mlflow_example_com={"ansible_host": "192.0.2.10", "mlflow_server_bind_address": "0.0.0.0"})
    assert result[ONE]["nginx_proxy"]["nginx_proxy_upstreams"] == ["192.0.2.10:5001"]
    # the host's own variable wins in the role; the stack still gives its own value
    assert result[ONE]["mlflow_server"]["mlflow_server_bind_address"] == "127.0.0.1"


def test_object_store_published_everywhere():
    """minio_bind_address 0.0.0.0 on the object store host: Nginx and backups reach it on 127.0.0.1."""
    for wildcard in ("0.0.0.0", "::", ""):
        result = wiring(SINGLE, mlflow_example_com={"ansible_host": "192.0.2.10", "minio_bind_address": wildcard})[ONE]
        assert result["nginx_proxy"]["nginx_proxy_s3_upstreams"] == ["127.0.0.1:9000"], wildcard
        assert result["s3_local"]["url"] == "http://127.0.0.1:9000", wildcard
        assert result["minio"]["minio_bind_address"] == "127.0.0.1"

    result = wiring(SINGLE, mlflow_example_com={"minio_bind_address": "10.9.9.9"})[ONE]
    assert result["nginx_proxy"]["nginx_proxy_s3_upstreams"] == ["10.9.9.9:9000"]
    assert result["s3_local"]["url"] == "http://10.9.9.9:9000"


def test_object_store_port_and_names():
    data = {**SPLIT_VARS["data"], "minio_api_port": 9100, "minio_bind_address": "0.0.0.0",
            "minio_mlflow_access_key": "tracking", "minio_mlflow_bucket": "other"}
    result = wiring(SPLIT, {**SITE, "mlflow_artifacts_presigned": False}, data=data,
                    app1=SPLIT_VARS["app1"], app2=SPLIT_VARS["app2"])
    assert result["data"]["s3_local"] == {"url": "http://127.0.0.1:9100", "bucket": "other", "access_key": "tracking"}
    server = result["app2"]["mlflow_server"]
    assert server["mlflow_server_s3_endpoint_url"] == "http://10.0.0.10:9100"
    assert server["mlflow_server_aws_access_key_id"] == "tracking"
    assert server["mlflow_server_wait_for"][1] == {"host": "10.0.0.10", "port": 9100}
    assert result["app1"]["nginx_proxy"]["nginx_proxy_s3_upstreams"] == ["10.0.0.10:9100"]

    # on the same host: the container port on the network, whatever the host port
    result = wiring(SINGLE, mlflow_example_com={"minio_api_port": 9100, "minio_network_aliases": ["s3", "minio"],
                                                "minio_container_name": "seaweedfs"})[ONE]
    assert result["mlflow_server"]["mlflow_server_s3_endpoint_url"] == S3_URL
    assert result["nginx_proxy"]["nginx_proxy_s3_upstreams"] == ["127.0.0.1:9100"]
    assert result["mlflow_server"]["mlflow_server_wait_for"][1] == {"container": "seaweedfs"}
    result = wiring(SINGLE, {**SITE, "mlflow_artifacts_presigned": False},
                    mlflow_example_com={"minio_api_port": 9100, "minio_network_aliases": ["s3", "minio"]})[ONE]
    assert result["mlflow_server"]["mlflow_server_s3_endpoint_url"] == "http://s3:9000"


def test_database_overrides():
    data = {**SPLIT_VARS["data"], "postgres_publish_port": 6432, "postgres_db_user": "tracking",
            "postgres_db_name": "tracking_db"}
    result = wiring(SPLIT, data=data, app1=SPLIT_VARS["app1"], app2=SPLIT_VARS["app2"])
    server = result["app2"]["mlflow_server"]
    assert server["mlflow_server_backend_store_uri"] == "postgresql+psycopg2://tracking@10.0.0.10:6432/tracking_db"
    assert server["mlflow_server_wait_for"][0] == {"host": "10.0.0.10", "port": 6432}

    result = wiring(SINGLE, mlflow_example_com={"postgres_network_aliases": ["pg", "db"], "postgres_port": 5433,
                                                "postgres_publish_port": 6432, "postgres_container_name": "pg16"})[ONE]
    server = result["mlflow_server"]
    assert server["mlflow_server_backend_store_uri"] == "postgresql+psycopg2://mlflow@pg:5433/mlflow"
    assert server["mlflow_server_wait_for"][0] == {"container": "pg16"}


def test_null_in_the_inventory_is_the_role_default():
    result = wiring(SPLIT, data={**SPLIT_VARS["data"], "minio_api_port": None, "postgres_publish_port": None},
                    app1=SPLIT_VARS["app1"], app2=SPLIT_VARS["app2"])
    assert result["app2"]["mlflow_server"]["mlflow_server_wait_for"] == [
        {"host": "10.0.0.10", "port": 5432}, {"host": "10.0.0.10", "port": 9000}]


# ------------------------------------------------------------------ flags and errors


@pytest.mark.parametrize("value, expected", [
    ("false", False), ("False", False), ("no", False), ("0", False), (0, False),
    ("true", True), ("True", True), ("yes", True), ("1", True), (1, True),
])
def test_string_booleans(value, expected):
    site = {**SITE, "mlflow_artifacts_presigned": value, "mlflow_tls_selfsigned": value,
            "mlflow_proxy_selfsigned_cert": CERT, "mlflow_tls_ca_cert": CA}
    result = wiring(SINGLE, site)[ONE]
    assert result["s3_published"] is expected
    assert result["nginx_proxy"]["nginx_proxy_s3_enabled"] is expected
    assert result["nginx_proxy"]["nginx_proxy_tls_selfsigned"] is expected
    assert result["mlflow_server"]["mlflow_server_s3_ca_cert"] == (CERT if expected else "")


@pytest.mark.parametrize("mode", [SECRET, "Proxied", "s3", ""])
def test_bad_artifacts_mode(mode):
    """Anything but proxied and direct fails, an empty mode too (null is the default, proxied)."""
    hostvars = host_vars(SINGLE, {**SITE, "mlflow_artifacts_mode": mode})
    message = error_of(hostvars, SINGLE, ONE)
    assert message == "stack: mlflow_artifacts_mode must be proxied or direct"
    assert SECRET not in message


@pytest.mark.parametrize("key", ["mlflow_artifacts_presigned", "mlflow_tls_selfsigned"])
@pytest.mark.parametrize("value", [SECRET, "maybe", 2, [True], {"x": 1}])
def test_bad_flag(key, value):
    hostvars = host_vars(SINGLE, {**SITE, key: value})
    message = error_of(hostvars, SINGLE, ONE)
    assert message == "stack: %s of %s must be a boolean" % (key, ONE)
    assert str(value) not in message


def test_bad_groups():
    hostvars = host_vars(SINGLE)
    assert error_of(hostvars, [ONE], ONE) == "stack: groups must be the inventory's groups (a mapping)"
    groups = {**SINGLE, "mlflow_servers": ONE}
    assert error_of(hostvars, groups, ONE) == "stack: groups['mlflow_servers'] must be a list of hosts"


def test_host_without_variables():
    groups = inventory([ONE], [ONE], [ONE, "ghost"], [ONE])
    message = error_of(host_vars(SINGLE), groups, ONE)
    assert message == "stack: host ghost of the inventory has no variables (is it in the inventory?)"
    message = error_of(host_vars(SINGLE), SINGLE, "ghost")
    assert "host ghost" in message


@pytest.mark.parametrize("key", ["postgres_network_aliases", "minio_network_aliases"])
@pytest.mark.parametrize("value", [[], SECRET, {"name": SECRET}])
def test_bad_network_aliases(key, value):
    hostvars = host_vars(SINGLE, **{"mlflow_example_com": {key: value}})
    message = error_of(hostvars, SINGLE, ONE)
    assert message == "stack: %s of %s must be a list with at least one name" % (key, ONE)
    assert SECRET not in message


def test_inputs_are_not_changed_and_results_are_new():
    hostvars = host_vars(SPLIT, **SPLIT_VARS)
    groups = copy.deepcopy(SPLIT)
    before = copy.deepcopy((hostvars, groups))
    first = stack(hostvars, groups, "data")
    first["hosts"]["servers"].append("x")
    first["groups"]["db"] = "x"
    first["minio"]["minio_buckets"][0]["name"] = "x"
    assert (hostvars, groups) == before
    second = stack(hostvars, groups, "data")
    assert second["hosts"]["servers"] == ["app1", "app2"]
    assert second["groups"]["db"] == "mlflow_db"
    assert second["minio"]["minio_buckets"] == [{"name": "mlflow"}]
    assert plugin.GROUPS["db"] == "mlflow_db"


# ------------------------------------------------------------------ found in review (failed before the fix)


def test_presigned_without_a_public_url():
    """No mlflow_public_url and no mlflow_s3_public_url: nothing to sign for, not published (the
    servers gave endpoint None and /etc/hosts {None: ...} before)."""
    result = wiring(SINGLE, {})[ONE]
    assert result["s3_published"] is False and result["s3_public_url"] == ""
    assert result["mlflow_server"]["mlflow_server_s3_endpoint_url"] == "http://minio:9000"
    assert result["mlflow_server"]["mlflow_server_etc_hosts"] == {}
    assert result["nginx_proxy"]["nginx_proxy_s3_enabled"] is False


def test_object_store_bind_address_null():
    """null is unset, everywhere (s3_local gave http://None:9000 before)."""
    result = wiring(SINGLE, mlflow_example_com={"minio_bind_address": None})[ONE]
    assert result["nginx_proxy"]["nginx_proxy_s3_upstreams"] == ["127.0.0.1:9000"]
    assert result["s3_local"]["url"] == "http://127.0.0.1:9000"


def test_a_specific_bind_address_is_where_the_others_connect():
    """The object store / database host binds a specific address: the servers and a remote Nginx
    use it (they used the host's private address before); a wildcard or loopback keeps that."""
    split = {"data": {"mlflow_private_address": "10.0.0.10", "minio_bind_address": "192.168.5.10",
                      "postgres_publish_address": "192.168.5.11"},
             "app1": {"mlflow_private_address": "10.0.0.11"}}
    groups = {"mlflow_db": ["data"], "mlflow_objectstore": ["data"], "mlflow_servers": ["app1"], "mlflow_proxy": ["app1"]}
    result = stack(dict(split), groups, "app1")
    assert result["mlflow_server"]["mlflow_server_backend_store_uri"] == "postgresql+psycopg2://mlflow@192.168.5.11:5432/mlflow"
    assert result["mlflow_server"]["mlflow_server_wait_for"] == [{"host": "192.168.5.11", "port": 5432},
                                                                 {"host": "192.168.5.10", "port": 9000}]
    assert result["nginx_proxy"]["nginx_proxy_s3_upstreams"] == ["192.168.5.10:9000"]
    split["data"].update(minio_bind_address="0.0.0.0", postgres_publish_address="127.0.0.1")
    result = stack(dict(split), groups, "app1")
    assert result["nginx_proxy"]["nginx_proxy_s3_upstreams"] == ["10.0.0.10:9000"]
    assert "@10.0.0.10:5432/" in result["mlflow_server"]["mlflow_server_backend_store_uri"]


def test_an_ipv6_public_url_keeps_its_brackets():
    result = stack({"h": {"mlflow_public_url": "https://[2001:db8::1]/mlflow/"}}, {"mlflow_servers": ["h"]}, "h")
    assert result["s3_public_url"] == "https://[2001:db8::1]:9443"


# ------------------------------------------------------------------ roles, registration, documentation

ROLES = ("postgres", "minio", "mlflow_server", "nginx_proxy", "sqlite_migration", "prometheus")
STACK_DEFAULT = re.compile(r"^\{\{\s*__(\w+)_stack\.(\w+)\.(\w+)\s*\|\s*default\((.*)\)\s*\}\}$")


def role_defaults(role):
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text(encoding="utf-8"))


def literal(value):
    """A default's value; for `{{ __<role>_stack.<part>.<key> | default(X) }}`, X (a Jinja literal, read as YAML)."""
    match = STACK_DEFAULT.match(value.strip()) if isinstance(value, str) else None
    return yaml.safe_load(match.group(4)) if match else value


# ------------------------------------------------------------------ metrics (mlflow_monitoring)

# every exporter switched on (the site's group_vars)
METRICS_ON = {"mlflow_server_metrics": True, "nginx_proxy_metrics": True, "postgres_exporter": True,
              "minio_metrics": True}
# one host in every group, Prometheus on it too (molecule/production)
MONITORED = inventory([ONE], [ONE], [ONE], [ONE], mlflow_monitoring=[ONE])


def jobs(result):
    return {job["job"]: (job["metrics_path"], job["targets"]) for job in result["prometheus"]["prometheus_scrape_jobs"]}


def test_monitoring_on_the_single_machine_keeps_everything_on_the_loopback():
    result = wiring(MONITORED, {**SITE, **METRICS_ON})[ONE]
    assert "mlflow_server_allowed_hosts" not in result["mlflow_server"]  # Prometheus asks on 127.0.0.1
    assert jobs(result) == {
        "mlflow": ("/metrics", [{"target": "127.0.0.1:5001", "host": ONE}]),
        "nginx": ("/metrics", [{"target": "127.0.0.1:9113", "host": ONE}]),
        "postgres": ("/metrics", [{"target": "127.0.0.1:9187", "host": ONE}]),
        "objectstore": ("/metrics", [{"target": "127.0.0.1:9327", "host": ONE}]),
    }
    assert result["postgres"]["postgres_exporter_publish_address"] == "127.0.0.1"
    assert result["minio"]["minio_metrics_address"] == "127.0.0.1"
    assert result["nginx_proxy"]["nginx_proxy_metrics_exporter_address"] == "127.0.0.1"
    # the rest of the wiring is the single machine's
    plain = wiring(SINGLE)[ONE]
    assert result["mlflow_server"] == plain["mlflow_server"]
    assert {k: v for k, v in result["nginx_proxy"].items() if "metrics" not in k} == plain["nginx_proxy"]


def test_no_monitoring_group_no_metrics_keys():
    for result in wiring(SINGLE, {**SITE, **METRICS_ON}).values():
        assert "prometheus" not in result
        assert "postgres_exporter_publish_address" not in result["postgres"]
        assert "nginx_proxy_metrics_exporter_address" not in result["nginx_proxy"]


def test_exporters_switched_off_give_no_jobs():
    result = wiring(MONITORED)[ONE]
    assert result["prometheus"] == {"prometheus_scrape_jobs": []}
    result = wiring(MONITORED, {**SITE, "postgres_exporter": "yes"})[ONE]
    assert list(jobs(result)) == ["postgres"]


def test_monitoring_on_its_own_host():
    """Prometheus on mon1, the rest split: every exporter on its host's private address, and the MLflow
    servers leave the loopback (Prometheus scrapes them from another host)."""
    groups = inventory(["data"], ["data"], ["app1", "app2"], ["app1"], mlflow_monitoring=["mon1"])
    variables = {**SPLIT_VARS, "mon1": {"mlflow_private_address": "10.0.0.99"}}
    result = wiring(groups, {**SITE, **METRICS_ON}, **variables)
    assert "postgres" not in result["mon1"] and set(result["mon1"]) == TOP | {"prometheus"}
    assert jobs(result["mon1"]) == {
        "mlflow": ("/metrics", [{"target": "10.0.0.21:5001", "host": "app1"},
                                {"target": "10.0.0.22:5001", "host": "app2"}]),
        "nginx": ("/metrics", [{"target": "10.0.0.21:9113", "host": "app1"}]),
        "postgres": ("/metrics", [{"target": "10.0.0.10:9187", "host": "data"}]),
        "objectstore": ("/metrics", [{"target": "10.0.0.10:9327", "host": "data"}]),
    }
    assert result["data"]["postgres"]["postgres_exporter_publish_address"] == "10.0.0.10"
    assert result["data"]["minio"]["minio_metrics_address"] == "10.0.0.10"
    assert result["app1"]["nginx_proxy"]["nginx_proxy_metrics_exporter_address"] == "10.0.0.21"
    assert "prometheus" not in result["app1"]
    # MLflow's security middleware lets Prometheus' Host header (address:port) through on both servers
    assert result["app1"]["mlflow_server"]["mlflow_server_allowed_hosts"] == ["10.0.0.21:5001"]
    assert result["app2"]["mlflow_server"]["mlflow_server_allowed_hosts"] == ["10.0.0.22:5001"]
    assert "mlflow_server_allowed_hosts" not in result["data"]["mlflow_server"]
    off = wiring(groups, {**SITE, **METRICS_ON, "mlflow_server_metrics": False}, **variables)
    assert "mlflow_server_allowed_hosts" not in off["app1"]["mlflow_server"]


def test_single_machine_with_prometheus_elsewhere_binds_the_server_to_its_address():
    groups = inventory([ONE], [ONE], [ONE], [ONE], mlflow_monitoring=["mon1"])
    result = wiring(groups, {**SITE, **METRICS_ON}, mlflow_example_com={"mlflow_private_address": "10.0.0.5"})
    assert result[ONE]["mlflow_server"]["mlflow_server_bind_address"] == "10.0.0.5"
    assert result[ONE]["nginx_proxy"]["nginx_proxy_upstreams"] == ["10.0.0.5:5001"]
    assert jobs(result["mon1"])["mlflow"] == ("/metrics", [{"target": "10.0.0.5:5001", "host": ONE}])


def test_exporter_ports_and_bind_addresses_set_in_the_inventory():
    result = wiring(MONITORED, {**SITE, **METRICS_ON}, mlflow_example_com={
        "postgres_exporter_port": 9999, "nginx_proxy_metrics_exporter_port": 9998, "minio_metrics_port": 9997,
        "mlflow_server_host_port": 5005, "postgres_exporter_publish_address": "10.1.1.1",
        "minio_metrics_address": "0.0.0.0", "nginx_proxy_metrics_exporter_address": None})[ONE]
    targets = {job: t[0]["target"] for job, (_, t) in jobs(result).items()}
    assert targets == {"mlflow": "127.0.0.1:5005", "nginx": "127.0.0.1:9998", "postgres": "10.1.1.1:9999",
                       "objectstore": "127.0.0.1:9997"}


def test_minio_engine_has_no_objectstore_job():
    result = wiring(MONITORED, {**SITE, **METRICS_ON, "minio_engine": "minio"})[ONE]
    assert "objectstore" not in jobs(result)


@pytest.mark.parametrize("key", sorted(METRICS_ON))
def test_bad_metrics_flag(key):
    hostvars = host_vars(MONITORED, {**SITE, key: "sometimes"})
    message = error_of(hostvars, MONITORED, ONE)
    assert key in message and "sometimes" not in message


def test_bad_monitoring_group():
    groups = {**SINGLE, "mlflow_monitoring": "mon1"}
    assert "mlflow_monitoring" in error_of(host_vars(SINGLE), groups, ONE)


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_defaults_are_the_roles(key):
    role = next(role for role in ("postgres", "minio", "mlflow_server", "nginx_proxy", "docker")
                if key.startswith(role + "_"))
    defaults = role_defaults(role)
    assert key in defaults, "%s is not in roles/%s/defaults/main.yml" % (key, role)
    value = literal(defaults[key])
    assert value == DEFAULTS[key]
    assert type(value) is type(DEFAULTS[key])


def _produced():
    """The keys the filter gives each role, over inventories that need all of them."""
    produced = {part: set() for part in PARTS | {"prometheus"}}
    cases = [(SINGLE, SITE, {}), (SPLIT, SITE, SPLIT_VARS), (APART, SITE, {}),
             (SINGLE, {**SITE, "mlflow_artifacts_mode": "direct"}, {}), (SPLIT, AUTH, SPLIT_VARS),
             (MONITORED, {**SITE, **METRICS_ON}, {}),
             (inventory(["data"], ["data"], ["app1", "app2"], ["app1"], mlflow_monitoring=["mon1"]),
              {**SITE, **METRICS_ON}, SPLIT_VARS)]
    for groups, site, variables in cases:
        for result in wiring(groups, site, **variables).values():
            for part in produced:
                produced[part] |= set(result.get(part, {}))
    return produced


def test_the_roles_read_every_key():
    """Each role's defaults read exactly the keys the filter gives it (`__<role>_stack.<role>.<key>`),
    and fall back to a literal."""
    produced = _produced()
    for role in ROLES:
        read = {}
        for key, value in role_defaults(role).items():
            match = STACK_DEFAULT.match(value.strip()) if isinstance(value, str) else None
            if match:
                assert match.group(1) == role and match.group(2) == role, key
                assert match.group(3) == key, key
                yaml.safe_load(match.group(4))
                read[key] = match.group(3)
        assert set(read) == produced[role], role
        text = (REPO / "roles" / role / "vars" / "main.yml").read_text(encoding="utf-8")
        assert "__%s_stack: \"{{ hostvars | mlops.mlflow.stack(groups, inventory_hostname) }}\"" % role in text


def test_filter_is_registered():
    assert FilterModule().filters() == {"stack": stack}


def test_documentation():
    """stack.yml documents the options and every key of the result."""
    sidecar = yaml.safe_load((REPO / "plugins" / "filter" / "stack.yml").read_text(encoding="utf-8"))
    doc = sidecar["DOCUMENTATION"]
    assert doc["name"] == "stack"
    assert set(doc["options"]) == {"_input", "groups", "inventory_hostname"}
    assert all(option["required"] for option in doc["options"].values())
    assert yaml.safe_load(sidecar["EXAMPLES"])
    documented = sidecar["RETURN"]["_value"]["contains"]
    assert set(documented) == TOP | PARTS | {"s3_local", "prometheus"}
    assert set(documented["s3_local"]["contains"]) == set(wiring(SINGLE)[ONE]["s3_local"])
    for part, keys in _produced().items():
        assert set(documented[part]["contains"]) == keys, part


# ------------------------------------------------------------------ memo in Ansible's worker processes
@pytest.fixture
def worker_calls(monkeypatch):
    """The filter as in a worker process (memo on); the hosts whose wiring is really computed."""
    calls = []
    real = plugin._stack
    monkeypatch.setattr(plugin, "_stack", lambda *a: calls.append(a[2]) or real(*a))
    monkeypatch.setattr(plugin.multiprocessing, "parent_process", lambda: object())
    monkeypatch.setattr(plugin, "_MEMO", {})
    return calls


def test_a_worker_process_computes_the_wiring_once_per_host(worker_calls):
    """In a worker (one task, one host; variables fixed) the second call reuses the first result,
    as a copy: a caller that changes it does not change the next one."""
    expected = wiring(SPLIT, **SPLIT_VARS)["app1"]
    calls = worker_calls
    calls.clear()  # the expected wiring's own computations
    plugin._MEMO.clear()
    hostvars = host_vars(SPLIT, **SPLIT_VARS)
    first = stack(hostvars, SPLIT, "app1")
    first["public_url"] = "changed by a caller"
    second = stack(hostvars, SPLIT, "app1")
    assert calls == ["app1"]
    assert second == expected
    stack(hostvars, SPLIT, "data")  # another host: computed
    stack(hostvars, SPLIT, "app1")  # one entry only: computed again
    assert calls == ["app1", "data", "app1"]


def test_a_worker_computes_again_when_a_group_of_the_stage_differs(worker_calls):
    """The memo's key holds the members of the stage's groups (a caller may pass groups of its own)."""
    calls = worker_calls
    hostvars = host_vars(SPLIT, **SPLIT_VARS)
    before = stack(hostvars, SPLIT, "app1")
    other = {**copy.deepcopy(SPLIT), "mlflow_proxy": ["app2"]}
    after = stack(hostvars, other, "app1")
    assert calls == ["app1", "app1"]
    assert before["nginx_proxy"] != after["nginx_proxy"]
    stack(hostvars, {**other, "unrelated": ["app1"]}, "app1")  # a group the wiring does not read
    assert calls == ["app1", "app1"]


def test_the_controller_process_never_reuses_a_result(monkeypatch):
    """The controller lives for the whole run (set_fact changes variables between tasks)."""
    calls = []
    real = plugin._stack
    monkeypatch.setattr(plugin, "_stack", lambda *a: calls.append(a[2]) or real(*a))
    monkeypatch.setattr(plugin.multiprocessing, "parent_process", lambda: None)
    hostvars = host_vars(SINGLE)
    before = stack(hostvars, SINGLE, ONE)
    hostvars[ONE]["mlflow_public_url"] = "https://other.example.com/"
    after = stack(hostvars, SINGLE, ONE)
    assert calls == [ONE, ONE]
    assert before["public_url"] != after["public_url"]


class _CountingHostvars(dict):
    """hostvars that count what the filter reads: Ansible computes all of a host's variables when
    one asks hostvars for the host, and templates a variable again on every read."""

    def __init__(self, hostvars):
        super().__init__({name: _CountingVars(self, name, values) for name, values in hostvars.items()})
        self.hosts = []
        self.reads = []

    def __getitem__(self, name):
        self.hosts.append(name)
        return super().__getitem__(name)


class _CountingVars(dict):
    def __init__(self, owner, name, values):
        super().__init__(values)
        self.owner, self.name = owner, name

    def __getitem__(self, key):
        self.owner.reads.append((self.name, key))
        return super().__getitem__(key)


@pytest.mark.parametrize("groups,host", [(SPLIT, "app1"), (SPLIT, "data"), (APART, "web1"),
                                         (inventory(["a"], ["a"], ["a"], ["a"], mlflow_monitoring=["a"]), "a")])
def test_one_computation_reads_each_host_and_variable_once(groups, host):
    """A computation asks hostvars for each host once and reads each of its variables once
    (before: the host itself five times, 13 ms each in a worker)."""
    site = {**SITE, "mlflow_server_metrics": True, "nginx_proxy_metrics": True, "postgres_exporter": True}
    counting = _CountingHostvars(host_vars(groups, site))
    got = stack(counting, groups, host)
    assert got == stack(host_vars(groups, site), groups, host)
    assert counting.hosts and sorted(counting.hosts) == sorted(set(counting.hosts))
    assert counting.reads and sorted(counting.reads) == sorted(set(counting.reads))


def test_a_reused_result_is_a_deep_copy(worker_calls):
    """The copy handed out is the worker's result, nested lists and dicts included, not shared."""
    hostvars = host_vars(APART, SITE)
    first = stack(hostvars, APART, "web1")
    first["nginx_proxy"]["nginx_proxy_upstreams"].append("changed by a caller")
    first["hosts"]["servers"].clear()
    second = stack(hostvars, APART, "web1")
    assert worker_calls == ["web1"]
    assert second == wiring(APART)["web1"]
    assert first["nginx_proxy"]["nginx_proxy_upstreams"] is not second["nginx_proxy"]["nginx_proxy_upstreams"]


# ------------------------------------------------------------------ one apt run per host
def test_packages_of_each_host_are_what_its_roles_install():
    hostvars = host_vars(APART, {**SITE, "mlflow_tls_selfsigned": True, "docker_install_source": "distro"})
    got = {name: stack(hostvars, APART, name)["packages"] for name in APART["all"]}
    assert got == {
        "db1": ["docker.io", "python3-docker", "python3-psycopg2", "python3-requests"],
        "s3-1": ["docker.io", "python3-boto3", "python3-docker", "python3-packaging", "python3-requests", "rclone"],
        "app1": ["docker.io", "python3-docker", "python3-requests"],
        "web1": ["nginx", "python3-cryptography"],  # no container on the proxy-only host
    }


def test_packages_follow_the_roles_variables():
    site = {**SITE, "docker_install_source": "distro", "docker_install_python_sdk": False,
            "postgres_install_client_deps": False, "minio_client_packages": ["python3-boto3"]}
    assert stack(host_vars(SINGLE, site), SINGLE, ONE)["packages"] == ["docker.io", "nginx", "python3-boto3", "rclone"]
    # latest: the docker role upgrades on every run, nothing to batch
    site = {**SITE, "docker_install_source": "distro", "docker_package_state": "latest"}
    assert "docker.io" not in stack(host_vars(SINGLE, site), SINGLE, ONE)["packages"]
    monitor = inventory([ONE], [ONE], [ONE], [ONE], mlflow_monitoring=["mon1"])
    assert stack(host_vars(monitor, {**SITE, "docker_install_source": "distro"}), monitor, "mon1")["packages"] == [
        "docker.io", "python3-docker", "python3-requests"]


@pytest.mark.parametrize("key", ["docker_distro_packages", "minio_client_packages"])
def test_bad_package_list(key):
    assert key in error_of(host_vars(SINGLE, {**SITE, "docker_install_source": "distro", key: "docker.io"}), SINGLE, ONE)
