# -*- coding: utf-8 -*-
"""Unit tests of the mlflow_server role's filters (plugins/filter/mlflow_server.py, plain pytest).
That the role renders with them what it rendered before is test_mlflow_server_equivalence.py."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.mlflow.plugins.filter.mlflow_server import (
    FilterModule,
    mlflow_server_auth_problems,
    mlflow_server_backend,
    mlflow_server_ca_mounts,
    mlflow_server_command,
    mlflow_server_constraints,
    mlflow_server_environment,
    mlflow_server_middleware,
    mlflow_server_required_secrets,
    mlflow_server_requirements,
    mlflow_server_secret_mounts,
    mlflow_server_secret_paths,
    mlflow_server_wait_host,
)

LOCALHOST = ["localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[[]::1]:*"]
AWS_CREDENTIAL_ENV = ["AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                      "AWS_CONTAINER_CREDENTIALS_FULL_URI"]
POSTGRES = "postgresql+psycopg2://mlflow@postgres:5432/mlflow"
SECRET = "S3cr3t-unit-9f2k"


class AnsibleVaultEncryptedUnicode:
    """Stands in for ansible-core 2.17's vault-encrypted string (no str subclass), as filters get it."""

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text

    def __len__(self):
        return len(self.text)


def test_filter_names():
    assert sorted(FilterModule().filters()) == [
        "mlflow_server_auth_problems", "mlflow_server_backend", "mlflow_server_ca_mounts", "mlflow_server_command", "mlflow_server_constraints",
        "mlflow_server_environment", "mlflow_server_middleware", "mlflow_server_required_secrets",
        "mlflow_server_requirements", "mlflow_server_secret_mounts", "mlflow_server_secret_paths",
        "mlflow_server_wait_host",
    ]


# ---------------------------------------------------------------- requirements and constraints
def requirements(version="3.17.2", **kwargs):
    return mlflow_server_requirements(version, psycopg2_version="2.9.13", boto3_version="1.44.8", **kwargs)


def test_requirements_pin_mlflow_and_the_drivers():
    assert requirements() == ["mlflow==3.17.2", "psycopg2-binary==2.9.13", "boto3==1.44.8"]


def test_requirements_with_every_extra_in_order():
    extra = ["mlflow-oidc-auth==5.1.0"]
    assert requirements(
        extras=["auth", "gateway"], install_prometheus=True, prometheus_flask_exporter_version="0.23.2",
        install_azure=True, azure_storage_blob_version="12.31.1", install_gcs=True,
        google_cloud_storage_version="3.17.1", extra=extra,
    ) == [
        "mlflow[auth,gateway]==3.17.2", "psycopg2-binary==2.9.13", "boto3==1.44.8",
        "prometheus-flask-exporter==0.23.2", "azure-storage-blob==12.31.1", "google-cloud-storage==3.17.1",
        "mlflow-oidc-auth==5.1.0",
    ]
    assert extra == ["mlflow-oidc-auth==5.1.0"]  # not modified


def test_requirements_write_numbers_as_jinja_does():
    assert mlflow_server_requirements(3.7, psycopg2_version=2.9, boto3_version=1)[:3] == [
        "mlflow==3.7", "psycopg2-binary==2.9", "boto3==1"]
    # the versions of extras that are not installed do not matter
    assert requirements(prometheus_flask_exporter_version=None, install_azure=False) == requirements()


@pytest.mark.parametrize("kwargs, what", [({"extra": "x==1"}, "extra"), ({"extras": "auth"}, "extras")])
def test_requirements_lists_must_be_lists(kwargs, what):
    with pytest.raises(AnsibleFilterError, match="mlflow_server_requirements: %s must be a list, got str" % what):
        requirements(**kwargs)


@pytest.mark.parametrize(
    "version, expected",
    [
        ("3.7.0", ["sqlalchemy<2.1"]),
        ("3.16.9", ["sqlalchemy<2.1"]),
        ("3.7", ["sqlalchemy<2.1"]),
        (3.7, ["sqlalchemy<2.1"]),  # an unquoted YAML version
        ("3.17", []),
        ("3.17.0", []),
        ("3.17.0rc1", []),  # loose versions: 3.17.0rc1 is after 3.17
        ("3.17.2", []),
        ("4.0.0", []),
    ],
)
def test_constraints_pin_sqlalchemy_before_3_17(version, expected):
    assert mlflow_server_constraints(version) == expected
    assert mlflow_server_constraints(version, ["numpy<3"]) == expected + ["numpy<3"]


