"""The crasher: SIGKILL a writer at random moments while a server answers a polling client, and
check the index's invariants after every kill (after Qdrant's crasher).

    python -m benchmarks.crasher [--minutes 20] [--kill-probability 0.3] [--records 3000] [--seed 1]

A writer process (the real `semsearch` CLI, hashing embedder) runs, one after another,
`index` after the corpus changed (records added, edited and deleted, files removed),
`rebuild`, `compact` and `delete`; each run is SIGKILLed with --kill-probability at a random
moment within the time such a run takes, else left to finish. Meanwhile `semsearch serve` on
127.0.0.1 answers a client that polls hybrid searches without pause. After every run, killed
or not:
- the live generation opens, and `check` (manifest, counts across catalog, vectors, keyword
  postings and ANN, checksums, SQLite integrity_check) passes;
- every document acknowledged by the last run that finished, and unchanged in the corpus
  since, is present with the same content (a killed run may only have moved changed ones);
- after a run that finished, the index equals the corpus, and no temporary files are left;
- no polled request has failed.
At the end one more uninterrupted `index` runs and its state must equal a clean build of the
final corpus, vectors included. The report counts kills survived and checks passed.
tests/test_crash.py runs this for about a minute in CI.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from benchmarks.api_latency import cli_argv, get, server

WORDS = (
    "glacier valley river ocean whale forest desert canyon volcano island harbor meadow "
    "bank interest inflation market stock bond credit budget tax trade "
    "galaxy star planet comet orbit telescope nebula moon rocket "
    "bread cheese pickle mustard soup noodle pepper garlic onion"
).split()
HASHING = "hashing-384"


@dataclass
class Report:
    runs: int = 0
    kills: int = 0
    finished: int = 0
    checks: int = 0
    polled: int = 0
    poll_failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    by_command: dict[str, list[int]] = field(default_factory=dict)  # command -> [runs, kills]

    def line(self) -> str:
        commands = ", ".join(f"{c} {r}/{k}" for c, (r, k) in sorted(self.by_command.items()))
        return (
            f"{self.runs} writer runs ({commands}: runs/kills), {self.kills} SIGKILLs survived, "
            f"{self.finished} runs finished, {self.checks} invariant checks passed, "
            f"{self.polled} polled searches, {len(self.poll_failures)} failed, "
            f"{len(self.problems)} problems"
        )


class Corpus:
    """JSONL files of records that change between runs, and what the index must then hold."""

    def __init__(self, root: Path, records: int, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.files: dict[str, dict[str, str]] = {}  # file name -> record id -> text
        self.next_id = 0
        root.mkdir(parents=True, exist_ok=True)
        for part in range(6):
            self.files[f"part{part}.jsonl"] = {self._new_id(): self._text() for _ in range(records // 6)}
        self.write_all()

    def _new_id(self) -> str:
        self.next_id += 1
        return f"r{self.next_id}"

    def _text(self) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(20, 60)))

    def write_all(self) -> None:
        for name in list(self.files):
            self._write(name)

    def _write(self, name: str) -> None:
        lines = [
            json.dumps({"_id": rid, "title": text[:20], "text": text})
            for rid, text in self.files[name].items()
        ]
        (self.root / name).write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")

    def mutate(self) -> None:
        """Add records to a new file, edit some, delete some, sometimes drop a whole file."""
        rng = self.rng
        name = f"new{self.next_id}.jsonl"
        self.files[name] = {self._new_id(): self._text() for _ in range(rng.randint(20, 120))}
        self._write(name)
        for name in rng.sample(sorted(self.files), k=min(2, len(self.files))):
            records = self.files[name]
            for rid in rng.sample(sorted(records), k=min(len(records), rng.randint(1, 15))):
                if rng.random() < 0.5:
                    records[rid] = self._text()
                else:
                    del records[rid]
            self._write(name)
        if len(self.files) > 4 and rng.random() < 0.3:
            gone = rng.choice(sorted(self.files))
            del self.files[gone]
            (self.root / gone).unlink()

    def expected(self) -> dict[str, str]:
        """record id -> text, as the index must hold it after a finished `index`."""
        return {rid: text for records in self.files.values() for rid, text in records.items()}


def indexed_texts(index_dir: Path) -> dict[str, str]:
    """doc id -> full text of the live generation (raises if it does not open)."""
    from indexer.snapshot import IndexSnapshot
    from indexer.store import visible

    index = IndexSnapshot.open(index_dir)
    try:
        rows = index.store.execute(
            f"SELECT d.id, d.text FROM documents d WHERE {visible(index.generation)}"  # noqa: S608
        ).fetchall()
        return dict(rows)
    finally:
        index.close()


def check_invariants(index_dir: Path, acknowledged: dict[str, str], corpus: dict[str, str]) -> list[str]:
    """What must hold after any run, killed or not; one line per violation."""
    from indexer.check import check_index

    report = check_index(index_dir)
    problems = [f"check: {p}" for p in report.problems]
    try:
        held = indexed_texts(index_dir)
    except Exception as exc:  # noqa: BLE001 - any failure to open is the finding
        return [*problems, f"the live generation does not open: {exc}"]
    # A record's document id is its `_id` and its text the record's text.
    lost = [rid for rid, text in acknowledged.items() if corpus.get(rid) == text and held.get(rid) != text]
    if lost:
        problems.append(
            f"{len(lost)} acknowledged, unchanged documents are missing or altered (e.g. {lost[:3]})"
        )
    return problems


def leftovers(index_dir: Path) -> list[str]:
    return [str(p) for p in index_dir.rglob("*") if p.name.endswith(".tmp") or ".partial-" in p.name]


class Poller(threading.Thread):
    """Hybrid searches one after another until stopped; records every failure."""

    def __init__(self, port: int, report: Report) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.report = report
        self.stopped = threading.Event()

    def run(self) -> None:
        rng = random.Random(5)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stopped.is_set():
            query = " ".join(rng.sample(WORDS, 2))
            try:
                status, body = get(conn, "/api/search?" + urlencode({"q": query, "mode": "hybrid", "k": 5}))
                if status != 200:
                    self.report.poll_failures.append(f"HTTP {status}: {body[:200]!r}")
            except (OSError, http.client.HTTPException) as exc:
                self.report.poll_failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.report.polled += 1


def writer_command(config: Path, index_dir: Path, corpus: Path, command: str, victim: str = "") -> list[str]:
    base = cli_argv(config, index_dir, HASHING)
    if command in ("index", "rebuild"):
        return [*base, command, str(corpus)]
    if command == "delete":
        return [*base, "delete", "--source", f"*/{victim}#*"]
    return [*base, command]


def run_cli(command: list[str]) -> None:
    """A writer run that must finish; its stderr is the error when it does not."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:])} failed: {done.stderr[-500:]}")


