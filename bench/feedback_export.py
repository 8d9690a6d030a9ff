"""Feedback export at flat memory: ``GET /v1/feedback/export`` of 10,000 and of 100,000
ratings, side by side in one run, with the server's resident memory sampled throughout.

The ratings are written straight into the server's database (one stored chat completion
rated over and over, as a busy chatbot's thumbs would be); the export reads them in
batches and resolves each batch's subjects in one query, so the server's memory growth
should not depend on how many there are. Prints lines/s and the peak RSS growth of each,
and the ratio of the two growths (flat: about 1).

    .venv/bin/python bench/feedback_export.py [--small 10000] [--large 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil
from sqlalchemy import create_engine, insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import Server, run_workhorse

from workhorse.store.db import sync_url
from workhorse.store.tables import FeedbackRecord, FeedbackTag

MODEL = "smollm2-135m-instruct"


def seed(url: str, owner: str, subject: str, count: int, tag: str) -> None:
    """``count`` ratings of ``subject``, tagged ``tag`` (only the last one is latest)."""
    engine = create_engine(sync_url(url))
    now = int(time.time())
    rows = [
        {
            "id": f"fb_{tag}_{i}",
            "owner": owner,
            "api_key_id": None,
            "subject_type": "chat_completion",
            "subject_id": subject,
            "conversation_id": None,
            "model": MODEL,
            "rating": "up" if i % 2 else "down",
            "score": float(i % 2),
            "scale_min": None,
            "scale_max": None,
            "comment": f"comment {i}",
            "correction": None,
            "tags_json": json.dumps([tag]),
            "metadata_json": "{}",
            "latest": True,  # each counts: the export is of every one of them
            "created_at": now,
        }
        for i in range(count)
    ]
    tags = [{"feedback_id": row["id"], "tag": tag} for row in rows]
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(FeedbackRecord.__table__), rows[start : start + 5000])
            conn.execute(insert(FeedbackTag.__table__), tags[start : start + 5000])
    engine.dispose()


def export(server: Server, tag: str, pid: int) -> tuple[int, float, int]:
    """Lines exported, seconds, and the server's peak RSS growth (bytes) meanwhile."""
    process = psutil.Process(pid)
    base = process.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            done.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    lines = 0
    with httpx.stream(
        "GET",
        server.v1 + "/feedback/export",
        params={"tag": tag, "history": "true"},
        headers=server.headers(),
        timeout=600,
    ) as answer:
        answer.raise_for_status()
        for line in answer.iter_lines():
            if line:
                lines += 1
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return lines, elapsed, peak[0] - base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        with run_workhorse(Path(tmp), None, data_dir=data, WORKHORSE_ACCESS_LOG="false") as server:
            url = f"sqlite:///{data / 'workhorse.db'}"
            completion = httpx.post(
                server.v1 + "/chat/completions",
                json={
                    "model": MODEL,
                    "messages": [{"role": "user", "content": "Say hi."}],
                    "max_tokens": 6,
                    "store": True,
                },
                headers=server.headers(),
                timeout=60,
            ).json()
            owner = httpx.get(server.v1 + "/admin/keys", headers=server.headers()).json()["data"][
                0
            ]["project_id"]
            export(server, "warm", server.process.pid)  # warm the path
            results = {}
            for name, count in (("small", args.small), ("large", args.large)):
                tag = f"{name}-{uuid.uuid4().hex[:6]}"
                seed(url, owner, completion["id"], count, tag)
                results[name] = export(server, tag, server.process.pid)
                lines, seconds, growth = results[name]
                assert lines == count, (lines, count)
                print(
                    f"{name:5}  {lines:7d} lines  {seconds:6.1f} s  {lines / seconds:8.0f} lines/s"
                    f"  peak RSS growth {growth / 2**20:6.1f} MiB"
                )
            small, large = results["small"][2], results["large"][2]
            print(
                f"RSS growth, large / small: {large / max(small, 1):.2f} "
                f"(for {args.large / args.small:.0f} times the ratings)"
            )


if __name__ == "__main__":
    main()
