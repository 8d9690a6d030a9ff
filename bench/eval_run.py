"""Eval run throughput: the same run of items sampled and graded one at a time
(``WORKHORSE_EVAL_CONCURRENCY=1``, the baseline) and four at a time (the default), on
the bundled model, side by side in one run. Each item is a generated answer of up to
``--tokens`` tokens graded by a ``string_check`` and a ``text_similarity`` criterion.

Prints items/s of each and their ratio; on the embedded llama.cpp model (one sequence at
a time) the ratio shows what overlapping grading, database writes and the next item's
prompt with a generation buys, not batching.

    .venv/bin/python bench/eval_run.py [--items 24] [--tokens 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import run_workhorse

MODEL = "smollm2-135m-instruct"


def one_run(concurrency: int, items: int, tokens: int) -> float:
    """Items per second of one run at ``concurrency``."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_workhorse(Path(tmp), WORKHORSE_EVAL_CONCURRENCY=str(concurrency)) as server,
    ):
        client = openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0)
        created = client.evals.create(
            data_source_config={"type": "custom", "item_schema": {"type": "object"}},
            testing_criteria=[
                {
                    "type": "string_check",
                    "name": "mentions",
                    "input": "{{sample.output_text}}",
                    "reference": "{{item.answer}}",
                    "operation": "ilike",
                },
                {
                    "type": "text_similarity",
                    "name": "similar",
                    "input": "{{sample.output_text}}",
                    "reference": "{{item.answer}}",
                    "evaluation_metric": "rouge_l",
                    "pass_threshold": 0.2,
                },
            ],
        )
        content = [
            {"item": {"question": f"Tell me a fact about the number {n}.", "answer": str(n)}}
            for n in range(items)
        ]
        source = {
            "type": "completions",
            "source": {"type": "file_content", "content": content},
            "model": MODEL,
            "input_messages": {
                "type": "template",
                "template": [{"role": "user", "content": "{{item.question}}"}],
            },
            "sampling_params": {"seed": 1, "temperature": 0, "max_completion_tokens": tokens},
        }
        began = time.perf_counter()
        run = client.evals.runs.create(created.id, data_source=source)
        while run.status in ("queued", "in_progress"):
            time.sleep(0.2)
            run = client.evals.runs.retrieve(run.id, eval_id=created.id)
        elapsed = time.perf_counter() - began
        assert run.status == "completed", run.error
        assert run.result_counts.total == items
        return items / elapsed


def main() -> None:
    # The openai SDK marks its Evals API deprecated (OpenAI shut its own down).
    warnings.filterwarnings("ignore", "The Evals API is deprecated", DeprecationWarning)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    baseline = one_run(1, args.items, args.tokens)
    default = one_run(4, args.items, args.tokens)
    print(f"items: {args.items}, up to {args.tokens} tokens each, bundled {MODEL}")
    print(f"concurrency 1 (baseline): {baseline:.2f} items/s")
    print(f"concurrency 4 (default):  {default:.2f} items/s")
    print(f"ratio: {default / baseline:.2f}x")


if __name__ == "__main__":
    main()
