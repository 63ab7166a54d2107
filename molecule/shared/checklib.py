"""Helpers shared by the scenarios' client scripts (they run on the test machine, in the venv).

A script adds this folder to sys.path and imports what it needs:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared"))
    from checklib import expect, fail, seen, sha256  # noqa: E402

`seen` collects what the checks observed; `fail` prints it with the error as one JSON line and
exits 1.
"""
import hashlib
import json
import sys

seen = {}


def fail(msg):
    print(json.dumps({"ok": False, "error": msg, "seen": seen}))
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def sha256(path):
    """Hex SHA-256 of a file, read 1 MiB at a time (artifacts may be GBs)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
