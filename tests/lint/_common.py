# -*- coding: utf-8 -*-
"""What the lint scripts of tests/lint share. They run as `python tests/lint/<script>.py`, so this
folder is first on sys.path and `from _common import ...` finds this file (tests/collection/
check_links.py, which imports check_docs, puts the folder on sys.path itself)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def report(problems: list[str], summary: str) -> int:
    """Print every problem, then the summary line; the exit code: 1 if there is a problem, else 0."""
    for problem in problems:
        print(problem)
    print(summary)
    return 1 if problems else 0
