"""Fine-tuning jobs in a running process: the supervisor of each run, and the sweeper.

A run trains in a child process (``training/child.py``); its supervisor here holds the
job's lease, records what the child reports (events, checkpoints, the result), and
checks the job's status every second, so that a cancel stops the run at once and a pause
lets the child save where it stands first. If the worker process dies, the child sees
its stdin close and stops; the sweeper of a live process queues the job again once the
lease has run out, and the next run resumes from the newest checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from workhorse.config import Settings
from workhorse.governance.meter import MeterFactory
from workhorse.jobs.queue import Jobs, RetryLater
from workhorse.obs.metrics import Metrics
from workhorse.obs.tracing import Tracing
from workhorse.providers.registry import local_gguf_models
from workhorse.store.blobs import BlobStore
from workhorse.store.files import FileStore
from workhorse.store.fine_tuned_models import FineTunedModelStore
from workhorse.store.fine_tuning import (
    CANCELLED,
    FAILED,
    PAUSED,
    RUNNING,
    SUCCEEDED,
    FineTuningStore,
    JobRecord,
    training_reservation,
)
from workhorse.store.usage import Spend
from workhorse.training.child import TrainSpec

log = logging.getLogger("workhorse.jobs")

POLL_S = 1.0
"""How often a supervisor reads its job's status (the bound on how long a cancel takes)."""


def fine_tuned_model_id(job: JobRecord) -> str:
    """``ft:<base>:<suffix>:<job id>`` (``ft:<base>:<job id>`` without a suffix)."""
    parts = ["ft", job.model, *([job.suffix] if job.suffix else []), job.id]
    return ":".join(parts)


def job_dir(settings: Settings, job_id: str) -> Path:
    """Where a job keeps its checkpoints, result and training log."""
    return settings.data_dir / "fine_tuning" / job_id


@dataclass
class _Run:
    """What a supervisor learns from its child."""

    job: JobRecord
    token: str
    outcome: str | None = None  # "done", "paused", "invalid", "error"
    pause_sent: bool = False
    failure: str | None = None
    """The error code of an ``invalid`` or ``error`` outcome."""
    cancelled: bool = False