@pytest.mark.parametrize("version, match", [("", "the MLflow version is empty"), (None, "the MLflow version is empty"),
                                            ("3.x.1", "cannot compare the MLflow version 3.x.1 with 3.17")])
def test_constraints_refuse_a_version_they_cannot_compare(version, match):
    with pytest.raises(AnsibleFilterError, match=match):
        mlflow_server_constraints(version)


def test_constraints_extra_must_be_a_list():
    with pytest.raises(AnsibleFilterError, match="extra must be a list"):
        mlflow_server_constraints("3.17.2", "numpy<3")


# ---------------------------------------------------------------- command
def command(extra_args=(), **kwargs):
    settings = {"default_artifact_root": "mlflow-artifacts:/", "workers": 4,
                "artifacts_destination": "/mlflow/data/artifacts"}
    settings.update(kwargs)
    return mlflow_server_command(list(extra_args), **settings)


def test_command_serving_artifacts():
    assert command() == [
        "mlflow", "server", "--host", "0.0.0.0", "--port", "5000", "--workers", "4",
        "--serve-artifacts", "--artifacts-destination", "/mlflow/data/artifacts",
        "--default-artifact-root", "mlflow-artifacts:/",
    ]


def test_command_without_serving_with_prefix_and_extra_args_last():
    assert command(["--expose-prometheus", "/mlflow/data/metrics", 30], serve_artifacts=False,
                   default_artifact_root="s3://mlflow/artifacts", static_prefix="/mlflow", workers="2", port=5005) == [
        "mlflow", "server", "--host", "0.0.0.0", "--port", "5005", "--workers", "2", "--no-serve-artifacts",
        "--default-artifact-root", "s3://mlflow/artifacts", "--static-prefix", "/mlflow",
        "--expose-prometheus", "/mlflow/data/metrics", "30",
    ]


def test_command_with_metrics_before_the_extra_args():
    assert command(["--gunicorn-opts", "x"], expose_prometheus="/mlflow/metrics")[-4:] == [
        "--expose-prometheus", "/mlflow/metrics", "--gunicorn-opts", "x"]
    assert "--expose-prometheus" not in command(expose_prometheus="")


def test_command_with_the_auth_app_before_the_extra_args():
    assert command(["--gunicorn-opts", "x"], expose_prometheus="/m", app_name="basic-auth")[-6:] == [
        "--expose-prometheus", "/m", "--app-name", "basic-auth", "--gunicorn-opts", "x"]
    assert "--app-name" not in command(app_name="")


def test_command_refuses_what_jinja_could_not_measure_or_would_split():
    with pytest.raises(AnsibleFilterError, match="mlflow_server_command: static_prefix must be a string, got NoneType"):
        command(static_prefix=None)
    # a string would have become one argument per character
    with pytest.raises(AnsibleFilterError, match="mlflow_server_command: extra_args must be a list, got str"):
        mlflow_server_command("--expose-prometheus", default_artifact_root="mlflow-artifacts:/", workers=4)


# ---------------------------------------------------------------- middleware
def middleware(url, allowed_hosts=(), cors=(), disable=False):
    return mlflow_server_middleware(url, list(allowed_hosts), list(cors), LOCALHOST, disable_security_middleware=disable)


def test_middleware_without_public_url_keeps_mlflows_defaults():
    assert middleware("") == {
        "host": "", "default_port": 80, "port": 80, "origin": "://",
        "allowed_hosts": [], "allowed_hosts_env": [], "cors_allowed_origins": [], "env": {},
    }


