"""Request and response bodies of the JSON API, as pydantic models (they also make /docs).

Bodies refuse unknown keys, so a typo such as "querry" is a 422 naming the key rather than a
silently ignored parameter. Limits that come from the config (max_k, max_query_chars) are
checked by SearchService, the one place the CLI and the API share.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, model_validator
from pydantic_core import PydanticCustomError

from indexer.config import Mode
from search.searcher import Hit

MAX_BATCH = 64


def _lone_surrogate(value: Any, where: str = "") -> str | None:
    """Where in a parsed JSON value a string holds a lone surrogate, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "the body"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _lone_surrogate(key, where or "a key") or _lone_surrogate(
                item, f"{where}.{key}".lstrip(".")
            )
            if found:
                return found
    if isinstance(value, list):
        for position, item in enumerate(value):
            found = _lone_surrogate(item, f"{where}[{position}]")
            if found:
                return found
    return None


def _integral(value: Any) -> Any:
    """JSON Schema counts 5.0 as an integer, so it is one here; `true` is not a count."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not a boolean")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer count: strict (no "5", no true), but 5.0 is 5, as JSON Schema has it.
Count = Annotated[int, BeforeValidator(_integral), Strict()]


class SearchBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "query": "kitten hunting rodents",
                    "k": 5,
                    "mode": "hybrid",
                    "filters": {"category": "animals", "modified_after": "2024-01-01"},
                }
            ]
        },
    )

    # Strict: JSON `true` is not a k of 1 and `0` is not a collapse of false (pydantic would coerce).
    # The limits are stated in the schema; SearchService checks them (the upper ones come from the
    # config) with messages that say what to change.
    query: str = Field(
        description="the text to search for (1..search.max_query_chars characters)",
        strict=True,
        json_schema_extra={"minLength": 1},
    )
    k: Count | None = Field(
        None,
        description="results to return (1..search.max_k; default search.default_k)",
        json_schema_extra={"minimum": 1},
    )
    offset: Count = Field(
        0,
        description="skip this many results (0..10 x search.max_k)",
        json_schema_extra={"minimum": 0},
    )
    mode: Mode | None = Field(None, description="semantic, keyword or hybrid (default: search.mode)")
    filters: dict[str, Any] | None = Field(
        None,
        description="flat object: metadata field -> value, plus source (path prefix or glob), "
        "modified_after / modified_before (YYYY-MM-DD or epoch seconds)",
    )
    collapse: bool = Field(True, strict=True, description="one result per document (its best chunk)")
    min_score: float | None = Field(
        None,
        strict=True,
        description="drop results whose `score` is below this (the final score of the mode: cosine "
        "in semantic, BM25 in keyword, the fused z-score in hybrid); `total` counts only those kept",
    )
    diversity: float = Field(
        0.0,
        description="re-rank by maximal marginal relevance: 0 keeps the ranking, 1 picks by novelty "
        "alone (MMR's 1 - lambda over a pool of the best 3 x (offset + k) results)",
        json_schema_extra={"minimum": 0, "maximum": 1},
    )

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        """JSON may escape half a surrogate pair ("\\ud800"): no text holding one can be searched,
        stored in SQLite or sent back, so refuse it here instead of failing later."""
        where = _lone_surrogate(data)
        if where is not None:
            raise PydanticCustomError(
                "unicode",
                "{where} is not valid Unicode text (a lone surrogate such as \\ud800)",
                {"where": where},
            )
        return data


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queries: list[SearchBody] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} searches, embedded in one batch"
    )


class SearchOut(BaseModel):
    query: str
    mode: Mode
    took_ms: float
    total: int = Field(
        description="documents (chunks with collapse off) that match in this mode, before paging "
        "and independent of k: semantic, every document the filters let through; keyword, those "
        "holding a query term; hybrid, those either side matches; with min_score, only those "
        "reaching it (in hybrid: among the fused candidates)"
    )
    results: list[Hit]


class BatchOut(BaseModel):
    results: list[SearchOut]


class SimilarOut(BaseModel):
    doc_id: str
    results: list[Hit]


class ChunkOut(BaseModel):
    chunk_id: int
    ordinal: int
    start: int
    end: int
    text: str


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    source: str
    modified: float
    metadata: dict[str, Any]
    text: str
    chunks: list[ChunkOut]


class JobOut(BaseModel):
    job: str
    state: Literal["queued", "running", "done", "failed"]
    stage: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    report: dict[str, Any] | None
    error: str | None
    warnings: list[str]


class ErrorOut(BaseModel):
    error: str = Field(description="what went wrong, in words a person can act on")


class ReadyOut(BaseModel):
    ready: bool
    version: str | None = None
    error: str | None = None
