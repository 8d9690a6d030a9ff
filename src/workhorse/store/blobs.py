"""Blobs on disk, named by their SHA-256: identical content is stored once.

Uploads land in ``<data dir>/tmp/uploads`` and are adopted here with a rename on the same
file system, after an fsync, so a blob is either whole or absent.
"""

from __future__ import annotations

import os
from pathlib import Path


class BlobStore:
    """Content-addressed files under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where the blob with this hash lives."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256

    def adopt(self, source: Path, sha256: str) -> Path:
        """Move ``source`` (whose hash is ``sha256``) into the store; blocking."""
        target = self.path(sha256)
        if target.exists():
            source.unlink(missing_ok=True)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(source, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return target

    def delete(self, sha256: str) -> None:
        """Remove a blob no file refers to any more."""
        self.path(sha256).unlink(missing_ok=True)
