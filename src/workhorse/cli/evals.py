"""``workhorse eval run EVAL_ID --model A --model B``: one run of an eval per model on a
running server, followed with a progress bar each, then compared: each testing
criterion's pass rate by model, and the items the models disagree on.

It speaks the server's Evals API (OpenAI's) through ``workhorse.eval_client``, so the runs
are what any client's would be: durable, listed, their output items kept. Ctrl-C, or
``--timeout``, cancels the runs it started that have not ended.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from workhorse.cli.common import DataDirOption, client_key, settings_from
from workhorse.eval_client import (
    EvalClient,
    EvalError,
    RunPlan,
    TimedOut,
    connect,
    ended,
    follow,
)
from workhorse.evals.compare import disagreements

app = typer.Typer(help="Run evals on a server and compare models.", no_args_is_help=True)

ITEM_PREVIEW = 60
OUTPUT_PREVIEW = 40
STATUS_STYLE = {"pass": "green", "fail": "red", "error": "yellow"}


@dataclass
class Followed:
    """One started run: its column heading, the run as last read, its progress bar."""

    label: str
    run: dict[str, Any]
    task: TaskID

    @property
    def ended(self) -> bool:
        return ended(self.run)


def labels(models: Sequence[str]) -> list[str]:
    """Column headings: each model, numbered where the same model runs twice."""
    seen: dict[str, int] = {}
    named = []
    for model in models:
        seen[model] = seen.get(model, 0) + 1
        named.append(model if models.count(model) == 1 else f"{model} #{seen[model]}")
    return named


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    )


def _show(progress: Progress, followed: Followed) -> None:
    counts = followed.run["result_counts"]
    progress.update(
        followed.task,
        total=counts["total"] or None,
        completed=counts["passed"] + counts["failed"] + counts["errored"],
        status=followed.run["status"],
    )


def _follow(
    client: EvalClient, eval_id: str, runs: list[Followed], progress: Progress, deadline: float
) -> None:
    """Poll the runs until every one has ended, moving their bars; ``TimedOut`` past
    ``deadline``."""

    def read(index: int, run: dict[str, Any]) -> None:
        runs[index].run = run
        _show(progress, runs[index])

    follow(client, eval_id, [f.run for f in runs], deadline, read)


def _cancel(client: EvalClient, eval_id: str, runs: list[Followed], console: Console) -> None:
    """Cancel the runs that have not ended, saying which; a refusal is said, not raised."""
    for followed in runs:
        if followed.ended:
            continue
        run_id = followed.run["id"]
        try:
            client.cancel_run(eval_id, run_id)
        except EvalError as exc:
            console.print(f"[red]{escape(str(exc))}[/red]")
        else:
            console.print(f"cancelled run {run_id} ({escape(followed.label)})")


def _rate(passed: int, failed: int) -> str:
    graded = passed + failed
    return f"{100 * passed / graded:.1f}% ({passed}/{graded})" if graded else "-"


def criteria_table(eval_object: dict[str, Any], runs: list[Followed]) -> Table:
    """Each criterion's pass rate by model, then the items' pass rate and errors."""
    table = Table(title=f"{escape(eval_object['name'])}: pass rate by model")
    table.add_column("testing criterion")
    for followed in runs:
        table.add_column(escape(followed.label), justify="right")
    for criterion in eval_object["testing_criteria"]:
        cells = []
        for followed in runs:
            found = {r["testing_criteria"]: r for r in followed.run["per_testing_criteria_results"]}
            result = found.get(criterion["name"], {"passed": 0, "failed": 0})
            cells.append(_rate(result["passed"], result["failed"]))
        table.add_row(escape(criterion["name"]), *cells)
    counts = [f.run["result_counts"] for f in runs]
    table.add_section()
    table.add_row("items passed (all criteria)", *(_rate(c["passed"], c["failed"]) for c in counts))
    table.add_row("items errored", *(f"{c['errored']}/{c['total']}" for c in counts))
    return table


def _said(item: dict[str, Any]) -> str:
    sample = item.get("sample") or {}
    error = sample.get("error")
    text = sample.get("output_text") or (error or {}).get("message") or ""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= OUTPUT_PREVIEW else flat[: OUTPUT_PREVIEW - 1] + "…"


def _cell(item: dict[str, Any] | None) -> str:
    if item is None:
        return "-"
    style = STATUS_STYLE.get(item["status"], "")
    return f"[{style}]{item['status']}[/{style}] {escape(_said(item))}"


def disagreement_table(
    runs: list[Followed], by_run: list[dict[int, dict[str, Any]]], shown: list[int]
) -> Table:
    """The items at ``shown``: a preview of each, and what each model made of it."""
    table = Table(title="items the models disagree on")
    table.add_column("item", justify="right")
    table.add_column("input")
    for followed in runs:
        table.add_column(escape(followed.label))
    for index in shown:
        item = next(items[index] for items in by_run if index in items)
        text = json.dumps(item["datasource_item"], ensure_ascii=False)
        preview = text if len(text) <= ITEM_PREVIEW else text[: ITEM_PREVIEW - 1] + "…"
        table.add_row(str(index), escape(preview), *(_cell(items.get(index)) for items in by_run))
    return table


def report(
    client: EvalClient, eval_object: dict[str, Any], runs: list[Followed], show: int
) -> Iterator[Any]:
    """What the command prints once the runs have ended: tables and lines of markup."""
    yield criteria_table(eval_object, runs)
    for followed in runs:
        if followed.run["status"] != "completed":
            error = followed.run.get("error") or {}
            reason = error.get("message") or "no reason given"
            yield (
                f"[red]run {followed.run['id']} ({escape(followed.label)}) "
                f"{followed.run['status']}: {escape(reason)}[/red]"
            )
    if len(runs) < 2:
        return
    by_run = [client.items_by_index(eval_object["id"], f.run["id"]) for f in runs]
    differing = disagreements(by_run)
    if not differing:
        yield "the models agree on every item"
        return
    yield disagreement_table(runs, by_run, differing[:show])
    if len(differing) > show:
        yield f"… and {len(differing) - show} more items the models disagree on"


def _start(
    client: EvalClient,
    eval_object: dict[str, Any],
    plan: RunPlan,
    models: list[str],
    progress: Progress,
) -> Iterator[Followed]:
    """The runs, each started as the one before it has been taken."""
    for label, model in zip(labels(models), models, strict=True):
        run = client.start_run(eval_object["id"], model, plan.body(model, eval_object["name"]))
        yield Followed(label, run, progress.add_task(escape(label), total=None, status=""))


@app.command("run")
def run(
    eval_id: Annotated[str, typer.Argument(help="The eval to run (eval_...)")],
    model: Annotated[
        list[str],
        typer.Option("--model", envvar="WORKHORSE_EVAL_MODEL", help="A model to run; repeat it"),
    ],
    file: Annotated[
        str,
        typer.Option(
            "--file",
            envvar="WORKHORSE_EVAL_FILE",
            help='A file id: JSONL of {"item": {...}} lines, uploaded with purpose evals',
        ),
    ],
    prompt: Annotated[
        str | None,
        typer.Option(
            envvar="WORKHORSE_EVAL_PROMPT",
            help="The user message, a template like '{{item.question}}' (default: item.input)",
        ),
    ] = None,
    system: Annotated[
        str | None,
        typer.Option(envvar="WORKHORSE_EVAL_SYSTEM", help="A system message before the prompt"),
    ] = None,
    file_search: Annotated[
        list[str] | None,
        typer.Option(
            "--file-search",
            envvar="WORKHORSE_EVAL_FILE_SEARCH",
            help="A vector store the models answer from; repeat it",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(envvar="WORKHORSE_EVAL_SEED", help="Seed of the sampling")
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            envvar="WORKHORSE_EVAL_TEMPERATURE", min=0, max=2, help="Sampling temperature"
        ),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            envvar="WORKHORSE_EVAL_MAX_TOKENS", min=1, help="Tokens an answer may have at most"
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(envvar="WORKHORSE_EVAL_NAME", help="Name of the runs (default: eval: model)"),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            envvar="WORKHORSE_EVAL_TIMEOUT",
            min=1,
            help="Seconds to wait for the runs; then the unfinished ones are cancelled",
        ),
    ] = 3600,
    show: Annotated[
        int,
        typer.Option(
            envvar="WORKHORSE_EVAL_SHOW", min=0, help="Items of disagreement shown at most"
        ),
    ] = 20,
    url: Annotated[
        str, typer.Option(envvar="WORKHORSE_URL", help="The running server")
    ] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="WORKHORSE_API_KEY", help="Default: the data dir's first key"),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Run an eval once per model on a server, follow the runs and compare the models.

    Exits 0 when every run completed, 1 otherwise, 130 on Ctrl-C (which cancels them).
    """
    if system is not None and prompt is None:
        typer.echo("--system goes with --prompt (the default input is item.input)", err=True)
        raise typer.Exit(2)
    key = client_key(api_key, settings_from(data_dir=data_dir))
    plan = RunPlan(
        file, prompt, system, tuple(file_search or ()), seed, temperature, max_tokens, name
    )
    console = Console(stderr=True)
    with connect(url, key) as client:
        try:
            eval_object = client.read_eval(eval_id)
            runs = _run_all(client, eval_object, plan, model, console, time.monotonic() + timeout)
            output = Console()
            for shown in report(client, eval_object, runs, show):
                output.print(shown)
        except EvalError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
    if not all(f.run["status"] == "completed" for f in runs):
        raise typer.Exit(1)


