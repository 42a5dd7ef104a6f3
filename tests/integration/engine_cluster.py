"""A sandbox Kubernetes API of its own (IONOS's classes, nodes to schedule on, the controllers)
with our reconcile engine pointed at it through the real client: for tests of one component's
reconcile, with the other outside systems faked (``tests.unit.engine_fakes``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from platform_assets.core.graph import Graph, component_key
from platform_assets.engine.reconcile import Engine, Options, ReconcileOutcome
from resources.kubernetes import KubernetesResource
from sandbox.http import COUNTER
from tests.unit.engine_fakes import FakeBuckets, FakeCloud

if TYPE_CHECKING:
    from sandbox.kubernetes import KubernetesService

WEB = component_key("platform", "web")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


class EngineCluster:
    """The engine and a client of the sandbox cluster served for the test."""

    def __init__(self, tmp: Path, kubeconfig: Path):
        self.tmp, self.kubeconfig = tmp, kubeconfig

    def client(self) -> KubernetesResource:
        return KubernetesResource(kubeconfig_path=str(self.kubeconfig), retry_attempts=3,
                                  retry_max_wait_seconds=0.2)

    def reconcile_at(self, graph: Graph, now: datetime) -> ReconcileOutcome:
        """Reconcile the component ``web`` of ``graph`` as if it were ``now``."""
        assert graph.base_dir is not None
        engine = Engine(graph.spec, graph.base_dir, ionos=FakeCloud(), kubernetes=self.client(),
                        object_storage=FakeBuckets(), now=lambda: now)
        return engine.reconcile(graph.nodes[WEB], Options())


@contextmanager
def served_cluster(tmp_path: Path) -> Iterator[tuple[Path, KubernetesService]]:
    """A sandbox Kubernetes API with nodes (three of 4 cores / 16 GiB, so pods are scheduled) and
    its controllers running; yields its kubeconfig and the service."""
    from sandbox.http import serve
    from sandbox.kubernetes import KubernetesService
    from sandbox.world import World

    svc = KubernetesService(World())
    svc.add_nodes()
    svc.start_controllers()
    server = serve(svc)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(svc.kubeconfig(server.url))
    try:
        yield kubeconfig, svc
    finally:
        svc.stop()
        server.stop()


def k8s_writes() -> dict[str, int]:
    """The writes the sandbox Kubernetes API counted since the last snapshot, by method."""
    return {m: n for m, n in COUNTER.snapshot().get("kubernetes", {}).items()
            if m in WRITES and n}
