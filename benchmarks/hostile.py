"""Index a folder of hostile files with the real CLI and report what became of each.

    python -m benchmarks.hostile [--big-mb 200] [--line-mb 30] [--nested 100000]

Writes: an empty file, binary and NUL-byte files, damaged UTF-8, GBK, Big5, UTF-16 without a
BOM, corrupt and encrypted PDFs, a text file over loader.max_file_mb (--big-mb), one single
line of --line-mb, --nested nested HTML elements, a symlink loop, a JSONL with broken lines,
empty records and duplicate ids, and a file name that is not UTF-8; then runs
`semsearch index -v` once and prints, per file, whether it was indexed or skipped and the line
naming it, with the run's wall time and peak RSS. tests/test_hostile.py runs it small.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.api_latency import cli_argv

ZH_GBK = "央行再次提高了利率，以抑制通货膨胀。" * 4
ZH_BIG5 = "冰川在數千年間雕刻出山谷，海洋深處有鯨魚歌唱。" * 4
HASHING = "hashing-384"
NOT_FOLLOWED = "not followed"  # a link to a folder above: never walked, so nothing is read twice


@dataclass(frozen=True)
class Expected:
    name: str
    indexed: bool  # True: its documents are searchable; False: reported and skipped
    why: str  # what the report line must say (skipped) or a word to find (indexed)


def write_hostile_corpus(root: Path, big_mb: float, line_mb: float, nested: int) -> list[Expected]:
    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "good.txt": b"Glaciers carve valleys over thousands of years.\n",
        "empty.txt": b"",
        "binary.txt": bytes(range(256)) * 4,
        "nul.txt": b"text with a NUL \x00 byte in the middle\n",
        "damaged.txt": "naïve café crème brûlée déjà vu ".encode() + b"\xff\xfe" + "où".encode(),
        "gbk.txt": ZH_GBK.encode("gbk"),
        "big5.txt": ZH_BIG5.encode("big5"),
        "utf16.txt": "Whales sing songs in the deep ocean, 鲸鱼在深海歌唱。\n".encode("utf-16-le") * 3,
        "corrupt.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntruncated",
        "nested.html": b"<html><body>"
        + b"<div>" * nested
        + b"deeply nested lighthouse"
        + b"</div>" * nested
        + b"</body></html>",
        "records.jsonl": (
            b'{"_id": "r1", "text": "first record about volcanoes"}\n'
            b'{"_id": "r2", "text": "broken line\n'
            b'["not", "an", "object"]\n'
            b'{"_id": "r3", "text": ""}\n'
            b'{"_id": "r1", "text": "a duplicate id"}\n'
            b'{"_id": "r4", "text": "last record about comets"}\n'
        ),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    _write_repeated(root / "big.txt", b"oversized file line of words\n", int(big_mb * 1e6))
    _write_repeated(root / "oneline.txt", b"one very long line of words without a break ", int(line_mb * 1e6))
    (root / "encrypted.pdf").write_bytes(_encrypted_pdf())
    os.symlink(".", root / "loop")
    with open(os.path.join(os.fsencode(root), b"bad\xffname.txt"), "wb") as handle:
        handle.write(b"a file whose name is not UTF-8\n")
    return [
        Expected("good.txt", True, "glaciers"),
        Expected("empty.txt", False, "empty"),
        Expected("binary.txt", False, "binary"),
        Expected("nul.txt", False, "binary"),
        Expected("damaged.txt", False, "not valid UTF-8"),
        Expected("gbk.txt", True, "利率"),
        Expected("big5.txt", True, "鯨魚"),
        Expected("utf16.txt", True, "whales"),
        Expected("corrupt.pdf", False, "PDF"),
        Expected("encrypted.pdf", False, "encrypted"),
        Expected("big.txt", False, "max_file_mb"),
        Expected("oneline.txt", True, "break"),
        Expected("nested.html", True, "lighthouse"),
        Expected("loop", False, NOT_FOLLOWED),
        Expected("bad\\xffname.txt", False, "UTF-8"),
        Expected("records.jsonl:2", False, "JSON"),
        Expected("records.jsonl:3", False, "object"),
        Expected("records.jsonl:4", False, "empty"),
        Expected("records.jsonl:5", False, "duplicate"),
        Expected("records.jsonl", True, "comets"),
    ]


def _write_repeated(path: Path, unit: bytes, size: int) -> None:
    block = unit * max(1, (1 << 20) // len(unit))
    with open(path, "wb") as handle:
        written = 0
        while written < size:
            handle.write(block)
            written += len(block)


def _encrypted_pdf() -> bytes:
    """A one-page PDF encrypted with RC4 (pypdf needs no extra library to write it)."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password="pw", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@dataclass
class Outcome:
    expected: Expected
    ok: bool
    detail: str


def run_hostile(
    work: Path, big_mb: float, line_mb: float, nested: int, max_file_mb: float
) -> tuple[list[Outcome], float, float]:
    """(outcome per file, wall seconds, peak RSS of the indexing process in MB)."""
    corpus = work / "docs"
    expected = write_hostile_corpus(corpus, big_mb, line_mb, nested)
    config = work / "config.yaml"
    config.write_text(json.dumps({"loader": {"max_file_mb": max_file_mb}}))
    base = cli_argv(config, work / "index", HASHING)
    started = time.perf_counter()
    run = subprocess.run([*base, "index", "-v", str(corpus)], capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = run.stderr + run.stdout
    outcomes = []
    for item in expected:
        if item.indexed:
            found = subprocess.run(
                [*base, "search", item.why, "--mode", "keyword", "-k", "3", "--json"],
                capture_output=True,
                text=True,
            )
            hit = item.name.split(":")[0] in found.stdout
            outcomes.append(
                Outcome(
                    item,
                    run.returncode == 0 and hit,
                    "indexed and found" if hit else f"not found: {found.stderr[-200:]}",
                )
            )
        elif item.why == NOT_FOLLOWED:
            listed = subprocess.run(
                [*base, "list", "--json", "--source", f"*/{item.name}/*"], capture_output=True, text=True
            )
            none = listed.returncode == 0 and json.loads(listed.stdout)["total"] == 0
            outcomes.append(
                Outcome(
                    item,
                    none,
                    "folder link not followed: nothing under it indexed" if none else listed.stdout[:200],
                )
            )
        else:
            lines = [line for line in report.splitlines() if item.name in line]
            ok = any(item.why.lower() in line.lower() for line in lines)
            outcomes.append(Outcome(item, ok, lines[0].strip() if lines else "not reported"))
    if run.returncode != 0:
        outcomes.append(
            Outcome(Expected("(the run)", True, ""), False, f"exit {run.returncode}: {run.stderr[-500:]}")
        )
    return outcomes, seconds, peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-mb", type=float, default=200)
    parser.add_argument("--line-mb", type=float, default=30)
    parser.add_argument("--nested", type=int, default=100_000)
    parser.add_argument("--max-file-mb", type=float, default=64, help="loader.max_file_mb (the default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outcomes, seconds, peak = run_hostile(
            Path(tmp), args.big_mb, args.line_mb, args.nested, args.max_file_mb
        )
    for outcome in outcomes:
        state = "indexed" if outcome.expected.indexed else "skipped"
        print(f"{'ok ' if outcome.ok else 'BAD'} {outcome.expected.name:<18} {state}: {outcome.detail[:150]}")
    print(f"one `semsearch index` run: {seconds:.1f} s, peak RSS {peak:.0f} MB")
    sys.exit(0 if all(o.ok for o in outcomes) else 1)


if __name__ == "__main__":
    main()
