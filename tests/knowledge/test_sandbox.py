"""ParserPool: documents parsed in parser processes under the operating system's limits.

Each limit is hit for real: a document that needs more memory than the process may have,
one that takes longer than its CPU or wall-clock allowance, a parser process killed by a
signal mid-document (as a crash in a C extension would end it), a parent killed with -9.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import TypeVar

import pytest

from tests.knowledge.hostile import docx_bomb, xlsx_rows
from tests.servers import wait_for
from workhorse.errors import (
    DocumentLimitExceeded,
    EmptyDocument,
    ParserCrashed,
    ParserUnavailable,
)
from workhorse.knowledge import sandbox
from workhorse.knowledge.chunk import Chunk, WordPieceCounter, chunk
from workhorse.knowledge.limits import DocumentLimits, ProcessLimits
from workhorse.knowledge.parse import parse
from workhorse.knowledge.sandbox import ParserPool
from workhorse.providers.registry import bundled_embedding_model_path

TOKENIZER = bundled_embedding_model_path() / "tokenizer.json"
T = TypeVar("T")
MiB = 1024 * 1024


def run(make: Callable[[ParserPool], Awaitable[T]], **limits: float) -> T:
    """``make(pool)`` with a pool of one parser process under ``limits``."""

    async def body() -> T:
        pool = ParserPool(
            ProcessLimits(**limits),  # type: ignore[arg-type]
            DocumentLimits(max_rows=10_000_000),
            TOKENIZER,
            size=1,
        )
        try:
            return await make(pool)
        finally:
            await pool.aclose()

    return asyncio.run(body())


async def chunks_of(pool: ParserPool, path: Path, filename: str) -> list[Chunk]:
    out: list[Chunk] = []
    batches = pool.chunks(path, filename, max_tokens=256, overlap_tokens=64, batch=16)
    async with aclosing(batches):
        async for part in batches:
            assert len(part) <= 16
            out += part
    return out


def text_file(tmp_path: Path, paragraphs: int = 300) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text(
        "\n\n".join(f"Paragraph {i} tells of the harbour and its boats." for i in range(paragraphs))
    )
    return path


def pids(pool: ParserPool) -> list[int]:
    return [parser.process.pid for parser in pool._idle]


def test_chunks_are_those_of_parsing_in_process_and_the_process_is_reused(
    tmp_path: Path,
) -> None:
    path = text_file(tmp_path)
    expected = chunk(
        parse(path, "notes.txt"),
        WordPieceCounter(TOKENIZER),
        max_tokens=256,
        overlap_tokens=64,
    )

    async def twice(pool: ParserPool) -> tuple[list[Chunk], list[Chunk], list[int], list[int]]:
        first = await chunks_of(pool, path, "notes.txt")
        after_first = pids(pool)
        second = await chunks_of(pool, path, "notes.txt")
        return first, second, after_first, pids(pool)

    first, second, after_first, after_second = run(twice)
    assert first == second == expected
    assert len(after_first) == 1
    assert after_first == after_second


def test_the_parser_process_runs_under_its_limits(tmp_path: Path) -> None:
    path = text_file(tmp_path, 3)

    async def limits(pool: ParserPool) -> str:
        await chunks_of(pool, path, "notes.txt")
        return proc_file(pids(pool)[0], "limits")

    table = {
        line[:26].strip(): line[26:].split()[:2]
        for line in run(limits, memory_bytes=768 * MiB, open_files=32).splitlines()[1:]
    }
    assert table["Max address space"] == [str(768 * MiB)] * 2
    assert table["Max open files"] == ["32", "32"]
    assert table["Max file size"] == ["0", "0"]


def test_a_document_needing_more_memory_than_allowed_fails_and_the_next_one_parses(
    tmp_path: Path,
) -> None:
    bomb = docx_bomb(tmp_path / "bomb.docx", 100 * MiB, ratio_friendly=True)
    path = text_file(tmp_path)

    async def both(pool: ParserPool) -> tuple[str, int]:
        with pytest.raises(DocumentLimitExceeded) as caught:
            await chunks_of(pool, bomb, "bomb.docx")
        return caught.value.message, len(await chunks_of(pool, path, "notes.txt"))

    message, chunks = run(both, memory_bytes=400 * MiB)
    assert message == (
        "bomb.docx: parsing needed more than 400 MiB of memory"
        " (limit: WORKHORSE_PARSE_MEMORY_BYTES)"
    )
    assert chunks > 0


@pytest.mark.slow
def test_cpu_and_wall_clock_limits_end_a_long_parse(tmp_path: Path) -> None:
    rows = xlsx_rows(tmp_path / "rows.xlsx", 1_000_000)

    async def parse_rows(pool: ParserPool) -> str:
        with pytest.raises(DocumentLimitExceeded) as caught:
            await chunks_of(pool, rows, "rows.xlsx")
        return caught.value.message

    assert run(parse_rows, cpu_s=1, wall_s=600) == (
        "rows.xlsx: parsing used more than 1 s of CPU time (limit: WORKHORSE_PARSE_CPU_S)"
    )
    assert run(parse_rows, cpu_s=600, wall_s=1) == (
        "rows.xlsx: parsing took longer than 1 s (limit: WORKHORSE_PARSE_WALL_S)"
    )


def test_a_parser_process_that_crashes_fails_its_document(tmp_path: Path) -> None:
    rows = xlsx_rows(tmp_path / "rows.xlsx", 1_000_000)
    path = text_file(tmp_path, 3)

    async def crash(pool: ParserPool) -> str:
        parsing = await signalled_mid_document(pool, path, rows, signal.SIGSEGV)
        with pytest.raises(ParserCrashed) as caught:
            await parsing
        return caught.value.message

    assert run(crash) == "rows.xlsx: the parser crashed reading it (killed by SIGSEGV)"


async def signalled_mid_document(
    pool: ParserPool, warm_up: Path, workbook: Path, signum: signal.Signals
) -> asyncio.Task[list[Chunk]]:
    """Start parsing ``workbook`` and send its parser process ``signum`` while it reads."""
    await chunks_of(pool, warm_up, "notes.txt")
    pid = pids(pool)[0]
    parsing = asyncio.create_task(chunks_of(pool, workbook, "rows.xlsx"))
    read = read_bytes(pid)
    while read_bytes(pid) < read + 4 * MiB:  # it is reading the workbook
        await asyncio.wait({parsing}, timeout=0.02)
    os.kill(pid, signum)
    return parsing


def proc_file(pid: int, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_text()


def read_bytes(pid: int) -> int:
    fields = dict(line.split(": ") for line in proc_file(pid, "io").splitlines())
    return int(fields["rchar"])


def test_document_errors_come_back_as_themselves(tmp_path: Path) -> None:
    empty = tmp_path / "blank.md"
    empty.write_text("   \n\n  ")

    async def blank(pool: ParserPool) -> str:
        with pytest.raises(EmptyDocument) as caught:
            await chunks_of(pool, empty, "blank.md")
        return caught.value.message

    assert run(blank) == "blank.md contains no text (only whitespace)"


PARENT = """
import asyncio, sys
from pathlib import Path
from workhorse.knowledge.limits import DocumentLimits, ProcessLimits
from workhorse.knowledge.sandbox import ParserPool

