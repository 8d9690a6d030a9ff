"""The services one running app holds, built in ``create_app`` and shared by dependency."""

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import Settings
from workhorse.governance.meter import Governor, MeterFactory
from workhorse.jobs.queue import EvalQueue, Jobs
from workhorse.knowledge.index import ChunkIndex
from workhorse.obs.exposition import Exposition
from workhorse.obs.history import MetricsHistory
from workhorse.obs.inspector import Inspector
from workhorse.obs.metrics import Metrics
from workhorse.obs.tracing import Tracing
from workhorse.providers.registry import ModelRegistry
from workhorse.responses.runner import ResponseRunner
from workhorse.store.api_keys import ApiKeyStore
from workhorse.store.blobs import BlobStore
from workhorse.store.chat_completions import ChatCompletionStore
from workhorse.store.console_sessions import ConsoleSessionStore
from workhorse.store.conversations import ConversationStore
from workhorse.store.db import Database
from workhorse.store.eval_items import EvalItemStore
from workhorse.store.eval_runs import EvalRunStore
from workhorse.store.evals import EvalStore
from workhorse.store.feedback import FeedbackStore
from workhorse.store.files import FileStore
from workhorse.store.fine_tuned_models import FineTunedModelStore
from workhorse.store.fine_tuning import FineTuningStore
from workhorse.store.idempotency import IdempotencyStore
from workhorse.store.messages import MessageStore
from workhorse.store.projects import ProjectStore
from workhorse.store.responses import ResponseStore
from workhorse.store.uploads import UploadStore
from workhorse.store.vector_stores import VectorStoreStore


@dataclass
class Container:
    """Everything a request handler may need; one per app, never a module global."""

    settings: Settings
    db: Database
    keys: ApiKeyStore
    governor: Governor
    meters: MeterFactory
    """The meter of a key by id, for work that outlives its request."""
    projects: ProjectStore
    console_sessions: ConsoleSessionStore
    """Signed-in sessions of the web console."""
    idempotency: IdempotencyStore
    files: FileStore
    uploads: UploadStore
    conversations: ConversationStore
    chat_completions: ChatCompletionStore
    """Chat completions created with ``store: true``."""
    stored_messages: MessageStore
    """Anthropic Messages answers created with ``store: true``."""
    feedback: FeedbackStore
    """Ratings of answers."""
    evals: EvalStore
    eval_runs: EvalRunStore
    eval_items: EvalItemStore
    """The graded items of eval runs."""
    eval_queue: EvalQueue
    """Eval runs waiting for a server."""
    blobs: BlobStore
    models: ModelRegistry
    metrics: Metrics
    exposition: Exposition
    tracing: Tracing
    """Traces (off unless ``OTEL_EXPORTER_OTLP_*`` names a collector)."""
    """``/metrics`` as rendered, the shared-state figures read afresh."""
    inspector: Inspector
    history: MetricsHistory
    """This process's metrics, sampled for the console's dashboard."""
    """Records of recent requests (``GET /v1/admin/requests``)."""
    responses: ResponseStore
    runner: ResponseRunner
    vector_stores: VectorStoreStore
    index: ChunkIndex
    jobs: Jobs
    fine_tuning: FineTuningStore
    fine_tuned: FineTunedModelStore
