# -*- coding: utf-8 -*-
"""Make `ansible_collections.mlops.mlflow` importable for plain `pytest tests/unit`.

Under `ansible-test units` the collection is already importable and nothing happens. Otherwise a
throw-away tree ansible_collections/mlops/mlflow -> repository root is created in a temporary
directory and prepended to sys.path (`ansible_collections` is a namespace package, so this
coexists with the collections installed by the `ansible` package).
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ensure_collection_importable():
    try:
        import ansible_collections.mlops.mlflow.plugins.module_utils.pgloader  # noqa: F401
        return
    except ImportError:
        pass
    base = tempfile.mkdtemp(prefix="mlops-mlflow-collection.")
    atexit.register(shutil.rmtree, base, True)
    namespace = os.path.join(base, "ansible_collections", "mlops")
    os.makedirs(namespace)
    os.symlink(str(ROOT), os.path.join(namespace, "mlflow"))
    sys.path.insert(0, base)
    for name in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.mlops")]:
        del sys.modules[name]


_ensure_collection_importable()
