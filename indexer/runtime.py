"""Thread pools, set on purpose before the heavy libraries start.

On 2 cores torch, OpenMP/BLAS and FAISS each default to "all cores" and then fight (a spinning
BLAS pool after torch tripled one query's latency here). The entry point calls
`configure_threads` once, before importing numpy, torch or faiss.
"""

from __future__ import annotations

import os

_ENV_KEYS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def thread_count(requested: int) -> int:
    return requested or os.cpu_count() or 1


def configure_threads(requested: int, serving_queries: bool = False) -> int:
    """Size the pools on purpose; returns the thread count for the embedder.

    Indexing gives every pool `requested` threads (0: all cores). Serving single queries gives
    BLAS and FAISS one thread (the caller passes `runtime.query_threads` for the embedder):
    their work per query is tiny, and an OpenMP team of two on a busy 2-core machine made one
    FAISS search of 75 vectors take 8 ms instead of 0.01 ms, and one MiniLM query embedding
    take 500 ms instead of 16 ms (docs/decisions.md, "Thread pools on the query path").
    """
    count = thread_count(requested)
    helpers = 1 if serving_queries else count
    for key in _ENV_KEYS:
        os.environ[key] = str(helpers)
    # Tokenizers' own pool forks badly under uvicorn/pytest and competes with torch.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import faiss  # torch is sized by the sentence-transformers embedder, only when it is used

    faiss.omp_set_num_threads(helpers)
    return count
