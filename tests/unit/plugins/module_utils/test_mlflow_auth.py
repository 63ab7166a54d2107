# -*- coding: utf-8 -*-
"""Unit tests of plugins/module_utils/mlflow_auth.py, and `FakeMlflow`, the stand-in for the HTTP layer
that the tests of mlops.mlflow.mlflow_user and mlops.mlflow.mlflow_permission use as well.

FakeMlflow answers `open_url` calls the way MLflow 3.17.2's basic-auth app does (requests and answers
recorded with curl against `mlflow server --app-name basic-auth`, MLflow 3.17.2, and read in
mlflow/server/auth/__init__.py, routes.py, sqlalchemy_store.py of that release):

- 401 with a text/html body and `WWW-Authenticate: Basic realm="mlflow"` for missing or wrong credentials;
  403 `Permission denied` (text) when a validator refuses (a user reading another user);
- errors of handlers as JSON {"error_code", "message", "sqlstate", "error_class"}: RESOURCE_DOES_NOT_EXIST
  -> 404, INVALID_PARAMETER_VALUE / RESOURCE_ALREADY_EXISTS / BAD_REQUEST -> 400;
- an unknown route: Flask's HTML "404 Not Found" page (no error_code);
- GET users/get -> {"user": {"id", "is_admin", "username"}}; POST users/create -> the same; PATCH
  users/update-password, users/update-admin, DELETE users/delete -> {};
- a duplicate users/create: 400 RESOURCE_ALREADY_EXISTS whose message carries the SQL statement and its
  parameters, including the new password's scrypt hash;
- api/3.0 users/permissions/list -> {"is_admin", "permissions": [{"permission", "resource_pattern",
  "resource_type", "role_id", "role_name": "__user_<id>__", "workspace": "default"}]}; grant/revoke -> {};
  grant of an existing row -> 400 RESOURCE_ALREADY_EXISTS; NO_PERMISSIONS -> 400; a grant on an experiment
  id that does not exist is accepted;
- roles/permissions/list -> {"role_permissions": [{"id", "permission", "resource_pattern", "resource_type",
  "role_id"}]}, roles/permissions/update -> {"role_permission": {...}};
- the creator of an experiment or registered model gets MANAGE on it in its own role.

With api="legacy" it answers like MLflow 3.7.0 (source of mlflow-skinny 3.7.0): no api/3.0 auth routes,
experiments/permissions/{get,create,update,delete} and registered-models/permissions/..., users/get
with permission lists in the user record, NO_PERMISSIONS allowed and USE/DENY unknown.
"""
from __future__ import annotations

import base64
import io
import json
import re
from urllib.error import HTTPError
from urllib.parse import parse_qsl, urlsplit

import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils import mlflow_auth as ma

ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-s3cret-pw!"
UNAUTHENTICATED = ("You are not authenticated. Please see "
                   "https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow "
                   "on how to authenticate.")
FLASK_404 = ('<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested '
             'URL was not found on the server. If you entered the URL manually please check your spelling and try '
             'again.</p>\n')
ERROR_CLASS = {"RESOURCE_DOES_NOT_EXIST": "RESOURCE_NOT_FOUND", "BAD_REQUEST": "INVALID_PARAMETER_VALUE"}
STATUS = {"RESOURCE_DOES_NOT_EXIST": 404, "INVALID_PARAMETER_VALUE": 400, "RESOURCE_ALREADY_EXISTS": 400,
          "BAD_REQUEST": 400}
RBAC_PERMISSIONS = ("DENY", "EDIT", "MANAGE", "READ", "USE")
LEGACY_PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")


class Response(object):
    def __init__(self, status, body):
        self.status = status
        self.body = body

    def getcode(self):
        return self.status

    def read(self):
        return self.body


class MlflowError(Exception):
    def __init__(self, error_code, message):
        Exception.__init__(self, message)
        self.error_code = error_code
        self.message = message


