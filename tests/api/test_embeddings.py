"""Embeddings through the official openai SDK."""

from __future__ import annotations

import math

import numpy as np
import openai
import pytest

from tests.servers import Server

MODEL = "all-minilm-l6-v2"


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_single_string_gives_one_384_dim_unit_vector(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model=MODEL, input="The cat sat on the mat.")
    assert result.model == MODEL
    assert len(result.data) == 1
    vector = result.data[0].embedding
    assert len(vector) == 384
    assert math.isclose(sum(x * x for x in vector), 1.0, rel_tol=1e-3)
    assert result.usage.prompt_tokens > 0


def test_list_input_keeps_order_and_meaning(client: openai.OpenAI) -> None:
    texts = ["A kitten is sleeping.", "The stock market fell today.", "A cat is napping."]
    result = client.embeddings.create(model=MODEL, input=texts)
    assert [d.index for d in result.data] == [0, 1, 2]
    kitten, market, cat = (d.embedding for d in result.data)
    assert cosine(kitten, cat) > cosine(kitten, market) + 0.2


def test_base64_encoding_matches_floats(client: openai.OpenAI, server: Server) -> None:
    import base64

    import httpx

    floats = client.embeddings.create(model=MODEL, input="hello").data[0].embedding
    raw = httpx.post(
        server.v1 + "/embeddings",
        headers=server.headers(),
        json={"model": MODEL, "input": "hello", "encoding_format": "base64"},
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, floats, atol=1e-6)


def test_unsupported_dimensions_is_a_clear_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=MODEL, input="hello", dimensions=128)
    assert caught.value.param == "dimensions"
    assert "384" in caught.value.message


def test_native_dimensions_are_accepted(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model=MODEL, input="hello", dimensions=384)
    assert len(result.data[0].embedding) == 384


def test_chat_model_is_not_an_embedder(client: openai.OpenAI) -> None:
    # Not a model of this endpoint: 404, as OpenAI answers, with the reason.
    with pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model="smollm2-135m-instruct", input="hello")
    assert caught.value.param == "model"
    assert "is a chat model" in caught.value.message


def test_empty_string_in_list_is_named(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=MODEL, input=["fine", ""])
    assert caught.value.param == "input[1]"
