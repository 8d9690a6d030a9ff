"""Secrets out of what the inspector captures: headers, JSON, forms and any text.

Three nets, applied in order: headers that carry credentials by name; JSON and form
fields whose names say they hold a secret; and, over whatever text is left (a truncated
body, a multipart file, an XML document), anything shaped like a credential: Workhorse
keys, OpenAI- and Anthropic-style keys, bearer tokens, JWTs, AWS access keys, PEM private
keys and ``password=`` style assignments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "[redacted]"

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "cookie",
        "set-cookie",
        "x-auth-token",
        "x-upstream-api-key",
    }
)

_SECRET_FIELD = re.compile(
    r"^(api_?key|apikey|password|passwd|secret|token|authorization|cookie|credentials?"
    r"|private_key|.*_(secret|password|api_?key|token)|secret_.*)$",
    re.IGNORECASE,
)

_SHAPES = re.compile(
    r"wh-[A-Za-z0-9_-]{16,}"
    r"|sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
)
_ASSIGNMENT = re.compile(
    r"(?i)\b(password|passwd|secret|api_?key|token)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&,;]+)"
)
# A JSON member in text that may be cut short (a truncated body): ``"name": "value``.
_JSON_MEMBER = re.compile(r'"([A-Za-z0-9_.-]{1,64})"(\s*:\s*)"((?:[^"\\]|\\.)*)("?)')


def secret_field(name: str) -> bool:
    """Whether a JSON or form field named ``name`` holds a secret."""
    return bool(_SECRET_FIELD.match(name))


def redact_text(text: str) -> str:
    """``text`` with anything shaped like a credential replaced."""
    text = _SHAPES.sub(REDACTED, text)
    text = _JSON_MEMBER.sub(
        lambda m: (
            f'"{m.group(1)}"{m.group(2)}"{REDACTED}{m.group(4)}'
            if secret_field(m.group(1))
            else m.group(0)
        ),
        text,
    )
    return _ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def redact_json(value: Any) -> Any:
    """A parsed JSON value with secret fields and secret-shaped strings replaced."""
    if isinstance(value, dict):
        return {
            key: REDACTED if secret_field(str(key)) else redact_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers with credentials replaced, by name and by shape."""
    return [
        (name, REDACTED if name.lower() in SECRET_HEADERS else redact_text(value))
        for name, value in headers
    ]


def redact_body(body: bytes, content_type: str | None, *, complete: bool) -> str:
    """A captured body as redacted text. A whole JSON or form body is redacted field by
    field; anything else (or a truncated prefix) by shape only."""
    text = body.decode("utf-8", errors="replace")
    media = (content_type or "").split(";")[0].strip().lower()
    if complete and (media == "application/json" or media.endswith("+json")):
        try:
            return json.dumps(redact_json(json.loads(text)), ensure_ascii=False)
        except ValueError:
            pass
    if complete and media == "application/x-www-form-urlencoded":
        pairs = parse_qsl(text, keep_blank_values=True)
        return urlencode([(k, REDACTED if secret_field(k) else redact_text(v)) for k, v in pairs])
    return redact_text(text)
