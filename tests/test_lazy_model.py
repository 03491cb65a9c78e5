"""A model is loaded only when something is embedded; an index opens with its own model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.config import load_settings
from indexer.embedders import HashingEmbedder, LazyEmbedder, embedder_for, register_embedder
from indexer.errors import ModelMismatch
from indexer.pipeline import Indexer
from search.service import SearchService
from tests.conftest import REPO

BUILT: list[str] = []


class _Tracked(HashingEmbedder):
    backend = "tracked"


def _make_tracked(settings, _threads):  # noqa: ANN001, ANN202
    BUILT.append(settings.name)
    return _Tracked()


register_embedder("tracked", _make_tracked)


@pytest.fixture
def tracked_index(tmp_path: Path, small_corpus: Path):  # noqa: ANN201
    settings = load_settings(None, {"index_dir": str(tmp_path / "idx"), "model.backend": "tracked"})
    Indexer(settings, _make_tracked(settings.model, 0)).index([small_corpus])
    BUILT.clear()
    return settings, small_corpus


def test_keyword_search_and_a_no_op_index_never_build_the_model(tracked_index) -> None:
    settings, corpus = tracked_index
    default = load_settings(None, {"index_dir": str(settings.index_dir)})  # names no model at all
    embedder = embedder_for(default, 0, model_given=False)
    assert isinstance(embedder, LazyEmbedder) and embedder.backend == "tracked"
    service = SearchService.open(default, embedder)
    assert service.search_text("cat mouse", k=2, mode="keyword").hits
    report = Indexer(default, embedder).index([corpus])
    assert not report.published and report.unchanged == 5
    assert BUILT == [], "nothing was embedded, so no model was built"
    assert service.search_text("cat mouse", k=2, mode="semantic").hits
    assert BUILT == ["hashing-256"] or len(BUILT) == 1
    service.close()


def test_a_named_model_is_still_checked_against_the_index(tracked_index) -> None:
    settings, _ = tracked_index
    other = load_settings(None, {"index_dir": str(settings.index_dir), "model.name": "hashing-128"})
    with pytest.raises(ModelMismatch, match="built with hashing-256"):
        SearchService.open(other, embedder_for(other, 0, model_given=True))


PROBE = (
    "import sys\nfrom semsearch.cli import main\ntry:\n    main(sys.argv[1:])\n"
    "except SystemExit as e:\n    print('exit', e.code)\n"
    "print('torch' in sys.modules or 'onnxruntime' in sys.modules)\n"  # a model runtime was loaded
)


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", ""], "the query is empty"),
        (["search", "cats", "-k", "0"], "k must be between"),
        (["search", "cats", "--filter", "nonsense"], "FIELD=VALUE"),
        (["search", "cats"], "no index in"),
        (["index", "/no/such/folder"], "no such file or folder"),
    ],
)
def test_cli_mistakes_are_reported_without_importing_torch(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """With the default model configured, a mistake is one line and no model runtime loads."""
    proc = _probe("--index-dir", str(tmp_path / "idx"), *args)
    assert message in proc.stderr, proc.stderr
    assert proc.stdout.split() == ["exit", "1", "False"], proc.stdout


@pytest.mark.slow
def test_keyword_search_on_a_real_model_index_never_imports_torch(
    tmp_path: Path, small_corpus: Path, real_embedder
) -> None:
    settings = load_settings(None, {"index_dir": str(tmp_path / "idx")})
    Indexer(settings, real_embedder).index([small_corpus])
    proc = _probe("--index-dir", str(tmp_path / "idx"), "search", "cat mouse", "--mode", "keyword", "--json")
    assert proc.stdout.splitlines()[-1] == "False", proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["results"][0]["source"].endswith("cats.txt")
    again = _probe("--index-dir", str(tmp_path / "idx"), "index", str(small_corpus))
    assert again.stdout.splitlines()[-1] == "False", "a no-op index loads no model"
    assert "unchanged" in again.stdout
    semantic = _probe("--index-dir", str(tmp_path / "idx"), "search", "kitten hunting", "--json")
    assert semantic.stdout.splitlines()[-1] == "True", "a semantic search does load the model"
