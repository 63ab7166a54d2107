#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: checks
short_description: Evaluate a list of checks on variables and report every one that fails, in one task
description:
  - Each check is one or more conditions (as in M(ansible.builtin.assert)) and the message to show when one of
    them is false. The module evaluates B(every) check and fails once, with the message of each check that does
    not hold, so that a user with three wrong settings reads about all three in the same run.
  - The roles of this collection check their variables with it, one task per role instead of one assert task
    per check (each task costs the controller tens of milliseconds in every run).
  - A check with O(checks[].when) applies only when those conditions hold.
  - A check whose condition cannot be evaluated (for example a variable of the wrong type) counts as failed, with
    the error next to its message; the other checks are still evaluated.
  - With ansible-core 2.19 and later a message is rendered only when its check fails; older versions render
    every message before the checks run (as they do for M(ansible.builtin.assert)).
  - This is an action plugin. It runs on the controller and contacts no host.
version_added: 0.2.0
author:
  - mlops.mlflow maintainers (@mlops)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode).
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options:
  checks:
    description: The checks, evaluated in order.
    type: list
    elements: dict
    required: true
    suboptions:
      that:
        description: A condition or a list of conditions (raw Jinja2 expressions, as in C(when)); all must hold.
        type: raw
        required: true
      msg:
        description: What to tell the user when a condition of O(checks[].that) is false; name the variable.
        type: str
        required: true
      when:
        description: A condition or a list of conditions; the check applies only when all of them hold.
        type: raw
seealso:
  - module: ansible.builtin.assert
"""

EXAMPLES = r"""
- name: Check the proxy settings
  mlops.mlflow.checks:
    checks:
      - that:
          - nginx_proxy_http_port | int >= 1
          - nginx_proxy_http_port | int <= 65535
        msg: nginx_proxy_http_port must be 1-65535; got {{ nginx_proxy_http_port }}.
      - that: nginx_proxy_tls_cert_path is match('^/')
        msg: nginx_proxy_tls_cert_path must be an absolute path.
        when: nginx_proxy_tls_enabled
"""

RETURN = r"""
msg:
  description: The message of each failed check (numbered when there are several), or that all passed.
  returned: always
  type: str
failures:
  description: The message of each failed check.
  returned: failed
  type: list
  elements: str
checks:
  description: How many checks there were.
  returned: always
  type: int
"""
