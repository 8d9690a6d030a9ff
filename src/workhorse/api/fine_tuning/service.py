"""Fine-tuning jobs: create (checked against the files and models), follow, control."""

from __future__ import annotations

import secrets
from typing import Any

from workhorse.api.fine_tuning.schemas import (
    CheckpointMetrics,
    FineTuningJobCheckpoint,
    FineTuningJobCheckpointList,
    FineTuningJobCreateRequest,
    FineTuningJobEvent,
    FineTuningJobEventList,
    FineTuningJobList,
    FineTuningJobObject,
    JobError,
    JobHyperparameters,
    JobMethod,
    JobSupervised,
)
from workhorse.container import Container
from workhorse.errors import InvalidRequest, NotFound, UnsupportedParameter
from workhorse.governance.meter import Meter
from workhorse.providers.registry import local_gguf_models
from workhorse.store.fine_tuning import ENDED, PAUSED, JobRecord, new_job_id, training_reservation

FINE_TUNE_PURPOSE = "fine-tune"


def job_object(job: JobRecord) -> FineTuningJobObject:
    """The wire shape of a job."""
    hyper = JobHyperparameters(
        n_epochs=job.hyperparameters.get("n_epochs", "auto"),
        batch_size=job.hyperparameters.get("batch_size", "auto"),
        learning_rate_multiplier=job.hyperparameters.get("learning_rate_multiplier", "auto"),
    )
    return FineTuningJobObject(
        id=job.id,
        created_at=int(job.created_at.timestamp()),
        error=JobError(**job.error) if job.error else None,
        fine_tuned_model=job.fine_tuned_model,
        finished_at=int(job.finished_at.timestamp()) if job.finished_at else None,
        hyperparameters=hyper,
        model=job.model,
        organization_id=job.owner,
        seed=job.seed,
        status=job.status,
        trained_tokens=job.trained_tokens,
        training_file=job.training_file,
        validation_file=job.validation_file,
        method=JobMethod(supervised=JobSupervised(hyperparameters=hyper)),
        metadata=job.metadata,
        user_provided_suffix=job.suffix,
    )


async def _check_file(container: Container, owner: str, file_id: str, param: str) -> None:
    record = await container.files.get(owner, file_id)
    if record is None:
        raise InvalidRequest(f"no file with id {file_id!r}", param=param)
    if record.purpose != FINE_TUNE_PURPOSE:
        raise InvalidRequest(
            f"the file {file_id!r} was uploaded with purpose {record.purpose!r}; training "
            f"files need purpose {FINE_TUNE_PURPOSE!r}",
            param=param,
        )


async def create(
    container: Container, meter: Meter, body: FineTuningJobCreateRequest
) -> FineTuningJobObject:
    """Check the request, record the job and queue it. Under a token limit or budget the
    job holds a reservation (429 when there is no room at all) that its trained tokens
    settle when it ends."""
    owner = meter.project_id
    if body.method is not None and body.method.type != "supervised":
        raise UnsupportedParameter(
            f"the {body.method.type!r} method is not offered; use 'supervised'",
            param="method.type",
        )
    if body.integrations:
        raise UnsupportedParameter("integrations are not offered", param="integrations")
    trainable = local_gguf_models(container.settings)
    if body.model not in trainable:
        names = ", ".join(sorted(trainable)) or "none"
        raise InvalidRequest(
            f"the model {body.model!r} cannot be fine-tuned here; models that can: {names}",
            param="model",
        )
    await _check_file(container, owner, body.training_file, "training_file")
    if body.validation_file is not None:
        await _check_file(container, owner, body.validation_file, "validation_file")
    hyper: dict[str, Any] = body.resolved_hyperparameters().model_dump()
    job_id = new_job_id()
    await meter.hold(training_reservation(job_id), 1)
    job = await container.fine_tuning.create(
        owner,
        job_id=job_id,
        api_key_id=meter.api_key_id,
        model=body.model,
        training_file=body.training_file,
        validation_file=body.validation_file,
        hyperparameters=hyper,
        suffix=body.suffix,
        seed=body.seed if body.seed is not None else secrets.randbelow(2**31),
        metadata=body.metadata,
    )
    await container.jobs.enqueue_train(job.id)
    return job_object(job)