def run_crasher(
    work: Path, seconds: float, kill_probability: float, records: int, seed: int, log=print
) -> Report:
    rng = random.Random(seed)
    report = Report()
    corpus = Corpus(work / "docs", records, rng)
    index_dir = work / "index"
    config = work / "config.yaml"
    # Small batches and segments: a run passes through many commits, seals and merges to kill.
    config.write_text(
        json.dumps(
            {
                "model": {"batch_size": 8},
                "index": {"segment_max_vectors": 1000, "max_segments": 3, "flat_max_vectors": 400},
            }
        )
    )
    durations: dict[str, float] = {}

    def timed_run(command: str) -> float:
        started = time.perf_counter()
        run_cli(writer_command(config, index_dir, corpus.root, command))
        return time.perf_counter() - started

    durations["index"] = timed_run("index")
    acknowledged = corpus.expected()
    history: list[str] = []
    with server(index_dir, HASHING, 2.0) as port:
        poller = Poller(port, report)
        poller.start()
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                command = rng.choices(["index", "rebuild", "compact", "delete"], [6, 2, 1, 1])[0]
                victim = ""
                if command == "index":
                    corpus.mutate()
                elif command == "delete":  # its records leave the index (until the next index)
                    victim = rng.choice(sorted(corpus.files))
                    acknowledged = {r: t for r, t in acknowledged.items() if r not in corpus.files[victim]}
                kill = rng.random() < kill_probability
                proc = subprocess.Popen(
                    writer_command(config, index_dir, corpus.root, command, victim),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                started = time.perf_counter()
                killed = False
                if kill:
                    try:
                        proc.wait(rng.uniform(0.05, 1.0) * durations.get(command, durations["index"]))
                    except subprocess.TimeoutExpired:
                        proc.send_signal(signal.SIGKILL)
                        killed = True
                _, stderr = proc.communicate(timeout=600)
                runs, kills = report.by_command.setdefault(command, [0, 0])
                report.by_command[command] = [runs + 1, kills + killed]
                report.runs += 1
                if killed:
                    report.kills += 1
                elif proc.returncode != 0 and b"no document matches" not in stderr:  # an emptied file
                    report.problems.append(f"{command} exited {proc.returncode}: {stderr.decode()[-300:]}")
                else:
                    report.finished += 1
                    if command in ("index", "rebuild"):
                        durations[command] = time.perf_counter() - started
                problems = check_invariants(index_dir, acknowledged, corpus.expected())
                if not killed and command in ("index", "rebuild"):
                    held, wanted = indexed_texts(index_dir), corpus.expected()
                    if held != wanted:
                        difference = _difference(held, wanted, corpus)
                        problems.append(
                            f"after a finished {command}, the index is not the corpus: {difference}"
                        )
                    acknowledged = corpus.expected()
                    stale = leftovers(index_dir)
                    if stale:
                        problems.append(f"temporary files left after a finished run: {stale[:3]}")
                history.append(f"{command}{'(killed)' if killed else ''}")
                recent = " ".join(history[-12:])
                report.problems += [f"after {history[-1]}: {p} [runs so far: {recent}]" for p in problems]
                report.checks += 0 if problems else 1
                log(f"  {command:<8} {'KILLED' if killed else 'done  '} {report.line()}")
        finally:
            poller.stopped.set()
            poller.join(60)
    run_cli(writer_command(config, index_dir, corpus.root, "index"))
    clean = work / "clean"
    run_cli(writer_command(config, clean, corpus.root, "index"))
    from tests.test_segments import snapshot_state

    if snapshot_state(index_dir) != snapshot_state(clean):
        report.problems.append("the final state differs from a clean build of the same corpus")
    return report


def _difference(held: dict[str, str], wanted: dict[str, str], corpus: Corpus) -> str:
    missing = sorted(set(wanted) - set(held))
    extra = sorted(set(held) - set(wanted))
    altered = sorted(r for r in set(held) & set(wanted) if held[r] != wanted[r])
    files = sorted({name for name, records in corpus.files.items() for r in missing if r in records})
    return f"{len(missing)} missing (from {files[:4]}), {len(extra)} extra, {len(altered)} altered"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--kill-probability", type=float, default=0.3)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_crasher(Path(tmp), args.minutes * 60, args.kill_probability, args.records, args.seed)
    print(report.line())
    for problem in report.problems[:20] + report.poll_failures[:20]:
        print("  PROBLEM", problem)
    sys.exit(1 if report.problems or report.poll_failures else 0)


if __name__ == "__main__":
    main()
