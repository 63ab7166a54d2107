#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Links in the Markdown files of a built collection resolve inside the collection.

    check_links.py DIR        DIR: the extracted tarball (or an installed collection)

For every *.md file under DIR: each relative link - inline `[text](path#anchor)` and images,
also when the link text spans lines, reference definitions `[name]: path`, HTML href/src -
names a file or directory under DIR, and an anchor names a heading of the target Markdown file
(GitHub's slugs, as tests/lint/check_docs.py computes them). Code blocks, inline code and HTML
comments are skipped; absolute URLs (http:, https:, mailto:) are not fetched. A link that
leaves DIR (`../..` above the root) is a problem: the file it names is not in the tarball.
Prints every problem; exit code 1 if any.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lint"))
from check_docs import anchors  # noqa: E402  (same heading slugs as the checkout's lint)

FENCE = re.compile(r"^ {0,3}(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
INLINE = re.compile(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)", re.S)
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HTML = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*[\"']([^\"']+)[\"']", re.I | re.S)


def blank(match: re.Match) -> str:
    """The match replaced by spaces, newlines kept (line numbers stay right)."""
    return re.sub(r"[^\n]", " ", match.group(0))


def text_without_code(path: Path) -> str:
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
            continue
        lines.append("" if fenced else line)
    text = "\n".join(lines)
    text = COMMENT.sub(blank, text)
    return INLINE_CODE.sub(blank, text)


def links(path: Path) -> list[tuple[int, str]]:
    text = text_without_code(path)
    found = []
    for pattern in (INLINE, REFERENCE, HTML):
        for match in pattern.finditer(text):
            found.append((text.count("\n", 0, match.start(1)) + 1, match.group(1)))
    return sorted(found)


def check(root: Path) -> tuple[int, int, list[str]]:
    problems, files, count = [], 0, 0
    for md in sorted(root.rglob("*.md")):
        files += 1
        for number, target in links(md):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
                continue
            count += 1
            path, _, anchor = target.partition("#")
            dest = (md.parent / path).resolve() if path else md.resolve()
            where = f"{md.relative_to(root)}:{number}"
            if dest != root and root not in dest.parents:
                problems.append(f"{where}: link to {target}: outside the collection")
            elif not dest.exists():
                problems.append(f"{where}: link to {target}: not in the collection")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{where}: link to {target}: no such heading in {dest.relative_to(root)}")
    return files, count, problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    root = Path(argv[1]).resolve()
    files, count, problems = check(root)
    for problem in problems:
        print(problem)
    print(f"check_links: {files} Markdown files, {count} relative links, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
