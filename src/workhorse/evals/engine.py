"""The run engine: every item of a run sampled (where the data source asks a model),
graded by each testing criterion, and recorded once.

The engine runs a run its worker has claimed. It reads the run's items file, skips the
items already recorded (a run taken over after a crash goes on where it stopped), and
grades the rest ``concurrency`` at a time, so that a batching model serves several at
once. A heartbeat every ``poll_s`` extends the lease and learns of a cancel or a
deletion, which stops the items in flight at once. An item whose generation or grader
fails is recorded ``error`` with its reason; the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from workhorse.errors import BudgetExceeded, RateLimited, WorkhorseError
from workhorse.evals.graders import Answer, GradeFailed, Judge, grade, render_messages
from workhorse.evals.similarity import Similarity
from workhorse.evals.templates import TemplateError, lookup, reference_path
from workhorse.store.eval_items import (
    ERROR,
    FAIL,
    PASS,
    EvalItemStore,
    GradedItem,
    ModelUsage,
    NotHeld,
)
from workhorse.store.eval_runs import COMPLETED, FAILED, EvalRunStore, RunRecord
from workhorse.store.evals import EvalStore

log = logging.getLogger("workhorse.evals")

RATE_LIMIT_ATTEMPTS = 30
"""How often an item's model call is made again while queues are full or limits hit."""
MAX_WAIT_S = 10.0


@dataclass(frozen=True)
class Generated(Answer):
    """A sample's answer, with what file search gave the model (when asked)."""

    file_search_results: list[dict[str, Any]] | None = None


class Generator(Protocol):
    """Runs models on behalf of a run (paid by the key that created it)."""

    async def generate(
        self,
        run: RunRecord,
        model: str,
        messages: list[dict[str, str]],
        sampling: dict[str, Any],
        *,
        labels: Sequence[str] = (),
        number: bool = False,
        file_search: dict[str, Any] | None = None,
    ) -> Generated:
        """The model's answer to ``messages``; a ``WorkhorseError`` when it fails."""
        ...


def items_path(data_dir: Path, run_id: str) -> Path:
    """Where a run's items are kept, one ``{"item": …, "sample": …}`` a line."""
    return data_dir / "evals" / f"{run_id}.jsonl"


