"""One exception hierarchy; every class knows its HTTP status and OpenAI error type.

    WorkhorseError                     500 server_error
    ├── InvalidRequest                 400 invalid_request_error
    │   ├── UnsupportedParameter       400 (code unsupported_parameter)
    │   └── ContextLengthExceeded      400 (code context_length_exceeded)
    ├── AuthenticationFailed           401 invalid_request_error (code invalid_api_key)
    ├── Forbidden                      403 invalid_request_error (allowed to no caller)
    │   ├── InsufficientScope          403 (code insufficient_scope: the key lacks a scope)
    │   ├── ModelNotAllowed            403 (code model_not_allowed: not in the key's models)
    │   └── CrossSiteRequest           403 (code csrf_failed: a console form from elsewhere)
    ├── NotFound                       404 invalid_request_error
    │   └── ModelNotFound              404 (code model_not_found)
    ├── MethodNotAllowed               405 invalid_request_error
    ├── RequestTimeout                 408 invalid_request_error (body too slow)
    ├── Conflict                       409 invalid_request_error
    │   └── IdempotencyInProgress      409 (Retry-After)
    ├── PayloadTooLarge                413 invalid_request_error
    ├── UnsupportedMediaType           415 invalid_request_error
    ├── Unprocessable                  422 invalid_request_error
    │   ├── IdempotencyKeyReused       422 (same key, different request)
    │   └── DocumentError              422 (a knowledge-base document cannot be read)
    │       ├── UnsupportedFileType    422 (code unsupported_file_type)
    │       ├── EmptyDocument          422 (code empty_file: no text at all)
    │       ├── CorruptDocument        422 (code corrupt_file)
    │       ├── EncryptedDocument      422 (code encrypted_file)
    │       ├── DocumentTooLarge       422 (code file_too_large)
    │       ├── DocumentLimitExceeded  422 (code document_limit_exceeded)
    │       └── ParserCrashed          422 (code parser_crashed)
    ├── RateLimited                    429 rate_limit_error (Retry-After; code queue_full)
    │   ├── LimitExceeded              429 (code rate_limit_exceeded: a key's or project's limit)
    │   └── BudgetExceeded             429 (code budget_exceeded: a hard token budget)
    ├── UpstreamError                  502 upstream_error
    │   └── UpstreamTimeout            504 upstream_error
    ├── ServiceUnavailable             503 service_unavailable (Retry-After)
    └── ParserUnavailable              503 server_error (no parser process could start)

Third-party errors are translated where they enter (``raise X(...) from exc``); the one
handler in ``http.errors`` renders any of these as the OpenAI envelope
``{"error": {"message", "type", "param", "code"}}``, or on the Anthropic Messages routes
as Anthropic's ``{"type": "error", "error": {"type", "message"}, "request_id"}``, the
type chosen by status (``ANTHROPIC_ERROR_TYPES``; other 4xx are
``invalid_request_error``, other 5xx ``api_error``).
"""

from __future__ import annotations

from typing import ClassVar

ANTHROPIC_ERROR_TYPES: dict[int, str] = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    # Anthropic says overloaded with 529; a model still loading is the same "try again
    # later" (Retry-After is sent), under the standard status.
    503: "overloaded_error",
    504: "timeout_error",
}
"""Anthropic error type by HTTP status, for statuses other than generic 4xx / 5xx."""


class WorkhorseError(Exception):
    """Base of every error a client may see."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers = headers or {}

    def to_dict(self) -> dict[str, object]:
        """The OpenAI error envelope."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def to_anthropic_dict(self, request_id: str | None) -> dict[str, object]:
        """Anthropic's error envelope, for the Messages API routes."""
        default = "invalid_request_error" if self.status < 500 else "api_error"
        message = self.message
        if self.param and self.param not in message:
            # Anthropic's envelope has no param field: the message names it instead.
            message = f"{self.param}: {message}"
        return {
            "type": "error",
            "error": {"type": ANTHROPIC_ERROR_TYPES.get(self.status, default), "message": message},
            "request_id": request_id,
        }


class InvalidRequest(WorkhorseError):
    """The request is malformed or asks for something impossible."""

    status = 400
    error_type = "invalid_request_error"


class UnsupportedParameter(InvalidRequest):
    """A valid OpenAI parameter this model cannot honour."""

    default_code = "unsupported_parameter"


class ContextLengthExceeded(InvalidRequest):
    """The prompt plus the requested output does not fit the model's context."""

    default_code = "context_length_exceeded"


