"""Stored conversations against stateless chat: the latency a stored turn adds.

One Workhorse server, one 50-turn conversation, two ways at every turn:

- stored:    ``POST /v1/responses`` with ``conversation`` and only the new user message
             (the server loads the history, stores the response, its event log, and
             appends both items to the conversation);
- stateless: ``POST /v1/chat/completions`` with the whole history, the assistant turns
             being the stored turns' answers, so both prompts are the same tokens.

The two alternate which goes first at each turn, so that llama.cpp's prompt-cache reuse
favours neither. Prints p50 and mean latency per turn and the ratio stored/stateless.

    .venv/bin/python bench/conversation_overhead.py [--turns 50] [--max-tokens 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import run_workhorse

MODEL = "smollm2-135m-instruct"
SUBJECTS = ["rivers", "bread", "bees", "clocks", "winter", "maps", "tea", "owls", "salt", "kites"]


def turn_stored(
    http: httpx.Client, v1: str, conversation: str, text: str, max_tokens: int, times: list[float]
) -> str:
    """One stored turn; its answer's text."""
    started = time.perf_counter()
    response = http.post(
        v1 + "/responses",
        json={
            "model": MODEL,
            "conversation": conversation,
            "input": text,
            "max_output_tokens": max_tokens,
            "temperature": 0,
        },
    )
    times.append(time.perf_counter() - started)
    response.raise_for_status()
    return "".join(
        part["text"]
        for item in response.json()["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


def turn_stateless(
    http: httpx.Client,
    v1: str,
    history: list[dict[str, str]],
    text: str,
    max_tokens: int,
    times: list[float],
) -> None:
    """One stateless turn with the whole history."""
    started = time.perf_counter()
    response = http.post(
        v1 + "/chat/completions",
        json={
            "model": MODEL,
            "messages": [*history, {"role": "user", "content": text}],
            "max_tokens": max_tokens,
            "temperature": 0,
        },
    )
    times.append(time.perf_counter() - started)
    response.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as tmp,
        run_workhorse(
            Path(tmp),
            WORKHORSE_CHAT_N_CTX="8192",
            WORKHORSE_CHAT_N_THREADS=str(args.threads),
            WORKHORSE_ACCESS_LOG="false",
        ) as server,
        httpx.Client(headers=server.headers(), timeout=300) as http,
    ):
        conversation = http.post(server.v1 + "/conversations", json={}).json()["id"]
        history: list[dict[str, str]] = []
        stored: list[float] = []
        stateless: list[float] = []
        for turn in range(args.turns):
            text = f"Turn {turn}: say one short fact about {SUBJECTS[turn % len(SUBJECTS)]}."
            # Alternate which goes first; the stateless turn needs no answer of this turn.
            if turn % 2 == 0:
                answer = turn_stored(http, server.v1, conversation, text, args.max_tokens, stored)
                turn_stateless(http, server.v1, history, text, args.max_tokens, stateless)
            else:
                turn_stateless(http, server.v1, history, text, args.max_tokens, stateless)
                answer = turn_stored(http, server.v1, conversation, text, args.max_tokens, stored)
            history += [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]

    def row(name: str, samples: list[float]) -> str:
        p50 = statistics.median(samples) * 1000
        mean = statistics.fmean(samples) * 1000
        return f"{name:<10} p50 {p50:7.1f} ms   mean {mean:7.1f} ms"

    print(f"{args.turns} turns, max {args.max_tokens} output tokens, {args.threads} thread(s)")
    print(row("stored", stored))
    print(row("stateless", stateless))
    print(f"stored/stateless p50:  {statistics.median(stored) / statistics.median(stateless):.3f}")
    print(f"stored/stateless mean: {statistics.fmean(stored) / statistics.fmean(stateless):.3f}")


if __name__ == "__main__":
    main()
