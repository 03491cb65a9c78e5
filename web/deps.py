"""FastAPI dependencies: what the lifespan put in app.state, and the rebuild token check.

Routes ask for these with `Depends`, so tests can swap any of them through
`app.dependency_overrides`.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from search.searcher import SearchRequest, SearchResult
from search.service import SearchService
from web.batching import Build, QueryBatcher
from web.jobs import RebuildJobs


# The getters are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread
# pool, and three such hops per search cost ~0.5 ms of the API's overhead (docs/decisions.md).
async def get_service(request: Request) -> SearchService:
    return request.app.state.service


async def get_jobs(request: Request) -> RebuildJobs:
    return request.app.state.jobs


class QueryRunner:
    """Answers requests, through the micro-batcher when one is running (`answer` is the
    service's batch entry point, as the metrics observe it)."""

    def __init__(
        self, answer: Callable[[Sequence[SearchRequest]], list[SearchResult]], batcher: QueryBatcher | None
    ) -> None:
        self.answer = answer
        self.batcher = batcher

    def __call__(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """From a worker thread (a page's plain `def` route): blocks until answered."""
        if self.batcher is None:
            return self.answer(requests)
        return self.batcher.submit(requests)

    async def built(self, build: Build) -> list[SearchResult]:
        """From an async route: the answers to the requests `build` makes (and checks), all of
        it off the event loop. The API's search routes are async for this: a plain `def`
        route cost two thread-pool hops a search (the call, then validating its answer)."""
        if self.batcher is None:
            return await run_in_threadpool(lambda: self.answer(build()))
        return await asyncio.wrap_future(self.batcher.enqueue(build))


async def get_runner(request: Request) -> QueryRunner:
    return QueryRunner(request.app.state.answer, request.app.state.batcher)


_bearer = HTTPBearer(auto_error=False, description="server.api_token (or SEMSEARCH_API_TOKEN)")


async def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """403 while no token is configured (the endpoint is off); 401 for a missing or wrong token."""
    expected: str = request.app.state.api_token
    if not expected:
        raise HTTPException(
            403,
            "the rebuild endpoint is disabled: set server.api_token in the config "
            "or the SEMSEARCH_API_TOKEN environment variable",
        )
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401,
            "missing or wrong API token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


ServiceDep = Annotated[SearchService, Depends(get_service)]
JobsDep = Annotated[RebuildJobs, Depends(get_jobs)]
RunnerDep = Annotated[QueryRunner, Depends(get_runner)]
TokenDep = Depends(require_token)
