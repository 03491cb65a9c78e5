"""create_app(): the FastAPI application for one index, wired from its parts.

The lifespan builds what lives as long as the server: the model (unless one is handed in),
the SearchService over the live index, the micro-batcher and the rebuild jobs; routes reach
them through `web.deps`. There is no module-level app: tests and `semsearch serve` each make
their own.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from indexer.config import Settings
from indexer.embedders import Embedder, create_embedder
from indexer.errors import SemsearchError
from indexer.runtime import thread_count
from search.service import SearchService
from web import api, errors, openapi, pages, space
from web.batching import QueryBatcher
from web.embedding import shared
from web.guards import RequestGuard
from web.jobs import RebuildJobs
from web.metrics import IndexCollector, Metrics
from web.metrics import router as metrics_router
from web.observe import RequestObserver
from web.templating import STATIC, make_templates, static_url

log = logging.getLogger(__name__)

DESCRIPTION = """Search your documents by meaning.

Errors are JSON objects `{"error": "..."}`: 400 malformed JSON, 401/403 rebuild token,
404 unknown document or job, 409 a rebuild is already running, 422 invalid parameters,
503 no index loaded yet. The web page at `/` uses this same API.
"""


def create_app(
    settings: Settings,
    embedder: Embedder | None = None,
    *,
    api_token: str | None = None,
    read_token: str | None = None,
) -> FastAPI:
    """The app for `settings.index_dir`.

    embedder: the query model, loaded once by the caller; None loads the configured one at
    start-up. api_token: bearer token for POST /api/rebuild (default `server.api_token`;
    empty turns the endpoint off). read_token: needed for every page and API call when set
    (default `server.read_token`; the api token is accepted too).
    """
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model = embedder or create_embedder(settings.model, thread_count(settings.runtime.query_threads))
        model = shared(model)  # searches and a rebuild job take turns on one model
        service = SearchService(settings, model)
        try:
            service.searcher()
        except SemsearchError as exc:  # serve anyway: /readyz says 503 until an index appears
            log.warning("not ready yet: %s", exc)
        window = settings.server.batch_window_ms / 1000
        answer = metrics.observed(service.search_requests)
        batcher = QueryBatcher(answer, window) if window > 0 else None
        app.state.service = service
        app.state.batcher = batcher
        app.state.answer = answer
        app.state.jobs = jobs = RebuildJobs(settings, model)
        metrics.watch(IndexCollector(service.loaded, jobs.counts))
        try:
            yield
        finally:
            if batcher is not None:
                batcher.close()
            service.close()

    app = FastAPI(
        title="semsearch",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.templates = make_templates()
    app.state.api_token = settings.server.api_token if api_token is None else api_token
    app.state.metrics = metrics
    errors.install(app)
    server = settings.server
    reader = server.read_token if read_token is None else read_token
    app.add_middleware(
        RequestGuard,
        allowed_hosts=server.allowed_hosts,
        max_body_bytes=server.max_body_kb * 1024,
        read_tokens=(reader, app.state.api_token) if reader else (),
        max_in_flight=server.max_in_flight,
        on_reject=metrics.rejected.inc,
        body_timeout_s=server.body_timeout_s,
    )
    app.add_middleware(RequestObserver, metrics=metrics)  # outermost: sees every answer, refusals too
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    space.install(app, settings)  # /map, /api/topics and the other embedding-space tools, /v1/embeddings
    app.include_router(metrics_router)
    openapi.install(app, settings.search)
    app.add_api_route("/docs", _swagger_ui, include_in_schema=False, response_class=HTMLResponse)
    return app


def _swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI from /static (vendored): the default page loads it from a CDN."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title="semsearch API",
        swagger_js_url=static_url("swagger-ui-bundle.js"),
        swagger_css_url=static_url("swagger-ui.css"),
        swagger_favicon_url="data:,",
        swagger_ui_parameters={"validatorUrl": None, "defaultModelsExpandDepth": 0},
    )
