"""The dashboard and admin pages in Chromium: charts of the server's own traffic, the
request inspector saying why a request failed, and keys created (the secret shown once),
rotated and revoked; none of it for a key without the admin scope."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.servers import Server
from tests.web.conftest import Shots, axe_violations, sign_in


def admin_page(new_context: Callable[..., BrowserContext], server: Server) -> Page:
    page = new_context().new_page()
    sign_in(page, server, server.admin_key)
    return page


def test_the_dashboard_charts_traffic_and_the_inspector_says_why_a_request_failed(
    new_context: Callable[..., BrowserContext], server: Server, shots: Shots
) -> None:
    answered = httpx.post(
        server.v1 + "/chat/completions",
        headers=server.headers(),
        json={
            "model": "smollm2-135m-instruct",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 4,
        },
        timeout=60,
    )
    assert answered.status_code == 200
    refused = httpx.post(
        server.v1 + "/chat/completions",
        headers=server.headers(),
        json={"model": "no-such-model", "messages": [{"role": "user", "content": "Hi"}]},
        timeout=60,
    )
    assert refused.status_code == 404
    code = refused.json()["error"]["code"]
    page = admin_page(new_context, server)
    page.goto(server.base_url + "/dashboard")
    expect(page.locator(".chart canvas")).to_have_count(7)
    # The server samples its metrics every second in the tests: a chart of its own.
    for _ in range(20):
        label = page.locator(".chart").nth(3).get_attribute("aria-label") or ""
        if "latest: p50" in label:
            break
        page.wait_for_timeout(500)
        page.reload()
    assert "Time to first token" in label
    assert "latest: p50" in label
    shots(page, "dashboard")
    assert axe_violations(page) == []
    page.goto(server.base_url + "/dashboard?window=day")
    expect(page.get_by_role("link", name="Last day")).to_have_attribute("aria-current", "page")

    page.goto(server.base_url + "/dashboard")
    page.locator("table.reasons").get_by_role("link", name=code).click()
    page.wait_for_url(re.compile(r".*/dashboard/requests\?.*error_code="))
    first = page.locator("table.requests tbody tr").first
    expect(first).to_contain_text("404")
    shots(page, "inspector")
    first.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Why it failed")).to_be_visible()
    expect(page.locator(".error")).to_contain_text("no-such-model")
    expect(page.locator(".facts")).to_contain_text(refused.headers["x-request-id"])
    shots(page, "request")


def test_without_the_admin_scope_the_dashboard_and_admin_are_refused(
    new_context: Callable[..., BrowserContext], server: Server, shots: Shots
) -> None:
    key = server.create_key("--name", f"console-chat-{uuid.uuid4().hex[:8]}", "--scopes", "chat")
    page = new_context().new_page()
    sign_in(page, server, key)
    assert page.get_by_role("link", name="Admin").count() == 0
    for path in ("/dashboard", "/dashboard/requests", "/admin"):
        answer = page.goto(server.base_url + path)
        assert answer is not None
        assert answer.status == 403, path
        expect(page.get_by_role("alert")).to_contain_text("admin")
        shots(page, path.strip("/").replace("/", "-"))


def test_a_key_is_created_with_its_secret_shown_once_then_rotated_and_revoked(
    new_context: Callable[..., BrowserContext], server: Server, shots: Shots
) -> None:
    page = admin_page(new_context, server)
    page.goto(server.base_url + "/admin")
    name = f"bot-{uuid.uuid4().hex[:8]}"
    page.get_by_text("New key").click()
    form = page.locator("form.new-key")
    form.get_by_label("Name").fill(name)
    form.get_by_label("chat").check()
    form.get_by_label("Models (one per line; empty: every model)").fill("smollm2-135m-instruct")
    form.get_by_label("Requests per minute").fill("120")
    form.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name=f"New key {name}")).to_be_visible()
    secret = page.get_by_role("textbox", name="Secret").input_value()
    shots(page, "created")
    with_secret = {"Authorization": f"Bearer {secret}"}
    listed = httpx.get(server.v1 + "/models", headers=with_secret, timeout=30)
    assert [m["id"] for m in listed.json()["data"]] == ["smollm2-135m-instruct"]
    assert listed.headers["x-ratelimit-limit-requests"] == "120"

    page.goto(server.base_url + "/admin")
    assert secret not in page.content()  # never shown again
    row = page.locator(f"tr.key[data-key='{name}']")
    expect(row).to_contain_text("chat")
    row.get_by_role("button", name=f"Rotate {name}").click()
    expect(page.get_by_role("heading", name=f"New secret for {name}")).to_be_visible()
    rotated = page.get_by_role("textbox", name="Secret").input_value()
    assert rotated != secret
    assert httpx.get(server.v1 + "/models", headers=with_secret).status_code == 401
    with_rotated = {"Authorization": f"Bearer {rotated}"}
    assert httpx.get(server.v1 + "/models", headers=with_rotated).status_code == 200

    page.goto(server.base_url + "/admin")
    page.locator(f"tr.key[data-key='{name}']").get_by_role("button", name=f"Revoke {name}").click()
    expect(page.locator(f"tr.key[data-key='{name}']")).to_contain_text("revoked")
    assert httpx.get(server.v1 + "/models", headers=with_rotated).status_code == 401
    shots(page, "revoked")
    assert axe_violations(page) == []