class FakeMlflow(object):
    """MLflow's auth app behind `open_url`: users, experiments, registered models and grants in dicts."""

    def __init__(self, api="rbac", base="http://mlflow.test:5000", admin=ADMIN, admin_password=ADMIN_PASSWORD):
        self.api = api
        self.base = base
        self.users = {}
        self.next_user_id = 1
        self.experiments = {"0": dict(experiment_id="0", name="Default", lifecycle_stage="active",
                                      artifact_location="mlflow-artifacts:/0", workspace="default")}
        self.models = {}
        self.role_permissions = []    # rbac: {id, role_id, resource_type, resource_pattern, permission}
        self.roles = {}               # rbac: role_id -> {name, workspace}
        self.legacy_grants = {}       # legacy: (type, id, username) -> permission
        self.requests = []            # (method, url, body dict or None, auth username, auth password, kwargs)
        self.faults = {}              # (method, path) -> (status, body bytes, headers)
        self.add_user(admin, admin_password, is_admin=True)

    # -- set-up ----------------------------------------------------------------------------------

    def add_user(self, username, password, is_admin=False):
        self.users[username] = dict(id=self.next_user_id, password=password, is_admin=is_admin)
        self.next_user_id += 1
        return self.users[username]

    def add_experiment(self, name, creator=ADMIN, lifecycle_stage="active"):
        eid = str(len(self.experiments))
        self.experiments[eid] = dict(experiment_id=eid, name=name, lifecycle_stage=lifecycle_stage,
                                     artifact_location="mlflow-artifacts:/%s" % eid, workspace="default")
        self._grant_creator(creator, "experiment", eid)
        return eid

    def add_model(self, name, creator=ADMIN):
        self.models[name] = dict(name=name, creation_timestamp=1796138670505, last_updated_timestamp=1796138670505)
        self._grant_creator(creator, "registered_model", name)

    def _grant_creator(self, creator, resource_type, resource_id):
        if self.api == "rbac":
            self.rbac_grant(creator, resource_type, resource_id, "MANAGE", upsert=True)
        else:
            self.legacy_grants[(resource_type, resource_id, creator)] = "MANAGE"

    def role_of(self, username, workspace="default", create=True):
        name = "__user_%d__" % self.users[username]["id"]
        for rid, role in self.roles.items():
            if role["name"] == name and role["workspace"] == workspace:
                return rid
        if not create:
            return None
        rid = len(self.roles) + 1
        self.roles[rid] = dict(name=name, workspace=workspace)
        return rid

    def rbac_grant(self, username, resource_type, resource_id, permission, upsert=False, workspace="default"):
        rid = self.role_of(username, workspace)
        for rp in self.role_permissions:
            if rp["role_id"] == rid and rp["resource_type"] == resource_type and rp["resource_pattern"] == resource_id:
                if not upsert:
                    raise MlflowError("RESOURCE_ALREADY_EXISTS", "Permission for user=%s on resource_type=%s, "
                                      "resource_id=%s already exists." % (username, resource_type, resource_id))
                rp["permission"] = permission
                return rp
        rp = dict(id=len(self.role_permissions) + 1, role_id=rid, resource_type=resource_type,
                  resource_pattern=str(resource_id), permission=permission)
        self.role_permissions.append(rp)
        return rp

    def add_role(self, name, workspace="default"):
        rid = len(self.roles) + 1
        self.roles[rid] = dict(name=name, workspace=workspace)
        return rid

    def grant(self, username, resource_type, resource_id, permission):
        """The user's explicit grant, set directly in the store."""
        if self.api == "rbac":
            self.rbac_grant(username, resource_type, resource_id, permission, upsert=True)
        else:
            self.legacy_grants[(resource_type, resource_id, username)] = permission

    def grant_of(self, username, resource_type, resource_id):
        if self.api == "legacy":
            return self.legacy_grants.get((resource_type, resource_id, username))
        rid = self.role_of(username, create=False)
        for rp in self.role_permissions:
            if rp["role_id"] == rid and rp["resource_type"] == resource_type and rp["resource_pattern"] == resource_id:
                return rp["permission"]
        return None

    def fail(self, method, path, status, body=b"", headers=None):
        self.faults[(method, path)] = (status, body, headers or {})

    # -- observation --------------------------------------------------------------------------------

    def writes(self):
        return [r for r in self.requests if r[0] != "GET"]

    def calls(self):
        """(method, path) of every request, in order."""
        return [(r[0], urlsplit(r[1]).path) for r in self.requests]

    # -- the HTTP layer -------------------------------------------------------------------------------

    def open_url(self, url, data=None, headers=None, method=None, **kwargs):
        headers = headers or {}
        body = json.loads(data.decode("utf-8")) if data else None
        user, password = None, None
        auth = headers.get("Authorization")
        if auth and auth.startswith("Basic "):
            user, password = base64.b64decode(auth[6:]).decode("utf-8").split(":", 1)
        self.requests.append((method, url, body, user, password, kwargs))
        parts = urlsplit(url)
        base = urlsplit(self.base)
        if parts.netloc != base.netloc or not parts.path.startswith(base.path + "/"):
            return self._error(url, 404, FLASK_404.encode(), {"Content-Type": "text/html; charset=utf-8"})
        path = parts.path[len(base.path):]
        params = dict(parse_qsl(parts.query))
        if (method, path) in self.faults:
            status, fbody, fheaders = self.faults[(method, path)]
            return self._error(url, status, fbody, fheaders)
        if path == "/health":
            return Response(200, b"OK")
        record = self.users.get(user)
        if record is None or record["password"] != password or \
                (record["is_admin"] and password == "password1234" and self.api == "rbac"):
            return self._error(url, 401, UNAUTHENTICATED.encode(),
                               {"WWW-Authenticate": 'Basic realm="mlflow"', "Content-Type": "text/html; charset=utf-8"})
        handler = self._route(method, path)
        if handler is None:
            return self._error(url, 404, FLASK_404.encode(), {"Content-Type": "text/html; charset=utf-8"})
        args = dict(params)
        if isinstance(body, dict):
            args.update(body)
        if not record["is_admin"] and not self._allowed(path, user, args):
            return self._error(url, 403, b"Permission denied", {"Content-Type": "text/html; charset=utf-8"})
        try:
            status, doc = handler(user, args)
        except MlflowError as e:
            doc = {"error_code": e.error_code, "message": e.message, "sqlstate": "KAM00",
                   "error_class": ERROR_CLASS.get(e.error_code, e.error_code)}
            return self._error(url, STATUS[e.error_code], json.dumps(doc).encode(),
                               {"Content-Type": "application/json"})
        if isinstance(doc, bytes):
            return self._error(url, status, doc, {"Content-Type": "text/html; charset=utf-8"})
        return Response(status, json.dumps(doc).encode())

    @staticmethod
    def _error(url, status, body, headers):
        raise HTTPError(url, status, "error", headers, io.BytesIO(body))

    def _allowed(self, path, user, args):
        # validate_can_read_user / validate_can_update_user_password: the user itself
        if path in ("/api/2.0/mlflow/users/get", "/api/2.0/mlflow/users/update-password"):
            return args.get("username") == user
        return False

    def _route(self, method, path):
        routes = {
            ("GET", "/api/2.0/mlflow/users/get"): self.get_user,
            ("POST", "/api/2.0/mlflow/users/create"): self.create_user,
            ("PATCH", "/api/2.0/mlflow/users/update-password"): self.update_password,
            ("PATCH", "/api/2.0/mlflow/users/update-admin"): self.update_admin,
            ("DELETE", "/api/2.0/mlflow/users/delete"): self.delete_user,
            ("GET", "/api/2.0/mlflow/experiments/get"): self.get_experiment,
            ("GET", "/api/2.0/mlflow/experiments/get-by-name"): self.get_experiment_by_name,
            ("GET", "/api/2.0/mlflow/registered-models/get"): self.get_model,
        }
        if self.api == "rbac":
            routes.update({
                ("GET", "/api/3.0/mlflow/users/permissions/list"): self.list_permissions,
                ("POST", "/api/3.0/mlflow/users/permissions/grant"): self.grant_permission,
                ("POST", "/api/3.0/mlflow/users/permissions/revoke"): self.revoke_permission,
                ("GET", "/api/3.0/mlflow/roles/permissions/list"): self.list_role_permissions,
                ("PATCH", "/api/3.0/mlflow/roles/permissions/update"): self.update_role_permission,
            })
        else:
            for kind, key in (("experiments", "experiment_id"), ("registered-models", "name")):
                for verb, m in (("get", "GET"), ("create", "POST"), ("update", "PATCH"), ("delete", "DELETE")):
                    routes[(m, "/api/2.0/mlflow/%s/permissions/%s" % (kind, verb))] = \
                        self._legacy_handler(kind, key, verb)
        return routes.get((method, path))

    # -- handlers ---------------------------------------------------------------------------------

    def _user(self, username):
        if username not in self.users:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", "User with username=%s not found" % username)
        return self.users[username]

    def _user_json(self, username):
        u = self.users[username]
        doc = {"id": u["id"], "is_admin": u["is_admin"], "username": username}
        if self.api == "legacy":
            doc.update(experiment_permissions=[], registered_model_permissions=[], scorer_permissions=[])
        return doc

    def get_user(self, sender, args):
        self._user(args["username"])
        return 200, {"user": self._user_json(args["username"])}

    def create_user(self, sender, args):
        username, password = args.get("username"), args.get("password")
        if not username or not password:
            return 400, b"Username and password cannot be empty."
        if len(password) < 12:
            raise MlflowError("INVALID_PARAMETER_VALUE", "Password must be at least 12 characters.")
        if username in self.users:
            raise MlflowError("RESOURCE_ALREADY_EXISTS", (
                "User (username=%s) already exists. Error: (sqlite3.IntegrityError) UNIQUE constraint failed: "
                "users.username\n[SQL: INSERT INTO users (username, password_hash, is_admin) VALUES (?, ?, ?)]\n"
                "[parameters: ('%s', 'scrypt:32768:8:1$xt5Pypk274ciQDyI$2949a7caa8c3fe0c20e3f4b9b01e492ae4c4', 0)]\n"
                "(Background on this error at: https://sqlalche.me/e/21/gkpj)") % (username, username))
        self.add_user(username, password)
        return 200, {"user": self._user_json(username)}

    def update_password(self, sender, args):
        user = self._user(args["username"])
        if sender == args["username"] and self.api == "rbac":
            current = args.get("current_password")
            if not current:
                raise MlflowError("INVALID_PARAMETER_VALUE",
                                  "Current password is required when changing your own password.")
            if current != user["password"]:
                raise MlflowError("INVALID_PARAMETER_VALUE", "Current password does not match.")
            if current == args["password"]:
                raise MlflowError("INVALID_PARAMETER_VALUE", "New password must differ from the current password.")
        if len(args["password"]) < 12:
            raise MlflowError("INVALID_PARAMETER_VALUE", "Password must be at least 12 characters.")
        user["password"] = args["password"]
        return 200, {}

    def update_admin(self, sender, args):
        user = self._user(args["username"])
        if not isinstance(args["is_admin"], bool):
            raise MlflowError("BAD_REQUEST", "(builtins.TypeError) Not a boolean value: %r\n[SQL: UPDATE users SET "
                                             "is_admin=? WHERE users.id = ?]" % args["is_admin"])
        user["is_admin"] = args["is_admin"]
        return 200, {}

    def delete_user(self, sender, args):
        if args["username"] == sender and self.api == "rbac":
            raise MlflowError("BAD_REQUEST", "Users cannot delete their own account. Ask another admin to delete "
                                             "this user instead.")
        user = self._user(args["username"])
        role = self.role_of(args["username"], create=False)
        self.role_permissions = [rp for rp in self.role_permissions if rp["role_id"] != role]
        self.legacy_grants = {k: v for k, v in self.legacy_grants.items() if k[2] != args["username"]}
        del self.users[args["username"]]
        assert user
        return 200, {}

    def get_experiment(self, sender, args):
        eid = args["experiment_id"]
        if not re.match(r"^\d+$", eid):
            raise MlflowError("INVALID_PARAMETER_VALUE",
                              "Invalid experiment ID '%s'. Experiment ID must be a valid integer." % eid)
        if eid not in self.experiments:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", "No Experiment with id=%s exists" % eid)
        return 200, {"experiment": self.experiments[eid]}

    def get_experiment_by_name(self, sender, args):
        for e in self.experiments.values():
            if e["name"] == args["experiment_name"]:
                return 200, {"experiment": e}
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", "Could not find experiment with name '%s'"
                          % args["experiment_name"])

    def get_model(self, sender, args):
        if args["name"] not in self.models:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", "Registered Model with name=%s not found" % args["name"])
        return 200, {"registered_model": self.models[args["name"]]}

    def list_permissions(self, sender, args):
        user = self._user(args["username"])
        rows = []
        for rp in self.role_permissions:
            role = self.roles[rp["role_id"]]
            rows.append(dict(permission=rp["permission"], resource_pattern=rp["resource_pattern"],
                             resource_type=rp["resource_type"], role_id=rp["role_id"], role_name=role["name"],
                             workspace=role["workspace"], _user=self._role_user(rp["role_id"])))
        rows = [dict((k, v) for k, v in r.items() if k != "_user") for r in rows if r["_user"] == args["username"]]
        return 200, {"is_admin": user["is_admin"], "permissions": rows}

    def _role_user(self, role_id):
        name = self.roles[role_id]["name"]
        for username, u in self.users.items():
            if name == "__user_%d__" % u["id"] or name in u.get("roles", ()):
                return username
        return None

    def grant_permission(self, sender, args):
        self._user(args["username"])
        if args["permission"] not in RBAC_PERMISSIONS:
            raise MlflowError("INVALID_PARAMETER_VALUE", "Invalid permission '%s' for resource_type='%s'. "
                              "Resource-level grants accept only: ('DENY', 'EDIT', 'MANAGE', 'READ', 'USE')."
                              % (args["permission"], args["resource_type"]))
        self.rbac_grant(args["username"], args["resource_type"], str(args["resource_id"]), args["permission"])
        return 200, {}

    def revoke_permission(self, sender, args):
        self._user(args["username"])
        rid = self.role_of(args["username"], create=False)
        for rp in list(self.role_permissions):
            if rp["role_id"] == rid and rp["resource_type"] == args["resource_type"] and \
                    rp["resource_pattern"] == str(args["resource_id"]):
                self.role_permissions.remove(rp)
                return 200, {}
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", "Permission for user=%s on resource_type=%s, resource_id=%s "
                          "not found." % (args["username"], args["resource_type"], args["resource_id"]))

    def list_role_permissions(self, sender, args):
        rid = int(args["role_id"])
        return 200, {"role_permissions": [dict(rp) for rp in self.role_permissions if rp["role_id"] == rid]}

    def update_role_permission(self, sender, args):
        for rp in self.role_permissions:
            if rp["id"] == args["role_permission_id"]:
                if args["permission"] not in RBAC_PERMISSIONS:
                    raise MlflowError("INVALID_PARAMETER_VALUE", "Invalid permission '%s'" % args["permission"])
                rp["permission"] = args["permission"]
                return 200, {"role_permission": dict(rp)}
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", "Role permission with id=%s not found"
                          % args["role_permission_id"])

    def _legacy_handler(self, kind, key, verb):
        resource_type = "experiment" if kind == "experiments" else "registered_model"
        response_key = "experiment_permission" if kind == "experiments" else "registered_model_permission"
        label = "Experiment permission with experiment_id" if kind == "experiments" else \
            "Registered model permission with name"

        def handler(sender, args):
            user = self._user(args["username"])
            k = (resource_type, args[key], args["username"])
            if verb in ("create", "update") and args["permission"] not in LEGACY_PERMISSIONS:
                raise MlflowError("INVALID_PARAMETER_VALUE", "Invalid permission '%s'. Valid permissions are: %s"
                                  % (args["permission"], LEGACY_PERMISSIONS))
            if verb == "create":
                if k in self.legacy_grants:
                    raise MlflowError("RESOURCE_ALREADY_EXISTS", "%s (%s=%s, username=%s) already exists."
                                      % (label.split(" with ", maxsplit=1)[0], key, args[key], args["username"]))
                self.legacy_grants[k] = args["permission"]
                return 200, {response_key: {key: args[key], "user_id": user["id"], "permission": args["permission"]}}
            if k not in self.legacy_grants:
                raise MlflowError("RESOURCE_DOES_NOT_EXIST", "%s=%s and username=%s not found"
                                  % (label, args[key], args["username"]))
            if verb == "get":
                return 200, {response_key: {key: args[key], "user_id": user["id"], "permission": self.legacy_grants[k]}}
            if verb == "update":
                self.legacy_grants[k] = args["permission"]
            else:
                del self.legacy_grants[k]
            return 200, {}
        return handler


