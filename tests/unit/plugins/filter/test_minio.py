# -*- coding: utf-8 -*-
"""Unit tests of the minio role's filters mlops.mlflow.minio_container, minio_published_ports,
minio_admin_endpoint and minio_seaweedfs_identities (plain pytest). That the role renders with
them what it rendered before is test_minio_equivalence.py."""
from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.mlflow.plugins.filter.minio import (
    FilterModule,
    minio_admin_endpoint,
    minio_container,
    minio_published_ports,
    minio_running_engine,
    minio_seaweedfs_identities,
)

FILES = {
    "root_user_file": "/etc/mlops/minio/root_user",
    "root_password_file": "/etc/mlops/minio/root_password",
    "seaweedfs_config_file": "/etc/mlops/minio/seaweedfs-s3.json",
}
IMAGES = {"minio_image": "minio/minio:RELEASE.2025-04-22T22-12-26Z", "seaweedfs_image": "chrislusf/seaweedfs:4.48"}


def container(engine, **kwargs):
    return minio_container(engine, **IMAGES, **FILES, **kwargs)


def test_filter_names():
    assert sorted(FilterModule().filters()) == [
        "minio_admin_endpoint", "minio_container", "minio_published_ports", "minio_running_engine",
        "minio_seaweedfs_identities",
    ]


def test_minio_container():
    assert container("minio") == {
        "image": "minio/minio:RELEASE.2025-04-22T22-12-26Z",
        "command": ["server", "/data", "--address", ":9000", "--console-address", ":9001"],
        "env": {
            "MINIO_ROOT_USER_FILE": "minio_root_user",
            "MINIO_ROOT_PASSWORD_FILE": "minio_root_password",
            "MINIO_BROWSER": "on",
        },
        "secret_mounts": [
            {"source": "/etc/mlops/minio/root_user", "target": "/run/secrets/minio_root_user"},
            {"source": "/etc/mlops/minio/root_password", "target": "/run/secrets/minio_root_password"},
        ],
        "healthcheck": ["CMD", "mc", "ready", "local"],
    }


def test_minio_container_console_off_and_other_ports():
    settings = container("minio", console_enabled=False, api_container_port=9100, console_container_port=9101)
    assert settings["env"]["MINIO_BROWSER"] == "off"
    assert settings["command"] == ["server", "/data", "--address", ":9100", "--console-address", ":9101"]


def test_seaweedfs_container():
    assert container("seaweedfs") == {
        "image": "chrislusf/seaweedfs:4.48",
        "command": [
            "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3.ip.bind=0.0.0.0", "-s3", "-s3.port=9000",
            "-s3.config=/etc/seaweedfs/s3.json", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=1024", "-volume.max=0", "-master.volumePreallocate=false",
            "-volume.preStopSeconds=1",
        ],
        "env": {},
        "secret_mounts": [{"source": "/etc/mlops/minio/seaweedfs-s3.json", "target": "/etc/seaweedfs/s3.json"}],
        "healthcheck": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9000/healthz"],
    }


def test_seaweedfs_extra_args_come_last_as_given_and_the_console_does_not_matter():
    extra = ["-s3.allowEmptyFolder=false", "-volume.readMode=proxy"]
    settings = container("seaweedfs", seaweedfs_extra_args=extra, seaweedfs_volume_size_limit_mb=256,
                         api_container_port=8333, console_enabled=False)
    assert settings["command"][-2:] == extra
    assert "-master.volumeSizeLimitMB=256" in settings["command"] and "-s3.port=8333" in settings["command"]
    assert settings["healthcheck"][-1] == "http://127.0.0.1:8333/healthz"
    assert container("seaweedfs", console_enabled=False) == container("seaweedfs")
    assert extra == ["-s3.allowEmptyFolder=false", "-volume.readMode=proxy"]  # not modified


def test_every_call_returns_new_lists():
    first = container("seaweedfs")
    first["command"].append("-x")
    first["healthcheck"].clear()
    assert container("seaweedfs")["command"][-1] == "-volume.preStopSeconds=1"
    assert container("seaweedfs")["healthcheck"][0] == "CMD"


@pytest.mark.parametrize("engine", ["MinIO", "garage", "", None, ["minio"]])
def test_unknown_engine_is_refused(engine):
    with pytest.raises(AnsibleFilterError, match=r"minio_container: unknown engine .*expected one of minio, seaweedfs"):
        container(engine)
    with pytest.raises(AnsibleFilterError, match=r"minio_published_ports: unknown engine"):
        minio_published_ports("127.0.0.1", engine, 9000, 9001)


@pytest.mark.parametrize("extra", ["-volume.readMode=proxy", ("-a",), {"a": 1}])
def test_seaweedfs_extra_args_must_be_a_list(extra):
    with pytest.raises(AnsibleFilterError, match="seaweedfs_extra_args must be a list"):
        container("seaweedfs", seaweedfs_extra_args=extra)


@pytest.mark.parametrize(
    "engine, console, expected",
    [
        ("minio", True, ["127.0.0.1:9000:9000", "127.0.0.1:9001:9001"]),
        ("minio", False, ["127.0.0.1:9000:9000"]),
        ("seaweedfs", True, ["127.0.0.1:9000:9000"]),  # no console
        ("seaweedfs", False, ["127.0.0.1:9000:9000"]),
    ],
)
def test_published_ports(engine, console, expected):
    assert minio_published_ports("127.0.0.1", engine, 9000, 9001, console_enabled=console) == expected


