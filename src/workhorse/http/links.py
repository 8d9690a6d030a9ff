"""OpenAPI links: where the id a create returns goes next.

A link on an operation's success response names a target operation and fills its
parameters with runtime expressions over the call just made: ``$response.body#/id`` is
the id the create returned, ``$request.path.store_id`` the id the create was itself
addressed by. schemathesis's stateful phase follows them to chain a create into the
reads, updates, deletes and sub-resources of what it made; without them it can only
guess ids. A ``requestBody`` map fills those body fields and leaves the rest generated.

The table is written by method and path, as the routers read; the operationIds are
looked up in the document, since FastAPI derives them. A link to an operation the
document lacks is a programming error, and raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Endpoint = tuple[str, str]
"""An operation by its method (lower case, as in the document) and path."""

NEW_ID = "$response.body#/id"
FIRST_ID = "$response.body#/data/0/id"


@dataclass(frozen=True)
class Link:
    """One link from a source operation's success response to ``target``."""

    name: str
    target: Endpoint
    parameters: Mapping[str, str] = field(default_factory=dict)
    request_body: Mapping[str, Any] | None = None


def _each(parameters: Mapping[str, str], **targets: Endpoint) -> tuple[Link, ...]:
    """Links that pass the same ``parameters`` to each of ``targets`` (name → endpoint)."""
    return tuple(Link(name, target, parameters) for name, target in targets.items())


FILES = "/v1/files"
FILE = "/v1/files/{file_id}"
UPLOADS = "/v1/uploads"
UPLOAD = "/v1/uploads/{upload_id}"
CONVERSATIONS = "/v1/conversations"
CONVERSATION = "/v1/conversations/{conversation_id}"
ITEM = CONVERSATION + "/items/{item_id}"
RESPONSES = "/v1/responses"
RESPONSE = "/v1/responses/{response_id}"
STORES = "/v1/vector_stores"
STORE = "/v1/vector_stores/{store_id}"
STORE_FILE = STORE + "/files/{file_id}"
BATCH = STORE + "/file_batches/{batch_id}"
JOBS = "/v1/fine_tuning/jobs"
JOB = "/v1/fine_tuning/jobs/{job_id}"
MODELS = "/v1/models"
MODEL = "/v1/models/{model_id}"
PROJECTS = "/v1/admin/projects"
PROJECT = PROJECTS + "/{project_id}"
KEYS = "/v1/admin/keys"
KEY = KEYS + "/{key_id}"
REQUESTS = "/v1/admin/requests"
FEEDBACK = "/v1/feedback"
RATING = FEEDBACK + "/{feedback_id}"
CHATS = "/v1/chat/completions"
CHAT = CHATS + "/{completion_id}"
_CHAT_READS = {
    "RetrieveChatCompletion": ("get", CHAT),
    "UpdateChatCompletion": ("post", CHAT),
    "ListChatCompletionMessages": ("get", CHAT + "/messages"),
    "DeleteChatCompletion": ("delete", CHAT),
}

EVALS = "/v1/evals"
EVAL = EVALS + "/{eval_id}"
RUNS = EVAL + "/runs"
RUN = RUNS + "/{run_id}"
OUTPUT_ITEMS = RUN + "/output_items"
_EVAL_READS = {
    "RetrieveEval": ("get", EVAL),
    "UpdateEval": ("post", EVAL),
    "ListEvalRuns": ("get", RUNS),
    "CreateEvalRun": ("post", RUNS),
    "DeleteEval": ("delete", EVAL),
}
_RUN_READS = {
    "RetrieveEvalRun": ("get", RUN),
    "ListEvalRunOutputItems": ("get", OUTPUT_ITEMS),
    "CancelEvalRun": ("post", RUN + "/cancel"),
    "CancelEvalRunAtItsPath": ("post", RUN),
    "DeleteEvalRun": ("delete", RUN),
}
_IN_EVAL = "$request.path.eval_id"

_FILE_READS = {"RetrieveFile": ("get", FILE), "DownloadFile": ("get", FILE + "/content")}

