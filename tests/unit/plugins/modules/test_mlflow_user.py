# -*- coding: utf-8 -*-
"""Unit tests of mlops.mlflow.mlflow_user: main() in-process against FakeMlflow, the HTTP layer of
MLflow 3.17.2's basic-auth app (see tests/unit/plugins/module_utils/test_mlflow_auth.py for the
request and response shapes it reproduces). Every result is checked for passwords."""
from __future__ import annotations

import json

import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils import mlflow_auth as ma
from ansible_collections.mlops.mlflow.plugins.modules import mlflow_user as mod
from ansible_collections.mlops.mlflow.tests.unit.plugins.module_utils.test_mlflow_auth import (
    ADMIN,
    ADMIN_PASSWORD,
    MlflowError,
)
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules.module_checks import (
    DocumentationTests,
    auth_fake,
    run_auth_module,
)

PW1 = "alice-Passw0rd-one"
PW2 = "alice-Passw0rd-two"
SECRETS = (ADMIN_PASSWORD, PW1, PW2, "wrong-Adm1n-pw", "short", "password1234", "new-Adm1n-pw-9")
USERS_GET = "/api/2.0/mlflow/users/get"


@pytest.fixture
def fake(monkeypatch):
    return auth_fake(monkeypatch)


def run(fake, **args):
    args.setdefault("name", "alice")
    return run_auth_module(mod, fake, SECRETS, **args)


# ---------------------------------------------------------------------------------------------
# Documentation against the argument spec (what ansible-test sanity's validate-modules checks)
# ---------------------------------------------------------------------------------------------


class TestDocumentation(DocumentationTests):
    module = mod
    no_log = ("admin_password", "password")
    full_support = ("check_mode", "diff_mode")


# ---------------------------------------------------------------------------------------------
# Create, no-op, password, admin flag
# ---------------------------------------------------------------------------------------------


def test_create(fake):
    result = run(fake, password=PW1)
    assert result["changed"] is True
    assert result["changes"] == ["created"]
    assert result["user"] == {"id": 2, "username": "alice", "is_admin": False}
    assert result["msg"] == "user alice created"
    assert fake.users["alice"] == {"id": 2, "password": PW1, "is_admin": False}
    assert fake.calls() == [("GET", USERS_GET), ("POST", "/api/2.0/mlflow/users/create")]
    assert fake.requests[1][2] == {"username": "alice", "password": PW1}
    assert all(r[3:5] == (ADMIN, ADMIN_PASSWORD) for r in fake.requests)


def test_create_as_admin_sets_the_flag_after_creation(fake):
    result = run(fake, password=PW1, admin=True)
    assert result["changes"] == ["created", "is_admin"]
    assert result["user"]["is_admin"] is True
    assert result["msg"] == "user alice created as an admin"
    assert fake.users["alice"]["is_admin"] is True
    assert fake.calls()[-1] == ("PATCH", "/api/2.0/mlflow/users/update-admin")
    assert fake.requests[-1][2] == {"username": "alice", "is_admin": True}


def test_second_run_is_not_changed_and_checks_the_password_as_the_user(fake):
    run(fake, password=PW1, admin=False)
    fake.requests[:] = []
    result = run(fake, password=PW1, admin=False)
    assert result["changed"] is False
    assert result["changes"] == []
    assert result["msg"] == "user alice is up to date"
    assert result["user"] == {"id": 2, "username": "alice", "is_admin": False}
    assert fake.writes() == []
    # the password check: the user reads itself with its own credentials
    assert fake.requests[-1][0:1] == ("GET",) and fake.requests[-1][3:5] == ("alice", PW1)
    assert fake.requests[-1][1].endswith(USERS_GET + "?username=alice")


def test_new_password_is_applied(fake):
    fake.add_user("alice", PW1)
    result = run(fake, password=PW2)
    assert result["changed"] is True
    assert result["changes"] == ["password"]
    assert result["msg"] == "user alice: password updated"
    assert fake.users["alice"]["password"] == PW2
    assert fake.calls()[-1] == ("PATCH", "/api/2.0/mlflow/users/update-password")
    # an admin request: no current_password
    assert fake.requests[-1][2] == {"username": "alice", "password": PW2}
    assert fake.requests[-1][3] == ADMIN
    # and it is current from now on
    assert run(fake, password=PW2)["changed"] is False


def test_update_password_on_create_leaves_an_existing_password(fake):
    fake.add_user("alice", PW1)
    result = run(fake, password=PW2, update_password="on_create")
    assert result["changed"] is False
    assert fake.users["alice"]["password"] == PW1
    # the user's password is not even tried
    assert all(r[3] == ADMIN for r in fake.requests)


def test_update_password_on_create_still_creates(fake):
    assert run(fake, password=PW1, update_password="on_create")["changes"] == ["created"]
    assert fake.users["alice"]["password"] == PW1


def test_without_password_an_existing_user_keeps_it(fake):
    fake.add_user("alice", PW1)
    result = run(fake)
    assert result["changed"] is False
    assert fake.users["alice"]["password"] == PW1


