"""Chat in the console, in Chromium: signing in and out, streamed answers that survive a
reload and stop on the server, the same flow with JavaScript off, a double-clicked Send,
forms from elsewhere, model output that tries to run script, a revoked key."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.servers import Server, free_port
from tests.web.conftest import Shots, axe_violations, dump, send, sign_in

LONG = "Write a long story about a dragon who learns to bake bread."


def api(server: Server, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, server.v1 + path, headers=server.headers(), timeout=60, **kwargs)  # type: ignore[arg-type]


def conversation_of(page: Page) -> str:
    found = re.search(r"/chat/(conv_\w+)", page.url)
    assert found is not None, page.url
    return found.group(1)


def streamed_text(page: Page, response_id: str) -> str:
    return page.locator(f"#{response_id} [data-text]").inner_text()


def wait_longer(page: Page, response_id: str, than: int) -> int:
    """Wait until the streaming answer holds more than ``than`` characters."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        length = len(streamed_text(page, response_id))
        if length > than:
            return length
        page.wait_for_timeout(50)
    raise AssertionError(f"the answer did not grow past {than} characters")


def test_signing_in_keeps_only_a_session_cookie_and_signing_out_ends_it(
    page: Page, server: Server, shots: Shots
) -> None:
    shots(page, "chat")
    cookies = page.context.cookies()
    session = [c for c in cookies if c["name"] == "workhorse_session"]
    assert len(session) == 1
    assert session[0]["httpOnly"]
    assert session[0]["sameSite"] == "Lax"
    assert all(server.api_key not in c["value"] for c in cookies)
    stored = page.evaluate("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    assert server.api_key not in stored
    assert page.evaluate("() => document.cookie") == ""  # HttpOnly: no script reads it

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/sign-in$"))
    # The old cookie value no longer opens a session, even if a copy of it was kept.
    replayed = httpx.get(
        server.base_url + "/chat", cookies={"workhorse_session": session[0]["value"]}
    )
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/sign-in")
    page.goto(server.base_url + "/chat")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shots(page, "signed-out")


def test_a_wrong_key_is_refused_with_its_reason(
    new_context: Callable[..., BrowserContext], server: Server, shots: Shots
) -> None:
    page = new_context().new_page()
    page.goto(server.base_url + "/chat/conv_x")
    page.wait_for_url(re.compile(r".*/sign-in\?next=/chat/conv_x$"))
    page.get_by_label("API key").fill("wh-not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    shots(page, "refused")
    assert not [c for c in page.context.cookies() if c["name"] == "workhorse_session"]


@pytest.mark.slow
def test_an_answer_streams_survives_a_reload_and_stops_on_the_server(
    page: Page, server: Server, shots: Shots, new_context: Callable[..., BrowserContext]
) -> None:
    page.goto(server.base_url + "/chat")
    response_id = send(page, LONG, max_tokens=1500)
    answer = page.locator(f"#{response_id}")
    expect(answer).to_have_attribute("aria-busy", "true")
    first = wait_longer(page, response_id, 20)
    grown = wait_longer(page, response_id, first + 20)  # it streams: the text grows
    shots(page, "streaming")

    page.reload()  # mid-answer: the page picks the answer up from its event log
    expect(answer).to_have_attribute("aria-busy", "true")
    assert len(streamed_text(page, response_id)) >= grown
    after_reload = wait_longer(page, response_id, grown + 20)
    shots(page, "after-reload")

    other = new_context().new_page()  # another device follows the same answer
    sign_in(other, server)
    other.goto(page.url)
    wait_longer(other, response_id, after_reload)

    page.get_by_role("button", name="Stop").click()
    expect(answer.get_by_role("status")).to_contain_text("Stopped")
    expect(page.locator("#announcer")).to_contain_text("Stopped")  # told to screen readers
    shots(page, "stopped")
    kept = answer.locator(".text").inner_text()
    assert len(kept) >= after_reload // 2  # the text so far stays on the page
    stored = api(server, "GET", f"/responses/{response_id}").json()
    assert stored["status"] == "cancelled"
    assert stored["output"][0]["content"][0]["text"].strip()
    expect(other.locator(f"#{response_id}").get_by_role("status")).to_contain_text("Stopped")


@pytest.mark.slow
def test_with_javascript_off_a_message_is_answered_and_rated(
    new_context: Callable[..., BrowserContext], server: Server, shots: Shots
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    sign_in(page, server)
    response_id = send(page, "Say hello.", max_tokens=12)
    # Without script the page refreshes itself until the answer is there.
    answer = page.locator(f"article#{response_id}:not([data-stream])")
    expect(answer).to_be_visible(timeout=60_000)
    shots(page, "answered")
    answer.get_by_label("Comment (optional)").fill("short and sweet")
    answer.get_by_role("button", name="Good answer").click()
    expect(page.locator(f"#{response_id}").get_by_text("you rated it up")).to_be_visible()
    shots(page, "rated")
    rated = api(server, "GET", "/feedback", params={"subject_id": response_id}).json()["data"]
    assert [(f["rating"], f["comment"]) for f in rated] == [("up", "short and sweet")]
    items = api(
        server, "GET", f"/conversations/{conversation_of(page)}/items", params={"order": "asc"}
    ).json()["data"]
    assert [i["role"] for i in items] == ["user", "assistant"]


@pytest.mark.slow
def test_a_double_clicked_send_stores_one_message(
    new_context: Callable[..., BrowserContext], server: Server, shots: Shots
) -> None:
    for script in (True, False):
        page = new_context(java_script_enabled=script).new_page()
        sign_in(page, server)
        marker = f"Reply with OK. ({uuid.uuid4().hex[:8]})"
        page.get_by_label("Message").fill(marker)
        page.get_by_label("Max output tokens").fill("4")
        page.get_by_role("button", name="Send").dblclick()
        # The second click's navigation replaces the first's: poll the URL, do not wait on
        # one navigation.
        expect(page).to_have_url(re.compile(r".*/chat/conv_\w+#resp_\w+$"))
        conversation = conversation_of(page)
        expect(page.locator("article.assistant:not([data-stream])")).to_be_visible(timeout=60_000)
        listed = page.get_by_role("navigation", name="Conversations").get_by_text(marker)
        expect(listed).to_have_count(1)
        items = api(
            server, "GET", f"/conversations/{conversation}/items", params={"order": "asc"}
        ).json()["data"]
        assert [i["role"] for i in items] == ["user", "assistant"], (script, dump(items))
        shots(page, "script-on" if script else "script-off")


def _form_of(page: Page) -> dict[str, str]:
    form = page.locator("form[data-compose]")
    return {
        name: form.locator(f"input[name={name}]").get_attribute("value") or ""
        for name in ("csrf_token", "idempotency_key")
    }


def test_a_resent_form_is_answered_with_the_same_redirect(page: Page, server: Server) -> None:
    page.goto(server.base_url + "/chat")
    fields = {**_form_of(page), "message": "Reply with OK.", "max_output_tokens": "4"}
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    headers = {"origin": server.base_url}
    with httpx.Client(base_url=server.base_url, cookies=cookies, headers=headers) as raw:
        first = raw.post("/chat", data=fields)
        again = raw.post("/chat", data=fields)
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"]
        edited = raw.post("/chat", data={**fields, "message": "Something else."})
        assert edited.status_code == 422
        assert "already sent with other content" in edited.text


class _Attacker(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        page = (
            f'<form id="f" method="post" action="{self.target}">'
            '<input name="message" value="Transfer everything">'
            '<input name="csrf_token" value="guessed"></form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def attacker(server: Server) -> Iterator[int]:
    """Another origin's page that posts a chat form to the console as soon as it loads."""
    handler = type("Attacker", (_Attacker,), {"target": server.base_url + "/chat"})
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_a_form_from_another_origin_is_refused(
    page: Page, server: Server, attacker: int, shots: Shots
) -> None:
    page.goto(server.base_url + "/chat")
    before = page.get_by_role("navigation", name="Conversations").get_by_role("link").count()
    # Same site (another port of 127.0.0.1): the cookie goes along; the Origin check refuses.
    page.goto(f"http://127.0.0.1:{attacker}/")
    expect(page.get_by_role("alert")).to_contain_text("was refused")
    assert page.url == server.base_url + "/chat"
    shots(page, "same-site-refused")
    # Another site (localhost): SameSite=Lax keeps the cookie home, and the Origin is wrong.
    page.goto(f"http://localhost:{attacker}/")
    expect(page.get_by_role("alert")).to_contain_text("from http://localhost")
    shots(page, "cross-site-refused")
    # The right token from the wrong origin is refused too.
    page.goto(server.base_url + "/chat")
    fields = {**_form_of(page), "message": "hi"}
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    forged = httpx.post(
        server.base_url + "/chat",
        data=fields,
        cookies=cookies,
        headers={"origin": "http://evil.example"},
    )
    assert forged.status_code == 403
    assert "was refused" in forged.text
    page.reload()
    after = page.get_by_role("navigation", name="Conversations").get_by_role("link").count()
    assert after == before


def test_model_output_cannot_run_script(page: Page, server: Server, shots: Shots) -> None:
    hostile = (
        '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
        " [click me](javascript:window.__xss=3) and **bold**"
    )
    conversation = api(
        server, "POST", "/conversations", json={"metadata": {"title": "hostile output"}}
    ).json()["id"]
    added = api(
        server,
        "POST",
        f"/conversations/{conversation}/items",
        json={
            "items": [
                {"role": "user", "content": hostile},
                {"role": "assistant", "content": [{"type": "output_text", "text": hostile}]},
            ]
        },
    )
    assert added.status_code == 200, added.text
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server.base_url}/chat/{conversation}")
    expect(page.locator("article.assistant strong")).to_have_text("bold")  # Markdown rendered
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("article script, article img").count() == 0
    assert page.locator("article a[href^='javascript']").count() == 0
    expect(page.locator("article.user .text")).to_contain_text("<script>")  # shown as text
    assert dialogs == []
    shots(page, "inert")


def test_revoking_the_key_ends_its_session(
    new_context: Callable[..., BrowserContext], server: Server, shots: Shots
) -> None:
    name = f"console-{uuid.uuid4().hex[:8]}"
    key = server.create_key("--name", name)
    page = new_context().new_page()
    sign_in(page, server, key)
    revoked = server.cli("keys", "revoke", name)
    assert revoked.returncode == 0, revoked.stderr
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shots(page, "after-revoke")


def test_the_pages_pass_the_accessibility_audit(
    page: Page, server: Server, shots: Shots, new_context: Callable[..., BrowserContext]
) -> None:
    send(page, "Say hi.", max_tokens=4)
    expect(page.locator("article.assistant:not([data-stream])")).to_be_visible(timeout=60_000)
    audited = {"conversation": page}
    signed_out = new_context().new_page()
    signed_out.goto(server.base_url + "/sign-in")
    audited["sign-in"] = signed_out
    missing = new_context().new_page()
    sign_in(missing, server)
    missing.goto(server.base_url + "/chat/conv_missing")
    audited["error"] = missing
    phone = new_context(viewport={"width": 390, "height": 844}).new_page()
    sign_in(phone, server)
    phone.goto(page.url)
    audited["phone"] = phone
    for name, shown in audited.items():
        shots(shown, name)
        assert axe_violations(shown) == [], name
    # The first Tab on a page lands on the skip link.
    page.goto(page.url.split("#")[0])
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"


def test_behind_https_the_session_cookie_is_secure(server: Server) -> None:
    """Behind a TLS proxy on loopback (``X-Forwarded-Proto: https``) the cookie is Secure."""
    proxied = {"x-forwarded-proto": "https"}
    with httpx.Client(base_url=server.base_url, headers=proxied) as raw:
        form = raw.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        assert "secure" in form.headers["set-cookie"].lower()
        origin = "https://" + server.base_url.split("://", 1)[1]
        # A client keeps a Secure cookie off plain HTTP: this one is the proxy's hop.
        signed = raw.post(
            "/sign-in",
            data={"csrf_token": token.group(1), "next": "/chat", "api_key": server.api_key},
            headers={"origin": origin, "cookie": f"workhorse_sign_in={token.group(1)}"},
        )
        assert signed.status_code == 303, signed.text
        session = next(
            c for c in signed.headers.get_list("set-cookie") if "workhorse_session=" in c
        )
        assert "; secure" in session.lower()
        assert "httponly" in session.lower()
