"""Shared by the benchmark scripts: replace one ``## Section`` of RESULTS.md, keeping the others."""

from __future__ import annotations

from pathlib import Path

from twin._io import atomic_file


def replace_section(path: Path, heading: str, text: str) -> None:
    """Put ``text`` (which starts with ``heading``) where ``heading``'s section was, or at the end; atomic."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    start = old.find(heading + "\n")
    if start < 0:
        new = old.rstrip("\n") + ("\n\n" if old.strip() else "") + text
    else:
        end = old.find("\n## ", start + len(heading))
        new = old[:start] + text.rstrip("\n") + "\n" + ("\n" + old[end + 1 :] if end >= 0 else "")
    with atomic_file(path) as tmp:
        tmp.write_text(new.rstrip("\n") + "\n", encoding="utf-8")
