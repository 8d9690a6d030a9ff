"""The services of one process, built from the settings: a server or a worker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from workhorse import __version__
from workhorse.config import Settings
from workhorse.container import Container
from workhorse.errors import NotFound
from workhorse.governance.meter import Governor, Meter, subjects_of
from workhorse.jobs.evals import EvalWorkers
from workhorse.jobs.ingestion import IngestionWorkers
from workhorse.jobs.queue import EvalQueue, Jobs, open_huey
from workhorse.jobs.training import TrainingWorkers
from workhorse.knowledge.index import open_index
from workhorse.knowledge.ingest import Ingestor
from workhorse.obs.exposition import Exposition
from workhorse.obs.history import MetricsHistory
from workhorse.obs.inspector import Inspector
from workhorse.obs.metrics import Metrics
from workhorse.obs.models import ModelWatch
from workhorse.obs.tracing import Tracing
from workhorse.providers.registry import BUNDLED_EMBEDDING_DIMENSIONS, FineTuned, ModelRegistry
from workhorse.responses.runner import ResponseRunner
from workhorse.store.api_keys import ApiKeyStore
from workhorse.store.blobs import BlobStore
from workhorse.store.chat_completions import ChatCompletionStore
from workhorse.store.console_sessions import ConsoleSessionStore
from workhorse.store.conversations import ConversationStore
from workhorse.store.db import open_database
from workhorse.store.eval_items import EvalItemStore
from workhorse.store.eval_runs import EvalRunStore
from workhorse.store.evals import EvalStore
from workhorse.store.feedback import FeedbackStore
from workhorse.store.files import FileStore
from workhorse.store.fine_tuned_models import FineTunedModelStore
from workhorse.store.fine_tuning import FineTuningStore
from workhorse.store.idempotency import IdempotencyStore
from workhorse.store.limits import LimitStore
from workhorse.store.messages import MessageStore
from workhorse.store.projects import ProjectStore
from workhorse.store.request_log import RequestLog
from workhorse.store.responses import ResponseStore
from workhorse.store.uploads import UploadStore
from workhorse.store.usage import UsageStore
from workhorse.store.vector_stores import VectorStoreStore


def build_container(settings: Settings, *, chat: bool = True) -> Container:
    """The services of one process (a server, or a worker with ``chat=False``)."""
    db = open_database(settings.resolved_database_url())
    queue = "redis" if (settings.queue_url or "").startswith("redis") else "sqlite"
    metrics = Metrics(version=__version__, dialect=db.dialect, queue=queue)
    tracing = Tracing(role="server" if chat else "worker")
    tracing.instrument(db.sync_engines())
    models = ModelRegistry(settings, chat=chat, observer=ModelWatch(metrics, tracing))
    metrics.live.model_slots = models.occupancy
    metrics.live.db_pool = db.pool_state
    metrics.live.db_writes = db.writes.read
    for client in models.upstream_clients():
        tracing.instrument_client(client)
    responses = ResponseStore(db, lease=timedelta(seconds=settings.response_lease_s))
    fine_tuning, fine_tuned = FineTuningStore(db), FineTunedModelStore(db)

    async def find_fine_tuned(model_id: str) -> FineTuned | None:
        model = await fine_tuned.get(model_id)
        if model is not None:
            return FineTuned(model.base_model, Path(model.adapter_path), model.created_at)
        checkpoint = await fine_tuning.checkpoint_by_model(model_id)
        job = await fine_tuning.get(None, checkpoint.job_id) if checkpoint else None
        if checkpoint is None or job is None:
            return None
        return FineTuned(job.model, Path(checkpoint.adapter_path), checkpoint.created_at)

    models.serve_fine_tuned(find_fine_tuned)
    keys = ApiKeyStore(db.sessions, cache_ttl_s=settings.auth_cache_s)
    projects = ProjectStore(db.sessions, keys)
    governor = Governor(LimitStore(db), UsageStore(db))

    async def meter_of(project_id: str, key_id: str) -> Meter:
        """A key's meter under its current limits (a deleted key's work is still paid)."""
        try:
            key, project = await keys.get(key_id), await projects.get(project_id)
        except NotFound:
            return Meter(governor, project_id, key_id)
        limited = subjects_of(key.id, key.limits, project.id, project.limits)
        return Meter(governor, project_id, key_id, limited)

    exposition = Exposition(metrics, db)
    return Container(
        settings=settings,
        db=db,
        keys=keys,
        governor=governor,
        meters=meter_of,
        projects=projects,
        console_sessions=ConsoleSessionStore(
            db.sessions, ttl=timedelta(hours=settings.console_session_hours)
        ),
        idempotency=IdempotencyStore(
            db,
            ttl=timedelta(seconds=settings.idempotency_ttl_s),
            lease=timedelta(seconds=settings.idempotency_lease_s),
        ),
        files=FileStore(db),
        uploads=UploadStore(
            db,
            ttl=timedelta(seconds=settings.uploads_ttl_s),
            complete_lease=timedelta(seconds=settings.uploads_complete_lease_s),
        ),
        conversations=ConversationStore(db),
        chat_completions=ChatCompletionStore(db),
        stored_messages=MessageStore(db),
        feedback=FeedbackStore(db),
        evals=EvalStore(db),
        eval_runs=EvalRunStore(db),
        eval_items=EvalItemStore(db),
        eval_queue=EvalQueue(
            open_huey(settings, "-evals"), workers=settings.eval_workers if chat else 0
        ),
        blobs=BlobStore(settings.data_dir / "blobs"),
        models=models,
        metrics=metrics,
        exposition=exposition,
        history=MetricsHistory(metrics, exposition, interval_s=settings.metrics_history_s),
        tracing=tracing,
        inspector=Inspector(RequestLog(db), settings, metrics),
        responses=responses,
        runner=ResponseRunner(
            responses,
            ConversationStore(db),
            models,
            metrics,
            max_attempts=settings.response_max_attempts,
            meters=meter_of,
            tracing=tracing,
        ),
        vector_stores=VectorStoreStore(db),
        index=open_index(db, settings.data_dir, BUNDLED_EMBEDDING_DIMENSIONS),
        jobs=Jobs(
            open_huey(settings),
            workers=settings.ingest_workers,
            max_attempts=settings.ingest_max_attempts,
            train_attempts=settings.train_max_attempts,
        ),
        fine_tuning=fine_tuning,
        fine_tuned=fine_tuned,
    )


def ingestion_workers(container: Container) -> IngestionWorkers:
    """The ingestion job runner of a process built by ``build_container``."""
    ingestor = Ingestor(
        container.settings,
        container.vector_stores,
        container.files,
        container.blobs,
        container.index,
        container.models,
        container.metrics,
        container.meters,
        container.tracing,
    )
    return IngestionWorkers(container.settings, container.jobs, ingestor, container.vector_stores)


def training_workers(container: Container) -> TrainingWorkers:
    """The fine-tuning job runner of a process built by ``build_container``."""
    return TrainingWorkers(
        container.settings,
        container.jobs,
        container.fine_tuning,
        container.fine_tuned,
        container.files,
        container.blobs,
        container.meters,
        container.metrics,
        container.tracing,
    )


def eval_workers(container: Container) -> EvalWorkers:
    """The eval run runner of a server built by ``build_container``."""
    return EvalWorkers(container)