def test_middleware_of_an_https_url_with_a_path():
    settings = middleware("https://mlflow.example.com/mlflow/")
    assert settings["allowed_hosts"] == ["mlflow.example.com", "mlflow.example.com:443"]
    assert settings["allowed_hosts_env"] == ["mlflow.example.com", "mlflow.example.com:443"] + LOCALHOST
    assert settings["cors_allowed_origins"] == ["https://mlflow.example.com"]
    assert settings["env"] == {
        "MLFLOW_SERVER_ALLOWED_HOSTS": ",".join(settings["allowed_hosts_env"]),
        "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": "https://mlflow.example.com",
    }
    assert (settings["host"], settings["default_port"], settings["port"]) == ("mlflow.example.com", 443, 443)


@pytest.mark.parametrize(
    "url, host, port, origin",
    [
        ("http://mlflow.internal:8080", "mlflow.internal", 8080, "http://mlflow.internal:8080"),
        ("http://10.0.0.5", "10.0.0.5", 80, "http://10.0.0.5"),
        ("https://MLflow.Example.COM:443/", "mlflow.example.com", 443, "https://mlflow.example.com"),  # default port: none
        ("http://mlflow.example.com:443/", "mlflow.example.com", 443, "http://mlflow.example.com:443"),
        ("https://mlflow.example.com:8443/a/b?x=1", "mlflow.example.com", 8443, "https://mlflow.example.com:8443"),
        ("https://mlflow.example.com:0/", "mlflow.example.com", 443, "https://mlflow.example.com"),  # port 0: default
        # IPv6 (validate.yml refuses it): the host without brackets, as before
        ("https://[fd00::5]:8443/", "fd00::5", 8443, "https://fd00::5:8443"),
    ],
)
def test_middleware_host_port_and_origin(url, host, port, origin):
    settings = middleware(url)
    assert (settings["host"], settings["port"], settings["origin"]) == (host, port, origin)
    assert settings["allowed_hosts"] == [host, "%s:%d" % (host, port)]


def test_middleware_lists_are_deduplicated_case_insensitively_first_kept():
    settings = middleware("https://mlflow.example.com", ["MLFLOW.example.com", "mlflow.example.com:443", "mlflow.internal", 8080],
                          ["https://MLflow.example.com", "https://notebooks.example.com"])
    assert settings["allowed_hosts"] == ["mlflow.example.com", "mlflow.example.com:443", "mlflow.internal", 8080]
    assert settings["env"]["MLFLOW_SERVER_ALLOWED_HOSTS"].startswith("mlflow.example.com,mlflow.example.com:443,mlflow.internal,8080,")
    assert settings["cors_allowed_origins"] == ["https://mlflow.example.com", "https://notebooks.example.com"]


def test_middleware_allowed_hosts_without_public_url_and_the_switch():
    settings = middleware("", ["mlflow.internal:*"], ["https://x.example.com"], disable=True)
    assert settings["allowed_hosts_env"] == ["mlflow.internal:*"] + LOCALHOST
    assert settings["env"] == {
        "MLFLOW_SERVER_ALLOWED_HOSTS": ",".join(["mlflow.internal:*"] + LOCALHOST),
        "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": "https://x.example.com",
        "MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE": "true",
    }


@pytest.mark.parametrize("url, match", [
    ("https://mlflow.example.com:99999/", "the public URL cannot be parsed: Port out of range"),
    ("https://mlflow.example.com:port/", "the public URL cannot be parsed"),
    (None, "the public URL must be a string, got NoneType"),
])
def test_middleware_refuses_urls_it_cannot_read(url, match):
    with pytest.raises(AnsibleFilterError, match="mlflow_server_middleware: " + match):
        middleware(url)


def test_middleware_refuses_what_is_no_list_of_strings():
    with pytest.raises(AnsibleFilterError, match="allowed_hosts must be a list, got str"):
        mlflow_server_middleware("", "mlflow.internal", [], LOCALHOST)
    with pytest.raises(AnsibleFilterError, match="cors_allowed_origins must be a list of strings, got a dict in it"):
        middleware("", cors=[{"origin": "x"}])


