"""Feedback: subjects checked and read, ratings stored, listed and exported (no HTTP)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from workhorse.api.conversations.items import item_text, to_chat_messages
from workhorse.api.feedback.schemas import (
    FeedbackCreateRequest,
    FeedbackDatasetRequest,
    FeedbackList,
    FeedbackListQuery,
    FeedbackObject,
    FeedbackQuery,
    Subject,
)
from workhorse.api.files.schemas import FileObject
from workhorse.api.files.service import keep
from workhorse.container import Container
from workhorse.errors import NotFound
from workhorse.governance.meter import Meter
from workhorse.http.multipart import ReceivedFile
from workhorse.store.chat_completions import StoredCompletion
from workhorse.store.feedback import Feedback, FeedbackFilters
from workhorse.store.messages import KeptMessage
from workhorse.store.responses import StoredResponse

SCORE_RANGE = (1.0, 5.0)
"""The declared range of numeric ratings (``schemas.Score``)."""

Exchange = dict[str, Any]
"""The rated exchange: ``input`` (the messages before the answer), ``output``, ``model``."""


def response_exchange_of(found: StoredResponse) -> Exchange:
    output = [
        part.get("text", "")
        for item in found.object.get("output", [])
        if item.get("type") == "message"
        for part in item.get("content", [])
        if part.get("type") == "output_text"
    ]
    instructions = found.object.get("instructions")
    before = [{"role": "system", "content": instructions}] if instructions else []
    messages = to_chat_messages(found.input_items)
    return {
        "input": before + [{"role": m.role, "content": m.content} for m in messages],
        "output": "".join(output),
        "model": found.model,
    }


async def _response_exchange(container: Container, owner: str, subject: Subject) -> Exchange:
    found = await container.responses.get(owner, subject.id, param="subject.id")
    return response_exchange_of(found)


def completion_exchange_of(found: StoredCompletion) -> Exchange:
    choices = found.completion.get("choices") or [{}]
    return {
        "input": [{"role": m["role"], "content": m["content"]} for m in found.messages],
        "output": (choices[0].get("message") or {}).get("content"),
        "model": found.completion.get("model"),
    }


async def _completion_exchange(container: Container, owner: str, subject: Subject) -> Exchange:
    try:
        found = await container.chat_completions.get(owner, subject.id)
    except NotFound as exc:
        raise NotFound(exc.message, param="subject.id") from exc
    return completion_exchange_of(found)


async def _item_exchange(container: Container, owner: str, subject: Subject) -> Exchange:
    assert subject.conversation_id is not None
    conversations = container.conversations
    item = await conversations.get_item(owner, subject.conversation_id, subject.id)
    earlier, _ = await conversations.list_items(
        owner, subject.conversation_id, after=subject.id, limit=20, order="desc"
    )
    messages = to_chat_messages(list(reversed(earlier)))
    return {
        "input": [{"role": m.role, "content": m.content} for m in messages],
        "output": item_text(item),
        "model": None,
    }


def message_exchange_of(found: KeptMessage) -> Exchange:
    return {"input": found.input, "output": found.output, "model": found.model}


async def exchange(container: Container, owner: str, subject: Subject) -> Exchange:
    """The rated exchange; 404 when the subject does not exist in the caller's project."""
    if subject.type == "response":
        return await _response_exchange(container, owner, subject)
    if subject.type == "chat_completion":
        return await _completion_exchange(container, owner, subject)
    if subject.type == "message":
        kept = await container.stored_messages.get(owner, subject.id, param="subject.id")
        return message_exchange_of(kept)
    return await _item_exchange(container, owner, subject)


def to_object(feedback: Feedback) -> FeedbackObject:
    numeric = feedback.rating == "score"
    return FeedbackObject(
        id=feedback.id,
        created_at=feedback.created_at,
        subject=Subject(
            type=feedback.subject_type,
            id=feedback.subject_id,
            conversation_id=feedback.conversation_id,
        ),
        model=feedback.model,
        rating=feedback.score if numeric else feedback.rating,
        comment=feedback.comment,
        tags=feedback.tags,
        correction=feedback.correction,
        metadata=feedback.metadata,
        latest=feedback.latest,
    )


async def create(
    container: Container, owner: str, api_key_id: str, body: FeedbackCreateRequest
) -> FeedbackObject:
    """Check the subject is the caller's, and store the rating as its latest."""
    rated = await exchange(container, owner, body.subject)
    numeric = not isinstance(body.rating, str)
    feedback = Feedback(
        id="fb_" + secrets.token_hex(16),
        subject_type=body.subject.type,
        subject_id=body.subject.id,
        conversation_id=body.subject.conversation_id,
        model=rated["model"],
        rating="score" if numeric else str(body.rating),
        score=float(body.rating) if numeric else (1.0 if body.rating == "up" else 0.0),
        scale_min=SCORE_RANGE[0] if numeric else None,
        scale_max=SCORE_RANGE[1] if numeric else None,
        comment=body.comment,
        correction=body.correction,
        tags=list(dict.fromkeys(body.tags)),
        metadata=dict(body.metadata or {}),
        latest=True,
        created_at=int(time.time()),
        api_key_id=api_key_id,
    )
    return to_object(await container.feedback.add(owner, feedback))


