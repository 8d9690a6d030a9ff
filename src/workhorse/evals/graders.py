"""The graders of OpenAI's Evals API, with its field names and semantics.

- ``string_check``: ``eq`` / ``ne`` compare the rendered ``input`` and ``reference``;
  ``like`` passes when the input contains the reference, ``ilike`` the same ignoring
  case. Score 1 or 0.
- ``text_similarity``: a metric of ``similarity`` from 0 to 1; passes at
  ``pass_threshold`` or above.
- ``label_model``: a model reads the rendered ``input`` messages and answers with one of
  ``labels`` (held to them by a grammar on llama.cpp, a JSON schema upstream); passes
  when the label is one of ``passing_labels``.
- ``score_model``: a model answers with a number in ``range`` (default 0 to 1); passes at
  ``pass_threshold``, or without one at the middle of the range or above.

A grader that cannot grade (a template naming nothing, a model that failed or answered
outside its labels or range) raises ``GradeFailed``: the item is ``errored`` with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from workhorse.evals.similarity import Similarity
from workhorse.evals.templates import Namespaces, TemplateError, render
from workhorse.store.eval_items import ModelUsage


@dataclass(frozen=True)
class Answer:
    """What a model answered, with its token counts."""

    text: str
    model: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class Judge(Protocol):
    """Asks a configured model (embedded, fine-tuned or upstream) to grade."""

    async def __call__(
        self,
        model: str,
        messages: list[dict[str, str]],
        sampling: dict[str, Any],
        *,
        labels: Sequence[str] = (),
        number: bool = False,
    ) -> Answer:
        """The model's answer: one of ``labels`` when given, a number when ``number``."""
        ...


class GradeFailed(Exception):
    """A grader could not grade the item."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Graded:
    """One criterion's result for one item (OpenAI's output item ``results`` entry)."""

    result: dict[str, Any]
    usage: ModelUsage | None = None


def message_text(content: Any, namespaces: Namespaces) -> str:
    """The rendered text of a message's content: a string, a text part, or a list."""
    if isinstance(content, str):
        return render(content, namespaces)
    if isinstance(content, dict):
        return render(str(content.get("text", "")), namespaces)
    if isinstance(content, list):
        return "".join(message_text(part, namespaces) for part in content)
    return ""


def render_messages(messages: list[dict[str, Any]], namespaces: Namespaces) -> list[dict[str, str]]:
    """Template messages as chat messages (``developer`` is ``system`` to the models)."""
    return [
        {
            "role": "system" if m["role"] == "developer" else m["role"],
            "content": message_text(m.get("content", ""), namespaces),
        }
        for m in messages
    ]


def _result(criterion: dict[str, Any], score: float, passed: bool, **extra: Any) -> dict[str, Any]:
    kind = str(criterion["type"])
    return {
        "name": criterion["name"],
        "type": kind.replace("_", "-") + "-grader",
        "score": score,
        "passed": passed,
        **extra,
    }


def _string_check(criterion: dict[str, Any], namespaces: Namespaces) -> Graded:
    given = render(criterion["input"], namespaces)
    reference = render(criterion["reference"], namespaces)
    operation = criterion["operation"]
    if operation == "eq":
        passed = given == reference
    elif operation == "ne":
        passed = given != reference
    elif operation == "like":
        passed = reference in given
    else:  # ilike
        passed = reference.casefold() in given.casefold()
    return Graded(_result(criterion, 1.0 if passed else 0.0, passed))


def _text_similarity(
    criterion: dict[str, Any], namespaces: Namespaces, similarity: Similarity
) -> Graded:
    given = render(criterion["input"], namespaces)
    reference = render(criterion["reference"], namespaces)
    score = similarity.score(criterion["evaluation_metric"], given, reference)
    return Graded(_result(criterion, score, score >= float(criterion["pass_threshold"])))


def _parsed(text: str, key: str) -> str:
    """The answer of a constrained model: ``{"<key>": …}`` from upstreams, bare here."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return stripped
        if isinstance(data, dict) and key in data:
            return str(data[key])
    return stripped


def _judged(criterion: dict[str, Any], messages: list[dict[str, str]], answer: Answer) -> Any:
    return {
        "input": messages,
        "output": [{"role": "assistant", "content": answer.text}],
        "model": answer.model,
        "finish_reason": answer.finish_reason,
        "usage": {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
            "cached_tokens": 0,
        },
    }


async def _label_model(criterion: dict[str, Any], namespaces: Namespaces, judge: Judge) -> Graded:
    labels = [str(label) for label in criterion["labels"]]
    messages = render_messages(criterion["input"], namespaces)
    told = "Answer with exactly one of these labels: " + ", ".join(labels)
    asked = [*messages, {"role": "system", "content": told}]
    sampling = criterion.get("sampling_params") or {}
    answer = await judge(criterion["model"], asked, sampling, labels=labels)
    label = _parsed(answer.text, "label")
    usage = ModelUsage(answer.model, answer.prompt_tokens, answer.completion_tokens)
    if label not in labels:
        raise GradeFailed(
            "grader_answer_invalid",
            f"the {criterion['model']!r} grader answered {label[:80]!r}, not one of its labels",
        )
    passed = label in criterion["passing_labels"]
    sample = _judged(criterion, asked, answer)
    return Graded(
        _result(criterion, 1.0 if passed else 0.0, passed, label=label, sample=sample), usage
    )


async def _score_model(criterion: dict[str, Any], namespaces: Namespaces, judge: Judge) -> Graded:
    low, high = (float(v) for v in criterion.get("range") or (0.0, 1.0))
    messages = render_messages(criterion["input"], namespaces)
    told = f"Answer with a single number from {low:g} to {high:g}."
    asked = [*messages, {"role": "system", "content": told}]
    answer = await judge(
        criterion["model"], asked, criterion.get("sampling_params") or {}, number=True
    )
    usage = ModelUsage(answer.model, answer.prompt_tokens, answer.completion_tokens)
    said = _parsed(answer.text, "score")
    try:
        score = float(said)
    except ValueError:
        score = float("nan")
    if not low <= score <= high:
        raise GradeFailed(
            "grader_answer_invalid",
            f"the {criterion['model']!r} grader answered {said[:80]!r}, not a number "
            f"from {low:g} to {high:g}",
        )
    threshold = criterion.get("pass_threshold")
    passed = score >= (float(threshold) if threshold is not None else (low + high) / 2)
    sample = _judged(criterion, asked, answer)
    return Graded(_result(criterion, score, passed, sample=sample), usage)


async def grade(
    criterion: dict[str, Any], namespaces: Namespaces, judge: Judge, similarity: Similarity
) -> Graded:
    """Grade one item by one testing criterion."""
    try:
        kind = criterion["type"]
        if kind == "string_check":
            return _string_check(criterion, namespaces)
        if kind == "text_similarity":
            return _text_similarity(criterion, namespaces, similarity)
        if kind == "label_model":
            return await _label_model(criterion, namespaces, judge)
        if kind == "score_model":
            return await _score_model(criterion, namespaces, judge)
    except TemplateError as exc:
        raise GradeFailed("template_error", f"{criterion['name']}: {exc}") from exc
    raise GradeFailed("grader_unsupported", f"graders of type {kind!r} are not supported")
