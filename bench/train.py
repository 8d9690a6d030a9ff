"""Fine-tuning throughput: a job through the server, against a bare transformers + peft loop.

One run, same model, same examples, same settings:

1. a synthetic chat training set generated here, uploaded to a Workhorse server
   (embedded mode, a fresh data dir) and trained by a fine-tuning job; its speed is the
   job's trained tokens over ``wall_s`` of its final event (the training loop in the
   training process: steps, checkpoint saves, event output; model loading excluded);
2. after the server has stopped, the same examples (tokenized by ``ChatEncoder``, as the
   job does) trained in this process by a plain loop: the GGUF loaded by transformers in
   float32, peft LoRA with the job's rank, alpha and target modules, AdamW with the job's
   learning rate and linear decay, the job's batch size and example order, padded batches
   with an attention mask. Only the loop is timed.

Prints tokens/s of both, the last step's loss of both (equal when the work is the same),
and the ratio job/bare (target >= 0.9).

    .venv/bin/python bench/train.py [--examples 48] [--epochs 1] [--batch-size 4]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The job's training process runs with OMP_WAIT_POLICY=PASSIVE (jobs/training.py); the
# bare loop must run under the same setting (on a busy machine, spinning OpenMP threads
# make it 3-5 times slower). Set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import httpx
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import run_workhorse

from workhorse.config import Settings
from workhorse.providers.registry import bundled_chat_model_path
from workhorse.training.dataset import IGNORE, ChatEncoder, Example, read_examples
from workhorse.training.lora import (
    BASE_LEARNING_RATE,
    FINAL_LR_FRACTION,
    LORA_ALPHA,
    LORA_RANK,
    TARGET_MODULES,
)

JOB_TIMEOUT_S = 3600
DEFAULTS = Settings.model_construct()
"""The settings of the server run_workhorse starts (it passes no WORKHORSE_* of ours)."""
SUBJECTS = [
    *("the harbour", "the old mill", "the night train", "the orchard", "the library"),
    *("the lighthouse", "the bakery", "the canal", "the observatory", "the market"),
]
VERBS = ["opens", "closes", "welcomes visitors", "is repaired", "is painted", "stays quiet"]
WHEN = ["at dawn", "every Tuesday", "in winter", "after the rain", "before noon", "at dusk"]
DETAILS = [
    *("Bring a lantern if you go late.", "The path is steep near the gate."),
    *("Tickets are sold at the corner kiosk.", "Dogs on a lead are welcome."),
    *("The keeper keeps a logbook of every visit.", "Tea is served in the back room."),
    *("The clock above the door runs five minutes fast.", "Photographs are allowed outside."),
]


def examples(count: int, seed: int) -> list[dict[str, Any]]:
    """Deterministic chats: a question about a place and an answer of a few sentences."""
    rng = random.Random(seed)
    chats = []
    for _ in range(count):
        subject = rng.choice(SUBJECTS)
        sentences = [f"{subject.capitalize()} {rng.choice(VERBS)} {rng.choice(WHEN)}."]
        sentences += rng.sample(DETAILS, k=rng.randint(2, 4))
        chats.append(
            {
                "messages": [
                    {"role": "system", "content": "You answer questions about the town."},
                    {"role": "user", "content": f"What should I know about {subject}?"},
                    {"role": "assistant", "content": " ".join(sentences)},
                ]
            }
        )
    return chats


@dataclass
class JobRun:
    trained_tokens: int
    wall_s: float
    train_s: float
    last_loss: float
    device: str
    batch_size: int


def _all_events(http: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    """Every event of the job, oldest first (the API lists newest first)."""
    events: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
        page = http.get(f"/fine_tuning/jobs/{job_id}/events", params=params).json()
        events += page["data"]
        if not page["has_more"]:
            return list(reversed(events))
        after = page["data"][-1]["id"]


def run_job(tmp: Path, training: Path, *, epochs: int, batch_size: int, seed: int) -> JobRun:
    """Train through a fresh embedded server; the figures of its events."""
    with (
        run_workhorse(tmp, WORKHORSE_ACCESS_LOG="false") as server,
        httpx.Client(base_url=server.v1, headers=server.headers(), timeout=600) as http,
    ):
        with training.open("rb") as stream:
            uploaded = http.post(
                "/files", data={"purpose": "fine-tune"}, files={"file": ("bench.jsonl", stream)}
            )
        uploaded.raise_for_status()
        created = http.post(
            "/fine_tuning/jobs",
            json={
                "model": DEFAULTS.chat_model_id,
                "training_file": uploaded.json()["id"],
                "hyperparameters": {
                    "n_epochs": epochs,
                    "batch_size": batch_size,
                    "learning_rate_multiplier": 1.0,
                },
                "seed": seed,
            },
        )
        created.raise_for_status()
        job_id = created.json()["id"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        # The final event (with wall_s) is written just after the job's status.
        while True:
            job = http.get(f"/fine_tuning/jobs/{job_id}").json()
            events = _all_events(http, job_id)
            final = [e for e in events if e.get("data") and "wall_s" in e["data"]]
            if job["status"] in ("failed", "cancelled"):
                raise SystemExit(f"the job {job['status']}: {job['error']}")
            if final:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the job is still {job['status']} after {JOB_TIMEOUT_S} s")
            time.sleep(0.5)
    started = next(e["data"] for e in events if e.get("data") and "device" in e["data"])
    metrics = [e["data"] for e in events if e["type"] == "metrics"]
    return JobRun(
        trained_tokens=int(final[0]["data"]["trained_tokens"]),
        wall_s=float(final[0]["data"]["wall_s"]),
        train_s=float(final[0]["data"]["train_s"]),
        last_loss=float(metrics[-1]["train_loss"]),
        device=str(started["device"]),
        batch_size=int(job["hyperparameters"]["batch_size"]),  # as resolved by the job
    )


def _batch(picked: list[Example], device: torch.device) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in picked)
    ids = [e.input_ids + [0] * (width - len(e.input_ids)) for e in picked]
    mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in picked]
    labels = [e.labels + [IGNORE] * (width - len(e.labels)) for e in picked]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "attention_mask": torch.tensor(mask, device=device),
        "labels": torch.tensor(labels, device=device),
    }


def run_bare(
    data: list[Example], *, epochs: int, batch_size: int, seed: int, device: torch.device
) -> tuple[int, float, float]:
    """The plain loop; (tokens, seconds of the loop, last step's loss)."""
    gguf = bundled_chat_model_path()
    torch.manual_seed(seed)  # as the job: the LoRA weights start from the same draw
    base = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    lora = LoraConfig(
        r=LORA_RANK,
        lora_alpha=LORA_ALPHA,
        lora_dropout=0.0,
        target_modules=TARGET_MODULES,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, lora).to(device)
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=BASE_LEARNING_RATE
    )
    per_epoch = math.ceil(len(data) / batch_size)
    total = per_epoch * epochs
    tokens, step, loss = 0, 0, float("nan")
    started = time.perf_counter()
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(len(data), generator=generator).tolist()
        for index in range(per_epoch):
            picked = [data[i] for i in order[index * batch_size : (index + 1) * batch_size]]
            batch = _batch(picked, device)
            for group in optimizer.param_groups:
                group["lr"] = BASE_LEARNING_RATE * (1 - (1 - FINAL_LR_FRACTION) * step / total)
            out = model(**batch)
            out.loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens += int(batch["attention_mask"].sum())
            loss = float(out.loss.detach())
    return tokens, time.perf_counter() - started, loss


