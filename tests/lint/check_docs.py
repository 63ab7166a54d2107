#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Documentation lint: links that resolve, `make` targets that exist.

For every Markdown file git tracks:
- each relative link `[text](path)` or `[text](path#anchor)` names a file or directory of the
  checkout, and an anchor names a heading of the target (GitHub's slugs);
- each `make <target>` in README.md, docs/ and CONTRIBUTING.md is a target of the Makefile.
External links (http, https, mailto) are not fetched. Prints every problem; exit code 1 if any.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from _common import ROOT, report

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")
MAKE = re.compile(r"(?<![\w/.-])make\s+([a-z][a-z0-9_-]*)")
TARGET = re.compile(r"^([a-z][a-z0-9_-]*):", re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def prose(path: Path) -> list[tuple[int, str]]:
    """Lines outside fenced code blocks, with their numbers."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def anchors(path: Path) -> set[str]:
    found: dict[str, int] = {}
    result = set()
    for _, line in prose(path):
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            count = found.get(base, 0)
            result.add(base if count == 0 else f"{base}-{count}")
            found[base] = count + 1
    return result


def check_links(md: Path) -> list[str]:
    problems = []
    for number, line in prose(md):
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target) or target.startswith("//"):
                continue
            path, _, anchor = target.partition("#")
            dest = (md.parent / path).resolve() if path else md
            where = f"{md.relative_to(ROOT)}:{number}"
            if not dest.exists():
                problems.append(f"{where}: link to {target}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{where}: link to {target}: no such heading in {dest.relative_to(ROOT)}")
    return problems


def check_make(md: Path, targets: set[str]) -> list[str]:
    problems = []
    for number, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
        for target in MAKE.findall(line):
            if target not in targets:
                problems.append(f"{md.relative_to(ROOT)}:{number}: make {target}: no such target in the Makefile")
    return problems


def main() -> int:
    files = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.split()
    targets = set(TARGET.findall((ROOT / "Makefile").read_text(encoding="utf-8")))
    problems = []
    for name in files:
        md = ROOT / name
        problems += check_links(md)
        if name in ("README.md", "CONTRIBUTING.md") or name.startswith("docs/"):
            problems += check_make(md, targets)
    return report(problems, f"check_docs: {len(files)} Markdown files, {len(problems)} problem(s)")


if __name__ == "__main__":
    sys.exit(main())
