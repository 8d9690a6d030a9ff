"""``workhorse ingest PATH... --vector-store NAME``: upload files and folders to a running
server, add them to a vector store (created if missing), follow their ingestion with a
progress bar, and end with a table of what failed and why.

It speaks the server's own HTTP API (the Files and Vector Stores endpoints), so the files
land exactly as any client's would: deduplicated, durable, retried.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

BATCH = 500
POLL_S = 0.5


class IngestError(Exception):
    """The server refused a step; the message says which and why."""


@dataclass
class Outcome:
    """What happened to the files given."""

    completed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason)."""


def files_under(paths: list[Path]) -> Iterator[Path]:
    """Every regular file named or inside the folders named (hidden ones skipped), sorted."""
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in found.relative_to(path).parts)
                if found.is_file() and not hidden:
                    yield found
        elif path.is_file():
            yield path
        else:
            raise IngestError(f"{path}: no such file or folder")


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise IngestError(f"{what}: {response.status_code} {message}")
    body: dict[str, Any] = response.json()
    return body


def _store_id(http: httpx.Client, name: str) -> str:
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
        page = _check(http.get("/v1/vector_stores", params=params), "listing vector stores")
        for store in page["data"]:
            if store["name"] == name:
                return str(store["id"])
        if not page["has_more"]:
            break
        after = page["last_id"]
    created = _check(http.post("/v1/vector_stores", json={"name": name}), "creating the store")
    return str(created["id"])


def ingest_paths(
    paths: list[Path], *, store_name: str, base_url: str, api_key: str, console: Console
) -> Outcome:
    """Upload, add and follow every file; the outcome per file."""
    files = list(files_under(paths))
    outcome = Outcome()
    if not files:
        return outcome
    headers = {"Authorization": f"Bearer {api_key}"}
    with (
        httpx.Client(base_url=base_url, headers=headers, timeout=600) as http,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        store_id = _store_id(http, store_name)
        uploading = progress.add_task("uploading", total=len(files))
        by_id: dict[str, list[Path]] = {}
        for path in files:
            with path.open("rb") as stream:
                response = http.post(
                    "/v1/files",
                    data={"purpose": "assistants"},
                    files={"file": (path.name, stream)},
                )
            try:
                file_id = str(_check(response, f"uploading {path}")["id"])
            except IngestError as exc:
                outcome.failed.append((str(path), str(exc)))
            else:
                by_id.setdefault(file_id, []).append(path)
            progress.advance(uploading)
        ids = list(by_id)
        for start in range(0, len(ids), BATCH):
            _check(
                http.post(
                    f"/v1/vector_stores/{store_id}/file_batches",
                    json={"file_ids": ids[start : start + BATCH]},
                ),
                "adding the files to the store",
            )
        indexing = progress.add_task("indexing", total=len(ids))
        pending = set(ids)
        while pending:
            for file_id in list(pending):
                state = _check(
                    http.get(f"/v1/vector_stores/{store_id}/files/{file_id}"), "following"
                )
                if state["status"] == "in_progress":
                    continue
                pending.discard(file_id)
                progress.advance(indexing)
                for path in by_id[file_id]:
                    if state["status"] == "completed":
                        outcome.completed.append(str(path))
                    else:
                        error = state.get("last_error") or {}
                        reason = error.get("message") or state["status"]
                        outcome.failed.append((str(path), reason))
            if pending:
                time.sleep(POLL_S)
    return outcome


def summary(outcome: Outcome, store_name: str) -> Table:
    """The table of files that failed, and why."""
    table = Table(
        title=f"{len(outcome.completed)} indexed into {store_name!r}, {len(outcome.failed)} failed"
    )
    table.add_column("file")
    table.add_column("why it failed")
    for path, reason in outcome.failed:
        table.add_row(path, reason)
    return table
