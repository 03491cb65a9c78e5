"""`model.backend: onnx`: a sentence-transformers model run by ONNX Runtime, without torch.

The first use of a model exports it once (indexer/onnx_export.py: the whole SentenceTransformer
forward, checked against torch, int8 on request) into a cache folder keyed by model id and a
checksum of the files that decide its vectors. Every later start loads only onnxruntime,
tokenizers and numpy, and checks the cached file against its record (sha256, re-read only when
the file's stat changed) and by embedding one known sentence: a damaged file is exported again.
Figures and the int8 recipe: docs/onnx.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.config import ModelSettings
from indexer.embedders import (
    _is_multilingual,
    embed_longest_first,
    normalise,
    register_embedder,
    resolve_model_path,
)
from indexer.errors import ConfigError
from indexer.locking import exclusive_lock
from indexer.runtime import thread_count

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the cached files change meaning: old folders are then exported again
PROBE_TEXT = "Quantum chromodynamics describes the strong interaction between quarks and gluons."
PROBE_MIN_COSINE = 0.9999  # same file, same runtime: only summation order may differ
_DECIDING_SUFFIXES = {".safetensors", ".bin", ".json", ".txt", ".model"}
_SKIPPED_DIRS = {"onnx", "openvino"}  # other exports some model repositories ship
EXPORT_WAIT_S = 900.0


def default_cache_root() -> Path:
    """`SEMSEARCH_CACHE`, else `$XDG_CACHE_HOME/semsearch`, else `~/.cache/semsearch`."""
    if os.environ.get("SEMSEARCH_CACHE"):
        return Path(os.environ["SEMSEARCH_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "semsearch"
    return Path.home() / ".cache" / "semsearch"


def model_folder(name: str) -> tuple[Path | None, str]:
    """(the model's local folder, or None when it is not on disk yet; the model id to record)."""
    path, model_id = resolve_model_path(name)
    if Path(path).expanduser().is_dir():
        return Path(path).expanduser().resolve(), model_id
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(path, local_files_only=True)), model_id
    except (ImportError, OSError, ValueError):
        return None, model_id


def weights_checksum(folder: Path, memo_dir: Path) -> str:
    """First 16 hex of a sha256 over the files that decide the vectors (weights, configs,
    tokenizer). Remembered per (path, size, mtime) so a start does not re-read the weights."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix in _DECIDING_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") or part in _SKIPPED_DIRS for part in p.relative_to(folder).parts)
    )
    if not any(p.suffix in (".safetensors", ".bin") for p in files):
        raise ConfigError(f"model.name: no weights (.safetensors or .bin) in {folder}")
    stamp = "\n".join(f"{p.resolve()}\t{p.stat().st_size}\t{p.stat().st_mtime_ns}" for p in files)
    memo = memo_dir / f"{hashlib.sha256(stamp.encode()).hexdigest()[:32]}.sha256"
    with contextlib.suppress(OSError):
        remembered = memo.read_text(encoding="ascii").strip()
        if re.fullmatch(r"[0-9a-f]{16}", remembered):
            return remembered
    checksum = sha256_of(files, folder)[:16]
    memo_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(memo, lambda tmp: tmp.write_text(checksum, encoding="ascii"))
    return checksum


def sha256_of(files: Sequence[Path], folder: Path | None = None) -> str:
    """sha256 over the files' contents (and their names under `folder`, when given)."""
    digest = hashlib.sha256()
    for path in files:
        if folder is not None:
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, expected: str) -> None:
    """ValueError unless `path` hashes to `expected`. The whole file is read once per (size,
    mtime, inode): a stamp beside it lets later starts compare a stat instead."""
    info = path.stat()
    signature = f"{expected} {info.st_size} {info.st_mtime_ns} {info.st_ino}"
    stamp = path.with_name(f".{path.name}.verified")
    with contextlib.suppress(OSError):
        if stamp.read_text(encoding="ascii") == signature:
            return
    if sha256_of([path]) != expected:
        raise ValueError("its checksum differs from its record")
    atomic_write(stamp, lambda tmp: tmp.write_text(signature, encoding="ascii"))


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """`write(tmp)` into a private name beside `path`, fsync, rename over `path`: a reader, or a
    second process exporting at the same time, sees the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def export_lock(directory: Path, wait_s: float = EXPORT_WAIT_S) -> Iterator[None]:
    """One exporter per cache folder; the others wait, then find its files."""
    deadline = time.monotonic() + wait_s
    while True:
        with exclusive_lock(directory / ".export.lock") as held:
            if held:
                yield
                return
        if time.monotonic() > deadline:
            raise ConfigError(f"model.backend: another process has been exporting to {directory} too long")
        time.sleep(0.2)


class OnnxModel:
    """One ONNX file with its tokenizer: texts in, L2-normalised float32 rows out."""

    def __init__(self, onnx_path: Path, tokenizer_path: Path, meta: dict[str, Any], threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = thread_count(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.meta = meta
        self.inputs: list[str] = list(meta["inputs"])
        self.counter = Tokenizer.from_file(str(tokenizer_path))  # whole texts, for count_tokens
        self.counter.no_padding()
        self.counter.no_truncation()
        self.tokenizer = Tokenizer.from_str(self.counter.to_str())  # what the model sees
        self.tokenizer.enable_truncation(int(meta["max_tokens"]))
        self.tokenizer.enable_padding(pad_id=int(meta["pad_id"]), pad_token=str(meta["pad_token"]))

    @classmethod
    def open_cached(cls, directory: Path, precision: str, threads: int) -> OnnxModel:
        """The cached model; raises OSError, ValueError or the runtime's error when it is damaged."""
        meta = json.loads((directory / f"model-{precision}.json").read_text(encoding="utf-8"))
        onnx_path = directory / f"model-{precision}.onnx"
        if meta.get("format") != FORMAT or onnx_path.stat().st_size != meta["onnx_bytes"]:
            raise ValueError("size or format differs from its record")
        verify_file(onnx_path, meta["onnx_sha256"])
        model = cls(onnx_path, directory / "tokenizer.json", meta, threads)
        cosine = float(model.encode([PROBE_TEXT])[0] @ np.asarray(meta["probe"], dtype=np.float32))
        if cosine < PROBE_MIN_COSINE:
            raise ValueError(f"its probe sentence embeds differently (cosine {cosine:.4f})")
        return model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, int(self.meta["dim"])), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self.inputs}
        return normalise(self.session.run(None, feed)[0])


