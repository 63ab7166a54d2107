# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugins of the mlflow_server role: the settings it computes from its variables.

The image's pip requirements and constraints, the ``mlflow server`` command line, the security
middleware's allowed hosts and origins, the secret files (mounts, paths, the ones required), the
container's environment, the backend store URI's facts and the address the role waits on. Every
input is an argument: the filters read no variable themselves. They compute what the role's Jinja
computed before, to the letter: numbers end up in strings the way Jinja's ``~`` and ``string``
write them (``str()``), lists are deduplicated like ``unique`` (case-insensitively), URIs are read
as text like the ``match`` test reads them; every other value is passed through as given.
Errors name variables, never a value (secrets are among the inputs).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.compat.version import LooseVersion
from ansible_collections.mlops.mlflow.plugins.test.placeholder import is_placeholder

# Documentation: one mlflow_server_<name>.yml per filter next to this file.

# MLflow before this version crashes on import with SQLAlchemy 2.1 (3.7.0 measured).
SQLALCHEMY_21_SINCE = "3.17"
SQLALCHEMY_CONSTRAINT = "sqlalchemy<2.1"
# Bind addresses on which the host reaches the published port through the IPv4 loopback.
IPV4_WILDCARDS = ("", "0.0.0.0")
AZURE_SECRETS = "mlflow_server_azure_storage_connection_string (or mlflow_server_azure_storage_access_key)"


def _text(value):
    """A value as text, the way Ansible's regex tests and filters read it."""
    return to_text(value, errors="surrogate_or_strict", nonstring="simplerepr")


def _str(value):
    """Jinja's ``string``: strings as they are, anything else through str()."""
    return value if isinstance(value, str) else str(value)


def _length(name, what, value):
    """Jinja's ``length``, refusing what has none (numbers, booleans, null) by type only."""
    try:
        return len(value)
    except TypeError:
        raise AnsibleFilterError("%s: %s must be a string, got %s" % (name, what, type(value).__name__)) from None


def _is_set(name, what, value):
    """``value | default('', true) | length > 0``: a secret is set when it is not empty."""
    return _length(name, what, value or "") > 0


def _list(name, what, value):
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError("%s: %s must be a list, got %s" % (name, what, type(value).__name__))
    return list(value)


def _dict(name, what, value):
    if not isinstance(value, Mapping):
        raise AnsibleFilterError("%s: %s must be a dictionary, got %s" % (name, what, type(value).__name__))
    return dict(value)


def _unique(name, what, items):
    """Ansible's ``unique``: the first of the items equal when lowercased, in their order."""
    seen, result = set(), []
    for item in items:
        key = item.lower() if isinstance(item, str) else item
        try:
            if key in seen:
                continue
        except TypeError:
            raise AnsibleFilterError("%s: %s must be a list of strings, got a %s in it" % (name, what, type(item).__name__)) from None
        seen.add(key)
        result.append(item)
    return result


def mlflow_server_requirements(version, psycopg2_version, boto3_version, extras=None, install_prometheus=False,
                               prometheus_flask_exporter_version="", install_azure=False, azure_storage_blob_version="",
                               install_gcs=False, google_cloud_storage_version="", extra=None):
    """pip requirements of the image: mlflow[extras], the drivers, the optional extras, then the user's."""
    name = "mlflow_server_requirements"
    extras = _list(name, "extras", [] if extras is None else extras)
    extra = _list(name, "extra", [] if extra is None else extra)
    mlflow = "mlflow" + ("[" + ",".join(_str(e) for e in extras) + "]" if extras else "") + "==" + str(version)
    requirements = [mlflow, "psycopg2-binary==" + str(psycopg2_version), "boto3==" + str(boto3_version)]
    if install_prometheus:
        requirements.append("prometheus-flask-exporter==" + str(prometheus_flask_exporter_version))
    if install_azure:
        requirements.append("azure-storage-blob==" + str(azure_storage_blob_version))
    if install_gcs:
        requirements.append("google-cloud-storage==" + str(google_cloud_storage_version))
    return requirements + extra


