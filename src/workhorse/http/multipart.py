"""``multipart/form-data`` bodies, parsed as they stream in (python-multipart).

Field parts become bracket-notation fields (see ``forms``). File parts go straight to
disk under a server-chosen name as their bytes arrive, hashed with SHA-256 on the way;
the client's filename is kept as data only, never used as a path. Every count and size
is capped, so 100,000 parts or an endless part header end in a 4xx, not in memory.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from workhorse.errors import InvalidRequest, PayloadTooLarge
from workhorse.http.jsonbody import parse_json


@dataclass(frozen=True)
class ReceivedFile:
    """A file part stored on disk by the server."""

    path: Path
    filename: str | None
    content_type: str | None
    size: int
    sha256: str


def write_upload(folder: Path, content: bytes) -> ReceivedFile:
    """Store bytes that arrived inline as an upload, as a file part would be; blocking."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"upload-{secrets.token_hex(16)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    return ReceivedFile(path, None, None, len(content), hashlib.sha256(content).hexdigest())


def _only_received(value: object) -> ReceivedFile:
    # Only the multipart reader makes these: a JSON or XML body naming a path is refused.
    if isinstance(value, ReceivedFile):
        return value
    raise ValueError("must be a file part of a multipart/form-data body")


UploadedFile = Annotated[
    ReceivedFile,
    PlainValidator(_only_received),
    # Requests are fingerprinted (Idempotency-Key) by the file's content, not its path.
    PlainSerializer(lambda f: {"sha256": f.sha256, "bytes": f.size, "filename": f.filename}),
    WithJsonSchema({"type": "string", "format": "binary"}),
]
"""A model field for a file part."""


@dataclass(frozen=True)
class JsonValue:
    """A field part sent as ``application/json``: its value, already typed."""

    value: Any


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


@dataclass(frozen=True)
class MultipartLimits:
    """Caps on one multipart body."""

    max_parts: int = 1000
    max_files: int = 16
    max_field_bytes: int = 1024 * 1024
    max_file_bytes: int = 1024 * 1024 * 1024
    max_header_bytes: int = 8 * 1024
    max_headers: int = 16


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    data: bytearray = field(default_factory=bytearray)
    file: Any = None
    path: Path | None = None
    digest: Any = None
    size: int = 0


class MultipartReader:
    """Feeds body chunks to python-multipart; collects fields and stored files."""

    def __init__(
        self,
        content_type: str,
        *,
        limits: MultipartLimits,
        upload_dir: Path,
        accept_files: bool,
    ) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise InvalidRequest("multipart body without a boundary", code="invalid_multipart")
        self._limits = limits
        self._upload_dir = upload_dir
        self._accept_files = accept_files
        self._part = _Part()
        self._parts = 0
        self._ended = False
        self.fields: list[tuple[str, Any]] = []
        self.files: list[ReceivedFile] = []
        self._open_paths: list[Path] = []
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
            max_header_count=limits.max_headers,
            max_header_size=limits.max_header_bytes,
        )

    def feed(self, chunk: bytes) -> None:
        """Parse the next bytes of the body."""
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise InvalidRequest(
                f"malformed multipart body: {exc}", code="invalid_multipart"
            ) from exc

    def finish(self) -> list[tuple[str, Any]]:
        """The fields (files as ``ReceivedFile``), once the closing boundary was seen."""
        if not self._ended:
            raise InvalidRequest(
                "multipart body is truncated: the closing boundary never came",
                code="invalid_multipart",
            )
        return self.fields

    def discard(self) -> None:
        """Delete every file this body stored (call when the request is done with them)."""
        if self._part.file is not None:
            self._part.file.close()
        for path in self._open_paths:
            path.unlink(missing_ok=True)

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > self._limits.max_parts:
            raise PayloadTooLarge(f"multipart body has more than {self._limits.max_parts} parts")
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._part.header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._part.header_value += data[start:end]

    def _on_header_end(self) -> None:
        part = self._part
        part.headers[part.header_name.decode("latin-1").lower()] = part.header_value.decode(
            "latin-1"
        )
        part.header_name = bytearray()
        part.header_value = bytearray()

    def _on_headers_finished(self) -> None:
        part = self._part
        _, options = parse_options_header(part.headers.get("content-disposition"))
        name = options.get(b"name")
        if not name:
            raise InvalidRequest(
                f"multipart part {self._parts} has no name in its Content-Disposition",
                code="invalid_multipart",
            )
        part.name = name.decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            return
        if not self._accept_files:
            raise InvalidRequest(
                f"part {part.name!r} is a file, but this operation takes no files",
                param=part.name,
            )
        if len(self.files) >= self._limits.max_files:
            raise PayloadTooLarge(f"multipart body has more than {self._limits.max_files} files")
        part.filename = filename.decode("utf-8", "replace")
        part.content_type = part.headers.get("content-type")
        self._upload_dir.mkdir(parents=True, exist_ok=True)
        part.path = self._upload_dir / f"upload-{secrets.token_hex(16)}"
        fd = os.open(part.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._open_paths.append(part.path)
        part.file = os.fdopen(fd, "wb")
        part.digest = hashlib.sha256()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        chunk = memoryview(data)[start:end]  # no copy on the way to disk
        part.size += len(chunk)
        if part.file is not None:
            if part.size > self._limits.max_file_bytes:
                raise PayloadTooLarge(
                    f"file {part.name!r} exceeds {self._limits.max_file_bytes} bytes"
                )
            part.file.write(chunk)
            part.digest.update(chunk)
            return
        if part.size > self._limits.max_field_bytes:
            raise PayloadTooLarge(
                f"field {part.name!r} exceeds {self._limits.max_field_bytes} bytes"
            )
        part.data += chunk

    def _on_part_end(self) -> None:
        part = self._part
        if part.file is not None and part.path is not None:
            part.file.close()
            part.file = None
            received = ReceivedFile(
                part.path, part.filename, part.content_type, part.size, part.digest.hexdigest()
            )
            self.files.append(received)
            self.fields.append((part.name, received))
            return
        if _is_json(part.headers.get("content-type")):
            # OpenAPI's multipart encoding: a part declared application/json carries its
            # field's value as JSON, any type, null included.
            try:
                self.fields.append((part.name, JsonValue(parse_json(bytes(part.data)))))
            except InvalidRequest as exc:
                raise InvalidRequest(
                    f"field {part.name!r}: {exc.message}", param=part.name, code=exc.code
                ) from exc
            return
        try:
            self.fields.append((part.name, bytes(part.data).decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise InvalidRequest(
                f"field {part.name!r} is not valid UTF-8 (byte {exc.start})", param=part.name
            ) from exc

    def _on_end(self) -> None:
        self._ended = True
