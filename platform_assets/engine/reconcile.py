"""The reconcile engine: observe → plan → apply → verify, one graph node at a time.

Dagster-free: it takes the resources through the Protocols of ``platform_assets.core.ports`` and
returns a ``ReconcileOutcome`` the Dagster layer turns into metadata, observations and check
results. Each node kind has one handler in ``HANDLERS``; the pure decisions live in
``platform_assets.core``.

Zero writes on a no-op run is a hard rule: every write is preceded by a diff, and an unchanged
object is never re-applied (a server-side apply of an unchanged object still counts as a PATCH).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from platform_assets.core.calendar import Gate, disruption_gate
from platform_assets.core.graph import Node, NodeKind
from platform_assets.core.ports import BucketApi, CloudApi, ClusterApi, Json
from platform_assets.engine.bucket import BucketHandler
from platform_assets.engine.component import ComponentHandler, component_manifests
from platform_assets.engine.edge import EDGE_KINDS
from platform_assets.engine.gateways import GATEWAY_KINDS
from platform_assets.engine.handler import (
    Handler,
    Options,
    ReconcileError,
    ReconcileOutcome,
    Runtime,
    section_as,
    short_error,
)
from platform_assets.engine.ionos import IONOS_KINDS, IonosHandler
from platform_assets.engine.orphans import orphans
from platform_assets.engine.registry import REGISTRY_KINDS
from platform_assets.spec.models import Component, PlatformSpec

__all__ = ["HANDLERS", "Engine", "Options", "ReconcileError", "ReconcileOutcome", "short_error"]

HANDLERS: dict[NodeKind, Handler[Any]] = {
    **{kind: IonosHandler(row) for kind, row in IONOS_KINDS.items()},
    **{kind: IonosHandler(row) for kind, row in EDGE_KINDS.items()},
    **{kind: IonosHandler(row) for kind, row in GATEWAY_KINDS.items()},
    **{kind: IonosHandler(row) for kind, row in REGISTRY_KINDS.items()},
    "bucket": BucketHandler(),
    "component": ComponentHandler(),
}


def run_handler(handler: Handler[Any], rt: Runtime, node: Node, opts: Options,
                gate: Gate) -> ReconcileOutcome:
    """A handler's four steps; a replace the spec does not allow stops before any write."""
    state = handler.observe(rt, node, opts)
    outcome = handler.plan(rt, state, opts, gate)
    blocked = outcome.plan.blocked
    if blocked and not opts.dry_run:
        raise ReconcileError("; ".join(c.blocked for c in blocked))
    if not opts.dry_run:
        handler.apply(rt, state, outcome)
    handler.verify(rt, state, outcome, opts)
    return outcome


class Engine:
    """Reconciles the nodes of one spec against the outside world."""

    def __init__(self, spec: PlatformSpec, base_dir: Path, ionos: CloudApi | None = None,
                 kubernetes: ClusterApi | None = None, object_storage: BucketApi | None = None,
                 log: Callable[[str], object] = lambda _m: None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], object] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 env: Callable[[str], str | None] = os.environ.get):
        self.spec = spec
        self.runtime = Runtime(spec, base_dir, ionos=ionos, kubernetes=kubernetes,
                               object_storage=object_storage, log=log, now=now, sleep=sleep,
                               clock=clock, env=env)
        self._reconciled: set[tuple[str, ...]] = set()

    def expect(self, nodes: Iterable[Node]) -> None:
        """The nodes this run will reconcile or check: their components' Secrets are read
        together, ahead (``ClusterView.prefetch_named``), not one round trip per component."""
        self.runtime.components = tuple(sorted(
            {(c.namespace, c.name) for c in (section_as(n, Component) for n in nodes
                                             if n.kind == "component")}))

    def reconcile(self, node: Node, opts: Options | None = None) -> ReconcileOutcome:
        """Observe, plan and (unless ``opts.dry_run``) apply and verify one node."""
        opts = opts or Options()
        handler = HANDLERS.get(node.kind)
        if handler is None:
            raise ReconcileError(f"{node.path}: the reconcile engine does not handle {node.kind}")
        gate = disruption_gate(self.spec, self.runtime.now(), opts.force)
        if node.key in self._reconciled:
            # A run reconciles each node once: a second time is a new pass, which reads the
            # cluster again rather than the lists the first one made.
            self._reconciled.clear()
            self.runtime.new_pass()
        self._reconciled.add(node.key)
        try:
            outcome = run_handler(handler, self.runtime, node, opts, gate)
        except ReconcileError:
            raise
        except Exception as exc:
            raise ReconcileError(f"{node.path}: {short_error(exc)}") from exc
        outcome.metadata.setdefault("summary", outcome.plan.summary())
        return outcome

    def check(self, node: Node,
              previous_metadata: dict[str, Any] | None = None) -> ReconcileOutcome:
        """Observe only (a dry run) and add the orphans this node can see; the last
        materialization's metadata identifies a resource renamed outside the spec."""
        outcome = self.reconcile(node, Options(dry_run=True, force=True,
                                               previous_metadata=previous_metadata or {}))
        try:
            outcome.orphans.extend(self.orphans(node))
        except Exception as exc:
            raise ReconcileError(f"{node.path}: looking for orphans: {exc}") from exc
        return outcome

    def orphans(self, node: Node) -> list[str]:
        """IONOS resources in our datacenter (or cluster) that no asset owns."""
        return orphans(self.runtime, node)

    def component_manifests(self, comp: Component) -> list[Json]:
        """The objects of a manifests component, namespaced (CLUSTER_SCOPED_KINDS excepted)."""
        return component_manifests(self.runtime.base_dir, comp)
