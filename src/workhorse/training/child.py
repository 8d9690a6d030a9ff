"""One training run in its own process: ``python -m workhorse.training.child SPEC.json``.

The job's supervisor (``jobs/training.py``) starts this process and talks to it over
pipes. It writes one JSON object per line on stdout (``validated``, ``resumed``,
``step``, ``checkpoint``, ``paused``, ``done``, ``invalid``, ``error``) and reads
``pause`` on stdin. When stdin closes (the supervisor died, even by kill -9) the run
stops at once; the job resumes later from its newest checkpoint.

A process of its own keeps PyTorch's threads and memory out of the server, and lets
cancel end a run at once.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from workhorse.training.dataset import ChatEncoder, DatasetInvalid, read_examples
from workhorse.training.hyper import resolve


@dataclass(frozen=True)
class TrainSpec:
    """What to train: written by the supervisor as JSON."""

    base_gguf: str
    training_file: str
    validation_file: str | None
    work_dir: str
    max_tokens: int
    n_epochs: int | None
    batch_size: int | None
    learning_rate_multiplier: float | None
    seed: int

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> TrainSpec:
        return cls(**json.loads(path.read_text()))


RESULT_NAME = "adapter.gguf"


class _Events:
    """The channel to the supervisor: the process's original stdout, kept for events
    alone (anything a library prints goes to stderr, the training log)."""

    stream: TextIO = sys.stdout

    @classmethod
    def take_stdout(cls) -> None:
        cls.stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr


def _emit(event: dict[str, Any]) -> None:
    _Events.stream.write(json.dumps(event) + "\n")
    _Events.stream.flush()


def _watch_stdin(pause: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "pause":
            pause.set()
    os._exit(3)  # the supervisor is gone: stop now, the newest checkpoint stays


def run(spec: TrainSpec) -> None:
    """Check the files, train (resuming when a checkpoint exists), export the adapter."""
    encoder = ChatEncoder(Path(spec.base_gguf))
    if encoder.architecture != "llama":
        _emit(
            {
                "type": "error",
                "message": (
                    f"models of architecture {encoder.architecture!r} cannot be fine-tuned yet"
                ),
            }
        )
        return
    try:
        examples = read_examples(
            Path(spec.training_file), encoder, max_tokens=spec.max_tokens, file_role="training"
        )
        validation = (
            read_examples(
                Path(spec.validation_file),
                encoder,
                max_tokens=spec.max_tokens,
                file_role="validation",
            )
            if spec.validation_file
            else []
        )
    except DatasetInvalid as exc:
        _emit({"type": "invalid", "file": exc.file_role, "message": exc.message})
        return

    hyper = resolve(len(examples), spec.n_epochs, spec.batch_size, spec.learning_rate_multiplier)
    total = math.ceil(len(examples) / hyper.batch_size) * hyper.n_epochs
    _emit(
        {
            "type": "validated",
            "examples": len(examples),
            "validation_examples": len(validation),
            "tokens": sum(len(e.input_ids) for e in examples),
            "hyperparameters": asdict(hyper),
            "total_steps": total,
        }
    )
    # Imported after the checks: a bad file fails in a second, without loading PyTorch.
    from workhorse.training.lora import LoraTrainer, Position, newest_checkpoint

    work_dir = Path(spec.work_dir)
    began = time.perf_counter()
    trainer = LoraTrainer(Path(spec.base_gguf), hyper, seed=spec.seed, work_dir=work_dir)
    _emit(
        {
            "type": "started",
            "total_steps": total,
            "device": trainer.device.type,
            "load_s": time.perf_counter() - began,
        }
    )
    start = Position(0, 0, 0, 0, 0.0, "epoch")
    found = newest_checkpoint(work_dir)
    if found is not None:
        path, start = found
        trainer.restore(path)
        _emit({"type": "resumed", "step": start.step, "path": str(path), "kind": start.kind})
    pause = threading.Event()
    threading.Thread(target=_watch_stdin, args=(pause,), daemon=True).start()
    wall = time.perf_counter()
    end = trainer.train(examples, validation, start=start, emit=_emit, pause_requested=pause.is_set)
    if end.kind == "pause":
        _emit({"type": "paused", "step": end.step})
        return
    result = work_dir / RESULT_NAME
    trainer.export(result)
    _emit(
        {
            "type": "done",
            "path": str(result),
            "trained_tokens": end.trained_tokens,
            "steps": end.step,
            "train_s": end.elapsed_s,
            "wall_s": time.perf_counter() - wall,
        }
    )


def main() -> None:
    _Events.take_stdout()
    spec = TrainSpec.load(Path(sys.argv[1]))
    try:
        run(spec)
    except Exception as exc:  # reported to the supervisor; the traceback goes to stderr
        _emit({"type": "error", "message": f"training failed: {type(exc).__name__}: {exc}"})
        raise


if __name__ == "__main__":
    main()
