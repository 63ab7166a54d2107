#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mlflow_permission
short_description: Grant or revoke a user's permission on an MLflow experiment or registered model
description:
  - Manages the permission one user of MLflow's built-in authentication (C(mlflow server --app-name basic-auth))
    holds on one experiment or one registered model, through the server's REST API, as an MLflow admin.
  - "Idempotent: the user's explicit grant on the resource is read first; it is then created, changed or
    removed only when it differs from the task."
  - The experiment (by O(experiment_name) or O(experiment_id)), the registered model and the user must exist
    for O(state=present); the task fails naming the one that is missing. MLflow itself would accept a grant
    on an experiment or model that does not exist.
  - "Two generations of MLflow's API are supported and told apart automatically. The role-based one
    (MLflow 3.17; MLflow 3.7 does not have it) keeps a user's grants in a role of its own (C(__user_<id>__)): the module reads them with
    C(GET api/3.0/mlflow/users/permissions/list), creates one with C(POST .../users/permissions/grant),
    changes it with C(PATCH .../roles/permissions/update) (in place, so no request sees the user without
    a grant) and removes it with C(POST .../users/permissions/revoke). The older one (MLflow 2.x, 3.7)
    has C(api/2.0/mlflow/experiments/permissions/{get,create,update,delete}) and the same for
    C(registered-models)."
  - O(permission) is the grant itself, not the user's effective access. A user without a grant gets the
    server's C(default_permission); roles a user holds (MLflow 3.17) can add to it, and admins have every
    permission.
version_added: 0.1.0
author:
  - mlops.mlflow maintainers (@mlops)
attributes:
  check_mode:
    details: Reads the user, the resource and the grant; nothing is changed.
    support: full
  diff_mode:
    details: The grant (C(permission), null for none) before and after.
    support: full
extends_documentation_fragment:
  - mlops.mlflow.mlflow_auth