@pytest.fixture
def fake(monkeypatch):
    server = FakeMlflow()
    monkeypatch.setattr(ma, "open_url", server.open_url)
    return server


def client(fake, **kwargs):
    return ma.MlflowAuthClient(fake.base, ADMIN, ADMIN_PASSWORD, **kwargs)


# ---------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("uri,base", [
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("http://127.0.0.1:5000/", "http://127.0.0.1:5000"),
    ("https://mlflow.example.com/mlflow", "https://mlflow.example.com/mlflow"),
    ("https://mlflow.example.com/mlflow/", "https://mlflow.example.com/mlflow"),
    (" https://mlflow.example.com:8443/a/b// ", "https://mlflow.example.com:8443/a/b"),
])
def test_base_url(uri, base):
    assert ma.base_url(uri) == base


@pytest.mark.parametrize("uri", ["", "mlflow.example.com", "file:///tmp/mlruns", "databricks", "http://",
                                 "https://mlflow.example.com/?x=1", "https://mlflow.example.com/#top"])
def test_base_url_refuses(uri):
    with pytest.raises(ValueError):
        ma.base_url(uri)


def test_base_url_with_credentials_is_refused_without_repeating_them():
    with pytest.raises(ValueError) as excinfo:
        ma.base_url("https://admin:T0p-secret@mlflow.example.com/mlflow")
    assert "T0p-secret" not in str(excinfo.value)
    assert "credentials" in str(excinfo.value)


