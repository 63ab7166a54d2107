# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin mlops.mlflow.htpasswd: users and passwords to htpasswd lines, idempotently."""
from __future__ import annotations

import hashlib

from ansible.errors import AnsibleFilterError

try:
    from passlib.hash import apr_md5_crypt, bcrypt, sha512_crypt
    from passlib.utils.binary import bcrypt64, h64

    HAS_PASSLIB = True
    PASSLIB_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller
    HAS_PASSLIB = False
    PASSLIB_IMPORT_ERROR = exc


DOCUMENTATION = r"""
name: htpasswd
short_description: Render htpasswd lines for a list of users, with a stable salt
version_added: 0.1.0
description:
  - Turns a list of users (dictionaries with C(name) and C(password)) into the content of an
    htpasswd file, one C(name:hash) line per user, as read by Nginx C(auth_basic_user_file)
    and Apache C(htpasswd -v).
  - The salt of each hash is derived from O(seed) and the user name (SHA-256, mapped to the
    salt alphabet and length of the scheme). The same input gives the same file on every run,
    so a task that writes it stays idempotent, while different hosts (seeds) and users get
    different salts. The password is never part of the salt.
  - Runs on the controller and needs the Python library C(passlib) there (C(bcrypt) as well for
    the bcrypt scheme).
options:
  _input:
    description:
      - The users, in file order. Each item is a dictionary with a non-empty C(name) (no
        colon, no whitespace, not starting with C(#)) and a non-empty C(password) (no
        newline or NUL character; at most 72 bytes for bcrypt, which ignores anything
        longer). Names must be unique.
    type: list
    elements: dict
    required: true
  seed:
    description:
      - Per-host value the salts are derived from, typically C(inventory_hostname). Use a
        different seed per host so that equal passwords do not give equal hashes across hosts.
    type: string
    default: ''
  scheme:
    description:
      - Hash scheme. C(bcrypt) writes C($2y$) hashes (as C(htpasswd -B) does), C(apr1) the
        Apache MD5 variant (C($apr1$), weak, only for old readers), C(sha512) SHA-512 crypt
        (C($6$), as C(htpasswd -5) does).
      - Nginx verifies the hash with the system C(crypt()) (and its own code for C(apr1)), on
        every request, inside its event loop.
    type: string
    default: bcrypt
    choices: [bcrypt, apr1, sha512]
  rounds:
    description:
      - Cost of the hash. For C(bcrypt) the log2 cost, 4 to 31 (default 10, about 50 ms per
        verification on a 2 GHz core; Nginx pays this on every authenticated request).
        For C(sha512) the number of rounds, 1000 to 999999999 (default 5000, as C(htpasswd -5)).
      - Not accepted for C(apr1), whose cost is fixed.
    type: integer
author:
  - mlops.mlflow maintainers (@mlops)
"""

EXAMPLES = r"""
- name: Write the basic-auth users of Nginx (stable salt per host, no change on a second run)
  ansible.builtin.copy:
    content: "{{ nginx_users | mlops.mlflow.htpasswd(seed=inventory_hostname) }}"
    dest: /etc/nginx/mlflow.htpasswd
    owner: root
    group: www-data
    mode: "0640"
  no_log: true
  vars:
    nginx_users:
      - name: alice
        password: "{{ vault_alice_password }}"

- name: SHA-512 crypt with more rounds
  ansible.builtin.debug:
    msg: "{{ [{'name': 'bob', 'password': 's3cret'}] | mlops.mlflow.htpasswd(seed='web1', scheme='sha512', rounds=20000) }}"
  # => "bob:$6$rounds=20000$...$...\n"
"""

RETURN = r"""
_value:
  description:
    - The htpasswd file content, one C(name:hash) line per user in input order, each ending
      with a newline. An empty string for an empty list.
  type: string
"""

SCHEMES = ("bcrypt", "apr1", "sha512")
DEFAULT_ROUNDS = {"bcrypt": 10, "sha512": 5000}
ROUNDS_RANGE = {"bcrypt": (4, 31), "sha512": (1000, 999999999)}
BCRYPT_MAX_BYTES = 72


def _salt(seed, scheme, name):
    """Derive the salt for one user: deterministic, in the scheme's alphabet and length."""
    digest = hashlib.sha256(
        b"\0".join([b"mlops.mlflow.htpasswd", scheme.encode(), seed.encode("utf-8"), name.encode("utf-8")])
    ).digest()
    if scheme == "bcrypt":
        # 16 raw bytes -> 22 characters of bcrypt's base64; the unused bits of the last
        # character are zero, as bcrypt expects (no passlib "padding bits" warning).
        return bcrypt64.encode_bytes(digest[:16]).decode("ascii")
    # apr1: 8 characters, sha512-crypt: 16 characters, both from "./0-9A-Za-z"
    length = 8 if scheme == "apr1" else 16
    return h64.encode_bytes(digest[:12]).decode("ascii")[:length]