async def _job(container: Container, owner: str, job_id: str) -> JobRecord:
    job = await container.fine_tuning.get(owner, job_id)
    if job is None:
        raise NotFound(f"no fine-tuning job with id {job_id!r}", param="fine_tuning_job_id")
    return job


async def retrieve(container: Container, owner: str, job_id: str) -> FineTuningJobObject:
    return job_object(await _job(container, owner, job_id))


async def list_jobs(
    container: Container,
    owner: str,
    *,
    after: str | None,
    limit: int,
    metadata: dict[str, str] | None,
) -> FineTuningJobList:
    jobs, more = await container.fine_tuning.page(
        owner, limit=limit, after=after, metadata=metadata
    )
    return FineTuningJobList(data=[job_object(j) for j in jobs], has_more=more)


async def cancel(container: Container, owner: str, job_id: str) -> FineTuningJobObject:
    """Cancel a job that has not ended (its run stops within about a second)."""
    job = await container.fine_tuning.cancel(owner, job_id)
    if job is None:
        raise NotFound(f"no fine-tuning job with id {job_id!r}", param="fine_tuning_job_id")
    if job.status in ENDED and job.status != "cancelled":
        raise InvalidRequest(f"the job has already {job.status}; it cannot be cancelled")
    # A cancelled job trains nothing that lasts: its hold is given back now, whether or
    # not a worker ever ran it (settling is once: the worker's own settlement is a no-op).
    await container.governor.limits.settle(training_reservation(job.id), 0)
    return job_object(job)


async def pause(container: Container, owner: str, job_id: str) -> FineTuningJobObject:
    """Pause a job; its run saves a checkpoint where it stands and stops."""
    job = await container.fine_tuning.pause(owner, job_id)
    if job is None:
        raise NotFound(f"no fine-tuning job with id {job_id!r}", param="fine_tuning_job_id")
    if job.status != PAUSED:
        raise InvalidRequest(f"the job is {job.status}; only a running job can be paused")
    return job_object(job)


async def resume(container: Container, owner: str, job_id: str) -> FineTuningJobObject:
    """Queue a paused job again; it continues from where it was paused."""
    job = await container.fine_tuning.resume(owner, job_id)
    if job is None:
        raise NotFound(f"no fine-tuning job with id {job_id!r}", param="fine_tuning_job_id")
    if job.status in ENDED:
        raise InvalidRequest(f"the job has already {job.status}; it cannot be resumed")
    if job.status == "queued":
        await container.jobs.enqueue_train(job.id)
    return job_object(job)


async def events(
    container: Container, owner: str, job_id: str, *, after: str | None, limit: int
) -> FineTuningJobEventList:
    """The job's events, newest first."""
    await _job(container, owner, job_id)
    records, more = await container.fine_tuning.events(job_id, limit=limit, after=after)
    return FineTuningJobEventList(
        data=[
            FineTuningJobEvent(
                id=e.id,
                created_at=int(e.created_at.timestamp()),
                level=e.level,
                message=e.message,
                data=e.data,
                type=e.type,
            )
            for e in records
        ],
        has_more=more,
    )


async def checkpoints(
    container: Container, owner: str, job_id: str, *, after: str | None, limit: int
) -> FineTuningJobCheckpointList:
    """The job's checkpoints (one per epoch), newest first."""
    await _job(container, owner, job_id)
    records, more = await container.fine_tuning.checkpoints(job_id, limit=limit, after=after)
    data = [
        FineTuningJobCheckpoint(
            id=c.id,
            created_at=int(c.created_at.timestamp()),
            fine_tuned_model_checkpoint=c.model,
            fine_tuning_job_id=c.job_id,
            metrics=CheckpointMetrics(
                step=c.step,
                train_loss=c.metrics.get("train_loss"),
                train_mean_token_accuracy=c.metrics.get("train_mean_token_accuracy"),
                valid_loss=c.metrics.get("valid_loss"),
                valid_mean_token_accuracy=c.metrics.get("valid_mean_token_accuracy"),
                full_valid_loss=c.metrics.get("valid_loss"),
                full_valid_mean_token_accuracy=c.metrics.get("valid_mean_token_accuracy"),
            ),
            step_number=c.step,
        )
        for c in records
    ]
    return FineTuningJobCheckpointList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )
