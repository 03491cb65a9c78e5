"""Exporting a sentence-transformers model to ONNX once, for the onnx backend (needs torch).

`export_fp32` traces the whole SentenceTransformer forward (transformer, pooling,
normalisation: any model's own pooling is kept) with `torch.onnx.export`, fuses BERT-style
attention with onnxruntime's transformer optimizer when that leaves the vectors identical, and
refuses a file whose vectors differ from torch's. `quantize_int8` derives the int8 file from the
cached fp32 one with dynamic quantization (recipe and its measurements: docs/onnx.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import ConfigError
from indexer.onnx_embedder import FORMAT, PROBE_TEXT, OnnxModel, atomic_write, model_folder, sha256_of

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17
EXPORT_MIN_COSINE = 0.9999  # to torch, per text: a correct export agrees to ~1e-7
OPTIMISED_MIN_COSINE = 0.99999  # the fused graph must give the same vectors as the plain export
INT8_MIN_MEAN_COSINE = 0.98  # to fp32, over CHECK_TEXTS: below it int8 is refused for this model
CHECK_TEXTS = (
    "The cat chases the mouse through the barn at night.",
    PROBE_TEXT,
    "  Leading and trailing spaces, tabs\tand a new\nline.  ",
    "河岸边的柳树在春天发芽。",
    "x",
    "Numbers 3.14159, dates 2024-05-01 and e-mail a@b.example in one sentence.",
    "Die Zentralbank hat die Zinsen erneut angehoben, um die Inflation zu bremsen.",
    " ".join(["A long passage repeats itself until it passes the model's token limit."] * 60),
)

# Dynamic quantization recipes measured on all-MiniLM-L6-v2 (benchmarks/embedders.py --recipes).
# The default recipe (per-tensor, every op) is poor here: mean cosine 0.944 to torch.
INT8_RECIPES: dict[str, dict[str, Any]] = {
    "default": {},
    "matmul": {"op_types_to_quantize": ["MatMul"]},
    "per-channel": {"per_channel": True},
    "matmul-per-channel": {"op_types_to_quantize": ["MatMul"], "per_channel": True},
    "matmul-attention-per-channel": {"op_types_to_quantize": ["MatMul", "Attention"], "per_channel": True},
    "matmul-attention-per-channel-reduce-range": {
        "op_types_to_quantize": ["MatMul", "Attention"],
        "per_channel": True,
        "reduce_range": True,
    },
}
INT8_RECIPE = "matmul-attention-per-channel"
INT8_FALLBACK = "matmul-attention-per-channel-reduce-range"  # 7-bit weights: safer without VNNI


def download(name: str) -> Path:
    """Fetch a hub model through sentence-transformers (online only), then find its folder."""
    st = _load_sentence_transformer(name)
    del st
    folder, _ = model_folder(name)
    if folder is None:
        raise ConfigError(f"model.name: cannot find the files of model '{name}' on disk to export it")
    return folder


def export_fp32(name: str, folder: Path, directory: Path, threads: int) -> None:
    """Write tokenizer.json, model-fp32.onnx and its record into `directory`; ConfigError if the
    model cannot be exported or its ONNX vectors differ from torch's."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    st = _load_sentence_transformer(str(folder), eager=True)
    tokenizer = getattr(st.tokenizer, "backend_tokenizer", None)
    if tokenizer is None:
        raise ConfigError(f"model.name: '{name}' has no fast (tokenizers) tokenizer, which onnx needs")
    sample = st.tokenizer(["a first text", "a second, longer text"], padding=True, return_tensors="pt")
    inputs = [n for n in INPUT_NAMES if n in sample]
    transformer = getattr(st[0], "auto_model", None)
    config = getattr(transformer, "config", None)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "model_id": model_folder(name)[1],
        "precision": "fp32",
        "dim": int(getattr(st, "get_embedding_dimension", st.get_sentence_embedding_dimension)()),
        "max_tokens": int(st.max_seq_length or 512),
        "inputs": inputs,
        "pad_id": int(st.tokenizer.pad_token_id or 0),
        "pad_token": str(st.tokenizer.pad_token or "[PAD]"),
    }
    plain = directory / ".plain-fp32.onnx"
    fused = directory / ".fused-fp32.onnx"
    try:
        atomic_write(directory / "tokenizer.json", lambda tmp: _save_tokenizer(tokenizer, tmp))
        reference = st.encode(list(CHECK_TEXTS), batch_size=len(CHECK_TEXTS), normalize_embeddings=True)
        trace(st, inputs, sample, plain, name)
        del st
        vectors = _check(plain, directory, meta, threads, np.asarray(reference), EXPORT_MIN_COSINE, name)
        chosen, meta["graph"] = plain, "plain"
        if config is not None and fuse(plain, fused, config):
            with contextlib.suppress(ConfigError):
                _check(fused, directory, meta, threads, vectors, OPTIMISED_MIN_COSINE, name)
                chosen, meta["graph"] = fused, "fused (onnxruntime.transformers bert optimizer)"
        _publish(chosen, directory, meta, threads)
    finally:
        plain.unlink(missing_ok=True)
        fused.unlink(missing_ok=True)