def test_redact_cuts_sql_detail_hashes_and_secrets():
    text = ("User (username=alice) already exists. Error: (sqlite3.IntegrityError) UNIQUE constraint failed: "
            "users.username\n[SQL: INSERT INTO users ...]\n[parameters: ('alice', 'scrypt:32768:8:1$abc$def', 0)]")
    assert ma.redact(text, []) == ("User (username=alice) already exists. Error: (sqlite3.IntegrityError) UNIQUE "
                                   "constraint failed: users.username")
    assert ma.redact("hash pbkdf2:sha256:600000$salt$0123abcd here", []) == "hash ******** here"
    assert ma.redact("pw s3cret and s3cret-longer", ["s3cret", "s3cret-longer", None, ""]) == "pw ******** and ********"
    assert ma.redact(None, ["x"]) is None
    assert len(ma.redact("x" * 1000, [])) == ma.MAX_MESSAGE + 3


def test_plain_text_of_error_bodies():
    assert ma.plain_text(FLASK_404) == "404 Not Found"
    assert ma.plain_text("<html><body><p>Bad   gateway</p></body></html>") == "Bad gateway"
    assert ma.plain_text("Permission denied") == "Permission denied"
    assert ma.plain_text("x" * 200).endswith("...")


def test_user_info_keeps_only_non_secret_fields():
    assert ma.user_info({"id": 2, "username": "a", "is_admin": 0, "password_hash": "scrypt:...",
                         "experiment_permissions": []}) == {"id": 2, "username": "a", "is_admin": False}
    assert ma.user_info(None) is None


