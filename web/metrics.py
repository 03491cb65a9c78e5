"""Prometheus metrics for one app: request counts and latencies by route, searches by mode,
queries per engine call, requests turned away, and the served index (version, size) and rebuild
jobs, read when scraped.

Each app has its own registry (tests build many apps in one process; the global default
registry would refuse the second). `GET /metrics` answers in Prometheus' text format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from indexer.manifest import Manifest
from search.searcher import SearchRequest, SearchResult

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class IndexCollector(Collector):
    """Gauges read at scrape time, so they are never stale: the generation a server answers
    from, its documents and chunks, and rebuild jobs by state."""

    def __init__(
        self, loaded: Callable[[], Manifest | None], job_states: Callable[[], dict[str, int]]
    ) -> None:
        self.loaded = loaded
        self.job_states = job_states

    def collect(self) -> Iterator[Metric]:
        manifest = self.loaded()
        for name, text, value in (
            ("semsearch_index_generation", "generation of the index being served (0: none)", "generation"),
            ("semsearch_index_documents", "documents in the served generation", "documents"),
            ("semsearch_index_chunks", "chunks in the served generation", "chunks"),
        ):
            yield GaugeMetricFamily(name, text, value=getattr(manifest, value) if manifest else 0)
        jobs = GaugeMetricFamily(
            "semsearch_rebuild_jobs", "rebuild jobs remembered, by state", labels=["state"]
        )
        for state, count in sorted(self.job_states().items()):
            jobs.add_metric([state], count)
        yield jobs


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "semsearch_http_requests",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "semsearch_http_request_seconds",
            "time from request to response, by route",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.searches = Histogram(
            "semsearch_search_seconds",
            "engine time per search, by mode",
            ["mode"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch = Histogram(
            "semsearch_search_batch_size",
            "searches answered (their queries embedded) per engine call",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.rejected = Counter(
            "semsearch_overload_rejections",
            "requests answered 503 because too many were in flight",
            registry=self.registry,
        )

    def watch(self, collector: Collector) -> None:
        self.registry.register(collector)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def observed(
        self, run: Callable[[Sequence[SearchRequest]], list[SearchResult]]
    ) -> Callable[[Sequence[SearchRequest]], list[SearchResult]]:
        """`run` (the engine's batch entry point), recording batch sizes and per-search time."""

        def answer(requests: Sequence[SearchRequest]) -> list[SearchResult]:
            self.batch.observe(len(requests))
            results = run(requests)
            for result in results:
                self.searches.labels(result.mode).observe(result.took_ms / 1000)
            return results

        return answer


router = APIRouter()


@router.get("/metrics", tags=["health"], summary="Prometheus metrics (text format)", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
