"""The client of ``workhorse eval run``: a running server's Evals API (OpenAI's), spoken
over HTTP, so the runs are what any client's would be: durable, listed, their output
items kept.

It starts runs (a POST that got no answer is sent again under one Idempotency-Key),
polls them to their end, cancels them, pages their output items and reads the eval;
and it finds the items the runs disagree on. What the command shows of all that, the
progress bars and the tables, is ``workhorse.cli.evals``'s.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    # Imported where it is used: every ``workhorse`` command imports this module (through
    # ``workhorse.cli.evals``), and httpx would add a tenth to their start.
    import httpx

POLL_S = 0.5
PAGE = 100
ENDED = ("completed", "failed", "canceled")
POST_ATTEMPTS = 3
"""A POST that got no answer is sent again, with the same Idempotency-Key."""
TIMEOUT_S = 60


class EvalError(Exception):
    """The server refused a step, or could not be reached; the message says which."""


class TimedOut(Exception):
    """The runs had not all ended by the deadline."""


def ended(run: dict[str, Any]) -> bool:
    """Whether the run, as last read, has ended (completed, failed or canceled)."""
    return run["status"] in ENDED


@dataclass(frozen=True)
class RunPlan:
    """What every run of the command does; only the model differs between them."""

    file_id: str
    prompt: str | None = None
    system: str | None = None
    vector_store_ids: tuple[str, ...] = ()
    seed: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    name: str | None = None

    def body(self, model: str, eval_name: str) -> dict[str, Any]:
        """The ``POST /v1/evals/{eval_id}/runs`` body of ``model``'s run."""
        if self.prompt is None:
            messages: dict[str, Any] = {"type": "item_reference", "item_reference": "item.input"}
        else:
            system = [{"role": "system", "content": self.system}] if self.system else []
            template = [*system, {"role": "user", "content": self.prompt}]
            messages = {"type": "template", "template": template}
        given = {
            "seed": self.seed,
            "temperature": self.temperature,
            "max_completion_tokens": self.max_tokens,
        }
        source: dict[str, Any] = {
            "type": "completions",
            "source": {"type": "file_id", "id": self.file_id},
            "model": model,
            "input_messages": messages,
            "sampling_params": {k: v for k, v in given.items() if v is not None},
        }
        if self.vector_store_ids:
            source["file_search"] = {"vector_store_ids": list(self.vector_store_ids)}
        name = self.name or f"{eval_name}: {model}"
        return {"name": name[:256], "data_source": source}


class EvalClient:
    """A server's Evals API, its refusals and unreachability raised as ``EvalError``."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def get(self, path: str, what: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path``'s JSON body; ``what`` names the step in an ``EvalError``."""
        import httpx

        try:
            response = self.http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise EvalError(f"cannot reach the server at {self.http.base_url}: {exc}") from exc
        return _body(response, what)

    def post(self, path: str, what: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST, sent again when no answer came or the server was briefly unavailable; one
        Idempotency-Key for all the tries, so the server acts on it once."""
        import httpx

        headers = {"Idempotency-Key": str(uuid.uuid4())}
        for attempt in range(1, POST_ATTEMPTS + 1):
            try:
                response = self.http.post(path, json=body, headers=headers)
            except httpx.TransportError as exc:
                if attempt == POST_ATTEMPTS:
                    raise EvalError(
                        f"cannot reach the server at {self.http.base_url}: {exc}"
                    ) from exc
            else:
                if attempt == POST_ATTEMPTS or not _passing_trouble(response):
                    return _body(response, what)
            time.sleep(attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def read_eval(self, eval_id: str) -> dict[str, Any]:
        """The eval object, its testing criteria among it."""
        return self.get(f"/v1/evals/{quote(eval_id, safe='')}", f"reading eval {eval_id}")

    def start_run(self, eval_id: str, model: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a run of the eval (``body``: ``RunPlan.body``); the run as created."""
        return self.post(f"/v1/evals/{eval_id}/runs", f"starting a run of {model}", body)

    def read_run(self, eval_id: str, run_id: str) -> dict[str, Any]:
        """The run as it is now: its status and result counts."""
        return self.get(f"/v1/evals/{eval_id}/runs/{run_id}", f"reading run {run_id}")

    def cancel_run(self, eval_id: str, run_id: str) -> dict[str, Any]:
        """Cancel the run; the run as the server answered."""
        return self.post(f"/v1/evals/{eval_id}/runs/{run_id}/cancel", f"cancelling run {run_id}")

    def output_items(self, eval_id: str, run_id: str) -> Iterator[dict[str, Any]]:
        """Every output item of the run, page by page."""
        params: dict[str, Any] = {"limit": PAGE}
        while True:
            page = self.get(
                f"/v1/evals/{eval_id}/runs/{run_id}/output_items",
                f"reading the output items of run {run_id}",
                params,
            )
            yield from page["data"]
            if not page["has_more"] or not page["data"]:
                return
            params["after"] = page["last_id"]

    def items_by_index(self, eval_id: str, run_id: str) -> dict[int, dict[str, Any]]:
        """The run's output items by the index of the data source item they answer."""
        return {item["datasource_item_id"]: item for item in self.output_items(eval_id, run_id)}


@contextmanager
def connect(base_url: str, api_key: str) -> Iterator[EvalClient]:
    """An ``EvalClient`` of the server at ``base_url``, sending ``api_key``."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT_S) as http:
        yield EvalClient(http)


def follow(
    client: EvalClient,
    eval_id: str,
    runs: Sequence[dict[str, Any]],
    deadline: float,
    on_read: Callable[[int, dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Poll the runs until every one has ended, calling ``on_read(index, run)`` after each
    read; the runs as they ended. ``TimedOut`` past ``deadline`` (``time.monotonic``)."""
    latest = list(runs)
    while True:
        for index, run in enumerate(latest):
            if not ended(run):
                latest[index] = client.read_run(eval_id, run["id"])
                on_read(index, latest[index])
        if all(ended(run) for run in latest):
            return latest
        if time.monotonic() > deadline:
            raise TimedOut
        time.sleep(POLL_S)


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        error: dict[str, Any] = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return {"message": response.text[:200]}
    return error


def _passing_trouble(response: httpx.Response) -> bool:
    """An answer worth trying again: the server (or a proxy) briefly unavailable, or an
    earlier try with the same key still being answered."""
    if response.status_code in (502, 503, 504):
        return True
    return response.status_code == 409 and _error(response).get("code") == (
        "idempotency_key_in_progress"
    )


def _body(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise EvalError(f"{what}: {response.status_code} {_error(response).get('message')}")
    body: dict[str, Any] = response.json()
    return body
