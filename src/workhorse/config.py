"""Settings: one pydantic-settings class, read from ``WORKHORSE_*`` environment variables.

Every field carries a docstring; ``docs/configuration.md`` lists them all and a test
fails when the two drift apart.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

INITIAL_KEY_FILE = "initial-api-key"
"""The file in the data dir holding the first API key (mode 0600)."""


class UpstreamSettings(BaseModel):
    """An OpenAI-compatible server whose models Workhorse proxies by model id."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Short name, shown as ``owned_by`` in ``/v1/models`` and in logs."""

    base_url: HttpUrl
    """Base URL including the version prefix, e.g. ``http://10.0.0.5:8000/v1``."""

    api_key: SecretStr | None = None
    """Sent as ``Authorization: Bearer`` to the upstream; never logged."""

    models: list[str] = Field(min_length=1)
    """Model ids routed to this upstream (sent to it unchanged)."""

    connect_timeout_s: float = Field(default=5.0, gt=0)
    """Seconds to wait for a TCP connection to the upstream."""

    read_timeout_s: float = Field(default=120.0, gt=0)
    """Seconds to wait for the next bytes of an upstream response."""


class GGUFModelSettings(BaseModel):
    """A local GGUF file served on llama.cpp in addition to the bundled model."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_.:/-]{1,128}$")
    """Model id clients ask for."""

    path: Path
    """Path of the ``.gguf`` file on this machine."""

    n_ctx: int = Field(default=2048, ge=128)
    """Context window in tokens."""


class Settings(BaseSettings):
    """Workhorse configuration. Each field is also the env var ``WORKHORSE_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="WORKHORSE_",
        env_nested_delimiter="__",
        extra="ignore",
        use_attribute_docstrings=True,
    )

    host: str = "127.0.0.1"
    """Interface ``workhorse serve`` listens on."""

    port: int = Field(default=8000, ge=0, le=65535)
    """TCP port ``workhorse serve`` listens on (0 picks a free one)."""

    data_dir: Path = Path(".workhorse")
    """Folder for the SQLite database, blobs and the first API key; created if missing."""

    database_url: str | None = None
    """SQLAlchemy URL of the database. Default: SQLite (WAL mode) at ``<data_dir>/workhorse.db``.
    ``postgresql://user:pass@host/db`` scales out on PostgreSQL."""

    log_level: str = Field(default="info", pattern=r"^(debug|info|warning|error)$")
    """Lowest level written to the JSON log on stderr."""

    log_format: str = Field(default="auto", pattern=r"^(auto|json|text)$")
    """``json`` (one object per line), ``text`` (readable coloured lines), or ``auto``:
    text when standard error is a terminal, JSON otherwise."""

    access_log: bool = True
    """Write one JSON access-log line per request."""

    load_bundled_models: bool = True
    """Serve the bundled chat and embedding models. Off for a proxy-only node."""

    chat_model_id: str = "smollm2-135m-instruct"
    """Model id of the bundled chat model."""

    chat_n_ctx: int = Field(default=2048, ge=128)
    """Context window of the bundled chat model, in tokens."""

    chat_n_threads: int | None = Field(default=None, ge=1)
    """CPU threads for llama.cpp; default: all cores."""

    embedding_model_id: str = "all-minilm-l6-v2"
    """Model id of the bundled embedding model."""

    gguf_models: list[GGUFModelSettings] = []
    """More local GGUF chat models, as JSON:
    ``[{"id": "my-model", "path": "/models/x.gguf", "n_ctx": 4096}]``."""

    upstreams: list[UpstreamSettings] = []
    """OpenAI-compatible upstreams, as JSON:
    ``[{"name": "vllm", "base_url": "http://gpu:8000/v1", "models": ["llama-3-8b"]}]``."""

    auth_cache_s: float = Field(default=1.0, ge=0)
    """Seconds a replica trusts an API key it found active before asking the database again;
    a key revoked on another replica stops working within this time (0: ask every time)."""

    cors_origins: list[str] = []
    """Origins whose browser apps may call the API directly, as JSON:
    ``["https://app.example.com"]`` (``["*"]`` for any); none by default."""

    console: bool = True
    """Serve the web console at ``/`` (sign in with an API key)."""

    metrics_history_s: float = Field(default=15.0, gt=0, le=3600)
    """Seconds between the samples of this process's metrics that the console's dashboard
    charts (kept in memory for a day)."""

    console_session_hours: float = Field(default=12.0, gt=0, le=720)
    """Hours a console sign-in lasts (never past its key's expiry); signing out, or the
    key being revoked, ends it sooner."""

    generation_queue_size: int = Field(default=16, ge=0)
    """Requests that may wait for a busy model instance; beyond it clients get 429."""

    retry_after_s: int = Field(default=1, ge=1)
    """``Retry-After`` seconds suggested when a model's queue is full."""

    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """Largest request body accepted by JSON endpoints, in bytes."""

    body_min_rate: int = Field(default=1024, ge=1)
    """Bytes per second a request body must average after the grace period (else 408)."""

    body_grace_s: float = Field(default=10.0, gt=0)
    """Seconds a request body may take before the minimum rate applies."""

    multipart_max_parts: int = Field(default=1000, ge=1)
    """Most parts (fields and files) in one multipart body (413 beyond)."""

    multipart_max_files: int = Field(default=16, ge=0)
    """Most file parts in one multipart body (413 beyond)."""

    multipart_max_field_bytes: int = Field(default=1024 * 1024, ge=1)
    """Largest non-file multipart part, in bytes (413 beyond)."""

    idempotency_ttl_s: int = Field(default=24 * 3600, ge=1)
    """Seconds an Idempotency-Key and its stored response are kept."""

    idempotency_lease_s: int = Field(default=600, ge=1)
    """Seconds a claimed key stays "in progress" without an answer; after that (its process
    died) a retry with the same key runs the request again."""

    default_max_tokens: int = Field(default=512, ge=1)
    """Tokens generated when a request sets no ``max_tokens``."""

    response_lease_s: float = Field(default=30.0, gt=0)
    """Seconds a process holds a generating response without renewing its lease; after
    that, another process settles it (foreground: incomplete) or continues it
    (background)."""

    response_max_attempts: int = Field(default=3, ge=1)
    """Times a background response is started before an interruption fails it."""

    queue_url: str | None = None
    """The durable job queue: empty for SQLite in the data dir (worker threads inside
    ``workhorse serve``), or ``redis://host:port/db`` to share jobs with ``workhorse worker``
    processes."""

    queue_name: str = Field(default="workhorse", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """The queue's name: deployments sharing one Redis need different names."""

    ingest_workers: int = Field(default=2, ge=0)
    """Ingestion worker threads inside ``workhorse serve`` (0: leave jobs to ``workhorse
    worker`` processes)."""

    ingest_max_attempts: int = Field(default=3, ge=1)
    """Times a file's ingestion is tried before it ends ``failed`` with the last reason."""

    ingest_lease_s: float = Field(default=60.0, gt=0)
    """Seconds a worker holds a file's job without renewing; after that (its process died)
    the job is queued again."""

    ingest_requeue_after_s: float = Field(default=600.0, gt=0)
    """Seconds a queued job may wait unclaimed before it is queued again (a queue entry lost
    with a crashed process); a duplicate entry is harmless."""

    ingest_max_file_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    """Largest file a vector store ingests; bigger ones end ``failed`` saying so."""

    parse_workers: int = Field(default=2, ge=1, le=64)
    """Parser processes of a server or worker. Every document is parsed and chunked in one
    of them, never in the server itself, under the ``parse_*`` limits below; each reads one
    document at a time and is reused for the next."""

    parse_memory_bytes: int = Field(default=2 * 1024**3, ge=256 * 1024**2)
    """Address space a parser process may use (RLIMIT_AS, its libraries included); a
    document that needs more ends ``failed`` ("needed more than 2 GiB of memory")."""

    parse_cpu_s: float = Field(default=120.0, gt=0)
    """CPU seconds one document's parsing may use (RLIMIT_CPU); past it the file fails."""

    parse_wall_s: float = Field(default=240.0, gt=0)
    """Seconds one document's parsing and chunking may take; past it the parser process is
    killed and the file fails. Twice the CPU allowance, so that a parser slowed by a busy
    machine (it runs at nice 10) is not failed for it."""

    parse_open_files: int = Field(default=64, ge=16)
    """Open file descriptors a parser process may hold (RLIMIT_NOFILE)."""

    parse_max_chars: int = Field(default=20_000_000, ge=1)
    """Characters of text one document may yield (about 10,000 pages); more fails the file."""

    parse_max_pages: int = Field(default=5_000, ge=1)
    """Pages of a PDF."""

    parse_max_rows: int = Field(default=250_000, ge=1)
    """Rows of a CSV file, or of all the sheets of an XLSX workbook together."""

    parse_max_slides: int = Field(default=2_000, ge=1)
    """Slides of a PPTX presentation."""

    parse_max_depth: int = Field(default=256, ge=8)
    """Nesting depth of HTML elements and of JSON arrays and objects."""

    parse_max_line_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Longest line of a text, Markdown, CSV, JSON Lines or source file, in bytes."""

    parse_max_unzipped_bytes: int = Field(default=1024**3, ge=1024 * 1024)
    """Total inflated size of the parts of a DOCX, PPTX or XLSX file (a zip archive)."""

    parse_max_member_bytes: int = Field(default=512 * 1024**2, ge=1024 * 1024)
    """Inflated size of any one part of a DOCX, PPTX or XLSX file."""

    parse_max_compression_ratio: float = Field(default=100.0, ge=1)
    """Inflated-to-compressed size ratio a part over 1 MiB may have (as Apache POI's zip
    bomb guard); real documents stay far below it, zip bombs far above."""

    embed_batch_size: int = Field(default=64, ge=1, le=2048)
    """Chunks embedded per call during ingestion (between calls, API requests get the model)."""

    train_max_attempts: int = Field(default=3, ge=1)
    """Times a fine-tuning run is started (resuming from its newest checkpoint) after its
    training process dies, before the job ends ``failed``."""

    train_lease_s: float = Field(default=30.0, gt=0)
    """Seconds a worker holds a fine-tuning job without renewing (it renews every second
    while training); after that (its process died) the job is queued again."""

    train_requeue_after_s: float = Field(default=600.0, gt=0)
    """Seconds a queued fine-tuning job may wait unclaimed before it is queued again."""

    eval_workers: int = Field(default=1, ge=0)
    """Eval runs this server runs at once (each on its own queue thread). Runs need the
    chat models, so servers run them, ``workhorse worker`` processes do not."""

    eval_concurrency: int = Field(default=4, ge=1, le=64)
    """Items of one eval run sampled and graded at once (a batching model serves them
    together)."""

    eval_lease_s: float = Field(default=15.0, gt=0)
    """Seconds a server holds an eval run without renewing (it renews every second);
    after that (its process died) the run is queued again and resumes."""

    eval_requeue_after_s: float = Field(default=300.0, gt=0)
    """Seconds a queued eval run may wait unclaimed before it is queued again."""

    eval_max_items: int = Field(default=100_000, ge=1)
    """Items one eval run may have."""

    eval_max_item_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Bytes of one eval item as JSON (a line of a JSONL file, or one inline item)."""

    uploads_ttl_s: int = Field(default=3600, ge=1)
    """Seconds an upload (``/v1/uploads``) accepts parts and may be completed; after that it
    is ``expired`` and its parts are deleted."""

    uploads_complete_lease_s: float = Field(default=600.0, gt=0)
    """Seconds a complete may hold an upload while it assembles the file; after that (its
    process died) another complete of the upload may take it over."""

    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Serve ``GET /metrics`` on this port (same host) instead of the API port: the usual
    choice when a cluster's Prometheus scrapes. A ``workhorse worker`` serves its own
    metrics only this way."""

    metrics_require_admin: bool = False
    """``GET /metrics`` on the API port needs an admin key (Bearer or ``x-api-key``)."""

    inspector_max_records: int = Field(default=10_000, ge=0)
    """Requests the request inspector keeps (``GET /v1/admin/requests``), newest first;
    the oldest are dropped beyond it. 0 turns the inspector off."""

    inspector_max_age_s: int = Field(default=7 * 24 * 3600, ge=60)
    """Seconds a request record is kept at most."""

    inspector_queue_size: int = Field(default=10_000, ge=1)
    """Records waiting to be written; beyond it new ones are dropped (and counted) rather
    than slow the requests they describe."""

    inspector_prune_s: float = Field(default=30.0, gt=0)
    """Seconds between prunings of the request records to their count and age bounds."""

    inspector_capture_routes: list[str] = []
    """Route templates whose request and response headers and bodies are kept, redacted
    (API keys, ``Authorization``, cookies and anything shaped like a secret), as JSON:
    ``["/v1/chat/completions"]`` (``["*"]`` for every route); none by default."""

    inspector_capture_bytes: int = Field(default=16 * 1024, ge=0)
    """The most bytes kept of each captured request or response body."""

    @field_validator("database_url")
    @classmethod
    def _no_blank_url(cls, value: str | None) -> str | None:
        return value or None

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'workhorse.db').resolve()}"
