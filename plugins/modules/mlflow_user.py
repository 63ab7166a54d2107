#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mlflow_user
short_description: Manage a user of MLflow's built-in authentication
description:
  - Creates, updates and deletes a user of an MLflow tracking server started with
    C(mlflow server --app-name basic-auth), through its REST API, as an MLflow admin.
  - "Idempotent. Whether O(password) is the user's current password is found out by authenticating as the
    user (C(GET users/get) for itself with the user's own credentials: HTTP 200 means it is, 401 means
    it is not); MLflow never returns a password or hash. A second run with the same password changes
    nothing, and a new password in the vault is applied."
  - O(admin) sets the user's C(is_admin) flag (MLflow creates users as non-admins; the flag is set
    with a second request right after the creation).
  - The password is only sent in request bodies and Authorization headers, never in a URL, and no
    result, message or error of the module contains it (nor the hash MLflow 3.17 puts into the
    error of a duplicate creation).
  - Requests go to C(<tracking_uri>/api/2.0/mlflow/users/...), so a server behind a proxy under a path
    (C(https://mlflow.example.com/mlflow)) is reached with the same URI as MLflow's own client.
    Redirects are not followed.
version_added: 0.1.0
author:
  - mlops.mlflow maintainers (@mlops)
attributes:
  check_mode:
    details: Reads the user and checks the password (a read request as the user); nothing is changed.
    support: full
  diff_mode:
    details: C(exists) and C(is_admin) before and after; a password that is set is shown as C((changed)) only.
    support: full
extends_documentation_fragment:
  - mlops.mlflow.mlflow_auth
options:
  name:
    description: Username of the user to manage.
    type: str
    required: true
  password:
    description:
      - The user's password. Required when O(state=present) and the user does not exist yet.
      - MLflow 3.17 refuses passwords shorter than 12 characters.
      - Without it, an existing user's password is left alone.
    type: str
  admin:
    description:
      - The user's C(is_admin) flag. Left as it is when omitted (a new user is then not an admin).
    type: bool
  update_password:
    description:
      - C(always) sets O(password) when it is not the user's current one; C(on_create) only uses it to
        create the user.
    type: str
    choices: [always, on_create]
    default: always
  state:
    description: C(present) creates or updates the user, C(absent) deletes it (with its permissions).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Checked against MLflow 3.17.2 (C(mlflow[auth])). The user endpoints are the same in MLflow 2.x and
    earlier 3.x releases.
  - MLflow refuses to delete the user whose credentials make the request; O(name) equal to
    O(admin_username) with O(state=absent) fails before any request.
  - O(name) equal to O(admin_username) changes the admin's own password. MLflow 3.17 then wants the
    current one, which the module sends (O(admin_password)). Tasks after it must use the new password.
  - MLflow 3.17 rejects every login of an admin whose password is the default that older releases
    shipped in C(basic_auth.ini); the module refuses to set that password for an admin.
  - With C(auth_cache_ttl_seconds) in the auth configuration, other server workers may accept an old
    password until that time has passed.
seealso:
  - module: mlops.mlflow.mlflow_permission
  - name: MLflow authentication
    description: MLflow's documentation of the basic-auth app and its REST API.
    link: https://mlflow.org/docs/latest/auth/index.html
"""

EXAMPLES = r"""
- name: Create or update a user (a new password in the vault is applied)
  mlops.mlflow.mlflow_user:
    tracking_uri: https://mlflow.example.com/mlflow
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    name: alice
    password: "{{ vault_mlflow_users.alice }}"

- name: A second admin, whose password is only set when the account is created
  mlops.mlflow.mlflow_user:
    tracking_uri: https://mlflow.example.com/mlflow
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    name: ops
    password: "{{ vault_mlflow_ops_initial_password }}"
    update_password: on_create
    admin: true
    ca_path: /etc/ssl/certs/company-ca.pem

- name: Remove a user
  mlops.mlflow.mlflow_user:
    tracking_uri: https://mlflow.example.com/mlflow
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    name: bob
    state: absent
"""

RETURN = r"""
changes:
  description: What was (or in check mode would be) changed, among C(created), C(password), C(is_admin), C(deleted).
  returned: always
  type: list
  elements: str
  sample: [password]
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
  sample: user alice created
user:
  description:
    - The user after the task (in check mode, as it would be; C(id) is null for a user not created yet).
      Never a password or hash.
  returned: success, when O(state=present)
  type: dict
  contains:
    id:
      description: MLflow's user id.
      type: int
      sample: 2
    username:
      description: The username.
      type: str
      sample: alice
    is_admin:
      description: Whether the user is an MLflow admin.
      type: bool
      sample: false
  sample: {id: 2, username: alice, is_admin: false}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlops.mlflow.plugins.module_utils.mlflow_auth import (
    MlflowAuthError,
    auth_argument_spec,
    client_from_params,
    redact,
)

# Logins of admins with this password are refused by MLflow 3.17 (GHSA-gq3w-7jj3-x7gr), so setting
# it for an admin would lock the account and never become idempotent.
LEGACY_DEFAULT_ADMIN_PASSWORD = "password1234"
CHANGED = "(changed)"


def argument_spec():
    return auth_argument_spec(
        name=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        admin=dict(type="bool"),
        update_password=dict(type="str", choices=["always", "on_create"], default="always", no_log=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )


def snapshot(user):
    """The non-secret state shown in the diff."""
    if user is None:
        return dict(exists=False, is_admin=None)
    return dict(exists=True, is_admin=user["is_admin"])


def plan(module, client, user):
    """(changes, after) for state=present: the steps to take and the user as it will be."""
    p = module.params
    name = p["name"]
    if user is None:
        if not p["password"]:
            module.fail_json(msg="user %s does not exist; password is needed to create it" % name, changes=[])
        is_admin = bool(p["admin"])
        changes = ["created"] + (["is_admin"] if is_admin else [])
        return changes, dict(id=None, username=name, is_admin=is_admin)
    changes = []
    after = dict(user)
    if p["admin"] is not None and p["admin"] != user["is_admin"]:
        changes.append("is_admin")
        after["is_admin"] = p["admin"]
    if p["password"] and p["update_password"] == "always":
        if name == p["admin_username"]:
            # the module authenticates as this user already: the password is current if it is the admin's
            current = p["password"] == p["admin_password"]
        else:
            current = client.check_password(name, p["password"])
        if not current:
            changes.append("password")
    return changes, after


def apply(module, client, user, changes):
    """Carry out the planned changes; the created user's record (with its id) or None."""
    p = module.params
    name = p["name"]
    created = None
    if "created" in changes:
        created = client.create_user(name, p["password"])
        if "is_admin" in changes:
            client.update_admin(name, True)
        return created
    # the flag first: changing the admin's own password invalidates the credentials of later requests
    if "is_admin" in changes:
        client.update_admin(name, p["admin"])
    if "password" in changes:
        current = p["admin_password"] if name == p["admin_username"] else None
        client.update_password(name, p["password"], current_password=current)
    return None


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    name = p["name"]
    secrets = [p["admin_password"], p["password"]]
    result = dict(changed=False, changes=[])
    client = client_from_params(module, result)
    client.add_secret(p["password"])

    if p["state"] == "absent" and name == p["admin_username"]:
        module.fail_json(msg="user %s makes the requests (admin_username) and cannot delete itself; use another "
                             "admin" % name, **result)

    try:
        user = client.get_user(name)
        before = snapshot(user)
        if p["state"] == "absent":
            changes = ["deleted"] if user is not None else []
            after = None
            if changes and not module.check_mode:
                client.delete_user(name)
        else:
            changes, after = plan(module, client, user)
            if p["password"] == LEGACY_DEFAULT_ADMIN_PASSWORD and after["is_admin"] and \
                    ("created" in changes or "password" in changes):
                module.fail_json(msg="refusing to give admin %s the default password that older MLflow releases "
                                     "shipped in basic_auth.ini: MLflow 3.17 rejects every admin login with it"
                                 % name, **result)
            if changes and not module.check_mode:
                created = apply(module, client, user, changes)
                if created:
                    after = dict(created, is_admin=after["is_admin"])
    except MlflowAuthError as e:
        module.fail_json(msg=redact(e.msg, secrets), status=e.status, **result)

    result.update(changed=bool(changes), changes=changes)
    verb = "would be " if module.check_mode else ""
    if p["state"] == "absent":
        result["msg"] = "user %s %sdeleted" % (name, verb) if changes else "user %s does not exist" % name
    else:
        result["user"] = after
        if not changes:
            result["msg"] = "user %s is up to date" % name
        elif "created" in changes:
            result["msg"] = "user %s %screated%s" % (name, verb, " as an admin" if after["is_admin"] else "")
        else:
            result["msg"] = "user %s: %s %supdated" % (name, " and ".join(c for c in changes), verb)
    if module._diff:
        after_state = snapshot(result.get("user"))
        if "password" in changes or "created" in changes:
            after_state["password"] = CHANGED
        result["diff"] = dict(before=before, after=after_state)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
