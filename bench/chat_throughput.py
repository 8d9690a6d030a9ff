"""Chat throughput: Workhorse against llama-cpp-python in-process and ``llama_cpp.server``.

One run, same GGUF, same settings (threads, context, greedy decoding, max tokens), same
prompts, the three systems interleaved prompt by prompt so that drift hits all alike:

- direct:  ``Llama.create_chat_completion(stream=True)`` in this process;
- workhorse: ``POST /v1/chat/completions`` with ``stream: true`` over HTTP;
- llama_cpp.server: the same request to ``python -m llama_cpp.server``.

Prints decode tokens/s (tokens after the first, over the time after the first) and time
to first token (p50) for each, and the ratios against direct and llama_cpp.server.

    .venv/bin/python bench/chat_throughput.py [--threads 1] [--rounds 5] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import llama_cpp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import run_llama_cpp_server, run_workhorse

from workhorse.providers.registry import bundled_chat_model_path

TOPICS = [
    "a lighthouse keeper",
    "the history of bread",
    "how rivers form",
    "a robot learning to paint",
    "the first day of school",
    "volcanoes",
    "a journey across the desert",
    "how bees communicate",
    "a city under the sea",
    "the invention of the printing press",
    "a lost umbrella",
    "the life of a tree",
    "winter in the mountains",
    "a clockmaker's secret",
]


@dataclass
class Sample:
    ttft_s: float
    decode_tokens: int
    decode_s: float


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)

    def tokens_per_s(self) -> float:
        return sum(s.decode_tokens for s in self.samples) / sum(s.decode_s for s in self.samples)

    def ttft_p50_ms(self) -> float:
        return statistics.median(s.ttft_s for s in self.samples) * 1000


def timed(pieces: Iterator[str]) -> Sample:
    start = time.perf_counter()
    first = end = 0.0
    count = 0
    for _ in pieces:
        now = time.perf_counter()
        if count == 0:
            first = now
        count += 1
        end = now
    return Sample(first - start, count - 1, end - first)


def direct_runner(llm: llama_cpp.Llama, max_tokens: int) -> Callable[[str], Sample]:
    def run(prompt: str) -> Sample:
        def pieces() -> Iterator[str]:
            for chunk in llm.create_chat_completion(
                messages=[{"role": "user", "content": prompt}],
                max_tokens=max_tokens,
                temperature=0,
                stream=True,
            ):
                text = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                if text:
                    yield text

        return timed(pieces())

    return run


def http_runner(base_url: str, model: str, key: str, max_tokens: int) -> Callable[[str], Sample]:
    client = httpx.Client(timeout=300, headers={"Authorization": f"Bearer {key}"})

    def run(prompt: str) -> Sample:
        def pieces() -> Iterator[str]:
            body = {
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": max_tokens,
                "temperature": 0,
                "stream": True,
            }
            with client.stream("POST", base_url + "/chat/completions", json=body) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    choices = json.loads(line[6:]).get("choices") or []
                    text = choices[0]["delta"].get("content") if choices else None
                    if text:
                        yield text

        return timed(pieces())

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=len(TOPICS) - 2)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    model_path = bundled_chat_model_path()
    prompts = [f"Write a long story about {topic}." for topic in TOPICS]

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        llm = llama_cpp.Llama(str(model_path), n_ctx=2048, n_threads=args.threads, verbose=False)
        with (
            run_workhorse(
                tmp, WORKHORSE_CHAT_N_THREADS=str(args.threads), WORKHORSE_ACCESS_LOG="true"
            ) as workhorse,
            run_llama_cpp_server(tmp, model_path, "smollm2", threads=args.threads) as llama_url,
        ):
            systems: dict[str, Callable[[str], Sample]] = {
                "direct": direct_runner(llm, args.max_tokens),
                "workhorse": http_runner(
                    workhorse.v1, "smollm2-135m-instruct", workhorse.api_key, args.max_tokens
                ),
                "llama_cpp.server": http_runner(llama_url, "smollm2", "none", args.max_tokens),
            }
            results = {name: Results() for name in systems}
            for run in systems.values():  # warm-up, not counted
                run(prompts[-1])
            for prompt in prompts[: args.rounds]:
                for name, run in systems.items():
                    results[name].samples.append(run(prompt))
        llm.close()

    print(
        f"threads={args.threads} max_tokens={args.max_tokens} rounds={args.rounds} "
        f"model={model_path.name}"
    )
    print(f"{'system':<18} {'decode tok/s':>12} {'TTFT p50 ms':>12}")
    for name, result in results.items():
        print(f"{name:<18} {result.tokens_per_s():>12.1f} {result.ttft_p50_ms():>12.1f}")
    w, d, s = results["workhorse"], results["direct"], results["llama_cpp.server"]
    print(
        f"workhorse / direct tokens/s:            {w.tokens_per_s() / d.tokens_per_s():.3f}"
        "  (target >= 0.95)"
    )
    print(
        f"workhorse - direct TTFT p50:            {w.ttft_p50_ms() - d.ttft_p50_ms():+.1f} ms"
        "  (target <= 15 ms)"
    )
    print(
        f"workhorse / llama_cpp.server tokens/s:  {w.tokens_per_s() / s.tokens_per_s():.3f}"
        "  (target >= 1.0)"
    )
    print(
        f"workhorse / llama_cpp.server TTFT p50:  {w.ttft_p50_ms() / s.ttft_p50_ms():.3f}"
        "  (lower is better)"
    )


if __name__ == "__main__":
    main()
