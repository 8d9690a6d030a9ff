"""Links to a source passage: a file's page in its knowledge base, the passage marked.

A search result does not name its chunk, so the link carries a short hash of the
passage's text, and the file's page marks the chunk whose text has that hash.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote


def passage_key(text: str) -> str:
    """The short hash of a passage's text that a link to it carries."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def passage_href(store_id: str, file_id: str, text: str) -> str:
    """The console page of ``file_id`` in ``store_id``, scrolled to the passage ``text``."""
    return (
        f"/knowledge/{quote(store_id, safe='')}/files/{quote(file_id, safe='')}"
        f"?cited={passage_key(text)}#cited"
    )
