"""Classification by nearest label: the labels file, stored labels as filterable metadata,
accuracy against a truth field, and POST /api/classify."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from indexer.config import Settings
from indexer.embedders import HashingEmbedder
from indexer.errors import ConfigError
from indexer.layout import IndexLayout
from indexer.pipeline import Indexer
from search.service import SearchService
from search.space.atlas import load_atlas
from search.space.classify import classify_texts, load_labels, parse_labels
from search.space.service import SpaceService
from tests.conftest import write_corpus
from tests.test_cli import semsearch
from tests.web_helpers import local_client
from web.app import create_app

LABELS_YAML = """
labels:
  - name: cooking
    description: baking bread, dough, oven and recipes
  - name: finance
    description: banks, interest rates and inflation
    examples: ["The central bank raised interest rates."]
  - name: weather
    examples: ["Snow and ice storms", "glaciers retreat as the climate warms"]
"""
RECORDS = [
    ("c1", "cooking", "Knead the dough and bake the bread in a hot oven."),
    ("c2", "cooking", "A recipe for bread: flour, water, salt, then the oven."),
    ("f1", "finance", "Banks raise interest rates when inflation climbs."),
    ("f2", "finance", "Inflation erodes savings; interest rates follow the central bank."),
    ("w1", "weather", "Glaciers retreat and ice melts as the climate warms."),
    ("w2", "weather", "A storm brought snow and ice to the valley."),
    ("x1", "finance", "Oven prices and bread recipes at the bakery."),  # labelled finance, reads as cooking
]


@pytest.fixture
def labelled(make_settings: Callable[..., Settings], tmp_path: Path) -> tuple[Settings, Path]:
    lines = [json.dumps({"_id": i, "title": "", "text": text, "topic": topic}) for i, topic, text in RECORDS]
    corpus = write_corpus(tmp_path / "docs", {"records.jsonl": "\n".join(lines) + "\n"})
    settings = make_settings(model__name="hashing-384")
    Indexer(settings, HashingEmbedder(dim=384)).index([corpus])
    labels = tmp_path / "labels.yaml"
    labels.write_text(LABELS_YAML, encoding="utf-8")
    return settings, labels


def test_labels_file_is_validated(tmp_path: Path) -> None:
    assert [
        label.name
        for label in parse_labels(
            json.loads('[{"name": "a", "description": "x"}, {"name": "b", "examples": ["y"]}]')
        ).labels
    ] == ["a", "b"]
    bad = {
        "one label": "labels: [{name: a, description: x}]",
        "no text": "labels: [{name: a, description: x}, {name: b}]",
        "repeated": "labels: [{name: a, description: x}, {name: a, description: y}]",
        "typo": "labels: [{name: a, descripton: x}, {name: b, description: y}]",
    }
    for text in bad.values():
        path = tmp_path / "labels.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match="invalid labels"):
            load_labels(path)
    with pytest.raises(ConfigError, match="not found"):
        load_labels(tmp_path / "missing.yaml")


def test_classify_texts_picks_the_nearest_label(tmp_path: Path) -> None:
    (tmp_path / "l.yaml").write_text(LABELS_YAML, encoding="utf-8")
    labels = load_labels(tmp_path / "l.yaml")
    found = classify_texts(["interest rates and banks", "bake the dough"], labels, HashingEmbedder(dim=384))
    assert [a.label for a in found] == ["finance", "cooking"]
    for a in found:
        assert 0 < a.confidence <= 1 and abs(sum(a.scores.values()) - 1) < 1e-3
        assert a.confidence == max(a.scores.values())


def test_classify_stores_filterable_labels_and_measures_accuracy(labelled: tuple[Settings, Path]) -> None:
    settings, labels = labelled
    layout = IndexLayout(settings.index_dir)
    SpaceService(settings).atlas()  # kept for the generation before classify
    before = layout.current().generation
    report = SpaceService(settings).classify_index(load_labels(labels), HashingEmbedder(dim=384), "topic")
    assert report["documents"] == 7
    assert report["accuracy"]["measured"] == 7
    assert report["accuracy"]["correct"] == 6  # x1 is labelled finance but reads as cooking
    assert report["accuracy"]["per_label"] == {"cooking": 1.0, "finance": round(2 / 3, 4), "weather": 1.0}
    after = layout.current().generation
    assert after > before
    carried = load_atlas(layout, after)
    assert carried is not None and carried.data["documents"] == 7  # same vectors: the atlas came along

    service = SearchService.open(settings, HashingEmbedder(dim=384))
    assert "label" in service.searcher().metadata_fields
    hits = service.search_text("the", k=10, mode="semantic", filters={"label": "cooking"}).hits
    assert sorted(h.doc_id for h in hits) == ["c1", "c2", "x1"]
    doc = service.document("f1")
    assert doc["metadata"]["label"] == "finance" and 0 < doc["metadata"]["label_confidence"] <= 1
    assert doc["metadata"]["topic"] == "finance"  # the document's own fields stay


def test_classify_cli_and_label_filter(labelled: tuple[Settings, Path]) -> None:
    settings, labels = labelled
    index = str(settings.index_dir)
    out = semsearch(
        "--index-dir", index, "classify", "--labels", str(labels), "--truth-field", "topic"
    ).stdout
    assert "labelled 7 documents" in out and "accuracy 0.857 (6 of 7)" in out
    hits = semsearch("--index-dir", index, "search", "rates", "--filter", "label=finance", "--json").stdout
    assert {h["doc_id"] for h in json.loads(hits)["results"]} <= {"f1", "f2"}
    missing = semsearch(
        "--index-dir", index, "classify", "--labels", str(labels), "--truth-field", "nope", check=False
    )
    assert missing.returncode == 1 and "no document has a metadata field 'nope'" in missing.stderr


def test_api_classify(labelled: tuple[Settings, Path]) -> None:
    settings, labels = labelled
    embedder = HashingEmbedder(dim=384)
    with local_client(create_app(settings, embedder)) as client:
        none_yet = client.post("/api/classify", json={"text": "bread in the oven"})
        assert none_yet.status_code == 422 and "semsearch classify" in none_yet.json()["error"]
        given = [
            {"name": "food", "description": "bread oven dough"},
            {"name": "money", "description": "banks"},
        ]
        answer = client.post("/api/classify", json={"text": "bread in the oven", "labels": given})
        assert answer.status_code == 200 and answer.json()["results"][0]["label"] == "food"
        SpaceService(settings).classify_index(load_labels(labels), embedder)
        stored = client.post("/api/classify", json={"texts": ["ice and snow", "interest rates"]}).json()
        assert [r["label"] for r in stored["results"]] == ["weather", "finance"]
        for body in (
            {},
            {"text": "a", "texts": ["b"]},
            {"text": "a", "labels": [{"name": "only", "description": "x"}]},
        ):
            bad = client.post("/api/classify", json=body)
            assert bad.status_code == 422, body


def test_classify_with_another_model_than_the_index_is_one_clear_line(tmp_path: Path) -> None:
    """It crashed in a matrix product (384 vs 256 dimensions) before the model check."""
    from tests.test_cli import semsearch

    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "a.txt").write_text("cats and mice in the barn")
    (corpus / "b.txt").write_text("banks raise interest rates")
    index = str(tmp_path / "index")
    semsearch("--index-dir", index, "--model", "hashing-256", "index", str(corpus))
    labels = tmp_path / "labels.yaml"
    labels.write_text("- {name: animals, description: cats}\n- {name: money, description: banks}\n")
    proc = semsearch(
        "--index-dir", index, "--model", "hashing-384", "classify", "--labels", str(labels), check=False
    )
    assert proc.returncode == 1 and "built with" in proc.stderr and "Traceback" not in proc.stderr