def mlflow_server_constraints(version, extra=None):
    """pip constraints of the image: sqlalchemy<2.1 for MLflow before 3.17, then the user's."""
    name = "mlflow_server_constraints"
    extra = _list(name, "extra", [] if extra is None else extra)
    if not version:
        raise AnsibleFilterError("%s: the MLflow version is empty" % name)
    try:
        older = LooseVersion(_text(version)) < LooseVersion(SQLALCHEMY_21_SINCE)
    except (TypeError, ValueError) as exc:  # e.g. 3.x.1 against 3.17, where ansible.builtin.version fails too
        raise AnsibleFilterError("%s: cannot compare the MLflow version %s with %s: %s"
                                 % (name, _text(version), SQLALCHEMY_21_SINCE, exc)) from None
    return ([SQLALCHEMY_CONSTRAINT] if older else []) + extra


def mlflow_server_command(extra_args, default_artifact_root, workers, serve_artifacts=True, artifacts_destination="",
                          static_prefix="", port=5000, expose_prometheus="", app_name=""):
    """The ``mlflow server`` command line, the user's arguments (as strings) last."""
    name = "mlflow_server_command"
    extra_args = _list(name, "extra_args", extra_args)
    command = ["mlflow", "server", "--host", "0.0.0.0", "--port", _str(port), "--workers", _str(workers)]
    if serve_artifacts:
        command += ["--serve-artifacts", "--artifacts-destination", artifacts_destination]
    else:
        command.append("--no-serve-artifacts")
    command += ["--default-artifact-root", default_artifact_root]
    if _length(name, "static_prefix", static_prefix) > 0:
        command += ["--static-prefix", static_prefix]
    if _length(name, "expose_prometheus", expose_prometheus) > 0:
        command += ["--expose-prometheus", expose_prometheus]
    if _length(name, "app_name", app_name) > 0:
        command += ["--app-name", app_name]
    return command + [_str(arg) for arg in extra_args]


def mlflow_server_middleware(public_url, allowed_hosts, cors_allowed_origins, localhost_hosts,
                             disable_security_middleware=False):
    """The security middleware's settings: the public URL's host, port and origin, the allowed hosts
    and CORS origins (the public URL's first), and their environment variables."""
    name = "mlflow_server_middleware"
    allowed_hosts = _list(name, "allowed_hosts", allowed_hosts)
    cors_allowed_origins = _list(name, "cors_allowed_origins", cors_allowed_origins)
    localhost_hosts = _list(name, "localhost_hosts", localhost_hosts)
    scheme, hostname, port = "", None, None
    if _length(name, "the public URL", public_url) > 0:
        try:
            url = urlsplit(_text(public_url))
            scheme, hostname, port = url.scheme, url.hostname, url.port
        except ValueError as exc:  # e.g. a port that is no number or out of range
            raise AnsibleFilterError("%s: the public URL cannot be parsed: %s" % (name, exc)) from None
    host = (hostname or "").lower()
    default_port = 443 if scheme == "https" else 80
    port = port or default_port
    origin = scheme + "://" + host + ((":" + str(port)) if port != default_port else "")
    public_hosts = [host, host + ":" + str(port)] if host else []
    hosts = _unique(name, "allowed_hosts", public_hosts + allowed_hosts)
    hosts_env = _unique(name, "allowed_hosts", hosts + localhost_hosts) if hosts else []
    origins = _unique(name, "cors_allowed_origins", ([origin] if host else []) + cors_allowed_origins)
    env = {}
    if hosts_env:
        env["MLFLOW_SERVER_ALLOWED_HOSTS"] = ",".join(_str(h) for h in hosts_env)
    if origins:
        env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] = ",".join(_str(o) for o in origins)
    if disable_security_middleware:
        env["MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE"] = "true"
    return {
        "host": host, "default_port": default_port, "port": port, "origin": origin,
        "allowed_hosts": hosts, "allowed_hosts_env": hosts_env, "cors_allowed_origins": origins, "env": env,
    }


def mlflow_server_secret_mounts(files, source_dir, target_dir):
    """Read-only bind mounts of the secret files: source_dir/<file> at target_dir/<file>."""
    files = _list("mlflow_server_secret_mounts", "the files", files)
    return [{"source": _str(source_dir) + "/" + _text(f), "target": _str(target_dir) + "/" + _text(f),
             "type": "bind", "read_only": True} for f in files]


