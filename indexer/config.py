"""Typed settings for config.yaml, validated once at load.

Every knob lives here with its default; `config.yaml` documents them. Unknown keys fail loudly
(`extra="forbid"`), and a bad value fails at start with a message naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from indexer.errors import ConfigError

Mode = Literal["semantic", "keyword", "hybrid"]  # the one definition of the search modes
MODES: tuple[Mode, ...] = get_args(Mode)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiEmbedderSettings(_Section):
    """backend `openai`: any OpenAI-compatible embeddings endpoint (indexer/openai_embedder.py)."""

    base_url: str = ""  # e.g. https://api.openai.com/v1; requests go to POST {base_url}/embeddings
    key_env: str = "OPENAI_API_KEY"  # environment variable holding the API key ("" or unset: no key sent)
    dimensions: int = Field(0, ge=0, le=65536)  # 0: the endpoint's own size; else sent as `dimensions`
    max_tokens: int = Field(512, ge=8, le=65536)  # chunk size limit (tokens estimated, no tokenizer)
    timeout_s: float = Field(30.0, gt=0, le=600)
    retries: int = Field(3, ge=0, le=10)  # on connection errors, 408, 429 and 5xx, with backoff
    input_type: bool = False  # also send "input_type": "query"/"document" (semsearch's own endpoint)


class ModelSettings(_Section):
    name: str = "all-MiniLM-L6-v2"
    backend: str = "auto"  # auto, or a registered embedder backend (indexer/embedders.py)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    batch_size: int = Field(32, ge=1, le=4096)
    query_prefix: str = ""
    passage_prefix: str = ""
    multilingual: Literal["auto", "yes", "no"] = "auto"
    onnx_precision: Literal["fp32", "int8"] = "fp32"  # backend onnx: int8 is dynamic quantization
    api: ApiEmbedderSettings = ApiEmbedderSettings()


class ChunkingSettings(_Section):
    max_tokens: int = Field(0, ge=0, le=8192)  # 0: the model's own limit
    overlap_tokens: int = Field(32, ge=0, le=1024)
    include_title: bool = True

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingSettings:
        if self.max_tokens and self.overlap_tokens >= self.max_tokens:
            raise ValueError("overlap_tokens must be smaller than max_tokens")
        return self


class IndexSettings(_Section):
    type: Literal["auto", "flat", "hnsw", "hnswsq", "ivf", "ivfpq"] = "auto"
    flat_max_vectors: int = Field(50_000, ge=0)
    hnsw_max_vectors: int = Field(2_000_000, ge=0)
    hnsw_m: int = Field(32, ge=4, le=256)
    hnsw_ef_construction: int = Field(200, ge=8)
    hnsw_ef_search: int = Field(0, ge=0)  # 0: tuned at build time to hnsw_target_recall
    hnsw_target_recall: float = Field(0.99, gt=0, le=1)
    ivf_nlist: int = Field(0, ge=0)  # 0: 4 * sqrt(n)
    ivf_nprobe: int = Field(0, ge=0)  # 0: tuned at build time to ivf_target_recall
    ivf_target_recall: float = Field(0.998, gt=0, le=1)
    pq_m: int = Field(48, ge=1)
    train_sample: int = Field(100_000, ge=1000)
    segment_max_vectors: int = Field(250_000, ge=1000)  # a writer seals a segment at this size
    max_segments: int = Field(8, ge=1, le=1000)  # more than this and the smallest adjacent ones merge
    merge_factor: int = Field(4, ge=2, le=100)  # segments merged into one at a time
    expunge_deletes: float = Field(0.3, gt=0, le=1)  # a segment this share deleted is rewritten
    keep_versions: int = Field(2, ge=0, le=100)  # older generations kept for servers still on them
    # Where the ANN index lives: "" (FAISS, in the segments), milvus://HOST:PORT[/NAME] (a Milvus
    # server or cluster) or a Milvus Lite file PATH.db (relative: inside index_dir). indexer/vector_store.py
    vector_store: str = ""
    milvus_index: Literal["HNSW", "IVF_FLAT", "IVF_PQ", "DISKANN", "FLAT"] = "HNSW"  # DISKANN: server only
    # Searches: Strong sees every write before it (a 2.3 server waits for its 200 ms time tick);
    # Bounded answers at once, and a generation published seconds ago may miss its newest rows.
    milvus_consistency: Literal["Strong", "Bounded"] = "Strong"

    @model_validator(mode="after")
    def _known_store(self) -> IndexSettings:
        store = self.vector_store
        if store and not (store.startswith("milvus://") or store.endswith(".db")):
            raise ValueError(f"vector_store: {store!r} is neither milvus://HOST:PORT nor a Milvus Lite *.db")
        if store.startswith("milvus://"):
            address = store.removeprefix("milvus://").split("/", 1)[0]
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"vector_store: {store!r} needs milvus://HOST:PORT")
        if store and self.type == "auto":  # Milvus builds the ANN index: segments keep vectors only
            return self.model_copy(update={"type": "flat"})
        return self


class LoaderSettings(_Section):
    include: tuple[str, ...] = ("**/*",)
    exclude: tuple[str, ...] = ("**/.git/**", "**/node_modules/**", "**/.venv/**", "**/__pycache__/**")
    id_field: str = "_id"
    title_field: str = "title"
    text_field: str = "text"
    max_file_mb: float = Field(64, gt=0)
    text_suffixes: tuple[str, ...] = ()  # more suffixes read as plain text (".log", ".cfg"); any case
    sniff_extensionless: bool = True  # files without a suffix (LICENSE, README) read when they are text

    @model_validator(mode="before")
    @classmethod
    def _normal_suffixes(cls, data: Any) -> Any:
        """Suffixes compared as the loader sees them: lower case with the dot, so "LOG", "log" and
        ".log" all work; a ".gz" is refused, it wraps a file whose own suffix decides."""
        if not isinstance(data, dict) or not isinstance(data.get("text_suffixes"), list | tuple):
            return data
        normal = []
        for raw in data["text_suffixes"]:
            if not isinstance(raw, str):
                return data  # the field's own check names the wrong type
            suffix = "." + raw.strip().lower().lstrip(".")
            if suffix == "." or any(c.isspace() or c in "./\\" for c in suffix[1:]) or suffix == ".gz":
                raise ValueError(f"text_suffixes: {raw!r} is not a single file suffix like '.log'")
            normal.append(suffix)
        return {**data, "text_suffixes": tuple(dict.fromkeys(normal))}


class SearchSettings(_Section):
    default_k: int = Field(10, ge=1)
    max_k: int = Field(100, ge=1, le=10_000)
    oversample: int = Field(4, ge=1, le=100)
    mode: Mode = "hybrid"
    fusion: Literal["rrf", "blend", "zscore", "dbsf"] = "zscore"  # search/fusion.py, docs/quality.md
    rrf_k: int = Field(60, ge=1)
    blend_alpha: float = Field(0.5, ge=0, le=1)
    candidates: int = Field(100, ge=10, le=10_000)
    bm25_k1: float = Field(1.2, ge=0, le=10)  # term-frequency saturation
    bm25_b: float = Field(0.4, ge=0, le=1)  # length normalisation
    title_weight: float = Field(1.0, ge=0, le=10)  # a title occurrence counts this many body ones
    snippet_chars: int = Field(240, ge=40, le=5000)
    max_query_chars: int = Field(1000, ge=10)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_token: str = ""  # empty: the rebuild endpoint is off; SEMSEARCH_API_TOKEN overrides
    cache_size: int = Field(1024, ge=0)
    batch_window_ms: float = Field(2.0, ge=0, le=100)
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")  # Host header names; "*": any
    max_body_kb: int = Field(1024, ge=1, le=1_048_576)  # larger request bodies get 413 unread
    read_token: str = ""  # set: every page and API call needs it (SEMSEARCH_READ_TOKEN overrides)
    max_in_flight: int = Field(64, ge=0, le=100_000)  # beyond: 503 + Retry-After at once; 0: no cap
    body_timeout_s: float = Field(30.0, gt=0, le=3600)  # a request body slower than this gets 408
    log_format: Literal["json", "text"] = "json"  # server logs: one JSON object per line, with request ids


class RuntimeSettings(_Section):
    threads: int = Field(0, ge=0, le=1024)  # 0: all cores
    query_threads: int = Field(1, ge=0, le=1024)  # 0: all cores


class EngineSettings(_Section):
    """Where `index`/`rebuild` chunk and embed: here, or on Ray (indexer/ray_engine.py)."""

    kind: Literal["local", "ray"] = "local"
    ray_address: str = ""  # "": a local Ray for the run; else HOST:PORT of a running cluster, or "auto"
    ray_actors: int = Field(0, ge=0, le=4096)  # 0: sized from the cluster's memory, cores and GPUs
    ray_window: int = Field(20_000, ge=1)  # documents per Ray Data run (the model loads per actor per run)
    ray_batch: int = Field(64, ge=1, le=65536)  # documents per actor call
    ray_read: bool = True  # parse PDF/HTML/text files on the cluster too (its nodes must see the files)


class Settings(_Section):
    index_dir: Path = Path("index")
    model: ModelSettings = ModelSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    index: IndexSettings = IndexSettings()
    loader: LoaderSettings = LoaderSettings()
    search: SearchSettings = SearchSettings()
    server: ServerSettings = ServerSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    engine: EngineSettings = EngineSettings()


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{key}: {item['msg']}")
    return "; ".join(parts)


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: cannot override, '{part}' is not a section")
    node[leaf] = value


def load_settings(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read YAML (if given), apply dotted-key overrides, validate once.

    Relative `index_dir` in a config file resolves against the file's folder, so a config
    works the same from any working directory.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys")
        data = raw
        if "index_dir" in data and data["index_dir"] is not None:
            data["index_dir"] = str(Path(path).resolve().parent / str(data["index_dir"]))
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_path(data, key, value)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid config{where}: {_describe(exc)}") from None
