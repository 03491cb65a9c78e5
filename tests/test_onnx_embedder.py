"""The onnx backend against the torch one, on the real default model, exported once per run
into a session-wide temporary cache (SEMSEARCH_CACHE for the processes the tests start)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indexer.config import ModelSettings, load_settings
from indexer.embedders import SentenceTransformerEmbedder, embedder_info, settings_for
from indexer.errors import ConfigError, ModelMismatch
from indexer.manifest import EmbedderInfo
from indexer.onnx_embedder import OnnxEmbedder, cache_folder, model_folder, weights_checksum
from indexer.snapshot import check_embedder
from tests.conftest import REPO, SMALL_CORPUS

LONG = " ".join(["Mitochondria supply the cell with energy through oxidative phosphorylation."] * 40)
DOCUMENTS = [*SMALL_CORPUS.values(), LONG, "", "  spaced  out\ttext\n", "Emoji 🐈 and naïve café accents."]
QUERIES = ["kitten hunting rodents", "interest rates", "河岸", "how do telescopes see galaxies?"]
NO_TORCH = (
    "import sys\nfrom indexer.config import load_settings\nfrom indexer.embedders import create_embedder\n"
    "e = create_embedder(load_settings(None, {'model.backend': 'onnx'}).model)\n"
    "e.embed_documents(['a passage']); e.embed_queries(['a query']); print(e.count_tokens(['a b']))\n"
    "print([m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules])\n"
)


def _model(precision: str = "fp32", **overrides: object) -> ModelSettings:
    values = {"model.backend": "onnx", "model.onnx_precision": precision}
    values.update({f"model.{key}": value for key, value in overrides.items()})
    return load_settings(None, values).model


def _run(args: list[str], cache: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SEMSEARCH_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300, env=env, **kwargs
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("semsearch-cache")


@pytest.fixture(scope="session")
def onnx_fp32(onnx_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(_model("fp32"), 0, cache_root=onnx_cache)


@pytest.fixture(scope="session")
def onnx_int8(onnx_cache: Path, onnx_fp32: OnnxEmbedder) -> OnnxEmbedder:
    return OnnxEmbedder(_model("int8"), 0, cache_root=onnx_cache)


def _cached_file(cache: Path, precision: str) -> Path:
    folder, model_id = model_folder("all-MiniLM-L6-v2")
    assert folder is not None
    directory = cache_folder(cache, model_id, weights_checksum(folder, cache / "onnx" / "checksums"))
    return directory / f"model-{precision}.onnx"


def test_an_index_records_which_onnx_file_built_it() -> None:
    info = EmbedderInfo("onnx", "sentence-transformers/all-MiniLM-L6-v2@onnx-int8", 384, 256)
    settings = settings_for(info, ModelSettings())
    assert (settings.name, settings.backend, settings.onnx_precision) == (
        "sentence-transformers/all-MiniLM-L6-v2",
        "onnx",
        "int8",
    )


def test_missing_onnxruntime_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ConfigError, match="pip install onnxruntime"):
        OnnxEmbedder(_model())


@pytest.mark.slow
def test_fp32_gives_torch_vectors(real_embedder, onnx_fp32: OnnxEmbedder) -> None:
    assert onnx_fp32.backend == "onnx"
    assert onnx_fp32.model_id == "sentence-transformers/all-MiniLM-L6-v2@onnx-fp32"
    assert (onnx_fp32.dim, onnx_fp32.max_tokens) == (real_embedder.dim, real_embedder.max_tokens)
    documents = onnx_fp32.embed_documents(DOCUMENTS)
    queries = onnx_fp32.embed_queries(QUERIES)
    assert documents.dtype == np.float32 and np.allclose(np.linalg.norm(documents, axis=1), 1, atol=1e-5)
    assert _cosines(documents, real_embedder.embed_documents(DOCUMENTS)).min() > 0.9999
    assert _cosines(queries, real_embedder.embed_queries(QUERIES)).min() > 0.9999
    assert onnx_fp32.embed_queries([]).shape == (0, 384)


@pytest.mark.slow
def test_int8_is_close_but_recorded_as_another_model(real_embedder, onnx_fp32, onnx_int8) -> None:
    assert onnx_int8.model_id == "sentence-transformers/all-MiniLM-L6-v2@onnx-int8"
    cosines = np.concatenate(
        [
            _cosines(onnx_int8.embed_documents(DOCUMENTS), real_embedder.embed_documents(DOCUMENTS)),
            _cosines(onnx_int8.embed_queries(QUERIES), real_embedder.embed_queries(QUERIES)),
        ]
    )
    assert cosines.mean() > 0.98, cosines
    with pytest.raises(ModelMismatch, match="onnx-fp32"):
        check_embedder(embedder_info(onnx_fp32), onnx_int8)


@pytest.mark.slow
def test_token_counts_equal_the_torch_backend(real_embedder, onnx_fp32, onnx_cache: Path) -> None:
    texts = [*DOCUMENTS, *QUERIES, LONG * 3]
    assert onnx_fp32.count_tokens(texts) == real_embedder.count_tokens(texts)
    prefixed = _model(passage_prefix="passage: ")
    torch_prefixed = SentenceTransformerEmbedder(prefixed.model_copy(update={"backend": "auto"}))
    onnx_prefixed = OnnxEmbedder(prefixed, 0, cache_root=onnx_cache)
    assert onnx_prefixed.count_tokens(texts) == torch_prefixed.count_tokens(texts)
    assert onnx_prefixed.count_tokens(["x"])[0] > onnx_fp32.count_tokens(["x"])[0]


@pytest.mark.slow
def test_the_cache_is_reused_and_loading_it_never_imports_torch(onnx_fp32, onnx_cache: Path) -> None:
    cached = _cached_file(onnx_cache, "fp32")
    before = cached.stat().st_mtime_ns
    again = OnnxEmbedder(_model(), 1, cache_root=onnx_cache)
    assert np.allclose(again.embed_queries(QUERIES), onnx_fp32.embed_queries(QUERIES), atol=1e-5)
    proc = _run(["-c", NO_TORCH], onnx_cache)
    assert proc.stdout.splitlines() == ["[4]", "[]"], proc.stdout
    assert "exporting" not in proc.stderr
    assert cached.stat().st_mtime_ns == before, "nothing was exported again"


@pytest.mark.slow
def test_an_onnx_index_is_built_and_searched_from_the_command_line(
    onnx_fp32, onnx_cache: Path, small_corpus: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("model:\n  backend: onnx\n", encoding="utf-8")
    index_dir = str(tmp_path / "idx")
    _run(
        ["-m", "semsearch", "--config", str(config), "--index-dir", index_dir, "index", str(small_corpus)],
        onnx_cache,
    )
    stats = _run(["-m", "semsearch", "--index-dir", index_dir, "stats"], onnx_cache).stdout
    assert "all-MiniLM-L6-v2@onnx-fp32" in stats
    probe = (
        "import sys\nfrom semsearch.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\nprint('torch' in sys.modules)\n"
    )
    # No --config: the index's own record picks the onnx model again (settings_for).
    search = ["--index-dir", index_dir, "search", "kitten hunting rodents", "--mode", "semantic", "--json"]
    out = _run(["-c", probe, *search], onnx_cache).stdout.splitlines()
    assert out[-1] == "False", "a semantic search on an onnx index never imports torch"
    assert json.loads(out[0])["results"][0]["source"].endswith("cats.txt")


@pytest.mark.slow
def test_a_damaged_cache_file_is_exported_again(
    real_embedder, onnx_fp32, onnx_cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(onnx_cache, cache)  # the session's cache stays whole for the other tests
    damaged = _cached_file(cache, "fp32")
    size = damaged.stat().st_size
    with damaged.open("r+b") as handle:  # same size: only the probe sentence can tell
        handle.seek(size * 3 // 5)
        handle.write(b"\x7f" * 65536)
    with caplog.at_level(logging.WARNING, logger="indexer.onnx_embedder"):
        rebuilt = OnnxEmbedder(_model(), 0, cache_root=cache)
    assert "damaged" in caplog.text and "exporting" in caplog.text
    assert damaged.stat().st_size == size
    assert _cosines(rebuilt.embed_queries(QUERIES), real_embedder.embed_queries(QUERIES)).min() > 0.9999


@pytest.mark.slow
def test_a_model_that_cannot_export_names_itself(real_embedder, tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="broken-model"):
        OnnxEmbedder(_model(name=str(broken)), 0, cache_root=tmp_path / "cache")
