"""The HTTP/1.1 protocol under uvicorn, with its own parse errors in our envelope.

A request line or header that httptools cannot parse (a negative or non-numeric
``Content-Length``, say) never reaches the app: uvicorn answers 400 itself, in plain text.
This subclass answers the same 400 in the project's error envelope, with a request id.
"""

from __future__ import annotations

import json
import secrets

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from workhorse.errors import InvalidRequest


class EnvelopeHttpToolsProtocol(HttpToolsProtocol):
    """httptools' protocol whose parse-error answer is the OpenAI error envelope."""

    def send_400_response(self, msg: str) -> None:
        request_id = "req_" + secrets.token_hex(12)
        error = InvalidRequest(
            "malformed HTTP request: the request line or a header (such as Content-Length) "
            "could not be parsed",
            code="malformed_http",
        )
        body = json.dumps(error.to_dict()).encode()
        head = (
            "HTTP/1.1 400 Bad Request\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            f"x-request-id: {request_id}\r\n"
            "connection: close\r\n\r\n"
        ).encode("latin-1")
        self.transport.write(head + body)
        self.transport.close()
