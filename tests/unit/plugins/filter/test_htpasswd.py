# -*- coding: utf-8 -*-
"""Unit tests of the mlops.mlflow.htpasswd filter (plain pytest).

Runs with `pytest tests/unit` from a checkout (the plugin is loaded by file path when the
collection is not importable) and under `ansible-test units` (collection import).
Every hash is checked twice: with the Python libraries (bcrypt, passlib/libpass) and with
Apache's `htpasswd -v` (apache2-utils), which verifies through the same system crypt() that
Nginx uses for bcrypt and SHA-512. The filter is also run against other bcrypt/passlib releases
than the controller's (old and current, see test_other_library_releases).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import bcrypt as bcrypt_lib
import pytest
from ansible.errors import AnsibleFilterError
from passlib.hash import apr_md5_crypt, sha512_crypt

try:
    from ansible_collections.mlops.mlflow.plugins.filter import htpasswd as plugin
except ImportError:
    _PATH = Path(__file__).resolve().parents[4] / "plugins" / "filter" / "htpasswd.py"
    _SPEC = importlib.util.spec_from_file_location("mlops_mlflow_filter_htpasswd", _PATH)
    plugin = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(plugin)

htpasswd = plugin.htpasswd

REPO = Path(__file__).resolve().parents[4]
PLUGIN_PATH = REPO / "plugins" / "filter" / "htpasswd.py"
HTPASSWD_BIN = shutil.which("htpasswd")
needs_htpasswd_bin = pytest.mark.skipif(
    HTPASSWD_BIN is None, reason="`htpasswd` (Debian package apache2-utils) is not installed on this machine"
)
PREFIX = {"bcrypt": "$2y$", "apr1": "$apr1$", "sha512": "$6$"}
# low costs keep the suite fast; the defaults are tested once below
FAST = {"bcrypt": {"rounds": 4}, "apr1": {}, "sha512": {"rounds": 1000}}
SCHEMES = ["bcrypt", "apr1", "sha512"]

USERS = [
    {"name": "alice", "password": "correct horse battery staple"},
    {"name": "bob", "password": "s3cr3t-with-$pecial:chars'\"\\"},
    {"name": "carol.ci", "password": "pässwörd-ünïcode"},
]


def verify(password, hashed):
    """Check a hash with the reference libraries (bcrypt itself for bcrypt, passlib for the rest)."""
    if hashed.startswith("$2"):
        return bcrypt_lib.checkpw(password.encode("utf-8"), hashed.encode("ascii"))
    if hashed.startswith("$apr1$"):
        return apr_md5_crypt.verify(password, hashed)
    if hashed.startswith("$6$"):
        return sha512_crypt.verify(password, hashed)
    raise AssertionError("unknown hash " + hashed[:6])


def parse(content):
    assert content.endswith("\n")
    return dict(line.split(":", 1) for line in content.splitlines())


def salt_of(hashed):
    """The salt part of a hash ($2y$NN$ + 22 characters for bcrypt, the field before the last $ else)."""
    if hashed.startswith("$2"):
        return hashed[7:29]
    return hashed.rsplit("$", 2)[-2]


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


# ------------------------------------------------------------------ hashes are right
@pytest.mark.parametrize("scheme", SCHEMES)
def test_lines_verify_with_the_libraries(scheme):
    content = htpasswd(USERS, scheme=scheme, **FAST[scheme])
    lines = parse(content)
    assert list(lines) == [u["name"] for u in USERS]  # input order kept
    for user in USERS:
        hashed = lines[user["name"]]
        assert hashed.startswith(PREFIX[scheme])
        assert verify(user["password"], hashed)
        assert not verify(user["password"] + "x", hashed)


@needs_htpasswd_bin
@pytest.mark.parametrize("scheme", SCHEMES)
def test_lines_verify_with_apache_htpasswd(tmp_path, scheme):
    content = htpasswd(USERS, scheme=scheme, **FAST[scheme])
    for user in USERS:
        assert htpasswd_verify(tmp_path, content, user["name"], user["password"])
        assert not htpasswd_verify(tmp_path, content, user["name"], "wrong password")
        assert not htpasswd_verify(tmp_path, content, user["name"], user["password"][:-1])


@needs_htpasswd_bin
def test_default_scheme_and_cost(tmp_path):
    content = htpasswd(USERS[:1])
    hashed = parse(content)["alice"]
    assert hashed.startswith("$2y$10$")
    assert verify(USERS[0]["password"], hashed)
    assert htpasswd_verify(tmp_path, content, "alice", USERS[0]["password"])


def test_sha512_default_rounds_match_htpasswd_5():
    hashed = parse(htpasswd(USERS[:1], scheme="sha512"))["alice"]
    # 5000 is crypt's default and is then left out of the hash, as `htpasswd -5` does
    assert hashed.startswith("$6$") and "rounds=" not in hashed
    hashed = parse(htpasswd(USERS[:1], scheme="sha512", rounds=20000))["alice"]
    assert hashed.startswith("$6$rounds=20000$")


def test_bcrypt_password_of_exactly_72_bytes():
    password = "ü" * 36  # 72 bytes in UTF-8
    hashed = parse(htpasswd([{"name": "a", "password": password}], rounds=4))["a"]
    assert verify(password, hashed)


# ------------------------------------------------------------------ salts: random, kept while valid
@pytest.mark.parametrize("scheme", SCHEMES)
def test_salts_are_random(scheme):
    """Without an existing file every call hashes with a fresh salt (no salt derived from the
    host name and user, which would be the same on every install)."""
    one = parse(htpasswd(USERS, scheme=scheme, **FAST[scheme]))
    two = parse(htpasswd(USERS, scheme=scheme, **FAST[scheme]))
    for user in USERS:
        assert salt_of(one[user["name"]]) != salt_of(two[user["name"]])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_seed_does_not_make_salts_predictable(scheme):
    one = parse(htpasswd(USERS, seed="host1", scheme=scheme, **FAST[scheme]))
    two = parse(htpasswd(USERS, seed="host1", scheme=scheme, **FAST[scheme]))
    for user in USERS:
        assert one[user["name"]] != two[user["name"]]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_same_password_different_users_get_different_salts(scheme):
    users = [{"name": "u1", "password": "same"}, {"name": "u2", "password": "same"}]
    lines = parse(htpasswd(users, scheme=scheme, **FAST[scheme]))
    assert salt_of(lines["u1"]) != salt_of(lines["u2"])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_existing_lines_that_verify_are_kept(scheme):
    """Idempotence: the content of the file on the host comes back unchanged."""
    first = htpasswd(USERS, scheme=scheme, **FAST[scheme])
    assert htpasswd(USERS, first, scheme=scheme, **FAST[scheme]) == first
    assert htpasswd([dict(u) for u in USERS], existing=first, scheme=scheme, **FAST[scheme]) == first


def test_changing_one_password_changes_only_that_line_with_a_fresh_salt():
    before = parse(htpasswd(USERS, rounds=4))
    existing = "".join("%s:%s\n" % item for item in before.items())
    changed = [dict(u) for u in USERS]
    changed[1]["password"] = "rotated"
    after = parse(htpasswd(changed, existing=existing, rounds=4))
    assert before["alice"] == after["alice"] and before["carol.ci"] == after["carol.ci"]
    assert before["bob"] != after["bob"]
    assert salt_of(before["bob"]) != salt_of(after["bob"])  # the salt does not survive the change
    assert verify("rotated", after["bob"])
    again = parse(htpasswd(changed, existing=existing, rounds=4))
    assert salt_of(again["bob"]) != salt_of(after["bob"])


def test_salt_does_not_depend_on_the_password():
    # a salt derived from the password would let anyone with the file test guesses at SHA-256 speed
    first = parse(htpasswd([{"name": "a", "password": "one"}], rounds=4))["a"]
    for _ in range(3):
        assert salt_of(parse(htpasswd([{"name": "a", "password": "one"}], rounds=4))["a"]) != salt_of(first)


@pytest.mark.parametrize(
    "old_kwargs, new_kwargs",
    [
        ({"scheme": "bcrypt", "rounds": 4}, {"scheme": "bcrypt", "rounds": 5}),
        ({"scheme": "bcrypt", "rounds": 4}, {"scheme": "sha512", "rounds": 1000}),
        ({"scheme": "sha512", "rounds": 1000}, {"scheme": "sha512", "rounds": 1001}),
        ({"scheme": "sha512", "rounds": 1000}, {"scheme": "apr1"}),
        ({"scheme": "apr1"}, {"scheme": "bcrypt", "rounds": 4}),
    ],
)
def test_a_new_scheme_or_cost_rehashes(old_kwargs, new_kwargs):
    old = htpasswd(USERS[:1], **old_kwargs)
    new = parse(htpasswd(USERS[:1], existing=old, **new_kwargs))["alice"]
    assert new != parse(old)["alice"]
    assert new.startswith(PREFIX[new_kwargs["scheme"]])
    if "rounds" in new_kwargs and new_kwargs["scheme"] == "bcrypt":
        assert new.startswith("$2y$%02d$" % new_kwargs["rounds"])
    assert verify(USERS[0]["password"], new)


def test_sha512_existing_line_with_explicit_default_rounds_is_kept():
    line = "alice:" + sha512_crypt.using(rounds=5000).hash(USERS[0]["password"]).replace("$6$", "$6$rounds=5000$", 1) + "\n"
    assert verify(USERS[0]["password"], line.split(":", 1)[1].strip())
    assert htpasswd(USERS[:1], existing=line, scheme="sha512") == line


def test_existing_file_is_tidied():
    """Users no longer listed, comments, blank and broken lines are dropped; the first line of a
    user counts (as in Apache and Nginx); a line that does not verify is replaced."""
    good = htpasswd(USERS[:2], rounds=4)
    lines = parse(good)
    existing = (
        "# a comment\n\n"
        + "alice:%s\n" % lines["alice"]
        + "alice:$2y$04$abcdefghijklmnopqrstuu0123456789012345678901234567890\n"
        + "bob:not-a-hash\n"
        + "mallory:%s\n" % lines["alice"]
        + "garbage line without colon\n"
    )
    result = parse(htpasswd(USERS[:2], existing=existing, rounds=4))
    assert list(result) == ["alice", "bob"]
    assert result["alice"] == lines["alice"]
    assert result["bob"] != "not-a-hash" and verify(USERS[1]["password"], result["bob"])


@pytest.mark.parametrize("existing", [None, "", "\n", b"", "# only a comment\n"])
def test_no_existing_content(existing):
    assert verify(USERS[0]["password"], parse(htpasswd(USERS[:1], existing=existing, rounds=4))["alice"])


def test_existing_content_as_bytes():
    first = htpasswd(USERS, rounds=4)
    assert htpasswd(USERS, existing=first.encode("utf-8"), rounds=4) == first


def test_windows_line_endings_in_the_existing_file():
    first = htpasswd(USERS, rounds=4)
    assert htpasswd(USERS, existing=first.replace("\n", "\r\n"), rounds=4) == first


def test_lines_with_the_predictable_salt_of_earlier_releases_are_rehashed_once():
    """Earlier releases derived the salt from (scheme, seed=inventory_hostname, user): with the
    seed given, such a line is replaced once by one with a random salt, then kept."""
    password = USERS[0]["password"].encode("utf-8")
    legacy_salt = plugin._legacy_salt("web1", "bcrypt", "alice")
    legacy_hash = bcrypt_lib.hashpw(password, b"$2y$04$" + legacy_salt.encode("ascii")).decode("ascii")
    assert legacy_hash.startswith("$2y$04$" + legacy_salt)
    legacy = "alice:%s\n" % legacy_hash
    # without the seed the filter cannot tell, and keeps the (valid) line
    assert htpasswd(USERS[:1], existing=legacy, rounds=4) == legacy
    migrated = htpasswd(USERS[:1], existing=legacy, seed="web1", rounds=4)
    assert migrated != legacy and verify(USERS[0]["password"], parse(migrated)["alice"])
    assert htpasswd(USERS[:1], existing=migrated, seed="web1", rounds=4) == migrated
    # sha512 and apr1 salts of earlier releases as well
    for scheme, make in (
        ("sha512", lambda s: sha512_crypt.using(rounds=5000, salt=s).hash(USERS[0]["password"])),
        ("apr1", lambda s: apr_md5_crypt.using(salt=s).hash(USERS[0]["password"])),
    ):
        legacy = "alice:%s\n" % make(plugin._legacy_salt("web1", scheme, "alice"))
        assert htpasswd(USERS[:1], existing=legacy, seed="web1", scheme=scheme) != legacy


def test_legacy_salts_have_the_scheme_alphabet_and_length():
    for scheme, length in (("bcrypt", 22), ("apr1", 8), ("sha512", 16)):
        for seed in ("", "h", "höst-ü", "x" * 500):
            salt = plugin._legacy_salt(seed, scheme, "user")
            assert len(salt) == length
            assert set(salt) <= set("./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def test_empty_list_gives_empty_content():
    assert htpasswd([]) == ""
    assert htpasswd([], existing="alice:$2y$04$whatever\n") == ""


def test_seed_may_be_a_number():
    assert verify(USERS[0]["password"], parse(htpasswd(USERS[:1], seed=42, rounds=4))["alice"])


# ------------------------------------------------------------------ bad input
BAD_INPUT = [
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
    ([{"name": "alice", "password": "a\rb"}], {}, "carriage return"),
    ([{"name": "alice", "password": "a\0b"}], {}, "NUL"),
    ([{"name": "alice", "password": 1234}], {}, "must be a string"),
    ([{"name": 1234, "password": "pw"}], {}, "must be a string"),
    ([{"name": "alice", "password": "p"}, {"name": "alice", "password": "q"}], {}, "listed twice"),
    ([{"name": "alice", "password": "x" * 73}], {}, "longer than 72 bytes"),
    ([{"name": "alice", "password": "ü" * 37}], {}, "longer than 72 bytes"),
]


@pytest.mark.parametrize("users, kwargs, message", BAD_INPUT + [
    ([{"name": "alice", "password": "pw"}], {"scheme": "md5"}, "unknown scheme"),
    ([{"name": "alice", "password": "pw"}], {"scheme": "plain"}, "unknown scheme"),
    ([{"name": "alice", "password": "pw"}], {"rounds": 3}, "between 4 and 31"),
    ([{"name": "alice", "password": "pw"}], {"rounds": "many"}, "must be an integer"),
    ([{"name": "alice", "password": "pw"}], {"scheme": "sha512", "rounds": 10}, "between 1000"),
    ([{"name": "alice", "password": "pw"}], {"scheme": "apr1", "rounds": 5}, "not supported by the apr1"),
    ([{"name": "alice", "password": "pw"}], {"existing": 42}, "existing must be"),
])
def test_bad_input_raises(users, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        htpasswd(users, **kwargs)


def test_error_messages_never_show_the_password():
    secret = "hunter2-" + "z" * 80
    with pytest.raises(AnsibleFilterError) as err:
        htpasswd([{"name": "alice", "password": secret}])
    assert secret not in str(err.value) and "alice" in str(err.value)


def test_long_password_allowed_with_sha512():
    password = "x" * 100
    hashed = parse(htpasswd([{"name": "a", "password": password}], scheme="sha512", rounds=1000))["a"]
    assert verify(password, hashed) and not verify(password[:72], hashed)


# ------------------------------------------------------------------ the validation filter (preflight)
def htpasswd_problems(*args, **kwargs):
    return plugin.htpasswd_problems(*args, **kwargs)


@pytest.mark.parametrize("users, kwargs, message", BAD_INPUT)
def test_problems_lists_what_the_filter_refuses(users, kwargs, message):
    """The same rules, as a list of messages instead of an exception (for an assert task that
    names the user while the hashing task runs with no_log)."""
    problems = htpasswd_problems(users, **kwargs)
    assert problems and any(message in p for p in problems), problems
    with pytest.raises(AnsibleFilterError, match=message):
        htpasswd(users, **kwargs)


def test_problems_of_good_users_is_empty():
    assert htpasswd_problems(USERS) == []
    assert htpasswd_problems([]) == []
    assert htpasswd_problems([{"name": "a", "password": "x" * 100}], scheme="sha512") == []
    assert htpasswd_problems([{"name": "a", "password": "x" * 100}], scheme="apr1") == []


def test_problems_report_every_user_and_never_the_password():
    secret = "Long-" + "s" * 80
    problems = htpasswd_problems([
        {"name": "alice", "password": secret},
        {"name": "bob", "password": "ok\rbut-cr"},
        {"name": "carol", "password": "fine"},
    ])
    assert len(problems) == 2
    assert "alice" in problems[0] and "72 bytes" in problems[0]
    assert "bob" in problems[1] and "carriage return" in problems[1]
    assert all(secret not in p and "but-cr" not in p for p in problems)


def test_problems_ignore_an_unknown_scheme():
    # the scheme has its own check (and message) in the role's preflight
    assert htpasswd_problems(USERS, scheme="md5") == []


def test_filters_are_registered():
    filters = plugin.FilterModule().filters()
    assert filters["htpasswd"] is htpasswd
    assert filters["htpasswd_problems"] is plugin.htpasswd_problems


def test_documentation_parses():
    """Both filters of the file are documented in sidecar files (a DOCUMENTATION string in the
    .py would be shown by ansible-doc for both filters)."""
    yaml = pytest.importorskip("yaml")
    assert not hasattr(plugin, "DOCUMENTATION")
    sidecar = yaml.safe_load((REPO / "plugins" / "filter" / "htpasswd.yml").read_text())
    doc = sidecar["DOCUMENTATION"]
    assert doc["name"] == "htpasswd"
    assert set(doc["options"]) == {"_input", "existing", "seed", "scheme", "rounds"}
    assert doc["options"]["scheme"]["choices"] == list(plugin.SCHEMES)
    assert yaml.safe_load(sidecar["EXAMPLES"])
    assert "_value" in sidecar["RETURN"]
    sidecar = yaml.safe_load((REPO / "plugins" / "filter" / "htpasswd_problems.yml").read_text())
    assert sidecar["DOCUMENTATION"]["name"] == "htpasswd_problems"
    assert set(sidecar["DOCUMENTATION"]["options"]) == {"_input", "scheme"}
    assert yaml.safe_load(sidecar["EXAMPLES"])
    assert "_value" in sidecar["RETURN"]


# ------------------------------------------------------------------ other bcrypt / passlib releases
# The controller may have other releases than requirements.txt pins. bcrypt 5 refuses passwords
# over 72 bytes, which killed passlib 1.7.4's backend detection ("password cannot be longer than
# 72 bytes") and with it this filter. Each set is installed once (pip, from PyPI) into a cache
# directory and put in front of this virtualenv's site-packages in a child Python.
LIBRARY_SETS = {
    "bcrypt-5.0.0+passlib-1.7.4": ["bcrypt==5.0.0", "passlib==1.7.4"],
    "bcrypt-5.0.0+libpass-1.9.4": ["bcrypt==5.0.0", "libpass==1.9.4"],
    "bcrypt-4.0.1+passlib-1.7.4": ["bcrypt==4.0.1", "passlib==1.7.4"],
}

CHILD = textwrap.dedent(
    r"""
    import importlib.util, json, sys
    spec = importlib.util.spec_from_file_location("htpasswd_plugin", sys.argv[1])
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    import bcrypt, passlib
    users = json.loads(sys.argv[2])
    out = {"bcrypt": bcrypt.__version__, "passlib": passlib.__file__, "content": {}, "again": {}}
    for scheme, kwargs in (("bcrypt", {"rounds": 4}), ("apr1", {}), ("sha512", {"rounds": 1000})):
        content = plugin.htpasswd(users, scheme=scheme, **kwargs)
        out["content"][scheme] = content
        out["again"][scheme] = plugin.htpasswd(users, existing=content, scheme=scheme, **kwargs)
    out["problems"] = plugin.htpasswd_problems([{"name": "long", "password": "x" * 80}])
    print(json.dumps(out))
    """
)


def _library_dir(cache_root: Path, name: str, requirements: list[str]) -> Path:
    target = cache_root / name
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
         "--only-binary", ":all:", "--target", str(target)] + requirements,
        capture_output=True, text=True, timeout=300, check=False,
    )
    if proc.returncode != 0:
        pytest.skip("cannot install %s from PyPI here: %s" % (" ".join(requirements), proc.stderr.strip()[-300:]))
    (target / ".complete").touch()
    return target


@pytest.mark.parametrize("name", sorted(LIBRARY_SETS))
def test_other_library_releases(name, request, tmp_path):
    cache_root = Path(request.config.cache.mkdir("htpasswd-libraries"))
    target = _library_dir(cache_root, name, LIBRARY_SETS[name])
    env = dict(os.environ, PYTHONPATH=str(target), PYTHONNOUSERSITE="1")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(PLUGIN_PATH), json.dumps(USERS)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["bcrypt"] == LIBRARY_SETS[name][0].split("==")[1]
    assert out["passlib"].startswith(str(target))
    for scheme, content in out["content"].items():
        assert out["again"][scheme] == content, scheme
        lines = parse(content)
        for user in USERS:
            assert lines[user["name"]].startswith(PREFIX[scheme])
            assert verify(user["password"], lines[user["name"]]), (scheme, user["name"])
            if HTPASSWD_BIN:
                assert htpasswd_verify(tmp_path, content, user["name"], user["password"])
    assert out["problems"] and "72 bytes" in out["problems"][0]


def test_bcrypt_scheme_needs_no_passlib(tmp_path):
    """bcrypt hashes come from the bcrypt library itself: no passlib needed for the default scheme."""
    script = textwrap.dedent(
        """
        import importlib.util, sys
        sys.modules["passlib"] = None  # as if not installed
        spec = importlib.util.spec_from_file_location("htpasswd_plugin", sys.argv[1])
        plugin = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(plugin)
        content = plugin.htpasswd([{"name": "a", "password": "pw"}], rounds=4)
        assert plugin.htpasswd([{"name": "a", "password": "pw"}], existing=content, rounds=4) == content
        try:
            plugin.htpasswd([{"name": "a", "password": "pw"}], scheme="sha512")
        except Exception as exc:
            print(type(exc).__name__, exc)
        print(content, end="")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script, str(PLUGIN_PATH)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, line = proc.stdout.splitlines()
    assert "libpass" in first and "sha512 scheme" in first
    assert verify("pw", line.split(":", 1)[1])


