#!/usr/bin/env python3
"""Secrets audit of the Ansible output: no test secret may appear in a Molecule log.

    secrets_in_logs.py LOG...

The secrets are the values the scenarios give to secret variables (keys that name a password,
a secret key or a vault value, and the `password` of user entries), read from
molecule/*/molecule.yml, molecule/*/inventory/ and molecule/*/vars/. Each log
(.build/molecule-<scenario>.log: create, prepare, check, converge, idempotence, verify, destroy)
is searched for every one of them. Prints `secrets found: N in M log(s)` and, for each hit, the
log and the variable name (never the value); exit code 1 when N > 0.
"""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET_KEY = re.compile(r"(password|secret|^vault_)", re.IGNORECASE)
MIN_LENGTH = 8  # shorter values would match ordinary words


def _walk(node, key, found):
    if isinstance(node, dict):
        for k, v in node.items():
            _walk(v, str(k), found)
    elif isinstance(node, list):
        for v in node:
            _walk(v, key, found)
    elif isinstance(node, str) and key and SECRET_KEY.search(key):
        value = node.replace("$$", "$")  # Molecule's escape in molecule.yml
        if len(value) >= MIN_LENGTH and "{{" not in value:
            found.setdefault(value, key)


def secrets():
    found = {}
    files = list(ROOT.glob("molecule/*/molecule.yml"))
    for sub in ("inventory", "vars"):
        files += [p for p in ROOT.glob(f"molecule/*/{sub}/**/*") if p.suffix in (".yml", ".yaml")]
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            _walk(doc, "", found)
    return found


def main(logs):
    known = secrets()
    if not known:
        print("secrets_in_logs: no test secrets found in the scenarios (nothing to look for)")
        return 1
    hits = []
    for log in logs:
        text = pathlib.Path(log).read_text(errors="replace")
        hits += [(log, name) for value, name in known.items() if value in text]
    for log, name in hits:
        print(f"secret of {name} in {log}")
    print(f"secrets found: {len(hits)} in {len(logs)} log(s) ({len(known)} secret values searched)")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
