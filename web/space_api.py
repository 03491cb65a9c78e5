"""The JSON API of the embedding-space tools: topics, map points, duplicates, outliers, classify.

The atlas (topics and map) of the live generation is kept beside it; while it is being computed
for the first time these routes answer 202 {"state": "computing"} at once, and the map page
polls. Duplicates, outliers and an explicit `k` are computed on request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from indexer.errors import ConfigError, QueryError
from search.space.classify import Label, parse_labels
from search.space.service import AtlasWorker, SpaceService

router = APIRouter(tags=["embedding space"])
MAX_CLASSIFY_TEXTS = 64
Json = dict[str, Any]


def _space(request: Request) -> SpaceService:
    return request.app.state.space


def _worker(request: Request) -> AtlasWorker:
    return request.app.state.atlas


def _pending(state: str, why: str) -> JSONResponse:
    if state == "failed":
        return JSONResponse({"state": "failed", "error": why}, status_code=500)
    return JSONResponse(
        {"state": "computing", "retry_after_s": 1}, status_code=202, headers={"Retry-After": "1"}
    )


@router.get(
    "/api/topics",
    summary="Topics: clusters of the documents named by their distinctive terms",
    responses={202: {"description": "the live generation's topics are being computed"}},
)
def topics(
    request: Request,
    k: Annotated[int | None, Query(ge=1, le=200, description="number of topics (default: chosen)")] = None,
) -> Any:
    if k is not None:
        return {"state": "ready", **_space(request).atlas(k).summary()}
    state, atlas, why = _worker(request).get()
    return {"state": state, **atlas.summary()} if atlas is not None else _pending(state, why)


@router.get(
    "/api/map",
    summary="The 2-D map: a point per document (PCA), its topic and title",
    responses={202: {"description": "the map is being computed: ask again"}},
)
def map_points(request: Request) -> Any:
    state, atlas, why = _worker(request).get()
    if atlas is None:
        return _pending(state, why)
    return {"state": state, **{key: value for key, value in atlas.data.items() if key != "centroids"}}


@router.get("/api/duplicates", summary="Groups of near-duplicate documents, with the passages that match")
def duplicates(
    request: Request,
    threshold: Annotated[float, Query(gt=0, le=1, description="cosine of the document vectors")] = 0.95,
    limit: Annotated[int, Query(ge=1, le=1000, description="groups to return")] = 100,
) -> Json:
    return _space(request).duplicates(threshold, limit)


@router.get("/api/outliers", summary="Documents far from every topic and from their nearest documents")
def outliers(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> Json:
    return _space(request).outliers(limit)


class ClassifyBody(BaseModel):
    # Exactly one of text and texts: stated in the schema, so clients (and fuzzers) know.
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"oneOf": [{"required": ["text"]}, {"required": ["texts"]}]}
    )

    # Absent, never null: the schema's oneOf asks for exactly one of them to be present.
    text: str = Field(None, min_length=1, description="one text to classify")  # type: ignore[assignment]
    texts: list[str] = Field(None, min_length=1, max_length=MAX_CLASSIFY_TEXTS)  # type: ignore[assignment]
    labels: list[Label] | None = Field(
        None,
        min_length=2,
        description="labels to choose from, two or more (default: those of the last `semsearch classify`)",
    )


@router.post("/api/classify", summary="The nearest label of a text, with a confidence")
def classify(request: Request, body: ClassifyBody) -> Json:
    if (body.text is None) == (body.texts is None):
        raise QueryError('send either "text" (one string) or "texts" (a list of strings)')
    texts = [body.text] if body.text is not None else list(body.texts or [])
    labels = None
    if body.labels is not None:
        try:
            labels = parse_labels([label.model_dump() for label in body.labels], "the request")
        except ConfigError as exc:
            raise QueryError(str(exc)) from None
    embedder = request.app.state.service.embedder
    return {"model": embedder.model_id, "results": _space(request).classify_text(texts, labels, embedder)}
