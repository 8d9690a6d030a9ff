"""``workhorse``: one module per command group.

- ``serve``: ``serve`` and ``worker``, the processes of a deployment;
- ``clients``: ``ingest`` and ``train``, clients of a running server;
- ``evals``: ``eval run``, one run of an eval per model on a running server, compared;
- ``keys`` and ``projects``: management on the configured database;
- ``usage``: what was spent, from the configured database;
- ``requests``: the request inspector's records, from the configured database.

Every flag is also a ``WORKHORSE_*`` env var; a flag given on the command line wins.
"""

from __future__ import annotations

import typer

from workhorse.cli import clients, evals, keys, projects, requests, serve, usage

app = typer.Typer(help="Workhorse: a self-hosted AI chatbot backend.", no_args_is_help=True)
app.add_typer(serve.app)
app.add_typer(clients.app)
app.add_typer(evals.app, name="eval")
app.add_typer(keys.app, name="keys")
app.add_typer(projects.app, name="projects")
app.add_typer(usage.app)
app.add_typer(requests.app)


def main() -> None:
    """Console entry point."""
    app()
