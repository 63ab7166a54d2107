# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test plugin mlops.mlflow.placeholder: is a secret still a placeholder? One rule for every role."""
from __future__ import annotations

import re

DOCUMENTATION = r"""
name: placeholder
short_description: Whether a secret is still a placeholder such as ChangeMe
version_added: 0.1.0
description:
  - True when the value is an obvious placeholder that must never reach a server. Every role of
    the collection refuses such secrets in its preflight with this one rule (case-insensitive).
  - A placeholder contains C(changeme) (also C(change-me), C(change_me), C(Change.Me), anywhere in
    the value, e.g. the C(ChangeMe-postgres-mlflow) fallbacks of the shipped inventories), or
    starts with C(password), C(secret), C(todo), C(minioadmin), C(minio123), C(xxx) or C(<...>)
    (leading whitespace ignored).
  - Anything that is not text (none, numbers, lists) is not a placeholder; the roles check the
    type and the length of their secrets separately. Vault-encrypted values are read as text.
options:
  _input:
    description: The secret to check.
    type: raw
    required: true
author:
  - mlops.mlflow maintainers (@mlops)
"""

EXAMPLES = r"""
- name: Refuse placeholder secrets, naming only the variable
  ansible.builtin.assert:
    that:
      - lookup('ansible.builtin.vars', item) is not mlops.mlflow.placeholder
    fail_msg: "{{ item }} is still a placeholder (ChangeMe...): set it from Ansible Vault."
    quiet: true
  loop: [postgres_db_password]

- name: Users whose password is a placeholder
  ansible.builtin.debug:
    msg: "{{ users | selectattr('password', 'mlops.mlflow.placeholder') | map(attribute='name') | list }}"
"""

RETURN = r"""
_value:
  description: Whether the value is a placeholder.
  type: boolean
"""

# anywhere in the value
_ANYWHERE = re.compile(r"change.?me", re.IGNORECASE)
# at the start of the value
_PREFIX = re.compile(r"(password|secret|todo|minioadmin|minio123|xxx|<.*>)", re.IGNORECASE)


def _text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    # Ansible's vault-encrypted strings (ansible-core 2.19 EncryptedString is no str subclass)
    if type(value).__name__ in ("EncryptedString", "AnsibleVaultEncryptedUnicode"):
        return str(value)
    return None


def is_placeholder(value):
    """True when the value is an obvious placeholder (see DOCUMENTATION)."""
    text = _text(value)
    if text is None:
        return False
    return bool(_ANYWHERE.search(text) or _PREFIX.match(text.lstrip()))


class TestModule:
    """Ansible tests of mlops.mlflow: placeholder."""

    def tests(self):
        return {
            "placeholder": is_placeholder,
        }
