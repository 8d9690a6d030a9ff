"""Traces exported over OTLP to a receiver in the test: the request, its pipeline stages,
the database and the model call with the GenAI attributes; a job's spans linked to the
request that queued it, in the process that ran it (a separate worker when scaled out).
"""

from __future__ import annotations

import io
import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import openai
import pytest

from tests.obs.otlp import ReceivedSpan, Receiver, run_receiver
from tests.servers import Server, run_worker, run_workhorse, wait_for

MODEL = "smollm2-135m-instruct"
EMBEDDER = "all-minilm-l6-v2"


@dataclass
class Traced:
    server: Server
    receiver: Receiver
    mode: str


@pytest.fixture(scope="module")
def traced(
    storage_mode: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Traced]:
    tmp = tmp_path_factory.mktemp("tracing")
    with run_receiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # export every 100 ms, not every 5 s
        }
        if storage_mode == "sqlite":
            with run_workhorse(tmp, None, **env) as server:
                yield Traced(server, receiver, storage_mode)
            return
        url = request.getfixturevalue("new_database")()
        env |= {
            "WORKHORSE_QUEUE_URL": request.getfixturevalue("redis_url"),
            "WORKHORSE_QUEUE_NAME": "t" + uuid.uuid4().hex[:12],
            "WORKHORSE_INGEST_WORKERS": "0",
        }
        with (
            run_workhorse(tmp, url, **env) as server,
            run_worker(server, WORKHORSE_INGEST_WORKERS="1"),
        ):
            yield Traced(server, receiver, storage_mode)


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def spans_of(receiver: Receiver, trace_id: str, *names: str) -> dict[str, ReceivedSpan]:
    """The trace's spans by name, once every one of ``names`` has arrived."""
    found: dict[str, ReceivedSpan] = {}

    def arrived() -> bool:
        found.clear()
        for span in receiver.of_trace(trace_id):
            found.setdefault(span.name, span)
        return all(name in found for name in names)

    wait_for(arrived, timeout=30, what=f"spans {names} of trace {trace_id}")
    return found


