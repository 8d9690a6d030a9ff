"""LoRA supervised fine-tuning of a GGUF chat model with transformers and peft.

transformers loads the GGUF (dequantized to float32), peft adds LoRA to every linear
projection of the decoder, and the loop is a plain PyTorch one: AdamW, a linear decay of
the learning rate, loss on the assistant tokens only. Everything that decides a step is
a function of the seed and the step number (the example order of an epoch is a
permutation drawn from ``seed + epoch``; there is no dropout), so a run resumed from a
checkpoint takes exactly the steps the uninterrupted run would have taken.

A checkpoint (the adapter, the optimizer state and the position) is written at the end
of every epoch, and when a pause is asked for; training resumes from the newest one.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from peft import (
    LoraConfig,
    PeftModel,
    get_peft_model,
    get_peft_model_state_dict,
    set_peft_model_state_dict,
)
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, PreTrainedModel

from workhorse.training.dataset import IGNORE, Example
from workhorse.training.export import write_lora_gguf
from workhorse.training.hyper import Hyperparameters

BASE_LEARNING_RATE = 5e-4
"""Learning rate at ``learning_rate_multiplier`` 1 (a usual one for LoRA)."""
LORA_RANK = 8
LORA_ALPHA = 16
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
FINAL_LR_FRACTION = 0.1
"""The learning rate decays linearly to this fraction of its start."""

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Position:
    """Where training stands: the next batch of an epoch, and what was done so far."""

    epoch: int
    next_batch: int
    step: int
    trained_tokens: int
    elapsed_s: float
    kind: str  # "epoch" (a checkpoint users see) or "pause"


def newest_checkpoint(work_dir: Path) -> tuple[Path, Position] | None:
    """The newest complete checkpoint under ``work_dir``."""
    found: list[tuple[int, Path, Position]] = []
    for state in work_dir.glob("checkpoints/*/state.json"):
        if state.parent.suffix == ".tmp" or not (state.parent / "optimizer.pt").exists():
            continue  # unfinished, or an older one (pruned)
        position = Position(**json.loads(state.read_text()))
        found.append((position.step, state.parent, position))
    if not found:
        return None
    _, path, position = max(found, key=lambda f: f[0])
    return path, position


def pick_device() -> torch.device:
    """A GPU when there is one."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class LoraTrainer:
    """One fine-tuning run of a base GGUF model."""

    def __init__(
        self,
        base_gguf: Path,
        hyper: Hyperparameters,
        *,
        seed: int,
        work_dir: Path,
        device: torch.device | None = None,
    ) -> None:
        self.hyper = hyper
        self.seed = seed
        self.work_dir = work_dir
        self.device = device or pick_device()
        torch.manual_seed(seed)
        base: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
            str(base_gguf.parent), gguf_file=base_gguf.name, dtype=torch.float32
        )
        self.config = base.config
        lora = LoraConfig(
            r=LORA_RANK,
            lora_alpha=LORA_ALPHA,
            lora_dropout=0.0,
            target_modules=TARGET_MODULES,
            task_type="CAUSAL_LM",
        )
        self.model: PeftModel = get_peft_model(base, lora)
        self.model.to(self.device)
        self.lr = BASE_LEARNING_RATE * hyper.learning_rate_multiplier
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad], lr=self.lr
        )

    # -- state -------------------------------------------------------------------------

    def _adapter_state(self) -> dict[str, torch.Tensor]:
        state = get_peft_model_state_dict(self.model)
        return {k: v.detach().cpu().contiguous() for k, v in state.items()}

    def restore(self, path: Path) -> None:
        """Load the adapter and optimizer state of a checkpoint."""
        set_peft_model_state_dict(self.model, load_file(str(path / "adapter.safetensors")))
        optimizer = torch.load(path / "optimizer.pt", map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(optimizer)

    def save(self, position: Position) -> Path:
        """Write a checkpoint atomically (a folder renamed into place when complete)."""
        prefix = "step" if position.kind == "epoch" else "pause"
        final = self.work_dir / "checkpoints" / f"{prefix}-{position.step}"
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        state = self._adapter_state()
        save_file(state, str(tmp / "adapter.safetensors"))
        torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
        if position.kind == "epoch":
            self.export(tmp / "adapter.gguf", state)
        (tmp / "state.json").write_text(json.dumps(asdict(position)))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        self._prune(keep=final)
        return final

    def _prune(self, keep: Path) -> None:
        """Only the newest checkpoint is resumed from: older ones keep just their GGUF
        adapter (a servable model), and older pause points go."""
        for state in self.work_dir.glob("checkpoints/*/state.json"):
            folder = state.parent
            if folder == keep:
                continue
            if not (folder / "adapter.gguf").exists():
                shutil.rmtree(folder, ignore_errors=True)
                continue
            for name in ("optimizer.pt", "adapter.safetensors"):
                (folder / name).unlink(missing_ok=True)

    def export(self, path: Path, state: dict[str, torch.Tensor] | None = None) -> None:
        """The adapter as a GGUF file llama.cpp loads beside the base model."""
        write_lora_gguf(
            state if state is not None else self._adapter_state(),
            path,
            architecture="llama",
            n_layers=self.config.num_hidden_layers,
            n_head=self.config.num_attention_heads,
            n_head_kv=self.config.num_key_value_heads,
            alpha=LORA_ALPHA,
        )

    # -- the loop ----------------------------------------------------------------------

    def order(self, epoch: int, n: int) -> list[int]:
        """The example order of ``epoch`` (a function of the seed and the epoch only)."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=generator).tolist()

    def steps_per_epoch(self, n: int) -> int:
        return math.ceil(n / self.hyper.batch_size)

    def _tensors(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        width = max(len(e.input_ids) for e in examples)
        ids, mask, labels = [], [], []
        for e in examples:
            pad = width - len(e.input_ids)
            ids.append(e.input_ids + [0] * pad)
            mask.append([1] * len(e.input_ids) + [0] * pad)
            labels.append(e.labels + [IGNORE] * pad)
        return {
            "input_ids": torch.tensor(ids, device=self.device),
            "attention_mask": torch.tensor(mask, device=self.device),
            "labels": torch.tensor(labels, device=self.device),
        }

    def _metrics(self, batch: dict[str, torch.Tensor], logits: torch.Tensor) -> tuple[int, int]:
        """Correct and counted next-token predictions on the trained tokens."""
        predicted = logits[:, :-1].argmax(dim=-1)
        target = batch["labels"][:, 1:]
        counted = target != IGNORE
        return int((predicted.eq(target) & counted).sum()), int(counted.sum())

    def evaluate(self, examples: list[Example]) -> tuple[float, float]:
        """Mean loss and token accuracy on ``examples`` (no gradients)."""
        self.model.eval()
        loss_sum, correct, counted = 0.0, 0, 0
        with torch.no_grad():
            for start in range(0, len(examples), self.hyper.batch_size):
                batch = self._tensors(examples[start : start + self.hyper.batch_size])
                out = self.model(**batch)
                right, n = self._metrics(batch, out.logits)
                loss_sum += float(out.loss) * n
                correct, counted = correct + right, counted + n
        self.model.train()
        return loss_sum / max(counted, 1), correct / max(counted, 1)

    def train(
        self,
        examples: list[Example],
        validation: list[Example],
        *,
        start: Position,
        emit: Emit,
        pause_requested: Callable[[], bool],
    ) -> Position:
        """Train from ``start`` to the end (or to a pause); returns where it stopped."""
        per_epoch = self.steps_per_epoch(len(examples))
        total = per_epoch * self.hyper.n_epochs
        step, tokens, elapsed = start.step, start.trained_tokens, start.elapsed_s
        self.model.train()
        for epoch in range(start.epoch, self.hyper.n_epochs):
            order = self.order(epoch, len(examples))
            first = start.next_batch if epoch == start.epoch else 0
            for index in range(first, per_epoch):
                if pause_requested():
                    position = Position(epoch, index, step, tokens, elapsed, "pause")
                    self.save(position)
                    return position
                began = time.perf_counter()
                picked = order[index * self.hyper.batch_size : (index + 1) * self.hyper.batch_size]
                batch = self._tensors([examples[i] for i in picked])
                for group in self.optimizer.param_groups:
                    group["lr"] = self.lr * (1 - (1 - FINAL_LR_FRACTION) * step / max(total, 1))
                out = self.model(**batch)
                out.loss.backward()
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                right, counted = self._metrics(batch, out.logits.detach())
                step += 1
                tokens += int(batch["attention_mask"].sum())
                elapsed += time.perf_counter() - began
                metrics: dict[str, Any] = {
                    "step": step,
                    "total_steps": total,
                    "epoch": epoch + 1,
                    "train_loss": float(out.loss.detach()),
                    "train_mean_token_accuracy": right / max(counted, 1),
                    "trained_tokens": tokens,
                    "elapsed_s": elapsed,
                }
                if index == per_epoch - 1 and validation:
                    valid_loss, valid_accuracy = self.evaluate(validation)
                    metrics |= {
                        "valid_loss": valid_loss,
                        "valid_mean_token_accuracy": valid_accuracy,
                    }
                emit({"type": "step"} | metrics)
            position = Position(epoch + 1, 0, step, tokens, elapsed, "epoch")
            path = self.save(position)
            emit({"type": "checkpoint", "path": str(path), "metrics": metrics})
        return Position(self.hyper.n_epochs, 0, step, tokens, elapsed, "epoch")