LINKS: Mapping[Endpoint, tuple[Link, ...]] = {
    ("post", FILES): (
        *_each({"file_id": NEW_ID}, **_FILE_READS, DeleteFile=("delete", FILE)),
        Link("CreateVectorStoreWithFile", ("post", STORES), request_body={"file_ids": [NEW_ID]}),
        Link("CreateFineTuningJob", ("post", JOBS), request_body={"training_file": NEW_ID}),
    ),
    ("post", UPLOADS): _each(
        {"upload_id": NEW_ID},
        RetrieveUpload=("get", UPLOAD),
        AddUploadPart=("post", UPLOAD + "/parts"),
        CompleteUpload=("post", UPLOAD + "/complete"),
        CancelUpload=("post", UPLOAD + "/cancel"),
    ),
    ("post", UPLOAD + "/parts"): (
        Link(
            "CompleteUpload",
            ("post", UPLOAD + "/complete"),
            {"upload_id": "$request.path.upload_id"},
            {"part_ids": [NEW_ID]},
        ),
    ),
    ("post", UPLOAD + "/complete"): (
        *_each({"upload_id": NEW_ID}, RetrieveUpload=("get", UPLOAD)),
        # The upload's file exists once it completes.
        *_each({"file_id": "$response.body#/file/id"}, **_FILE_READS),
    ),
    ("post", CONVERSATIONS): (
        *_each(
            {"conversation_id": NEW_ID},
            RetrieveConversation=("get", CONVERSATION),
            UpdateConversation=("post", CONVERSATION),
            DeleteConversation=("delete", CONVERSATION),
            CreateItems=("post", CONVERSATION + "/items"),
            ListItems=("get", CONVERSATION + "/items"),
        ),
        Link(
            "CreateResponseInConversation",
            ("post", RESPONSES),
            request_body={"conversation": NEW_ID},
        ),
    ),
    ("post", CONVERSATION + "/items"): (
        *_each(
            {"conversation_id": "$request.path.conversation_id", "item_id": FIRST_ID},
            RetrieveItem=("get", ITEM),
            DeleteItem=("delete", ITEM),
        ),
        *_each(
            {"conversation_id": "$request.path.conversation_id"},
            ListItems=("get", CONVERSATION + "/items"),
        ),
    ),
    ("post", RESPONSES): (
        *_each(
            {"response_id": NEW_ID},
            RetrieveResponse=("get", RESPONSE),
            DeleteResponse=("delete", RESPONSE),
            CancelResponse=("post", RESPONSE + "/cancel"),
            ListInputItems=("get", RESPONSE + "/input_items"),
        ),
        Link(
            "ContinueResponse",
            ("post", RESPONSES),
            # Not in a conversation too: the two cannot be given together.
            request_body={"previous_response_id": NEW_ID, "conversation": None},
        ),
        *_each(
            {"conversation_id": "$response.body#/conversation/id"},
            RetrieveConversation=("get", CONVERSATION),
        ),
    ),
    ("post", STORES): (
        *_each(
            {"store_id": NEW_ID},
            RetrieveVectorStore=("get", STORE),
            UpdateVectorStore=("post", STORE),
            DeleteVectorStore=("delete", STORE),
            ListVectorStoreFiles=("get", STORE + "/files"),
            SearchVectorStore=("post", STORE + "/search"),
        ),
        # A store made with files takes them again one by one or as a batch. (A store
        # generated without files has no first file: schemathesis notes that it could not
        # resolve the link and walks elsewhere.)
        Link(
            "AddVectorStoreFile",
            ("post", STORE + "/files"),
            {"store_id": NEW_ID},
            {"file_id": "$request.body#/file_ids/0"},
        ),
        Link(
            "CreateFileBatch",
            ("post", STORE + "/file_batches"),
            {"store_id": NEW_ID},
            {"file_ids": "$request.body#/file_ids"},
        ),
    ),
    ("post", STORE + "/files"): (
        *_each(
            {"store_id": "$request.path.store_id", "file_id": NEW_ID},
            RetrieveVectorStoreFile=("get", STORE_FILE),
            UpdateVectorStoreFile=("post", STORE_FILE),
            RemoveVectorStoreFile=("delete", STORE_FILE),
        ),
        *_each(
            {"store_id": "$request.path.store_id"}, ListVectorStoreFiles=("get", STORE + "/files")
        ),
    ),
    ("post", STORE + "/file_batches"): _each(
        {"store_id": "$request.path.store_id", "batch_id": NEW_ID},
        RetrieveFileBatch=("get", BATCH),
        CancelFileBatch=("post", BATCH + "/cancel"),
        ListFileBatchFiles=("get", BATCH + "/files"),
    ),
    ("post", JOBS): (
        *_each(
            {"job_id": NEW_ID},
            RetrieveFineTuningJob=("get", JOB),
            CancelFineTuningJob=("post", JOB + "/cancel"),
            PauseFineTuningJob=("post", JOB + "/pause"),
            ResumeFineTuningJob=("post", JOB + "/resume"),
            ListFineTuningEvents=("get", JOB + "/events"),
            ListFineTuningCheckpoints=("get", JOB + "/checkpoints"),
        ),
        *_each({"file_id": "$response.body#/training_file"}, RetrieveTrainingFile=("get", FILE)),
    ),
    # A job names its model once it has succeeded (null until then).
    ("get", JOB): _each(
        {"model_id": "$response.body#/fine_tuned_model"},
        RetrieveFineTunedModel=("get", MODEL),
        DeleteFineTunedModel=("delete", MODEL),
    ),
    ("get", MODELS): _each({"model_id": FIRST_ID}, RetrieveModel=("get", MODEL)),
    ("post", CHATS): _each({"completion_id": NEW_ID}, **_CHAT_READS),
    ("get", CHATS): _each({"completion_id": FIRST_ID}, **_CHAT_READS),
    ("post", FEEDBACK + "/datasets"): _each({"file_id": NEW_ID}, **_FILE_READS),
    ("post", FEEDBACK): _each(
        {"feedback_id": NEW_ID}, RetrieveFeedback=("get", RATING), DeleteFeedback=("delete", RATING)
    ),
    ("get", FEEDBACK): _each(
        {"feedback_id": FIRST_ID},
        RetrieveFeedback=("get", RATING),
        DeleteFeedback=("delete", RATING),
    ),
    ("post", EVALS): _each({"eval_id": NEW_ID}, **_EVAL_READS),
    ("get", EVALS): _each({"eval_id": FIRST_ID}, **_EVAL_READS),
    ("post", RUNS): _each({"eval_id": _IN_EVAL, "run_id": NEW_ID}, **_RUN_READS),
    ("get", RUNS): _each({"eval_id": _IN_EVAL, "run_id": FIRST_ID}, **_RUN_READS),
    ("get", OUTPUT_ITEMS): _each(
        {"eval_id": _IN_EVAL, "run_id": "$request.path.run_id", "output_item_id": FIRST_ID},
        RetrieveEvalRunOutputItem=("get", OUTPUT_ITEMS + "/{output_item_id}"),
    ),
    ("get", REQUESTS): _each(
        {"request_id": FIRST_ID}, RetrieveRequest=("get", REQUESTS + "/{request_id}")
    ),
    ("post", PROJECTS): (
        *_each(
            {"project_id": NEW_ID},
            RetrieveProject=("get", PROJECT),
            UpdateProject=("post", PROJECT),
            ArchiveProject=("post", PROJECT + "/archive"),
        ),
        Link("CreateApiKeyInProject", ("post", KEYS), request_body={"project_id": NEW_ID}),
    ),
    ("post", KEYS): (
        *_each(
            {"key_id": NEW_ID},
            RetrieveApiKey=("get", KEY),
            UpdateApiKey=("post", KEY),
            RotateApiKey=("post", KEY + "/rotate"),
            RevokeApiKey=("delete", KEY),
        ),
        *_each({"project_id": "$response.body#/project_id"}, RetrieveKeyProject=("get", PROJECT)),
    ),
}


def document_links(schema: dict[str, Any]) -> dict[str, Any]:
    """Add ``LINKS`` to the success response of each source operation."""
    paths: dict[str, dict[str, Any]] = schema.get("paths", {})
    for (method, path), links in LINKS.items():
        documented = _success_response(_operation(paths, method, path)).setdefault("links", {})
        for link in links:
            target = _operation(paths, *link.target)
            entry: dict[str, Any] = {"operationId": target["operationId"]}
            if link.parameters:
                entry["parameters"] = dict(link.parameters)
            if link.request_body is not None:
                entry["requestBody"] = dict(link.request_body)
            documented[link.name] = entry
    return schema


def _operation(paths: Mapping[str, Mapping[str, Any]], method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] | None = paths.get(path, {}).get(method)
    if operation is None:
        raise LookupError(f"no operation {method.upper()} {path} in the OpenAPI document")
    return operation


def _success_response(operation: Mapping[str, Any]) -> dict[str, Any]:
    responses: dict[str, dict[str, Any]] = operation["responses"]
    success = sorted(status for status in responses if status.startswith("2"))
    if not success:
        raise LookupError(f"{operation['operationId']} documents no success response")
    return responses[success[0]]
