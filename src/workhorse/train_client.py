"""``workhorse train FILE.jsonl``: upload a chat training file to a running server, start
a fine-tuning job on it, and follow the job with a progress bar over its steps, showing
the training (and validation) loss as it falls.

It speaks the server's own HTTP API (the Files and Fine-tuning endpoints), so the job is
exactly what any client's would be: durable, resumable, cancellable. Stopping the
command (Ctrl-C) stops following, never the job.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

POLL_S = 0.5
PAGE = 100
ENDED = ("succeeded", "failed", "cancelled")
WAITING = {
    "validating_files": "validating files",
    "queued": "queued",
    "running": "training",
    "paused": "paused (resume it to go on)",
}


class TrainError(Exception):
    """The server refused a step, or could not be reached; the message says which."""


@dataclass(frozen=True)
class JobRequest:
    """What to train: the files and the settings given (``None``: the server decides)."""

    training: Path
    model: str
    validation: Path | None = None
    n_epochs: int | None = None
    batch_size: int | None = None
    learning_rate_multiplier: float | None = None
    suffix: str | None = None
    seed: int | None = None

    def body(self, training_file: str, validation_file: str | None) -> dict[str, Any]:
        """The ``POST /v1/fine_tuning/jobs`` body."""
        given = {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }
        hyperparameters = {k: v for k, v in given.items() if v is not None}
        body: dict[str, Any] = {"model": self.model, "training_file": training_file}
        optional = {
            "validation_file": validation_file,
            "hyperparameters": hyperparameters or None,
            "suffix": self.suffix,
            "seed": self.seed,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body


@dataclass
class Outcome:
    """The job as last seen, and whether following stopped before it ended."""

    job: dict[str, Any]
    interrupted: bool = False


@dataclass
class EventFollower:
    """Reads a job's new events, oldest first.

    The API lists events newest first and pages towards older ones (``after`` is the
    oldest event already read), so each poll reads from the newest event back to the
    first one seen before.
    """

    job_id: str
    seen: set[str] = field(default_factory=set)

    def poll(self, http: httpx.Client) -> list[dict[str, Any]]:
        """The events written since the last poll, oldest first."""
        fresh: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE, **({"after": after} if after else {})}
            page = _check(
                _get(http, f"/v1/fine_tuning/jobs/{self.job_id}/events", params=params),
                "reading the job's events",
            )
            events: list[dict[str, Any]] = page["data"]
            for event in events:
                if event["id"] in self.seen:
                    return self._take(fresh)
                fresh.append(event)
            if not page["has_more"] or not events:
                return self._take(fresh)
            after = events[-1]["id"]

    def _take(self, newest_first: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.seen.update(e["id"] for e in newest_first)
        return list(reversed(newest_first))


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise TrainError(f"{what}: {response.status_code} {message}")
    body: dict[str, Any] = response.json()
    return body


def _get(http: httpx.Client, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return http.get(path, **kwargs)
    except httpx.HTTPError as exc:
        raise TrainError(f"cannot reach the server at {http.base_url}: {exc}") from exc


def _post(http: httpx.Client, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return http.post(path, **kwargs)
    except httpx.HTTPError as exc:
        raise TrainError(f"cannot reach the server at {http.base_url}: {exc}") from exc


def upload(http: httpx.Client, path: Path) -> str:
    """Upload a JSONL file with purpose ``fine-tune``; its file id."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise TrainError(f"{path}: {exc.strerror or exc}") from exc
    with stream:
        response = _post(
            http,
            "/v1/files",
            data={"purpose": "fine-tune"},
            files={"file": (path.name, stream, "application/jsonl")},
        )
    return str(_check(response, f"uploading {path}")["id"])


class _Display:
    """The progress bar: the job's state until its first step, then steps and losses."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID = progress.add_task("validating files", total=None, loss="")
        self.train_loss: float | None = None
        self.valid_loss: float | None = None

    def status(self, status: str) -> None:
        self.progress.update(self.task, description=WAITING.get(status, status))

    def event(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        if event["type"] == "metrics":
            self.train_loss = data.get("train_loss", self.train_loss)
            self.valid_loss = data.get("valid_loss", self.valid_loss)
            self.progress.update(
                self.task,
                total=data.get("total_steps"),
                completed=data.get("step", 0),
                loss=self._losses(),
            )
            return
        if "total_steps" in data:  # the start of training, before its first step
            self.progress.update(self.task, total=data["total_steps"])
        if event["level"] != "error":  # the job's error is printed once, at the end
            style = "yellow" if event["level"] == "warn" else "dim"
            self.progress.console.print(f"[{style}]{escape(event['message'])}[/{style}]")

    def _losses(self) -> str:
        shown = f"loss {self.train_loss:.4f}" if self.train_loss is not None else ""
        if self.valid_loss is not None:
            shown += f"  validation loss {self.valid_loss:.4f}"
        return shown


def _follow(http: httpx.Client, job: dict[str, Any], display: _Display) -> dict[str, Any]:
    """Poll the job and its events until it ends; the job as it ended."""
    follower = EventFollower(job["id"])
    while True:
        # The job before its events: every event written up to its end is then read.
        job = _check(_get(http, f"/v1/fine_tuning/jobs/{job['id']}"), "reading the job")
        display.status(job["status"])
        for event in follower.poll(http):
            display.event(event)
        if job["status"] in ENDED:
            return job
        time.sleep(POLL_S)


def train(request: JobRequest, *, base_url: str, api_key: str, console: Console) -> Outcome:
    """Upload the files, create the job and follow it to its end (or to Ctrl-C)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=600) as http:
        training_file = upload(http, request.training)
        validation_file = upload(http, request.validation) if request.validation else None
        job = _check(
            _post(
                http,
                "/v1/fine_tuning/jobs",
                json=request.body(training_file, validation_file),
            ),
            "creating the fine-tuning job",
        )
        console.print(f"created fine-tuning job {job['id']} on {job['model']}")
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[loss]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            try:
                return Outcome(_follow(http, job, _Display(progress)))
            except KeyboardInterrupt:
                return Outcome(job, interrupted=True)


def report(outcome: Outcome) -> Iterator[str]:
    """Lines of rich markup that say how the job ended (or that it goes on)."""
    job = outcome.job
    if outcome.interrupted:
        yield (
            f"stopped following; the job {job['id']} goes on on the server "
            f"(cancel it with POST /v1/fine_tuning/jobs/{job['id']}/cancel)"
        )
        return
    yield f"job {job['id']} {job['status']}"
    if job["status"] == "succeeded":
        yield f"fine-tuned model: [bold]{escape(str(job['fine_tuned_model']))}[/bold]"
        yield f"trained tokens: {job['trained_tokens']}"
    elif job["status"] == "failed":
        error = job.get("error") or {}
        yield f"[red]error: {escape(str(error.get('message') or 'no reason given'))}[/red]"
