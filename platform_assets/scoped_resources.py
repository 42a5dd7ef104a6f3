"""An environment's resources, as the asset factories of one environment see them.

With ``spec.environments`` every environment binds its own resources under scoped keys
(``kubernetes_staging``; ``names.scoped``). The factories keep asking for ``res.kubernetes``:
:func:`resources_of` answers with the node's environment's resource.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from platform_assets.core.graph import Node
from platform_assets.names import scoped


class ScopedResources:
    """``context.resources`` of one environment: ``.kubernetes`` is ``kubernetes_<env>``."""

    def __init__(self, resources: Any, environment: str | None):
        self._resources = resources
        self._environment = environment

    def __getattr__(self, name: str) -> Any:
        # AttributeError for a resource the op did not ask for, as context.resources raises.
        return getattr(self._resources, scoped(name, self._environment))


def resources_of(context: Any, node: Node) -> Any:
    """The resources of ``node``'s environment in a run's ``context``."""
    if node.environment is None:
        return context.resources
    return ScopedResources(context.resources, node.environment)


def resource_keys(keys: Iterable[str], node: Node) -> set[str]:
    """``keys`` as ``node``'s environment binds them."""
    return {scoped(k, node.environment) for k in keys}
