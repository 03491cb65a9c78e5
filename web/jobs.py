"""Rebuild jobs started from the API: one at a time, in a background thread, with progress.

The Indexer builds a whole new version beside the live one and publishes it atomically, so
searches keep being answered while a job runs; SearchService opens the new version on the next
request. Jobs live in memory: they describe this server process's work, not the index's history.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from indexer.config import Settings
from indexer.embedders import Embedder
from indexer.errors import IndexBusy, NotFound, SemsearchError
from indexer.pipeline import Indexer

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed"]
KEEP_JOBS = 20  # finished jobs remembered for GET /api/rebuild/{job}


@dataclass
class Job:
    id: str
    state: JobState = "queued"
    stage: str = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    report: dict[str, Any] | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["job"] = data.pop("id")
        return data


IndexerFactory = Callable[[Settings, Embedder, Callable[[str], None], Callable[[str], None]], Indexer]


def _default_indexer(
    settings: Settings, embedder: Embedder, warn: Callable[[str], None], hook: Callable[[str], None]
) -> Indexer:
    return Indexer(settings, embedder, warn=warn, hook=hook)


class RebuildJobs:
    """Starts rebuilds of the configured index and remembers how they went."""

    def __init__(
        self, settings: Settings, embedder: Embedder, make_indexer: IndexerFactory = _default_indexer
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.make_indexer = make_indexer
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self) -> Job:
        """Queue a rebuild of the index's recorded folders; IndexBusy if one is already going."""
        with self._lock:
            for job in self._jobs.values():
                if job.active:
                    raise IndexBusy(f"a rebuild is already running (job {job.id}); wait for it to finish")
            job = Job(id=uuid.uuid4().hex[:12])
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                self._jobs.popitem(last=False)
            thread = threading.Thread(target=self._run, args=(job,), name=f"rebuild-{job.id}", daemon=True)
            self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
            self._threads[job.id] = thread
        thread.start()
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no rebuild job {job_id!r} (jobs are kept in memory until the server restarts)")
        return job

    def counts(self) -> dict[str, int]:
        """Remembered jobs by state (for /metrics)."""
        with self._lock:
            states = [job.state for job in self._jobs.values()]
        return {state: states.count(state) for state in set(states)}

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job's thread ends (tests, shutdown)."""
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
        return self.get(job_id)

    def wait_all(self, timeout: float) -> None:
        for thread in list(self._threads.values()):
            thread.join(timeout)

    def _run(self, job: Job) -> None:
        job.state = "running"
        job.stage = "starting"
        job.started_at = time.time()

        def hook(stage: str) -> None:
            job.stage = stage

        try:
            indexer = self.make_indexer(self.settings, self.embedder, job.warnings.append, hook)
            report = indexer.rebuild()
        except SemsearchError as exc:
            job.error = str(exc)
            job.state = "failed"
        except Exception as exc:  # noqa: BLE001 - reported through the job, and logged in full
            log.exception("rebuild job %s failed", job.id)
            job.error = f"internal error: {type(exc).__name__}: {exc}"
            job.state = "failed"
        else:
            job.report = asdict(report)
            job.stage = "published" if report.published else "unchanged"
            job.state = "done"
        finally:
            job.finished_at = time.time()
