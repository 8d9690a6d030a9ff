"""Replays that carry a secret: stored sealed, opened only by the caller who asked.

An operation whose answer holds a secret (a new API key, a rotated one) still honours
Idempotency-Key, but its stored answer must not be a readable secret in the database.
The answer is sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the API key
that made the request and the Idempotency-Key: the database holds neither the API key
(only its hash) nor the derived key, so only a retry presenting both opens it.
"""

from __future__ import annotations

import hashlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Request

from workhorse.errors import Conflict
from workhorse.http.auth import presented_key

PREFIX = b"workhorse-sealed:v1:"
NONCE_BYTES = 12


def derive(secret: str, idempotency_key: str, path: str) -> bytes:
    """The sealing key of a stored answer: from a credential only the caller holds (an
    API key; a console session's token), the Idempotency-Key and the path."""
    return _derive(secret, idempotency_key, path)


def open_sealed(key: bytes, body: bytes) -> bytes | None:
    """The sealed ``body`` opened with ``key``; None when the key does not open it."""
    sealed = body[len(PREFIX) :]
    nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, PREFIX)
    except InvalidTag:
        return None


def _derive(api_key: str, idempotency_key: str, path: str) -> bytes:
    salt = hashlib.sha256(f"{path}\n{idempotency_key}".encode()).digest()
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"workhorse replay seal")
    return kdf.derive(api_key.encode("utf-8", "surrogatepass"))


def seal_replay(request: Request) -> None:
    """Dependency: the stored answer of this request is sealed (when it has a key)."""
    api_key = presented_key(request)
    idempotency_key = request.headers.get("idempotency-key")
    if api_key and idempotency_key:
        request.state.replay_seal = _derive(api_key, idempotency_key, request.url.path)


def seal(key: bytes, body: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return PREFIX + nonce + AESGCM(key).encrypt(nonce, body, PREFIX)


def is_sealed(body: bytes) -> bool:
    return body.startswith(PREFIX)


def unseal(request: Request, body: bytes) -> bytes:
    """The stored answer, opened with this request's credentials; 409 when they differ."""
    api_key = presented_key(request) or ""
    idempotency_key = request.headers.get("idempotency-key", "")
    sealed = body[len(PREFIX) :]
    nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    try:
        key = _derive(api_key, idempotency_key, request.url.path)
        return AESGCM(key).decrypt(nonce, ciphertext, PREFIX)
    except InvalidTag as exc:
        raise Conflict(
            "the stored answer of this Idempotency-Key holds a secret and opens only with "
            "the API key that made the request (was the key rotated since?)",
            param="Idempotency-Key",
            code="replay_sealed",
        ) from exc
