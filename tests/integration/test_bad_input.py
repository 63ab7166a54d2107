# -*- coding: utf-8 -*-
"""Bad input is refused before anything changes, with a message that names the variable.

Table-driven: each case runs one role on this machine with a valid baseline plus ONE bad value
(`ansible-playbook --check --tags <role>_preflight -e @vars.json`, see conftest.py for why this
cannot change the machine) and asserts that

- the run fails;
- the failing task is the argument-spec validation or a task of roles/<role>/tasks/preflight.yml
  (or of a file it imports), by name and by file;
- no task up to the failure reported `changed`;
- the failure message names the bad variable.

A baseline case per role checks that the baseline itself passes the preflight, so each bad case
fails because of its one bad value. The passwords below are dummies.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

VALIDATION_TASK = "Validating arguments against arg spec"
DUMMY = "t3st-dummy-pw-{}"  # 8+ characters, not a placeholder: the roles accept it

BASELINES: dict[str, dict] = {
    "docker": {},
    "postgres": {
        "postgres_superuser_password": DUMMY.format(1),
        "postgres_db_password": DUMMY.format(2),
    },
    "minio": {
        "minio_root_password": DUMMY.format(3),
        "minio_mlflow_secret_key": DUMMY.format(4),
    },
    "mlflow_server": {},
    "nginx_proxy": {
        "nginx_proxy_users": [{"name": "ci", "password": DUMMY.format(5)}],
        "nginx_proxy_listen_ipv6": False,  # CI containers may have no IPv6
    },
    # The SQLite file and the containers are missing here: in check mode the preflight notes it
    # and stops planning, without failing.
    "sqlite_migration": {
        "sqlite_migration_pg_password": DUMMY.format(9),
        "sqlite_migration_s3_secret_key": DUMMY.format(10),
    },
    "mlflow_backup": {
        "mlflow_backup_s3_access_key": "mlflow",
        "mlflow_backup_s3_secret_key": DUMMY.format(12),
    },
    "prometheus": {},
}

POSTGRES_URI = "postgresql+psycopg2://mlflow@postgres:5432/mlflow"
AZURE_DESTINATION = "wasbs://mlflow@mycompanymlflow.blob.core.windows.net/artifacts"
AZURE_CONNECTION_STRING = "DefaultEndpointsProtocol=https;AccountName=mycompanymlflow;AccountKey=" + DUMMY.format(30)
# MLflow's built-in authentication with acceptable secrets (the cases change one thing)
MLFLOW_AUTH = {"mlflow_server_auth": True, "mlflow_server_auth_admin_password": DUMMY.format(20),
               "mlflow_server_auth_secret_key": DUMMY.format(23) + "-session"}
# the inventories/prod fallback of vault_postgres_mlflow_password: every role must refuse it
PROD_PLACEHOLDER = "ChangeMe-postgres-mlflow"
# a CA certificate as PEM text (sqlite_migration_pg_ca_cert), shape only
SQLITE_MIGRATION_CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@dataclass
class Case:
    id: str
    role: str
    vars: dict  # merged over the role's baseline
    names: str = ""  # the variable the failure message must name; by default the one variable of `vars`
    xfail: str = ""  # why the role does not refuse the value yet (strict: an unexpected pass is reported)

    def __post_init__(self):
        if not self.names:
            if len(self.vars) != 1:
                raise ValueError(f"{self.id}: {len(self.vars)} variables set: say which one the message names")
            (self.names,) = self.vars


def _refused(prefix: str, role: str, var: str, values: dict, base: dict | None = None) -> list[Case]:
    """One case per bad value of `var` (over `base`), with the id <prefix>-<key of the value>."""
    return [Case(f"{prefix}-{kind}", role, {**(base or {}), var: value}, var) for kind, value in values.items()]


CASES = [
    # ------------------------------------------------------------ docker
    Case("docker-install-source-unknown", "docker", {"docker_install_source": "snap"}),
    Case("docker-repo-url-no-scheme", "docker", {"docker_official_repo_url": "download.docker.com/linux"}),
    Case("docker-log-max-file-not-int", "docker", {"docker_log_max_file": "abc"}),
    Case("docker-wait-timeout-zero", "docker", {"docker_wait_timeout": 0}),
    Case("docker-daemon-options-list", "docker", {"docker_daemon_options": ["data-root=/srv"]}),
    Case("docker-registry-mirror-no-scheme", "docker", {"docker_registry_mirrors": ["mirror.example.internal"]}),
    Case("docker-users-string", "docker", {"docker_users": "alice"}),
    Case("docker-users-unknown-user", "docker", {"docker_users": ["no-such-user-mlops-ci"]}),
    # ------------------------------------------------------------ postgres
    Case("postgres-superuser-password-empty", "postgres", {"postgres_superuser_password": ""}),
    *_refused("postgres-db-password", "postgres", "postgres_db_password",
              {"placeholder": "ChangeMe123", "prod-placeholder": PROD_PLACEHOLDER, "placeholder-inside": "prod-changeme-db1"}),
    Case("postgres-port-out-of-range", "postgres", {"postgres_port": 70000}),
    Case("postgres-extra-database-invalid", "postgres", {"postgres_extra_databases": ["mlflow auth"]}),
    Case("postgres-port-not-int", "postgres", {"postgres_port": "abc"}),
    Case("postgres-settings-string", "postgres", {"postgres_settings": "shared_buffers=1GB"}),
    Case("postgres-data-dir-relative", "postgres", {"postgres_data_dir": "data/pg"}),
    Case("postgres-db-user-is-superuser", "postgres", {"postgres_db_user": "postgres"}),
    Case("postgres-publish-address-not-ip", "postgres", {"postgres_publish": True, "postgres_publish_address": "everywhere"},
         "postgres_publish_address"),
    # postgres_exporter (metrics): its password as the others', its own role, a private address
    *_refused("postgres-exporter-password", "postgres", "postgres_exporter_password",
              {"empty": "", "prod-placeholder": "ChangeMe-postgres-exporter"}, base={"postgres_exporter": True}),
    Case("postgres-exporter-user-is-db-user", "postgres",
         {"postgres_exporter": True, "postgres_exporter_password": DUMMY.format(13), "postgres_exporter_db_user": "mlflow"},
         "postgres_exporter_db_user"),
    Case("postgres-exporter-publish-address-not-ip", "postgres",
         {"postgres_exporter": True, "postgres_exporter_password": DUMMY.format(13),
          "postgres_exporter_publish_address": "monitoring.example.com"},
         "postgres_exporter_publish_address"),
    # ------------------------------------------------------------ minio
    Case("minio-engine-unknown", "minio", {"minio_engine": "ceph"}),
    # MinIO's metrics share the S3 API port that Nginx may publish
    Case("minio-metrics-with-minio-engine", "minio", {"minio_metrics": True, "minio_engine": "minio"}, "minio_metrics"),
    Case("minio-metrics-port-same-as-api", "minio", {"minio_metrics": True, "minio_metrics_port": 9000},
         "minio_metrics_port"),
    Case("minio-root-password-placeholder", "minio", {"minio_root_password": "minioadmin"}),
    *_refused("minio-mlflow-secret-key", "minio", "minio_mlflow_secret_key",
              {"empty": "", "prod-placeholder": PROD_PLACEHOLDER, "placeholder-inside": "mlflow-CHANGE_ME-key",
               # mc reads the secret key as one line from stdin
               "newline": "t3st-dummy\nsecond-line"}),
    Case("minio-api-port-out-of-range", "minio", {"minio_api_port": 0}),
    Case("minio-console-port-same-as-api", "minio", {"minio_console_port": 9000}),
    Case("minio-buckets-string", "minio", {"minio_buckets": "mlflow"}),
    Case("minio-mlflow-bucket-not-listed", "minio", {"minio_mlflow_bucket": "other"}),
    Case("minio-bucket-name-invalid", "minio", {"minio_buckets": [{"name": "My_Bucket"}], "minio_mlflow_bucket": "My_Bucket"},
         "minio_buckets"),
    Case("minio-admin-endpoint-no-scheme", "minio", {"minio_admin_endpoint": "127.0.0.1:9000"}),
    # ------------------------------------------------------------ mlflow_server
    Case("mlflow-static-prefix-no-slash", "mlflow_server", {"mlflow_server_static_prefix": "mlflow"}),
    # more free space than any disk here has: the spool directory's check must refuse it
    Case("mlflow-spool-too-small", "mlflow_server", {"mlflow_server_max_artifact_size_gb": 10 ** 7,
                                                     "mlflow_server_data_dir": "/var/lib/mlflow-bad-input/data"},
         "mlflow_server_max_artifact_size_gb"),
    # a CA bundle that is not on the host: refused with the space check in the same task
    Case("mlflow-ca-bundle-missing", "mlflow_server", {"mlflow_server_ca_bundle": "/etc/ssl/mlops-bad-input/none.pem"},
         "mlflow_server_ca_bundle"),
    Case("mlflow-backend-not-uri", "mlflow_server", {"mlflow_server_backend_store_uri": "/mlflow/data/mlflow.db"}),
    # mlflow_server_metrics sets --expose-prometheus itself: a second one would be given twice
    Case("mlflow-metrics-and-expose-arg", "mlflow_server",
         {"mlflow_server_metrics": True, "mlflow_server_extra_args": ["--expose-prometheus", "/tmp/m"]},
         "mlflow_server_metrics"),
    # MLflow's built-in authentication: the admin's password and the session key must be real
    *_refused("mlflow-auth-admin-password", "mlflow_server", "mlflow_server_auth_admin_password",
              {"empty": "", "short": "Sh0rt-pw", "placeholder": "ChangeMe-mlflow-admin", "padded": " " + DUMMY.format(21)},
              base=MLFLOW_AUTH),
    *_refused("mlflow-auth-secret-key", "mlflow_server", "mlflow_server_auth_secret_key",
              {"empty": "", "short": "k3y-short", "placeholder": "ChangeMe-mlflow-flask-secret-key"}, base=MLFLOW_AUTH),
    Case("mlflow-auth-database-uri-with-password", "mlflow_server",
         {**MLFLOW_AUTH, "mlflow_server_auth_database_uri": "postgresql+psycopg2://mlflow:Uri-pw-t3st-9@pg:5432/mlflow_auth"},
         "mlflow_server_auth_database_uri"),
    Case("mlflow-auth-default-permission", "mlflow_server",
         {**MLFLOW_AUTH, "mlflow_server_auth_default_permission": "DENY"}, "mlflow_server_auth_default_permission"),
    Case("mlflow-auth-user-short-password", "mlflow_server",
         {**MLFLOW_AUTH, "mlflow_server_auth_users": [{"name": "bob", "password": "Sh0rt-pw"}]}, "mlflow_server_auth_users"),
    Case("mlflow-auth-user-twice", "mlflow_server",
         {**MLFLOW_AUTH, "mlflow_server_auth_users": [{"name": "bob", "password": DUMMY.format(22)},
                                                      {"name": "bob", "state": "absent"}]}, "mlflow_server_auth_users"),
    Case("mlflow-auth-grant-on-two-resources", "mlflow_server",
         {**MLFLOW_AUTH, "mlflow_server_auth_permissions": [
             {"user": "bob", "experiment": "e", "registered_model": "m", "permission": "READ"}]},
         "mlflow_server_auth_permissions"),
    Case("mlflow-auth-grant-unknown-permission", "mlflow_server",
         {**MLFLOW_AUTH, "mlflow_server_auth_permissions": [{"user": "bob", "experiment": "e", "permission": "WRITE"}]},
         "mlflow_server_auth_permissions"),
    Case("mlflow-auth-app-name-in-extra-args", "mlflow_server",
         {**MLFLOW_AUTH, "mlflow_server_extra_args": ["--app-name", "basic-auth"]}, "mlflow_server_extra_args"),
    *_refused("mlflow-backend-password", "mlflow_server", "mlflow_server_backend_password",
              {"placeholder": "ChangeMe!", "prod-placeholder": PROD_PLACEHOLDER, "placeholder-inside": "db-changeme-2024"},
              base={"mlflow_server_backend_store_uri": POSTGRES_URI}),
    # a password in the URI ends up in MLFLOW_BACKEND_STORE_URI, visible in `docker inspect`
    Case("mlflow-backend-uri-with-password", "mlflow_server",
         {"mlflow_server_backend_store_uri": "postgresql+psycopg2://mlflow:Uri-pw-t3st-9@postgres:5432/mlflow"},
         "mlflow_server_backend_password"),
    Case("mlflow-backend-uri-with-password-names-uri", "mlflow_server",
         {"mlflow_server_backend_store_uri": "mysql+pymysql://mlflow:Uri-pw-t3st-9@mysql:3306/mlflow"}),
    Case("mlflow-backend-uri-with-password-query", "mlflow_server",
         {"mlflow_server_backend_store_uri": POSTGRES_URI + "?sslmode=require&password=Uri-pw-t3st-9"}),
    # mlflow_server_env values are in `docker inspect`: secrets go through mlflow_server_secret_env
    Case("mlflow-env-secret-name", "mlflow_server",
         {"mlflow_server_env": {"MLFLOW_FLASK_SERVER_SECRET_KEY": "Env-secret-t3st-9"}}),
    Case("mlflow-env-password-name", "mlflow_server",
         {"mlflow_server_env": {"AWS_DEFAULT_REGION": "us-east-1", "PGPASSWORD": "Env-secret-t3st-9"}}),
    Case("mlflow-env-token-name", "mlflow_server", {"mlflow_server_env": {"AWS_SESSION_TOKEN": "Env-secret-t3st-9"}}),
    Case("mlflow-env-url-with-credentials", "mlflow_server",
         {"mlflow_server_env": {"MLFLOW_S3_ENDPOINT_URL": "http://mlflow:Env-secret-t3st-9@minio:9000"}}),
    Case("mlflow-backend-password-empty", "mlflow_server", {"mlflow_server_backend_store_uri": POSTGRES_URI},
         "mlflow_server_backend_password"),
    # sslmode=verify-full without the provider's CA: libpq would look for ~/.postgresql/root.crt
    Case("mlflow-backend-verify-full-without-ca", "mlflow_server",
         {"mlflow_server_backend_store_uri": POSTGRES_URI + "?sslmode=verify-full",
          "mlflow_server_backend_password": DUMMY.format(13)}, "mlflow_server_backend_ca_cert"),
    Case("mlflow-host-port-out-of-range", "mlflow_server", {"mlflow_server_host_port": 70000}),
    Case("mlflow-host-port-not-int", "mlflow_server", {"mlflow_server_host_port": "abc"}),
    Case("mlflow-workers-zero", "mlflow_server", {"mlflow_server_workers": 0}),
    Case("mlflow-state-unknown", "mlflow_server", {"mlflow_server_state": "running"}),
    Case("mlflow-networks-string", "mlflow_server", {"mlflow_server_networks": "mlflow"}),
    Case("mlflow-served-with-direct-root", "mlflow_server",
         {"mlflow_server_serve_artifacts": True, "mlflow_server_default_artifact_root": "s3://mlflow/artifacts"},
         "mlflow_server_default_artifact_root"),
    Case("mlflow-direct-with-proxied-root", "mlflow_server",
         {"mlflow_server_serve_artifacts": False, "mlflow_server_default_artifact_root": "mlflow-artifacts:/"},
         "mlflow_server_default_artifact_root"),
    Case("mlflow-s3-endpoint-without-keys", "mlflow_server",
         {"mlflow_server_serve_artifacts": False, "mlflow_server_default_artifact_root": "s3://mlflow/artifacts",
          "mlflow_server_s3_endpoint_url": "http://minio:9000"},
         "mlflow_server_aws_access_key_id"),
    Case("mlflow-public-url-no-scheme", "mlflow_server", {"mlflow_server_public_url": "mlflow.example.com"}),
    # values that used to fail only later, in boto3 or docker_container
    Case("mlflow-s3-endpoint-no-scheme", "mlflow_server",
         {"mlflow_server_s3_endpoint_url": "minio:9000",
          "mlflow_server_aws_access_key_id": DUMMY.format(7), "mlflow_server_aws_secret_access_key": DUMMY.format(8)},
         "mlflow_server_s3_endpoint_url"),
    Case("mlflow-bind-address-not-ip", "mlflow_server", {"mlflow_server_bind_address": "localhost:5001"}),
    Case("mlflow-memory-limit-invalid", "mlflow_server", {"mlflow_server_memory_limit": "lots"}),
    Case("mlflow-container-name-invalid", "mlflow_server", {"mlflow_server_container_name": "mlflow server"}),
    Case("mlflow-network-name-empty", "mlflow_server", {"mlflow_server_networks": [""]}),
    # ------------------------------------------------------------ nginx_proxy
    Case("nginx-public-url-not-http", "nginx_proxy", {"nginx_proxy_public_url": "ftp://mlflow.example.com/"}),
    Case("nginx-public-url-query", "nginx_proxy", {"nginx_proxy_public_url": "https://mlflow.example.com/?x=1"}),
    Case("nginx-location-no-leading-slash", "nginx_proxy", {"nginx_proxy_location": "mlflow/"}),
    Case("nginx-location-no-trailing-slash", "nginx_proxy", {"nginx_proxy_location": "/mlflow"}),
    Case("nginx-conf-dir-relative", "nginx_proxy", {"nginx_proxy_conf_dir": "conf.d"}),
    Case("nginx-tls-without-cert", "nginx_proxy", {"nginx_proxy_tls_enabled": True}, "nginx_proxy_tls_cert_src"),
    Case("nginx-users-empty", "nginx_proxy", {"nginx_proxy_users": []}),
    Case("nginx-user-password-placeholder", "nginx_proxy",
         {"nginx_proxy_users": [{"name": "ci", "password": "ChangeMe-1"}]}),
    Case("nginx-user-password-prod-placeholder", "nginx_proxy",
         {"nginx_proxy_users": [{"name": "ci", "password": PROD_PLACEHOLDER}]}),
    Case("nginx-user-password-placeholder-prefix", "nginx_proxy",
         {"nginx_proxy_users": [{"name": "ci", "password": "Password-ci-2024"}]}),
    # rules of the htpasswd filter, checked in the preflight by the filter plugin itself (the
    # filter runs with no_log, so its own message would be hidden)
    Case("nginx-user-password-carriage-return", "nginx_proxy",
         {"nginx_proxy_users": [{"name": "ci", "password": "t3st-dummy\rpw-6"}]}),
    Case("nginx-user-password-over-72-bytes", "nginx_proxy",
         {"nginx_proxy_users": [{"name": "ci", "password": "Long-t3st-pw-" + "x" * 67}]}),
    Case("nginx-user-password-over-72-bytes-utf8", "nginx_proxy",
         {"nginx_proxy_users": [{"name": "ci", "password": "Lång-t3st-pw-" + "ü" * 30}]}),
    Case("nginx-user-password-empty", "nginx_proxy", {"nginx_proxy_users": [{"name": "ci", "password": ""}]}),
    Case("nginx-user-name-with-colon", "nginx_proxy",
         {"nginx_proxy_users": [{"name": "ci:admin", "password": DUMMY.format(6)}]}),
    Case("nginx-http-port-out-of-range", "nginx_proxy", {"nginx_proxy_http_port": 70000}),
    Case("nginx-https-port-not-int", "nginx_proxy", {"nginx_proxy_https_port": "abc"}),
    Case("nginx-upstream-without-port", "nginx_proxy", {"nginx_proxy_upstreams": ["127.0.0.1"]}),
    Case("nginx-htpasswd-scheme-unknown", "nginx_proxy", {"nginx_proxy_htpasswd_scheme": "md5"}),
    Case("nginx-tls-protocol-unknown", "nginx_proxy",
         {"nginx_proxy_tls_enabled": True, "nginx_proxy_tls_selfsigned": True, "nginx_proxy_tls_protocols": ["SSLv3"]},
         "nginx_proxy_tls_protocols"),
    Case("nginx-tls-protocol-typo", "nginx_proxy",
         {"nginx_proxy_tls_enabled": True, "nginx_proxy_tls_selfsigned": True, "nginx_proxy_tls_protocols": ["TLSv9"]},
         "nginx_proxy_tls_protocols"),
    Case("nginx-user-name-listed-twice", "nginx_proxy",
         {"nginx_proxy_users": [{"name": "ci", "password": DUMMY.format(6)}, {"name": "ci", "password": DUMMY.format(7)}]}),
    Case("nginx-hsts-negative", "nginx_proxy",
         {"nginx_proxy_tls_enabled": True, "nginx_proxy_tls_selfsigned": True, "nginx_proxy_tls_hsts_max_age": -1},
         "nginx_proxy_tls_hsts_max_age"),
    # stub_status is never public
    Case("nginx-metrics-allow-all", "nginx_proxy", {"nginx_proxy_metrics": True, "nginx_proxy_metrics_allow": ["all"]},
         "nginx_proxy_metrics_allow"),
    Case("nginx-metrics-status-port-is-http", "nginx_proxy",
         {"nginx_proxy_metrics": True, "nginx_proxy_metrics_status_port": 80}, "nginx_proxy_metrics_status_port"),
    Case("nginx-metrics-exporter-address-not-ip", "nginx_proxy",
         {"nginx_proxy_metrics": True, "nginx_proxy_metrics_exporter_address": "localhost"},
         "nginx_proxy_metrics_exporter_address"),
    # ------------------------------------------------------------ prometheus
    Case("prometheus-retention-not-a-duration", "prometheus", {"prometheus_retention_time": "two weeks"}),
    Case("prometheus-retention-size-unit", "prometheus", {"prometheus_retention_size": "5G"}),
    Case("prometheus-bind-address-not-ip", "prometheus", {"prometheus_bind_address": "localhost"}),
    Case("prometheus-port-not-int", "prometheus", {"prometheus_port": "abc"}),
    Case("prometheus-scrape-job-without-port", "prometheus",
         {"prometheus_scrape_jobs": [{"job": "mlflow", "targets": [{"target": "10.0.0.5", "host": "app1"}]}]}),
    Case("prometheus-scrape-job-named-prometheus", "prometheus",
         {"prometheus_scrape_jobs": [{"job": "prometheus", "targets": []}]}),
    Case("prometheus-alertmanager-without-port", "prometheus", {"prometheus_alertmanagers": ["alertmanager"]}),
    # ------------------------------------------------------------ sqlite_migration
    *_refused("sqlite-migration-pg-password", "sqlite_migration", "sqlite_migration_pg_password",
              {"prod-placeholder": PROD_PLACEHOLDER, "empty": ""}),
    Case("sqlite-migration-s3-secret-key-placeholder", "sqlite_migration",
         {"sqlite_migration_s3_secret_key": "minioadmin"}),
    Case("sqlite-migration-sslmode-unknown", "sqlite_migration", {"sqlite_migration_pg_sslmode": "verify-everything"}),
    Case("sqlite-migration-foreign-keys-unknown", "sqlite_migration", {"sqlite_migration_foreign_keys": "off"}),
    # a managed database (no container here): reached by name, backed up by the provider's snapshot
    Case("sqlite-migration-no-container-no-host", "sqlite_migration",
         {"sqlite_migration_pg_container": "", "sqlite_migration_pg_dump": False}, "sqlite_migration_pg_host"),
    Case("sqlite-migration-no-container-pg-dump", "sqlite_migration",
         {"sqlite_migration_pg_container": "", "sqlite_migration_pg_host": "mlflow.example.com"},
         "sqlite_migration_pg_dump"),
    Case("sqlite-migration-verify-full-without-ca", "sqlite_migration",
         {"sqlite_migration_pg_sslmode": "verify-full"}, "sqlite_migration_pg_ca_cert"),
    Case("sqlite-migration-ca-cert-a-path", "sqlite_migration",
         {"sqlite_migration_pg_sslmode": "verify-full", "sqlite_migration_pg_ca_cert": "/etc/ssl/rds-bundle.pem"},
         "sqlite_migration_pg_ca_cert"),
    Case("sqlite-migration-ca-cert-with-prefer", "sqlite_migration",
         {"sqlite_migration_pg_ca_cert": SQLITE_MIGRATION_CA}, "sqlite_migration_pg_sslmode"),
    # artifacts into Azure Blob Storage: the storage account's connection string instead of S3 keys
    Case("sqlite-migration-wasbs-without-connection-string", "sqlite_migration",
         {"sqlite_migration_artifacts_destination": AZURE_DESTINATION}, "sqlite_migration_azure_connection_string"),
    Case("sqlite-migration-wasbs-not-blob-host", "sqlite_migration",
         {"sqlite_migration_artifacts_destination": "wasbs://mlflow@azurite:10000/artifacts",
          "sqlite_migration_azure_connection_string": AZURE_CONNECTION_STRING},
         "sqlite_migration_artifacts_destination"),
    # ------------------------------------------------------------ mlflow_backup
    Case("backup-nothing-to-back-up", "mlflow_backup",
         {"mlflow_backup_database": False, "mlflow_backup_artifacts": False}, "mlflow_backup_artifacts"),
    Case("backup-dir-relative", "mlflow_backup", {"mlflow_backup_dir": "backups/mlflow"}),
    Case("backup-dir-root", "mlflow_backup", {"mlflow_backup_dir": "/"}),
    Case("backup-status-file-relative", "mlflow_backup", {"mlflow_backup_status_file": "status.json"}),
    Case("backup-keep-zero", "mlflow_backup", {"mlflow_backup_keep": 0}),
    Case("backup-keep-not-int", "mlflow_backup", {"mlflow_backup_keep": "a week"}),
    Case("backup-schedule-two-lines", "mlflow_backup", {"mlflow_backup_schedule": "daily\nExecStart=/bin/sh"}),
    Case("backup-restore-not-a-stamp", "mlflow_backup", {"mlflow_backup_restore": "yesterday"}),
    Case("backup-pg-container-invalid", "mlflow_backup", {"mlflow_backup_pg_container": "postgres; rm -rf /"}),
    Case("backup-pg-database-invalid", "mlflow_backup", {"mlflow_backup_pg_database": "mlflow db"}),
    Case("backup-s3-endpoint-no-scheme", "mlflow_backup", {"mlflow_backup_s3_endpoint": "127.0.0.1:9000"}),
    Case("backup-s3-bucket-invalid", "mlflow_backup", {"mlflow_backup_s3_bucket": "My_Bucket"}),
    Case("backup-s3-access-key-empty", "mlflow_backup", {"mlflow_backup_s3_access_key": ""}),
    *_refused("backup-s3-secret-key", "mlflow_backup", "mlflow_backup_s3_secret_key",
              {"empty": "", "placeholder": "minioadmin", "prod-placeholder": PROD_PLACEHOLDER}),
]

# Values close to the bad ones above that must still pass (each runs the role's preflight).
GOOD_CASES = [
    Case("mlflow-env-without-secrets", "mlflow_server",
         {"mlflow_server_env": {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "mlflow",
                                "AWS_SHARED_CREDENTIALS_FILE": "/run/secrets/aws", "MLFLOW_S3_IGNORE_TLS": "false",
                                "MLFLOW_S3_ENDPOINT_URL": "http://minio:9000"}}),
    Case("mlflow-backend-verify-full-with-ca", "mlflow_server",
         {"mlflow_server_backend_store_uri": POSTGRES_URI + "?connect_timeout=5&sslmode=verify-full",
          "mlflow_server_backend_password": DUMMY.format(13),
          "mlflow_server_backend_ca_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
         "mlflow_server_backend_ca_cert"),
    Case("mlflow-backend-uri-user-only", "mlflow_server",
         {"mlflow_server_backend_store_uri": POSTGRES_URI + "?sslmode=require",
          "mlflow_server_backend_password": DUMMY.format(11)},
         "mlflow_server_backend_store_uri"),
    Case("nginx-long-password-with-sha512", "nginx_proxy",
         {"nginx_proxy_users": [{"name": "ci", "password": "Long-t3st-pw-" + "x" * 67}], "nginx_proxy_htpasswd_scheme": "sha512"},
         "nginx_proxy_users"),
    Case("backup-database-only-needs-no-key", "mlflow_backup",
         {"mlflow_backup_artifacts": False, "mlflow_backup_s3_secret_key": ""}, "mlflow_backup_artifacts"),
    Case("nginx-password-mentions-password", "nginx_proxy",
         {"nginx_proxy_users": [{"name": "ci", "password": "my-long-password-t3st"}]}),
    Case("mlflow-auth-with-users-and-grants", "mlflow_server",
         {**MLFLOW_AUTH, "mlflow_server_auth_users": [{"name": "alice", "password": DUMMY.format(24), "admin": True},
                                                      {"name": "bob", "state": "absent"}],
          "mlflow_server_auth_permissions": [{"user": "alice", "experiment": "churn", "permission": "EDIT"},
                                             {"user": "carol", "registered_model": "m", "state": "absent"}]},
         "mlflow_server_auth"),
    # nginx mode: MLflow's user rules do not apply to Nginx's users
    Case("mlflow-auth-off-ignores-user-rules", "mlflow_server",
         {"mlflow_server_auth_users": [{"name": "bob", "password": "short"}]}),
    # documented: null publishes no port (the argument spec refused it while it had a default)
    Case("mlflow-host-port-null", "mlflow_server", {"mlflow_server_host_port": None}),
    Case("postgres-exporter-on", "postgres",
         {"postgres_exporter": True, "postgres_exporter_password": DUMMY.format(13)}, "postgres_exporter"),
    Case("nginx-metrics-on-private-network", "nginx_proxy",
         {"nginx_proxy_metrics": True, "nginx_proxy_metrics_allow": ["127.0.0.1", "10.0.0.0/8", "::1"],
          "nginx_proxy_metrics_exporter_address": "10.0.0.21"}, "nginx_proxy_metrics"),
    Case("prometheus-jobs-and-retention", "prometheus",
         {"prometheus_retention_time": "30d", "prometheus_retention_size": "5GB",
          "prometheus_scrape_jobs": [{"job": "mlflow", "metrics_path": "/metrics",
                                      "targets": [{"target": "10.0.0.21:5001", "host": "app1"}]}]},
         "prometheus_scrape_jobs"),
    Case("nginx-public-url-with-port-and-path", "nginx_proxy",
         {"nginx_proxy_public_url": "https://mlflow.example.com:8443/team/mlflow/", "nginx_proxy_tls_selfsigned": True},
         "nginx_proxy_public_url"),
    Case("sqlite-migration-wasbs-destination", "sqlite_migration",
         {"sqlite_migration_artifacts_destination": AZURE_DESTINATION,
          "sqlite_migration_azure_connection_string": AZURE_CONNECTION_STRING},
         "sqlite_migration_azure_connection_string"),
    # a managed database over TLS checked against the provider's CA, without superuser rights
    Case("sqlite-migration-managed-database", "sqlite_migration",
         {"sqlite_migration_pg_container": "", "sqlite_migration_pg_host": "mlflow.example.com",
          "sqlite_migration_pg_dump": False, "sqlite_migration_pg_sslmode": "verify-full",
          "sqlite_migration_pg_ca_cert": SQLITE_MIGRATION_CA, "sqlite_migration_foreign_keys": "auto"},
         "sqlite_migration_pg_ca_cert"),
]


def _params() -> list:
    return [
        pytest.param(case, id=case.id, marks=[pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else [])
        for case in CASES
    ]


def _secrets(variables: dict) -> list[str]:
    """The (dummy) secrets of a set of variables: they must not show up in the output."""
    found = [v for k, v in variables.items() if isinstance(v, str) and ("password" in k or "secret" in k)]
    for user in variables.get("nginx_proxy_users", []):
        found.append(user["password"])
    for key, value in variables.items():
        if key.endswith("_env") and isinstance(value, dict):
            found.extend(v for v in value.values() if isinstance(v, str) and "t3st" in v)
        if key.endswith("_uri") and isinstance(value, str) and "t3st" in value:
            found.append("Uri-pw-t3st-9")
    return [s for s in found if s]


def test_case_table_is_consistent():
    """Unique ids, known roles, and each case sets variables of its own role only."""
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert not {case.id for case in CASES} & {case.id for case in GOOD_CASES}, "an id is both bad and good"
    for case in CASES + GOOD_CASES:
        assert case.role in BASELINES, case.id
        assert case.vars, case.id
        assert all(key.startswith(case.role + "_") for key in case.vars), case.id
        assert case.names.startswith(case.role + "_"), case.id


@pytest.mark.parametrize("role", sorted(BASELINES))
def test_baseline_passes_preflight(role, run_role, role_preflight, tmp_path):
    """The valid baseline passes argument validation and preflight, and changes nothing."""
    run = run_role(role, BASELINES[role], tmp_path)
    assert run.tasks, run.summary()
    assert run.rc == 0, run.summary()
    assert not [t.name for t in run.tasks if t.changed], run.summary()
    names, _ = role_preflight(role)
    assert {t.name for t in run.tasks} & names, "no preflight task ran:\n" + run.summary()
    for secret in _secrets(BASELINES[role]):
        assert secret not in run.stdout, f"a secret of the baseline is printed by the {role} run"


@pytest.mark.parametrize("case", _params())
def test_bad_input_fails_before_any_change(case: Case, run_role, role_preflight, tmp_path: Path):
    variables = {**BASELINES[case.role], **case.vars}
    run = run_role(case.role, variables, tmp_path)
    summary = run.summary()

    assert run.tasks, f"ansible-playbook produced no result:\n{summary}"
    index, failed = run.first_failure
    assert run.rc != 0 and failed is not None, f"{case.role} accepted the bad value:\n{summary}"

    # the failure is the argument-spec validation or a preflight task, by name and by file
    names, files = role_preflight(case.role)
    if failed.action == "ansible.builtin.validate_argument_spec" or failed.action == "validate_argument_spec":
        assert failed.name.startswith(VALIDATION_TASK), summary
    else:
        assert failed.name in names, f"'{failed.name}' is not a task of {case.role}'s preflight:\n{summary}"
        task_file = Path(failed.path.rsplit(":", 1)[0]).resolve()
        assert task_file in files, f"'{failed.name}' runs from {task_file}, not from the preflight:\n{summary}"

    # nothing changed before (or at) the failure
    changed = [t.name for t in run.tasks[: index + 1] if t.changed]
    assert not changed, f"tasks reported changed before the failure: {changed}\n{summary}"
    assert run.stats.get("changed", 0) == 0, summary

    # the message names the variable
    assert case.names in failed.messages, f"the message does not name {case.names}:\n{summary}"

    # the dummy secrets of the baseline are not printed, nor the bad secret value itself
    for secret in _secrets(BASELINES[case.role]):
        if secret not in str(case.vars):
            assert secret not in run.stdout, "a secret of the baseline is printed"
    # (short well-known placeholders such as minioadmin appear in the messages as examples)
    for secret in [s for s in _secrets(case.vars) if len(s) >= 12 or "t3st" in s]:
        assert secret not in run.stdout, "the bad secret value is printed"
        assert secret not in run.stderr, "the bad secret value is printed"


@pytest.mark.parametrize("case", GOOD_CASES, ids=[case.id for case in GOOD_CASES])
def test_good_input_passes_preflight(case: Case, run_role, tmp_path: Path):
    """Values next to the refused ones pass (the rules are not broader than they claim)."""
    variables = {**BASELINES[case.role], **case.vars}
    run = run_role(case.role, variables, tmp_path)
    assert run.tasks, run.summary()
    assert run.rc == 0, run.summary()
    assert not [t.name for t in run.tasks if t.changed], run.summary()
    for secret in _secrets(variables):
        assert secret not in run.stdout, "a secret is printed"


# Two bad values in different checks of one role: one task fails and its message names both
# (mlops.mlflow.checks evaluates every check; before, the second was found on the next run).
SEVERAL = [
    ("docker", {"docker_log_max_file": 0, "docker_users": ["no-such-user-mlops-ci"]},
     ["docker_log_max_file", "no-such-user-mlops-ci"]),
    ("postgres", {"postgres_superuser_password": "", "postgres_port": 70000},
     ["postgres_superuser_password", "postgres_port"]),
    ("minio", {"minio_root_password": "minioadmin", "minio_api_port": 0}, ["minio_root_password", "minio_api_port"]),
    ("mlflow_server", {"mlflow_server_static_prefix": "mlflow", "mlflow_server_workers": 0},
     ["mlflow_server_static_prefix", "mlflow_server_workers"]),
    ("nginx_proxy", {"nginx_proxy_location": "mlflow/", "nginx_proxy_users": []},
     ["nginx_proxy_location", "nginx_proxy_users"]),
    ("mlflow_backup", {"mlflow_backup_dir": "backups/mlflow", "mlflow_backup_keep": 0},
     ["mlflow_backup_dir", "mlflow_backup_keep"]),
]


@pytest.mark.parametrize("role, bad, names", SEVERAL, ids=[case[0] for case in SEVERAL])
def test_several_bad_values_are_named_at_once(role, bad, names, run_role, tmp_path: Path):
    run = run_role(role, {**BASELINES[role], **bad}, tmp_path)
    index, failed = run.first_failure
    assert run.rc != 0 and failed is not None, run.summary()
    assert [t.name for t in run.tasks if t.failed] == [failed.name], "one task fails\n" + run.summary()
    for name in names:
        assert name in failed.messages, f"the message does not name {name}:\n{run.summary()}"