def _text(value, what, index):
    """Accept str and Ansible's vault-encrypted strings (2.19 EncryptedString is no str)."""
    if isinstance(value, str):
        return str(value)
    if type(value).__name__ in ("EncryptedString", "AnsibleVaultEncryptedUnicode"):
        return str(value)
    raise AnsibleFilterError(
        "htpasswd: users[%d].%s must be a string, got %s (quote numbers in YAML)" % (index, what, type(value).__name__)
    )


def _check_rounds(scheme, rounds):
    if rounds is None:
        return DEFAULT_ROUNDS.get(scheme)
    if scheme == "apr1":
        raise AnsibleFilterError("htpasswd: rounds is not supported by the apr1 scheme (its cost is fixed)")
    if isinstance(rounds, bool):
        raise AnsibleFilterError("htpasswd: rounds must be an integer, got a boolean")
    try:
        rounds = int(rounds)
    except (TypeError, ValueError):
        raise AnsibleFilterError("htpasswd: rounds must be an integer, got %r" % (rounds,))
    low, high = ROUNDS_RANGE[scheme]
    if not low <= rounds <= high:
        raise AnsibleFilterError("htpasswd: rounds for %s must be between %d and %d, got %d" % (scheme, low, high, rounds))
    return rounds


def hash_password(password, scheme="bcrypt", salt=None, rounds=None):
    """Hash one password with an explicit salt (pure function, used by htpasswd())."""
    if scheme == "bcrypt":
        return bcrypt.using(ident="2y", rounds=rounds, salt=salt).hash(password)
    if scheme == "apr1":
        return apr_md5_crypt.using(salt=salt).hash(password)
    if scheme == "sha512":
        return sha512_crypt.using(rounds=rounds, salt=salt).hash(password)
    raise AnsibleFilterError("htpasswd: unknown scheme %r, expected one of %s" % (scheme, ", ".join(SCHEMES)))


def htpasswd(users, seed="", scheme="bcrypt", rounds=None):
    """Return htpasswd file content for a list of {name, password} dictionaries."""
    if not HAS_PASSLIB:
        raise AnsibleFilterError(
            "htpasswd: the Python library passlib (and bcrypt for the bcrypt scheme) is required "
            "on the controller: %s" % PASSLIB_IMPORT_ERROR
        )
    if scheme not in SCHEMES:
        raise AnsibleFilterError("htpasswd: unknown scheme %r, expected one of %s" % (scheme, ", ".join(SCHEMES)))
    if seed is None:
        seed = ""
    if not isinstance(seed, str):
        seed = str(seed)
    rounds = _check_rounds(scheme, rounds)
    if isinstance(users, (str, bytes, dict)) or not isinstance(users, (list, tuple)):
        raise AnsibleFilterError(
            "htpasswd: expects a list of {name, password} dictionaries, got %s" % type(users).__name__
        )

    lines = []
    seen = set()
    for index, user in enumerate(users):
        if not isinstance(user, dict):
            raise AnsibleFilterError(
                "htpasswd: users[%d] must be a dictionary with name and password, got %s" % (index, type(user).__name__)
            )
        for key in ("name", "password"):
            if key not in user or user[key] is None:
                raise AnsibleFilterError("htpasswd: users[%d] has no %s" % (index, key))
        name = _text(user["name"], "name", index)
        password = _text(user["password"], "password", index)
        # messages name the user but never show the password
        if not name:
            raise AnsibleFilterError("htpasswd: users[%d].name is empty" % index)
        if ":" in name:
            raise AnsibleFilterError("htpasswd: user name %r contains a colon, which htpasswd files cannot hold" % name)
        if any(c.isspace() or c == "\0" for c in name) or name.startswith("#"):
            raise AnsibleFilterError("htpasswd: user name %r contains whitespace or NUL, or starts with # (a comment)" % name)
        if name in seen:
            raise AnsibleFilterError("htpasswd: user name %r is listed twice" % name)
        seen.add(name)
        if not password:
            raise AnsibleFilterError("htpasswd: the password of user %r is empty" % name)
        if any(c in password for c in ("\n", "\r", "\0")):
            raise AnsibleFilterError("htpasswd: the password of user %r contains a newline or NUL character" % name)
        if scheme == "bcrypt" and len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
            raise AnsibleFilterError(
                "htpasswd: the password of user %r is longer than %d bytes, bcrypt would ignore the rest; "
                "shorten it or use scheme sha512" % (name, BCRYPT_MAX_BYTES)
            )
        lines.append("%s:%s\n" % (name, hash_password(password, scheme, _salt(seed, scheme, name), rounds)))
    return "".join(lines)


class FilterModule:
    """Ansible filters of mlops.mlflow: htpasswd."""

    def filters(self):
        return {
            "htpasswd": htpasswd,
        }