@pytest.mark.parametrize("was,wanted", [(False, True), (True, False)])
def test_admin_flag_change(fake, was, wanted):
    fake.add_user("alice", PW1, is_admin=was)
    result = run(fake, password=PW1, admin=wanted)
    assert result["changed"] is True
    assert result["changes"] == ["is_admin"]
    assert result["user"]["is_admin"] is wanted
    assert fake.users["alice"]["is_admin"] is wanted
    assert fake.requests[-1][2] == {"username": "alice", "is_admin": wanted}
    assert run(fake, password=PW1, admin=wanted)["changed"] is False


def test_admin_omitted_leaves_the_flag(fake):
    fake.add_user("alice", PW1, is_admin=True)
    result = run(fake, password=PW1)
    assert result["changed"] is False
    assert result["user"]["is_admin"] is True


def test_password_and_flag_together(fake):
    fake.add_user("alice", PW1)
    result = run(fake, password=PW2, admin=True)
    assert result["changes"] == ["is_admin", "password"]
    assert result["msg"] == "user alice: is_admin and password updated"
    assert fake.users["alice"] == {"id": 2, "password": PW2, "is_admin": True}


def test_create_without_password_fails(fake):
    result = run(fake)
    assert result["failed"] is True
    assert result["msg"] == "user alice does not exist; password is needed to create it"
    assert fake.writes() == []


def test_short_password_is_refused_by_mlflow(fake):
    result = run(fake, password="short")
    assert result["failed"] is True
    assert result["msg"] == ("POST /api/2.0/mlflow/users/create: MLflow answered HTTP 400 INVALID_PARAMETER_VALUE: "
                             "Password must be at least 12 characters")
    assert result["status"] == 400


def test_created_meanwhile_error_has_no_hash(fake, monkeypatch):
    # another run creates the user between this run's read and its creation
    def not_yet(sender, args):
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", "User with username=alice not found")

    monkeypatch.setattr(fake, "get_user", not_yet)
    fake.add_user("alice", PW1)
    result = run(fake, password=PW2)
    assert result["failed"] is True
    assert "RESOURCE_ALREADY_EXISTS: User (username=alice) already exists" in result["msg"]
    assert "scrypt" not in result["msg"] and "[SQL" not in result["msg"]


# ---------------------------------------------------------------------------------------------
# The admin's own account
# ---------------------------------------------------------------------------------------------


def test_admin_changes_its_own_password_with_the_current_one(fake):
    result = run(fake, name=ADMIN, password="new-Adm1n-pw-9")
    assert result["changes"] == ["password"]
    assert fake.requests[-1][2] == {"username": ADMIN, "password": "new-Adm1n-pw-9",
                                    "current_password": ADMIN_PASSWORD}
    assert fake.users[ADMIN]["password"] == "new-Adm1n-pw-9"
    # no request as "the user": the admin's credentials are the user's
    assert all(r[3:5] == (ADMIN, ADMIN_PASSWORD) for r in fake.requests)
    assert run(fake, name=ADMIN, password="new-Adm1n-pw-9", admin_password="new-Adm1n-pw-9")["changed"] is False


def test_admin_cannot_delete_itself(fake):
    result = run(fake, name=ADMIN, state="absent")
    assert result["failed"] is True
    assert "cannot delete itself" in result["msg"]
    assert fake.requests == []


def test_legacy_default_password_is_refused_for_an_admin(fake):
    result = run(fake, password="password1234", admin=True)
    assert result["failed"] is True
    assert "default password" in result["msg"]
    assert fake.writes() == []
    # a non-admin may have it (MLflow only blocks admins)
    assert run(fake, password="password1234")["changes"] == ["created"]


# ---------------------------------------------------------------------------------------------
# Absent
# ---------------------------------------------------------------------------------------------


def test_absent_deletes(fake):
    fake.add_user("alice", PW1)
    fake.grant("alice", "experiment", "0", "EDIT")
    result = run(fake, state="absent")
    assert result["changed"] is True
    assert result["changes"] == ["deleted"]
    assert result["msg"] == "user alice deleted"
    assert "user" not in result
    assert "alice" not in fake.users
    assert fake.calls()[-1] == ("DELETE", "/api/2.0/mlflow/users/delete")
    assert fake.requests[-1][2] == {"username": "alice"}


def test_absent_of_a_missing_user(fake):
    result = run(fake, state="absent", password=PW1)
    assert result["changed"] is False
    assert result["msg"] == "user alice does not exist"
    assert fake.writes() == []


# ---------------------------------------------------------------------------------------------
# Check mode and diff
# ---------------------------------------------------------------------------------------------


def test_check_mode_create(fake):
    result = run(fake, check_mode=True, password=PW1, admin=True)
    assert result["changed"] is True
    assert result["changes"] == ["created", "is_admin"]
    assert result["user"] == {"id": None, "username": "alice", "is_admin": True}
    assert result["msg"] == "user alice would be created as an admin"
    assert fake.writes() == []
    assert "alice" not in fake.users


