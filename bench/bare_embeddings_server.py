"""The baseline for bench/post_overhead.py: a bare Starlette endpoint doing the same work.

``POST /v1/embeddings`` reads JSON, embeds with the same bundled model on a thread, and
answers OpenAI's shape, with none of Workhorse's pipeline (auth, decoding, validation,
idempotency, logging, metrics).

    .venv/bin/python bench/bare_embeddings_server.py PORT
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from sentence_transformers import SentenceTransformer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from workhorse.providers.registry import bundled_embedding_model_path


def main() -> None:
    model = SentenceTransformer(str(bundled_embedding_model_path()), device="cpu")
    lock = asyncio.Lock()

    async def embeddings(request: Request) -> JSONResponse:
        body = await request.json()
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        async with lock:  # one model instance, one call at a time, as in Workhorse
            vectors = await asyncio.to_thread(model.encode, texts, normalize_embeddings=True)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": v.tolist()}
                    for i, v in enumerate(vectors)
                ],
                "model": body["model"],
                "usage": {"prompt_tokens": 0, "total_tokens": 0},
            }
        )

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[Route("/v1/embeddings", embeddings, methods=["POST"]), Route("/healthz", healthz)]
    )
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
