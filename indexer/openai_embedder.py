"""An Embedder over any OpenAI-compatible embeddings endpoint (`model.backend: openai`).

`POST {base_url}/embeddings` with `{"input": [...], "model": name}`, answered by
`{"data": [{"embedding": [...], "index": i}, ...]}`: OpenAI's text-embedding-3-*, vLLM, Ollama,
LiteLLM, text-embeddings-inference, and semsearch's own `/v1/embeddings`. Standard library only
(urllib): the backend adds no dependency. The vector size is asked of the endpoint once, at
construction, so an index built with another model or size is refused before anything is
embedded (indexer/snapshot.py checks backend, model and dimension).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from indexer.config import ApiEmbedderSettings, ModelSettings
from indexer.embedders import normalise, register_embedder
from indexer.errors import ConfigError, SemsearchError

_TOKENISH = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|\w+|[^\w\s]")
_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
MAX_BATCH = 2048  # OpenAI's limit on inputs per request


class EmbeddingServiceError(SemsearchError):
    """The embeddings endpoint is wrong, unreachable or answered something unusable."""


def estimate_tokens(text: str) -> int:
    """Tokens without the remote tokenizer: words, CJK characters and punctuation, plus a third
    for sub-word splits. Errs high, so chunks stay under the endpoint's limit."""
    return math.ceil(len(_TOKENISH.findall(text)) * 4 / 3) + 2


Post = Callable[[str, bytes, dict[str, str], float], Any]


def _post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - URL is configured
        return json.loads(response.read())


class OpenAIEmbedder:
    """Embeds through an OpenAI-compatible HTTP endpoint, in batches, retrying what may pass."""

    backend = "openai"
    multilingual = True  # unknown: trust the remote model with any language

    def __init__(
        self,
        name: str,
        api: ApiEmbedderSettings,
        api_key: str = "",
        batch_size: int = 32,
        post: Post = _post_json,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                "model.api.base_url: backend openai needs the endpoint's base URL, "
                f"e.g. https://api.openai.com/v1 (got {api.base_url!r})"
            )
        self.model_id = name
        self.url = api.base_url.rstrip("/") + "/embeddings"
        self.api = api
        self.max_tokens = api.max_tokens
        self.batch_size = min(batch_size, MAX_BATCH)
        self._api_key = api_key
        self._post = post
        self._sleep = sleep
        probe = self._request(["dimension probe"], "query")
        self.dim = int(probe.shape[1])
        if api.dimensions and self.dim != api.dimensions:
            raise EmbeddingServiceError(
                f"{self.url} returned {self.dim}-d vectors for model {name!r}, but "
                f"model.api.dimensions is {api.dimensions}: set it to {self.dim} or 0"
            )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [estimate_tokens(t) for t in texts]

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._embed(texts, "document")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "query")

    # -- HTTP -------------------------------------------------------------------------
    def _embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            vectors = self._request(batch, kind)
            if vectors.shape[1] != self.dim:
                raise EmbeddingServiceError(
                    f"{self.url} returned {vectors.shape[1]}-d vectors, not the {self.dim}-d it gave "
                    "before: the endpoint's model changed; `semsearch rebuild` re-embeds everything"
                )
            out[start : start + len(batch)] = vectors
        return out

    def _request(self, texts: list[str], kind: str) -> np.ndarray:
        payload: dict[str, Any] = {"input": texts, "model": self.model_id, "encoding_format": "float"}
        if self.api.dimensions:
            payload["dimensions"] = self.api.dimensions
        if self.api.input_type:
            payload["input_type"] = kind
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = json.dumps(payload).encode("utf-8")
        for attempt in range(self.api.retries + 1):
            try:
                answer = self._post(self.url, body, headers, self.api.timeout_s)
                return self._vectors(answer, len(texts))
            except urllib.error.HTTPError as exc:
                if exc.code not in _RETRY_STATUS or attempt == self.api.retries:
                    raise self._http_error(exc) from None
                retry_after = _retry_after(exc)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.api.retries:
                    reason = getattr(exc, "reason", exc)
                    raise EmbeddingServiceError(
                        f"cannot reach the embeddings endpoint {self.url} ({reason}) after "
                        f"{attempt + 1} tries: check model.api.base_url and that the service is up"
                    ) from None
                retry_after = None
            except json.JSONDecodeError:
                raise EmbeddingServiceError(
                    f"{self.url} did not answer JSON: is model.api.base_url an OpenAI-compatible "
                    "API (usually ending in /v1)?"
                ) from None
            self._sleep(retry_after if retry_after is not None else min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def _http_error(self, exc: urllib.error.HTTPError) -> EmbeddingServiceError:
        detail = _error_detail(exc)
        if exc.code == 404:
            hint = "check model.api.base_url (POST {base_url}/embeddings must exist; it usually ends in /v1)"
        elif exc.code in (401, 403):
            hint = f"check the API key in the environment variable {self.api.key_env or '(none configured)'}"
        else:
            hint = f"check model.name ({self.model_id!r}) and model.api settings"
        return EmbeddingServiceError(f"{self.url} answered HTTP {exc.code}{detail}: {hint}")

    def _vectors(self, answer: Any, expected: int) -> np.ndarray:
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list) or len(data) != expected:
            raise EmbeddingServiceError(
                f"{self.url} did not answer an OpenAI embeddings list ({expected} items in 'data'): "
                "check model.api.base_url"
            )
        rows: list[Any] = [None] * expected
        for position, item in enumerate(data):
            index = item.get("index", position) if isinstance(item, dict) else None
            if not isinstance(index, int) or not 0 <= index < expected or rows[index] is not None:
                raise EmbeddingServiceError(f"{self.url} answered a bad or repeated 'index' in data")
            rows[index] = item.get("embedding")
        try:
            vectors = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError):
            raise EmbeddingServiceError(
                f"{self.url} answered embeddings that are not lists of numbers of one length "
                "(base64 encoding is not read: the request asks for floats)"
            ) from None
        if vectors.ndim != 2 or vectors.shape[1] == 0 or not np.isfinite(vectors).all():
            raise EmbeddingServiceError(f"{self.url} answered empty or non-finite embeddings")
        return normalise(vectors)


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (json.JSONDecodeError, OSError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return f" ({str(message)[:200]})" if message else ""


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return min(float(value), 30.0) if value is not None else None
    except ValueError:
        return None


def _openai(settings: ModelSettings, _threads: int) -> OpenAIEmbedder:
    """The program's edge builds embedders, so the key is read from the environment here."""
    key = os.environ.get(settings.api.key_env, "") if settings.api.key_env else ""
    return OpenAIEmbedder(settings.name, settings.api, key, settings.batch_size)


register_embedder("openai", _openai)
