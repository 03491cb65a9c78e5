"""Our metrics against hand-worked values and against ir_measures (pytrec_eval / trec_eval)."""

from __future__ import annotations

import math
import random

import ir_measures
import pytest
from ir_measures import RR, R, nDCG

from search.ir_metrics import CUTOFFS, evaluate, ndcg, per_query, recall, reciprocal_rank

# Graded judgments; d3 is judged non-relevant, d4 is unjudged.
JUDGED = {"d1": 2, "d2": 1, "d3": 0}
RANKING = ["d3", "d1", "d4", "d2"]


def test_ndcg_hand_worked() -> None:
    dcg = 2 / math.log2(3) + 1 / math.log2(5)  # d1 at rank 2, d2 at rank 4; gain = grade
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg(RANKING, JUDGED, 10) == pytest.approx(dcg / ideal)
    assert ndcg(RANKING, JUDGED, 10) == pytest.approx(0.643322, abs=1e-6)


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (2, 0.5), (3, 0.5), (4, 1.0), (10, 1.0)])
def test_recall_hand_worked(k: int, expected: float) -> None:
    assert recall(RANKING, JUDGED, k) == expected


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (2, 0.5), (10, 0.5)])
def test_reciprocal_rank_hand_worked(k: int, expected: float) -> None:
    assert reciprocal_rank(RANKING, JUDGED, k) == expected


def test_perfect_and_empty_rankings() -> None:
    assert ndcg(["d1", "d2"], JUDGED, 10) == pytest.approx(1.0)
    assert ndcg([], JUDGED, 10) == 0.0
    assert recall(["d1"], {"d1": 0}, 10) == 0.0  # no relevant document: 0, not a division error


def _ir_measures(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """The reference: scores descending by rank so trec_eval keeps our order."""
    scored = [
        ir_measures.ScoredDoc(q, d, float(len(docs) - i))
        for q, docs in run.items()
        for i, d in enumerate(docs)
    ]
    judged = [ir_measures.Qrel(q, d, g) for q, docs in qrels.items() for d, g in docs.items()]
    ref = ir_measures.calc_aggregate([nDCG @ 10, R @ 10, R @ 100, RR @ 10], judged, scored)
    return {
        "ndcg@10": ref[nDCG @ 10],
        "recall@10": ref[R @ 10],
        "recall@100": ref[R @ 100],
        "mrr@10": ref[RR @ 10],
    }


def test_hand_worked_example_matches_ir_measures() -> None:
    qrels = {"q1": JUDGED, "q2": {"d5": 1}, "q3": {"d6": 0}}  # q3: judged, nothing relevant
    run = {"q1": RANKING, "q3": ["d6"], "q9": ["d1"]}  # q2 unanswered, q9 unjudged
    ours = evaluate(run, qrels)
    assert ours == pytest.approx(_ir_measures(run, qrels), abs=1e-9)
    assert ours["ndcg@10"] == pytest.approx(0.643322 / 3, abs=1e-6)  # averaged over q1, q2, q3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_run_matches_ir_measures(seed: int) -> None:
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(400)]
    qrels = {
        f"q{q}": {d: rng.choice([0, 1, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 25))}
        for q in range(60)
    }
    run = {q: rng.sample(docs, rng.randint(0, 150)) for q in qrels if rng.random() > 0.1}
    for q in list(run)[:20]:  # make sure plenty of relevant documents rank high
        relevant = [d for d, g in qrels[q].items() if g > 0]
        run[q] = relevant[: rng.randint(0, len(relevant))] + run[q]
        run[q] = list(dict.fromkeys(run[q]))
    assert evaluate(run, qrels) == pytest.approx(_ir_measures(run, qrels), abs=1e-9)


def test_per_query_keys_and_duplicates_count_once() -> None:
    scores = per_query({"q1": ["d1", "d1", "d2"]}, {"q1": {"d1": 1, "d2": 1}})
    assert set(scores["q1"]) == set(CUTOFFS)
    assert scores["q1"]["recall@10"] == 1.0
    assert scores["q1"]["ndcg@10"] == pytest.approx(1.0)
