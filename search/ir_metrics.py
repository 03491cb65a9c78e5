"""Ranking metrics with trec_eval semantics: nDCG@k, Recall@k, MRR@k over judged queries.

Our own small implementation, checked against ir_measures (pytrec_eval, i.e. trec_eval's C
code) in tests/test_metrics.py, so the numbers are comparable with published BEIR results:
- a document is relevant when its judgment is >= 1; unjudged and 0-judged documents are not;
- nDCG gain is the judgment itself (graded, not 2^rel - 1), discount 1/log2(rank + 1), and the
  ideal ranking is built from all judged documents of the query, cut at k;
- the mean runs over the queries that have judgments; a judged query the system did not answer
  (or whose judgments are all 0) scores 0, a query without judgments is not evaluated.
Rankings are taken in the order given (best first); ties are the ranker's business.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Qrels = Mapping[str, Mapping[str, int]]  # query id -> document id -> judgment
Run = Mapping[str, Sequence[str]]  # query id -> document ids, best first

CUTOFFS = {"ndcg@10": 10, "recall@10": 10, "recall@100": 100, "mrr@10": 10}


def ndcg(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain of the top k."""
    dcg = sum(max(judged.get(doc, 0), 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k]))
    ideal_gains = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal_gains))
    return dcg / ideal if ideal > 0 else 0.0


def recall(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = {doc for doc, grade in judged.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def reciprocal_rank(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """1 / rank of the first relevant document in the top k, else 0."""
    for rank, doc in enumerate(ranking[:k], start=1):
        if judged.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


_MEASURES = {"ndcg": ndcg, "recall": recall, "mrr": reciprocal_rank}


def per_query(run: Run, qrels: Qrels) -> dict[str, dict[str, float]]:
    """query id -> {"ndcg@10": ..., ...} for every judged query (unanswered ones score 0)."""
    out: dict[str, dict[str, float]] = {}
    for query_id, judged in qrels.items():
        ranking = list(dict.fromkeys(run.get(query_id, ())))  # a document counts once
        out[query_id] = {
            name: _MEASURES[name.split("@")[0]](ranking, judged, k) for name, k in CUTOFFS.items()
        }
    return out


def evaluate(run: Run, qrels: Qrels) -> dict[str, float]:
    """Mean of each metric in CUTOFFS over the judged queries."""
    scores = per_query(run, qrels)
    if not scores:
        return {name: 0.0 for name in CUTOFFS}
    return {name: sum(s[name] for s in scores.values()) / len(scores) for name in CUTOFFS}
