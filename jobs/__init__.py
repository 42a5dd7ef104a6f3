"""Jobs, by name: reconcile_platform, snapshot_platform, audit_certificates, detect_drift, and the
remediation jobs the sensors launch. Each module builds its own from the graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobs import backups, certificates, reconcile, remediation
from platform_assets.core.graph import Graph


def build_jobs(graph: Graph, resources: Mapping[str, Any] | None = None) -> list[Any]:
    """Every job of ``graph``'s environment (names scoped by ``names.scoped``), the remediation
    jobs included; ``resources`` are the Definitions' (a fleet's remediation jobs bind their
    environment's Kubernetes resource from them)."""
    return [
        *reconcile.build(graph),
        *backups.build(graph),
        *certificates.build(graph, resources),
        *remediation.build(graph, resources),
    ]
