"""Training files: the JSONL chat format, checked line by line and tokenized for training.

Examples are tokenized exactly as the served model sees a conversation: the GGUF's own
chat template (rendered as llama.cpp's server renders it) and llama.cpp's tokenizer, so
what the model learns is what it is later prompted with. Only the assistant turns (their
text and the end-of-turn token) carry a loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from workhorse.errors import WorkhorseError

ROLES = ("system", "user", "assistant")
MAX_REPORTED = 20
"""Problems listed in a failure message; the rest are counted."""

IGNORE = -100
"""Label of a token that carries no loss (the prompt, padding)."""


class DatasetInvalid(WorkhorseError):
    """A training file that cannot be trained on; ``problems`` name the lines."""

    def __init__(self, file_role: str, problems: list[str]) -> None:
        shown = problems[:MAX_REPORTED]
        more = len(problems) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more else "")
        super().__init__(f"the {file_role} file is invalid: {text}")
        self.file_role = file_role
        self.problems = problems


@dataclass(frozen=True)
class Example:
    """One conversation as token ids and labels (``IGNORE`` where no loss is taken)."""

    line: int
    input_ids: list[int]
    labels: list[int]


class ChatEncoder:
    """Renders and tokenizes conversations as the served GGUF model does."""

    def __init__(self, gguf_path: Path) -> None:
        vocab = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
        template = vocab.metadata.get("tokenizer.chat_template")
        if not template:
            raise WorkhorseError(f"{gguf_path.name} has no chat template to train with")
        self.architecture = vocab.metadata.get("general.architecture", "")

        def text(token: int) -> str:
            return vocab.detokenize([token], special=True).decode("utf-8", "replace")

        eos, bos = text(vocab.token_eos()), text(vocab.token_bos())
        self._prompt = Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=bos, add_generation_prompt=True
        )
        self._turn = Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=bos, add_generation_prompt=False
        )
        self._vocab = vocab

    def _tokens(self, text: str) -> list[int]:
        tokens: list[int] = self._vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return tokens

    def encode(self, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
        """Token ids and labels: the loss falls on each assistant turn and its end token.

        Each assistant turn is tokenized apart from the prompt before it, as at serving
        time, when the prompt ends with the template's assistant header.
        """
        ids: list[int] = []
        labels: list[int] = []
        done = ""
        for index, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prompt = self._prompt(messages=messages[:index]).prompt  # type: ignore[arg-type]
            turn = self._turn(messages=messages[: index + 1]).prompt  # type: ignore[arg-type]
            if not prompt.startswith(done) or not turn.startswith(prompt):
                raise WorkhorseError("the model's chat template does not render turn by turn")
            context = self._tokens(prompt[len(done) :])
            answer = self._tokens(turn[len(prompt) :])
            ids += context + answer
            labels += [IGNORE] * len(context) + answer
            done = turn
        return ids, labels


def _content(value: Any) -> str | None:
    """Text of a message's content: a string, or a list of ``text`` parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        for p in value
    ):
        return "".join(p["text"] for p in value)
    return None


def _messages(record: Any) -> tuple[list[dict[str, str]] | None, str | None]:
    """The conversation of one line, or what is wrong with it."""
    if not isinstance(record, dict):
        return None, "expected a JSON object with a 'messages' list"
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return None, "'messages' must be a non-empty list"
    result: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return None, f"messages[{index}] must be an object"
        role = message.get("role")
        if role not in ROLES:
            return None, f"messages[{index}].role {role!r} is not one of {', '.join(ROLES)}"
        content = _content(message.get("content"))
        if content is None:
            return None, f"messages[{index}].content must be a string or a list of text parts"
        result.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in result):
        return None, "no assistant message to learn from"
    return result, None


def read_examples(
    path: Path, encoder: ChatEncoder, *, max_tokens: int, file_role: str
) -> list[Example]:
    """Every example of a JSONL training file; ``DatasetInvalid`` naming each bad line."""
    examples: list[Example] = []
    problems: list[str] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except UnicodeDecodeError:
                problems.append(f"line {number}: not UTF-8 text")
                continue
            except json.JSONDecodeError as exc:
                problems.append(f"line {number}: invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            messages, problem = _messages(record)
            if messages is None:
                problems.append(f"line {number}: {problem}")
                continue
            ids, labels = encoder.encode(messages)
            if len(ids) > max_tokens:
                problems.append(
                    f"line {number}: {len(ids)} tokens, more than the model's context of "
                    f"{max_tokens}"
                )
                continue
            examples.append(Example(number, ids, labels))
    if not problems and not examples:
        problems.append("the file has no examples")
    if problems:
        raise DatasetInvalid(file_role, problems)
    return examples
