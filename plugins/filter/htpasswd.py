# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin mlops.mlflow.htpasswd: users and passwords to htpasswd lines, idempotently.

Also mlops.mlflow.htpasswd_problems: the same checks of the users, as a list of messages (for a
preflight assert that names the user while the hashing task runs with no_log).
"""
from __future__ import annotations

import hashlib
import re

from ansible.errors import AnsibleFilterError

try:
    import bcrypt as _bcrypt

    HAS_BCRYPT = True
    BCRYPT_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller
    HAS_BCRYPT = False
    BCRYPT_IMPORT_ERROR = exc

try:
    # libpass (maintained fork of passlib, same import name) or passlib: apr1 and sha512 only.
    # bcrypt goes to the bcrypt library directly: passlib 1.7.4's bcrypt backend detection
    # dies with bcrypt >= 5 ("password cannot be longer than 72 bytes").
    from passlib.hash import apr_md5_crypt, sha512_crypt

    HAS_PASSLIB = True
    PASSLIB_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller
    HAS_PASSLIB = False
    PASSLIB_IMPORT_ERROR = exc


# Documentation (both filters): htpasswd.yml and htpasswd_problems.yml next to this file.

SCHEMES = ("bcrypt", "apr1", "sha512")
DEFAULT_ROUNDS = {"bcrypt": 10, "sha512": 5000}
ROUNDS_RANGE = {"bcrypt": (4, 31), "sha512": (1000, 999999999)}
BCRYPT_MAX_BYTES = 72

_SALT_CHARS = r"[./0-9A-Za-z]"
_BCRYPT_RE = re.compile(r"^\$2y\$(\d\d)\$(%s{22})%s{31}$" % (_SALT_CHARS, _SALT_CHARS))
_SHA512_RE = re.compile(r"^\$6\$(?:rounds=(\d+)\$)?(%s{1,16})\$%s{86}$" % (_SALT_CHARS, _SALT_CHARS))
_APR1_RE = re.compile(r"^\$apr1\$(%s{1,8})\$%s{22}$" % (_SALT_CHARS, _SALT_CHARS))
# bcrypt's and crypt's base64 alphabets
_BCRYPT64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_H64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _b64(data, alphabet, big_endian):
    """Encode bytes 6 bits at a time (bcrypt: big-endian bit order, crypt's h64: little-endian)."""
    out = []
    if big_endian:
        bits = int.from_bytes(data, "big")
        nbits = len(data) * 8
        pad = (-nbits) % 6
        bits <<= pad
        nbits += pad
        for shift in range(nbits - 6, -1, -6):
            out.append(alphabet[(bits >> shift) & 63])
    else:
        bits = int.from_bytes(data, "little")
        for _i in range((len(data) * 8 + 5) // 6):
            out.append(alphabet[bits & 63])
            bits >>= 6
    return "".join(out)


def _legacy_salt(seed, scheme, name):
    """The salt releases up to 0.1.x derived from (scheme, seed, user): predictable. Only used
    to recognise (and replace) lines written by them."""
    digest = hashlib.sha256(
        b"\0".join([b"mlops.mlflow.htpasswd", scheme.encode(), seed.encode("utf-8"), name.encode("utf-8")])
    ).digest()
    if scheme == "bcrypt":
        return _b64(digest[:16], _BCRYPT64, big_endian=True)[:22]
    length = 8 if scheme == "apr1" else 16
    return _b64(digest[:12], _H64, big_endian=False)[:length]


def _text(value, what, index):
    """Accept str and Ansible's vault-encrypted strings (2.19 EncryptedString is no str)."""
    if isinstance(value, str):
        return str(value)
    if type(value).__name__ in ("EncryptedString", "AnsibleVaultEncryptedUnicode"):
        return str(value)
    raise AnsibleFilterError(
        "users[%d].%s must be a string, got %s (quote numbers in YAML)" % (index, what, type(value).__name__)
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


def _check_users(users, scheme):
    """Return ([(name, password)], [problem messages]). Messages name the user, never the password."""
    if isinstance(users, (str, bytes, dict)) or not isinstance(users, (list, tuple)):
        return [], ["expects a list of {name, password} dictionaries, got %s" % type(users).__name__]
    checked = []
    problems = []
    seen = set()
    for index, user in enumerate(users):
        if not isinstance(user, dict):
            problems.append("users[%d] must be a dictionary with name and password, got %s" % (index, type(user).__name__))
            continue
        missing = [key for key in ("name", "password") if key not in user or user[key] is None]
        if missing:
            problems.extend("users[%d] has no %s" % (index, key) for key in missing)
            continue
        try:
            name = _text(user["name"], "name", index)
            password = _text(user["password"], "password", index)
        except AnsibleFilterError as exc:
            problems.append(str(exc))
            continue
        if not name:
            problems.append("users[%d].name is empty" % index)
            continue
        if ":" in name:
            problems.append("user name %r contains a colon, which htpasswd files cannot hold" % name)
            continue
        if any(c.isspace() or c == "\0" for c in name) or name.startswith("#"):
            problems.append("user name %r contains whitespace or NUL, or starts with # (a comment)" % name)
            continue
        if name in seen:
            problems.append("user name %r is listed twice" % name)
            continue
        seen.add(name)
        if not password:
            problems.append("the password of user %r is empty" % name)
            continue
        bad = [label for char, label in (("\n", "newline"), ("\r", "carriage return"), ("\0", "NUL")) if char in password]
        if bad:
            problems.append(
                "the password of user %r contains a %s character, which an htpasswd line cannot hold" % (name, " and ".join(bad))
            )
            continue
        if scheme == "bcrypt" and len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
            problems.append(
                "the password of user %r is longer than %d bytes (UTF-8), bcrypt would ignore the rest; "
                "shorten it or use scheme sha512" % (name, BCRYPT_MAX_BYTES)
            )
            continue
        checked.append((name, password))
    return checked, problems


def htpasswd_problems(users, scheme="bcrypt"):
    """The problems htpasswd() would raise for these users, as a list of messages (empty: fine).

    Never raises and never shows a password. An unknown scheme is not reported here (the
    caller checks its scheme setting itself); then the bcrypt length limit is not applied.
    """
    return _check_users(users, scheme)[1]


def _existing_hashes(existing):
    """{name: hash} of an htpasswd file's content (first line of a name wins, as in Apache/Nginx)."""
    if existing is None:
        return {}
    if isinstance(existing, bytes):
        existing = existing.decode("utf-8", "replace")
    elif type(existing).__name__ in ("EncryptedString", "AnsibleVaultEncryptedUnicode"):
        existing = str(existing)
    if not isinstance(existing, str):
        raise AnsibleFilterError("htpasswd: existing must be the text of the htpasswd file, got %s" % type(existing).__name__)
    hashes = {}
    for line in existing.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, hashed = line.split(":", 1)
        hashes.setdefault(name, hashed.strip())
    return hashes


def _bcrypt_verify(password, hashed):
    try:
        return _bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii"))
    except ValueError:
        return False


def _reusable(hashed, password, scheme, rounds, legacy_salt):
    """Whether an existing hash has the requested scheme and cost, a salt that is not the
    predictable one of earlier releases, and verifies the password."""
    try:
        if scheme == "bcrypt":
            match = _BCRYPT_RE.match(hashed)
            return bool(match and int(match.group(1)) == rounds and match.group(2) != legacy_salt
                        and _bcrypt_verify(password, hashed))
        if scheme == "sha512":
            match = _SHA512_RE.match(hashed)
            return bool(match and int(match.group(1) or 5000) == rounds and match.group(2) != legacy_salt
                        and sha512_crypt.verify(password, hashed))
        match = _APR1_RE.match(hashed)
        return bool(match and match.group(1) != legacy_salt and apr_md5_crypt.verify(password, hashed))
    except (ValueError, TypeError):
        return False


def hash_password(password, scheme="bcrypt", rounds=None):
    """Hash one password with a fresh random salt."""
    if rounds is None:
        rounds = DEFAULT_ROUNDS.get(scheme)
    if scheme == "bcrypt":
        # $2y$ as `htpasswd -B` writes (the same algorithm as $2b$); salt from os.urandom
        salt = b"$2y$" + _bcrypt.gensalt(rounds=rounds, prefix=b"2b")[4:]
        return _bcrypt.hashpw(password.encode("utf-8"), salt).decode("ascii")
    if scheme == "apr1":
        return apr_md5_crypt.hash(password)
    if scheme == "sha512":
        return sha512_crypt.using(rounds=rounds).hash(password)
    raise AnsibleFilterError("htpasswd: unknown scheme %r, expected one of %s" % (scheme, ", ".join(SCHEMES)))


def htpasswd(users, existing=None, scheme="bcrypt", rounds=None, seed=None):
    """Return htpasswd file content for a list of {name, password} dictionaries."""
    if scheme not in SCHEMES:
        raise AnsibleFilterError("htpasswd: unknown scheme %r, expected one of %s" % (scheme, ", ".join(SCHEMES)))
    if scheme == "bcrypt" and not HAS_BCRYPT:
        raise AnsibleFilterError(
            "htpasswd: the Python library bcrypt is required on the controller for the bcrypt scheme: %s" % BCRYPT_IMPORT_ERROR
        )
    if scheme != "bcrypt" and not HAS_PASSLIB:
        raise AnsibleFilterError(
            "htpasswd: the Python library libpass (or passlib) is required on the controller for the %s scheme: %s"
            % (scheme, PASSLIB_IMPORT_ERROR)
        )
    rounds = _check_rounds(scheme, rounds)
    checked, problems = _check_users(users, scheme)
    if problems:
        raise AnsibleFilterError("htpasswd: " + problems[0])
    current = _existing_hashes(existing)
    seed = None if seed is None else str(seed)

    lines = []
    for name, password in checked:
        hashed = current.get(name)
        legacy = _legacy_salt(seed, scheme, name) if seed is not None else None
        if hashed is None or not _reusable(hashed, password, scheme, rounds, legacy):
            hashed = hash_password(password, scheme, rounds)
        lines.append("%s:%s\n" % (name, hashed))
    return "".join(lines)


class FilterModule:
    """Ansible filters of mlops.mlflow: htpasswd, htpasswd_problems."""

    def filters(self):
        return {
            "htpasswd": htpasswd,
            "htpasswd_problems": htpasswd_problems,
        }
