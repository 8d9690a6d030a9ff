"""The graders over rendered items, with a scripted judge for the model graders."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from workhorse.evals.graders import Answer, Graded, GradeFailed, grade
from workhorse.evals.similarity import Similarity

NAMESPACES = {"item": {"answer": "Paris"}, "sample": {"output_text": "It is PARIS."}}


class Scripted:
    """A judge that answers what it is told to, and remembers what it was asked."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.asked: list[dict[str, Any]] = []

    async def __call__(
        self,
        model: str,
        messages: list[dict[str, str]],
        sampling: dict[str, Any],
        *,
        labels: Sequence[str] = (),
        number: bool = False,
    ) -> Answer:
        self.asked.append({"messages": messages, "labels": list(labels), "number": number})
        return Answer(self.text, model, "stop", 10, 2)


def graded_by(
    criterion: dict[str, Any], namespaces: Any, judge: Scripted, similarity: Similarity
) -> Graded:
    return asyncio.run(grade(criterion, namespaces, judge, similarity))


@pytest.fixture
def similarity(tmp_path: Path) -> Similarity:
    return Similarity(tmp_path)


def check(operation: str) -> dict[str, Any]:
    return {
        "type": "string_check",
        "name": operation,
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": operation,
    }


@pytest.mark.parametrize(
    ("operation", "passed"), [("eq", False), ("ne", True), ("like", False), ("ilike", True)]
)
def test_string_check_operations(operation: str, passed: bool, similarity: Similarity) -> None:
    graded = graded_by(check(operation), NAMESPACES, Scripted(""), similarity)
    assert graded.result["passed"] is passed
    assert graded.result["score"] == (1.0 if passed else 0.0)
    assert graded.result["type"] == "string-check-grader"


def labeler() -> dict[str, Any]:
    return {
        "type": "label_model",
        "name": "judge",
        "model": "m",
        "input": [{"role": "developer", "content": "Grade {{sample.output_text}}"}],
        "labels": ["good", "bad"],
        "passing_labels": ["good"],
    }


def test_a_label_model_grader_passes_on_a_passing_label(similarity: Similarity) -> None:
    judge = Scripted("good")
    graded = graded_by(labeler(), NAMESPACES, judge, similarity)
    assert graded.result["passed"] is True
    assert graded.result["label"] == "good"
    assert graded.usage is not None
    assert graded.usage.prompt_tokens == 10
    (asked,) = judge.asked
    assert asked["labels"] == ["good", "bad"]
    assert asked["messages"][0] == {"role": "system", "content": "Grade It is PARIS."}


def test_an_upstream_label_comes_back_as_json(similarity: Similarity) -> None:
    graded = graded_by(labeler(), NAMESPACES, Scripted('{"label": "bad"}'), similarity)
    assert graded.result["passed"] is False


def test_a_label_outside_the_labels_fails_the_grade(similarity: Similarity) -> None:
    with pytest.raises(GradeFailed) as failed:
        graded_by(labeler(), NAMESPACES, Scripted("maybe"), similarity)
    assert failed.value.code == "grader_answer_invalid"


@pytest.mark.parametrize(
    ("said", "threshold", "passed"),
    [("7", None, True), ("4", None, False), ("4", 3.5, True), ('{"score": 9.5}', 9.0, True)],
)
def test_a_score_model_grader_passes_at_its_threshold(
    said: str, threshold: float | None, passed: bool, similarity: Similarity
) -> None:
    criterion = {
        "type": "score_model",
        "name": "score",
        "model": "m",
        "input": [{"role": "user", "content": "Score {{sample.output_text}}"}],
        "range": [0, 10],
        "pass_threshold": threshold,
    }
    graded = graded_by(criterion, NAMESPACES, Scripted(said), similarity)
    assert graded.result["passed"] is passed


def test_a_score_outside_the_range_fails_the_grade(similarity: Similarity) -> None:
    criterion = {
        "type": "score_model",
        "name": "score",
        "model": "m",
        "input": [{"role": "user", "content": "Score it"}],
    }
    with pytest.raises(GradeFailed):
        graded_by(criterion, NAMESPACES, Scripted("3"), similarity)


def test_a_template_naming_nothing_fails_the_grade(similarity: Similarity) -> None:
    criterion = {**check("eq"), "reference": "{{item.missing}}"}
    with pytest.raises(GradeFailed) as failed:
        graded_by(criterion, NAMESPACES, Scripted(""), similarity)
    assert failed.value.code == "template_error"
    assert "item.missing" in failed.value.message
