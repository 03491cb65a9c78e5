"""The JSON API: search, batch search, documents, similar documents, stats, health, rebuild.

Handlers are plain `def` (FastAPI runs them in its thread pool), except the search routes: they
are async and hand all their work, checking the query included, to the query runner's thread
(web/deps.py), which saves two thread-pool hops a search.
Errors are raised as engine exceptions and mapped to status codes in one place (web/errors.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import JSONResponse

from indexer.errors import QueryError, SemsearchError
from indexer.maintenance import delete_documents
from search.searcher import SearchRequest
from search.service import SearchService
from web.deps import JobsDep, RunnerDep, ServiceDep, TokenDep
from web.schemas import (
    BatchBody,
    BatchOut,
    DocumentOut,
    ErrorOut,
    JobOut,
    Mode,
    ReadyOut,
    SearchBody,
    SearchOut,
    SimilarOut,
)


def _errors(codes: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers: they all share the {"error": "..."} body."""
    return {code: {"model": ErrorOut, "description": text} for code, text in codes.items()}


router = APIRouter(
    responses=_errors(
        {400: "malformed request (bad JSON)", 422: "invalid parameters", 503: "no index loaded yet"}
    )
)
_NO_DOCUMENT = _errors({404: "no such document"})
_AUTH = _errors({401: "missing or wrong token", 403: "no token configured: the endpoint is off"})

Json = dict[str, Any]


def parse_filter_params(pairs: Sequence[str]) -> dict[str, str]:
    """`filter=field:value` query parameters -> the flat filters object of the POST body."""
    filters: dict[str, str] = {}
    for pair in pairs:
        field, sep, value = pair.partition(":")
        if not sep or not field.strip():
            raise QueryError(f"filter expects field:value (e.g. filter=category:cooking), got {pair!r}")
        filters[field.strip()] = value
    return filters


@router.get("/api/search", response_model=SearchOut, tags=["search"], summary="Search (query string)")
async def search_get(
    service: ServiceDep,
    run: RunnerDep,
    q: Annotated[str, Query(description="the text to search for")],
    k: Annotated[int | None, Query(description="results to return (1..max_k)")] = None,
    offset: Annotated[int, Query(description="skip this many results")] = 0,
    mode: Annotated[Mode | None, Query(description="semantic | keyword | hybrid")] = None,
    filters: Annotated[
        list[str] | None,
        Query(alias="filter", description="repeatable field:value, e.g. filter=category:cooking"),
    ] = None,
    collapse: Annotated[bool, Query(description="one result per document")] = True,
    min_score: Annotated[
        float | None, Query(description="drop results whose score is below this (see SearchBody)")
    ] = None,
    diversity: Annotated[float, Query(description="MMR: 0 the plain ranking .. 1 novelty only")] = 0.0,
) -> Json:
    filters_given = parse_filter_params(filters or [])
    results = await run.built(
        lambda: [service.request(q, k, offset, mode, filters_given, collapse, min_score, diversity)]
    )
    return SearchService.result_json(results[0])


@router.post("/api/search", response_model=SearchOut, tags=["search"], summary="Search (JSON body)")
async def search_post(service: ServiceDep, run: RunnerDep, body: SearchBody) -> Json:
    results = await run.built(lambda: [service.request(*_search_args(body))])
    return SearchService.result_json(results[0])


@router.post(
    "/api/search/batch",
    response_model=BatchOut,
    tags=["search"],
    summary="Many searches, their queries embedded in one batch",
)
async def search_batch(service: ServiceDep, run: RunnerDep, body: BatchBody) -> Json:
    def requests() -> list[SearchRequest]:
        made = []
        for position, item in enumerate(body.queries):
            try:
                made.append(service.request(*_search_args(item)))
            except QueryError as exc:
                raise QueryError(f"queries[{position}]: {exc}") from None
        return made

    return {"results": [SearchService.result_json(r) for r in await run.built(requests)]}


def _search_args(body: SearchBody) -> tuple[Any, ...]:
    """SearchService.request's arguments from a JSON search body."""
    return (
        body.query,
        body.k,
        body.offset,
        body.mode,
        body.filters,
        body.collapse,
        body.min_score,
        body.diversity,
    )


@router.get("/api/documents", tags=["documents"], summary="What the index holds, a page at a time, by source")
def documents(
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="documents per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="documents to skip")] = 0,
    source: Annotated[
        str | None, Query(max_length=1000, description="glob over sources, e.g. */notes/*")
    ] = None,
) -> Json:
    return service.documents(limit, offset, source)


@router.delete(
    "/api/documents/{doc_id:path}",
    dependencies=[TokenDep],
    tags=["documents"],
    summary="Delete a document for good (text, keyword rows and vectors)",
    responses={**_AUTH, **_NO_DOCUMENT, **_errors({409: "another process is writing the index"})},
)
def delete_document(service: ServiceDep, doc_id: str) -> Json:
    report = delete_documents(service.settings, [doc_id])
    return {"deleted": report.removed, "version": report.version}


@router.get(
    "/api/documents/{doc_id:path}",
    response_model=DocumentOut,
    tags=["documents"],
    summary="One document: metadata, full text, chunks with their spans",
    responses=_NO_DOCUMENT,
)
def document(
    service: ServiceDep,
    doc_id: Annotated[str, Path(description="document id; file ids are paths, URL-encode their '/'")],
) -> Json:
    return service.document(doc_id)


@router.get(
    "/api/similar/{doc_id:path}",
    response_model=SimilarOut,
    tags=["documents"],
    summary="Documents like this one",
    responses=_NO_DOCUMENT,
)
def similar(
    service: ServiceDep,
    doc_id: str,
    k: Annotated[int | None, Query(description="results to return (1..max_k)")] = None,
) -> Json:
    hits = service.similar(doc_id, service.settings.search.default_k if k is None else k)
    return {"doc_id": doc_id, "results": [SearchService.hit_json(h) for h in hits]}


@router.get("/api/stats", tags=["index"], summary="What the live index holds")
def stats(service: ServiceDep) -> Json:
    return service.stats()


@router.get("/healthz", tags=["health"], summary="The process is up")
async def healthz() -> Json:
    """Async: answered on the event loop, so it says "up" even while every worker is busy."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadyOut,
    response_model_exclude_none=True,
    tags=["health"],
    summary="An index is loaded and searchable (503 until then)",
    responses={503: {"model": ReadyOut, "description": "not ready"}},
)
def readyz(service: ServiceDep) -> Any:
    try:
        searcher = service.searcher()
    except SemsearchError as exc:
        return JSONResponse({"ready": False, "error": str(exc)}, status.HTTP_503_SERVICE_UNAVAILABLE)
    return {"ready": True, "version": searcher.index.name}


@router.post(
    "/api/rebuild",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[TokenDep],
    tags=["index"],
    summary="Rebuild the index from its recorded folders, in the background",
    responses={**_AUTH, **_errors({409: "a rebuild is already running"})},
)
def rebuild(jobs: JobsDep, response: Response) -> Json:
    job = jobs.start()
    response.headers["Location"] = f"/api/rebuild/{job.id}"
    return {"job": job.id, "state": job.state}


@router.get(
    "/api/rebuild/{job_id}",
    response_model=JobOut,
    dependencies=[TokenDep],
    tags=["index"],
    summary="A rebuild job: state, stage, report or error",
    responses={**_AUTH, **_errors({404: "no such job"})},
)
def rebuild_status(jobs: JobsDep, job_id: str) -> Json:
    return jobs.get(job_id).to_json()