# ------------------------------------------------------------------ through Ansible
def _ansible_playbook():
    exe = Path(sys.executable).with_name("ansible-playbook")
    return str(exe) if exe.exists() else shutil.which("ansible-playbook")


@pytest.mark.skipif(_ansible_playbook() is None, reason="ansible-playbook is not installed next to this Python")
def test_through_ansible_with_a_vaulted_password(tmp_path):
    """Resolve the filters by FQCN in a real play; a vault-encrypted password (ansible-core 2.19
    hands it over as EncryptedString, not str) must verify like the plain text, the file written
    by a first run must come back unchanged from a second (slurp -> existing), in check mode too."""
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
  vars:
    users: [{name: alice, password: "{{ vaulted }}"}, {name: bob, password: plain-pw}]
  tasks:
    - name: Check the users
      ansible.builtin.assert:
        that: users | mlops.mlflow.htpasswd_problems | length == 0
    - name: Read the current file
      ansible.builtin.slurp:
        src: "{{ playbook_dir }}/users.htpasswd"
      register: current
      failed_when: false
    - name: Write the file
      ansible.builtin.copy:
        content: "{{ users | mlops.mlflow.htpasswd(existing=(current.content | default('') | b64decode), rounds=4) }}"
        dest: "{{ playbook_dir }}/users.htpasswd"
        mode: "0600"
      register: written
    - name: Report
      ansible.builtin.debug:
        msg: "CHANGED={{ written is changed }}"
"""
    )
    command = [_ansible_playbook(), "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
               "play.yml"]

    def run(*extra):
        proc = subprocess.run(command + list(extra), capture_output=True, text=True, env=env, check=False, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    assert "CHANGED=True" in run("--check")
    assert not (tmp_path / "users.htpasswd").exists()
    assert "CHANGED=True" in run()
    first = (tmp_path / "users.htpasswd").read_text()
    lines = parse(first)
    assert verify("s3cret", lines["alice"]) and verify("plain-pw", lines["bob"])
    assert "CHANGED=False" in run("--check")
    assert "CHANGED=False" in run()
    assert (tmp_path / "users.htpasswd").read_text() == first
