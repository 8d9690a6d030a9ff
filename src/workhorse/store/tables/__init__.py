"""Table definitions, one module per area (all importable from here). Changes here come
with an Alembic migration in ``migrations/``."""

from __future__ import annotations

from workhorse.store.tables.access import (
    ApiKey,
    BudgetUse,
    ConsoleSession,
    IdempotencyRecord,
    LimitEvent,
    LimitLease,
    Marker,
    Project,
    RequestRecord,
    TokenReservation,
    UsageRecord,
)
from workhorse.store.tables.base import NAMING, Base, UTCDateTime
from workhorse.store.tables.content import (
    ChatCompletionMetadata,
    Conversation,
    ConversationItem,
    File,
    ResponseEvent,
    ResponseRecord,
    StoredChatCompletion,
    StoredMessage,
    Upload,
    UploadPart,
)
from workhorse.store.tables.knowledge import (
    KnowledgeChunk,
    KnowledgeIndexState,
    VectorStore,
    VectorStoreFile,
    VectorStoreFileBatch,
)
from workhorse.store.tables.quality import (
    Eval,
    EvalOutputItem,
    EvalRun,
    EvalRunCriterion,
    EvalRunUsage,
    FeedbackRecord,
    FeedbackTag,
)
from workhorse.store.tables.training import (
    FineTunedModel,
    FineTuningCheckpoint,
    FineTuningEvent,
    FineTuningJob,
)

__all__ = [
    "NAMING",
    "ApiKey",
    "Base",
    "BudgetUse",
    "ChatCompletionMetadata",
    "ConsoleSession",
    "Conversation",
    "ConversationItem",
    "Eval",
    "EvalOutputItem",
    "EvalRun",
    "EvalRunCriterion",
    "EvalRunUsage",
    "FeedbackRecord",
    "FeedbackTag",
    "File",
    "FineTunedModel",
    "FineTuningCheckpoint",
    "FineTuningEvent",
    "FineTuningJob",
    "IdempotencyRecord",
    "KnowledgeChunk",
    "KnowledgeIndexState",
    "LimitEvent",
    "LimitLease",
    "Marker",
    "Project",
    "RequestRecord",
    "ResponseEvent",
    "ResponseRecord",
    "StoredChatCompletion",
    "StoredMessage",
    "TokenReservation",
    "UTCDateTime",
    "Upload",
    "UploadPart",
    "UsageRecord",
    "VectorStore",
    "VectorStoreFile",
    "VectorStoreFileBatch",
]