def test_a_chat_is_traced_from_the_request_to_the_model_call(traced: Traced) -> None:
    server, receiver = traced.server, traced.receiver
    header, trace_id, client_span = traceparent()
    secret_word = "zq" + uuid.uuid4().hex[:10]
    request_id = "req_trace_" + uuid.uuid4().hex
    answer = httpx.post(
        server.v1 + "/chat/completions",
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": f"Say {secret_word}."}],
            "max_tokens": 8,
        },
        headers={
            **server.headers(),
            "traceparent": header,
            "Idempotency-Key": str(uuid.uuid4()),
            "x-request-id": request_id,
        },
        timeout=120,
    )
    assert answer.status_code == 200
    usage = answer.json()["usage"]
    route = "POST /v1/chat/completions"
    chat = f"chat {MODEL}"
    spans = spans_of(receiver, trace_id, route, "decode", "validation", "idempotency claim", chat)
    request_span = spans[route]
    assert request_span.parent_span_id == client_span  # the client's traceparent honoured
    assert request_span.attributes["http.route"] == "/v1/chat/completions"
    assert request_span.attributes["http.response.status_code"] == 200
    for stage in ("decode", "validation", "idempotency claim", chat):
        assert spans[stage].parent_span_id == request_span.span_id, stage
    model = spans[chat].attributes
    assert model["gen_ai.operation.name"] == "chat"
    assert model["gen_ai.provider.name"] == "workhorse"
    assert model["gen_ai.request.model"] == model["gen_ai.response.model"] == MODEL
    assert model["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert model["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert model["gen_ai.response.finish_reasons"] == [answer.json()["choices"][0]["finish_reason"]]
    assert "gen_ai.first_token" in spans[chat].events
    database = [
        s for s in receiver.of_trace(trace_id) if any(k.startswith("db.") for k in s.attributes)
    ]
    assert database, "no database spans in the request's trace"
    assert secret_word not in repr(receiver.of_trace(trace_id))  # no content by default
    assert f'"trace_id": "{trace_id}"' in server.log()  # the access log names it
    record = {}

    def recorded() -> bool:
        got = httpx.get(
            f"{server.v1}/admin/requests/{request_id}",
            headers={"Authorization": f"Bearer {server.admin_key}"},
        )
        record.update(got.json() if got.status_code == 200 else {})
        return got.status_code == 200

    wait_for(recorded, timeout=15, what="the request's record")
    assert record["trace_id"] == trace_id


def test_a_job_is_linked_to_the_request_that_queued_it(traced: Traced) -> None:
    server, receiver = traced.server, traced.receiver
    header, trace_id, _ = traceparent()
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as client:
        note = f"A short note about tracing {uuid.uuid4()}.".encode()
        file = client.files.create(file=("note.txt", io.BytesIO(note)), purpose="assistants")
        store = client.vector_stores.create(
            file_ids=[file.id], extra_headers={"traceparent": header}
        )
        wait_for(
            lambda: client.vector_stores.retrieve(store.id).file_counts.completed == 1,
            timeout=120,
            what="the file to be ingested",
        )
    request_span = spans_of(receiver, trace_id, "POST /v1/vector_stores")["POST /v1/vector_stores"]
    jobs: list[ReceivedSpan] = []

    def linked() -> bool:
        jobs[:] = [
            s
            for s in receiver.all()
            if s.name == "ingest file" and (trace_id, request_span.span_id) in s.links
        ]
        return bool(jobs)

    wait_for(linked, timeout=30, what="the ingestion span linked to its request")
    (job,) = jobs
    assert job.attributes["workhorse.file_id"] == file.id
    expected = "worker" if traced.mode == "postgres" else "server"
    assert job.resource["workhorse.process"] == expected
    inside = spans_of(receiver, job.trace_id, f"embeddings {EMBEDDER}")
    embedding = inside[f"embeddings {EMBEDDER}"].attributes
    assert embedding["gen_ai.operation.name"] == "embeddings"
    assert embedding["gen_ai.usage.input_tokens"] > 0


CHUNKS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}},
]


@contextmanager
def recording_upstream() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """An OpenAI-compatible endpoint that answers one streamed word and keeps the headers
    of every request (what this test is about is the headers, not the model)."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            asked = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            base = {"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": "up"}
            body = "".join(f"data: {json.dumps({**base, **c})}\n\n" for c in CHUNKS)
            payload = (body + "data: [DONE]\n\n").encode()
            kind = "text/event-stream"
            if not asked.get("stream"):
                message = {"role": "assistant", "content": "hi"}
                whole = {"index": 0, "message": message, "finish_reason": "stop"}
                usage = CHUNKS[-1]["usage"]
                answer = {**base, "object": "chat.completion", "choices": [whole], "usage": usage}
                payload, kind = json.dumps(answer).encode(), "application/json"
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()


def test_upstream_calls_carry_the_trace_on(tmp_path: Path) -> None:
    with run_receiver() as receiver, recording_upstream() as (url, seen):
        upstreams = [{"name": "recorder", "base_url": url, "models": ["up"]}]
        with run_workhorse(
            tmp_path,
            WORKHORSE_UPSTREAMS=json.dumps(upstreams),
            WORKHORSE_LOAD_BUNDLED_MODELS="false",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_BSP_SCHEDULE_DELAY="100",
        ) as server:
            header, trace_id, _ = traceparent()
            answer = httpx.post(
                server.v1 + "/chat/completions",
                json={"model": "up", "messages": [{"role": "user", "content": "hi"}]},
                headers={**server.headers(), "traceparent": header},
                timeout=60,
            )
            assert answer.status_code == 200, answer.text
            (sent,) = seen
            assert sent["traceparent"].split("-")[1] == trace_id
            spans = spans_of(receiver, trace_id, "chat up", "POST")
            call = spans["POST"]  # httpx's client span of the upstream request
            assert call.parent_span_id == spans["chat up"].span_id
            assert sent["traceparent"].split("-")[2] == call.span_id
            assert spans["chat up"].attributes["gen_ai.provider.name"] == "openai"
