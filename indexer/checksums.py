"""Checksums of a segment's immutable files, written once with the segment and verified by
`semsearch check` and `semsearch restore`.

A segment never changes after it is written, so a checksum taken then proves later that no
byte of it was lost or altered (a torn copy, a bad disk, a hand edit). Tombstone files are
excluded: they are added later, one per generation, and are checked against the manifest's
counts instead.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from indexer.layout import write_atomically

CHECKSUMS = "checksums.json"
_BLOCK = 1 << 20


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (bounded memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _covered(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.name != CHECKSUMS
        and not p.name.startswith("deletes-")
        and not p.name.endswith(".tmp")
    )


def write_checksums(folder: Path) -> None:
    sums = {p.name: file_digest(p) for p in _covered(folder)}
    write_atomically(folder / CHECKSUMS, json.dumps(sums, indent=1, sort_keys=True))


def verify_checksums(folder: Path) -> list[tuple[str, str]]:
    """(file name, problem) for each file that does not match; empty when all do. A segment
    written before checksums existed has none to verify, reported under the name CHECKSUMS."""
    try:
        recorded: dict[str, str] = json.loads((folder / CHECKSUMS).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [(CHECKSUMS, f"no {CHECKSUMS} (an older semsearch wrote it; `check --repair` adds it)")]
    except (OSError, ValueError) as exc:
        return [(CHECKSUMS, f"{CHECKSUMS} is unreadable ({exc})")]
    problems = []
    for name, expected in sorted(recorded.items()):
        path = folder / name
        if not path.exists():
            problems.append((name, f"{name} is missing"))
        elif file_digest(path) != expected:
            problems.append((name, f"{name} does not match its checksum"))
    for path in _covered(folder):
        if path.name not in recorded:
            problems.append((path.name, f"{path.name} is not in {CHECKSUMS}"))
    return problems
