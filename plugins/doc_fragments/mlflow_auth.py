# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """What the modules that talk to MLflow's basic-auth app as an admin (mlops.mlflow.mlflow_user,
    mlops.mlflow.mlflow_permission) document alike: the connection options, whose argument spec is
    plugins/module_utils/mlflow_auth.py's auth_argument_spec(), and the descriptions of the check_mode
    and diff_mode attributes (each module adds its support and details)."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode).
options:
  tracking_uri:
    description:
      - URL of the MLflow server, as MLflow's client uses it (E(MLFLOW_TRACKING_URI)), with the path
        prefix when the server is published under one, for example C(https://mlflow.example.com/mlflow).
      - Must not contain credentials.
    type: str
    required: true
  admin_username:
    description: An MLflow user with C(is_admin), whose credentials authenticate the requests.
    type: str
    required: true
  admin_password:
    description: Password of O(admin_username).
    type: str
    required: true
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: PEM file of the CA to verify the server's certificate with (for example a private CA).
    type: path
"""
