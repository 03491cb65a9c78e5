"""Helpers shared by the web tests: a corpus with metadata and hostile text, a counting
embedder, and a real uvicorn server on a free loopback port."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from indexer.config import Settings
from indexer.embedders import HashingEmbedder
from indexer.pipeline import Indexer

XSS = "<script>alert(1)</script>"

RECORDS = [
    {
        "_id": "art-1",
        "title": "Dumplings at home",
        "text": "Fold the dumplings and boil them in salted water.",
        "category": "cooking",
        "year": 2022,
    },
    {
        "_id": "art-2",
        "title": "Moon phases",
        "text": "The moon shows phases as it orbits the earth.",
        "category": "astronomy",
        "year": 2021,
    },
    {
        "_id": "art-3",
        "title": "Sourdough",
        "text": "Sourdough bread rises slowly with a wild yeast starter.",
        "category": "cooking",
        "year": 2021,
    },
]

LONG_TEXT = "\n".join(
    f"Paragraph {n}: the lighthouse keeper wrote about storms, ships and the tides of the northern sea."
    for n in range(12)
)

WEB_CORPUS: dict[str, str | bytes] = {
    "cats.txt": "The cat chases the mouse through the barn at night.\n",
    "food.md": "# Lunch\n\nI like ham sandwiches with mustard and pickles.\n",
    "sub/bank.html": "<html><head><title>Stocks</title></head>"
    "<body><p>The central bank raised interest rates again.</p></body></html>",
    "space.txt": "The telescope photographed a distant galaxy full of young stars.\n",
    "xss.txt": f"{XSS} ham sandwiches with pickles\nA second line that mentions {XSS} again.\n",
    "lighthouse.txt": "The lighthouse log\n" + LONG_TEXT + "\n",
    "records/articles.jsonl": "\n".join(json.dumps(r) for r in RECORDS) + "\n",
}


def garden_corpus(count: int) -> dict[str, str | bytes]:
    """`count` documents that all match 'garden', for paging tests."""
    return {
        f"garden/g{n:02d}.txt": f"Garden note {n}\nThe garden bed {n} grows tomatoes and beans.\n"
        for n in range(count)
    }


def build_index(settings: Settings, embedder: object, corpus: Path) -> None:
    Indexer(settings, embedder).index([corpus])  # type: ignore[arg-type]


class CountingEmbedder(HashingEmbedder):
    """The hashing fake, counting query batches; `delay` makes each batch take time."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.query_batches: list[int] = []
        self._lock = threading.Lock()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.query_batches.append(len(texts))
        if self.delay:
            time.sleep(self.delay)
        return super().embed_queries(texts)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running_server(app: FastAPI) -> Iterator[str]:
    """Serve `app` with a real uvicorn on 127.0.0.1:<free port> in a thread; yields the base URL."""
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def local_client(app: FastAPI, **kwargs: object) -> TestClient:
    """A TestClient that calls the app as a local browser would: Host 127.0.0.1 (the app refuses
    names it does not serve, such as TestClient's default "testserver")."""
    return TestClient(app, base_url="http://127.0.0.1", **kwargs)  # type: ignore[arg-type]