def test_auth_argument_spec_is_a_fresh_dict_with_the_module_options_added():
    spec = ma.auth_argument_spec(name=dict(type="str", required=True))
    assert list(spec) == ["tracking_uri", "admin_username", "admin_password", "validate_certs", "ca_path", "name"]
    assert spec["admin_password"]["no_log"] is True
    spec["tracking_uri"]["required"] = False
    assert ma.auth_argument_spec()["tracking_uri"]["required"] is True


class ModuleFailed(Exception):
    pass


class StubModule(object):
    def __init__(self, tracking_uri):
        self.params = dict(tracking_uri=tracking_uri, admin_username=ADMIN, admin_password=ADMIN_PASSWORD,
                           validate_certs=False, ca_path="/etc/ca.pem")

    def fail_json(self, **kwargs):
        raise ModuleFailed(kwargs)


def test_client_from_params():
    c = ma.client_from_params(StubModule("https://mlflow.example.com/mlflow/"), {})
    assert (c.base, c.admin_username, c.admin_password, c.validate_certs, c.ca_path) == (
        "https://mlflow.example.com/mlflow", ADMIN, ADMIN_PASSWORD, False, "/etc/ca.pem")
    with pytest.raises(ModuleFailed) as excinfo:
        ma.client_from_params(StubModule("ftp://mlflow.example.com"), dict(changed=False, changes=[]))
    assert excinfo.value.args[0] == dict(
        msg="invalid tracking_uri: tracking_uri must be an http:// or https:// URL with a host name",
        changed=False, changes=[])


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