# ---------------------------------------------------------------- secret files
def test_secret_mounts_read_only_binds_in_order():
    assert mlflow_server_secret_mounts([], "/etc/mlops/mlflow", "/run/secrets/mlflow") == []
    assert mlflow_server_secret_mounts(["backend_password", "aws_access_key_id"], "/run/mlflow-server-jobs",
                                       "/run/secrets/mlflow") == [
        {"source": "/run/mlflow-server-jobs/backend_password", "target": "/run/secrets/mlflow/backend_password",
         "type": "bind", "read_only": True},
        {"source": "/run/mlflow-server-jobs/aws_access_key_id", "target": "/run/secrets/mlflow/aws_access_key_id",
         "type": "bind", "read_only": True},
    ]
    with pytest.raises(AnsibleFilterError, match="the files must be a list"):
        mlflow_server_secret_mounts("backend_password", "/a", "/b")


def test_ca_mounts_only_with_a_certificate():
    assert mlflow_server_ca_mounts("", "/etc/mlops/mlflow/s3-ca.pem", "/etc/mlflow-server/s3-ca.pem") == []
    assert mlflow_server_ca_mounts("-----BEGIN CERTIFICATE-----\n", "/etc/mlops/mlflow/s3-ca.pem",
                                   "/etc/mlflow-server/s3-ca.pem") == [
        {"type": "bind", "read_only": True, "source": "/etc/mlops/mlflow/s3-ca.pem", "target": "/etc/mlflow-server/s3-ca.pem"}]
    with pytest.raises(AnsibleFilterError, match="the CA certificate must be a string, got NoneType"):
        mlflow_server_ca_mounts(None, "/a", "/b")


MANAGED = [{"name": "mlflow_server_backend_password", "env": "PGPASSWORD", "file": "backend_password", "value": SECRET},
           {"name": "mlflow_server_aws_access_key_id", "env": "AWS_ACCESS_KEY_ID", "file": "aws_access_key_id", "value": "k"}]


def test_secret_paths_the_roles_then_the_users():
    assert mlflow_server_secret_paths([], "/run/secrets/mlflow", {}) == {}
    assert mlflow_server_secret_paths(MANAGED, "/run/secrets/mlflow", {"MLFLOW_X": "/run/x", "PGPASSWORD": "/run/db"}) == {
        "PGPASSWORD": "/run/db",  # the user's file wins, in the role's place
        "AWS_ACCESS_KEY_ID": "/run/secrets/mlflow/aws_access_key_id",
        "MLFLOW_X": "/run/x",
    }
    assert list(mlflow_server_secret_paths(MANAGED, "/m", {"MLFLOW_X": "/run/x", "PGPASSWORD": "/run/db"})) == [
        "PGPASSWORD", "AWS_ACCESS_KEY_ID", "MLFLOW_X"]
    with pytest.raises(AnsibleFilterError, match="secret_env must be a dictionary, got list"):
        mlflow_server_secret_paths(MANAGED, "/m", ["PGPASSWORD"])


def test_secret_paths_leave_out_files_without_env():
    # the database's CA is written and mounted like a secret, but libpq reads its path (PGSSLROOTCERT)
    ca = {"name": "mlflow_server_backend_ca_cert", "file": "backend_ca.pem", "value": "-----BEGIN CERTIFICATE-----\n"}
    assert mlflow_server_secret_paths(MANAGED + [ca], "/m", {}) == {
        "PGPASSWORD": "/m/backend_password", "AWS_ACCESS_KEY_ID": "/m/aws_access_key_id"}


def test_environment_names_the_database_ca():
    parts = environment(backend_store_uri=POSTGRES + "?sslmode=verify-full",
                        backend_ca_path="/run/secrets/mlflow/backend_ca.pem")
    assert parts["files"]["PGSSLROOTCERT"] == "/run/secrets/mlflow/backend_ca.pem"
    assert parts["job"]["PGSSLROOTCERT"] == "/run/secrets/mlflow/backend_ca.pem"  # the probe checks it too
    assert "PGSSLROOTCERT" not in environment(backend_store_uri=POSTGRES)["env"]


# ---------------------------------------------------------------- required secrets
def required(uri="sqlite:////mlflow/data/mlflow.db", artifact_store="/mlflow/data/artifacts", env_names=(), **kwargs):
    return mlflow_server_required_secrets(uri, artifact_store, list(env_names), AWS_CREDENTIAL_ENV, **kwargs)


