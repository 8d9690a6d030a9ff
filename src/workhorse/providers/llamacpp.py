"""Chat models served in-process on llama.cpp (``llama-cpp-python``).

Generation runs on the model's own thread (see ``serial``). The loop below drives
``Llama.generate`` token by token so that it can stop between any two tokens, count
tokens exactly, decode UTF-8 incrementally and hold back text that may be the start of
a stop sequence.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

from workhorse.errors import ContextLengthExceeded, UnsupportedParameter, WorkhorseError
from workhorse.providers.base import (
    ChatMessage,
    Finish,
    FinishReason,
    Generation,
    GenerationEvent,
    GenerationParams,
    TextDelta,
)
from workhorse.providers.serial import SerialRunner
from workhorse.providers.threaded import STARTED, ThreadedGeneration

# Sampling defaults when a request leaves them out (those of llama.cpp's own server).
DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.95
DEFAULT_TOP_K = 40  # llama-cpp-python's own default


class ModelLoadError(WorkhorseError):
    """A model file could not be loaded."""


@dataclass(frozen=True)
class _Prepared:
    tokens: list[int]
    max_tokens: int


class LlamaCppChatModel:
    """A GGUF chat model on llama.cpp, one generation at a time."""

    def __init__(
        self,
        model_id: str,
        path: Path,
        *,
        n_ctx: int,
        n_threads: int | None,
        default_max_tokens: int,
        runner: SerialRunner,
        lora_path: Path | None = None,
    ) -> None:
        self.id = model_id
        self.owned_by = "workhorse"
        self.created = int(path.stat().st_mtime) if path.exists() else int(time.time())
        self.path = path
        self.n_ctx = n_ctx
        self.context_window: int | None = n_ctx
        self.supports_tools = False
        self._n_threads = n_threads or os.cpu_count() or 1
        self._default_max_tokens = default_max_tokens
        self._runner = runner
        self._lora_path = lora_path
        self._llm: Any = None
        self._formatter: Jinja2ChatFormatter | None = None
        self._vocab: Any = None

    def load(self) -> None:
        """Load the weights (blocking; call from a worker thread)."""
        try:
            llm = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=self.n_ctx,
                n_threads=self._n_threads,
                lora_path=str(self._lora_path) if self._lora_path else None,
                verbose=False,
            )
        except (ValueError, OSError) as exc:
            raise ModelLoadError(f"cannot load GGUF model {self.id!r}") from exc
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelLoadError(f"GGUF model {self.id!r} has no chat template")
        eos, bos = llm.token_eos(), llm.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=_token_text(llm, eos),
            bos_token=_token_text(llm, bos),
        )
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._llm = llm

    async def start(self, params: GenerationParams) -> Generation:
        """Queue the generation and wait until it has started."""
        if params.uses_tools():
            raise UnsupportedParameter(
                f"the model {self.id!r} does not support tools; use a model served by an "
                "upstream that does",
                param="tools",
            )
        generation = ThreadedGeneration(asyncio.get_running_loop())

        def job() -> None:
            if generation.cancelled.is_set():
                return
            try:
                prepared = self._prepare(params)
                generation.prompt_tokens = len(prepared.tokens)
                generation.emit(STARTED)
                for event in self._generate(params, prepared, generation):
                    generation.emit(event)
            except WorkhorseError as exc:
                generation.emit(exc)
            except Exception as exc:  # translated at the edge; the cause stays chained
                error = WorkhorseError(f"model {self.id!r} failed while generating")
                error.__cause__ = exc
                generation.emit(error)

        generation.attach(self._runner.submit(job))
        await generation.wait_started()
        return generation

    async def count_tokens(self, messages: list[ChatMessage]) -> int:
        """Prompt tokens of ``messages`` (tokenizing only reads the vocabulary, so it runs
        beside a generation rather than waiting behind it)."""
        if any(m.tool_calls or m.role == "tool" for m in messages):
            raise UnsupportedParameter(f"the model {self.id!r} does not support tools")
        params = GenerationParams(messages=messages)
        return len(await asyncio.to_thread(self._tokenize_prompt, params))

    async def reservation_tokens(self, params: GenerationParams) -> int:
        """The prompt's exact count plus the output cap the generation will use."""
        prepared = await asyncio.to_thread(self._prepare, params)
        return len(prepared.tokens) + prepared.max_tokens

    def _tokenize_prompt(self, params: GenerationParams) -> list[int]:
        if self._formatter is None:
            raise WorkhorseError(f"model {self.id!r} is not loaded")
        messages: Any = [{"role": m.role, "content": m.content} for m in params.messages]
        prompt = self._formatter(messages=messages).prompt + params.assistant_prefix
        tokens: list[int] = self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        return tokens

    def _prepare(self, params: GenerationParams) -> _Prepared:
        tokens = self._tokenize_prompt(params)
        room = self.n_ctx - len(tokens)
        if room <= 0:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {self.n_ctx} tokens; the messages "
                f"take {len(tokens)} tokens.",
                param="messages",
            )
        if params.max_tokens is None:
            return _Prepared(tokens, min(self._default_max_tokens, room))
        if params.max_tokens > room:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {self.n_ctx} tokens; the messages "
                f"take {len(tokens)} and max_tokens asks for {params.max_tokens} more.",
                param="max_tokens",
            )
        return _Prepared(tokens, params.max_tokens)

    def _generate(
        self, params: GenerationParams, prepared: _Prepared, generation: ThreadedGeneration
    ) -> Iterator[GenerationEvent]:
        cancelled = generation.cancelled
        llm = self._llm
        if params.seed is not None:
            # A seed promises the same answer to the same request. Reusing the KV cache of
            # the previous prompt evaluates the rest in a batch of another size, which
            # shifts logits enough to flip a greedy choice; so evaluate the whole prompt.
            # Without a seed, the shared prefix is reused: a faster first token.
            llm.reset()
        llm.set_seed(params.seed if params.seed is not None else random.randint(0, 2**31 - 1))
        grammar = _grammar(params)
        temperature = DEFAULT_TEMPERATURE if params.temperature is None else params.temperature
        stops = _StopMatcher(params.stop)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        finish: FinishReason = "length"
        generated = 0
        tokens = llm.generate(
            prepared.tokens,
            temp=temperature,
            top_p=DEFAULT_TOP_P if params.top_p is None else params.top_p,
            top_k=DEFAULT_TOP_K if params.top_k is None else params.top_k,
            frequency_penalty=params.frequency_penalty,
            presence_penalty=params.presence_penalty,
            grammar=grammar,
        )
        try:
            for token in tokens:
                if cancelled.is_set():
                    break
                if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    finish = "stop"
                    break
                generated += 1
                generation.completion_tokens = generated
                text, hit = stops.feed(decoder.decode(llm.detokenize([token])))
                if text:
                    yield TextDelta(text)
                if hit:
                    finish = "stop"
                    break
                if generated >= prepared.max_tokens:
                    break
        finally:
            tokens.close()
        if not stops.hit:
            tail, _ = stops.feed(decoder.decode(b"", final=True), final=True)
            if tail:
                yield TextDelta(tail)
        yield Finish(finish, len(prepared.tokens), generated, stops.hit)

    async def aclose(self) -> None:
        """Free the model."""
        self._runner.shutdown()
        if self._llm is not None:
            self._llm.close()
            self._llm = None


