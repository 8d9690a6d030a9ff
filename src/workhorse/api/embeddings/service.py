"""Embeddings: validate inputs, run the embedder, encode the vectors."""

from __future__ import annotations

import base64
from array import array

from workhorse.api.embeddings.schemas import (
    MAX_INPUTS,
    Embedding,
    EmbeddingList,
    EmbeddingRequest,
    EmbeddingUsage,
)
from workhorse.errors import InvalidRequest, UnsupportedParameter
from workhorse.governance.meter import Meter
from workhorse.providers.registry import ModelRegistry


def _texts(request: EmbeddingRequest) -> list[str]:
    raw = request.input
    if isinstance(raw, str):
        texts = [raw]
    elif raw and all(isinstance(item, str) for item in raw):
        texts = [str(item) for item in raw]
    elif not raw:
        raise InvalidRequest("input must not be empty", param="input")
    else:
        raise UnsupportedParameter("input as token ids is not supported; send text", param="input")
    if len(texts) > MAX_INPUTS:
        raise InvalidRequest(f"input may hold at most {MAX_INPUTS} texts", param="input")
    for index, text in enumerate(texts):
        if not text:
            param = "input" if isinstance(raw, str) else f"input[{index}]"
            raise InvalidRequest("input must not contain empty strings", param=param)
    return texts


def _encode(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        packed = array("f", vector)
        if packed.itemsize != 4:  # pragma: no cover - every supported platform has 4
            raise RuntimeError("float32 is not 4 bytes here")
        return base64.b64encode(packed.tobytes()).decode("ascii")
    return vector


async def embed(models: ModelRegistry, meter: Meter, request: EmbeddingRequest) -> EmbeddingList:
    """Vectors for the request's inputs."""
    texts = _texts(request)
    embedder = await models.embedder(request.model)
    if request.dimensions is not None and request.dimensions != embedder.dimensions:
        raise UnsupportedParameter(
            f"model {embedder.id!r} only produces {embedder.dimensions}-dimensional vectors; "
            "omit dimensions or set it to that",
            param="dimensions",
        )
    result = await meter.embed(embedder, texts)
    return EmbeddingList(
        data=[
            Embedding(index=i, embedding=_encode(vector, request.encoding_format))
            for i, vector in enumerate(result.vectors)
        ],
        model=request.model,
        usage=EmbeddingUsage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens),
    )
