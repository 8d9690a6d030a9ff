"""``create_app(settings)``: the ASGI app. Nothing runs at import; I/O starts in the lifespan."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError

from workhorse import __version__
from workhorse.api.admin.router import CREATE_API_KEY, CREATE_PROJECT
from workhorse.api.admin.router import router as admin_router
from workhorse.api.chat.router import CREATE_CHAT_COMPLETION
from workhorse.api.chat.router import router as chat_router
from workhorse.api.conversations.router import CREATE_CONVERSATION
from workhorse.api.conversations.router import router as conversations_router
from workhorse.api.embeddings.router import CREATE_EMBEDDINGS
from workhorse.api.embeddings.router import router as embeddings_router
from workhorse.api.evals.router import CREATE_EVAL, CREATE_EVAL_RUN
from workhorse.api.evals.router import router as evals_router
from workhorse.api.feedback.router import CREATE_FEEDBACK, CREATE_FEEDBACK_DATASET
from workhorse.api.feedback.router import router as feedback_router
from workhorse.api.files.router import CREATE_FILE
from workhorse.api.files.router import router as files_router
from workhorse.api.fine_tuning.router import CREATE_FINE_TUNING_JOB
from workhorse.api.fine_tuning.router import router as fine_tuning_router
from workhorse.api.health.router import router as health_router
from workhorse.api.inspector.router import router as inspector_router
from workhorse.api.messages.router import CREATE_MESSAGE
from workhorse.api.messages.router import router as messages_router
from workhorse.api.models.document import document_models
from workhorse.api.models.router import router as models_router
from workhorse.api.responses.router import CREATE_RESPONSE
from workhorse.api.responses.router import router as responses_router
from workhorse.api.soap.router import soap_router
from workhorse.api.uploads import service as uploads_service
from workhorse.api.uploads.router import CREATE_UPLOAD
from workhorse.api.uploads.router import router as uploads_router
from workhorse.api.usage.router import router as usage_router
from workhorse.api.vector_stores.router import CREATE_VECTOR_STORE
from workhorse.api.vector_stores.router import router as vector_stores_router
from workhorse.config import INITIAL_KEY_FILE, Settings
from workhorse.container import Container
from workhorse.http.auth import require_api_key
from workhorse.http.bodies import document_bodies
from workhorse.http.errors import document_errors, install_error_handlers
from workhorse.http.governance import (
    CORS_ALLOWED_HEADERS,
    CORS_EXPOSED_HEADERS,
    GovernanceMiddleware,
)
from workhorse.http.idempotency import IdempotencyMiddleware, Replay, replay_response
from workhorse.http.links import document_links
from workhorse.http.middleware import RequestContextMiddleware
from workhorse.http.negotiation import XmlNegotiationMiddleware, document_answers
from workhorse.http.soap import document_soap
from workhorse.http.xml import document_xml
from workhorse.obs.metrics_server import MetricsServer
from workhorse.services import (
    build_container,
    eval_workers,
    ingestion_workers,
    training_workers,
)
from workhorse.store.db import migrate
from workhorse.web.pages import Pages
from workhorse.web.router import STATIC_PATH, StaticAssets, console_router

log = logging.getLogger("workhorse")

PURGE_INTERVAL_S = 600


def write_secret_file(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path``, readable and writable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secret + "\n").encode())
    finally:
        os.close(fd)


async def _bootstrap_key(container: Container) -> None:
    created = await container.keys.bootstrap()
    if created is None:
        return
    record, secret = created
    path = (container.settings.data_dir / INITIAL_KEY_FILE).resolve()
    write_secret_file(path, secret)
    # Shown once, on the console, on purpose; never through the logger.
    print(
        f"Created the first API key, an admin key ({record.id}, name {record.name!r}, "
        f"project {record.project_id}); it is shown only once here and stored in {path} "
        f"(mode 0600):\n{secret}",
        flush=True,
    )


async def _purge_expired(container: Container) -> None:
    while True:
        try:
            await container.idempotency.purge_expired()
            await container.console_sessions.purge_expired()
        except SQLAlchemyError as exc:
            log.warning("could not purge expired records", exc_info=exc)
        await asyncio.sleep(PURGE_INTERVAL_S)


async def _on_replay(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    return replay_response(exc.stored)


def create_app(settings: Settings) -> FastAPI:
    """Build the app and its services; the lifespan opens the database and loads models."""
    container = build_container(settings)
    workers = ingestion_workers(container)
    trainers = training_workers(container)
    evaluators = eval_workers(container)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(migrate, settings.resolved_database_url())
        await _bootstrap_key(container)
        container.models.start_loading()
        container.runner.start_sweeping()
        container.inspector.start()
        container.history.start()
        metrics_server = None
        if settings.metrics_port is not None:
            metrics_server = MetricsServer(
                container.exposition, settings.host, settings.metrics_port
            )
            await metrics_server.start()
        trainers.start()
        workers.start()
        evaluators.start()
        purge = asyncio.create_task(_purge_expired(container), name="purge-idempotency")
        purge_uploads = asyncio.create_task(
            uploads_service.purge_forever(container), name="purge-uploads"
        )
        log.info("ready to serve", extra={"models": [c.id for c in container.models.cards()]})
        try:
            yield
        finally:
            if metrics_server is not None:
                await metrics_server.aclose()
            purge.cancel()
            purge_uploads.cancel()
            await evaluators.aclose()
            await trainers.aclose()
            await workers.aclose()
            await container.runner.aclose()
            await container.index.aclose()
            await container.models.aclose()
            await container.inspector.aclose()
            await container.history.aclose()
            await container.db.dispose()
            await asyncio.to_thread(container.tracing.shutdown)

    app = FastAPI(
        title="Workhorse",
        version=__version__,
        summary="Self-hosted chatbot backend: OpenAI-compatible, every POST safe to retry.",
        lifespan=lifespan,
    )
    app.state.container = container
    install_error_handlers(app)
    app.add_exception_handler(Replay, _on_replay)
    # Added innermost first: the request context wraps everything, XML encoding wraps the
    # responses that idempotency stores (so a replay is encoded for the retry's Accept).
    app.add_middleware(IdempotencyMiddleware, store=container.idempotency)
    app.add_middleware(
        GovernanceMiddleware, limits=container.governor.limits, usage=container.governor.usage
    )
    app.add_middleware(XmlNegotiationMiddleware)
    if settings.cors_origins:
        # Outermost but the request context: preflights are answered before any auth.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=CORS_ALLOWED_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
    app.add_middleware(
        RequestContextMiddleware,
        log_requests=settings.access_log,
        metrics=container.metrics,
        inspector=container.inspector,
        tracing=container.tracing,
    )

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
    for router in (
        admin_router,
        chat_router,
        conversations_router,
        embeddings_router,
        evals_router,
        feedback_router,
        files_router,
        fine_tuning_router,
        inspector_router,
        messages_router,
        models_router,
        responses_router,
        uploads_router,
        usage_router,
        vector_stores_router,
    ):
        v1.include_router(router)
    app.include_router(v1)
    app.include_router(health_router)
    if settings.console:
        app.state.pages = Pages()
        app.include_router(console_router())
        app.mount(STATIC_PATH, StaticAssets(), name="static")
    # Every create operation is also a SOAP operation; later features append theirs.
    app.include_router(
        soap_router(
            [
                CREATE_CHAT_COMPLETION,
                CREATE_EMBEDDINGS,
                CREATE_FILE,
                CREATE_UPLOAD,
                CREATE_CONVERSATION,
                CREATE_MESSAGE,
                CREATE_RESPONSE,
                CREATE_VECTOR_STORE,
                CREATE_FINE_TUNING_JOB,
                CREATE_PROJECT,
                CREATE_API_KEY,
                CREATE_FEEDBACK,
                CREATE_FEEDBACK_DATASET,
                CREATE_EVAL,
                CREATE_EVAL_RUN,
            ]
        )
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            }
            schema = document_soap(document_errors(document_xml(document_bodies(schema))))
            schema = document_answers(schema)
            app.openapi_schema = document_links(schema)
        # The served models change (loading, fine-tuning): named afresh on every read.
        return document_models(
            app.openapi_schema,
            chat=container.models.chat_ids(),
            embeddings=container.models.embedding_ids(),
            dimensions=container.models.embedding_dimensions(),
        )

    app.openapi = openapi  # type: ignore[method-assign]
    return app
