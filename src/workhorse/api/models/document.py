"""The served models, as examples of every request's ``model`` in the OpenAPI document.

A client (or a fuzzer) reading the document learns which ids this server answers to; the
document says ``examples``, not ``enum``, since fine-tuned and upstream models come and go.
"""

from __future__ import annotations

from typing import Any

EMBEDDING_REQUEST = "EmbeddingRequest"


def document_models(
    schema: dict[str, Any], *, chat: list[str], embeddings: list[str], dimensions: list[int]
) -> dict[str, Any]:
    """Give every request body's string ``model`` the served ids of its kind as examples:
    the embedding models for ``EMBEDDING_REQUEST``, the chat models for the others; and an
    embedding request's ``dimensions`` the sizes the loaded models produce (the only ones
    they take)."""
    embedding = schema.get("components", {}).get("schemas", {}).get(EMBEDDING_REQUEST, {})
    if dimensions and "dimensions" in embedding.get("properties", {}):
        embedding["properties"]["dimensions"]["enum"] = [*dimensions, None]
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        model = component.get("properties", {}).get("model")
        ids = embeddings if name == EMBEDDING_REQUEST else chat
        if isinstance(model, dict) and model.get("type") == "string" and ids:
            model["examples"] = list(ids)
    return schema
