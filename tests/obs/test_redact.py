"""Redaction: no credential survives in a captured header or body, whatever its format."""

from __future__ import annotations

import json

import pytest

from workhorse.obs.redact import REDACTED, redact_body, redact_headers, redact_text

SECRETS = [
    "wh-" + "A1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv",
    "sk-proj-" + "abcdefghijklmnopqrstuvwx",
    "sk-ant-" + "api03-abcdefghijklmnopqrstu",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "AKIAIOSFODNN7EXAMPLE",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_secret_shapes_are_redacted_in_any_text(secret: str) -> None:
    text = redact_text(f"the key is {secret}, keep it safe")
    assert secret not in text
    assert REDACTED in text


def test_credential_headers_are_redacted_by_name_and_shape() -> None:
    headers = redact_headers(
        [
            ("Authorization", "Bearer abc"),
            ("x-api-key", "anything"),
            ("Cookie", "session=1"),
            ("x-note", f"see {SECRETS[0]}"),
            ("accept", "application/json"),
        ]
    )
    assert headers == [
        ("Authorization", REDACTED),
        ("x-api-key", REDACTED),
        ("Cookie", REDACTED),
        ("x-note", f"see {REDACTED}"),
        ("accept", "application/json"),
    ]


def test_json_fields_named_as_secrets_are_redacted_and_the_rest_kept() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "metadata": {"password": "hunter2", "client_secret": "x", "note": "ok"},
        "tools": [{"api_key": "plain"}],
    }
    redacted = json.loads(redact_body(json.dumps(body).encode(), "application/json", complete=True))
    assert redacted == {
        "model": "m",
        "max_tokens": 5,
        "metadata": {"password": REDACTED, "client_secret": REDACTED, "note": "ok"},
        "tools": [{"api_key": REDACTED}],
    }


def test_form_fields_and_truncated_bodies_are_redacted() -> None:
    form = redact_body(
        b"name=a&password=hunter2", "application/x-www-form-urlencoded", complete=True
    )
    assert "hunter2" not in form
    assert "name=a" in form
    cut = redact_body(b'{"password": "hunter2", "input": "x', "application/json", complete=False)
    assert "hunter2" not in cut
    private = redact_body(
        b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n",
        "text/plain",
        complete=False,
    )
    assert "MIIEvQ" not in private