def _run_all(
    client: EvalClient,
    eval_object: dict[str, Any],
    plan: RunPlan,
    models: list[str],
    console: Console,
    deadline: float,
) -> list[Followed]:
    """Start and follow the runs to their end; Ctrl-C, ``deadline`` or a refusal cancels
    the ones started."""
    eval_id = eval_object["id"]
    criteria = ", ".join(c["name"] for c in eval_object["testing_criteria"])
    console.print(
        f"eval {eval_id}: [bold]{escape(eval_object['name'])}[/bold] ({escape(criteria)})"
    )
    runs: list[Followed] = []
    try:
        with _progress(console) as progress:
            for started in _start(client, eval_object, plan, models, progress):
                runs.append(started)
                # Said once it is in ``runs``: from here on Ctrl-C cancels it.
                progress.console.print(
                    f"started run {started.run['id']} of {escape(started.label)}"
                )
                _show(progress, started)
            _follow(client, eval_id, runs, progress, deadline)
    except KeyboardInterrupt:
        console.print("interrupted; cancelling the runs")
        _cancel(client, eval_id, runs, console)
        raise typer.Exit(130) from None
    except TimedOut:
        console.print("[red]timed out waiting for the runs; cancelling them[/red]")
        _cancel(client, eval_id, runs, console)
        raise typer.Exit(1) from None
    except EvalError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        _cancel(client, eval_id, runs, console)
        raise typer.Exit(1) from exc
    return runs
