"""Responses follow ``Accept``: JSON by default, XML when the client prefers it.

A pure ASGI middleware: JSON responses (errors included) are re-encoded with the XML
mapping of ``http.xml`` when ``Accept`` ranks ``application/xml`` or ``text/xml`` above
``application/json``. Event streams and other media pass through untouched.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workhorse.http.xml import render_xml

XML_TYPES = ("application/xml", "text/xml")


def preferred_xml(accept: str | None) -> str | None:
    """The XML media type to answer with, or None for JSON."""
    if not accept:
        return None
    ranked: dict[str, float] = {}
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked[media.lower()] = max(quality, ranked.get(media.lower(), 0.0))
    json_q = max(
        ranked.get("application/json", 0.0),
        ranked.get("*/*", 0.0),
        ranked.get("application/*", 0.0),
    )
    best = max(XML_TYPES, key=lambda media: ranked.get(media, 0.0))
    if ranked.get(best, 0.0) > json_q or (ranked.get(best, 0.0) > 0 and json_q == 0):
        return best
    return None


class XmlNegotiationMiddleware:
    """Re-encodes JSON responses as XML for clients that ask for XML."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        xml_type = (
            preferred_xml(Headers(scope=scope).get("accept")) if scope["type"] == "http" else None
        )
        if xml_type is None:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = bytearray()

        async def converting_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                if content_type.startswith("application/json"):
                    start = message
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            payload = render_xml(json.loads(bytes(body))) if body else b""
            headers = MutableHeaders(raw=list(start.get("headers", [])))
            headers["content-type"] = f"{xml_type}; charset=utf-8"
            headers["content-length"] = str(len(payload))
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": payload})

        await self.app(scope, receive, converting_send)


def document_answers(schema: dict[str, Any]) -> dict[str, Any]:
    """Say in the OpenAPI document that every JSON answer, errors included, also comes as
    XML when ``Accept`` prefers it (the same schema, under the XML mapping)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if "application/json" in content:
                    for media in XML_TYPES:
                        content.setdefault(media, content["application/json"])
    return schema