class AuthenticationFailed(WorkhorseError):
    """No API key, or one that is unknown or revoked."""

    status = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class Forbidden(WorkhorseError):
    """The resource exists, but this operation on it is refused (a configured model
    cannot be deleted, for one)."""

    status = 403
    error_type = "invalid_request_error"


class InsufficientScope(Forbidden):
    """The key's scopes do not include the one this operation needs (named in the message)."""

    default_code = "insufficient_scope"


class ModelNotAllowed(Forbidden):
    """The key is limited to a list of models, and this one is not on it."""

    default_code = "model_not_allowed"


class CrossSiteRequest(Forbidden):
    """A console form POST that another site may have made: its Origin is not this
    server's, or it lacks the session's CSRF token."""

    default_code = "csrf_failed"


class NotFound(WorkhorseError):
    """The addressed resource does not exist."""

    status = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    """No configured model has this id."""

    default_code = "model_not_found"


class MethodNotAllowed(WorkhorseError):
    """The path exists but not for this method."""

    status = 405
    error_type = "invalid_request_error"
    default_code = "method_not_allowed"


class RequestTimeout(WorkhorseError):
    """The body arrived slower than the configured minimum rate."""

    status = 408
    error_type = "invalid_request_error"
    default_code = "request_timeout"


class Conflict(WorkhorseError):
    """The request conflicts with the current state of a resource."""

    status = 409
    error_type = "invalid_request_error"
    default_code = "conflict"


class IdempotencyInProgress(Conflict):
    """A request with the same Idempotency-Key is still running."""

    default_code = "idempotency_key_in_progress"


class PayloadTooLarge(WorkhorseError):
    """The body exceeds the configured cap."""

    status = 413
    error_type = "invalid_request_error"
    default_code = "payload_too_large"


class UnsupportedMediaType(WorkhorseError):
    """The body's Content-Type is not one this operation reads."""

    status = 415
    error_type = "invalid_request_error"
    default_code = "unsupported_media_type"


class Unprocessable(WorkhorseError):
    """Well-formed, but cannot be processed as asked."""

    status = 422
    error_type = "invalid_request_error"
    default_code = "unprocessable"


class IdempotencyKeyReused(Unprocessable):
    """The Idempotency-Key was already used for a different request."""

    default_code = "idempotency_key_reused"


class DocumentError(Unprocessable):
    """A document given to the knowledge base cannot be turned into text.

    The message names the file and says exactly why (and the page or part, where known).
    """

    default_code = "unprocessable_document"


class UnsupportedFileType(DocumentError):
    """Neither the extension nor the content is a format the parser reads."""

    default_code = "unsupported_file_type"


class EmptyDocument(DocumentError):
    """The file is empty, or parses but holds no text (e.g. a scan without a text layer)."""

    default_code = "empty_file"


class CorruptDocument(DocumentError):
    """The file claims a format but its content is not valid in that format."""

    default_code = "corrupt_file"


class EncryptedDocument(DocumentError):
    """The file is password-protected."""

    default_code = "encrypted_file"


class DocumentTooLarge(DocumentError):
    """The file is larger than the configured maximum."""

    default_code = "file_too_large"


class DocumentLimitExceeded(DocumentError):
    """Reading the file would pass a parsing limit: memory, time, pages, rows, slides,
    characters, nesting, line length, inflated size or compression ratio. The same file
    always fails the same way, so it is never retried."""

    default_code = "document_limit_exceeded"


class ParserCrashed(DocumentError):
    """The parser process died on the file (a crash in a C extension, killed by a signal)."""

    default_code = "parser_crashed"


class ParserUnavailable(WorkhorseError):
    """No parser process could be started (not the file's fault: the job is retried)."""

    status = 503
    error_type = "server_error"
    default_code = "parser_unavailable"


class RateLimited(WorkhorseError):
    """Too many requests are waiting; try again after ``Retry-After`` seconds."""

    status = 429
    error_type = "rate_limit_error"
    default_code = "queue_full"


class LimitExceeded(RateLimited):
    """A request, token or concurrency limit of the key or its project (named in the
    message); ``Retry-After`` says when the next request would be admitted."""

    default_code = "rate_limit_exceeded"


class BudgetExceeded(RateLimited):
    """A hard token budget of the key or its project is spent for the period."""

    default_code = "budget_exceeded"


class UpstreamError(WorkhorseError):
    """An upstream provider failed or answered with an error."""

    status = 502
    error_type = "upstream_error"
    default_code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    """An upstream provider did not answer in time."""

    status = 504
    default_code = "upstream_timeout"


class ServiceUnavailable(WorkhorseError):
    """A dependency (database, model) is not ready yet."""

    status = 503
    error_type = "service_unavailable"
    default_code = "not_ready"
