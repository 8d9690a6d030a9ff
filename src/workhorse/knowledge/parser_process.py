"""The parser process: parses and chunks documents under the operating system's limits.

``knowledge.sandbox`` starts it as ``python -m workhorse.knowledge.parser_process``. Its
first line on stdin is its setup (the limits, the tokenizer); it loads the parsers and
the tokenizer, then limits itself before it reads any document:

- address space (``RLIMIT_AS``): an allocation past it fails with ``MemoryError``, which
  this process reports, and then it exits (a parser that ran out of memory may have left
  its state broken); a C library that crashes instead is reported by the parent;
- CPU time (``RLIMIT_CPU``, set afresh for each document): past it the kernel ends the
  process with ``SIGXCPU``;
- open files (``RLIMIT_NOFILE``), file size 0 (``RLIMIT_FSIZE``: it cannot grow a file),
  no core dumps;
- nice 10, so that serving wins the CPU when both want it, and the first to go when the
  machine runs out of memory (``oom_score_adj`` 1000);
- it dies with its parent (``PR_SET_PDEATHSIG``): a server killed mid-parse leaves no
  orphan parsing on.

Then one request per line on stdin, each answered on stdout by lines of JSON:

    {"chunks": N}                                         parsed and chunked: N chunks
    {"batch": [[index, text, location, tokens], ...]}    follow, in batches
    {"done": true}

or, at any point, ``{"error": NAME, "message": TEXT}``. Descriptor 1 is pointed at
stderr, so that nothing a library prints can corrupt the answers.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import resource
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from workhorse.errors import DocumentError, DocumentLimitExceeded
from workhorse.knowledge.chunk import Chunk, WordPieceCounter, chunk
from workhorse.knowledge.limits import DocumentLimits
from workhorse.knowledge.parse import parse

EXIT_OUT_OF_MEMORY = 3
"""Exit status after a ``MemoryError`` (the error line may not have been written)."""

OUTPUT_CHARS_PER_CHAR = 3
"""Characters of chunk text sent back per character of the document's text, at most."""

MAX_LOCATION_CHARS = 500
"""Characters of a chunk's location sent back."""

_PR_SET_PDEATHSIG = 1
_NICE = 10
_OOM_SCORE_ADJ = "1000"  # under memory pressure the kernel kills a parser, not the server


def main() -> None:
    """Serve requests until stdin closes."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    setup = json.loads(requests.readline())
    limits = DocumentLimits(**setup["document_limits"])
    counter = WordPieceCounter(Path(setup["tokenizer"]))
    cpu_s = float(setup["process_limits"]["cpu_s"])
    _confine(setup["process_limits"], int(setup["parent"]))
    _send(answers, {"ready": True})
    for line in requests:
        request = json.loads(line)
        _limit_cpu(cpu_s)
        try:
            for answer in _answer(request, limits, counter):
                _send(answers, answer)
        except MemoryError:
            _out_of_memory(answers)


def _answer(
    request: dict[str, Any], limits: DocumentLimits, counter: WordPieceCounter
) -> Iterator[dict[str, Any]]:
    filename = str(request["filename"])
    path = Path(request["path"])
    try:
        path.stat()
    except OSError as exc:  # the stored file itself: not the document's doing
        yield {"error": "OSError", "message": str(exc), "errno": exc.errno}
        return
    try:
        chunks = chunk(
            parse(path, filename, limits=limits),
            counter,
            max_tokens=int(request["max_tokens"]),
            overlap_tokens=int(request["overlap_tokens"]),
        )
        _check_output(chunks, filename, limits)
    except DocumentError as exc:
        yield {"error": type(exc).__name__, "message": str(exc)}
        return
    except MemoryError:
        raise  # reported by main(), which then ends this process
    except RecursionError:
        yield {"error": "RecursionError", "message": f"{filename} is nested too deeply to parse"}
        return
    except OSError as exc:
        if exc.errno == errno.EMFILE:
            yield {"error": "OSError", "message": str(exc), "errno": exc.errno}
            return
        # The stored file was readable: what fails now is the document's structure (a zip
        # directory pointing before the file's start, say).
        yield {"error": "Exception", "message": f"{type(exc).__name__}: {exc}"}
        return
    except Exception as exc:  # a parser's bug on this file: the same every time
        detail = str(exc).strip()[:300]
        yield {"error": "Exception", "message": f"{type(exc).__name__}: {detail}"}
        return
    yield {"chunks": len(chunks)}
    size = max(int(request["batch"]), 1)
    for start in range(0, len(chunks), size):
        yield {"batch": [_row(c) for c in chunks[start : start + size]]}
    yield {"done": True}


def _check_output(chunks: list[Chunk], filename: str, limits: DocumentLimits) -> None:
    """Chunks repeat some text (overlap, heading paths): at most ``OUTPUT_CHARS_PER_CHAR``
    times the document's own characters may go back to the parent."""
    budget = OUTPUT_CHARS_PER_CHAR * limits.max_chars
    if sum(len(piece.text) for piece in chunks) > budget:
        raise DocumentLimitExceeded(
            f"{filename}: its chunks would hold more than {budget:,} characters"
            " (limit: WORKHORSE_PARSE_MAX_CHARS)"
        )


def _row(piece: Chunk) -> list[Any]:
    location = piece.location[:MAX_LOCATION_CHARS] if piece.location else piece.location
    return [piece.index, piece.text, location, piece.tokens]


def _send(answers: BinaryIO, answer: dict[str, Any]) -> None:
    answers.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
    answers.flush()


def _out_of_memory(answers: BinaryIO) -> None:
    with contextlib.suppress(BaseException):
        _send(answers, {"error": "MemoryError", "message": ""})
    os._exit(EXIT_OUT_OF_MEMORY)


def _confine(process_limits: dict[str, Any], parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        sys.exit(0)  # the parent died before the line above took effect
    os.nice(_NICE)
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text(_OOM_SCORE_ADJ)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no 2 GiB core dump per crash
    memory = int(process_limits["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    files = int(process_limits["open_files"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    # Writing a file fails (EFBIG) instead of killing the process with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def _limit_cpu(cpu_s: float) -> None:
    """Allow the next document ``cpu_s`` seconds of CPU beyond what was used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + cpu_s) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


if __name__ == "__main__":
    main()
