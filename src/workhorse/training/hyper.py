"""Hyperparameters of a run, with ``auto`` resolved from the training set's size."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Hyperparameters:
    """Resolved hyperparameters (``auto`` already decided)."""

    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float


def resolve(
    n_examples: int, n_epochs: int | None, batch_size: int | None, multiplier: float | None
) -> Hyperparameters:
    """``auto`` values for a training set of ``n_examples``, chosen as OpenAI documents:
    enough epochs that small sets are seen about 100 times in all (at most 25), 3 for
    mid-sized ones, fewer for very large ones; batches of about 0.2 % of the examples."""
    if n_epochs is None:
        if n_examples * 3 < 100:
            n_epochs = min(25, math.ceil(100 / n_examples))
        elif n_examples * 3 > 25_000:
            n_epochs = max(1, 25_000 // n_examples)
        else:
            n_epochs = 3
    if batch_size is None:
        batch_size = max(1, min(32, round(n_examples * 0.002)))
    return Hyperparameters(n_epochs, min(batch_size, n_examples), multiplier or 1.0)
