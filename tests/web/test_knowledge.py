"""Knowledge bases in the console, in Chromium: files uploaded (in parts, with progress,
resumed after a dropped connection), their statuses live, a corrupt one's reason and its
retry, the search box, and the same upload with JavaScript off."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.servers import Server
from tests.web.conftest import Shots, axe_violations, send, sign_in

DOCUMENTS = {
    "freedonia.txt": "The capital of Freedonia is Fredville. It has many old stone bridges.",
    "baking.md": "# Baking\n\nSourdough needs a starter fed daily with flour and water.\n",
    "trains.html": "<html><body><h1>Trains</h1><p>The night train leaves at nine.</p></body>",
}


def api(server: Server, path: str) -> httpx.Response:
    return httpx.get(server.v1 + path, headers=server.headers(), timeout=60)


def documents(folder: Path) -> list[Path]:
    paths = []
    for name, text in DOCUMENTS.items():
        path = folder / name
        path.write_text(text)
        paths.append(path)
    return paths


def corrupt(folder: Path) -> Path:
    path = folder / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    return path


def new_store(page: Page, server: Server, name: str) -> str:
    page.goto(server.base_url + "/knowledge")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r".*/knowledge/vs_\w+$"))
    return page.url.rsplit("/", 1)[1]


@pytest.mark.slow
def test_files_complete_a_corrupt_one_fails_with_its_reason_and_is_retried(
    page: Page, server: Server, shots: Shots, tmp_path: Path
) -> None:
    store_id = new_store(page, server, "Handbook")
    page.set_input_files("#files-input", [*map(str, documents(tmp_path)), str(corrupt(tmp_path))])
    page.get_by_role("button", name="Upload").click()
    for name in DOCUMENTS:  # the table updates itself as each file is read
        expect(page.locator(f"#files tr.completed[data-file='{name}']")).to_be_visible()
    failed = page.locator("#files tr.failed[data-file='broken.pdf']")
    expect(failed.locator(".reason")).not_to_be_empty()
    reason = failed.locator(".reason").inner_text()
    shots(page, "statuses")
    listed = api(server, f"/vector_stores/{store_id}/files").json()["data"]
    assert sorted(f["status"] for f in listed) == ["completed", "completed", "completed", "failed"]
    stored = next(f for f in listed if f["status"] == "failed")
    assert stored["last_error"]["message"] == reason

    failed.get_by_role("button", name="Retry broken.pdf").click()
    expect(page.locator("#files tr.failed[data-file='broken.pdf'] .reason")).to_have_text(reason)
    shots(page, "retried")
    assert axe_violations(page) == []

    page.get_by_label("Question or words").fill("When does the night train leave?")
    page.get_by_role("button", name="Search").click()
    first = page.locator(".passages li").first
    expect(first).to_contain_text("trains.html")
    expect(first).to_contain_text("The night train leaves at nine.")
    shots(page, "search")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_large_file_goes_in_parts_and_resumes_after_dropped_connections(
    page: Page, server: Server, shots: Shots, tmp_path: Path
) -> None:
    new_store(page, server, "Large")
    big = tmp_path / "big.txt"
    big.write_bytes(b"".join(b"line %08d of a large file\n" % i for i in range(700_000)))
    assert big.stat().st_size > 2 * 8 * 1024 * 1024  # three parts of 8 MiB
    sent: list[str] = []
    dropped: list[str] = []

    def flaky(route: Route) -> None:
        sent.append(route.request.url)
        if len(sent) == 2 and not dropped:  # the second part's connection drops
            dropped.append(route.request.url)
            route.abort("connectionreset")
            return
        route.continue_()

    page.route("**/uploads/*/parts", flaky)
    page.set_input_files("#files-input", str(big))
    page.get_by_role("button", name="Upload").click()
    done = page.locator("[data-uploads] li", has_text="big.txt")
    expect(done).to_contain_text("Uploaded", timeout=60_000)
    assert done.locator("progress").get_attribute("value") in ("1", "1.0")
    shots(page, "resumed")
    assert len(dropped) == 1
    assert len(sent) == 4  # three parts, the dropped one sent again
    files = api(server, "/files").json()["data"]
    uploaded = next(f for f in files if f["filename"] == "big.txt")
    content = httpx.get(
        f"{server.v1}/files/{uploaded['id']}/content", headers=server.headers(), timeout=60
    )
    assert hashlib.sha256(content.content).hexdigest() == _sha256(big)


@pytest.mark.slow
def test_an_interrupted_upload_resumes_after_a_reload(
    page: Page, server: Server, tmp_path: Path, shots: Shots
) -> None:
    new_store(page, server, "Resumed")
    big = tmp_path / "resume.txt"
    big.write_bytes(b"".join(b"row %08d of a file sent twice\n" % i for i in range(600_000)))
    sent: list[str] = []

    def dead_after_first(route: Route) -> None:
        sent.append(route.request.url)
        if len(sent) > 1:
            route.abort("connectionreset")
            return
        route.continue_()

    page.route("**/uploads/*/parts", dead_after_first)
    page.set_input_files("#files-input", str(big))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("[data-uploads] li", has_text="resume.txt")).to_contain_text(
        "Pick the file again to resume", timeout=60_000
    )
    shots(page, "interrupted")
    page.unroute("**/uploads/*/parts")
    page.reload()
    resent: list[str] = []
    page.on("request", lambda r: resent.append(r.url) if r.url.endswith("/parts") else None)
    page.set_input_files("#files-input", str(big))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("[data-uploads] li", has_text="resume.txt")).to_contain_text(
        "Uploaded", timeout=60_000
    )
    shots(page, "resumed")
    parts = -(-big.stat().st_size // (8 * 1024 * 1024))
    assert len(resent) == parts - 1  # the part that arrived before is not sent again
    files = api(server, "/files").json()["data"]
    uploaded = next(f for f in files if f["filename"] == "resume.txt")
    content = httpx.get(
        f"{server.v1}/files/{uploaded['id']}/content", headers=server.headers(), timeout=60
    )
    assert hashlib.sha256(content.content).hexdigest() == _sha256(big)


@pytest.mark.slow
def test_with_javascript_off_files_upload_through_the_form(
    new_context: Callable[..., BrowserContext], server: Server, shots: Shots, tmp_path: Path
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    sign_in(page, server)
    new_store(page, server, "No script")
    page.set_input_files("#files-input", [str(p) for p in documents(tmp_path)])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r".*/knowledge/vs_\w+$"))
    for name in DOCUMENTS:
        expect(page.locator(f"#files tr[data-file='{name}']")).to_be_visible()
    ready = page.locator("#files tr.completed")
    for _ in range(120):  # without script the visitor reloads to see the statuses move
        if ready.count() == len(DOCUMENTS):
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(ready).to_have_count(len(DOCUMENTS))
    shots(page, "uploaded")


@pytest.mark.slow
def test_an_answer_from_a_knowledge_base_links_its_source_passage(
    page: Page, server: Server, shots: Shots, tmp_path: Path
) -> None:
    new_store(page, server, "Atlas of Freedonia")
    page.set_input_files("#files-input", [str(documents(tmp_path)[0])])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#files tr.completed[data-file='freedonia.txt']")).to_be_visible()
    page.goto(server.base_url + "/chat")
    page.get_by_label("Knowledge base").select_option(label="Atlas of Freedonia")
    response_id = send(page, "What is the capital of Freedonia?", max_tokens=16)
    source = page.locator(f"#{response_id}").get_by_role("link", name="freedonia.txt")
    expect(source).to_be_visible(timeout=60_000)
    shots(page, "answer-with-source")
    source.click()
    expect(page.locator("#cited")).to_contain_text("Fredville")
    expect(page.locator("#cited")).to_have_attribute("aria-current", "true")
    shots(page, "source-passage")
