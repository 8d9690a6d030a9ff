"""Typed dependencies that hand routers the app's services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from workhorse.container import Container
from workhorse.providers.registry import ModelRegistry


def get_container(request: Request) -> Container:
    """The app's service container."""
    container: Container = request.app.state.container
    return container


def get_models(request: Request) -> ModelRegistry:
    """The app's model registry."""
    return get_container(request).models


ContainerDep = Annotated[Container, Depends(get_container)]
ModelsDep = Annotated[ModelRegistry, Depends(get_models)]
