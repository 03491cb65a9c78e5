"""BM25 over segment postings: exact collection-wide scores however the index was grown.

The reference below scores straight from the catalog's live chunks with plain Python loops, so
the engine's per-segment arrays, summed statistics, tombstones and merges are checked against
something that shares none of their code.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from indexer.analysis import index_terms, search_terms
from indexer.embedders import HashingEmbedder
from indexer.keyword_index import Bm25KeywordIndex, Bm25Parameters
from indexer.pipeline import Indexer
from indexer.postings import build_postings, merge_postings
from indexer.snapshot import IndexSnapshot
from indexer.store import visible

VOCABULARY = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega 猫 老鼠 谷仓".split()
QUERIES = ["alpha", "beta gamma", "omega kappa lambda", "老鼠", "zeta 谷仓 alpha", "sigma theta"]


def write_records(path: Path, start: int, count: int, seed: int) -> None:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(start, start + count):
            words = rng.choices(VOCABULARY, k=rng.randint(3, 30))
            title = " ".join(rng.choices(VOCABULARY, k=2))
            handle.write(json.dumps({"_id": f"d{i}", "title": title, "text": " ".join(words)}) + "\n")


def reference_scores(index: IndexSnapshot, query: str, p: Bm25Parameters) -> dict[int, float]:
    """BM25F from first principles over the generation's live chunks."""
    rows = index.store.execute(
        "SELECT c.id, d.title, c.text FROM chunks c JOIN documents d ON d.key = c.doc_key "
        f"WHERE {visible(index.generation)}"
    ).fetchall()
    docs = {}
    for chunk_id, title, text in rows:
        title_terms, body_terms = Counter(index_terms(title)), Counter(index_terms(text))
        length = sum(body_terms.values()) + p.title_weight * sum(title_terms.values())
        docs[chunk_id] = (title_terms, body_terms, length)
    average = sum(d[2] for d in docs.values()) / len(docs)
    scores: dict[int, float] = {}
    for term in search_terms(query):
        holders = [cid for cid, (t, b, _) in docs.items() if t[term] or b[term]]
        if not holders:
            continue
        idf = math.log(1 + (len(docs) - len(holders) + 0.5) / (len(holders) + 0.5))
        for cid in holders:
            title_terms, body_terms, length = docs[cid]
            tf = body_terms[term] + p.title_weight * title_terms[term]
            norm = p.k1 * (1 - p.b + p.b * length / average)
            scores[cid] = scores.get(cid, 0.0) + idf * tf * (p.k1 + 1) / (tf + norm)
    return scores


def assert_matches_reference(index: IndexSnapshot, parameters: Bm25Parameters) -> None:
    engine = Bm25KeywordIndex(index.segments, parameters)
    for query in QUERIES:
        expected = reference_scores(index, query, parameters)
        got = dict(engine.search(query, 10_000))
        assert set(got) == set(expected), query
        for chunk_id, score in expected.items():
            assert got[chunk_id] == pytest.approx(score, rel=1e-4), (query, chunk_id)
        top = [score for _, score in engine.search(query, 5)]
        assert top == pytest.approx(sorted(expected.values(), reverse=True)[:5], rel=1e-4), query


@pytest.mark.parametrize("parameters", [Bm25Parameters(), Bm25Parameters(0.9, 0.4, 1.0)])
def test_scores_equal_the_reference_across_segments_and_deletes(
    make_settings, tmp_path: Path, parameters: Bm25Parameters
) -> None:
    settings = make_settings(index__max_segments=50, index__expunge_deletes=1.0)
    embedder = HashingEmbedder()
    corpus = tmp_path / "docs"
    for step in range(3):  # three runs: three segments
        write_records(corpus / f"f{step}.jsonl", step * 40, 40, seed=step)
        Indexer(settings, embedder).index([corpus])
    write_records(corpus / "f1.jsonl", 40, 25, seed=1)  # rewritten: the same 25 kept, 15 deleted
    write_records(corpus / "f2.jsonl", 80, 40, seed=7)  # every record changed
    Indexer(settings, embedder).index([corpus])
    index = IndexSnapshot.open(settings.index_dir)
    try:
        assert len(index.segments.segments) >= 3 and any(s.info.deleted for s in index.segments.segments)
        assert_matches_reference(index, parameters)
    finally:
        index.close()


def test_a_document_added_alone_scores_as_in_one_big_segment(make_settings, tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    grown = make_settings(index_dir=str(tmp_path / "grown"))
    whole = make_settings(index_dir=str(tmp_path / "whole"))
    write_records(tmp_path / "a" / "base.jsonl", 0, 60, seed=1)
    Indexer(grown, embedder).index([tmp_path / "a"])
    write_records(tmp_path / "a" / "new.jsonl", 60, 1, seed=2)
    Indexer(grown, embedder).index([tmp_path / "a"])
    Indexer(whole, embedder).index([tmp_path / "a"])
    scores = []
    for settings in (grown, whole):
        index = IndexSnapshot.open(settings.index_dir)
        new_chunk = index.store.execute(
            "SELECT c.id FROM chunks c JOIN documents d ON d.key = c.doc_key WHERE d.id = 'd60'"
        ).fetchone()[0]
        segment_count = len(index.segments.segments)
        scores.append((segment_count, dict(index.keywords.search("alpha beta omega", 100)).get(new_chunk)))
        index.close()
    (grown_segments, grown_score), (whole_segments, whole_score) = scores
    assert grown_segments == 2 and whole_segments == 1
    assert grown_score is not None and grown_score == pytest.approx(whole_score, rel=1e-5)


def test_allowed_ids_restrict_exactly(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    write_records(tmp_path / "docs" / "a.jsonl", 0, 80, seed=3)
    Indexer(settings, HashingEmbedder()).index([tmp_path / "docs"])
    index = IndexSnapshot.open(settings.index_dir)
    try:
        every = dict(index.keywords.search("alpha", 10_000))
        allowed = np.array(sorted(every)[::3], dtype=np.int64)
        got = index.keywords.search("alpha", 10_000, allowed)
        assert {cid for cid, _ in got} == set(allowed.tolist())
        assert all(every[cid] == score for cid, score in got)
    finally:
        index.close()


def test_merged_postings_equal_postings_built_from_the_text() -> None:
    rng = random.Random(5)
    rows = [
        (" ".join(rng.choices(VOCABULARY, k=2)), " ".join(rng.choices(VOCABULARY, k=12))) for _ in range(50)
    ]
    first, second = build_postings(rows[:30], 30), build_postings(rows[30:], 20)
    dead = {3, 17, 29, 31, 44}
    live = [i for i in range(50) if i not in dead]
    new_row = {old: new for new, old in enumerate(live)}
    maps = [np.array([new_row.get(i, -1) for i in range(start, end)]) for start, end in ((0, 30), (30, 50))]
    merged = merge_postings([(first, maps[0]), (second, maps[1])], len(live))
    rebuilt = build_postings([rows[i] for i in live], len(live))
    for name in ("terms", "offsets", "rows", "title_tf", "body_tf", "title_len", "body_len"):
        assert np.array_equal(getattr(merged, name), getattr(rebuilt, name)), name


def test_a_term_in_title_and_body_counts_both() -> None:
    postings = build_postings([("Cat", "cat cat mouse"), ("dog", "cat")], 2)
    where = postings.lookup("cat")
    assert where is not None
    assert postings.rows[where].tolist() == [0, 1]
    assert postings.title_tf[where].tolist() == [1, 0] and postings.body_tf[where].tolist() == [2, 1]
    assert postings.lookup("absent") is None
