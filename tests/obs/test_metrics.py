"""``/metrics`` counts exactly: a known sequence of requests, then the exposition parsed.

Each storage mode gets a server of its own (so no other test's requests are counted): the
embedded one runs its jobs itself; the scaled-out one leaves them to a ``workhorse worker``
that serves its own metrics on its own port, and each process counts only its own work.
The exposition passes ``promtool check metrics``, every metric is documented, and a real
Prometheus server scrapes both processes.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import Server, free_port, run_worker, run_workhorse, wait_for
from workhorse import __version__

MODEL = "smollm2-135m-instruct"
CHAT = "/v1/chat/completions"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Deployment:
    """The server, and the URL of the metrics of the process that runs its jobs."""

    server: Server
    jobs_metrics: str
    mode: str


@pytest.fixture(scope="module")
def deployment(
    storage_mode: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("metrics")
    # No waiting line: a second generation while one runs is refused as ``busy``.
    env = {"WORKHORSE_GENERATION_QUEUE_SIZE": "0"}
    if storage_mode == "sqlite":
        with run_workhorse(tmp, None, **env) as server:
            yield Deployment(server, server.base_url + "/metrics", storage_mode)
        return
    url = request.getfixturevalue("new_database")()
    redis: str = request.getfixturevalue("redis_url")
    env |= {
        "WORKHORSE_QUEUE_URL": redis,
        "WORKHORSE_QUEUE_NAME": "m" + uuid.uuid4().hex[:12],
        "WORKHORSE_INGEST_WORKERS": "0",
    }
    port = free_port()
    with (
        run_workhorse(tmp, url, **env) as server,
        run_worker(
            server,
            WORKHORSE_INGEST_WORKERS="1",
            WORKHORSE_METRICS_PORT=str(port),
            WORKHORSE_GENERATION_QUEUE_SIZE="16",
        ),
    ):
        yield Deployment(server, f"http://127.0.0.1:{port}/metrics", storage_mode)


def scrape(
    url: str, headers: dict[str, str] | None = None
) -> dict[tuple[str, frozenset[Any]], float]:
    """Every sample of the exposition at ``url``: (name, labels) → value."""
    answer = httpx.get(url, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    """The sum over every series of ``name`` that has ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def slow_body(server: Server) -> int:
    """A body that never arrives: the status the server answers once its grace is over."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.api_key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
        )
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ")[1])


def run_sequence(server: Server) -> dict[str, Any]:
    """Success, each rejection, the idempotency outcomes, a stream cut short, the other
    APIs, a failing ingestion and a failing training job; what the clients saw."""
    headers = server.headers()
    seen: dict[str, Any] = {}
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8}

    def post(body: Any = None, **kwargs: Any) -> httpx.Response:
        extra = kwargs.pop("headers", {})
        return httpx.post(
            server.base_url + CHAT, json=body, headers={**headers, **extra}, timeout=120, **kwargs
        )

    assert post(chat).status_code == 200
    assert post(content=b"hi", headers={"content-type": "text/plain"}).status_code == 415
    big = b"{" + b" " * (11 * 1024 * 1024) + b"}"
    assert post(content=big, headers={"content-type": "application/json"}).status_code == 413
    broken = b'{"model": '
    assert post(content=broken, headers={"content-type": "application/json"}).status_code == 400
    assert post({"model": MODEL, "messages": "no"}).status_code == 400
    anonymous = httpx.post(server.base_url + CHAT, json=chat, timeout=30)
    assert anonymous.status_code == 401
    assert slow_body(server) == 408

    key = str(uuid.uuid4())
    stream = {**chat, "stream": True, "max_tokens": 24}
    with httpx.stream(
        "POST",
        server.base_url + CHAT,
        json=stream,
        headers={**headers, "Idempotency-Key": key},
        timeout=120,
    ) as held:
        lines = held.iter_lines()
        assert next(lines).startswith("data: ")
        assert post(stream, headers={"Idempotency-Key": key}).status_code == 409
        assert post(chat).status_code == 429  # the one model instance is busy
        assert "data: [DONE]" in list(lines)
    assert post(stream, headers={"Idempotency-Key": key}).headers["idempotent-replayed"] == "true"
    assert post(chat, headers={"Idempotency-Key": key}).status_code == 422
    assert post(chat, headers={"Idempotency-Key": "x" * 300}).status_code == 400

    essay = {**chat, "stream": True, "max_tokens": 300}
    essay["messages"] = [{"role": "user", "content": "Write an essay."}]
    with httpx.stream("POST", server.base_url + CHAT, json=essay, headers=headers) as cut:
        for line in cut.iter_lines():
            if '"content":"' in line and '"content":""' not in line:
                break  # some text reached us: leave mid-answer
    # The server notices the client left and stops the model: then the next call runs.
    metrics = server.base_url + "/metrics"
    wait_for(
        lambda: value(scrape(metrics), "workhorse_model_requests_running", model=MODEL) == 0,
        timeout=60,
        what="the model to be free again",
    )
    assert post(chat).status_code == 200

    with anthropic.Anthropic(
        base_url=server.base_url, api_key=server.api_key, max_retries=0
    ) as claude:
        message = claude.messages.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    seen["messages_usage"] = (message.usage.input_tokens, message.usage.output_tokens)
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as client:
        response = client.responses.create(model=MODEL, input="hi", max_output_tokens=8)
        background = client.responses.create(
            model=MODEL, input="hello", max_output_tokens=8, background=True
        )

        def ended() -> bool:
            status = client.responses.retrieve(background.id).status
            return status in ("completed", "incomplete", "failed", "cancelled")

        wait_for(ended, timeout=120, what="the background response to end")
        done = client.responses.retrieve(background.id)
        assert done.status in ("completed", "incomplete")
        assert response.usage is not None
        assert done.usage is not None
        seen["responses_usage"] = (
            response.usage.input_tokens + done.usage.input_tokens,
            response.usage.output_tokens + done.usage.output_tokens,
        )

        limited = server.create_key("--name", f"rpm-{uuid.uuid4().hex[:6]}", "--rpm", "1")
        first = httpx.get(server.v1 + "/models", headers={"Authorization": f"Bearer {limited}"})
        again = httpx.get(server.v1 + "/models", headers={"Authorization": f"Bearer {limited}"})
        assert (first.status_code, again.status_code) == (200, 429)
        plain = server.create_key("--name", f"plain-{uuid.uuid4().hex[:6]}")
        refused = httpx.get(
            server.v1 + "/admin/requests", headers={"Authorization": f"Bearer {plain}"}
        )
        assert refused.status_code == 403

        junk = client.files.create(
            file=("blob.bin", io.BytesIO(b"\x00\x01" + uuid.uuid4().bytes)), purpose="assistants"
        )
        store = client.vector_stores.create(file_ids=[junk.id])
        wait_for(
            lambda: client.vector_stores.retrieve(store.id).file_counts.failed == 1,
            timeout=120,
            what="the ingestion to fail",
        )
        training = client.files.create(
            file=("t.jsonl", io.BytesIO(json.dumps({"messages": []}).encode() + b"\n")),
            purpose="fine-tune",
        )
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=training.id)
        wait_for(
            lambda: client.fine_tuning.jobs.retrieve(job.id).status == "failed",
            timeout=180,
            what="the training job to fail",
        )
    return seen


@pytest.fixture(scope="module")
def sequence(deployment: Deployment) -> dict[str, Any]:
    return run_sequence(deployment.server)


def test_the_pipeline_counts_every_rejection_and_idempotency_outcome(
    deployment: Deployment, sequence: dict[str, Any]
) -> None:
    samples = scrape(deployment.server.base_url + "/metrics")
    rejected = {
        reason: value(samples, "workhorse_http_rejections_total", route=CHAT, reason=reason)
        for reason in (
            "payload_too_large",
            "unsupported_media_type",
            "invalid_body",
            "validation",
            "request_timeout",
            "unauthorized",
            "busy",
        )
    }
    assert rejected == dict.fromkeys(rejected, 1.0)
    assert (
        value(samples, "workhorse_http_rejections_total", route="/v1/models", reason="rate_limited")
        == 1
    )
    assert (
        value(
            samples,
            "workhorse_http_rejections_total",
            route="/v1/admin/requests",
            reason="forbidden",
        )
        == 1
    )
    outcomes = {
        outcome: value(samples, "workhorse_idempotency_requests_total", outcome=outcome)
        for outcome in ("claimed", "conflict", "replayed", "mismatch", "invalid")
    }
    assert outcomes == dict.fromkeys(outcomes, 1.0)
    assert value(samples, "workhorse_idempotent_replays_total") == 1
    assert value(samples, "workhorse_client_disconnects_total", method="POST", route=CHAT) == 1
    for status, count in (("415", 1), ("413", 1), ("408", 1), ("401", 1), ("409", 1)):
        assert (
            value(
                samples, "workhorse_http_requests_total", method="POST", route=CHAT, status=status
            )
            == count
        ), status
    assert value(samples, "workhorse_http_request_size_bytes_count", method="POST", route=CHAT) > 0
    assert value(samples, "workhorse_http_requests_in_flight") == 1  # this scrape


def test_generations_are_counted_by_api_and_finish_reason(
    deployment: Deployment, sequence: dict[str, Any]
) -> None:
    samples = scrape(deployment.server.base_url + "/metrics")
    ended = "workhorse_generation_requests_total"
    chat = {"model": MODEL, "api": "chat"}
    finished = value(samples, ended, **chat, finish_reason="stop") + value(
        samples, ended, **chat, finish_reason="length"
    )
    assert finished == 3  # the first chat, the held stream, the one after the cut
    assert value(samples, ended, **chat, finish_reason="cancelled") == 1
    assert value(samples, "workhorse_generations_total", model=MODEL) == 7
    for api, count in (("messages", 1), ("responses", 2)):
        assert total(samples, ended, model=MODEL, api=api) == count
        tokens = "workhorse_generation_tokens_total"
        used = (
            value(samples, tokens, model=MODEL, api=api, type="input"),
            value(samples, tokens, model=MODEL, api=api, type="output"),
        )
        assert used == sequence[f"{api}_usage"], api
    ttft = "workhorse_generation_time_to_first_token_seconds_count"
    assert value(samples, ttft, model=MODEL, api="chat") == 4
    duration = "workhorse_generation_duration_seconds_count"
    assert value(samples, duration, model=MODEL, api="chat") == 4
    assert value(samples, "workhorse_model_requests_running", model=MODEL) == 0
    assert value(samples, "workhorse_model_queue_wait_seconds_count", model=MODEL) >= 7
    background = {"type": "background_response"}
    assert value(samples, "workhorse_jobs_started_total", **background) == 1
    assert value(samples, "workhorse_jobs_succeeded_total", **background) == 1
    assert value(samples, "workhorse_jobs_running", **background) == 0
    scaled = deployment.mode != "sqlite"
    build = {
        "version": __version__,
        "database": "postgresql" if scaled else "sqlite",
        "queue": "redis" if scaled else "sqlite",
    }
    assert value(samples, "workhorse_build_info", **build) == 1


def test_jobs_are_counted_by_the_process_that_ran_them(
    deployment: Deployment, sequence: dict[str, Any]
) -> None:
    ran = scrape(deployment.jobs_metrics)
    failed = "workhorse_jobs_failed_total"
    assert value(ran, failed, type="ingestion", reason="unsupported_file") == 1
    assert value(ran, failed, type="training", reason="invalid_training_file") == 1
    assert value(ran, "workhorse_jobs_started_total", type="ingestion") == 1
    assert value(ran, "workhorse_jobs_started_total", type="training") == 1
    assert value(ran, "workhorse_jobs_running", type="ingestion") == 0
    assert value(ran, "workhorse_ingested_files_total", status="failed") == 1
    assert value(ran, "workhorse_jobs_queued", type="ingestion") == 0
    assert value(ran, "workhorse_blob_bytes") > 0
    if deployment.mode != "sqlite":  # the server ran none of them: never counted twice
        served = scrape(deployment.server.base_url + "/metrics")
        for kind in ("ingestion", "training"):
            assert total(served, failed, type=kind) == 0
            assert total(served, "workhorse_jobs_started_total", type=kind) == 0


def test_the_exposition_passes_promtool_and_every_metric_is_documented(
    deployment: Deployment, sequence: dict[str, Any], tmp_path: Path
) -> None:
    documented = (ROOT / "docs" / "observability.md").read_text()
    for url in {deployment.server.base_url + "/metrics", deployment.jobs_metrics}:
        text = httpx.get(url).text
        checked = subprocess.run(
            ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        names = {f.name for f in text_string_to_metric_families(text)}
        ours = {n for n in names if n.startswith("workhorse_")}
        missing = [n for n in ours if f"`{n}" not in documented]
        assert not missing, f"undocumented metrics: {missing}"
        assert any(n.startswith("process_") for n in names)


def test_a_real_prometheus_scrapes_every_process(
    deployment: Deployment, sequence: dict[str, Any], tmp_path: Path
) -> None:
    prometheus = shutil.which("prometheus")
    assert prometheus, "make test installs Debian's prometheus"
    targets = sorted(
        {
            u.removeprefix("http://").removesuffix("/metrics")
            for u in (deployment.server.base_url + "/metrics", deployment.jobs_metrics)
        }
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: workhorse\n"
        f"    static_configs:\n      - targets: {json.dumps(targets)}\n"
    )
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    found: list[Any] = []

    def scraped() -> bool:
        try:
            answer = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/query",
                params={"query": "workhorse_build_info"},
                timeout=5,
            )
        except httpx.HTTPError:
            return False
        found[:] = answer.json()["data"]["result"] if answer.status_code == 200 else []
        return len(found) == len(targets)

    try:
        wait_for(scraped, timeout=60, what="Prometheus to scrape every process")
        assert {r["metric"]["instance"] for r in found} == set(targets)
        answer = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/query",
            params={"query": f'workhorse_http_rejections_total{{route="{CHAT}"}}'},
        ).json()
        reasons = {r["metric"]["reason"] for r in answer["data"]["result"]}
        assert {"unsupported_media_type", "busy", "validation"} <= reasons
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_metrics_can_need_an_admin_key_or_move_to_their_own_port(tmp_path: Path) -> None:
    port = free_port()
    with run_workhorse(
        tmp_path,
        WORKHORSE_LOAD_BUNDLED_MODELS="false",
        WORKHORSE_METRICS_REQUIRE_ADMIN="true",
    ) as guarded:
        assert httpx.get(guarded.base_url + "/metrics").status_code == 401
        admin = {"Authorization": f"Bearer {guarded.admin_key}"}
        assert httpx.get(guarded.base_url + "/metrics", headers=admin).status_code == 200
    with run_workhorse(
        tmp_path, WORKHORSE_LOAD_BUNDLED_MODELS="false", WORKHORSE_METRICS_PORT=str(port)
    ) as moved:
        assert httpx.get(moved.base_url + "/metrics").status_code == 404
        own = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert own.status_code == 200
        assert "workhorse_build_info" in own.text
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 404
