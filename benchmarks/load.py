"""A bounded load test on loopback: many clients for a fixed time against `semsearch serve`.

    python -m benchmarks.load --index-dir DIR [--model NAME] [--clients 32] [--seconds 60]

Starts the server as a separate process on 127.0.0.1 and runs --clients asyncio clients (httpx,
one keep-alive connection each) for --seconds. Each request is a GET /api/search in a mode drawn
from semantic / keyword / hybrid, for a query that is either cached (drawn from 20 repeated
queries) or uncached (a new phrase cut from the index's own chunks). Reports requests,
errors by kind (503s from the in-flight cap counted apart), latency p50/p95/p99 overall and by
mode, requests/s, and the server's RSS before and after. tests/test_load.py runs it briefly.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.api_latency import index_phrases, serving

MODES = ("semantic", "keyword", "hybrid")


@dataclass
class LoadReport:
    clients: int
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    errors: Counter[str] = field(default_factory=Counter)
    busy: int = 0  # 503 + Retry-After: the in-flight cap turned a request away
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + sum(self.errors.values()) + self.busy

    def lines(self) -> list[str]:
        every = sorted(x for v in self.latencies.values() for x in v)
        out = [
            f"{self.clients} clients x {self.seconds:.0f} s: {self.requests} requests "
            f"({self.requests / self.seconds:.0f}/s), {sum(self.errors.values())} errors, "
            f"{self.busy} busy (503); "
            f"server RSS {self.rss_before_mb:.0f} MB -> {self.rss_after_mb:.0f} MB"
        ]
        for name, values in [("all", every), *((m, sorted(v)) for m, v in self.latencies.items())]:
            if values:
                out.append(f"  {name:<9} n={len(values):<6} " + _percentiles(values))
        out += [f"  error {kind}: {count}" for kind, count in self.errors.most_common()]
        return out


def _percentiles(ordered: list[float]) -> str:
    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return f"p50 {at(0.5):7.1f} ms  p95 {at(0.95):7.1f} ms  p99 {at(0.99):7.1f} ms"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _client(
    base: str, report: LoadReport, deadline: float, cached: list[str], fresh: list[str], seed: int
) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        while time.monotonic() < deadline:
            mode = rng.choice(MODES)
            query = rng.choice(cached) if rng.random() < 0.5 or not fresh else fresh.pop()
            started = time.perf_counter()
            try:
                answer = await http.get("/api/search", params={"q": query, "mode": mode, "k": 10})
            except httpx.HTTPError as exc:
                report.errors[type(exc).__name__] += 1
                continue
            took = time.perf_counter() - started
            if answer.status_code == 200:
                report.latencies[mode].append(took)
            elif answer.status_code == 503 and "retry-after" in answer.headers:
                report.busy += 1
                await asyncio.sleep(float(answer.headers["retry-after"]))
            else:
                report.errors[f"HTTP {answer.status_code}"] += 1


def run_load(index_dir: Path, model: str | None, clients: int, seconds: float) -> LoadReport:
    phrases = index_phrases(index_dir, 20 + clients * int(seconds * 20))
    cached, fresh = phrases[:20], phrases[20:]
    report = LoadReport(clients, seconds)
    with serving(index_dir, model, 2.0) as (port, pid):
        report.rss_before_mb = rss_mb(pid)

        async def everyone() -> None:
            deadline = time.monotonic() + seconds
            base = f"http://127.0.0.1:{port}"
            await asyncio.gather(*(_client(base, report, deadline, cached, fresh, i) for i in range(clients)))

        asyncio.run(everyone())
        report.rss_after_mb = rss_mb(pid)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--model", default=None, help="default: the index's own")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    for line in run_load(args.index_dir, args.model, args.clients, args.seconds).lines():
        print(line)


if __name__ == "__main__":
    main()