AWS_KEYS = ["mlflow_server_aws_access_key_id", "mlflow_server_aws_secret_access_key"]
AZURE = ["mlflow_server_azure_storage_connection_string (or mlflow_server_azure_storage_access_key)"]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, []),
        ({"uri": POSTGRES}, ["mlflow_server_backend_password"]),
        ({"uri": "postgresql://mlflow@db/mlflow"}, ["mlflow_server_backend_password"]),
        ({"uri": POSTGRES, "env_names": ["PGPASSWORD"]}, []),  # from mlflow_server_secret_env
        ({"uri": POSTGRES, "env_names": ["PGPASSFILE"]}, []),
        ({"uri": "mysql+pymysql://u@h/db"}, []),
        ({"s3_endpoint_url": "http://minio:9000"}, AWS_KEYS),
        ({"aws_access_key_id": "mlflow"}, AWS_KEYS),
        ({"aws_secret_access_key": SECRET}, AWS_KEYS),
        ({"s3_endpoint_url": "http://minio:9000", "env_names": ["AWS_PROFILE"]}, []),
        ({"aws_access_key_id": None, "aws_secret_access_key": 0}, []),  # empty values, as default('', true) reads them
        ({"artifact_store": "wasbs://c@acct.blob.core.windows.net/a"}, AZURE),
        ({"artifact_store": "wasb://c@acct.blob.core.windows.net/a"}, AZURE),
        ({"artifact_store": "wasbs://c@a/x", "azure_storage_connection_string": SECRET}, []),
        ({"artifact_store": "wasbs://c@a/x", "azure_storage_access_key": SECRET}, []),
        ({"artifact_store": "wasbs://c@a/x", "env_names": ["AZURE_STORAGE_ACCOUNT"]}, []),
        ({"artifact_store": "abfss://c@a/x"}, []),
        ({"uri": POSTGRES, "s3_endpoint_url": "http://minio:9000", "artifact_store": "wasbs://c@a/x"},
         ["mlflow_server_backend_password"] + AWS_KEYS + AZURE),
    ],
)
def test_required_secrets(kwargs, expected):
    assert required(**kwargs) == expected


def test_required_secrets_count_vault_encrypted_values_by_their_text():
    assert required(aws_access_key_id=AnsibleVaultEncryptedUnicode("mlflow")) == AWS_KEYS
    assert required(aws_access_key_id=AnsibleVaultEncryptedUnicode("")) == []


@pytest.mark.parametrize("kwargs, what", [
    ({"aws_secret_access_key": 12345678}, "aws_secret_access_key"),
    ({"artifact_store": "wasbs://c@a/x", "azure_storage_access_key": 42}, "azure_storage_access_key"),
    ({"s3_endpoint_url": None}, "s3_endpoint_url"),
])
def test_required_secrets_refuse_what_has_no_length_naming_no_value(kwargs, what):
    with pytest.raises(AnsibleFilterError) as error:
        required(**kwargs)
    assert str(error.value) == "mlflow_server_required_secrets: %s must be a string, got %s" % (
        what, type(list(kwargs.values())[-1]).__name__)
    assert "12345678" not in str(error.value) and "42" not in str(error.value)


def test_required_secrets_are_not_checked_when_an_earlier_one_decided():
    # as Jinja's `or` did: the endpoint decides, the (odd) key is not looked at
    assert required(s3_endpoint_url="http://minio:9000", aws_access_key_id=12345678) == AWS_KEYS


# ---------------------------------------------------------------- environment
def environment(env=None, **kwargs):
    settings = {"backend_store_uri": "sqlite:////mlflow/data/mlflow.db", "spool_path": "/mlflow/data/spool",
                "s3_ca_path": "/etc/mlflow-server/s3-ca.pem"}
    settings.update(kwargs)
    return mlflow_server_environment({} if env is None else env, **settings)


