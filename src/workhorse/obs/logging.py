"""Logs on stderr: one JSON object per line, or readable coloured lines on a terminal.

Exceptions are logged by type and message only: a stack trace can carry request data
or secrets, and operators search these lines, they do not read them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def exception_types(exc: BaseException) -> list[str]:
    """Type names of ``exc``, the exceptions it groups, and their causes; no messages."""
    names: list[str] = []
    pending: list[BaseException] = [exc]
    while pending and len(names) < 16:
        current = pending.pop(0)
        names.append(type(current).__name__)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        cause = current.__cause__ or current.__context__
        if cause is not None:
            pending.append(cause)
    return names


class JsonFormatter(logging.Formatter):
    """Renders a record and its ``extra`` fields as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = exception_types(record.exc_info[1])
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        return json.dumps(entry, default=str)


_COLOURS = {"debug": "\x1b[2m", "info": "\x1b[32m", "warning": "\x1b[33m", "error": "\x1b[31m"}
_RESET, _DIM = "\x1b[0m", "\x1b[2m"


class ConsoleFormatter(logging.Formatter):
    """A record as one readable line for a person at a terminal: time, level, logger,
    message, then its fields as ``key=value``; levels coloured."""

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        fields = [
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_") and value is not None
        ]
        if record.exc_info and record.exc_info[1] is not None:
            fields.append("error=" + ",".join(exception_types(record.exc_info[1])))
        colour = _COLOURS.get(level, "")
        head = f"{_DIM}{when}{_RESET} {colour}{level:<7}{_RESET} {record.name}: "
        tail = f" {_DIM}{' '.join(fields)}{_RESET}" if fields else ""
        return head + record.getMessage() + tail


def configure_logging(level: str, log_format: str = "auto") -> None:
    """Send every logger (ours, uvicorn's, libraries') through one formatter: JSON, or
    readable lines (``text``; ``auto`` picks them when standard error is a terminal)."""
    handler = logging.StreamHandler(sys.stderr)
    readable = log_format == "text" or (log_format == "auto" and sys.stderr.isatty())
    handler.setFormatter(ConsoleFormatter() if readable else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Our middleware writes the access log; uvicorn's would repeat it without the key id.
    logging.getLogger("uvicorn.access").disabled = True
