"""Where an upload's parts live on disk, and how they become one file; all blocking.

Each part is a file ``<data dir>/uploads/<upload id>/<part id>``, moved there (a rename
on the same file system, after an fsync) from where the multipart reader streamed it.
Completing concatenates the parts with one reused buffer, hashing on the way, into
``<data dir>/tmp/uploads``, from where the blob store adopts the result.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from pathlib import Path

from workhorse.http.multipart import ReceivedFile

COPY_CHUNK = 1024 * 1024
_UPLOAD_FOLDER = re.compile(r"^upload_[0-9a-f]{24}$")


def move_part(source: Path, folder: Path, part_id: str) -> Path:
    """Move a received part (fsynced first, so a recorded part is on disk) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as handle:
        os.fsync(handle.fileno())
    target = folder / part_id
    os.replace(source, target)
    return target


def assemble(folder: Path, parts: list[Path], *, md5: bool) -> tuple[ReceivedFile, str | None]:
    """Concatenate ``parts`` into a new file in ``folder``, in constant memory: the file,
    with its size and SHA-256, and its MD5 when asked for."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"upload-{secrets.token_hex(16)}"
    sha256 = hashlib.sha256()
    md5_digest = hashlib.md5(usedforsecurity=False) if md5 else None
    buffer = bytearray(COPY_CHUNK)
    view = memoryview(buffer)
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb", buffering=0) as source:
                    while count := source.readinto(buffer):
                        chunk = view[:count]
                        sha256.update(chunk)
                        if md5_digest is not None:
                            md5_digest.update(chunk)
                        out.write(chunk)
                        size += count
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    received = ReceivedFile(path, None, None, size, sha256.hexdigest())
    return received, md5_digest.hexdigest() if md5_digest is not None else None


def upload_folders(root: Path) -> list[str]:
    """The upload ids that have a parts folder under ``root``."""
    try:
        return [p.name for p in root.iterdir() if _UPLOAD_FOLDER.match(p.name) and p.is_dir()]
    except FileNotFoundError:
        return []


def remove_folder(folder: Path) -> None:
    """Delete an upload's parts folder, if any."""
    shutil.rmtree(folder, ignore_errors=True)