def test_published_ports_other_addresses_and_ports():
    assert minio_published_ports("0.0.0.0", "minio", 19000, 19001, api_container_port=9100,
                                 console_container_port=9101) == ["0.0.0.0:19000:9100", "0.0.0.0:19001:9101"]
    # written as Jinja's ~ wrote it
    assert minio_published_ports("::", "seaweedfs", "9000", 9001) == [":::9000:9000"]


def test_seaweedfs_metrics():
    """minio_metrics: SeaweedFS' metrics port listens on every address of the container (its -ip.bind is
    127.0.0.1) and is published on the metrics address only; MinIO gets no extra port."""
    command = container("seaweedfs", metrics=True)["command"]
    assert command[-2:] == ["-metricsIp=0.0.0.0", "-metricsPort=9327"]
    assert container("seaweedfs", metrics=True, seaweedfs_extra_args=["-x"])["command"][-3:] == [
        "-metricsIp=0.0.0.0", "-metricsPort=9327", "-x"]
    assert not [arg for arg in container("seaweedfs")["command"] if "metrics" in arg]
    assert minio_published_ports("127.0.0.1", "seaweedfs", 9000, 9001, metrics_address="127.0.0.1") == [
        "127.0.0.1:9000:9000", "127.0.0.1:9327:9327"]
    assert minio_published_ports("127.0.0.1", "seaweedfs", 9000, 9001, metrics_address="10.0.0.10",
                                 metrics_port=19327) == ["127.0.0.1:9000:9000", "10.0.0.10:19327:9327"]
    assert minio_published_ports("127.0.0.1", "seaweedfs", 9000, 9001, metrics_address=None) == ["127.0.0.1:9000:9000"]
    assert minio_published_ports("127.0.0.1", "minio", 9000, 9001, console_enabled=False,
                                 metrics_address="127.0.0.1") == ["127.0.0.1:9000:9000"]


@pytest.mark.parametrize(
    "bind, expected",
    [
        ("127.0.0.1", "http://127.0.0.1:9000"),
        ("10.20.30.40", "http://10.20.30.40:9000"),
        ("0.0.0.0", "http://127.0.0.1:9000"),  # every address: the loopback
        ("::", "http://127.0.0.1:9000"),
        ("", "http://127.0.0.1:9000"),
    ],
)
def test_admin_endpoint_from_the_bind_address(bind, expected):
    assert minio_admin_endpoint("", bind_address=bind, api_port=9000) == expected


def test_admin_endpoint_given_wins():
    assert minio_admin_endpoint("https://s3.example.com", bind_address="0.0.0.0", api_port=9000) == "https://s3.example.com"
    assert minio_admin_endpoint("", bind_address="127.0.0.1", api_port=19000) == "http://127.0.0.1:19000"


@pytest.mark.parametrize("endpoint", [None, 9000, ["http://x"]])
def test_admin_endpoint_must_be_a_string(endpoint):
    with pytest.raises(AnsibleFilterError, match="minio_admin_endpoint: the endpoint must be a string"):
        minio_admin_endpoint(endpoint, bind_address="127.0.0.1", api_port=9000)


def test_seaweedfs_identities_root_and_mlflow():
    identities = minio_seaweedfs_identities("mlops-admin", "root-secret", "mlflow", "mlflow-secret", "artifacts")
    assert identities == [
        {
            "name": "root",
            "credentials": [{"accessKey": "mlops-admin", "secretKey": "root-secret"}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        },
        {
            "name": "mlflow",
            "credentials": [{"accessKey": "mlflow", "secretKey": "mlflow-secret"}],
            "actions": ["Read:artifacts", "Write:artifacts", "List:artifacts", "Tagging:artifacts"],
        },
    ]
    # what configure.yml writes: JSON SeaweedFS reads
    assert json.loads(json.dumps({"identities": identities}))["identities"][1]["name"] == "mlflow"


def test_seaweedfs_identities_without_mlflow_key():
    identities = minio_seaweedfs_identities("mlops-admin", "root-secret", mlflow_access_key="",
                                            mlflow_secret_key="", mlflow_bucket="mlflow")
    assert [identity["name"] for identity in identities] == ["root"]


def test_seaweedfs_identities_access_key_must_be_a_string():
    with pytest.raises(AnsibleFilterError, match="mlflow_access_key must be a string"):
        minio_seaweedfs_identities("root", "secret", None, "", "mlflow")


class AnsibleVaultEncryptedUnicode:
    """Stands in for ansible-core 2.17's vault-encrypted string (no str subclass), as filters get it."""

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


def test_vault_encrypted_strings_are_passed_through():
    key = AnsibleVaultEncryptedUnicode("mlflow")
    identities = minio_seaweedfs_identities("root", "secret", key, "s", "mlflow")
    assert identities[1]["credentials"][0]["accessKey"] is key
    assert len(minio_seaweedfs_identities("root", "secret", AnsibleVaultEncryptedUnicode(""), "", "mlflow")) == 1
    endpoint = AnsibleVaultEncryptedUnicode("https://s3.example.com")
    assert minio_admin_endpoint(endpoint, bind_address="127.0.0.1", api_port=9000) is endpoint
    assert minio_admin_endpoint(AnsibleVaultEncryptedUnicode(""), bind_address="127.0.0.1", api_port=9000) == "http://127.0.0.1:9000"


@pytest.mark.parametrize("engine", ["minio", "seaweedfs"])
def test_running_engine_is_told_by_the_command_the_role_gives(engine):
    command = container(engine, seaweedfs_extra_args=["-filer.maxMB=8"])["command"]
    assert minio_running_engine(command) == engine


def test_running_engine_without_container_and_bad_input():
    assert minio_running_engine(None) == ""
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        minio_running_engine("server -s3")