def test_request_shape_auth_tls_options_and_path_prefix(monkeypatch):
    fake = FakeMlflow(base="https://mlflow.example.com/mlflow")
    monkeypatch.setattr(ma, "open_url", fake.open_url)
    c = ma.MlflowAuthClient("https://mlflow.example.com/mlflow/", ADMIN, ADMIN_PASSWORD, validate_certs=False,
                            ca_path="/etc/ssl/ca.pem")
    assert c.get_user(ADMIN) == {"id": 1, "username": ADMIN, "is_admin": True}
    method, url, body, user, password, kwargs = fake.requests[-1]
    assert (method, url, body) == ("GET", "https://mlflow.example.com/mlflow/api/2.0/mlflow/users/get?username=admin",
                                   None)
    assert (user, password) == (ADMIN, ADMIN_PASSWORD)
    assert kwargs["validate_certs"] is False
    assert kwargs["ca_path"] == "/etc/ssl/ca.pem"
    assert kwargs["timeout"] == ma.DEFAULT_TIMEOUT
    assert kwargs["follow_redirects"] == "none"
    assert kwargs["use_netrc"] is False


def test_json_body_and_content_type(fake):
    seen = []
    real = fake.open_url

    def spy(url, data=None, headers=None, method=None, **kw):
        seen.append(headers)
        return real(url, data=data, headers=headers, method=method, **kw)

    ma.open_url = spy
    try:
        client(fake).create_user("alice", "alice-password-1")
    finally:
        ma.open_url = real
    assert seen[0]["Content-Type"] == "application/json"
    assert fake.requests[-1][2] == {"username": "alice", "password": "alice-password-1"}
    assert "alice-password-1" not in fake.requests[-1][1]