options:
  username:
    description: The user the permission is granted to.
    type: str
    required: true
  experiment_name:
    description:
      - Name of the experiment.
      - Exactly one of O(experiment_name), O(experiment_id) and O(registered_model_name) is needed.
    type: str
  experiment_id:
    description: Id of the experiment (C(0) is the C(Default) experiment).
    type: str
  registered_model_name:
    description: Name of the registered model.
    type: str
  permission:
    description:
      - The grant. C(READ) reads, C(EDIT) also writes (runs, metrics, versions), C(MANAGE) also deletes
        and grants permissions to others.
      - C(USE) (between READ and EDIT) and C(DENY) (no access, whatever a role or the default would give)
        exist in the role-based API only (MLflow 3.17).
      - C(NO_PERMISSIONS) exists in the older API only; the role-based one refuses it on a resource (use C(DENY)),
        and the task fails before changing anything.
      - Required when O(state=present).
    type: str
    choices: [READ, USE, EDIT, MANAGE, DENY, NO_PERMISSIONS]
  state:
    description: C(present) creates or changes the grant, C(absent) removes it (the user then gets the default).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Checked against MLflow 3.17.2 (C(mlflow[auth])); the API of older servers was taken from MLflow 3.7.0's source.
  - Servers with workspaces enabled (C(--enable-workspaces)) are not supported; grants are read and written
    in the C(default) workspace.
  - With O(state=absent), a user or experiment name that does not exist means there is no grant to remove
    (a deleted user's grants are deleted with it); the task reports no change.
  - Prompts are registered models to MLflow's registry but have grants of their own type (C(prompt)) in
    MLflow 3.17, which this module does not manage.
seealso:
  - module: mlops.mlflow.mlflow_user
  - name: MLflow authentication
    description: MLflow's documentation of the basic-auth app and its permissions.
    link: https://mlflow.org/docs/latest/auth/index.html
"""

EXAMPLES = r"""
- name: Let alice log runs to an experiment
  mlops.mlflow.mlflow_permission:
    tracking_uri: https://mlflow.example.com/mlflow
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    username: alice
    experiment_name: churn-model
    permission: EDIT

- name: Read-only access to a registered model
  mlops.mlflow.mlflow_permission:
    tracking_uri: https://mlflow.example.com/mlflow
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    username: bob
    registered_model_name: churn-classifier
    permission: READ

- name: Keep a user out of the Default experiment although default_permission is READ (MLflow 3.17)
  mlops.mlflow.mlflow_permission:
    tracking_uri: https://mlflow.example.com/mlflow
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    username: contractor
    experiment_id: "0"
    permission: DENY

- name: Remove the grant (the user gets the server's default_permission again)
  mlops.mlflow.mlflow_permission:
    tracking_uri: https://mlflow.example.com/mlflow
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    username: bob
    registered_model_name: churn-classifier
    state: absent
"""

RETURN = r"""
api:
  description:
    - The server's permission API, C(rbac) (role-based, MLflow 3.17, users/permissions and roles) or C(legacy)
      (experiments/permissions, registered-models/permissions). Null when nothing had to be read.
  returned: success
  type: str
  sample: rbac
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
  sample: granted EDIT on experiment churn-model (id 3) to alice
permission:
  description: The user's grant on the resource after the task (in check mode, as it would be); null for none.
  returned: success
  type: str
  sample: EDIT
previous_permission:
  description: The grant before the task; null for none.
  returned: success
  type: str
  sample: READ
resource:
  description: The resource.
  returned: success
  type: dict
  contains:
    type:
      description: C(experiment) or C(registered_model).
      type: str
      sample: experiment
    id:
      description: Experiment id, or the registered model's name.
      type: str
      sample: "3"
    name:
      description: Experiment or registered model name; null for an experiment O(state=absent) did not find.
      type: str
      sample: churn-model
  sample: {type: experiment, id: "3", name: churn-model}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlops.mlflow.plugins.module_utils.mlflow_auth import (
    LEGACY,
    RBAC,
    MlflowAuthError,
    auth_argument_spec,
    client_from_params,
    redact,
)

EXPERIMENT = "experiment"
REGISTERED_MODEL = "registered_model"
DEFAULT_WORKSPACE = "default"
RBAC_ONLY = ("USE", "DENY")
LEGACY_ONLY = ("NO_PERMISSIONS",)
# legacy endpoints: resource type -> (path, id parameter, response key)
LEGACY_ENDPOINTS = {
    EXPERIMENT: ("experiments/permissions", "experiment_id", "experiment_permission"),
    REGISTERED_MODEL: ("registered-models/permissions", "name", "registered_model_permission"),
}


def argument_spec():
    return auth_argument_spec(
        username=dict(type="str", required=True),
        experiment_name=dict(type="str"),
        experiment_id=dict(type="str"),
        registered_model_name=dict(type="str"),
        permission=dict(type="str", choices=["READ", "USE", "EDIT", "MANAGE", "DENY", "NO_PERMISSIONS"]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )


MUTUALLY_EXCLUSIVE = [("experiment_name", "experiment_id", "registered_model_name")]
REQUIRED_ONE_OF = [("experiment_name", "experiment_id", "registered_model_name")]
REQUIRED_IF = [("state", "present", ("permission",))]


def describe(resource):
    if resource["type"] == EXPERIMENT:
        if resource["name"] is not None:
            return "experiment %s (id %s)" % (resource["name"], resource["id"])
        return "experiment id %s" % resource["id"]
    return "registered model %s" % resource["id"]


def find_resource(module, client):
    """{'type', 'id', 'name'} of the resource, None when it does not exist (state=absent only)."""
    p = module.params
    present = p["state"] == "present"
    if p["registered_model_name"] is not None:
        name = p["registered_model_name"]
        model = client.get_registered_model(name)
        if model is None and present:
            module.fail_json(msg="registered model %s does not exist" % name, changed=False)
        # a grant can be stored for a name without a model: state=absent still looks for it
        return dict(type=REGISTERED_MODEL, id=name, name=name)
    if p["experiment_name"] is not None:
        experiment = client.get_experiment(name=p["experiment_name"])
        if experiment is None:
            if present:
                module.fail_json(msg="experiment %s does not exist" % p["experiment_name"], changed=False)
            return None
    else:
        experiment = client.get_experiment(experiment_id=p["experiment_id"])
        if experiment is None:
            if present:
                module.fail_json(msg="experiment id %s does not exist" % p["experiment_id"], changed=False)
            return dict(type=EXPERIMENT, id=str(p["experiment_id"]), name=None)
    if experiment.get("lifecycle_stage") == "deleted":
        module.warn("experiment %s (id %s) is deleted (in the trash)" % (experiment.get("name"),
                                                                         experiment.get("experiment_id")))
    return dict(type=EXPERIMENT, id=str(experiment["experiment_id"]), name=experiment.get("name"))


class RbacGrants(object):
    """Role-based API (MLflow 3.17): the user's explicit grants are rows of its synthetic role __user_<id>__."""

    api = RBAC

    def __init__(self, client, user, rows):
        self.client = client
        self.user = user
        self.rows = rows

    def row(self, resource):
        role = "__user_%s__" % self.user["id"]
        for row in self.rows:
            if row.get("role_name") == role and row.get("workspace", DEFAULT_WORKSPACE) == DEFAULT_WORKSPACE and \
                    row.get("resource_type") == resource["type"] and \
                    str(row.get("resource_pattern")) == resource["id"]:
                return row
        return None

    def get(self, resource):
        row = self.row(resource)
        return row.get("permission") if row else None

    def create(self, resource, permission):
        self.client.request("POST", "users/permissions/grant", version="3.0", body=dict(
            username=self.user["username"], resource_type=resource["type"], resource_id=resource["id"],
            permission=permission))

    def update(self, resource, permission):
        row = self.row(resource)
        doc = self.client.request("GET", "roles/permissions/list", version="3.0",
                                  params=dict(role_id=row["role_id"]))
        for rp in doc.get("role_permissions") or []:
            if rp.get("resource_type") == resource["type"] and str(rp.get("resource_pattern")) == resource["id"]:
                self.client.request("PATCH", "roles/permissions/update", version="3.0",
                                    body=dict(role_permission_id=rp["id"], permission=permission))
                return
        # gone in between: grant it anew
        self.create(resource, permission)

    def delete(self, resource):
        self.client.request("POST", "users/permissions/revoke", version="3.0", body=dict(
            username=self.user["username"], resource_type=resource["type"], resource_id=resource["id"]))


class LegacyGrants(object):
    """Older API (MLflow 2.x, 3.7): one endpoint family per resource type."""

    api = LEGACY

    def __init__(self, client, user):
        self.client = client
        self.user = user

    def _params(self, resource, **extra):
        path, key = LEGACY_ENDPOINTS[resource["type"]][:2]
        params = {key: resource["id"], "username": self.user["username"]}
        params.update(extra)
        return path, params

    def get(self, resource):
        path, params = self._params(resource)
        try:
            doc = self.client.request("GET", path + "/get", params=params)
        except MlflowAuthError as e:
            if e.status == 404 and e.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return (doc.get(LEGACY_ENDPOINTS[resource["type"]][2]) or {}).get("permission")

    def create(self, resource, permission):
        path, body = self._params(resource, permission=permission)
        self.client.request("POST", path + "/create", body=body)

    def update(self, resource, permission):
        path, body = self._params(resource, permission=permission)
        self.client.request("PATCH", path + "/update", body=body)

    def delete(self, resource):
        path, body = self._params(resource)
        self.client.request("DELETE", path + "/delete", body=body)


def grants_of(client, user):
    rows = client.list_user_permissions(user["username"])
    if rows is None:
        return LegacyGrants(client, user)
    return RbacGrants(client, user, rows)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=MUTUALLY_EXCLUSIVE, required_one_of=REQUIRED_ONE_OF,
                           required_if=REQUIRED_IF)
    p = module.params
    username = p["username"]
    wanted = p["permission"] if p["state"] == "present" else None
    result = dict(changed=False)
    client = client_from_params(module, result)

    try:
        user = client.get_user(username)
        if user is None:
            if p["state"] == "present":
                module.fail_json(msg="user %s does not exist" % username, **result)
            module.exit_json(msg="user %s does not exist, so it holds no grant" % username, permission=None,
                             previous_permission=None, resource=None, api=None, **result)
        resource = find_resource(module, client)
        if resource is None:
            module.exit_json(msg="experiment %s does not exist, so %s holds no grant on it"
                                 % (p["experiment_name"], username),
                             permission=None, previous_permission=None, resource=None, api=None, **result)
        grants = grants_of(client, user)
        if wanted in RBAC_ONLY and grants.api == LEGACY:
            module.fail_json(msg="permission %s needs the role-based permission API (MLflow 3.17); this server has the older one "
                                 "(READ, EDIT, MANAGE, NO_PERMISSIONS)" % wanted, api=grants.api, **result)
        if wanted in LEGACY_ONLY and grants.api == RBAC:
            module.fail_json(msg="this server (role-based permission API, MLflow 3.17) refuses NO_PERMISSIONS on a resource; "
                                 "use DENY to keep %s out of %s, or state=absent to fall back to the default "
                                 "permission" % (username, describe(resource)), api=grants.api, **result)
        current = grants.get(resource)
        if current == wanted:
            action = None
        elif wanted is None:
            action = "revoke"
        elif current is None:
            action = "grant"
        else:
            action = "update"
        if action and not module.check_mode:
            if action == "grant":
                grants.create(resource, wanted)
            elif action == "update":
                grants.update(resource, wanted)
            else:
                grants.delete(resource)
    except MlflowAuthError as e:
        module.fail_json(msg=redact(client.explain(e).msg, [p["admin_password"]]), status=e.status, **result)

    what = describe(resource)
    would = "would be " if module.check_mode else ""
    if action is None:
        msg = ("%s holds %s on %s" % (username, current, what)) if current else \
            ("%s holds no grant on %s" % (username, what))
    elif action == "grant":
        msg = "%s %sgranted to %s on %s" % (wanted, would, username, what)
    elif action == "update":
        msg = "grant of %s on %s %schanged from %s to %s" % (username, what, would, current, wanted)
    else:
        msg = "grant %s of %s on %s %sremoved" % (current, username, what, would)
    result.update(changed=action is not None, msg=msg, permission=wanted if action else current,
                  previous_permission=current, resource=resource, api=grants.api)
    if module._diff:
        result["diff"] = dict(before=dict(permission=current), after=dict(permission=result["permission"]),
                              before_header="%s on %s" % (username, what), after_header="%s on %s" % (username, what))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
