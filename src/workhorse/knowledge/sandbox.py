"""Documents are parsed in parser processes, never in the server or worker itself.

The parsers (pypdf, python-docx, python-pptx, openpyxl, lxml) are large libraries, partly
in C, fed with files anyone with an API key uploads. ``ParserPool`` keeps up to
``parse_workers`` parser processes (``knowledge.parser_process``), started on demand and
reused between documents, and runs each document in one of them under the operating
system's limits (``ProcessLimits``: address space, CPU time, open files, no file writes)
and a wall-clock deadline kept here. Chunks come back as a stream of batches, so the
caller embeds while the rest is still arriving.

Whatever a document does to its parser process is that document's failure, with its
reason: ``DocumentLimitExceeded`` ("needed more than 2 GiB of memory to parse",
"parsing took longer than 240 s") or ``ParserCrashed`` (a signal). The process is then
replaced (``knowledge.parser_errors`` says which reason). Only a parser process that
cannot be started, or was stopped from outside, is not the file's fault
(``ParserUnavailable``, retried by the job).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from workhorse.errors import (
    DocumentLimitExceeded,
    ParserCrashed,
    ParserUnavailable,
    WorkhorseError,
)
from workhorse.knowledge.chunk import Chunk
from workhorse.knowledge.limits import DocumentLimits, ProcessLimits
from workhorse.knowledge.parser_errors import death_reason, failure

log = logging.getLogger("workhorse.parser")

STARTUP_S = 60.0
"""Seconds a new parser process may take to load its libraries and say it is ready."""

FILES_PER_PROCESS = 200
"""Documents a parser process reads before it is replaced (memory fragments over time)."""

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longest answer line accepted from a parser process (a batch of chunks)."""

STDERR_LINES = 100
"""Lines of a parser process's stderr logged per document (a hostile PDF can make pypdf
warn a hundred thousand times); the rest are counted."""

_OUTPUT_BYTES_PER_CHAR = 16
"""Bytes of answers per character of ``parse_max_chars``: chunks repeat text (at most 3
times, the parser process checks) and UTF-8 spends up to 4 bytes on a character."""

_CHILD_ENV = {
    # One thread each: the pool is the parallelism, and fewer threads reserve less of
    # the address space the limit counts.
    "RAYON_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
    "PYTHONDONTWRITEBYTECODE": "1",
}


