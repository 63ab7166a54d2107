# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugins of the minio role: the settings it computes from its variables.

mlops.mlflow.minio_container (the engine's image, command, environment, secret mounts and
healthcheck), mlops.mlflow.minio_published_ports, mlops.mlflow.minio_admin_endpoint,
mlops.mlflow.minio_seaweedfs_identities, and mlops.mlflow.minio_running_engine (which engine an
existing container runs, told by the command minio_container gives it). Every input is an
argument: the filters read no variable themselves. Numbers end up in strings the way Jinja's ``~`` writes them (``str()``);
every other value is passed through as given.
"""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

# Documentation: minio_container.yml, minio_published_ports.yml, minio_admin_endpoint.yml and
# minio_seaweedfs_identities.yml next to this file.

ENGINES = ("minio", "seaweedfs")
# Bind addresses that mean "every address": the host reaches the API on the loopback then.
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")
SEAWEEDFS_CONFIG_TARGET = "/etc/seaweedfs/s3.json"
# Vault-encrypted strings, passed through as they are (2.19's EncryptedString is no str).
VAULT_TYPES = ("EncryptedString", "AnsibleVaultEncryptedUnicode")


def _join(*parts):
    """host:port:container_port as Jinja's ``a ~ ':' ~ b`` writes it."""
    return ":".join(str(part) for part in parts)


def _check_engine(name, engine):
    if not isinstance(engine, str) or engine not in ENGINES:
        raise AnsibleFilterError("%s: unknown engine %r, expected one of %s" % (name, engine, ", ".join(ENGINES)))
    return str(engine)


def _check_text(name, what, value):
    """A string, or a vault-encrypted one (ansible-core 2.17 hands those to filters as they are)."""
    if not isinstance(value, str) and type(value).__name__ not in VAULT_TYPES:
        raise AnsibleFilterError("%s: %s must be a string, got %s" % (name, what, type(value).__name__))
    return value


def _is_empty(value):
    return len(str(value)) == 0


def minio_container(engine, minio_image, seaweedfs_image, root_user_file, root_password_file, seaweedfs_config_file,
                    console_enabled=True, seaweedfs_volume_size_limit_mb=1024, seaweedfs_extra_args=None,
                    api_container_port=9000, console_container_port=9001, metrics=False, metrics_container_port=9327):
    """Container settings of the engine: image, command, env, secret_mounts, healthcheck."""
    engine = _check_engine("minio_container", engine)
    if engine == "minio":
        return {
            "image": minio_image,
            "command": ["server", "/data", "--address", ":" + str(api_container_port),
                        "--console-address", ":" + str(console_container_port)],
            "env": {
                # docker-secret names, resolved below /run/secrets by the image
                "MINIO_ROOT_USER_FILE": "minio_root_user",
                "MINIO_ROOT_PASSWORD_FILE": "minio_root_password",
                "MINIO_BROWSER": "on" if console_enabled else "off",
            },
            "secret_mounts": [
                {"source": root_user_file, "target": "/run/secrets/minio_root_user"},
                {"source": root_password_file, "target": "/run/secrets/minio_root_password"},
            ],
            "healthcheck": ["CMD", "mc", "ready", "local"],
        }
    extra = [] if seaweedfs_extra_args is None else seaweedfs_extra_args
    if not isinstance(extra, list):
        raise AnsibleFilterError("minio_container: seaweedfs_extra_args must be a list, got %s" % type(extra).__name__)
    return {
        "image": seaweedfs_image,
        "command": [
            "server",
            # master and volume server listen inside the container only, the S3 gateway on every address
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3.ip.bind=0.0.0.0",
            "-s3", "-s3.port=" + str(api_container_port), "-s3.config=" + SEAWEEDFS_CONFIG_TARGET,
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=" + str(seaweedfs_volume_size_limit_mb),
            "-volume.max=0", "-master.volumePreallocate=false", "-volume.preStopSeconds=1",
        ] + (["-metricsIp=0.0.0.0", "-metricsPort=" + str(metrics_container_port)] if metrics else []) + list(extra),
        "env": {},
        "secret_mounts": [{"source": seaweedfs_config_file, "target": SEAWEEDFS_CONFIG_TARGET}],
        "healthcheck": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:" + str(api_container_port) + "/healthz"],
    }


def minio_published_ports(bind_address, engine, api_port, console_port, console_enabled=True,
                          api_container_port=9000, console_container_port=9001,
                          metrics_address=None, metrics_port=9327, metrics_container_port=9327):
    """published_ports of the container: the S3 API, MinIO's console when it is enabled, and
    SeaweedFS' metrics port on metrics_address when one is given (minio_metrics)."""
    engine = _check_engine("minio_published_ports", engine)
    ports = [_join(bind_address, api_port, api_container_port)]
    if engine == "minio" and console_enabled:
        ports.append(_join(bind_address, console_port, console_container_port))
    if engine == "seaweedfs" and metrics_address:
        ports.append(_join(metrics_address, metrics_port, metrics_container_port))
    return ports


def minio_admin_endpoint(endpoint, bind_address, api_port):
    """The S3 endpoint the host manages buckets through: the given one, else the published API port
    on the bind address (on 127.0.0.1 when the container listens on every address)."""
    endpoint = _check_text("minio_admin_endpoint", "the endpoint", endpoint)
    if not _is_empty(endpoint):
        return endpoint
    host = bind_address if bind_address not in WILDCARD_ADDRESSES else "127.0.0.1"
    return "http://" + str(host) + ":" + str(api_port)


def minio_seaweedfs_identities(root_user, root_password, mlflow_access_key, mlflow_secret_key, mlflow_bucket):
    """SeaweedFS's identities: the root key with every action, the MLflow key limited to its bucket
    (none when the MLflow access key is empty)."""
    mlflow_access_key = _check_text("minio_seaweedfs_identities", "mlflow_access_key", mlflow_access_key)
    identities = [{
        "name": "root",
        "credentials": [{"accessKey": root_user, "secretKey": root_password}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]
    if not _is_empty(mlflow_access_key):
        identities.append({
            "name": "mlflow",
            "credentials": [{"accessKey": mlflow_access_key, "secretKey": mlflow_secret_key}],
            "actions": [action + ":" + str(mlflow_bucket) for action in ("Read", "Write", "List", "Tagging")],
        })
    return identities


def minio_running_engine(command):
    """The engine an existing container of the role runs, told by the command minio_container gives
    it: SeaweedFS's has -s3, MinIO's does not; '' for no container (command None)."""
    if command is None:
        return ""
    if not isinstance(command, (list, tuple)):
        raise AnsibleFilterError("minio_running_engine: the command must be a list, got %s" % type(command).__name__)
    return "seaweedfs" if "-s3" in command else "minio"


class FilterModule:
    """Ansible filters of mlops.mlflow for the minio role."""

    def filters(self):
        return {
            "minio_admin_endpoint": minio_admin_endpoint,
            "minio_container": minio_container,
            "minio_published_ports": minio_published_ports,
            "minio_running_engine": minio_running_engine,
            "minio_seaweedfs_identities": minio_seaweedfs_identities,
        }