def quantize_int8(directory: Path, threads: int, recipe: str = INT8_RECIPE) -> None:
    """Write model-int8.onnx (dynamic int8 of the cached fp32 file) and its record."""
    from onnxruntime.quantization import quantize_dynamic

    source = OnnxModel.open_cached(directory, "fp32", threads)
    reference = source.encode(list(CHECK_TEXTS))
    meta = {**source.meta, "precision": "int8"}
    scratch = directory / ".int8.onnx"
    tried = []
    try:
        for name in dict.fromkeys((recipe, INT8_FALLBACK)):
            options = {**INT8_RECIPES[name], "extra_options": {"DefaultTensorType": 1}}  # 1: float
            with _quiet():
                quantize_dynamic(directory / "model-fp32.onnx", scratch, **options)
            model = OnnxModel(scratch, directory / "tokenizer.json", meta, threads)
            mean = float(np.mean(np.sum(model.encode(list(CHECK_TEXTS)) * reference, axis=1)))
            tried.append(f"{name}: mean cosine {mean:.4f}")
            if mean >= INT8_MIN_MEAN_COSINE:
                meta.update(recipe=name, int8_mean_cosine_to_fp32=round(mean, 5))
                _publish(scratch, directory, meta, threads)
                return
    finally:
        scratch.unlink(missing_ok=True)
    raise ConfigError(
        f"model.onnx_precision: int8 loses too much for {meta['model_id']} ({'; '.join(tried)} to fp32); "
        "use fp32"
    )


def _load_sentence_transformer(path: str, eager: bool = False) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ConfigError(
            f"model.backend: onnx exports '{path}' once with sentence-transformers, which is missing ({exc})"
        ) from None
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    # Eager attention traces to the MatMul/Softmax pattern the optimizer fuses into Attention.
    # A model without eager attention is loaded as it comes.
    attempts = ({"model_kwargs": {"attn_implementation": "eager"}}, {}) if eager else ({},)
    error = ""
    for kwargs in attempts:
        try:
            return SentenceTransformer(path, device="cpu", **kwargs)
        except Exception as exc:  # noqa: BLE001 - loaders fail in many ways; the model is the cause
            error = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    raise ConfigError(f"model.name: cannot load model '{path}' to export it: {error}")


def _save_tokenizer(tokenizer: Any, path: Path) -> None:
    """The tokenizer exactly as sentence-transformers configured it (lower-casing included),
    without the fixed padding and truncation some tokenizer.json files carry."""
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_padding()
    copy.no_truncation()
    copy.save(str(path))


def trace(st: Any, inputs: list[str], sample: Any, path: Path, name: str) -> None:
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = st

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(inputs, tensors, strict=True)))["sentence_embedding"]

    axes = {n: {0: "batch", 1: "sequence"} for n in inputs} | {"sentence_embedding": {0: "batch"}}
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(
                SentenceEmbedding().eval(),
                tuple(sample[n] for n in inputs),
                str(path),
                input_names=inputs,
                output_names=["sentence_embedding"],
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
    except Exception as exc:  # noqa: BLE001 - the tracer fails in many ways; the model is the cause
        raise ConfigError(f"model.name: cannot export model '{name}' to ONNX: {exc}") from None


def fuse(source: Path, target: Path, config: Any) -> bool:
    """Fuse attention, LayerNorm and GELU (onnxruntime's BERT optimizer); False when it cannot."""
    heads, hidden = getattr(config, "num_attention_heads", 0), getattr(config, "hidden_size", 0)
    if not heads or not hidden:
        return False
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with _quiet():
            optimize_model(
                str(source), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0
            ).save_model_to_file(str(target))
    except Exception:  # noqa: BLE001 - optional: the plain export stays
        return False
    return True


def _check(
    path: Path,
    directory: Path,
    meta: dict[str, Any],
    threads: int,
    reference: np.ndarray,
    min_cosine: float,
    name: str,
) -> np.ndarray:
    """The file's vectors for CHECK_TEXTS (one padded batch); ConfigError below `min_cosine`."""
    vectors = OnnxModel(path, directory / "tokenizer.json", meta, threads).encode(list(CHECK_TEXTS))
    cosines = np.sum(vectors * reference, axis=1)
    if float(cosines.min()) < min_cosine:
        raise ConfigError(
            f"model.name: the ONNX export of '{name}' does not match torch "
            f"(cosine {float(cosines.min()):.5f} < {min_cosine}); use model.backend: sentence-transformers"
        )
    return vectors


def _publish(scratch: Path, directory: Path, meta: dict[str, Any], threads: int) -> None:
    """Move a checked file into place, then write its record (the record is the commit mark)."""
    precision = meta["precision"]
    probe = OnnxModel(scratch, directory / "tokenizer.json", meta, threads).encode([PROBE_TEXT])[0]
    record = {
        **meta,
        "onnx_bytes": scratch.stat().st_size,
        "onnx_sha256": sha256_of([scratch]),
        "probe": [round(float(x), 7) for x in probe],
    }
    atomic_write(directory / f"model-{precision}.onnx", lambda tmp: scratch.replace(tmp))
    atomic_write(
        directory / f"model-{precision}.json",
        lambda tmp: tmp.write_text(json.dumps(record, indent=1), encoding="utf-8"),
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's and optimizer's warnings are about tracing details, not the user's data
    (the optimizer logs under its own top-level module names, hence the global switch)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