def cache_folder(root: Path, model_id: str, checksum: str) -> Path:
    return root / "onnx" / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', model_id)}-{checksum}"


def open_or_export(name: str, precision: str, threads: int, root: Path) -> tuple[OnnxModel, str]:
    """(the cached model, exported first when missing or damaged; the model's id)."""
    folder, model_id = model_folder(name)
    if folder is None:
        from indexer.onnx_export import download

        folder = download(name)
    directory = cache_folder(root, model_id, weights_checksum(folder, root / "onnx" / "checksums"))
    directory.mkdir(parents=True, exist_ok=True)
    model = _try_open(directory, precision, threads)
    if model is not None:
        return model, model_id
    with export_lock(directory):
        model = _try_open(directory, precision, threads, quiet=True)  # another process just wrote it
        if model is None:
            from indexer.onnx_export import export_fp32, quantize_int8

            if precision == "fp32" or _try_open(directory, "fp32", threads) is None:
                log.warning("exporting %s to ONNX once (cached in %s)", model_id, directory)
                export_fp32(name, folder, directory, threads)
            if precision == "int8":
                quantize_int8(directory, threads)
            try:
                model = OnnxModel.open_cached(directory, precision, threads)
            except Exception as exc:  # noqa: BLE001 - a fresh export that fails its own check
                raise ConfigError(f"model.name: the ONNX export of {model_id} does not load: {exc}") from None
    return model, model_id


def _try_open(directory: Path, precision: str, threads: int, quiet: bool = False) -> OnnxModel | None:
    if not (directory / f"model-{precision}.json").exists():
        return None
    try:
        return OnnxModel.open_cached(directory, precision, threads)
    except Exception as exc:  # noqa: BLE001 - any failure of our own cache file means: export again
        if not quiet:
            log.warning(
                "cached ONNX model %s/model-%s.onnx is damaged (%s); exporting it again",
                directory,
                precision,
                str(exc).splitlines()[0][:200],
            )
        return None


class OnnxEmbedder:
    """Any sentence-transformers model through ONNX Runtime on the CPU, fp32 or int8."""

    backend = "onnx"

    def __init__(self, settings: ModelSettings, threads: int = 0, cache_root: Path | None = None) -> None:
        try:
            import onnxruntime  # noqa: F401
            import tokenizers  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                f"model.backend: onnx needs onnxruntime and tokenizers ({exc}): "
                "pip install onnxruntime tokenizers"
            ) from None
        if settings.device not in ("auto", "cpu"):
            raise ConfigError(f"model.device: the onnx backend runs on the CPU, not {settings.device}")
        self.precision = settings.onnx_precision
        self._model, base_id = open_or_export(
            settings.name, self.precision, threads, cache_root or default_cache_root()
        )
        self.model_id = f"{base_id}@onnx-{self.precision}"
        self.dim = int(self._model.meta["dim"])
        self.max_tokens = int(self._model.meta["max_tokens"])
        self.batch_size = settings.batch_size
        self.query_prefix = settings.query_prefix
        self.passage_prefix = settings.passage_prefix
        self.multilingual = _is_multilingual(settings, base_id)
        self._prefix_tokens = (
            len(self._model.counter.encode(self.passage_prefix, add_special_tokens=False).ids)
            if self.passage_prefix
            else 0
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Special tokens included, passage prefix added: as SentenceTransformerEmbedder counts."""
        encodings = self._model.counter.encode_batch(list(texts), add_special_tokens=True)
        return [len(e.ids) + self._prefix_tokens for e in encodings]

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        prefixed = [self.passage_prefix + t for t in texts]
        return embed_longest_first(prefixed, self.batch_size, self._model.encode, self.dim, progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode([self.query_prefix + t for t in texts])


register_embedder("onnx", OnnxEmbedder)
