# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sqlite_copy.py SRC DST: consistent copy of a SQLite database (the online backup API).

A copy of roles/sqlite_migration/files/sqlite_copy.py (roles do not share files).

The source is opened read-only; the copy is written next to DST and renamed into place, mode
0600. Prints one JSON line: source and copy size, quick_check result, alembic revision(s).
Safe while a server writes to SRC: the backup API restarts when pages change under it.
"""
import json
import os
import sqlite3
import sys
from urllib.request import pathname2url


def main(src, dst):
    if not os.path.isfile(src):
        print(json.dumps({"ok": False, "error": "%s is not a file" % src}))
        return 1
    tmp = dst + ".part"
    if os.path.exists(tmp):
        os.remove(tmp)
    old = os.umask(0o077)
    try:
        source = sqlite3.connect("file:%s?mode=ro" % pathname2url(src), uri=True)
        copy = sqlite3.connect(tmp)
        with copy:
            source.backup(copy)
        source.close()
        check = copy.execute("PRAGMA quick_check").fetchone()[0]
        tables = [r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        revisions = []
        if "alembic_version" in tables:
            revisions = sorted(r[0] for r in copy.execute("SELECT version_num FROM alembic_version"))
        copy.close()
    finally:
        os.umask(old)
    os.chmod(tmp, 0o600)
    os.replace(tmp, dst)
    print(json.dumps({"ok": True, "source": src, "copy": dst, "size": os.path.getsize(dst),
                      "quick_check": check, "tables": len(tables), "revisions": revisions}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
