"""`POST /v1/embeddings`: the server's own model in OpenAI's embeddings wire format.

Any OpenAI client (or another semsearch with `model.backend: openai`) can embed with the model
this server already holds. One model serves every name: `model` is echoed as the server's
model id. An optional `input_type` ("query" or "document", as Cohere-style servers take it)
picks the model's query or passage prefix; the default is "document", the embedding of text
to store. Errors use OpenAI's shape, {"error": {"message", "type"}}, as its clients expect.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

router = APIRouter(tags=["embeddings"])
MAX_INPUTS = 2048
MAX_INPUT_CHARS = 32_000


InputText = Annotated[str, Field(min_length=1, max_length=MAX_INPUT_CHARS)]  # stated in the schema


class EmbeddingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: InputText | Annotated[list[InputText], Field(min_length=1, max_length=MAX_INPUTS)]
    model: str = Field("", description="any name: this server has one model")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1, description="must equal the model's size when given")
    input_type: Literal["query", "document"] = "document"
    user: str | None = None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}},
        status_code=status,
    )


@router.post("/v1/embeddings", summary="Embed texts with the server's model (OpenAI format)")
def embeddings(request: Request, body: EmbeddingsBody) -> Any:
    embedder = request.app.state.service.embedder
    texts = [body.input] if isinstance(body.input, str) else body.input
    if body.dimensions is not None and body.dimensions != embedder.dim:
        return _error(
            422,
            f"this server's model gives {embedder.dim}-d vectors: "
            f"ask for dimensions {embedder.dim} or omit it",
        )
    for position, text in enumerate(texts):
        if not text or len(text) > MAX_INPUT_CHARS:
            return _error(422, f"input[{position}] must hold 1 to {MAX_INPUT_CHARS} characters")
    vectors = embedder.embed_queries(texts) if body.input_type == "query" else embedder.embed_documents(texts)
    tokens = sum(embedder.count_tokens(texts)) if hasattr(embedder, "count_tokens") else 0
    data = []
    for index, vector in enumerate(np.asarray(vectors, dtype=np.float32)):
        encoded: Any = (
            base64.b64encode(vector.tobytes()).decode("ascii")
            if body.encoding_format == "base64"
            else vector.tolist()
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {
        "object": "list",
        "data": data,
        "model": embedder.model_id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