def test_environment_defaults():
    parts = environment()
    assert parts["env"] == {
        "MLFLOW_BACKEND_STORE_URI": "sqlite:////mlflow/data/mlflow.db",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_SPOOL_DIR": "/mlflow/data/spool",
        "TMPDIR": "/mlflow/data/spool",
    }
    assert list(parts["job"]) == ["MLFLOW_BACKEND_STORE_URI", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION",
                                  "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "TMPDIR"]
    assert (parts["stores"], parts["secrets"]) == ({}, {})


def test_environment_production_parts_in_order():
    security = {"MLFLOW_SERVER_ALLOWED_HOSTS": "mlflow.example.com", "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": "https://x"}
    parts = environment(
        {"AWS_DEFAULT_REGION": "eu-west-1", "TMPDIR": "/tmp", "MLFLOW_X": 5, "DEBUG": True},
        backend_store_uri=POSTGRES, security=security, enable_job_execution=True,
        secret_paths={"PGPASSWORD": "/run/secrets/mlflow/backend_password", "aws_key": "/run/k"},
        sqlalchemy_pool_size=5, sqlalchemy_max_overflow=0, sqlalchemy_pool_recycle=1800,
        s3_endpoint_url="http://minio:9000", s3_ca_cert="-----BEGIN CERTIFICATE-----\n",
    )
    assert parts["stores"] == {"MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": 5, "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": 0,
                               "MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE": 1800, "MLFLOW_S3_ENDPOINT_URL": "http://minio:9000"}
    assert parts["secrets"] == {"PGPASSWORD_FILE": "/run/secrets/mlflow/backend_password", "aws_key_FILE": "/run/k",
                                "MLFLOW_SECRET_ENV": "aws_key PGPASSWORD"}  # sorted case-insensitively
    assert list(parts["env"]) == [
        "MLFLOW_BACKEND_STORE_URI", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "MLFLOW_SERVER_ALLOWED_HOSTS",
        "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK",
        "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", "MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE",
        "MLFLOW_S3_ENDPOINT_URL", "MLFLOW_SPOOL_DIR", "TMPDIR", "AWS_CA_BUNDLE", "PGPASSWORD_FILE", "aws_key_FILE",
        "MLFLOW_SECRET_ENV", "AWS_DEFAULT_REGION", "MLFLOW_X", "DEBUG",
    ]
    # the user's env last (its TMPDIR wins in place); docker_container gets strings, `all` the values as given
    assert parts["env"]["TMPDIR"] == "/tmp" and parts["all"]["MLFLOW_X"] == 5
    assert (parts["env"]["MLFLOW_X"], parts["env"]["DEBUG"], parts["env"]["MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"]) == ("5", "True", "0")
    assert parts["env"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "true"
    assert parts["env"]["AWS_CA_BUNDLE"] == "/etc/mlflow-server/s3-ca.pem"
    assert "MLFLOW_SPOOL_DIR" not in parts["job"] and parts["job"]["TMPDIR"] == "/tmp"
    assert security == {"MLFLOW_SERVER_ALLOWED_HOSTS": "mlflow.example.com", "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": "https://x"}


def test_environment_switches_as_jinja_reads_them():
    parts = environment(enable_job_execution="yes", disable_telemetry=False, spool=False)
    assert parts["base"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "yes"
    assert (parts["telemetry"], parts["files"]) == ({}, {})
    assert environment(sqlalchemy_pool_size="5")["env"]["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"] == "5"


@pytest.mark.parametrize("kwargs, match", [
    ({"env": ["A=1"]}, "env must be a dictionary, got list"),
    ({"secret_paths": ["PGPASSWORD"]}, "secret_paths must be a dictionary, got list"),
    ({"s3_endpoint_url": None}, "s3_endpoint_url must be a string, got NoneType"),
    ({"s3_ca_cert": None}, "s3_ca_cert must be a string, got NoneType"),
])
def test_environment_refuses_bad_types(kwargs, match):
    with pytest.raises(AnsibleFilterError, match="mlflow_server_environment: " + match):
        environment(**kwargs)


# ---------------------------------------------------------------- wait host
@pytest.mark.parametrize(
    "bind, expected",
    [
        ("127.0.0.1", "127.0.0.1"),
        ("10.0.0.5", "10.0.0.5"),
        ("0.0.0.0", "127.0.0.1"),
        ("", "127.0.0.1"),
        ("::", "[::1]"),
        ("::1", "[::1]"),
        ("fd00::5", "[fd00::5]"),
    ],
)
def test_wait_host(bind, expected):
    assert mlflow_server_wait_host(bind) == expected


@pytest.mark.parametrize("bind, expected", [("[::1]", "[::1]"), ("[fd00::5]", "[fd00::5]"), ("[::]", "[::1]")])
def test_wait_host_of_a_bracketed_address(bind, expected):
    """validate.yml accepts an IPv6 bind address in brackets: it must not get a second pair."""
    assert mlflow_server_wait_host(bind) == expected


def test_wait_host_must_be_a_string():
    with pytest.raises(AnsibleFilterError, match="the bind address must be a string, got NoneType"):
        mlflow_server_wait_host(None)


# ---------------------------------------------------------------- backend
def backend(uri, data_volume=""):
    return mlflow_server_backend(uri, data_path="/mlflow/data", data_dir="/var/lib/mlflow", data_volume=data_volume)


def test_backend_sqlite_in_the_data_directory():
    assert backend("sqlite:////mlflow/data/sub/mlflow.db") == {
        "is_sqlite": True, "is_postgres": False,
        "db_name": "/mlflow/data/sub/mlflow.db", "db_user": "",
        "has_password": False, "job_no_log": False,
        "sqlite_path": "/mlflow/data/sub/mlflow.db", "sqlite_host_path": "/var/lib/mlflow/sub/mlflow.db",
        "job_data_mounts": [{"type": "bind", "source": "/var/lib/mlflow", "target": "/mlflow/data"}],
    }


def test_backend_sqlite_in_a_volume_or_elsewhere():
    in_volume = backend("sqlite:////mlflow/data/mlflow.db", data_volume="mlflow-data")
    assert in_volume["sqlite_host_path"] == ""
    assert in_volume["job_data_mounts"] == [{"type": "volume", "source": "mlflow-data", "target": "/mlflow/data"}]
    elsewhere = backend("sqlite:////srv/other/mlflow.db")
    assert (elsewhere["sqlite_path"], elsewhere["sqlite_host_path"]) == ("/srv/other/mlflow.db", "")
    assert backend("sqlite:////mlflow/database.db")["sqlite_host_path"] == ""  # /mlflow/data/ only, not /mlflow/data*


@pytest.mark.parametrize(
    "uri, db_name, db_user",
    [
        (POSTGRES, "mlflow", "mlflow"),
        ("postgresql+psycopg2://mlflow@10.0.0.5:5432/mlflow_prod?sslmode=require", "mlflow_prod", "mlflow"),
        ("postgresql://owner@db/mlflow", "mlflow", "owner"),
        ("postgresql+psycopg2://mlflow@[fd00::5]:5432/mlflow", "mlflow", "mlflow"),
        # no database in the URI: the URI itself, as the regex_replace gave it
        ("postgresql+psycopg2://mlflow@db", "postgresql+psycopg2://mlflow@db", "mlflow"),
    ],
)
def test_backend_postgresql(uri, db_name, db_user):
    facts = backend(uri)
    assert (facts["db_name"], facts["db_user"], facts["is_postgres"], facts["is_sqlite"]) == (db_name, db_user, True, False)
    assert (facts["job_data_mounts"], facts["sqlite_host_path"], facts["has_password"]) == ([], "", False)


@pytest.mark.parametrize(
    "uri, has_password, job_no_log",
    [
        ("postgresql+psycopg2://mlflow:" + SECRET + "@db:5432/mlflow", True, True),
        ("mysql+pymysql://u@h/db?sslmode=require&Password=" + SECRET, True, False),
        ("postgresql://u@h/db?passwd=x", True, False),
        ("postgresql://u@h/db?pwd=x", True, False),
        ("postgresql://u@h:5432/db?password_file=x", False, False),
        ("mssql+pyodbc://sa@sql:1433/mlflow?driver=ODBC", False, False),
    ],
)
def test_backend_password_in_the_uri(uri, has_password, job_no_log):
    facts = backend(uri)
    assert (facts["has_password"], facts["job_no_log"]) == (has_password, job_no_log)


def test_backend_reads_other_values_as_text():
    assert backend(None)["db_name"] == "None" and backend(5)["is_sqlite"] is False
    assert backend(AnsibleVaultEncryptedUnicode("sqlite:////mlflow/data/x.db"))["sqlite_host_path"] == "/var/lib/mlflow/x.db"


def test_backend_data_volume_must_be_a_string_when_it_matters():
    with pytest.raises(AnsibleFilterError, match="mlflow_server_backend: data_volume must be a string, got NoneType"):
        backend("sqlite:////mlflow/data/mlflow.db", data_volume=None)
    assert backend(POSTGRES, data_volume=None)["job_data_mounts"] == []


# ------------------------------------------------------------------ mlflow_server_auth_problems
GOOD_PASSWORD = "Unit-t3st-pw-4k2m"


def test_auth_problems_none_for_valid_users_and_grants():
    users = [{"name": "alice", "password": GOOD_PASSWORD, "admin": True},
             {"name": "bob.smith@example.org", "password": AnsibleVaultEncryptedUnicode(GOOD_PASSWORD)},
             {"name": "gone", "state": "absent"}]
    grants = [{"user": "bob.smith@example.org", "experiment": "churn", "permission": "READ"},
              {"user": "alice", "registered_model": "m", "permission": "NO_PERMISSIONS"},
              {"user": "carol", "experiment": "churn", "state": "absent"}]
    assert mlflow_server_auth_problems(users, grants) == []
    assert mlflow_server_auth_problems([], None) == []
    assert FilterModule().filters()["mlflow_server_auth_problems"] is mlflow_server_auth_problems


@pytest.mark.parametrize("user, expected", [
    ({"name": "bob", "password": "Sh0rt-pw"}, "12 characters or more"),
    ({"name": "bob", "password": " " + GOOD_PASSWORD}, "one line"),
    ({"name": "bob", "password": GOOD_PASSWORD + "\nsecond"}, "one line"),
    ({"name": "bob", "password": "ChangeMe-please-now"}, "placeholder"),
    ({"name": "bob", "password": ["a", "list"]}, "must be text, got list"),
    ({"name": "bob"}, "needs a password"),
    ({"name": "bob", "password": None}, "needs a password"),
    ({"name": "bob smith", "password": GOOD_PASSWORD}, "plain user name"),
    ({"name": "-bob", "password": GOOD_PASSWORD}, "plain user name"),
    ({"password": GOOD_PASSWORD}, "plain user name"),
    ({"name": "bob", "password": GOOD_PASSWORD, "state": "gone"}, "present or absent"),
    ("bob", "must be a dictionary"),
])
def test_auth_problems_names_the_user_never_the_password(user, expected):
    problems = mlflow_server_auth_problems([user])
    assert len(problems) == 1 and expected in problems[0], problems
    assert problems[0].startswith("mlflow_server_auth_users[0]")
    password = user.get("password") if isinstance(user, dict) else None
    if isinstance(password, str) and password.strip():
        assert password.strip() not in problems[0]


def test_auth_problems_duplicate_names_and_absent_users_need_no_password():
    problems = mlflow_server_auth_problems([{"name": "bob", "password": GOOD_PASSWORD}, {"name": "bob", "state": "absent"}])
    assert problems == ["mlflow_server_auth_users[1] (bob): the name is given twice"]
    assert mlflow_server_auth_problems([{"name": 7, "password": 123456789012}]) == []


@pytest.mark.parametrize("grant, expected", [
    ({"user": "bob", "experiment": "e", "registered_model": "m", "permission": "READ"}, "got experiment and registered_model"),
    ({"user": "bob", "permission": "READ"}, "got neither"),
    ({"user": "bob", "experiment": "e", "permission": "WRITE"}, "permission must be one of"),
    ({"user": "bob", "experiment": "e"}, "permission must be one of"),
    ({"experiment": "e", "permission": "READ"}, "the user is missing"),
    ({"user": "bob", "experiment": "e", "permission": "READ", "state": "revoked"}, "present or absent"),
    (["bob", "e"], "must be a dictionary"),
])
def test_auth_problems_in_grants(grant, expected):
    problems = mlflow_server_auth_problems([], [grant])
    assert len(problems) == 1 and expected in problems[0], problems
    assert problems[0].startswith("mlflow_server_auth_permissions[0]")


def test_auth_problems_not_lists():
    assert mlflow_server_auth_problems("alice", {"user": "bob"}) == [
        "mlflow_server_auth_users must be a list, got str", "mlflow_server_auth_permissions must be a list, got dict"]