def mlflow_server_ca_mounts(ca_cert, source, target):
    """The read-only bind mount of the S3 endpoint's CA certificate file, when there is one."""
    if _length("mlflow_server_ca_mounts", "the CA certificate", ca_cert) == 0:
        return []
    return [{"type": "bind", "read_only": True, "source": source, "target": target}]


def mlflow_server_secret_paths(secrets, mount_dir, secret_env):
    """Variable name -> file inside the container: the role's secrets (env, file), then the user's.
    Files without an env (the database's CA) are named by a variable of their own."""
    name = "mlflow_server_secret_paths"
    secrets = _list(name, "the secrets", secrets)
    paths = {secret["env"]: _str(mount_dir) + "/" + _text(secret["file"]) for secret in secrets if "env" in secret}
    paths.update(_dict(name, "secret_env", secret_env))
    return paths


def mlflow_server_required_secrets(backend_store_uri, artifact_store, env_names, aws_credential_env,
                                   s3_endpoint_url="", aws_access_key_id="", aws_secret_access_key="",
                                   azure_storage_connection_string="", azure_storage_access_key=""):
    """Names of the secret variables this configuration needs (none that the env provides otherwise)."""
    name = "mlflow_server_required_secrets"
    env_names = _list(name, "env_names", env_names)
    aws_credential_env = _list(name, "aws_credential_env", aws_credential_env)
    required = []
    if (re.match("^postgresql", _text(backend_store_uri))
            and "PGPASSWORD" not in env_names and "PGPASSFILE" not in env_names):
        required.append("mlflow_server_backend_password")
    if ((_length(name, "s3_endpoint_url", s3_endpoint_url) > 0
         or _is_set(name, "aws_access_key_id", aws_access_key_id)
         or _is_set(name, "aws_secret_access_key", aws_secret_access_key))
            and not any(env in aws_credential_env for env in env_names)):
        required += ["mlflow_server_aws_access_key_id", "mlflow_server_aws_secret_access_key"]
    if (re.match("^wasbs?://", _text(artifact_store))
            and not _is_set(name, "azure_storage_connection_string", azure_storage_connection_string)
            and not _is_set(name, "azure_storage_access_key", azure_storage_access_key)
            and not any(re.match("^AZURE_", _text(env)) for env in env_names)):
        required.append(AZURE_SECRETS)
    return required