def read_items(path: Path, sha256: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The items of a run, once the file is found to be what was written when the run
    was created (``ItemsUnreadable`` otherwise)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ItemsUnreadable(f"the run's items file is gone ({exc.strerror})") from exc
    if digest.hexdigest() != sha256:
        raise ItemsUnreadable("the run's items file was changed after the run was created")

    def lines() -> Iterator[tuple[int, dict[str, Any]]]:
        with path.open("rb") as handle:
            for index, line in enumerate(handle):
                yield index, json.loads(line)

    return lines()


class ItemsUnreadable(Exception):
    """A run's items file is missing or not what was written."""


def _sampling(data_source: dict[str, Any]) -> dict[str, Any]:
    return dict(data_source.get("sampling_params") or {})


def _input_messages(
    data_source: dict[str, Any], namespaces: dict[str, Any]
) -> list[dict[str, str]]:
    given = data_source.get("input_messages") or {}
    if given.get("type") == "item_reference":
        value = lookup(reference_path(given["item_reference"]), namespaces)
        if isinstance(value, str):
            return [{"role": "user", "content": value}]
        if isinstance(value, list) and all(isinstance(m, dict) and "role" in m for m in value):
            return render_messages(value, {})
        raise TemplateError(f"{given['item_reference']} is neither text nor a list of messages")
    return render_messages(given.get("template") or [], namespaces)


def _file_search(data_source: dict[str, Any]) -> dict[str, Any] | None:
    """Workhorse's ``file_search`` of a completions source, or a responses source's tool."""
    if data_source.get("file_search"):
        return dict(data_source["file_search"])
    for tool in _sampling(data_source).get("tools") or []:
        if isinstance(tool, dict) and tool.get("type") == "file_search":
            return {k: v for k, v in tool.items() if k != "type"}
    return None


def _sample(run: RunRecord, messages: list[dict[str, str]], answer: Generated) -> dict[str, Any]:
    sampling = _sampling(run.data_source)
    sample: dict[str, Any] = {
        "input": messages,
        "output": [{"role": "assistant", "content": answer.text}],
        "output_text": answer.text,
        "model": answer.model,
        "finish_reason": answer.finish_reason,
        "usage": {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
            "cached_tokens": 0,
        },
        "seed": sampling.get("seed"),
        "temperature": sampling.get("temperature"),
        "top_p": sampling.get("top_p"),
        "max_completion_tokens": sampling.get("max_completion_tokens"),
        "error": None,
    }
    if answer.file_search_results is not None:
        sample["file_search_results"] = answer.file_search_results
    return sample


def _given_sample(entry: dict[str, Any]) -> dict[str, Any]:
    """A sample that came with the item (a ``jsonl`` source, stored logs)."""
    sample = dict(entry.get("sample") or {})
    if "output_text" not in sample:
        outputs = sample.get("output") or []
        texts = [o.get("content", "") for o in outputs if isinstance(o, dict)]
        sample["output_text"] = "".join(t for t in texts if isinstance(t, str))
    return sample


@dataclass
class _Progress:
    run: RunRecord
    token: str
    stopped: bool = False
    workers: list[asyncio.Task[None]] = field(default_factory=list)


class RunEngine:
    """Grades the items of claimed runs."""

    def __init__(
        self,
        evals: EvalStore,
        runs: EvalRunStore,
        items: EvalItemStore,
        generator: Generator,
        similarity: Similarity,
        data_dir: Path,
        *,
        concurrency: int,
        lease: timedelta,
        poll_s: float = 1.0,
    ) -> None:
        self._evals = evals
        self._runs = runs
        self._items = items
        self._generator = generator
        self._similarity = similarity
        self._data_dir = data_dir
        self._concurrency = max(1, concurrency)
        self._lease = lease
        self._poll_s = poll_s

    async def run(self, run: RunRecord, token: str) -> str | None:
        """Grade what is left of ``run``; how it ended (``completed`` or ``failed``), or
        None when it stopped because it was canceled, deleted or taken over."""
        try:
            criteria = (await self._evals.get(run.owner, run.eval_id)).testing_criteria
        except WorkhorseError:  # deleted with its eval
            return None
        done = await self._items.done(run.id)
        try:
            path = items_path(self._data_dir, run.id)
            items = await asyncio.to_thread(read_items, path, run.items_sha256)
        except ItemsUnreadable as exc:
            error = {"code": "items_unreadable", "message": str(exc)}
            return FAILED if await self._runs.finish(run.id, token, FAILED, error) else None
        source = ((i, e) for i, e in items if i not in done)
        progress = _Progress(run, token)
        beat = asyncio.create_task(self._beat(progress), name=f"beat-{run.id}")
        try:
            progress.workers = [
                asyncio.create_task(self._work(progress, criteria, source))
                for _ in range(self._concurrency)
            ]
            results = await asyncio.gather(*progress.workers, return_exceptions=True)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        if progress.stopped or any(isinstance(r, NotHeld) for r in results):
            return None
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
        if await self._runs.finish(run.id, token, COMPLETED):
            return COMPLETED
        return None

    async def _beat(self, progress: _Progress) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            held = await self._runs.heartbeat(progress.run.id, progress.token, self._lease)
            if not held:
                progress.stopped = True
                for worker in progress.workers:
                    worker.cancel()
                return

    async def _work(
        self,
        progress: _Progress,
        criteria: list[dict[str, Any]],
        source: Iterator[tuple[int, dict[str, Any]]],
    ) -> None:
        for index, entry in source:
            graded = await self._grade(progress.run, criteria, index, entry)
            await self._items.record(progress.run.id, progress.token, graded)

    async def _grade(
        self, run: RunRecord, criteria: list[dict[str, Any]], index: int, entry: dict[str, Any]
    ) -> GradedItem:
        item = entry.get("item") or {}
        usage: list[ModelUsage] = []
        messages: list[dict[str, str]] = []
        data_source = run.data_source
        try:
            model = data_source.get("model")
            if data_source["type"] != "jsonl" and model:
                namespaces = {"item": item}
                messages = _input_messages(data_source, namespaces)
                answer = await _patiently(
                    lambda: self._generator.generate(
                        run,
                        model,
                        messages,
                        _sampling(data_source),
                        file_search=_file_search(data_source),
                    )
                )
                usage.append(
                    ModelUsage(answer.model, answer.prompt_tokens, answer.completion_tokens)
                )
                sample = _sample(run, messages, answer)
            else:
                sample = _given_sample(entry)
            namespaces = {"item": item, "sample": sample}
            judge = _judge(self._generator, run)
            results = []
            for criterion in criteria:
                graded = await grade(criterion, namespaces, judge, self._similarity)
                results.append(graded.result)
                if graded.usage is not None:
                    usage.append(graded.usage)
        except (WorkhorseError, GradeFailed, TemplateError) as exc:
            code, message = _reason(exc)
        except Exception as exc:  # a bug must not stop the run: the item says what broke
            log.exception("an eval item failed unexpectedly", extra={"run": run.id})
            code, message = "server_error", f"the item could not be graded ({type(exc).__name__})"
        else:
            status = PASS if all(r["passed"] for r in results) else FAIL
            return GradedItem(index, status, item, results, sample, usage)
        failed = {"input": messages, "output": [], "error": {"code": code, "message": message}}
        return GradedItem(index, ERROR, item, [], failed, usage)


def _reason(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, GradeFailed):
        return exc.code, exc.message
    if isinstance(exc, TemplateError):
        return "template_error", str(exc)
    assert isinstance(exc, WorkhorseError)
    return exc.code or exc.error_type, exc.message


def _judge(generator: Generator, run: RunRecord) -> Judge:
    async def judge(
        model: str,
        messages: list[dict[str, str]],
        sampling: dict[str, Any],
        *,
        labels: Sequence[str] = (),
        number: bool = False,
    ) -> Answer:
        return await _patiently(
            lambda: generator.generate(run, model, messages, sampling, labels=labels, number=number)
        )

    return judge


async def _patiently(call: Callable[[], Awaitable[Generated]]) -> Generated:
    """The call, made again while the model's queue or a rate limit turns it away (not a
    budget: that is spent until an operator says otherwise)."""
    for attempt in range(RATE_LIMIT_ATTEMPTS):
        try:
            return await call()
        except BudgetExceeded:
            raise
        except RateLimited as exc:
            if attempt == RATE_LIMIT_ATTEMPTS - 1:
                raise
            wait = exc.headers.get("Retry-After", "1")
            await asyncio.sleep(min(MAX_WAIT_S, float(wait) if wait.isdigit() else 1.0))
    raise AssertionError("unreachable")
