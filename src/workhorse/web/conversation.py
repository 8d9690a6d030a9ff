"""What the console shows of a conversation: its turns, oldest first, each answer with
its model, citations and rating, and the answer still being generated with the place in
its event log where the page's stream picks up.

A conversation's items are appended when an answer completes; an answer that is still
running, was stopped or failed is not among them, so its turns come from its stored
response (its input and the output it had), placed by the time it was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workhorse.api.conversations.items import StoredItem, item_text
from workhorse.container import Container
from workhorse.responses.events import ResponseBuilder
from workhorse.store.responses import StoredResponse
from workhorse.web.passages import passage_href

TURNS_SHOWN = 200
RUNNING = ("queued", "in_progress")
APPENDED = ("completed", "incomplete")


@dataclass(frozen=True)
class Citation:
    """A passage an answer drew on: the file it is in, and the page that shows it."""

    file_id: str
    filename: str
    href: str | None = None


@dataclass
class Turn:
    """One message as the console shows it."""

    role: str
    text: str
    at: datetime
    response_id: str | None = None
    model: str | None = None
    status: str = "completed"
    citations: list[Citation] = field(default_factory=list)
    rating: str | None = None
    comment: str | None = None
    after: int = -1
    """For an answer being generated: the last event the page already shows."""

    @property
    def running(self) -> bool:
        return self.status in RUNNING


@dataclass(frozen=True)
class ConversationView:
    """A conversation's page."""

    id: str
    title: str
    turns: list[Turn]
    earlier: bool
    """Whether older turns exist than those shown."""

    @property
    def running(self) -> Turn | None:
        return next((t for t in reversed(self.turns) if t.running), None)


def title_of(metadata: dict[str, str], created_at: datetime) -> str:
    return metadata.get("title") or f"Conversation of {created_at:%Y-%m-%d %H:%M}"


def _found_passages(response: StoredResponse) -> dict[str, dict[str, Any]]:
    """The best search result of each file the answer's file search found, by file id."""
    best: dict[str, dict[str, Any]] = {}
    for output in response.object.get("output", []):
        if output.get("type") == "file_search_call":
            for result in output.get("results") or []:
                best.setdefault(str(result.get("file_id")), result)
    return best


def _citations(message: dict[str, Any], response: StoredResponse) -> list[Citation]:
    found = _found_passages(response)
    seen: dict[str, Citation] = {}
    for part in message.get("content", []):
        for note in part.get("annotations", []) or []:
            if note.get("type") != "file_citation" or not note.get("file_id"):
                continue
            file_id = str(note["file_id"])
            result = found.get(file_id)
            href = None
            if result is not None and result.get("vector_store_id"):
                href = passage_href(str(result["vector_store_id"]), file_id, str(result["text"]))
            seen.setdefault(file_id, Citation(file_id, str(note.get("filename") or file_id), href))
    return list(seen.values())


def _answer(
    response: StoredResponse, message: dict[str, Any] | None, status: str, at: datetime
) -> Turn:
    return Turn(
        role="assistant",
        text=item_text(message) if message is not None else "",
        at=at,
        response_id=response.id,
        model=response.model,
        status=status,
        citations=_citations(message, response) if message is not None else [],
    )


def _messages(output: list[Any]) -> list[dict[str, Any]]:
    return [o for o in output if o.get("type") == "message" and o.get("role") == "assistant"]


def _item_turn(item: StoredItem, at: datetime, answers: dict[str, StoredResponse]) -> Turn | None:
    if item.get("type") != "message":
        return None
    role = str(item.get("role", "user"))
    response = answers.get(str(item.get("id")))
    if role == "assistant" and response is not None:
        return _answer(response, dict(item), response.status, at)
    return Turn(role="user" if role == "user" else role, text=item_text(item), at=at)


async def _unappended(container: Container, response: StoredResponse) -> list[Turn]:
    """The turns of an answer that is not among the conversation's items."""
    asked = [
        Turn(role=str(i.get("role", "user")), text=item_text(i), at=response.created_at)
        for i in response.input_items
        if i.get("type") == "message"
    ]
    current, after = response.object, -1
    if response.status in RUNNING:
        events = await container.responses.events_after(response.id, -1, limit=10_000_000)
        current = ResponseBuilder.replay(response.object, events).current()
        after = events[-1]["sequence_number"] if events else -1
    messages = _messages(current.get("output", []))
    last = messages[-1] if messages else None
    answer = _answer(response, last, response.status, response.created_at)
    answer.after = after
    return [*asked, answer]


async def view(container: Container, owner: str, conversation_id: str) -> ConversationView:
    """The conversation's page as it stands now."""
    record = await container.conversations.get(owner, conversation_id)
    items, earlier = await container.conversations.recent_items(
        owner, conversation_id, limit=TURNS_SHOWN
    )
    responses = await container.responses.in_conversation(owner, conversation_id)
    answers = {
        str(message["id"]): r
        for r in responses
        if r.status in APPENDED
        for message in _messages(r.object.get("output", []))
    }
    turns = [t for item, at in items if (t := _item_turn(item, at, answers)) is not None]
    oldest = items[0][1] if items and earlier else None
    for response in responses:
        if response.status in APPENDED:
            continue
        if oldest is not None and response.created_at < oldest:
            continue
        turns.extend(await _unappended(container, response))
    turns.sort(key=lambda t: t.at)  # stable: a turn's own order is kept
    rated = [t.response_id for t in turns if t.response_id is not None]
    ratings = await container.feedback.latest_of(owner, "response", rated)
    for turn in turns:
        found = ratings.get(turn.response_id or "")
        if found is not None:
            turn.rating, turn.comment = found.rating, found.comment
    return ConversationView(record.id, title_of(record.metadata, record.created_at), turns, earlier)
