"""Progress as plain lines, every few seconds, whether or not stderr is a terminal: a long run
logged to a file says what it is doing (before, a bar showed only on a terminal, and a log got
nothing for minutes)."""

from __future__ import annotations

import time
from collections.abc import Callable

from indexer.writer import Progress


class ProgressLines:
    """A Progress handler that writes one line at most every `every` seconds."""

    def __init__(self, write: Callable[[str], None], every: float = 10.0) -> None:
        self.write = write
        self.every = every
        self._last = time.perf_counter()

    def __call__(self, progress: Progress) -> None:
        now = time.perf_counter()
        if now - self._last < self.every:
            return
        self._last = now
        self.write(describe(progress))


def describe(progress: Progress) -> str:
    """ "indexing: file 3 of 120, 4,200 documents new or changed, 8,100 chunks embedded
    (95 chunks/s), 1,000 unchanged, 85 s; about 40 min left" """
    rate = progress.chunks_embedded / progress.seconds if progress.seconds > 0 else 0.0
    line = (
        f"indexing: file {progress.files_done} of {progress.files_total}, {progress.documents:,} "
        f"documents new or changed, {progress.chunks_embedded:,} chunks embedded ({rate:,.0f} chunks/s), "
        f"{progress.unchanged:,} unchanged, {progress.seconds:,.0f} s"
    )
    if 0 < progress.files_done < progress.files_total:
        left = progress.seconds * (progress.files_total - progress.files_done) / progress.files_done
        line += f"; about {_duration(left)} left (by files)"
    return line


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
