"""Comparing runs of one eval: the items they disagree on."""

from __future__ import annotations

from typing import Any


def disagreements(by_run: list[dict[int, dict[str, Any]]]) -> list[int]:
    """The indices of the items some run passed and another did not (each run's output
    items by the index of the data source item they answer)."""
    indices = sorted({i for items in by_run for i in items})
    return [
        i
        for i in indices
        if len({items[i]["status"] == "pass" for items in by_run if i in items}) > 1
    ]
