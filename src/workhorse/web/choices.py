"""What a visitor's forms may offer: the chat models and knowledge bases of their key."""

from __future__ import annotations

from dataclasses import dataclass

from workhorse.container import Container
from workhorse.governance.keys import ApiKeyRecord, Scope
from workhorse.web.session import Visitor

KNOWLEDGE_BASES_OFFERED = 100


@dataclass(frozen=True)
class Choice:
    """One option of a select."""

    value: str
    label: str


async def chat_models(container: Container, key: ApiKeyRecord) -> list[str]:
    """The chat models served here that ``key`` may use, its project's fine-tuned ones
    included."""
    served = container.models.chat_ids()
    tuned = [m.id for m in await container.fine_tuned.all() if m.owner == key.project_id]
    return [m for m in dict.fromkeys(served + tuned) if key.allows_model(m)]


async def knowledge_bases(container: Container, visitor: Visitor) -> list[Choice]:
    """The project's vector stores, newest first (none without the knowledge scope)."""
    if not visitor.may(Scope.KNOWLEDGE, "GET"):
        return []
    records, _ = await container.vector_stores.page(
        visitor.key.project_id, limit=KNOWLEDGE_BASES_OFFERED, after=None, order="desc"
    )
    return [Choice(r.id, r.name or r.id) for r in records]