def mlflow_server_environment(env, backend_store_uri, security=None, secret_paths=None, enable_job_execution=False,
                              disable_telemetry=True, sqlalchemy_pool_size=None, sqlalchemy_max_overflow=None,
                              sqlalchemy_pool_recycle=None, s3_endpoint_url="", spool=True, spool_path="",
                              s3_ca_cert="", s3_ca_path="", backend_ca_path=""):
    """The container's environment in parts (base, telemetry, stores, files, secrets), all of them with
    the user's env merged last, the same as strings (env), and that without the spool directory (job)."""
    name = "mlflow_server_environment"
    env = _dict(name, "env", env)
    security = _dict(name, "security", {} if security is None else security)
    secret_paths = _dict(name, "secret_paths", {} if secret_paths is None else secret_paths)
    base = {"MLFLOW_BACKEND_STORE_URI": backend_store_uri,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": _str(enable_job_execution).lower()}
    telemetry = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"} if disable_telemetry else {}
    stores = {}
    for key, value in (("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", sqlalchemy_pool_size),
                       ("MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", sqlalchemy_max_overflow),
                       ("MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE", sqlalchemy_pool_recycle)):
        if value is not None:
            stores[key] = value
    if _length(name, "s3_endpoint_url", s3_endpoint_url) > 0:
        stores["MLFLOW_S3_ENDPOINT_URL"] = s3_endpoint_url
    files = {"MLFLOW_SPOOL_DIR": spool_path, "TMPDIR": spool_path} if spool else {}
    if _length(name, "s3_ca_cert", s3_ca_cert) > 0:
        files["AWS_CA_BUNDLE"] = s3_ca_path
    if _length(name, "backend_ca_path", backend_ca_path) > 0:
        files["PGSSLROOTCERT"] = backend_ca_path
    secrets = {_text(key) + "_FILE": path for key, path in secret_paths.items()}
    if secret_paths:
        # sorted like Jinja's sort: case-insensitively
        secrets["MLFLOW_SECRET_ENV"] = " ".join(
            _str(key) for key in sorted(secret_paths, key=lambda k: k.lower() if isinstance(k, str) else k))
    merged = {}
    for part in (base, security, telemetry, stores, files, secrets, env):
        merged.update(part)
    strings = {key: _str(value) for key, value in merged.items()}
    return {
        "base": base, "telemetry": telemetry, "stores": stores, "files": files, "secrets": secrets,
        "all": merged, "env": strings, "job": {key: value for key, value in strings.items() if key != "MLFLOW_SPOOL_DIR"},
    }


def mlflow_server_wait_host(bind_address):
    """The address the host reaches the published port on: the loopback for a wildcard, IPv6 in brackets."""
    if not isinstance(bind_address, str):
        raise AnsibleFilterError("mlflow_server_wait_host: the bind address must be a string, got %s"
                                 % type(bind_address).__name__)
    if bind_address in IPV4_WILDCARDS:
        return "127.0.0.1"
    address = bind_address[1:-1] if bind_address.startswith("[") and bind_address.endswith("]") else bind_address
    if address == "::":
        return "[::1]"
    return "[" + address + "]" if ":" in address else address


def mlflow_server_backend(backend_store_uri, data_path, data_dir, data_volume=""):
    """Facts of the backend store URI, and where a SQLite file lives (host path, job mounts)."""
    name = "mlflow_server_backend"
    uri = _text(backend_store_uri)
    is_sqlite = bool(re.match("^sqlite:///", uri))
    sqlite_path = re.sub("^sqlite:///", "", uri)
    sqlite_host_path = ""
    if sqlite_path.startswith(_str(data_path) + "/") and _length(name, "data_volume", data_volume) == 0:
        sqlite_host_path = _str(data_dir) + sqlite_path[len(data_path):]
    job_data_mounts = []
    if is_sqlite:
        if _length(name, "data_volume", data_volume) > 0:
            job_data_mounts.append({"type": "volume", "source": data_volume, "target": data_path})
        else:
            job_data_mounts.append({"type": "bind", "source": data_dir, "target": data_path})
    return {
        "is_sqlite": is_sqlite,
        "is_postgres": bool(re.match("^postgresql", uri)),
        # postgresql+psycopg2://USER@host:5432/NAME?options (the URI itself when it has no such parts)
        "db_name": re.sub(r"^[^/]*//[^/]*/([^?]*).*$", r"\1", uri),
        "db_user": re.sub(r"^[^/]*//([^:@/]*).*$", r"\1", uri),
        # user:password@ as SQLAlchemy parses it, or ?password= (MLFLOW_BACKEND_STORE_URI is in docker inspect)
        "has_password": bool(re.match(r"^[A-Za-z0-9+_.-]+://[^:/]*:[^@]+@", uri)
                             or re.search(r"[?&](password|passwd|pwd)=", uri, re.IGNORECASE)),
        # tasks that show the URI hide their output when it holds user:anything@
        "job_no_log": bool(re.search("://[^/@]*:[^/@]*@", uri)),
        "sqlite_path": sqlite_path,
        "sqlite_host_path": sqlite_host_path,
        "job_data_mounts": job_data_mounts,
    }


# MLflow's built-in authentication: names of users, permissions of grants (MLflow 3.17's
# mlflow.server.auth.permissions; NO_PERMISSIONS is what 3.17 calls DENY).
AUTH_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
AUTH_PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "DENY", "NO_PERMISSIONS")
AUTH_STATES = ("present", "absent")
AUTH_PASSWORD_MIN = 12


