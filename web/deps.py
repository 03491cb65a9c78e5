"""FastAPI dependencies: what the lifespan put in app.state, and the rebuild token check.

Routes ask for these with `Depends`, so tests can swap any of them through
`app.dependency_overrides`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from search.searcher import SearchRequest, SearchResult
from search.service import SearchService
from web.batching import QueryBatcher
from web.jobs import RebuildJobs


def get_service(request: Request) -> SearchService:
    return request.app.state.service


def get_jobs(request: Request) -> RebuildJobs:
    return request.app.state.jobs


class QueryRunner:
    """Answers validated requests, through the micro-batcher when one is running (`answer` is
    the service's batch entry point, as the metrics observe it)."""

    def __init__(
        self, answer: Callable[[Sequence[SearchRequest]], list[SearchResult]], batcher: QueryBatcher | None
    ) -> None:
        self.answer = answer
        self.batcher = batcher

    def __call__(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        if self.batcher is None:
            return self.answer(requests)
        return self.batcher.submit(requests)


def get_runner(request: Request) -> QueryRunner:
    return QueryRunner(request.app.state.answer, request.app.state.batcher)


_bearer = HTTPBearer(auto_error=False, description="server.api_token (or SEMSEARCH_API_TOKEN)")


def require_token(
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