def test_check_password(fake):
    fake.add_user("alice", "alice-password-1")
    c = client(fake)
    assert c.check_password("alice", "alice-password-1") is True
    assert c.check_password("alice", "wrong-password-1") is False
    assert fake.requests[-1][3:5] == ("alice", "wrong-password-1")


def test_missing_user_is_none_other_404_is_explained(fake):
    c = client(fake)
    assert c.get_user("nobody") is None
    fake.base = "http://mlflow.test:5000/elsewhere"
    with pytest.raises(ma.MlflowAuthError) as excinfo:
        c.get_user("nobody")
    e = excinfo.value
    assert e.status == 404 and e.error_code is None
    assert "GET /api/2.0/mlflow/users/get: MLflow answered HTTP 404: 404 Not Found" in e.msg
    assert "--app-name basic-auth" in e.msg


def test_401_names_the_endpoint_and_never_the_password(fake):
    c = ma.MlflowAuthClient(fake.base, ADMIN, "wrong-Adm1n-pw", timeout=5)
    with pytest.raises(ma.MlflowAuthError) as excinfo:
        c.get_user("alice")
    e = excinfo.value
    assert e.status == 401
    assert e.msg.startswith("GET /api/2.0/mlflow/users/get: MLflow answered HTTP 401: You are not authenticated")
    assert "admin_username 'admin'" in e.msg
    assert "wrong-Adm1n-pw" not in str(e)
    assert fake.requests[-1][5]["timeout"] == 5