async def main():
    pool = ParserPool(ProcessLimits(), DocumentLimits(), Path(sys.argv[1]), size=1)
    parser = await pool._start()
    print(parser.process.pid, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_a_parser_process_dies_with_its_parent() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", PARENT, str(TOKENIZER)], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.kill()
    wait_for(lambda: not alive(child), timeout=30, what="the orphaned parser process to end")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_parser_stopped_from_outside_is_not_the_documents_failure(tmp_path: Path) -> None:
    rows = xlsx_rows(tmp_path / "rows.xlsx", 1_000_000)
    path = text_file(tmp_path, 3)

    async def terminated(pool: ParserPool) -> str:
        # As a service manager stopping the whole process group would.
        parsing = await signalled_mid_document(pool, path, rows, signal.SIGTERM)
        with pytest.raises(ParserUnavailable) as caught:
            await parsing
        return caught.value.message

    assert run(terminated) == (
        "rows.xlsx: its parser process was stopped from outside (SIGTERM); it will be parsed again"
    )


def test_a_caller_that_stops_reading_early_stops_the_parser_however_much_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small line limit: the parser's unread answers soon exceed what the reader buffers.
    monkeypatch.setattr(sandbox, "MAX_LINE_BYTES", 64 * 1024)
    path = text_file(tmp_path, 20_000)

    class Enough(Exception):
        pass

    async def read_one(pool: ParserPool) -> None:
        batches = pool.chunks(path, "notes.txt", max_tokens=256, overlap_tokens=64, batch=1)
        async with aclosing(batches):
            async for _ in batches:
                raise Enough

    async def first_batch_only(pool: ParserPool) -> int:
        with pytest.raises(Enough):
            await read_one(pool)
        return len(pids(pool))

    async def bounded(pool: ParserPool) -> int:
        return await asyncio.wait_for(first_batch_only(pool), 60)

    assert run(bounded) == 0  # stopped and not kept
