"""A run's items, fixed when it is created: read from its data source, checked against
the eval's item schema, written to the run's items file (no HTTP).

Every item is checked before the run exists, so a bad item is a 400 that names it
(``data_source.source.content[3].item``, or the file's line), never a run that fails
half-way. The file is written beside its final name, flushed, then renamed, and its
checksum is kept with the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from workhorse.api.evals.run_schemas import (
    FileContentSource,
    FileIdSource,
    ResponsesSource,
    RunCreateRequest,
    StoredCompletionsSource,
)
from workhorse.api.feedback.service import completion_exchange_of, response_exchange_of
from workhorse.container import Container
from workhorse.errors import InvalidRequest, NotFound

Entry = dict[str, Any]
"""``{"item": {...}, "sample": {...}}``, as a line of the items file."""


def item_validator(item_schema: dict[str, Any], param: str) -> Draft202012Validator:
    """A validator of items by the eval's schema (400 when the schema is no JSON Schema)."""
    try:
        Draft202012Validator.check_schema(item_schema)
    except SchemaError as exc:
        raise InvalidRequest(
            f"item_schema is not a JSON Schema: {exc.message}", param=param
        ) from exc
    return Draft202012Validator(item_schema)


def _check(entry: Any, where: str, validator: Draft202012Validator | None, max_bytes: int) -> bytes:
    """The entry as a line of the items file, once it is found to be a good item."""
    if not isinstance(entry, dict) or not isinstance(entry.get("item"), dict):
        raise InvalidRequest(f'{where}: each item is an object with an "item" object', param=where)
    sample = entry.get("sample")
    if sample is not None and not isinstance(sample, dict):
        raise InvalidRequest(f"{where}.sample: a sample is an object", param=where)
    if validator is not None:
        error = next(iter(validator.iter_errors(entry["item"])), None)
        if error is not None:
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
            raise InvalidRequest(
                f"{where}.item{path}: {error.message} (the eval's item_schema)",
                param=f"{where}.item{path}",
            )
    kept: Entry = {"item": entry["item"]}
    if sample is not None:
        kept["sample"] = sample
    line = (json.dumps(kept, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    if len(line) > max_bytes:
        raise InvalidRequest(f"{where}: an item is at most {max_bytes} bytes as JSON", param=where)
    return line


def _file_lines(path: Path, where: str) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield f"{where} line {number}", json.loads(raw)
            except ValueError as exc:
                raise InvalidRequest(
                    f"{where} line {number} is not JSON: {exc}", param="data_source.source.id"
                ) from exc


def _unix(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


async def _completions(
    container: Container, owner: str, source: StoredCompletionsSource
) -> AsyncIterator[tuple[str, Any]]:
    after, taken = None, 0
    while True:
        page, more = await container.chat_completions.page(
            owner,
            model=source.model,
            metadata=source.metadata or {},
            after=after,
            limit=100,
            order="asc",
        )
        for stored in page:
            created = int(stored.completion.get("created", 0))
            if source.created_after is not None and created < source.created_after:
                continue
            if source.created_before is not None and created >= source.created_before:
                continue
            exchange = completion_exchange_of(stored)
            output = exchange["output"] or ""
            yield (
                f"stored completion {stored.id}",
                {
                    "item": {
                        **exchange,
                        "id": stored.id,
                        "metadata": stored.completion["metadata"],
                    },
                    "sample": {
                        "output_text": output,
                        "output": [{"role": "assistant", "content": output}],
                        "model": exchange["model"],
                    },
                },
            )
            taken += 1
            if source.limit is not None and taken >= source.limit:
                return
        if not more or not page:
            return
        after = page[-1].id


async def _responses(
    container: Container, owner: str, source: ResponsesSource
) -> AsyncIterator[tuple[str, Any]]:
    taken = 0
    batches = container.responses.each_stored(
        owner,
        model=source.model,
        since=_unix(source.created_after),
        until=_unix(source.created_before),
    )
    async for batch in batches:
        for stored in batch:
            metadata = stored.object.get("metadata") or {}
            if any(metadata.get(k) != v for k, v in (source.metadata or {}).items()):
                continue
            instructions = stored.object.get("instructions") or ""
            if source.instructions_search and source.instructions_search not in instructions:
                continue
            exchange = response_exchange_of(stored)
            yield (
                f"stored response {stored.id}",
                {
                    "item": {**exchange, "id": stored.id, "metadata": metadata},
                    "sample": {
                        "output_text": exchange["output"],
                        "output": [{"role": "assistant", "content": exchange["output"]}],
                        "model": exchange["model"],
                    },
                },
            )
            taken += 1
            if source.limit is not None and taken >= source.limit:
                return


async def _entries(
    container: Container, owner: str, request: RunCreateRequest
) -> AsyncIterator[tuple[str, Any]]:
    source = request.data_source.source
    if isinstance(source, FileContentSource):
        for i, given in enumerate(source.content):
            yield f"data_source.source.content[{i}]", given.model_dump(exclude_none=True)
    elif isinstance(source, FileIdSource):
        record = await container.files.get(owner, source.id)
        path = container.blobs.path(record.sha256) if record is not None else None
        if path is None or not path.exists():
            raise NotFound(f"No such File object: {source.id}", param="data_source.source.id")
        for entry in _file_lines(path, f"file {source.id}"):
            yield entry
    elif isinstance(source, StoredCompletionsSource):
        async for entry in _completions(container, owner, source):
            yield entry
    else:
        async for entry in _responses(container, owner, source):
            yield entry


@dataclass(frozen=True)
class WrittenItems:
    sha256: str
    total: int


BATCH = 500
"""Items checked and written per trip to a worker thread (the checks are CPU work)."""


async def write_items(
    container: Container,
    owner: str,
    request: RunCreateRequest,
    validator: Draft202012Validator | None,
    target: Path,
) -> WrittenItems:
    """Check every item of the request's data source and write them to ``target``."""
    settings = container.settings
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest, total = hashlib.sha256(), 0

    def write(batch: list[tuple[str, Any]], handle: BinaryIO) -> None:
        for where, entry in batch:
            line = _check(entry, where, validator, settings.eval_max_item_bytes)
            digest.update(line)
            handle.write(line)

    try:
        with partial.open("wb") as handle:
            batch: list[tuple[str, Any]] = []
            async for entry in _entries(container, owner, request):
                batch.append(entry)
                total += 1
                if total > settings.eval_max_items:
                    raise InvalidRequest(
                        f"a run has at most {settings.eval_max_items} items",
                        param="data_source.source",
                    )
                if len(batch) == BATCH:
                    await asyncio.to_thread(write, batch, handle)
                    batch = []
            await asyncio.to_thread(write, batch, handle)
            handle.flush()
            await asyncio.to_thread(os.fsync, handle.fileno())
        if total == 0:
            raise InvalidRequest("the data source holds no items", param="data_source.source")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return WrittenItems(digest.hexdigest(), total)