def _token_text(llm: Any, token: int) -> str:
    if token < 0:
        return ""
    text: bytes = llm.detokenize([token], special=True)
    return text.decode("utf-8", errors="ignore")


class _StopMatcher:
    """Finds stop sequences in streamed text, holding back a possible partial match."""

    def __init__(self, stops: list[str]) -> None:
        self._stops = stops
        self._pending = ""
        self.hit: str | None = None
        """The stop sequence found, once one is."""

    def feed(self, text: str, *, final: bool = False) -> tuple[str, bool]:
        """Text safe to emit now, and whether a stop sequence was reached."""
        if not self._stops:
            return text, False
        buffer = self._pending + text
        found = [(i, s) for s in self._stops if (i := buffer.find(s)) >= 0]
        if found:
            cut, self.hit = min(found)
            self._pending = ""
            return buffer[:cut], True
        if final:
            self._pending = ""
            return buffer, False
        keep = max(
            (
                n
                for s in self._stops
                for n in range(min(len(s) - 1, len(buffer)), 0, -1)
                if buffer.endswith(s[:n])
            ),
            default=0,
        )
        self._pending = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep], False


NUMBER_GBNF = r"""root ::= "-"? [0-9]+ ("." [0-9]+)?"""


def _gbnf_literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _grammar(params: GenerationParams) -> LlamaGrammar | None:
    """What the answer must match: one of the choices, a number, JSON, or anything."""
    if params.choices:
        rule = "root ::= " + " | ".join(_gbnf_literal(c) for c in params.choices)
        return LlamaGrammar.from_string(rule, verbose=False)
    if params.number:
        return LlamaGrammar.from_string(NUMBER_GBNF, verbose=False)
    if params.json_mode:
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    return None
