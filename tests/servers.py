"""Real processes for tests: Workhorse servers, llama.cpp's server, PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
WORKHORSE = Path(sys.executable).parent / "workhorse"
STARTUP_S = 180.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def _answers(url: str, status: int = 200) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == status
        except httpx.HTTPError:
            return False

    return check


@dataclass
class Server:
    """A running ``workhorse serve``."""

    base_url: str
    api_key: str
    """The key tests call with: the admin key, or a project key (``with_project_key``)."""
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    admin_key: str = ""
    """The install's first key, an admin key."""

    def create_key(self, *args: str) -> str:
        """A new key made with ``workhorse keys create ARGS``; its secret."""
        created = self.cli("keys", "create", *args)
        assert created.returncode == 0, created.stderr
        return created.stdout.strip().splitlines()[-1]

    def with_project_key(self) -> Server:
        """The same server, called with a project key of every project scope."""
        key = self.create_key("--name", f"suite-{uuid.uuid4().hex[:8]}")
        return replace(self, api_key=key)

    @property
    def v1(self) -> str:
        return self.base_url + "/v1"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``workhorse ARGS`` against this server's settings (client commands with
        the tests' key)."""
        return subprocess.run(
            [str(WORKHORSE), *args],
            env={**self.env, "WORKHORSE_API_KEY": self.api_key},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def workhorse_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """Environment for a Workhorse process: offline, its own data dir and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKHORSE_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        WORKHORSE_DATA_DIR=str(data_dir),
        WORKHORSE_CHAT_N_THREADS="1",
        # Slow-body tests need the 408 to come quickly.
        WORKHORSE_BODY_GRACE_S="2",
    )
    if database_url:
        env["WORKHORSE_DATABASE_URL"] = database_url
    env.update(extra)
    return env


@contextmanager
def run_workhorse(
    tmp: Path,
    database_url: str | None = None,
    *,
    ready: bool = True,
    data_dir: Path | None = None,
    initial_key: bool = True,
    **extra: str,
) -> Iterator[Server]:
    """Start ``workhorse serve`` on a free port and stop it afterwards (``data_dir``: reuse
    the state of an earlier server; ``initial_key``: wait for the first key's file, which
    an install that already has a first key does not write)."""
    data_dir = data_dir or tmp / f"data-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = workhorse_env(data_dir, database_url, **extra)
    log_path = tmp / f"workhorse-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(WORKHORSE), "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        path = "/readyz" if ready else "/healthz"
        wait_for(_answers(base_url + path), timeout=STARTUP_S, what=f"workhorse {path}")
        key_file = data_dir / "initial-api-key"
        if initial_key:
            wait_for(key_file.exists, timeout=10, what="the initial API key file")
        admin_key = key_file.read_text().strip() if key_file.exists() else ""
        yield Server(base_url, admin_key, data_dir, log_path, process, env, admin_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def run_llama_cpp_server(
    tmp: Path, model_path: Path, alias: str, *, threads: int = 1
) -> Iterator[str]:
    """Start ``python -m llama_cpp.server`` on a free port; yields its ``/v1`` URL."""
    port = free_port()
    log_path = tmp / f"llama-cpp-server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model_path),
                "--model_alias",
                alias,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--n_threads",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(_answers(base + "/v1/models"), timeout=STARTUP_S, what="llama_cpp.server")
        yield base + "/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def run_worker(server: Server, **extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``workhorse worker`` with ``server``'s settings; stop it afterwards."""
    log_path = server.log_path.with_name(server.log_path.stem + "-worker.log")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(WORKHORSE), "worker"],
            env={**server.env, **extra},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: "worker ready" in log_path.read_text(errors="replace"),
            timeout=STARTUP_S,
            what="workhorse worker",
        )
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def run_redis(tmp: Path) -> Iterator[str]:
    """Start Debian's ``redis-server`` on loopback with an append-only file; yields its URL."""
    port = free_port()
    log_path = tmp / f"redis-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(tmp),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(answers, timeout=30, what="redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=20)
