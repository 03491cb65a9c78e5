"""Reading a BEIR-layout dataset: corpus.jsonl, queries.jsonl and qrels/<split>.tsv.

Only the queries judged in the split are kept (that is what gets evaluated); the corpus is not
read here beyond counting its records, since the indexer reads it like any JSONL file.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import SemsearchError


class DatasetError(SemsearchError):
    """A dataset directory is missing a file or holds a malformed one."""


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    corpus: Path
    split: str
    queries: dict[str, str]  # judged query id -> text, in queries.jsonl order
    qrels: dict[str, dict[str, int]]  # query id -> document id -> judgment
    missing_queries: tuple[str, ...] = ()  # judged ids that queries.jsonl lacks

    def limited(self, max_queries: int) -> Dataset:
        """The first `max_queries` judged queries (all when 0)."""
        if not max_queries or max_queries >= len(self.queries):
            return self
        keep = dict(list(self.queries.items())[:max_queries])
        qrels = {q: self.qrels[q] for q in keep}
        return Dataset(self.name, self.root, self.corpus, self.split, keep, qrels)


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DatasetError(
            f"{path} not found: a BEIR dataset has corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
        )
    return path


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query-id, corpus-id, score per row; the header row is skipped."""
    qrels: dict[str, dict[str, int]] = {}
    with open(_require(path), encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(rows, start=1):
            if not row or (number == 1 and row[0] == "query-id"):
                continue
            if len(row) < 3:
                raise DatasetError(f"{path}: line {number} needs query-id, corpus-id, score")
            try:
                grade = int(float(row[2]))
            except ValueError:
                raise DatasetError(f"{path}: line {number}: score {row[2]!r} is not a number") from None
            qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels


def read_queries(path: Path, wanted: set[str]) -> dict[str, str]:
    queries: dict[str, str] = {}
    with open(_require(path), encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}: line {number} is not JSON ({exc.msg})") from None
            query_id = str(record.get("_id", ""))
            if query_id in wanted:
                queries[query_id] = str(record.get("text", ""))
    return queries


def count_records(path: Path) -> int:
    """Non-empty lines of a JSONL file (documents in a corpus)."""
    with open(_require(path), "rb") as handle:
        return sum(1 for line in handle if line.strip())


def load_dataset(root: Path, split: str = "test") -> Dataset:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset directory")
    corpus = _require(root / "corpus.jsonl")
    qrels = read_qrels(root / "qrels" / f"{split}.tsv")
    queries = read_queries(root / "queries.jsonl", set(qrels))
    missing = tuple(q for q in qrels if q not in queries)
    qrels = {q: judged for q, judged in qrels.items() if q in queries}
    return Dataset(root.resolve().name, root.resolve(), corpus.resolve(), split, queries, qrels, missing)