def filters_of(query: FeedbackQuery) -> FeedbackFilters:
    return FeedbackFilters(
        subject_type=query.subject_type,
        subject_id=query.subject_id,
        rating=query.rating,
        model=query.model,
        tags=tuple(query.tag),
        since=query.since,
        until=query.until,
        history=query.history,
    )


async def list_feedback(container: Container, owner: str, query: FeedbackListQuery) -> FeedbackList:
    records, more = await container.feedback.page(
        owner, filters_of(query), after=query.after, limit=query.limit
    )
    data = [to_object(r) for r in records]
    return FeedbackList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )


async def exchanges(
    container: Container, owner: str, batch: list[Feedback]
) -> list[Exchange | None]:
    """The exchange of each rating of ``batch`` (None where its subject was deleted since):
    responses, completions and messages in one query each, conversation items one by one."""
    ids = {kind: [f.subject_id for f in batch if f.subject_type == kind] for kind in KINDS}
    responses = await container.responses.get_many(owner, ids["response"])
    completions = await container.chat_completions.get_many(owner, ids["chat_completion"])
    messages = await container.stored_messages.get_many(owner, ids["message"])
    found: list[Exchange | None] = []
    for feedback in batch:
        if feedback.subject_type == "response":
            response = responses.get(feedback.subject_id)
            found.append(response_exchange_of(response) if response else None)
        elif feedback.subject_type == "chat_completion":
            completion = completions.get(feedback.subject_id)
            found.append(completion_exchange_of(completion) if completion else None)
        elif feedback.subject_type == "message":
            message = messages.get(feedback.subject_id)
            found.append(message_exchange_of(message) if message else None)
        else:
            try:
                found.append(await exchange(container, owner, record_subject(feedback)))
            except NotFound:
                found.append(None)
    return found


KINDS = ("response", "chat_completion", "message", "conversation_item")


async def export_lines(
    container: Container, owner: str, query: FeedbackQuery
) -> AsyncIterator[bytes]:
    """One JSON line per rating: the rating and the exchange it rates, oldest first,
    read in batches so that memory stays flat however many there are. A subject deleted
    since it was rated is exported with ``"exchange": null``."""
    async for batch in container.feedback.each(owner, filters_of(query)):
        lines = []
        for feedback, rated in zip(batch, await exchanges(container, owner, batch), strict=True):
            record = to_object(feedback).model_dump(mode="json")
            record["exchange"] = rated
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        yield "".join(lines).encode()


def record_subject(feedback: Feedback) -> Subject:
    return Subject(
        type=feedback.subject_type,
        id=feedback.subject_id,
        conversation_id=feedback.conversation_id,
    )


async def dataset_lines(
    container: Container, owner: str, request: FeedbackDatasetRequest
) -> AsyncIterator[bytes]:
    """The lines of an eval dataset made of ratings (see ``FeedbackDatasetRequest``)."""
    async for batch in container.feedback.each(owner, filters_of(request)):
        if request.corrected_only:
            batch = [f for f in batch if f.correction]
        for feedback, rated in zip(batch, await exchanges(container, owner, batch), strict=True):
            if rated is None:
                continue  # its subject was deleted since: nothing to evaluate on
            rating = to_object(feedback)
            item = {
                "input": rated["input"],
                "output": rated["output"],
                "reference": feedback.correction,
                "rating": rating.rating,
                "model": rated["model"],
                "subject": rating.subject.model_dump(mode="json", exclude_none=True),
                "tags": feedback.tags,
            }
            yield (json.dumps({"item": item}, ensure_ascii=False) + "\n").encode()


async def make_dataset(
    container: Container, meter: Meter, request: FeedbackDatasetRequest
) -> FileObject:
    """Write the dataset to a file of ``purpose: evals`` (streamed to disk as it is made)."""
    folder = container.settings.data_dir / "tmp" / "uploads"
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    path = folder / f"dataset-{secrets.token_hex(16)}"
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("wb") as handle:
            async for line in dataset_lines(container, meter.project_id, request):
                digest.update(line)
                size += len(line)
                await asyncio.to_thread(handle.write, line)
        upload = ReceivedFile(path, request.filename, "application/jsonl", size, digest.hexdigest())
        return await keep(container, meter.project_id, "evals", request.filename, upload, meter)
    finally:
        path.unlink(missing_ok=True)
