"""How long `semsearch` takes as a fresh process, against the bare cost of embedding one query.

Each command runs as a new process, `--repeat` times (median reported): the error paths
(`search ""`, `-k 0`, a bad `--filter`, a missing folder), a no-op `index`, and one-shot
`search` in semantic and keyword mode. The baseline is a fresh process that builds the index's
own embedder with the same backend and embeds one query: the least any one-shot semantic search
can cost. Target (issue 15): a one-shot search within 1.5 s of that baseline.

    python -m benchmarks.cli_latency [--docs DIR] [--index-dir IDX] [--repeat 5]

Without --index-dir it indexes --docs (default examples/corpus) into a temporary directory
first. Timings include interpreter start-up; nothing here is a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 1.5

BARE = """
import sys
from indexer.config import load_settings
from indexer.embedders import create_embedder, settings_for
from indexer.layout import IndexLayout
recorded = IndexLayout(sys.argv[1]).current().embedder
create_embedder(settings_for(recorded, load_settings().model), 1).embed_queries(["kitten hunting rodents"])
"""


def timed(args: list[str], repeat: int, expect_ok: bool) -> float:
    """Median wall time of `repeat` fresh runs; fails loudly if the exit status surprises."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if (proc.returncode == 0) != expect_ok:
            raise SystemExit(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, default=REPO / "examples" / "corpus")
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "semsearch"]
    with tempfile.TemporaryDirectory(prefix="cli-latency-") as scratch:
        index_dir = args.index_dir or Path(scratch) / "index"
        if args.index_dir is None:
            build = [*cli, "--index-dir", str(index_dir), "index", str(args.docs)]
            subprocess.run(build, cwd=REPO, check=True, capture_output=True)
        on = [*cli, "--index-dir", str(index_dir)]
        query = "kitten hunting rodents"
        rows = [
            ("bare: embed one query (same backend)", [sys.executable, "-c", BARE, str(index_dir)], True),
            ('error: search ""', [*on, "search", ""], False),
            ("error: search -k 0", [*on, "search", "cat", "-k", "0"], False),
            ("error: search --filter nonsense", [*on, "search", "cat", "--filter", "nonsense"], False),
            ("error: index a missing folder", [*on, "index", str(Path(scratch) / "missing")], False),
            ("no-op index", [*on, "index", str(args.docs)], True),
            ("one-shot search --mode keyword", [*on, "search", query, "--mode", "keyword"], True),
            ("one-shot search --mode semantic", [*on, "search", query, "--mode", "semantic"], True),
            ("one-shot search (hybrid)", [*on, "search", query], True),
        ]  # fmt: skip
        if args.index_dir is not None:
            rows = [row for row in rows if row[0] != "no-op index"]  # its folders are not known here
        results = {name: timed(command, args.repeat, ok) for name, command, ok in rows}
    bare = results[rows[0][0]]
    print(f"median of {args.repeat} fresh processes each; index {index_dir}")
    print(f"{'command':<40} {'seconds':>8} {'vs bare':>8} {'over bare':>10}")
    for name, seconds in results.items():
        print(f"{name:<40} {seconds:>8.2f} {seconds / bare:>7.2f}x {seconds - bare:>+9.2f}s")
    worst = max(v for k, v in results.items() if k.startswith("one-shot")) - bare
    verdict = "within" if worst <= TARGET_S else "NOT within"
    print(f"slowest one-shot search is {worst:+.2f} s over the bare cost: {verdict} the {TARGET_S} s target")


if __name__ == "__main__":
    main()
