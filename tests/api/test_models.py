"""``/v1/models`` through the official openai SDK."""

from __future__ import annotations

import openai
import pytest


def test_list_has_the_bundled_models(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"smollm2-135m-instruct", "all-minilm-l6-v2"} <= ids


def test_retrieve_one_model(client: openai.OpenAI) -> None:
    model = client.models.retrieve("smollm2-135m-instruct")
    assert model.id == "smollm2-135m-instruct"
    assert model.object == "model"
    assert model.owned_by == "workhorse"


def test_retrieve_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("nope")
    assert caught.value.code == "model_not_found"
