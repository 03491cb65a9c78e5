"""Micro-batching: queries that arrive together are embedded together.

On 2 CPU cores one call embedding 8 short queries costs about 3 single calls (docs/web.md), and
SearchService answers one search at a time anyway. So requests go through a queue; one
dispatcher thread answers whatever is waiting with a single `search_requests` call, which embeds
the queries in one batch. While requests have lately been arriving together, it first waits up
to `window_s` for more; a lone client never waits, so a person typing pays nothing for this.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from search.searcher import SearchRequest, SearchResult

Runner = Callable[[Sequence[SearchRequest]], list[SearchResult]]
Build = Callable[[], Sequence[SearchRequest]]  # makes (validates) the requests, on the batcher's thread
_Item = tuple[Build, "Future[list[SearchResult]]"]
_Built = tuple[list[SearchRequest], "Future[list[SearchResult]]"]
TOGETHER_MEMORY_S = 1.0  # after requests came together, wait for company this long


class QueryBatcher:
    """Collects requests from many threads (or an event loop) and answers them in batches on
    one thread."""

    def __init__(self, run: Runner, window_s: float, max_batch: int = 64) -> None:
        self._run = run
        self.window_s = window_s
        self.max_batch = max_batch
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._last_together = float("-inf")  # when a batch last held more than one request
        self._thread = threading.Thread(target=self._loop, name="query-batcher", daemon=True)
        self._thread.start()

    def submit(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """Blocks until these requests are answered; raises what answering them raised."""
        given = list(requests)
        return self.enqueue(lambda: given).result()

    def enqueue(self, build: Build) -> Future[list[SearchResult]]:
        """The future answer to the requests `build` makes. It is called on the batcher's thread,
        so an async route hands over all the work (checking a query may open a new index
        version) and awaits the future without blocking its event loop; what `build` raises
        (a bad parameter) is that future's exception."""
        future: Future[list[SearchResult]] = Future()
        self._queue.put((build, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            if batch:
                self._answer(batch)
            if stop:
                return

    @staticmethod
    def _built(item: _Item) -> _Built | None:
        build, future = item
        try:
            return list(build()), future
        except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
            future.set_exception(exc)
            return None

    def _collect(self, first: _Item) -> tuple[list[_Built], bool]:
        """`first`, whatever already waits behind it, and, if requests came together within
        the last second, what arrives within the window (requests that fail to build are
        answered with their error at once and left out).

        A lone client (one query at a time, as a person typing) never waits for the window:
        its batches hold one request each, so each is answered at once.
        """
        built = self._built(first)
        batch = [built] if built else []
        size = len(built[0]) if built else 0
        busy = time.monotonic() - self._last_together < TOGETHER_MEMORY_S
        deadline = time.monotonic() + (self.window_s if busy else 0.0)
        while size < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            built = self._built(item)
            if built:
                batch.append(built)
                size += len(built[0])
        if len(batch) > 1:
            self._last_together = time.monotonic()
        return batch, False

    def _answer(self, batch: list[_Built]) -> None:
        try:
            results = self._run([request for requests, _ in batch for request in requests])
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request thread(s)
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
            else:  # answer each alone, so one failing request fails only itself
                for item in batch:
                    self._answer([item])
            return
        position = 0
        for requests, future in batch:
            future.set_result(results[position : position + len(requests)])
            position += len(requests)