def _auth_password_problem(password):
    """Why a user's password is refused (None: fine); never shows the password."""
    text = _secret_text(password)
    if text is None:
        return "its password must be text, got %s" % type(password).__name__
    if not re.match(r"^\S(.*\S)?$", text):
        return "its password must be one line without leading or trailing spaces"
    if len(text) < AUTH_PASSWORD_MIN:
        return "its password must have %d characters or more" % AUTH_PASSWORD_MIN
    if is_placeholder(text):
        return "its password is still a placeholder (ChangeMe...)"
    return None


def _secret_text(value):
    if isinstance(value, str):
        return value
    if type(value).__name__ in ("EncryptedString", "AnsibleVaultEncryptedUnicode"):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def mlflow_server_auth_problems(users, permissions=None):
    """What the role refuses in mlflow_server_auth_users and mlflow_server_auth_permissions, one
    message per problem (empty: fine). Names users and entries by position, never a password."""
    problems = []
    if not isinstance(users, (list, tuple)):
        problems.append("mlflow_server_auth_users must be a list, got %s" % type(users).__name__)
        users = []
    seen = set()
    for index, user in enumerate(users):
        where = "mlflow_server_auth_users[%d]" % index
        if not isinstance(user, Mapping):
            problems.append("%s must be a dictionary {name, password, admin, state}, got %s" % (where, type(user).__name__))
            continue
        name = user.get("name")
        if name is None or not AUTH_USER_NAME.match(to_text(name)):
            problems.append("%s: the name must be a plain user name (letters, digits, _ . @ -), got %r"
                            % (where, None if name is None else to_text(name)))
        else:
            where = "%s (%s)" % (where, to_text(name))
            if to_text(name) in seen:
                problems.append("%s: the name is given twice" % where)
            seen.add(to_text(name))
        state = user.get("state", "present")
        if state not in AUTH_STATES:
            problems.append("%s: state must be present or absent, got %r" % (where, to_text(state)))
        elif state == "present":
            if user.get("password") is None:
                problems.append("%s: a present user needs a password" % where)
            else:
                problem = _auth_password_problem(user.get("password"))
                if problem:
                    problems.append("%s: %s" % (where, problem))
    if permissions is None:
        permissions = []
    if not isinstance(permissions, (list, tuple)):
        problems.append("mlflow_server_auth_permissions must be a list, got %s" % type(permissions).__name__)
        permissions = []
    for index, grant in enumerate(permissions):
        where = "mlflow_server_auth_permissions[%d]" % index
        if not isinstance(grant, Mapping):
            problems.append("%s must be a dictionary {user, experiment or registered_model, permission, state}, got %s"
                            % (where, type(grant).__name__))
            continue
        if grant.get("user") is None:
            problems.append("%s: the user is missing" % where)
        resources = [key for key in ("experiment", "registered_model") if grant.get(key) is not None]
        if len(resources) != 1:
            problems.append("%s: name exactly one of experiment or registered_model, got %s"
                            % (where, " and ".join(resources) or "neither"))
        state = grant.get("state", "present")
        if state not in AUTH_STATES:
            problems.append("%s: state must be present or absent, got %r" % (where, to_text(state)))
        elif state == "present" and grant.get("permission") not in AUTH_PERMISSIONS:
            problems.append("%s: permission must be one of %s, got %r"
                            % (where, ", ".join(AUTH_PERMISSIONS), grant.get("permission")))
    return problems


class FilterModule:
    """Ansible filters of mlops.mlflow for the mlflow_server role."""

    def filters(self):
        return {
            "mlflow_server_auth_problems": mlflow_server_auth_problems,
            "mlflow_server_backend": mlflow_server_backend,
            "mlflow_server_ca_mounts": mlflow_server_ca_mounts,
            "mlflow_server_command": mlflow_server_command,
            "mlflow_server_constraints": mlflow_server_constraints,
            "mlflow_server_environment": mlflow_server_environment,
            "mlflow_server_middleware": mlflow_server_middleware,
            "mlflow_server_required_secrets": mlflow_server_required_secrets,
            "mlflow_server_requirements": mlflow_server_requirements,
            "mlflow_server_secret_mounts": mlflow_server_secret_mounts,
            "mlflow_server_secret_paths": mlflow_server_secret_paths,
            "mlflow_server_wait_host": mlflow_server_wait_host,
        }