def row(name: str, tokens: int, seconds: float, loss: float) -> str:
    return f"{name:<24} {tokens:>7} {seconds:>8.1f} {tokens / seconds:>9.1f} {loss:>10.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        training = tmp / "bench.jsonl"
        training.write_text(
            "".join(json.dumps(chat) + "\n" for chat in examples(args.examples, args.seed))
        )
        job = run_job(tmp, training, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
        encoder = ChatEncoder(bundled_chat_model_path())
        data = read_examples(
            training, encoder, max_tokens=DEFAULTS.chat_n_ctx, file_role="training"
        )
    tokens, bare_s, bare_loss = run_bare(
        data,
        epochs=args.epochs,
        batch_size=job.batch_size,
        seed=args.seed,
        device=torch.device(job.device),
    )
    steps = math.ceil(len(data) / job.batch_size) * args.epochs
    print(
        f"{len(data)} examples ({sum(len(e.input_ids) for e in data)} tokens), "
        f"{args.epochs} epoch(s), batch size {job.batch_size}: {steps} steps on {job.device}, "
        f"{torch.get_num_threads()} torch threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    job_rate = job.trained_tokens / job.wall_s
    bare_rate = tokens / bare_s
    print(f"{'system':<24} {'tokens':>7} {'seconds':>8} {'tokens/s':>9} {'last loss':>10}")
    print(row("job (wall_s)", job.trained_tokens, job.wall_s, job.last_loss))
    print(row("job (summed steps)", job.trained_tokens, job.train_s, job.last_loss))
    print(row("bare transformers+peft", tokens, bare_s, bare_loss))
    if tokens != job.trained_tokens:
        print(f"warning: the job trained {job.trained_tokens} tokens, the bare loop {tokens}")
    print(f"job/bare tokens/s: {job_rate / bare_rate:.3f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
