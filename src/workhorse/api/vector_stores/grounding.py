"""Answers grounded in vector stores: retrieve chunks, put them in the prompt, cite them.

Used by the ``file_search`` tool of the Responses API and by the ``file_search``
extension field of chat completions. The excerpts go in a system message, numbered, each
with its file name and location, within a budget of the model's context (half of it,
counted at about four characters a token); the answer cites the files whose excerpts it
was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workhorse.api.vector_stores.schemas import FileSearch
from workhorse.api.vector_stores.service import Retrieved, retrieve_chunks
from workhorse.container import Container
from workhorse.governance.meter import Meter
from workhorse.providers.base import ChatMessage

CHARS_PER_TOKEN = 4
DEFAULT_BUDGET_TOKENS = 4096


@dataclass(frozen=True)
class Grounding:
    """What was found for a query, and what the model is given."""

    query: str
    results: list[Retrieved]

    def message(self) -> ChatMessage | None:
        """The system message with the excerpts (None when nothing was found)."""
        if not self.results:
            return None
        parts = [
            "Answer from these excerpts of the user's files when they are relevant; "
            "if they do not contain the answer, say so."
        ]
        for number, found in enumerate(self.results, start=1):
            where = f", {found.location}" if found.location else ""
            parts.append(f"[{number}] {found.filename}{where}:\n{found.text}")
        return ChatMessage("system", "\n\n".join(parts))

    def citations(self, index: int) -> list[dict[str, Any]]:
        """A ``file_citation`` for each file given, at ``index`` in the answer."""
        seen: dict[str, Retrieved] = {}
        for found in self.results:
            seen.setdefault(found.file_id, found)
        return [
            {"type": "file_citation", "file_id": f.file_id, "filename": f.filename, "index": index}
            for f in seen.values()
        ]

    def result_items(self) -> list[dict[str, Any]]:
        """The results as the API shows them (``include=["file_search_call.results"]``)."""
        return [
            {
                "file_id": f.file_id,
                "filename": f.filename,
                "score": f.score,
                "text": f.text,
                "attributes": f.attributes,
                "vector_store_id": f.vector_store_id,
                "location": f.location,
            }
            for f in self.results
        ]


async def ground(
    container: Container,
    meter: Meter,
    search: FileSearch,
    query: str,
    *,
    context_window: int | None,
) -> Grounding:
    """Search the stores for ``query`` and keep what fits the model's context budget."""
    found = await retrieve_chunks(
        container,
        meter,
        search.vector_store_ids,
        query,
        limit=search.max_num_results,
        filters=search.filters.model_dump() if search.filters else None,
        score_threshold=search.ranking_options.score_threshold if search.ranking_options else None,
    )
    budget = (context_window // 2 if context_window else DEFAULT_BUDGET_TOKENS) * CHARS_PER_TOKEN
    kept: list[Retrieved] = []
    for result in found:
        budget -= len(result.text) + len(result.filename) + 16
        if budget < 0:
            break
        kept.append(result)
    return Grounding(query, kept)


def grounding_from_json(data: dict[str, Any]) -> Grounding:
    """A grounding stored with a response (for a generation taken over after a crash)."""
    return Grounding(
        data["query"],
        [
            Retrieved(
                vector_store_id=r["vector_store_id"],
                file_id=r["file_id"],
                filename=r["filename"],
                score=r["score"],
                text=r["text"],
                location=r["location"],
                attributes=r["attributes"],
            )
            for r in data["results"]
        ],
    )


def grounding_to_json(grounding: Grounding) -> dict[str, Any]:
    """The inverse of ``grounding_from_json``."""
    return {"query": grounding.query, "results": grounding.result_items()}
