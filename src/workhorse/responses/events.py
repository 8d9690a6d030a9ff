"""The typed event stream of a response, built as the model generates.

``ResponseBuilder`` keeps the response object and numbers every event: ``response.created``,
``response.in_progress``, then per output item ``response.output_item.added``, its
content or arguments events, ``response.output_item.done``, and one terminal event
(``response.completed``, ``response.incomplete``, ``response.failed`` or
``response.cancelled``). ``ResponseBuilder.replay`` rebuilds the state from a stored log,
so a generation taken over after a crash continues the same log without a gap or a
repeat.
"""

from __future__ import annotations

import copy
from typing import Any

from workhorse.api.conversations.items import new_item_id, text_part
from workhorse.providers.base import ToolCall

Json = dict[str, Any]

TERMINAL = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
    "response.cancelled": "cancelled",
}


def usage(input_tokens: int, output_tokens: int) -> Json:
    """The Responses API usage object."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


class ResponseBuilder:
    """Turns model output into numbered events and keeps the response object current."""

    def __init__(self, response: Json, next_seq: int = 0) -> None:
        self.response = response
        self.next_seq = next_seq
        self.pending: list[Json] = []
        self._message: Json | None = None
        self.text = ""
        """Text of the message being written (kept across a takeover)."""
        self.citations: list[Json] = []
        """Annotations the answer's text gets when it is done (``file_citation``)."""

    @classmethod
    def replay(cls, response: Json, events: list[Json]) -> ResponseBuilder:
        """The builder as it stood after ``events`` (a stored log, in order)."""
        builder = cls(response, next_seq=len(events))
        for event in events:
            kind = event["type"]
            if kind in ("response.created", "response.in_progress"):
                builder.response.update(status=event["response"]["status"], output=[], usage=None)
            elif kind == "response.output_item.added":
                item = copy.deepcopy(event["item"])
                builder.response["output"].append(item)
                if item["type"] == "message":
                    builder._message = item
                    builder.text = ""
            elif kind == "response.content_part.added" and builder._message is not None:
                builder._message["content"].append(copy.deepcopy(event["part"]))
            elif kind == "response.output_text.delta":
                builder.text += event["delta"]
            elif kind == "response.output_item.done":
                builder.response["output"][event["output_index"]] = copy.deepcopy(event["item"])
                if event["item"]["type"] == "message":
                    builder._message = None
        return builder

    def current(self) -> Json:
        """The response as it stands, the message being written included."""
        response = self._snapshot()
        if self._message is not None:
            index = self._index(self._message)
            response["output"][index]["content"] = [text_part("output_text", self.text)]
        return response

    @property
    def started(self) -> bool:
        """Whether ``response.in_progress`` was sent."""
        return self.next_seq >= 2

    def take(self) -> list[Json]:
        """The events produced since the last call."""
        events, self.pending = self.pending, []
        return events

    def _emit(self, kind: str, **fields: Any) -> None:
        self.pending.append({"type": kind, "sequence_number": self.next_seq, **fields})
        self.next_seq += 1

    def _snapshot(self) -> Json:
        return copy.deepcopy(self.response)

    def created(self) -> None:
        """``response.created`` (status ``queued`` or ``in_progress``)."""
        self._emit("response.created", response=self._snapshot())

    def in_progress(self) -> None:
        """``response.in_progress``: the model started."""
        self.response["status"] = "in_progress"
        self._emit("response.in_progress", response=self._snapshot())

    def begin(self, search: tuple[str, list[Json] | None] | None = None) -> None:
        """``response.in_progress``, then the file search that ran (query, results)."""
        self.in_progress()
        if search is not None:
            self.file_search(*search)

    def text_delta(self, delta: str) -> None:
        """More text of the answer (opens the message item on first use)."""
        message = self._open_message()
        self.text += delta
        self._emit(
            "response.output_text.delta",
            item_id=message["id"],
            output_index=self._index(message),
            content_index=0,
            delta=delta,
            logprobs=[],
        )

    def _index(self, item: Json) -> int:
        output: list[Json] = self.response["output"]
        return next(i for i, o in enumerate(output) if o["id"] == item["id"])

    def _open_message(self) -> Json:
        if self._message is not None:
            return self._message
        message: Json = {
            "id": new_item_id("message"),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self.response["output"].append(message)
        self._message = message
        self.text = ""
        index = self._index(message)
        self._emit("response.output_item.added", output_index=index, item=copy.deepcopy(message))
        part = text_part("output_text", "")
        message["content"].append(part)
        self._emit(
            "response.content_part.added",
            item_id=message["id"],
            output_index=index,
            content_index=0,
            part=copy.deepcopy(part),
        )
        return message

    def file_search(self, query: str, results: list[Json] | None) -> None:
        """A ``file_search_call`` item, done (the search ran before the model started);
        ``results`` when the client asked to include them."""
        item: Json = {
            "id": new_item_id("file_search_call"),
            "type": "file_search_call",
            "status": "in_progress",
            "queries": [query],
            "results": None,
        }
        self.response["output"].append(item)
        index = self._index(item)
        self._emit("response.output_item.added", output_index=index, item=copy.deepcopy(item))
        for stage in ("in_progress", "searching", "completed"):
            self._emit(f"response.file_search_call.{stage}", output_index=index, item_id=item["id"])
        item.update(status="completed", results=results)
        self._emit("response.output_item.done", output_index=index, item=copy.deepcopy(item))

    def _close_message(self, status: str) -> None:
        message = self._message
        if message is None:
            return
        index = self._index(message)
        part = text_part("output_text", self.text)
        citations = [{**c, "index": len(self.text)} for c in self.citations]
        part["annotations"] = citations
        for number, annotation in enumerate(citations):
            self._emit(
                "response.output_text.annotation.added",
                item_id=message["id"],
                output_index=index,
                content_index=0,
                annotation_index=number,
                annotation=annotation,
            )
        self._emit(
            "response.output_text.done",
            item_id=message["id"],
            output_index=index,
            content_index=0,
            text=self.text,
            logprobs=[],
        )
        self._emit(
            "response.content_part.done",
            item_id=message["id"],
            output_index=index,
            content_index=0,
            part=copy.deepcopy(part),
        )
        message.update(status=status, content=[part])
        self._emit("response.output_item.done", output_index=index, item=copy.deepcopy(message))
        self._message = None

    def tool_call(self, call: ToolCall) -> None:
        """A complete function call: its item, its arguments, done."""
        self._close_message("completed")
        item: Json = {
            "id": new_item_id("function_call"),
            "type": "function_call",
            "status": "in_progress",
            "call_id": call.id,
            "name": call.name,
            "arguments": "",
        }
        self.response["output"].append(item)
        index = self._index(item)
        self._emit("response.output_item.added", output_index=index, item=copy.deepcopy(item))
        self._emit(
            "response.function_call_arguments.delta",
            item_id=item["id"],
            output_index=index,
            delta=call.arguments,
        )
        self._emit(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=index,
            name=call.name,
            arguments=call.arguments,
        )
        item.update(status="completed", arguments=call.arguments)
        self._emit("response.output_item.done", output_index=index, item=copy.deepcopy(item))

    def finish(
        self,
        status: str,
        *,
        usage_: Json | None,
        incomplete_reason: str | None = None,
        error: Json | None = None,
        completed_at: int | None = None,
    ) -> None:
        """Close open items and emit the terminal event for ``status``."""
        item_status = "completed" if status == "completed" else "incomplete"
        if status == "completed" and not self.response["output"]:
            self._open_message()  # an empty answer is still a message
        self._close_message(item_status)
        self.response.update(
            status=status,
            usage=usage_,
            incomplete_details={"reason": incomplete_reason} if incomplete_reason else None,
            error=error,
            completed_at=completed_at,
        )
        kind = next(k for k, v in TERMINAL.items() if v == status)
        self._emit(kind, response=self._snapshot())

    def output_text(self) -> str:
        """Every message's text, joined (what the SDK calls ``output_text``)."""
        texts = [
            part.get("text", "")
            for item in self.response["output"]
            if item["type"] == "message"
            for part in item["content"]
        ]
        if self._message is not None:
            texts.append(self.text)
        return "".join(texts)
