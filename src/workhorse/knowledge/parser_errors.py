"""Why a parser process failed a document, as the error the job ends with.

A parser process either answers with an error (``{"error": NAME, "message": TEXT}``: a
``DocumentError`` by its class name, or what it caught: ``MemoryError``,
``RecursionError``, ``OSError``, a parser's own ``Exception``) or dies, and then its exit
status says why (``death_reason``). Everything the document did is the document's
failure; only a parser stopped from outside, or a stored file that cannot be read, is
retried.
"""

from __future__ import annotations

import errno
import signal
from typing import Any

from workhorse.errors import (
    CorruptDocument,
    DocumentError,
    DocumentLimitExceeded,
    ParserCrashed,
    ParserUnavailable,
    WorkhorseError,
)
from workhorse.knowledge.limits import ProcessLimits, size_words
from workhorse.knowledge.parser_process import EXIT_OUT_OF_MEMORY

_STOPPED_FROM_OUTSIDE = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})
"""Signals a service manager sends a whole process group when it stops the service: the
document did nothing wrong, and its job is run again."""

_DOCUMENT_ERRORS: list[type[DocumentError]] = [DocumentError, *DocumentError.__subclasses__()]
_ERRORS = {cls.__name__: cls for cls in _DOCUMENT_ERRORS}
"""Document errors by the class name a parser process sends."""


def death_reason(code: int, filename: str, limits: ProcessLimits) -> WorkhorseError:
    """Why a parser process that exited with ``code`` while reading ``filename`` died."""
    if code == EXIT_OUT_OF_MEMORY:
        return _out_of_memory(filename, limits)
    if code == -signal.SIGXCPU:
        return DocumentLimitExceeded(
            f"{filename}: parsing used more than {limits.cpu_s:g} s of CPU time"
            " (limit: WORKHORSE_PARSE_CPU_S)"
        )
    if -code in _STOPPED_FROM_OUTSIDE:
        return ParserUnavailable(
            f"{filename}: its parser process was stopped from outside"
            f" ({signal.Signals(-code).name}); it will be parsed again"
        )
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = ", perhaps by the kernel for lack of memory" if code == -signal.SIGKILL else ""
        return ParserCrashed(f"{filename}: the parser crashed reading it (killed by {name}{hint})")
    return ParserCrashed(f"{filename}: the parser exited reading it (status {code})")


def failure(answer: dict[str, Any], filename: str, limits: ProcessLimits) -> WorkhorseError:
    """The error a parser process's ``{"error": NAME, "message": TEXT}`` answer stands for."""
    name, message = str(answer["error"]), str(answer.get("message", ""))
    if name == "MemoryError":
        return _out_of_memory(filename, limits)
    if name == "RecursionError":
        return DocumentLimitExceeded(message)
    if name == "OSError":
        if answer.get("errno") == errno.EMFILE:
            return DocumentLimitExceeded(
                f"{filename}: parsing needed more than {limits.open_files} open files"
                " (limit: WORKHORSE_PARSE_OPEN_FILES)"
            )
        return WorkhorseError(f"{filename}: reading the stored file failed: {message}")
    if name == "Exception":
        return CorruptDocument(f"{filename} could not be read ({message})")
    return _ERRORS.get(name, CorruptDocument)(message)


def _out_of_memory(filename: str, limits: ProcessLimits) -> DocumentLimitExceeded:
    return DocumentLimitExceeded(
        f"{filename}: parsing needed more than {size_words(limits.memory_bytes)} of memory"
        " (limit: WORKHORSE_PARSE_MEMORY_BYTES)"
    )
