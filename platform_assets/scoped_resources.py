"""An environment's resources, as the asset factories of one environment see them.

With ``spec.environments`` every environment binds its own resources under scoped keys
(``kubernetes_staging``; ``names.scoped``). The factories keep asking for ``res.kubernetes``:
:func:`resources_of` answers with the node's environment's resource, and :func:`systems_of`
gives the outside systems an op asked for, typed, None where it did not ask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

from platform_assets.core.graph import Node
from platform_assets.names import scoped

if TYPE_CHECKING:  # the resources are imported when a run starts, not when the location loads
    from resources.database import DatabaseDumpResource
    from resources.ionos import IonosCloudResource
    from resources.kubernetes import KubernetesResource
    from resources.object_storage import ObjectStorageResource
    from resources.postgres_dump import PostgresDumpResource


class RunContext(Protocol):
    """A Dagster run's op, asset or check context, as far as its resources go."""

    @property
    def resources(self) -> Any: ...


class ScopedResources:
    """``context.resources`` of one environment: ``.kubernetes`` is ``kubernetes_<env>``."""

    def __init__(self, resources: object, environment: str | None):
        self._resources = resources
        self._environment = environment

    def __getattr__(self, name: str) -> Any:
        # AttributeError for a resource the op did not ask for, as context.resources raises.
        return getattr(self._resources, scoped(name, self._environment))


def resources_of(context: RunContext, node: Node) -> Any:
    """The resources of ``node``'s environment in a run's ``context``."""
    if node.environment is None:
        return context.resources
    return ScopedResources(context.resources, node.environment)


@dataclass(frozen=True)
class Systems:
    """The outside systems of one environment that an op asked for (its required resource
    keys, by their bare names); None for each it did not ask for."""

    ionos: IonosCloudResource | None = None
    kubernetes: KubernetesResource | None = None
    object_storage: ObjectStorageResource | None = None
    database: DatabaseDumpResource | None = None
    postgres_database: PostgresDumpResource | None = None

    def store(self) -> ObjectStorageResource:
        """The object store, which every backup asset and check asks for."""
        if self.object_storage is None:
            raise LookupError("this op did not ask for the object_storage resource")
        return self.object_storage


def systems_of(context: RunContext, environment: str | None) -> Systems:
    """The outside systems of ``environment`` in a run's ``context``. Dagster binds only the
    resources an op asked for, so the others are absent (None), never an error."""
    res = context.resources
    return Systems(**{f.name: getattr(res, scoped(f.name, environment), None)
                      for f in fields(Systems)})


def resource_keys(keys: Iterable[str], node: Node) -> set[str]:
    """``keys`` as ``node``'s environment binds them."""
    return {scoped(k, node.environment) for k in keys}