def test_check_mode_password_and_flag(fake):
    fake.add_user("alice", PW1)
    result = run(fake, check_mode=True, password=PW2, admin=True)
    assert result["changed"] is True
    assert result["changes"] == ["is_admin", "password"]
    assert result["msg"] == "user alice: is_admin and password would be updated"
    assert result["user"]["is_admin"] is True
    assert fake.writes() == []
    assert fake.users["alice"] == {"id": 2, "password": PW1, "is_admin": False}


def test_check_mode_no_change(fake):
    fake.add_user("alice", PW1)
    assert run(fake, check_mode=True, password=PW1)["changed"] is False


def test_check_mode_delete(fake):
    fake.add_user("alice", PW1)
    result = run(fake, check_mode=True, state="absent")
    assert result["changed"] is True
    assert result["msg"] == "user alice would be deleted"
    assert "alice" in fake.users and fake.writes() == []


def test_diff_create(fake):
    result = run(fake, diff=True, password=PW1)
    assert result["diff"] == {"before": {"exists": False, "is_admin": None},
                              "after": {"exists": True, "is_admin": False, "password": "(changed)"}}


def test_diff_password_change_shows_a_marker_only(fake):
    fake.add_user("alice", PW1)
    result = run(fake, diff=True, check_mode=True, password=PW2, admin=True)
    assert result["diff"] == {"before": {"exists": True, "is_admin": False},
                              "after": {"exists": True, "is_admin": True, "password": "(changed)"}}


def test_diff_no_change_and_delete(fake):
    fake.add_user("alice", PW1)
    assert run(fake, diff=True, password=PW1)["diff"] == {"before": {"exists": True, "is_admin": False},
                                                          "after": {"exists": True, "is_admin": False}}
    assert run(fake, diff=True, state="absent")["diff"] == {"before": {"exists": True, "is_admin": False},
                                                            "after": {"exists": False, "is_admin": None}}


def test_no_diff_unless_asked(fake):
    assert "diff" not in run(fake, password=PW1)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_wrong_admin_password_is_a_clear_error(fake):
    result = run(fake, admin_password="wrong-Adm1n-pw", password=PW1)
    assert result["failed"] is True
    assert result["status"] == 401
    assert result["msg"] == (
        "GET /api/2.0/mlflow/users/get: MLflow answered HTTP 401: You are not authenticated. Please see "
        "https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate. "
        "MLflow did not accept the credentials of admin_username 'admin': check admin_username and admin_password")


def test_admin_username_that_is_no_admin(fake):
    fake.add_user("bob", "bob-Passw0rd-xyz")
    result = run(fake, admin_username="bob", admin_password="bob-Passw0rd-xyz", password=PW1)
    assert result["failed"] is True
    assert result["status"] == 403
    assert "Permission denied" in result["msg"]
    assert "admin_username 'bob' is not an MLflow admin" in result["msg"]
    assert "bob-Passw0rd-xyz" not in json.dumps(result)


def test_server_without_basic_auth(fake):
    result = run(fake, tracking_uri=fake.base + "/wrong-prefix", password=PW1)
    assert result["failed"] is True
    assert result["status"] == 404
    assert "HTTP 404: 404 Not Found" in result["msg"]
    assert "--app-name basic-auth" in result["msg"]


def test_path_prefix(monkeypatch):
    fake = auth_fake(monkeypatch, base="https://mlflow.example.com/mlflow")
    result = run(fake, tracking_uri="https://mlflow.example.com/mlflow/", password=PW1, ca_path="/etc/ca.pem",
                 validate_certs=False)
    assert result["changed"] is True
    assert fake.requests[0][1] == "https://mlflow.example.com/mlflow/api/2.0/mlflow/users/get?username=alice"
    assert all(r[5]["ca_path"] == "/etc/ca.pem" and r[5]["validate_certs"] is False for r in fake.requests)


def test_tracking_uri_with_credentials(fake):
    result = run(fake, tracking_uri="https://admin:" + ADMIN_PASSWORD + "@mlflow.example.com", password=PW1)
    assert result["failed"] is True
    assert result["msg"].startswith("invalid tracking_uri: tracking_uri must not contain credentials")
    assert fake.requests == []


def test_self_service_update_needs_current_password_on_mlflow_317(fake):
    # what the module avoids for other users: a user's own change without current_password is refused
    fake.add_user("alice", PW1)
    with pytest.raises(ma.MlflowAuthError) as excinfo:
        ma.MlflowAuthClient(fake.base, "alice", PW1).update_password("alice", PW2)
    assert "Current password is required" in str(excinfo.value)


@pytest.mark.parametrize("args", [
    dict(password=PW1),
    dict(password=PW2, admin=True),
    dict(state="absent"),
    dict(admin_password="wrong-Adm1n-pw", password=PW1),
])
def test_no_password_in_any_result_or_request_url(fake, args):
    fake.add_user("alice", PW1)
    for check_mode in (True, False):
        run(fake, check_mode=check_mode, diff=True, **args)
