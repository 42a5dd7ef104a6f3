"""What every reconcile handler shares: its four steps, the runtime it works with, its outcome.

A handler reconciles one node kind in four steps the engine runs in order: ``observe`` (reads
only), ``plan`` (pure decisions from what was observed), ``apply`` (writes; skipped in a dry
run) and ``verify`` (readiness, and the metadata the asset records).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from platform_assets.core.calendar import Gate
from platform_assets.core.graph import Node
from platform_assets.core.plan import Change, Plan
from platform_assets.core.ports import BucketApi, CloudApi, ClusterApi
from platform_assets.spec.models import PlatformSpec

if TYPE_CHECKING:
    from platform_assets.engine.cluster_view import ClusterView

S = TypeVar("S")
T = TypeVar("T")


class ReconcileError(RuntimeError):
    """Reconciling one asset failed; the message names the asset, the resource and the cause."""


@dataclass
class Options:
    """How one reconcile runs."""

    dry_run: bool = False
    force: bool = False
    previous_code_version: str | None = None  # of the last applied materialization
    previous_metadata: dict[str, Any] = field(default_factory=dict)

    def spec_changed(self, node: Node) -> bool:
        """Whether the node's spec changed since it was last applied (else differences are
        drift)."""
        return self.previous_code_version != node.code_version


@dataclass
class ReconcileOutcome:
    """What one asset's reconcile found and did."""

    plan: Plan
    metadata: dict[str, Any] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)
    writes: int = 0
    healthy: bool = True
    unhealthy: list[str] = field(default_factory=list)

    @property
    def drift(self) -> list[Change]:
        return [c for c in self.plan.changes if c.action != "no-op" or c.drift]


@dataclass
class Runtime:
    """The outside world and the injected clock, shared by the handlers of one engine."""

    spec: PlatformSpec
    base_dir: Path
    ionos: CloudApi | None = None
    kubernetes: ClusterApi | None = None
    object_storage: BucketApi | None = None
    log: Callable[[str], object] = lambda _m: None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], object] = time.sleep
    clock: Callable[[], float] = time.monotonic
    env: Callable[[str], str | None] = os.environ.get
    # Discovery is built once; components reconciled in parallel threads share it.
    k8s_lock: threading.Lock = field(default_factory=threading.Lock)
    _view: ClusterView | None = field(default=None, repr=False)
    # (namespace, name) of the components the run reconciles (``Engine.expect``): their
    # Secrets are read ahead, together.
    components: tuple[tuple[str, str], ...] = ()

    def view(self) -> ClusterView:
        """What this pass has read of the cluster (each kind listed once)."""
        from platform_assets.engine.cluster_view import ClusterView

        with self.k8s_lock:
            if self._view is None:
                self._view = ClusterView(self.cluster)
            return self._view

    def new_pass(self) -> None:
        """Forget what was read: the next reconcile lists the cluster again."""
        with self.k8s_lock:
            self._view = None

    def cloud(self) -> CloudApi:
        return _required(self.ionos, "the IONOS Cloud API (resource ionos)")

    def cluster(self) -> ClusterApi:
        return _required(self.kubernetes, "the Kubernetes API (resource kubernetes)")

    def buckets(self) -> BucketApi:
        return _required(self.object_storage, "object storage (resource object_storage)")


def _required(port: T | None, what: str) -> T:
    if port is None:
        raise ReconcileError(f"{what} is not configured for this engine")
    return port


class Handler(Protocol[S]):
    """Reconciles one node kind; ``S`` is what its observe step found."""

    def observe(self, rt: Runtime, node: Node, opts: Options) -> S: ...

    def plan(self, rt: Runtime, state: S, opts: Options, gate: Gate) -> ReconcileOutcome: ...

    def apply(self, rt: Runtime, state: S, out: ReconcileOutcome) -> None: ...

    def verify(self, rt: Runtime, state: S, out: ReconcileOutcome, opts: Options) -> None: ...


def section_as(node: Node, cls: type[T]) -> T:
    """The node's spec section, which its kind fixes to ``cls``."""
    if not isinstance(node.section, cls):
        raise ReconcileError(f"{node.path}: expected a {cls.__name__} section, got "
                             f"{type(node.section).__name__}")
    return node.section


def short_error(exc: BaseException) -> str:
    """One line for an API error: status and the server's message, never a traceback."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, bytes | str) and body:
        try:
            data = json.loads(body)
            message = data.get("message") or "; ".join(
                m.get("message", "") for m in data.get("messages", []) if isinstance(m, dict))
        except (ValueError, AttributeError):
            message = str(body)[:300]
    if message is None:
        lines = str(exc).strip().splitlines()
        message = lines[0][:300] if lines else type(exc).__name__
    return f"HTTP {status}: {message}" if status else f"{type(exc).__name__}: {message}"


def api_status(exc: BaseException | None) -> tuple[int | None, dict[str, Any]]:
    """An API error's HTTP status and its JSON body (a Kubernetes ``Status``), ``{}`` when it
    has none."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    try:
        data = json.loads(body) if isinstance(body, bytes | str) and body else {}
    except ValueError:
        data = {}
    return (status if isinstance(status, int) else None,
            data if isinstance(data, dict) else {})


def guarded(describe: str, fn: Callable[[], T]) -> T:
    """One outside call; a failure becomes one line naming the request and the cause."""
    try:
        return fn()
    except ReconcileError:
        raise
    except Exception as exc:
        raise ReconcileError(f"{describe}: {short_error(exc)}") from exc
