# -*- coding: utf-8 -*-
"""Unit tests of mlops.mlflow.mlflow_permission: main() in-process against FakeMlflow, the HTTP layer of
MLflow 3.17.2's basic-auth app (api="rbac") and of MLflow 3.7.0's (api="legacy"); see
tests/unit/plugins/module_utils/test_mlflow_auth.py for the shapes it reproduces."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils import basic

from ansible_collections.mlops.mlflow.plugins.modules import mlflow_permission as mod
from ansible_collections.mlops.mlflow.tests.unit.plugins.module_utils.test_mlflow_auth import ADMIN_PASSWORD
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules.module_checks import (
    DocumentationTests,
    auth_fake,
    run_auth_module,
)

BOB_PASSWORD = "bob-Passw0rd-xyz"
SECRETS = (ADMIN_PASSWORD, BOB_PASSWORD, "wrong-Adm1n-pw")
LIST = "/api/3.0/mlflow/users/permissions/list"
GRANT = "/api/3.0/mlflow/users/permissions/grant"
REVOKE = "/api/3.0/mlflow/users/permissions/revoke"
ROLE_LIST = "/api/3.0/mlflow/roles/permissions/list"
ROLE_UPDATE = "/api/3.0/mlflow/roles/permissions/update"


def make_fake(monkeypatch, api):
    server = auth_fake(monkeypatch, api=api)
    server.add_user("bob", BOB_PASSWORD)
    server.add_experiment("churn")          # id 1, MANAGE for admin
    server.add_model("churn-classifier")
    return server


@pytest.fixture
def fake(monkeypatch):
    return make_fake(monkeypatch, "rbac")


@pytest.fixture
def legacy(monkeypatch):
    return make_fake(monkeypatch, "legacy")


def run(fake, **args):
    args.setdefault("username", "bob")
    return run_auth_module(mod, fake, SECRETS, **args)


# ---------------------------------------------------------------------------------------------
# Documentation
# ---------------------------------------------------------------------------------------------


class TestDocumentation(DocumentationTests):
    module = mod
    no_log = ("admin_password",)
    full_support = ("check_mode", "diff_mode")

    def check_example(self, args):
        assert len(set(args) & {"experiment_name", "experiment_id", "registered_model_name"}) == 1


# ---------------------------------------------------------------------------------------------
# MLflow 3.17 (rbac)
# ---------------------------------------------------------------------------------------------


def test_grant_on_an_experiment_by_name(fake):
    result = run(fake, experiment_name="churn", permission="EDIT")
    assert result["changed"] is True
    assert result["msg"] == "EDIT granted to bob on experiment churn (id 1)"
    assert result["permission"] == "EDIT"
    assert result["previous_permission"] is None
    assert result["resource"] == {"type": "experiment", "id": "1", "name": "churn"}
    assert result["api"] == "rbac"
    assert fake.grant_of("bob", "experiment", "1") == "EDIT"
    assert fake.calls() == [
        ("GET", "/api/2.0/mlflow/users/get"),
        ("GET", "/api/2.0/mlflow/experiments/get-by-name"),
        ("GET", LIST),
        ("POST", GRANT),
    ]
    assert fake.requests[-1][2] == {"username": "bob", "resource_type": "experiment", "resource_id": "1",
                                    "permission": "EDIT"}


def test_second_run_is_not_changed(fake):
    run(fake, experiment_name="churn", permission="EDIT")
    fake.requests[:] = []
    result = run(fake, experiment_name="churn", permission="EDIT")
    assert result["changed"] is False
    assert result["msg"] == "bob holds EDIT on experiment churn (id 1)"
    assert result["permission"] == result["previous_permission"] == "EDIT"
    assert fake.writes() == []


def test_change_updates_the_role_permission_in_place(fake):
    fake.grant("bob", "experiment", "1", "READ")
    result = run(fake, experiment_name="churn", permission="MANAGE")
    assert result["changed"] is True
    assert result["msg"] == "grant of bob on experiment churn (id 1) changed from READ to MANAGE"
    assert result["previous_permission"] == "READ" and result["permission"] == "MANAGE"
    assert fake.grant_of("bob", "experiment", "1") == "MANAGE"
    assert fake.calls()[-2:] == [("GET", ROLE_LIST), ("PATCH", ROLE_UPDATE)]
    role_permission = [rp for rp in fake.role_permissions if rp["resource_pattern"] == "1"
                       and rp["role_id"] == fake.role_of("bob")][0]
    assert fake.requests[-1][2] == {"role_permission_id": role_permission["id"], "permission": "MANAGE"}
    assert not any(c[1] == REVOKE for c in fake.calls())


def test_absent_revokes(fake):
    fake.grant("bob", "registered_model", "churn-classifier", "EDIT")
    result = run(fake, registered_model_name="churn-classifier", state="absent")
    assert result["changed"] is True
    assert result["msg"] == "grant EDIT of bob on registered model churn-classifier removed"
    assert result["permission"] is None and result["previous_permission"] == "EDIT"
    assert fake.grant_of("bob", "registered_model", "churn-classifier") is None
    assert fake.requests[-1][2] == {"username": "bob", "resource_type": "registered_model",
                                    "resource_id": "churn-classifier"}
    again = run(fake, registered_model_name="churn-classifier", state="absent")
    assert again["changed"] is False
    assert again["msg"] == "bob holds no grant on registered model churn-classifier"


def test_experiment_id_and_registered_model(fake):
    result = run(fake, experiment_id="0", permission="DENY")
    assert result["resource"] == {"type": "experiment", "id": "0", "name": "Default"}
    assert fake.grant_of("bob", "experiment", "0") == "DENY"
    result = run(fake, registered_model_name="churn-classifier", permission="READ")
    assert result["resource"] == {"type": "registered_model", "id": "churn-classifier", "name": "churn-classifier"}
    assert fake.grant_of("bob", "registered_model", "churn-classifier") == "READ"


def test_grants_of_other_roles_and_workspaces_are_not_the_users_grant(fake):
    # a custom role holding EDIT on the experiment and a grant of bob's in another workspace
    role = fake.add_role("data-scientists")
    fake.users["bob"]["roles"] = ("data-scientists",)
    fake.role_permissions.append(dict(id=99, role_id=role, resource_type="experiment", resource_pattern="1",
                                      permission="EDIT"))
    fake.rbac_grant("bob", "experiment", "1", "MANAGE", workspace="team-b")
    result = run(fake, check_mode=True, experiment_name="churn", permission="EDIT")
    assert result["previous_permission"] is None
    assert result["changed"] is True


def test_no_permissions_is_refused_on_mlflow_317_before_any_change(fake):
    fake.grant("bob", "experiment", "1", "READ")
    result = run(fake, experiment_name="churn", permission="NO_PERMISSIONS")
    assert result["failed"] is True
    assert "refuses NO_PERMISSIONS" in result["msg"] and "use DENY" in result["msg"]
    assert fake.writes() == []
    assert fake.grant_of("bob", "experiment", "1") == "READ"


def test_revoke_when_the_grant_is_gone_meanwhile_reports_mlflows_404(fake):
    fake.grant("bob", "experiment", "1", "READ")
    fake.fail("POST", REVOKE, 404, json.dumps({
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": "Permission for user=bob on resource_type=experiment, resource_id=1 not found."}).encode())
    result = run(fake, experiment_name="churn", state="absent")
    assert result["failed"] is True
    assert result["msg"] == ("POST /api/3.0/mlflow/users/permissions/revoke: MLflow answered HTTP 404 "
                             "RESOURCE_DOES_NOT_EXIST: Permission for user=bob on resource_type=experiment, "
                             "resource_id=1 not found")


# ---------------------------------------------------------------------------------------------
# Check mode and diff
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("before,args,msg", [
    (None, dict(permission="READ"), "READ would be granted to bob on experiment churn (id 1)"),
    ("READ", dict(permission="EDIT"), "grant of bob on experiment churn (id 1) would be changed from READ to EDIT"),
    ("READ", dict(state="absent"), "grant READ of bob on experiment churn (id 1) would be removed"),
])
def test_check_mode_changes_nothing(fake, before, args, msg):
    if before:
        fake.grant("bob", "experiment", "1", before)
    result = run(fake, check_mode=True, experiment_name="churn", **args)
    assert result["changed"] is True
    assert result["msg"] == msg
    assert fake.writes() == []
    assert fake.grant_of("bob", "experiment", "1") == before


def test_diff(fake):
    fake.grant("bob", "experiment", "1", "READ")
    result = run(fake, diff=True, experiment_name="churn", permission="EDIT")
    assert result["diff"] == {"before": {"permission": "READ"}, "after": {"permission": "EDIT"},
                              "before_header": "bob on experiment churn (id 1)",
                              "after_header": "bob on experiment churn (id 1)"}
    result = run(fake, diff=True, check_mode=True, experiment_name="churn", state="absent")
    assert result["diff"]["before"] == {"permission": "EDIT"}
    assert result["diff"]["after"] == {"permission": None}
    assert "diff" not in run(fake, experiment_name="churn", permission="EDIT")


# ---------------------------------------------------------------------------------------------
# Missing things and errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,msg", [
    (dict(experiment_name="nope"), "experiment nope does not exist"),
    (dict(experiment_id="42"), "experiment id 42 does not exist"),
    (dict(registered_model_name="nope"), "registered model nope does not exist"),
    (dict(experiment_name="churn", username="carol"), "user carol does not exist"),
])
def test_missing_resource_or_user_fails_naming_it(fake, args, msg):
    result = run(fake, permission="READ", **args)
    assert result["failed"] is True
    assert result["msg"] == msg
    assert fake.writes() == []


def test_invalid_experiment_id_is_mlflows_message(fake):
    result = run(fake, experiment_id="abc", permission="READ")
    assert result["failed"] is True
    assert "Invalid experiment ID 'abc'. Experiment ID must be a valid integer" in result["msg"]


def test_absent_with_missing_user_or_experiment_name_is_no_change(fake):
    result = run(fake, experiment_name="churn", username="carol", state="absent")
    assert result["changed"] is False and "user carol does not exist" in result["msg"]
    result = run(fake, experiment_name="nope", state="absent")
    assert result["changed"] is False and "experiment nope does not exist" in result["msg"]
    assert fake.writes() == []


def test_absent_removes_a_grant_on_a_missing_experiment_id(fake):
    # MLflow 3.17 stores a grant for an id without an experiment
    fake.grant("bob", "experiment", "42", "READ")
    result = run(fake, experiment_id="42", state="absent")
    assert result["changed"] is True
    assert result["resource"] == {"type": "experiment", "id": "42", "name": None}
    assert fake.grant_of("bob", "experiment", "42") is None


def test_deleted_experiment_warns(fake, monkeypatch):
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: warnings.append(text))
    fake.add_experiment("old", lifecycle_stage="deleted")
    result = run(fake, experiment_name="old", permission="READ")
    assert result["changed"] is True
    assert warnings == ["experiment old (id 2) is deleted (in the trash)"]


def test_wrong_admin_password(fake):
    result = run(fake, admin_password="wrong-Adm1n-pw", experiment_name="churn", permission="READ")
    assert result["failed"] is True
    assert result["status"] == 401
    assert "GET /api/2.0/mlflow/users/get: MLflow answered HTTP 401" in result["msg"]
    assert "check admin_username and admin_password" in result["msg"]


def test_403_on_a_write(fake):
    fake.fail("POST", GRANT, 403, b"Permission denied")
    result = run(fake, experiment_name="churn", permission="READ")
    assert result["failed"] is True
    assert result["msg"] == ("POST /api/3.0/mlflow/users/permissions/grant: MLflow answered HTTP 403: Permission "
                             "denied. admin_username 'admin' is not an MLflow admin (is_admin), which this module "
                             "needs")


@pytest.mark.parametrize("args,fragment", [
    (dict(experiment_name="churn", registered_model_name="m", permission="READ"), "mutually exclusive"),
    (dict(permission="READ"), "one of the following is required"),
    (dict(experiment_name="churn"), "state is present but all of the following are missing: permission"),
    (dict(experiment_name="churn", permission="WRITE"), "value of permission must be one of"),
])
def test_argument_errors(fake, args, fragment):
    result = run(fake, **args)
    assert result["failed"] is True
    assert fragment in result["msg"]
    assert fake.requests == []


# ---------------------------------------------------------------------------------------------
# Older servers (legacy API, MLflow 2.x - 3.7)
# ---------------------------------------------------------------------------------------------


def test_legacy_grant_update_revoke(legacy):
    result = run(legacy, experiment_name="churn", permission="READ")
    assert result["changed"] is True and result["api"] == "legacy"
    assert legacy.calls()[-3:] == [("GET", LIST), ("GET", "/api/2.0/mlflow/experiments/permissions/get"),
                                   ("POST", "/api/2.0/mlflow/experiments/permissions/create")]
    assert legacy.requests[-1][2] == {"experiment_id": "1", "username": "bob", "permission": "READ"}
    assert legacy.grant_of("bob", "experiment", "1") == "READ"

    assert run(legacy, experiment_name="churn", permission="READ")["changed"] is False

    result = run(legacy, experiment_name="churn", permission="NO_PERMISSIONS")
    assert result["msg"] == "grant of bob on experiment churn (id 1) changed from READ to NO_PERMISSIONS"
    assert legacy.calls()[-1] == ("PATCH", "/api/2.0/mlflow/experiments/permissions/update")
    assert legacy.grant_of("bob", "experiment", "1") == "NO_PERMISSIONS"

    result = run(legacy, experiment_name="churn", state="absent")
    assert result["changed"] is True
    assert legacy.calls()[-1] == ("DELETE", "/api/2.0/mlflow/experiments/permissions/delete")
    assert legacy.requests[-1][2] == {"experiment_id": "1", "username": "bob"}
    assert legacy.grant_of("bob", "experiment", "1") is None


def test_legacy_registered_model(legacy):
    result = run(legacy, registered_model_name="churn-classifier", permission="EDIT")
    assert result["changed"] is True
    assert legacy.requests[-1][2] == {"name": "churn-classifier", "username": "bob", "permission": "EDIT"}
    assert legacy.calls()[-1] == ("POST", "/api/2.0/mlflow/registered-models/permissions/create")
    assert run(legacy, registered_model_name="churn-classifier", permission="EDIT")["changed"] is False


@pytest.mark.parametrize("permission", ["USE", "DENY"])
def test_legacy_refuses_rbac_permissions(legacy, permission):
    result = run(legacy, experiment_name="churn", permission=permission)
    assert result["failed"] is True
    assert "needs the role-based permission API" in result["msg"]
    assert legacy.writes() == []


def test_legacy_check_mode(legacy):
    result = run(legacy, check_mode=True, diff=True, experiment_id="1", permission="MANAGE")
    assert result["changed"] is True
    assert result["diff"]["after"] == {"permission": "MANAGE"}
    assert legacy.writes() == []
