"""The HTML pages: search (`/`), a document (`/doc/{id}`), documents like one (`/similar/{id}`).

Each page is complete without JavaScript (a plain GET form, links for paging); search.js only
makes results follow the typing. Expected failures render the page with a message and a 4xx/503
status instead of the generic error page, so the user keeps their query in the box.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from indexer.errors import IndexNotFound, ModelMismatch, QueryError, SemsearchError
from search.searcher import MODES, Hit
from search.service import SearchService
from web.deps import RunnerDep, ServiceDep
from web.errors import status_for
from web.render import (
    SCORE_HELP,
    display_title,
    doc_path,
    document_blocks,
    marked_segments,
    pager,
    side_scores,
)
from web.templating import render_page

router = APIRouter(include_in_schema=False)


def doc_url(doc_id: str, chunk_id: int | None = None, query: str = "") -> str:
    params = {"chunk": chunk_id, "q": query}
    query_string = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"/doc/{doc_path(doc_id)}" + (f"?{query_string}" if query_string else "")


def _hit_view(hit: Hit, query: str, mode: str = "") -> dict[str, Any]:
    return {
        "doc_id": hit.doc_id,
        "title": display_title(hit.title, hit.source),
        "source": hit.source,
        "score": hit.score,
        "score_help": SCORE_HELP.get(mode, "relevance score"),
        "sides": side_scores(hit, both=mode == "hybrid"),
        "segments": marked_segments(hit.snippet, hit.highlights),
        "doc_url": doc_url(hit.doc_id, hit.chunk_id, query) + "#match",
        "similar_url": f"/similar/{doc_path(hit.doc_id)}",
    }


def parse_min_score(raw: str) -> float | None:
    """The page's `min_score` parameter: empty for none, else a number."""
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise QueryError(f"min_score must be a number (e.g. min_score=0.3), got {raw!r}") from None


def parse_diversity(raw: str) -> float:
    """The page's `diversity` parameter (MMR): empty for none, else a number in 0..1."""
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        raise QueryError(f"diversity must be a number from 0 to 1 (e.g. 0.3), got {raw!r}") from None


def _context(service: SearchService, q: str = "", mode: str | None = None) -> dict[str, Any]:
    """What every page's header (the search form) needs, plus empty result state."""
    search = service.settings.search
    return {
        "q": q,
        "mode": mode if mode in MODES else search.mode,
        "default_mode": search.mode,
        "modes": MODES,
        "page_size": search.default_k,
        "max_query_chars": search.max_query_chars,
        "hits": [],
        "pager": None,
        "result": None,
        "error": None,
        "no_index": False,
        "heading": None,
        "summary": None,
        "min_score": "",
        "score_help": SCORE_HELP,
    }


def _index_summary(service: SearchService) -> dict[str, Any] | None:
    try:
        searcher = service.searcher()
    except SemsearchError:
        return None
    return {"documents": searcher.index.manifest.documents, "model": searcher.embedder.model_id}


@router.get("/")
def search_page(
    request: Request,
    service: ServiceDep,
    run: RunnerDep,
    q: str = "",
    mode: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    min_score: str = "",
    diversity: str = "",
) -> Response:
    context = _context(service, q, mode)
    context["min_score"] = min_score.strip()
    context["diversity"] = diversity.strip()
    if not q.strip():
        context["summary"] = _index_summary(service)
        context["no_index"] = context["summary"] is None
        return render_page(request, "index.html", context, 503 if context["no_index"] else 200)
    size = context["page_size"]
    try:
        threshold = parse_min_score(context["min_score"])
        wanted = service.request(
            q,
            k=size,
            offset=(page - 1) * size,
            mode=mode,
            min_score=threshold,
            diversity=parse_diversity(context["diversity"]),
        )
        result = run([wanted])[0]
    except SemsearchError as exc:
        context.update(error=str(exc), no_index=isinstance(exc, IndexNotFound | ModelMismatch))
        return render_page(request, "index.html", context, status_for(exc))
    params = {
        "q": q,
        "mode": result.mode if result.mode != context["default_mode"] else "",
        "min_score": context["min_score"],
        "diversity": context["diversity"],
    }
    context.update(
        result=result,
        hits=[_hit_view(h, q, result.mode) for h in result.hits],
        pager=pager(params, page, size, len(result.hits), result.total, 10 * service.settings.search.max_k),
    )
    return render_page(request, "index.html", context)


@router.get("/similar/{doc_id:path}")
def similar_page(request: Request, service: ServiceDep, doc_id: str) -> Response:
    document = service.document(doc_id)  # NotFound -> the 404 page
    hits = service.similar(doc_id, service.settings.search.default_k)
    context = _context(service)
    context.update(
        hits=[_hit_view(h, "") for h in hits],
        heading={"title": display_title(document["title"], document["source"]), "url": doc_url(doc_id)},
    )
    return render_page(request, "index.html", context)


@router.get("/doc/{doc_id:path}")
def document_page(
    request: Request, service: ServiceDep, doc_id: str, chunk: int | None = None, q: str = ""
) -> Response:
    document = service.document(doc_id)  # NotFound -> the 404 page
    matched = next((c for c in document["chunks"] if c["chunk_id"] == chunk), None)
    context = _context(service, q)
    context.update(
        doc=document,
        title=display_title(document["title"], document["source"]),
        blocks=document_blocks(document["text"], matched, q, title=document["title"]),
        matched=matched,
        similar_url=f"/similar/{doc_path(doc_id)}",
        back_url="/?" + urlencode({"q": q}) if q.strip() else None,
    )
    return render_page(request, "doc.html", context)
