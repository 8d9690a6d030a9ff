"""Usage buckets as OpenAI's Usage API pages them."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from workhorse.api.usage.schemas import (
    CompletionsBucket,
    CompletionsPage,
    CompletionsResult,
    EmbeddingsBucket,
    EmbeddingsPage,
    EmbeddingsResult,
)
from workhorse.errors import InvalidRequest
from workhorse.store.usage import Row, UsageStore

Width = Literal["1m", "1h", "1d"]
Group = Literal["project_id", "api_key_id", "model"]
WIDTHS = {"1m": 60, "1h": 3600, "1d": 86400}
# Buckets a page holds by default and at most, as OpenAI documents them.
PAGE = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}


@dataclass(frozen=True)
class UsageQuery:
    """A validated Usage API query."""

    start: int
    end: int
    width: str
    group_by: tuple[str, ...]
    filters: dict[str, list[str]]
    limit: int


def parse_query(
    *,
    start_time: int,
    end_time: int | None,
    bucket_width: Width,
    group_by: list[Group],
    project_ids: list[str],
    api_key_ids: list[str],
    models: list[str],
    limit: int | None,
    page: str | None,
) -> UsageQuery:
    """400 naming the parameter for what the parameters' types cannot say (the width and
    the groups are checked by theirs)."""
    start = start_time // 60 * 60  # usage is kept per minute; buckets start at start_time
    if page is not None:
        if not page.isdigit() or int(page) < start:
            raise InvalidRequest("page is not a cursor this query returned", param="page")
        start = int(page)
    end = end_time if end_time is not None else int(time.time()) // 60 * 60 + 60
    if end <= start:
        raise InvalidRequest("end_time must be after start_time", param="end_time")
    default, most = PAGE[bucket_width]
    if limit is not None and not 1 <= limit <= most:
        raise InvalidRequest(f"limit is 1 to {most} for {bucket_width} buckets", param="limit")
    filters = {
        name: values
        for name, values in (
            ("project_id", project_ids),
            ("api_key_id", api_key_ids),
            ("model", models),
        )
        if values
    }
    return UsageQuery(
        start, end, bucket_width, tuple(dict.fromkeys(group_by)), filters, limit or default
    )


@dataclass(frozen=True)
class Bucket:
    start: int
    end: int
    rows: list[Row]


async def buckets(
    store: UsageStore, apis: tuple[str, ...], query: UsageQuery
) -> tuple[list[Bucket], str | None]:
    """One page of buckets (empty ones included) and the next page's cursor."""
    width = WIDTHS[query.width]
    starts = list(range(query.start, query.end, width))
    page, rest = starts[: query.limit], starts[query.limit :]
    page_end = min(page[-1] + width, query.end)
    rows = await store.sums(apis, query.start, page_end, width, query.group_by, query.filters)
    by_start: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        by_start[row.start].append(row)
    found = [Bucket(s, min(s + width, query.end), by_start.get(s, [])) for s in page]
    return found, str(rest[0]) if rest else None


async def completions_page(store: UsageStore, query: UsageQuery) -> CompletionsPage:
    """Tokens and model requests of chat completions, responses and messages."""
    found, next_page = await buckets(store, ("completions",), query)
    data = [
        CompletionsBucket(
            start_time=b.start,
            end_time=b.end,
            results=[
                CompletionsResult(
                    input_tokens=row.totals["input_tokens"],
                    output_tokens=row.totals["output_tokens"],
                    num_model_requests=row.totals["model_requests"],
                    **row.group,
                )
                for row in b.rows
            ],
        )
        for b in found
    ]
    return CompletionsPage(data=data, has_more=next_page is not None, next_page=next_page)


async def embeddings_page(store: UsageStore, query: UsageQuery) -> EmbeddingsPage:
    """Tokens and model requests of embeddings."""
    found, next_page = await buckets(store, ("embeddings",), query)
    data = [
        EmbeddingsBucket(
            start_time=b.start,
            end_time=b.end,
            results=[
                EmbeddingsResult(
                    input_tokens=row.totals["input_tokens"],
                    num_model_requests=row.totals["model_requests"],
                    **row.group,
                )
                for row in b.rows
            ],
        )
        for b in found
    ]
    return EmbeddingsPage(data=data, has_more=next_page is not None, next_page=next_page)
