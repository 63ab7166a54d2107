# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""REST client of MLflow's built-in authentication (``mlflow server --app-name basic-auth``),
shared by the mlops.mlflow.mlflow_user and mlops.mlflow.mlflow_permission modules, with their
connection options (`auth_argument_spec`, `client_from_params`).

Requests go to ``<tracking_uri>/api/<version>/mlflow/<endpoint>``, so a tracking URI with a path
prefix (MLflow behind Nginx under ``/mlflow``) works as it does for MLflow's own client. Every
request carries HTTP basic auth (the admin's, or a user's own to check a password), JSON bodies,
a timeout, ``validate_certs`` and ``ca_path``. Redirects are not followed: a redirect would
repeat the credentials to wherever it points (and turn a POST into a GET), so it is reported.

Errors (`MlflowAuthError`) name the method, the endpoint and the HTTP status, plus MLflow's
``error_code`` and message. They never contain a password: every password the client was given
or sent is replaced by ``********`` in them, and what MLflow 3.17 appends to some messages (the
SQL statement with its parameters, which holds the new user's password hash) is cut off.

Measured against MLflow 3.17.2 (``mlflow[auth]``); the response shapes are recorded in
tests/unit/plugins/modules/test_mlflow_user.py and test_mlflow_permission.py.
"""

from __future__ import annotations

import base64
import json
import re

from urllib.error import HTTPError
from urllib.parse import urlencode, urlsplit, urlunsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

DEFAULT_TIMEOUT = 30
# What MLflow appends to a failed INSERT/UPDATE's message: the statement and its parameters.
SQL_DETAIL = re.compile(r"\s*\[SQL: .*", re.S)
# werkzeug password hashes (scrypt:..., pbkdf2:sha256:...), in case one shows up elsewhere
PASSWORD_HASH = re.compile(r"\b(?:scrypt|pbkdf2)(?::[\w.-]+)*\$[^\s'\",)\]]+")
MASK = "********"
MAX_MESSAGE = 300

# The API generations of MLflow's auth app.
RBAC = "rbac"      # MLflow 3.17: users/permissions/{grant,revoke,list} (api/3.0), roles
LEGACY = "legacy"  # MLflow 2.x, 3.7: experiments/permissions/*, registered-models/permissions/*


class MlflowAuthError(Exception):
    """A request that did not succeed. ``status`` is the HTTP status (None when no answer came),
    ``error_code`` MLflow's (RESOURCE_DOES_NOT_EXIST, ...) or None for a non-JSON answer."""

    def __init__(self, msg, status=None, error_code=None, endpoint=None, server_message=None):
        Exception.__init__(self, msg)
        self.msg = msg
        self.status = status
        self.error_code = error_code
        self.endpoint = endpoint
        self.server_message = server_message


def redact(text, secrets):
    """text with every secret replaced, MLflow's SQL detail cut off and password hashes masked."""
    if text is None:
        return None
    text = SQL_DETAIL.sub("", str(text))
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = PASSWORD_HASH.sub(MASK, text)
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + "..."
    return text.strip()


def base_url(tracking_uri):
    """The tracking URI without a trailing slash; ValueError for other schemes, credentials in
    the URI (they belong into admin_username/admin_password) or a query string."""
    if not tracking_uri:
        raise ValueError("tracking_uri is empty")
    parts = urlsplit(tracking_uri.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("tracking_uri must be an http:// or https:// URL with a host name")
    if parts.username is not None or parts.password is not None:
        # the URI is not repeated here: it holds a password
        raise ValueError("tracking_uri must not contain credentials (user:password@); "
                         "use admin_username and admin_password")
    if parts.query or parts.fragment:
        raise ValueError("tracking_uri must not have a query string or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def plain_text(text, limit=160):
    """A short one-line version of a non-JSON error body: an HTML page's title, else the text."""
    title = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
    if title:
        text = title.group(1)
    elif text.lstrip().startswith("<"):
        text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


def basic_auth_header(username, password):
    token = base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
    return "Basic " + token


class MlflowAuthClient(object):
    """Requests to one MLflow server as one admin user."""

    def __init__(self, tracking_uri, admin_username, admin_password, validate_certs=True, ca_path=None,
                 timeout=DEFAULT_TIMEOUT):
        self.base = base_url(tracking_uri)
        self.admin_username = admin_username
        self.admin_password = admin_password
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        # every password this client is handed, masked in anything it reports
        self.secrets = set([admin_password]) if admin_password else set()

    def add_secret(self, value):
        if value:
            self.secrets.add(value)

    def path(self, endpoint, version="2.0"):
        return "/api/%s/mlflow/%s" % (version, endpoint)

    def request(self, method, endpoint, version="2.0", params=None, body=None, auth=None):
        """The parsed JSON body (or {}) of a 2xx answer; MlflowAuthError otherwise.

        ``auth`` is (username, password); the admin's when omitted."""
        username, password = auth if auth else (self.admin_username, self.admin_password)
        self.add_secret(password)
        url = self.base + self.path(endpoint, version)
        # errors name the path as the server sees it, with the tracking URI's prefix
        path = urlsplit(url).path
        what = "%s %s" % (method, path)
        if params:
            url += "?" + urlencode(params)
        headers = {"Authorization": basic_auth_header(username, password), "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            response = open_url(url, data=data, headers=headers, method=method, timeout=self.timeout,
                                validate_certs=self.validate_certs, ca_path=self.ca_path,
                                follow_redirects="none", use_netrc=False, use_proxy=True)
            status = response.getcode()
            raw = response.read()
        except HTTPError as e:
            raise self._http_error(what, e)
        except (UrlsConnectionError, OSError) as e:
            # URLError, timeouts, TLS errors; ansible's SSLValidationError is a UrlsConnectionError
            reason = getattr(e, "reason", None) or e
            raise MlflowAuthError("%s: cannot reach MLflow at %s: %s"
                                  % (what, self.base, redact(reason, self.secrets)), endpoint=path)
        if not raw:
            return {}
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise MlflowAuthError(
                "%s: MLflow answered HTTP %s with a body that is not JSON (%s); is %s the MLflow server "
                "(a login page of a proxy in front of it?)"
                % (what, status, redact(raw.decode("utf-8", "replace")[:80], self.secrets), self.base),
                status=status, endpoint=path)

    def _http_error(self, what, e):
        status = e.code
        path = what.split(" ", 1)[1]
        if 300 <= status < 400:
            location = e.headers.get("Location") if e.headers is not None else None
            if location:
                # without user:password@, query or fragment
                loc = urlsplit(location)
                host = (loc.hostname or "") + (":%d" % loc.port if loc.port else "")
                location = urlunsplit((loc.scheme, host, loc.path, "", ""))
            return MlflowAuthError(
                "%s: MLflow answered HTTP %d, a redirect to %s; redirects are not followed (they would "
                "repeat the credentials): set tracking_uri to the URL the server is reached at"
                % (what, status, location or "an unknown location"), status=status, endpoint=path)
        try:
            raw = e.read() or b""
        except Exception:
            raw = b""
        text = raw.decode("utf-8", "replace")
        error_code, message = None, None
        try:
            doc = json.loads(text)
            if isinstance(doc, dict):
                error_code = doc.get("error_code")
                message = doc.get("message")
        except ValueError:
            pass
        if message is None:
            message = plain_text(text) or getattr(e, "reason", "") or ""
        message = redact(message, self.secrets).rstrip(".")
        msg = "%s: MLflow answered HTTP %d" % (what, status)
        if error_code:
            msg += " %s" % error_code
        if message:
            msg += ": %s" % message
        return MlflowAuthError(msg, status=status, error_code=error_code, endpoint=path, server_message=message)

    # -- Users ----------------------------------------------------------------------------------

    def get_user(self, username):
        """{'id', 'username', 'is_admin'} or None when the user does not exist."""
        try:
            doc = self.request("GET", "users/get", params={"username": username})
        except MlflowAuthError as e:
            if e.status == 404 and e.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise self.explain(e)
        return user_info(doc.get("user"))

    def check_password(self, username, password):
        """True when MLflow accepts (username, password): the user reads its own record with them
        (users/get is allowed to the user itself). False on 401."""
        self.add_secret(password)
        try:
            doc = self.request("GET", "users/get", params={"username": username}, auth=(username, password))
        except MlflowAuthError as e:
            if e.status == 401:
                return False
            raise
        user = doc.get("user") or {}
        return user.get("username") == username

    def create_user(self, username, password):
        self.add_secret(password)
        try:
            doc = self.request("POST", "users/create", body={"username": username, "password": password})
        except MlflowAuthError as e:
            raise self.explain(e)
        return user_info(doc.get("user"))

    def update_password(self, username, password, current_password=None):
        """current_password: MLflow 3.17 asks for it when a user changes its own password."""
        self.add_secret(password)
        body = {"username": username, "password": password}
        if current_password is not None:
            self.add_secret(current_password)
            body["current_password"] = current_password
        try:
            self.request("PATCH", "users/update-password", body=body)
        except MlflowAuthError as e:
            raise self.explain(e)

    def update_admin(self, username, is_admin):
        # a JSON boolean: MLflow 3.17 stores the value as given and refuses the string "true"
        try:
            self.request("PATCH", "users/update-admin", body={"username": username, "is_admin": bool(is_admin)})
        except MlflowAuthError as e:
            raise self.explain(e)

    def delete_user(self, username):
        try:
            self.request("DELETE", "users/delete", body={"username": username})
        except MlflowAuthError as e:
            raise self.explain(e)

    # -- Tracking objects -------------------------------------------------------------------------

    def _get_object(self, endpoint, params, key):
        """doc[key] of GET endpoint, or None when MLflow answers RESOURCE_DOES_NOT_EXIST."""
        try:
            doc = self.request("GET", endpoint, params=params)
        except MlflowAuthError as e:
            if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise self.explain(e)
        return doc.get(key)

    def get_experiment(self, experiment_id=None, name=None):
        """The experiment dict (experiment_id, name, lifecycle_stage, ...) or None when missing."""
        if name is not None:
            return self._get_object("experiments/get-by-name", {"experiment_name": name}, "experiment")
        return self._get_object("experiments/get", {"experiment_id": experiment_id}, "experiment")

    def get_registered_model(self, name):
        return self._get_object("registered-models/get", {"name": name}, "registered_model")

    # -- Permissions --------------------------------------------------------------------------------

    def list_user_permissions(self, username):
        """Rows of GET api/3.0/mlflow/users/permissions/list (MLflow 3.17), or None when the server
        has no such endpoint (an older auth app)."""
        try:
            doc = self.request("GET", "users/permissions/list", version="3.0", params={"username": username})
        except MlflowAuthError as e:
            if e.status == 404 and not e.error_code:
                return None
            raise self.explain(e)
        return doc.get("permissions") or []

    def explain(self, e):
        """e with a hint for the statuses every module meets the same way (added once)."""
        if getattr(e, "explained", False):
            return e
        e.explained = True
        if e.status == 401:
            e.msg = ("%s. MLflow did not accept the credentials of admin_username %r: check admin_username and "
                     "admin_password" % (e.msg, self.admin_username))
        elif e.status == 403:
            e.msg = ("%s. admin_username %r is not an MLflow admin (is_admin), which this module needs"
                     % (e.msg, self.admin_username))
        elif e.status == 404 and not e.error_code:
            e.msg = ("%s. The endpoint does not exist: is the server started with --app-name basic-auth, and is "
                     "tracking_uri (%s) the URL MLflow's client uses, with its path prefix?" % (e.msg, self.base))
        e.args = (e.msg,)
        return e


def auth_argument_spec(**options):
    """A fresh argument spec of the connection options (documented in the mlops.mlflow.mlflow_auth doc
    fragment), with a module's own ``options`` added."""
    spec = dict(
        tracking_uri=dict(type="str", required=True),
        admin_username=dict(type="str", required=True),
        admin_password=dict(type="str", required=True, no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
    )
    spec.update(options)
    return spec


def client_from_params(module, result):
    """The MlflowAuthClient of a module's connection options; fails the module (with ``result``) when
    tracking_uri is not usable."""
    p = module.params
    try:
        return MlflowAuthClient(p["tracking_uri"], p["admin_username"], p["admin_password"],
                                validate_certs=p["validate_certs"], ca_path=p["ca_path"])
    except ValueError as e:
        module.fail_json(msg="invalid tracking_uri: %s" % e, **result)


def user_info(user):
    """Only the non-secret fields of a user record (older servers add permission lists)."""
    if not user:
        return None
    return dict(id=user.get("id"), username=user.get("username"), is_admin=bool(user.get("is_admin")))
