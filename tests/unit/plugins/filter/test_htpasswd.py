# -*- coding: utf-8 -*-
"""Unit tests of the mlops.mlflow.htpasswd filter (plain pytest).

Runs with `pytest tests/unit` from a checkout (the plugin is loaded by file path when the
collection is not importable) and under `ansible-test units` (collection import).
Every hash is checked twice: with passlib and with Apache's `htpasswd -v` (apache2-utils),
which verifies through the same system crypt() that Nginx uses for bcrypt and SHA-512.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from passlib.context import CryptContext

try:
    from ansible_collections.mlops.mlflow.plugins.filter import htpasswd as plugin
except ImportError:
    _PATH = Path(__file__).resolve().parents[4] / "plugins" / "filter" / "htpasswd.py"
    _SPEC = importlib.util.spec_from_file_location("mlops_mlflow_filter_htpasswd", _PATH)
    plugin = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(plugin)

htpasswd = plugin.htpasswd

REPO = Path(__file__).resolve().parents[4]
HTPASSWD_BIN = shutil.which("htpasswd")
needs_htpasswd_bin = pytest.mark.skipif(
    HTPASSWD_BIN is None, reason="`htpasswd` (Debian package apache2-utils) is not installed on this machine"
)
CONTEXT = CryptContext(schemes=["bcrypt", "apr_md5_crypt", "sha512_crypt"])
PREFIX = {"bcrypt": "$2y$", "apr1": "$apr1$", "sha512": "$6$"}
# low costs keep the suite fast; the defaults are tested once below
FAST = {"bcrypt": {"rounds": 4}, "apr1": {}, "sha512": {"rounds": 1000}}

USERS = [
    {"name": "alice", "password": "correct horse battery staple"},
    {"name": "bob", "password": "s3cr3t-with-$pecial:chars'\"\\"},
    {"name": "carol.ci", "password": "pässwörd-ünïcode"},
]


def parse(content):
    assert content.endswith("\n")
    return dict(line.split(":", 1) for line in content.splitlines())


def htpasswd_verify(tmp_path, content, name, password):
    """Return True when `htpasswd -vb FILE NAME PASSWORD` accepts the password."""
    path = tmp_path / "users.htpasswd"
    path.write_text(content, encoding="utf-8")
    proc = subprocess.run(
        [HTPASSWD_BIN, "-v", "-b", str(path), name, password], capture_output=True, text=True, check=False
    )
    # 0: correct, 3: password mismatch; anything else is a usage or file error
    assert proc.returncode in (0, 3), proc.stderr
    return proc.returncode == 0


@pytest.mark.parametrize("scheme", ["bcrypt", "apr1", "sha512"])
def test_lines_verify_with_passlib(scheme):
    content = htpasswd(USERS, seed="host1", scheme=scheme, **FAST[scheme])
    lines = parse(content)
    assert list(lines) == [u["name"] for u in USERS]  # input order kept
    for user in USERS:
        hashed = lines[user["name"]]
        assert hashed.startswith(PREFIX[scheme])
        assert CONTEXT.verify(user["password"], hashed)
        assert not CONTEXT.verify(user["password"] + "x", hashed)


@needs_htpasswd_bin
@pytest.mark.parametrize("scheme", ["bcrypt", "apr1", "sha512"])
def test_lines_verify_with_apache_htpasswd(tmp_path, scheme):
    content = htpasswd(USERS, seed="host1", scheme=scheme, **FAST[scheme])
    for user in USERS:
        assert htpasswd_verify(tmp_path, content, user["name"], user["password"])
        assert not htpasswd_verify(tmp_path, content, user["name"], "wrong password")
        assert not htpasswd_verify(tmp_path, content, user["name"], user["password"][:-1])


@needs_htpasswd_bin
def test_default_scheme_and_cost(tmp_path):
    content = htpasswd(USERS[:1], seed="host1")
    hashed = parse(content)["alice"]
    assert hashed.startswith("$2y$10$")
    assert CONTEXT.verify(USERS[0]["password"], hashed)
    assert htpasswd_verify(tmp_path, content, "alice", USERS[0]["password"])


def test_sha512_default_rounds_match_htpasswd_5():
    hashed = parse(htpasswd(USERS[:1], seed="h", scheme="sha512"))["alice"]
    # 5000 is crypt's default and is then left out of the hash, as `htpasswd -5` does
    assert hashed.startswith("$6$") and "rounds=" not in hashed
    hashed = parse(htpasswd(USERS[:1], seed="h", scheme="sha512", rounds=20000))["alice"]
    assert hashed.startswith("$6$rounds=20000$")


@pytest.mark.parametrize("scheme", ["bcrypt", "apr1", "sha512"])
def test_stable_across_calls(scheme):
    first = htpasswd(USERS, seed="host1", scheme=scheme, **FAST[scheme])
    assert htpasswd(list(USERS), seed="host1", scheme=scheme, **FAST[scheme]) == first
    # a copy of the data (as Ansible hands over) gives the same text
    copied = [dict(u) for u in USERS]
    assert htpasswd(copied, seed="host1", scheme=scheme, **FAST[scheme]) == first


@pytest.mark.parametrize("scheme", ["bcrypt", "apr1", "sha512"])
def test_different_seed_gives_different_hash(scheme):
    one = parse(htpasswd(USERS, seed="host1", scheme=scheme, **FAST[scheme]))
    two = parse(htpasswd(USERS, seed="host2", scheme=scheme, **FAST[scheme]))
    for user in USERS:
        assert one[user["name"]] != two[user["name"]]
        assert CONTEXT.verify(user["password"], two[user["name"]])


@pytest.mark.parametrize("scheme", ["bcrypt", "apr1", "sha512"])
def test_same_password_different_users_get_different_salts(scheme):
    users = [{"name": "u1", "password": "same"}, {"name": "u2", "password": "same"}]
    lines = parse(htpasswd(users, seed="host1", scheme=scheme, **FAST[scheme]))
    assert lines["u1"] != lines["u2"]


def test_changing_one_password_changes_only_that_line():
    before = parse(htpasswd(USERS, seed="h", rounds=4))
    changed = [dict(u) for u in USERS]
    changed[1]["password"] = "rotated"
    after = parse(htpasswd(changed, seed="h", rounds=4))
    assert before["alice"] == after["alice"] and before["carol.ci"] == after["carol.ci"]
    assert before["bob"] != after["bob"]
    assert CONTEXT.verify("rotated", after["bob"])


def test_salt_does_not_depend_on_the_password():
    # a salt derived from the password would let anyone with the file test guesses at SHA-256 speed
    one = parse(htpasswd([{"name": "a", "password": "one"}], seed="h", rounds=4))["a"]
    two = parse(htpasswd([{"name": "a", "password": "two"}], seed="h", rounds=4))["a"]
    assert one[:29] == two[:29]  # $2y$04$ + 22 salt characters
    assert one != two


def test_salts_have_the_scheme_alphabet_and_length():
    for scheme, length in (("bcrypt", 22), ("apr1", 8), ("sha512", 16)):
        for seed in ("", "h", "höst-ü", "x" * 500):
            salt = plugin._salt(seed, scheme, "user")
            assert len(salt) == length
            assert set(salt) <= set("./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    # bcrypt's last salt character carries 2 unused bits that must be zero
    assert plugin._salt("h", "bcrypt", "user")[-1] in ".Oeu"


def test_empty_list_gives_empty_content():
    assert htpasswd([], seed="h") == ""


def test_seed_may_be_a_number():
    assert htpasswd(USERS[:1], seed=42, rounds=4) == htpasswd(USERS[:1], seed="42", rounds=4)


@pytest.mark.parametrize(
    "users, kwargs, message",
    [
        ("alice:pw", {}, "expects a list"),
        ({"name": "alice", "password": "pw"}, {}, "expects a list"),
        (None, {}, "expects a list"),
        (["alice"], {}, "must be a dictionary"),
        ([{"password": "pw"}], {}, "has no name"),
        ([{"name": "alice"}], {}, "has no password"),
        ([{"name": "alice", "password": None}], {}, "has no password"),
        ([{"name": "", "password": "pw"}], {}, "name is empty"),
        ([{"name": "al:ice", "password": "pw"}], {}, "colon"),
        ([{"name": "al ice", "password": "pw"}], {}, "whitespace"),
        ([{"name": "#alice", "password": "pw"}], {}, "starts with #"),
        ([{"name": "alice", "password": ""}], {}, "empty"),
        ([{"name": "alice", "password": "a\nb"}], {}, "newline"),
        ([{"name": "alice", "password": 1234}], {}, "must be a string"),
        ([{"name": "alice", "password": "p"}, {"name": "alice", "password": "q"}], {}, "listed twice"),
        ([{"name": "alice", "password": "x" * 73}], {}, "longer than 72 bytes"),
        ([{"name": "alice", "password": "pw"}], {"scheme": "md5"}, "unknown scheme"),
        ([{"name": "alice", "password": "pw"}], {"scheme": "plain"}, "unknown scheme"),
        ([{"name": "alice", "password": "pw"}], {"rounds": 3}, "between 4 and 31"),
        ([{"name": "alice", "password": "pw"}], {"rounds": "many"}, "must be an integer"),
        ([{"name": "alice", "password": "pw"}], {"scheme": "sha512", "rounds": 10}, "between 1000"),
        ([{"name": "alice", "password": "pw"}], {"scheme": "apr1", "rounds": 5}, "not supported by the apr1"),
    ],
)
def test_bad_input_raises(users, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        htpasswd(users, seed="h", **kwargs)


def test_error_messages_never_show_the_password():
    secret = "hunter2-" + "z" * 80
    with pytest.raises(AnsibleFilterError) as err:
        htpasswd([{"name": "alice", "password": secret}], seed="h")
    assert secret not in str(err.value) and "alice" in str(err.value)


def test_long_password_allowed_with_sha512():
    password = "x" * 100
    hashed = parse(htpasswd([{"name": "a", "password": password}], seed="h", scheme="sha512", rounds=1000))["a"]
    assert CONTEXT.verify(password, hashed) and not CONTEXT.verify(password[:72], hashed)


def test_filter_is_registered():
    assert plugin.FilterModule().filters()["htpasswd"] is htpasswd


def test_documentation_parses():
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc["name"] == "htpasswd"
    assert set(doc["options"]) == {"_input", "seed", "scheme", "rounds"}
    assert doc["options"]["scheme"]["choices"] == list(plugin.SCHEMES)
    assert yaml.safe_load(plugin.EXAMPLES)
    assert "_value" in yaml.safe_load(plugin.RETURN)


def _ansible_playbook():
    exe = Path(sys.executable).with_name("ansible-playbook")
    return str(exe) if exe.exists() else shutil.which("ansible-playbook")


@pytest.mark.skipif(_ansible_playbook() is None, reason="ansible-playbook is not installed next to this Python")
def test_through_ansible_with_a_vaulted_password(tmp_path):
    """Resolve the filter by FQCN in a real play; a vault-encrypted password (ansible-core 2.19
    hands it over as EncryptedString, not str) must give the same line as the plain text."""
    collections = tmp_path / "collections" / "ansible_collections" / "mlops"
    collections.mkdir(parents=True)
    (collections / "mlflow").symlink_to(REPO)
    (tmp_path / "vault-pass").write_text("unit-test-vault-password\n")
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
        ANSIBLE_VAULT_PASSWORD_FILE=str(tmp_path / "vault-pass"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_NOCOLOR="1",
    )
    vault = Path(sys.executable).with_name("ansible-vault")
    vaulted = subprocess.run(
        [str(vault) if vault.exists() else "ansible-vault", "encrypt_string", "--name", "vaulted", "s3cret"],
        capture_output=True, text=True, env=env, check=True, cwd=tmp_path,
    ).stdout
    (tmp_path / "vars.yml").write_text(vaulted)
    (tmp_path / "play.yml").write_text(
        """
- hosts: localhost
  gather_facts: false
  vars_files: [vars.yml]
  tasks:
    - ansible.builtin.copy:
        content: "{{ [{'name': 'alice', 'password': vaulted}] | mlops.mlflow.htpasswd(seed='web1', rounds=4) }}"
        dest: "{{ playbook_dir }}/vaulted.htpasswd"
        mode: "0600"
    - ansible.builtin.copy:
        content: "{{ [{'name': 'alice', 'password': 's3cret'}] | mlops.mlflow.htpasswd(seed='web1', rounds=4) }}"
        dest: "{{ playbook_dir }}/plain.htpasswd"
        mode: "0600"
"""
    )
    proc = subprocess.run(
        [_ansible_playbook(), "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, "play.yml"],
        capture_output=True, text=True, env=env, check=False, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    vaulted_text = (tmp_path / "vaulted.htpasswd").read_text()
    assert vaulted_text == (tmp_path / "plain.htpasswd").read_text()
    assert vaulted_text == htpasswd([{"name": "alice", "password": "s3cret"}], seed="web1", rounds=4)
