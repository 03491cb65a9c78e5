"""`semsearch serve`: load the model once, build the app, run uvicorn.

This is the program's edge, so it is where the environment is read: SEMSEARCH_API_TOKEN
overrides `server.api_token`, SEMSEARCH_READ_TOKEN overrides `server.read_token`.
"""

from __future__ import annotations

import gc
import os
import socket

import uvicorn

from indexer.config import Settings
from indexer.embedders import LazyEmbedder, embedder_for
from indexer.errors import ConfigError
from indexer.runtime import thread_count
from web.app import create_app
from web.guards import host_name
from web.observe import log_config

TOKEN_ENV = "SEMSEARCH_API_TOKEN"
READ_TOKEN_ENV = "SEMSEARCH_READ_TOKEN"


def api_token(settings: Settings) -> str:
    return os.environ.get(TOKEN_ENV) or settings.server.api_token


def read_token(settings: Settings) -> str:
    return os.environ.get(READ_TOKEN_ENV) or settings.server.read_token


def check_port(host: str, port: int) -> None:
    """Fail at once, before the model loads, when the address is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"server.host: cannot resolve {host!r} ({exc.strerror})") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            message = f"cannot serve on {host}:{port}: {exc.strerror}; choose another --port"
            raise ConfigError(message) from None


def serve(settings: Settings, host: str, port: int, model_given: bool = False) -> None:
    """Blocks until interrupted. One process, one model: uvicorn runs a single worker. The model
    is the index's own unless `model_given` (the user named one)."""
    # Loaded before uvicorn starts, so a bad model name fails with one line, not a traceback.
    # runtime.query_threads: one query is too small to split across cores
    # (docs/decisions.md, "Thread pools on the query path").
    check_port(host, port)
    reader = read_token(settings)
    if host_name(host) not in {"localhost", "127.0.0.1", "::1"} and not reader:
        print(
            f"semsearch: warning: serving on {host} without a read token: anyone who can reach this "
            f"port can read the indexed documents; set {READ_TOKEN_ENV} (or server.read_token) to "
            "require one. Requests must also name a host in "
            f"server.allowed_hosts ({', '.join(settings.server.allowed_hosts)})",
            flush=True,
        )
    embedder = embedder_for(settings, thread_count(settings.runtime.query_threads), model_given)
    if isinstance(embedder, LazyEmbedder):
        embedder.real()  # a server loads now: the first query should not wait for it
    app = create_app(settings, embedder, api_token=api_token(settings), read_token=reader)
    print(f"semsearch: serving {settings.index_dir} on http://{host}:{port}/ (API docs at /docs)", flush=True)
    gc.freeze()  # the model, the index and the app outlive every request: no collection scans them
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=log_config(settings.server.log_format),
        access_log=False,  # web/observe.py logs each request once, with its id
        proxy_headers=False,
        server_header=False,
    )