def test_json_error_carries_error_code_and_message(fake):
    with pytest.raises(ma.MlflowAuthError) as excinfo:
        client(fake).create_user("alice", "short")
    assert excinfo.value.msg == ("POST /api/2.0/mlflow/users/create: MLflow answered HTTP 400 INVALID_PARAMETER_VALUE: "
                                 "Password must be at least 12 characters")
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"


def test_duplicate_user_error_loses_the_hash_and_password(fake):
    fake.add_user("alice", "alice-password-1")
    with pytest.raises(ma.MlflowAuthError) as excinfo:
        client(fake).create_user("alice", "alice-password-2")
    msg = str(excinfo.value)
    assert "already exists" in msg
    assert "scrypt" not in msg and "alice-password-2" not in msg and "[SQL" not in msg


def test_a_server_echoing_the_password_is_masked(fake):
    fake.fail("PATCH", "/api/2.0/mlflow/users/update-password", 400,
              json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "message": "bad value new-Passw0rd-xyz"}).encode())
    with pytest.raises(ma.MlflowAuthError) as excinfo:
        client(fake).update_password("alice", "new-Passw0rd-xyz")
    assert "new-Passw0rd-xyz" not in str(excinfo.value)
    assert "bad value ********" in str(excinfo.value)


def test_redirect_is_reported_not_followed(fake):
    fake.fail("GET", "/api/2.0/mlflow/users/get", 301, b"", {"Location": "https://u:p@mlflow.example.com:8443/x?y=1"})
    with pytest.raises(ma.MlflowAuthError) as excinfo:
        client(fake).get_user("alice")
    msg = str(excinfo.value)
    assert "HTTP 301, a redirect to https://mlflow.example.com:8443/x;" in msg
    assert "u:p@" not in msg


def test_unreachable_server(monkeypatch):
    from urllib.error import URLError

    def refuse(url, **kwargs):
        raise URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr(ma, "open_url", refuse)
    with pytest.raises(ma.MlflowAuthError) as excinfo:
        ma.MlflowAuthClient("http://127.0.0.1:9", ADMIN, ADMIN_PASSWORD).get_user("a")
    assert excinfo.value.status is None
    assert "GET /api/2.0/mlflow/users/get: cannot reach MLflow at http://127.0.0.1:9" in str(excinfo.value)


def test_non_json_success_is_an_error(fake):
    real = fake.open_url
    ma.open_url = lambda url, **kw: Response(200, b"<html><title>Sign in</title></html>")
    try:
        with pytest.raises(ma.MlflowAuthError) as excinfo:
            client(fake).get_user("alice")
    finally:
        ma.open_url = real
    assert "not JSON" in str(excinfo.value)


def test_update_admin_sends_a_json_boolean(fake):
    fake.add_user("alice", "alice-password-1")
    client(fake).update_admin("alice", 1)
    assert fake.requests[-1][2] == {"username": "alice", "is_admin": True}
    assert fake.users["alice"]["is_admin"] is True


def test_list_user_permissions_tells_the_api_generation(monkeypatch):
    for api, expected in (("rbac", []), ("legacy", None)):
        fake = FakeMlflow(api=api)
        monkeypatch.setattr(ma, "open_url", fake.open_url)
        fake.add_user("alice", "alice-password-1")
        assert client(fake).list_user_permissions("alice") == expected
    fake = FakeMlflow()
    monkeypatch.setattr(ma, "open_url", fake.open_url)
    with pytest.raises(ma.MlflowAuthError) as excinfo:
        client(fake).list_user_permissions("nobody")
    assert excinfo.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_errors_name_the_path_with_the_prefix(monkeypatch):
    fake = FakeMlflow(base="https://mlflow.example.com/mlflow")
    monkeypatch.setattr(ma, "open_url", fake.open_url)
    with pytest.raises(ma.MlflowAuthError) as excinfo:
        ma.MlflowAuthClient("https://mlflow.example.com/mlflow", ADMIN, "wrong-Adm1n-pw").get_user("alice")
    assert excinfo.value.msg.startswith("GET /mlflow/api/2.0/mlflow/users/get: MLflow answered HTTP 401")
    assert excinfo.value.endpoint == "/mlflow/api/2.0/mlflow/users/get"