class TrainingWorkers:
    """Runs this process's share of fine-tuning jobs and sweeps for abandoned ones."""

    def __init__(
        self,
        settings: Settings,
        jobs: Jobs,
        store: FineTuningStore,
        models: FineTunedModelStore,
        files: FileStore,
        blobs: BlobStore,
        meters: MeterFactory,
        metrics: Metrics,
        tracing: Tracing,
    ) -> None:
        self._meters = meters
        self._metrics = metrics
        self._tracing = tracing
        self._settings = settings
        self._jobs = jobs
        self._store = store
        self._models = models
        self._files = files
        self._blobs = blobs
        self._lease = timedelta(seconds=settings.train_lease_s)
        self._requeue_after = timedelta(seconds=settings.train_requeue_after_s)
        self._sweep_s = min(settings.train_lease_s, settings.train_requeue_after_s) / 2
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Take training jobs from the queue (its threads are started by the ingestion
        side) and sweep now and then."""
        self._jobs.on_train(self.run)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="sweep-training")

    async def _sweep_forever(self) -> None:
        while True:
            try:
                for job_id in await self._store.stale(self._requeue_after):
                    log.info("queueing an abandoned fine-tuning job again", extra={"job": job_id})
                    await self._store.mark_enqueued(job_id)
                    await self._jobs.enqueue_train(job_id)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not sweep fine-tuning jobs", exc_info=exc)
            await asyncio.sleep(self._sweep_s)

    async def aclose(self) -> None:
        """Stop sweeping (a running job is left to its lease)."""
        if self._sweeper is not None:
            self._sweeper.cancel()

    # -- one run -----------------------------------------------------------------------

    async def run(self, job_id: str) -> None:
        """Run the job if no one else holds it; resumes from its newest checkpoint."""
        claimed = await self._store.claim(job_id, self._lease)
        if claimed is None:
            return
        job, token, taken_over = claimed
        if taken_over:
            self._metrics.jobs_taken_over.labels("training").inc()
        span = self._tracing.job_span(
            "fine-tune", job.traceparent, **{"workhorse.fine_tuning_job_id": job.id}
        )
        with span, self._metrics.job("training") as attempt:
            try:
                spec = await self._spec(job)
            except _JobFailed as exc:
                await self._fail(job, token, exc.code, exc.message, exc.param)
                attempt.ended("failed", exc.code)
                return
            if job.attempts > self._settings.train_max_attempts:
                code = "training_interrupted"
                message = f"the training process stopped {job.attempts - 1} times without finishing"
                await self._fail(job, token, code, message, None)
                attempt.ended("failed", code)
                return
            run = _Run(job, token)
            try:
                await self._supervise(run, spec)
            except RetryLater:
                attempt.ended("retried")
                raise
            if run.outcome == "done":
                attempt.ended("succeeded")
            elif run.outcome in ("invalid", "error"):
                attempt.ended("failed", run.failure)
            elif run.outcome is None and run.cancelled:
                attempt.ended("cancelled")

    async def _spec(self, job: JobRecord) -> TrainSpec:
        base = local_gguf_models(self._settings).get(job.model)
        if base is None:
            raise _JobFailed(
                "model_not_available", f"the model {job.model!r} is not served here", "model"
            )
        training = await self._file_path(job, job.training_file, "training_file")
        validation = (
            await self._file_path(job, job.validation_file, "validation_file")
            if job.validation_file
            else None
        )
        directory = job_dir(self._settings, job.id)
        directory.mkdir(parents=True, exist_ok=True)
        hyper = job.hyperparameters
        return TrainSpec(
            base_gguf=str(base.path),
            training_file=str(training),
            validation_file=str(validation) if validation else None,
            work_dir=str(directory),
            max_tokens=base.n_ctx,
            n_epochs=_fixed(hyper.get("n_epochs")),
            batch_size=_fixed(hyper.get("batch_size")),
            learning_rate_multiplier=_fixed(hyper.get("learning_rate_multiplier")),
            seed=job.seed,
        )

    async def _file_path(self, job: JobRecord, file_id: str, param: str) -> Path:
        record = await self._files.get(job.owner, file_id)
        path = self._blobs.path(record.sha256) if record is not None else None
        if path is None or not path.exists():
            raise _JobFailed("file_not_found", f"the file {file_id!r} no longer exists", param)
        return path

    async def _supervise(self, run: _Run, spec: TrainSpec) -> None:
        directory = Path(spec.work_dir)
        spec_path = directory / "spec.json"
        spec.dump(spec_path)
        if run.job.attempts == 1:
            await self._store.add_event(
                run.job.id, f"Validating training file: {run.job.training_file}"
            )
        with (directory / "train.log").open("ab") as stderr:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "workhorse.training.child",
                str(spec_path),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                limit=1 << 20,
                # Threads that sleep when idle rather than spin: on a shared machine
                # PyTorch's spinning OpenMP threads cost training 3-5 times its speed.
                env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
            )
        watch = asyncio.create_task(self._watch(run, child), name=f"watch-{run.job.id}")
        try:
            assert child.stdout is not None
            async for line in child.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    log.warning(
                        "unreadable line from a training process", extra={"job": run.job.id}
                    )
                    continue
                await self._on_event(run, event)
            code = await child.wait()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            if child.returncode is None:
                child.kill()
                await child.wait()
        if run.outcome in ("done", "invalid", "error"):
            return
        status = await self._store.heartbeat(run.job.id, run.token, self._lease)
        run.cancelled = status is None or status == CANCELLED
        if run.outcome == "paused" or status is None or status in (CANCELLED, PAUSED):
            await self._store.release(run.job.id, run.token)
            if run.outcome == "paused" and status not in (None, PAUSED, CANCELLED):
                await self._jobs.enqueue_train(run.job.id)  # resumed while it was pausing
            return
        # The child died without a word (killed, out of memory): run again, resuming.
        log.warning("training process exited", extra={"job": run.job.id, "code": code})
        await self._store.add_event(
            run.job.id,
            f"The training process exited with code {code}; resuming from the newest checkpoint",
            level="warn",
        )
        await self._store.release(run.job.id, run.token)
        raise RetryLater(f"training process exited with code {code}")

    async def _watch(self, run: _Run, child: asyncio.subprocess.Process) -> None:
        """Renew the lease every second; kill the child on cancel, ask it to pause."""
        while True:
            await asyncio.sleep(POLL_S)
            try:
                status = await self._store.heartbeat(run.job.id, run.token, self._lease)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not renew a fine-tuning job's lease", exc_info=exc)
                continue
            if status is None or status == CANCELLED:
                child.kill()
                if status == CANCELLED:
                    await self._pay(run.job, 0)
                    await self._store.add_event(run.job.id, "Fine-tuning job cancelled")
                return
            if status == PAUSED and not run.pause_sent and child.stdin is not None:
                child.stdin.write(b"pause\n")
                await child.stdin.drain()
                run.pause_sent = True

    async def _on_event(self, run: _Run, event: dict[str, Any]) -> None:
        job, kind = run.job, event["type"]
        if kind == "validated":
            await self._store.update_held(
                job.id,
                run.token,
                status=RUNNING,
                hyperparameters_json=json.dumps(event["hyperparameters"]),
            )
            await self._store.add_event(
                job.id,
                f"Files validated: {event['examples']} training examples "
                f"({event['tokens']} tokens), {event['validation_examples']} validation examples",
                data={"hyperparameters": event["hyperparameters"]},
            )
        elif kind == "started":
            await self._store.add_event(
                job.id,
                f"Fine-tuning job started on {event['device']}: {event['total_steps']} steps",
                data={"device": event["device"], "total_steps": event["total_steps"]},
            )
        elif kind == "resumed":
            await self._store.add_event(
                job.id, f"Resumed from the checkpoint at step {event['step']}"
            )
        elif kind == "step":
            data = {k: v for k, v in event.items() if k != "type"}
            message = (
                f"Step {event['step']}/{event['total_steps']}: "
                f"training loss={event['train_loss']:.4f}"
            )
            if "valid_loss" in event:
                message += f", validation loss={event['valid_loss']:.4f}"
            self._metrics.training_steps.labels(job.model).inc()
            self._metrics.training_loss.labels(job.model).set(float(event["train_loss"]))
            await self._store.add_event(job.id, message, type="metrics", data=data)
        elif kind == "checkpoint":
            step = int(event["metrics"]["step"])
            await self._store.add_checkpoint(
                job.id,
                step,
                f"{fine_tuned_model_id(job)}:ckpt-step-{step}",
                str(Path(event["path"]) / "adapter.gguf"),
                event["metrics"],
            )
            await self._store.add_event(job.id, f"Checkpoint created at step {step}")
        elif kind == "paused":
            run.outcome = "paused"
            await self._store.add_event(job.id, f"Fine-tuning job paused at step {event['step']}")
        elif kind == "invalid":
            run.outcome = "invalid"
            param = "validation_file" if event["file"] == "validation" else "training_file"
            run.failure = f"invalid_{param}"
            await self._fail(job, run.token, run.failure, event["message"], param)
        elif kind == "error":
            run.outcome, run.failure = "error", "training_failed"
            await self._fail(job, run.token, "training_failed", event["message"], None)
        elif kind == "done":
            run.outcome = "done"
            await self._succeed(job, run.token, event)

    async def _succeed(self, job: JobRecord, token: str, event: dict[str, Any]) -> None:
        model_id = fine_tuned_model_id(job)
        await self._models.add(
            model_id,
            owner=job.owner,
            job_id=job.id,
            base_model=job.model,
            adapter_path=event["path"],
        )
        tokens = int(event["trained_tokens"])
        self._metrics.training_tokens.labels(job.model).inc(tokens)
        if await self._store.finish(
            job.id, token, SUCCEEDED, fine_tuned_model=model_id, trained_tokens=tokens
        ):
            await self._pay(job, tokens)
            await self._store.add_event(
                job.id,
                f"New fine-tuned model created: {model_id}",
                data={
                    "trained_tokens": tokens,
                    "train_s": event["train_s"],
                    "wall_s": event["wall_s"],
                },
            )
            await self._store.add_event(job.id, "The job has successfully completed")
        else:  # cancelled at the last moment: the model goes with it
            await self._models.delete(job.owner, model_id)

    async def _fail(
        self, job: JobRecord, token: str, code: str, message: str, param: str | None
    ) -> None:
        error = {"code": code, "message": message, "param": param}
        if await self._store.finish(job.id, token, FAILED, error=error):
            await self._pay(job, 0)
            await self._store.add_event(job.id, message, level="error")

    async def _pay(self, job: JobRecord, trained_tokens: int) -> None:
        """Settle the job's reservation to its trained tokens and record them (a failed
        job trained nothing that lasts: it costs nothing)."""
        if job.api_key_id is None:
            return  # made before keys were metered
        meter = await self._meters(job.owner, job.api_key_id)
        spend = Spend(
            job.owner,
            job.api_key_id,
            job.model,
            "fine_tuning",
            model_requests=1 if trained_tokens else 0,
            trained_tokens=trained_tokens,
        )
        await meter.record(spend, training_reservation(job.id))


class _JobFailed(Exception):
    def __init__(self, code: str, message: str, param: str | None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


def _fixed(value: Any) -> Any:
    """A hyperparameter as given, or None for ``auto``."""
    return None if value in (None, "auto") else value
