"""OpenAI's Evals API through the official openai SDK, both modes: evals, runs graded by
every grader, output items, cancel, the quality loop from feedback to a run, and a
knowledge base evaluated with and without file_search."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import openai
import pytest
from openai.types.evals import RunRetrieveResponse

from tests.servers import Server, wait_for

MODEL = "smollm2-135m-instruct"
RUN_TIMEOUT_S = 300
QA_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}


def custom(schema: dict[str, Any] = QA_SCHEMA, sample: bool = True) -> Any:
    return {"type": "custom", "item_schema": schema, "include_sample_schema": sample}


def contains_answer(name: str = "has the answer") -> Any:
    return {
        "type": "string_check",
        "name": name,
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "ilike",
    }


def finished(client: openai.OpenAI, eval_id: str, run_id: str) -> RunRetrieveResponse:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
    while run.status in ("queued", "in_progress"):
        assert time.monotonic() < deadline, f"run still {run.status}"
        time.sleep(0.25)
        run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
    return run


def items_of(client: openai.OpenAI, eval_id: str, run_id: str, **query: Any) -> list[Any]:
    return list(client.evals.runs.output_items.list(run_id, eval_id=eval_id, **query))


def given(*pairs: tuple[str, str, str]) -> Any:
    """A jsonl source: (question, answer, what the model said) each."""
    return {
        "type": "jsonl",
        "source": {
            "type": "file_content",
            "content": [
                {"item": {"question": q, "answer": a}, "sample": {"output_text": said}}
                for q, a, said in pairs
            ],
        },
    }


def generating(items: list[dict[str, Any]], model: str = MODEL, **extra: Any) -> Any:
    return {
        "type": "completions",
        "source": {"type": "file_content", "content": [{"item": i} for i in items]},
        "model": model,
        "input_messages": {
            "type": "template",
            "template": [{"role": "user", "content": "{{item.question}}"}],
        },
        "sampling_params": {"seed": 3, "temperature": 0, "max_completion_tokens": 24},
        **extra,
    }


def test_an_eval_is_created_listed_updated_and_deleted(
    client: openai.OpenAI, other: openai.OpenAI
) -> None:
    created = client.evals.create(
        name="support answers",
        data_source_config=custom(),
        testing_criteria=[contains_answer()],
        metadata={"team": "support"},
    )
    assert created.object == "eval"
    assert created.id.startswith("eval_")
    assert created.data_source_config.type == "custom"
    schema = created.data_source_config.schema_
    assert schema["properties"]["item"] == QA_SCHEMA
    assert schema["required"] == ["item", "sample"]
    assert created.testing_criteria[0].name == "has the answer"
    assert client.evals.retrieve(created.id).name == "support answers"
    assert created.id in [e.id for e in client.evals.list(order="desc", limit=100)]
    updated = client.evals.update(created.id, name="renamed", metadata={"team": "qa"})
    assert (updated.name, updated.metadata) == ("renamed", {"team": "qa"})
    with pytest.raises(openai.NotFoundError):
        other.evals.retrieve(created.id)  # another project's key sees nothing
    deleted = client.evals.delete(created.id)
    assert deleted.deleted
    assert deleted.eval_id == created.id
    with pytest.raises(openai.NotFoundError):
        client.evals.retrieve(created.id)


@pytest.mark.parametrize(
    ("criteria", "config", "param"),
    [
        ([contains_answer(), contains_answer()], custom(), "testing_criteria"),
        (
            [
                {
                    "type": "label_model",
                    "name": "judge",
                    "model": MODEL,
                    "input": [{"role": "user", "content": "{{item.question}}"}],
                    "labels": ["good", "bad"],
                    "passing_labels": ["great"],
                }
            ],
            custom(),
            "testing_criteria[0].label_model",
        ),
        ([contains_answer()], custom({"type": "objekt"}), "data_source_config.item_schema"),
        (
            [{"type": "python", "name": "p", "source": "def grade(s, i): return 1"}],
            custom(),
            "testing_criteria[0]",
        ),
    ],
    ids=["repeated-names", "passing-label-unknown", "bad-item-schema", "unsupported-grader"],
)
def test_bad_evals_are_refused_naming_the_field(
    client: openai.OpenAI, criteria: list[Any], config: Any, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.evals.create(data_source_config=config, testing_criteria=criteria)
    error = refused.value.body
    assert isinstance(error, dict)
    assert str(error.get("param", "")).startswith(param), error


def test_a_run_grades_each_item_by_every_criterion_and_counts_once(
    client: openai.OpenAI,
) -> None:
    criteria = [
        contains_answer("ilike"),
        {**contains_answer("like"), "operation": "like"},
        {**contains_answer("eq"), "operation": "eq", "input": "{{sample.output_text}}"},
        {**contains_answer("ne"), "operation": "ne"},
    ]
    created = client.evals.create(data_source_config=custom(), testing_criteria=criteria)
    source = given(
        ("Capital of France?", "Paris", "Paris"),
        ("Capital of Italy?", "Rome", "It is ROME."),
        ("Capital of Spain?", "Madrid", "Lisbon"),
    )
    run = client.evals.runs.create(created.id, name="given answers", data_source=source)
    assert run.object == "eval.run"
    assert run.status in ("queued", "in_progress", "completed")
    done = finished(client, created.id, run.id)
    assert done.status == "completed", done.error
    counts = done.result_counts
    assert (counts.total, counts.passed, counts.failed, counts.errored) == (3, 0, 3, 0)
    per = {r.testing_criteria: (r.passed, r.failed) for r in done.per_testing_criteria_results}
    assert per == {"ilike": (2, 1), "like": (1, 2), "eq": (1, 2), "ne": (2, 1)}
    items = items_of(client, created.id, run.id)
    assert sorted(i.datasource_item_id for i in items) == [0, 1, 2]
    paris = next(i for i in items if i.datasource_item_id == 0)
    assert [(r.name, r.passed) for r in paris.results] == [
        ("ilike", True),
        ("like", True),
        ("eq", True),
        ("ne", False),
    ]
    assert paris.results[0].type == "string-check-grader"
    assert paris.datasource_item == {"question": "Capital of France?", "answer": "Paris"}
    # Paged, and one by id.
    page = client.evals.runs.output_items.list(run.id, eval_id=created.id, limit=2)
    assert len(page.data) == 2
    assert page.has_more
    one = client.evals.runs.output_items.retrieve(paris.id, eval_id=created.id, run_id=run.id)
    assert one.id == paris.id
    assert one.eval_id == created.id
    assert [r.id for r in client.evals.runs.list(created.id)] == [run.id]


def test_text_similarity_scores_by_every_metric(client: openai.OpenAI) -> None:
    metrics = ["fuzzy_match", "bleu", "gleu", "meteor"] + [f"rouge_{n}" for n in "12345l"]
    criteria = [
        {
            "type": "text_similarity",
            "name": metric,
            "input": "{{sample.output_text}}",
            "reference": "{{item.answer}}",
            "evaluation_metric": metric,
            "pass_threshold": 0.5,
        }
        for metric in metrics
    ]
    created = client.evals.create(data_source_config=custom(), testing_criteria=criteria)
    sentence = "the quick brown fox jumps over the lazy dog"
    source = given(
        ("same", sentence, sentence),
        ("other", sentence, "a completely unrelated answer about taxes"),
    )
    run = client.evals.runs.create(created.id, data_source=source)
    assert finished(client, created.id, run.id).status == "completed"
    items = {i.datasource_item_id: i for i in items_of(client, created.id, run.id)}
    same = {r.name: r.score for r in items[0].results}
    other = {r.name: r.score for r in items[1].results}
    assert all(score == pytest.approx(1.0) for name, score in same.items() if name != "meteor")
    assert same["meteor"] > 0.9
    assert all(other[m] < 0.5 for m in metrics), other
    assert items[0].status == "pass"
    assert items[1].status == "fail"


def test_a_run_samples_the_model_and_a_label_grader_repeats_itself_for_a_seed(
    client: openai.OpenAI,
) -> None:
    judge = {
        "type": "label_model",
        "name": "judge",
        "model": MODEL,
        "input": [
            {
                "role": "user",
                "content": "Question: {{item.question}}\nAnswer: {{sample.output_text}}\n"
                "Is the answer correct?",
            }
        ],
        "labels": ["correct", "incorrect"],
        "passing_labels": ["correct"],
        "sampling_params": {"seed": 11, "temperature": 0.8},
    }
    created = client.evals.create(
        data_source_config=custom(), testing_criteria=[contains_answer(), judge]
    )
    items = [
        {"question": "What is the capital of France?", "answer": "Paris"},
        {"question": "What is 2+2?", "answer": "4"},
        {"question": "Name a primary colour.", "answer": "red"},
    ]
    labels = []
    for _ in range(2):
        run = client.evals.runs.create(created.id, data_source=generating(items))
        done = finished(client, created.id, run.id)
        assert done.status == "completed", done.error
        assert done.result_counts.errored == 0
        usage = {u.run_model_name: u for u in done.per_model_usage}
        # One sample and one grading call per item, both on the bundled model.
        assert usage[MODEL].invocation_count == 6
        assert usage[MODEL].completion_tokens > 0
        graded = sorted(items_of(client, created.id, run.id), key=lambda i: i.datasource_item_id)
        for item in graded:
            assert item.sample.model == MODEL
            assert item.sample.output[0].content
            assert _label(item) in ("correct", "incorrect")
        labels.append([_label(i) for i in graded])
    assert labels[0] == labels[1]


def _label(item: Any) -> str:
    extra = item.results[1].model_extra or {}
    return str(extra["label"])


def test_an_item_that_cannot_be_graded_is_errored_and_the_run_goes_on(
    client: openai.OpenAI,
) -> None:
    schema = {"type": "object", "properties": {"question": {"type": "string"}}}
    created = client.evals.create(
        data_source_config=custom(schema), testing_criteria=[contains_answer()]
    )
    # The second item has no answer for the template to name.
    items = [{"question": "Say Paris.", "answer": "Paris"}, {"question": "Say Rome."}]
    run = client.evals.runs.create(created.id, data_source=generating(items))
    done = finished(client, created.id, run.id)
    assert done.status == "completed"
    assert (done.result_counts.total, done.result_counts.errored) == (2, 1)
    errored = items_of(client, created.id, run.id, status="error")
    assert [e.datasource_item_id for e in errored] == [1]
    assert errored[0].sample.error.code == "template_error"
    assert "item.answer" in errored[0].sample.error.message
    # A model that is not served: every item errored with the reason, the run completes.
    unknown = client.evals.runs.create(
        created.id, data_source=generating(items[:1], model="no-such-model")
    )
    done = finished(client, created.id, unknown.id)
    assert done.status == "completed"
    assert done.result_counts.errored == 1
    (item,) = items_of(client, created.id, unknown.id)
    assert item.sample.error.code == "model_not_found"


def test_run_items_are_checked_against_the_eval_before_the_run_exists(
    client: openai.OpenAI,
) -> None:
    created = client.evals.create(data_source_config=custom(), testing_criteria=[contains_answer()])
    bad = {
        "type": "jsonl",
        "source": {
            "type": "file_content",
            "content": [
                {"item": {"question": "ok", "answer": "ok"}},
                {"item": {"question": 7, "answer": "x"}},
            ],
        },
    }
    with pytest.raises(openai.BadRequestError) as refused:
        client.evals.runs.create(created.id, data_source=bad)
    error = refused.value.body
    assert isinstance(error, dict)
    assert error["param"] == "data_source.source.content[1].item.question", error
    with pytest.raises(openai.NotFoundError):
        client.evals.runs.create(
            created.id,
            data_source={"type": "jsonl", "source": {"type": "file_id", "id": "file-nope"}},
        )
    with pytest.raises(openai.BadRequestError):  # a model without input messages
        client.evals.runs.create(
            created.id,
            data_source={
                "type": "completions",
                "model": MODEL,
                "source": {"type": "file_content", "content": [{"item": {}}]},
            },
        )
    assert list(client.evals.runs.list(created.id)) == []


def test_cancel_stops_a_run_within_a_second(client: openai.OpenAI, server: Server) -> None:
    created = client.evals.create(data_source_config=custom(), testing_criteria=[contains_answer()])
    items = [
        {"question": f"Write a long story about the number {n}.", "answer": "x"} for n in range(60)
    ]
    source = generating(items)
    source["sampling_params"]["max_completion_tokens"] = 200
    run = client.evals.runs.create(created.id, data_source=source)
    wait_for(
        lambda: bool(items_of(client, created.id, run.id)), timeout=RUN_TIMEOUT_S, what="an item"
    )
    cancelled = client.evals.runs.cancel(run.id, eval_id=created.id)
    assert cancelled.status == "canceled"
    graded = len(items_of(client, created.id, run.id))
    began = time.monotonic()
    wait_for(lambda: _evals_running(server) == 0, timeout=5, what="the run to stop")
    assert time.monotonic() - began < 2.5
    assert len(items_of(client, created.id, run.id)) == graded < 60
    assert client.evals.runs.retrieve(run.id, eval_id=created.id).status == "canceled"
    deleted = client.evals.runs.delete(run.id, eval_id=created.id)
    assert deleted.deleted
    assert deleted.run_id == run.id


def _evals_running(server: Server) -> float:
    text = httpx.get(
        server.base_url + "/metrics", headers={"Authorization": f"Bearer {server.admin_key}"}
    ).text
    for line in text.splitlines():
        if line.startswith('workhorse_jobs_running{type="eval_run"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_feedback_becomes_a_dataset_and_the_dataset_a_run(client: openai.OpenAI) -> None:
    tag = f"loop-{time.monotonic_ns()}"
    answer = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Reply with the word Paris."}],
        max_tokens=8,
        temperature=0,
        store=True,
    )
    client.post(
        "/feedback",
        cast_to=object,
        body={
            "subject": {"type": "chat_completion", "id": answer.id},
            "rating": "down",
            "correction": "Paris",
            "tags": [tag],
        },
    )
    dataset: Any = client.post("/feedback/datasets", cast_to=object, body={"tag": [tag]})
    assert dataset["purpose"] == "evals"
    reference = {
        "type": "string_check",
        "name": "matches the correction",
        "input": "{{sample.output_text}}",
        "reference": "{{item.reference}}",
        "operation": "ilike",
    }
    created = client.evals.create(
        data_source_config=custom({"type": "object"}), testing_criteria=[reference]
    )
    source = {
        "type": "completions",
        "source": {"type": "file_id", "id": dataset["id"]},
        "model": MODEL,
        "input_messages": {"type": "item_reference", "item_reference": "item.input"},
        "sampling_params": {"seed": 1, "temperature": 0, "max_completion_tokens": 8},
    }
    run = client.evals.runs.create(created.id, data_source=source)
    done = finished(client, created.id, run.id)
    assert done.status == "completed"
    assert done.result_counts.total == 1
    (item,) = items_of(client, created.id, run.id)
    assert item.datasource_item["reference"] == "Paris"
    assert item.datasource_item["rating"] == "down"
    assert item.sample.input[0].content == "Reply with the word Paris."


def test_stored_completions_are_graded_as_they_were_answered(client: openai.OpenAI) -> None:
    marker = f"m{time.monotonic_ns()}"
    for word in ("alpha", "beta"):
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"Say {word}."}],
            max_tokens=6,
            store=True,
            metadata={"batch": marker},
        )
    answered = {
        "type": "string_check",
        "name": "answered",
        "input": "{{sample.output_text}}",
        "reference": "",
        "operation": "ne",
    }
    created = client.evals.create(
        data_source_config={"type": "stored_completions", "metadata": {"batch": marker}},
        testing_criteria=[answered],
    )
    assert created.data_source_config.type == "stored_completions"
    source = {
        "type": "completions",
        "source": {"type": "stored_completions", "metadata": {"batch": marker}},
    }
    run = client.evals.runs.create(created.id, data_source=source)
    done = finished(client, created.id, run.id)
    assert done.status == "completed"
    assert done.result_counts.total == 2
    asked = sorted(
        i.datasource_item["input"][0]["content"] for i in items_of(client, created.id, run.id)
    )
    assert asked == ["Say alpha.", "Say beta."]
    assert done.per_model_usage == []  # nothing was generated


FACTS = [
    ("What is the name of the Workhorse mascot?", "Quillon"),
    ("Which city hosts the Workhorse archive?", "Tarvessa"),
    ("What colour is the Workhorse vault door?", "vermilion"),
]


def test_answers_grounded_by_file_search_pass_more_items(client: openai.OpenAI) -> None:
    text = (
        "Workhorse facts.\n"
        "The Workhorse mascot is a zebra named Quillon.\n"
        "The Workhorse archive is kept in the city of Tarvessa.\n"
        "The Workhorse vault door is painted vermilion.\n"
    )
    document = client.files.create(
        file=("facts.txt", io.BytesIO(text.encode())), purpose="assistants"
    )
    store = client.vector_stores.create(name="facts", file_ids=[document.id])
    wait_for(
        lambda: client.vector_stores.retrieve(store.id).file_counts.completed == 1,
        timeout=RUN_TIMEOUT_S,
        what="the facts to be indexed",
    )
    created = client.evals.create(data_source_config=custom(), testing_criteria=[contains_answer()])
    items = [{"question": q, "answer": a} for q, a in FACTS]
    plain = client.evals.runs.create(created.id, name="plain", data_source=generating(items))
    grounded = client.evals.runs.create(
        created.id,
        name="grounded",
        data_source=generating(items, file_search={"vector_store_ids": [store.id]}),
    )
    without = finished(client, created.id, plain.id)
    with_search = finished(client, created.id, grounded.id)
    assert without.status == with_search.status == "completed"
    assert with_search.result_counts.passed > without.result_counts.passed
    sample = items_of(client, created.id, grounded.id)[0].sample
    assert sample.model_extra is not None
    assert sample.model_extra["file_search_results"]


def test_an_eval_and_a_run_can_be_created_over_soap(server: Server, client: openai.OpenAI) -> None:
    created = _soap(
        server,
        "CreateEval",
        {
            "name": "over soap",
            "data_source_config": custom({"type": "object"}),
            "testing_criteria": [contains_answer()],
        },
    )
    eval_id = _field(created, "id")
    assert "<wh:schema>" in created
    assert client.evals.retrieve(eval_id).name == "over soap"
    body = {"eval_id": eval_id, "data_source": given(("q", "a", "A"))}
    run_id = _field(_soap(server, "CreateEvalRun", body), "id")
    assert finished(client, eval_id, run_id).result_counts.passed == 1


def _field(answer: str, name: str) -> str:
    return answer.split(f"<wh:{name}>", 1)[1].split(f"</wh:{name}>", 1)[0]


def _soap(server: Server, operation: str, body: dict[str, Any]) -> str:
    envelope = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<{operation} xmlns="urn:workhorse">{_xml(body)}</{operation}></soap:Body></soap:Envelope>'
    )
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": operation,
        "Authorization": f"Bearer {server.api_key}",
    }
    answer = httpx.post(server.base_url + "/soap", content=envelope.encode(), headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.text


def _xml(value: Any, tag: str | None = None) -> str:
    """A body in the XML mapping of docs/formats.md."""
    if isinstance(value, dict):
        inner = "".join(_xml(v, k) for k, v in value.items())
        attributes = "" if value else ' type="object"'
    elif isinstance(value, list):
        inner = "".join(_xml(v, "item") for v in value)
        attributes = ' type="array"'
    else:
        inner = str(value).lower() if isinstance(value, bool) else str(value)
        attributes = ""
    return f"<{tag}{attributes}>{inner}</{tag}>" if tag else inner
