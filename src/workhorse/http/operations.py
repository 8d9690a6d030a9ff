"""Operations offered beyond their REST route: today, as SOAP operations.

A feature declares an ``Operation`` next to its router: a name, its request and response
models, and how to run it on the app's services. ``api/soap`` serves every declared
operation over SOAP 1.1 and 1.2 with a WSDL generated from the models, so a new create
endpoint joins SOAP by adding one ``Operation`` to the list in ``app.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from workhorse.container import Container
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter


@dataclass(frozen=True)
class Operation:
    """One operation, callable without HTTP."""

    name: str
    """SOAP operation name, e.g. ``CreateChatCompletion``."""
    path: str
    """The REST route it mirrors, for documentation."""
    request: type[BaseModel]
    response: type[BaseModel]
    run: Callable[[Container, Meter, Any], Awaitable[BaseModel]]
    """Runs a validated ``request`` for a caller (its meter: project, key, limits) and
    returns the ``response`` model."""
    scope: Scope
    """The scope a key needs to call it (as on its REST route)."""
    seals_replay: bool = False
    """Its answer holds a secret: a stored replay is sealed (``http.sealing``)."""
