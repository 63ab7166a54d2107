# -*- coding: utf-8 -*-
"""The test harness's scripts are files, not modules of a package: load one by its path."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def load_script():
    """load_script("molecule/shared/free_subnet.py") -> the script as a fresh module."""

    def _load(relpath: str):
        path = ROOT / relpath
        spec = importlib.util.spec_from_file_location(path.stem.replace("-", "_"), path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return _load