class ParserPool:
    """Parser processes shared by a process's ingestion jobs."""

    def __init__(
        self,
        process_limits: ProcessLimits,
        document_limits: DocumentLimits,
        tokenizer: Path,
        *,
        size: int,
    ) -> None:
        self._process_limits = process_limits
        self._document_limits = document_limits
        self._tokenizer = tokenizer
        self._size = size
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_ParserProcess] = []
        self._closed = False

    async def chunks(
        self, path: Path, filename: str, *, max_tokens: int, overlap_tokens: int, batch: int
    ) -> AsyncGenerator[list[Chunk], None]:
        """The chunks of the document at ``path``, in batches of at most ``batch``.

        Use it with ``contextlib.aclosing``: a caller that stops early must let the
        generator end, so that the parser process it holds is stopped.
        """
        request = {
            "path": str(path),
            "filename": filename,
            "max_tokens": max_tokens,
            "overlap_tokens": overlap_tokens,
            "batch": batch,
        }
        async with self._slots:
            parser = await self._send(request)
            finished = False
            try:
                budget = _OUTPUT_BYTES_PER_CHAR * self._document_limits.max_chars
                answers = parser.answers(filename, self._process_limits, budget)
                async with contextlib.aclosing(answers):
                    async for part in answers:
                        yield part
                finished = True
            finally:
                if finished and self._keeps(parser):
                    self._idle.append(parser)
                else:
                    await parser.stop()

    def _keeps(self, parser: _ParserProcess) -> bool:
        return (
            not self._closed and len(self._idle) < self._size and parser.files < FILES_PER_PROCESS
        )

    async def warm(self) -> None:
        """Start the parser processes ahead of the first document (each takes about half
        a second of CPU to load its libraries)."""
        while not self._closed and len(self._idle) < self._size:
            try:
                parser = await self._start()
            except ParserUnavailable as exc:
                log.warning("could not start a parser process ahead of time: %s", exc)
                return
            if self._keeps(parser):
                self._idle.append(parser)
            else:
                await parser.stop()
                return

    async def _send(self, request: dict[str, Any]) -> _ParserProcess:
        """An idle or new parser process that has been sent ``request``."""
        while self._idle:
            parser = self._idle.pop()
            if await self._handed(parser, request):
                return parser
            await parser.stop()  # it died while idle: not this document's doing
        parser = await self._start()
        if not await self._handed(parser, request):
            await parser.stop()
            raise ParserUnavailable("a new parser process exited before it took a document")
        return parser

    @staticmethod
    async def _handed(parser: _ParserProcess, request: dict[str, Any]) -> bool:
        try:
            return await parser.send(request)
        except BaseException:  # cancelled mid-write: it is nobody's now
            await parser.stop()
            raise

    async def _start(self) -> _ParserProcess:
        setup = {
            "document_limits": self._document_limits.to_json(),
            "process_limits": self._process_limits.to_json(),
            "tokenizer": str(self._tokenizer),
            "parent": os.getpid(),
        }
        return await _ParserProcess.start(setup)

    async def aclose(self) -> None:
        """Stop the idle parser processes; those in use stop when their document ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for parser in idle:
            await parser.stop()


class _ParserProcess:
    """One parser process and the pipes to it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.files = 0
        self.last_line_bytes = 0
        self.stderr_lines = 0
        assert process.stderr is not None
        self._stderr = asyncio.create_task(self._forward(process.stderr))

    @classmethod
    async def start(cls, setup: dict[str, Any]) -> _ParserProcess:
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "workhorse.knowledge.parser_process",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **_CHILD_ENV},
                limit=MAX_LINE_BYTES,
                start_new_session=True,  # a Ctrl-C in the terminal is the server's to handle
            )
        except OSError as exc:
            raise ParserUnavailable(f"cannot start a parser process: {exc}") from exc
        parser = cls(process)
        try:
            if not await parser._write(setup):
                raise ParserUnavailable("a new parser process exited at once")
            ready = await asyncio.wait_for(parser._line(), STARTUP_S)
            if ready != {"ready": True}:
                raise ParserUnavailable(f"a new parser process said {ready!r} at start")
        except (TimeoutError, ValueError) as exc:
            await parser.stop()
            raise ParserUnavailable(f"a parser process did not start: {exc!r}") from exc
        except BaseException:
            await parser.stop()
            raise
        return parser

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def send(self, request: dict[str, Any]) -> bool:
        """Hand it a document; False when it is no longer there to take it."""
        if not self.alive:
            return False
        self.files += 1
        return await self._write(request)

    async def _write(self, message: dict[str, Any]) -> bool:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    async def _line(self) -> dict[str, Any] | None:
        """The next answer; None at the end of its output (it died)."""
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        self.last_line_bytes = len(line)
        if not line:
            return None
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def answers(
        self, filename: str, limits: ProcessLimits, budget: int
    ) -> AsyncGenerator[list[Chunk], None]:
        """The chunks it sends for the document it was given, at most ``budget`` bytes of
        them; its failure raised."""
        deadline = time.monotonic() + limits.wall_s
        expected: int | None = None
        received = 0
        self.stderr_lines = 0
        while True:
            # Until the document is parsed, the deadline counts; after it, the parser only
            # writes what it has, at the pace the caller reads.
            timeout = deadline - time.monotonic() if expected is None else limits.wall_s
            try:
                answer = await asyncio.wait_for(self._line(), max(timeout, 0.0))
            except TimeoutError:
                await self.stop()
                raise DocumentLimitExceeded(
                    f"{filename}: parsing took longer than {limits.wall_s:g} s"
                    " (limit: WORKHORSE_PARSE_WALL_S)"
                ) from None
            except ValueError as exc:  # a line over MAX_LINE_BYTES, or not JSON
                await self.stop()
                raise ParserCrashed(f"{filename}: the parser answered garbage ({exc})") from exc
            if answer is None:
                raise await self._died(filename, limits)
            if "error" in answer:
                raise failure(answer, filename, limits)
            budget -= self.last_line_bytes
            if budget < 0:
                await self.stop()
                raise DocumentLimitExceeded(f"{filename}: its parser sent too much text")
            if "chunks" in answer:
                expected = int(answer["chunks"])
            elif "batch" in answer:
                part = [Chunk(int(i), str(t), loc, int(n)) for i, t, loc, n in answer["batch"]]
                received += len(part)
                yield part
            elif answer.get("done"):
                if received != expected:
                    raise ParserCrashed(f"{filename}: the parser sent {received} of {expected}")
                return

    async def _died(self, filename: str, limits: ProcessLimits) -> WorkhorseError:
        code = await self.process.wait()
        await self._stop_forwarding()
        return death_reason(code, filename, limits)

    async def stop(self) -> None:
        """Kill it (it may be mid-document) and reap it."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        # What it wrote and nobody read must be drained: a reader holding more than its
        # limit stops reading the pipe, and wait() would never see the pipe close.
        assert self.process.stdout is not None
        with contextlib.suppress(TimeoutError, ValueError):
            while await asyncio.wait_for(self.process.stdout.read(1024 * 1024), 5):
                pass
        await self.process.wait()
        await self._stop_forwarding()

    async def _stop_forwarding(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stderr, 5)

    async def _forward(self, stderr: asyncio.StreamReader) -> None:
        """What it writes to stderr (warnings, tracebacks), into the log: the first
        ``STDERR_LINES`` lines of each document, then how many more there were."""
        pid = self.process.pid
        while True:
            try:
                line = await stderr.readline()
            except ValueError:  # a line over the reader's limit: skip it
                continue
            if not line:
                break
            self.stderr_lines += 1
            text = line.decode(errors="replace").rstrip()[:2000]
            if text and self.stderr_lines <= STDERR_LINES:
                log.warning("parser process: %s", text, extra={"parser_pid": pid})
            elif self.stderr_lines % 10_000 == 0:
                log.warning(
                    "parser process: %d lines on stderr for one document so far",
                    self.stderr_lines,
                    extra={"parser_pid": pid},
                )
            if self.stderr_lines % 100 == 0:
                await asyncio.sleep(0)  # buffered lines come without a pause: let others run
