"""Jobs, by name: reconcile_platform, snapshot_platform, audit_certificates, detect_drift, and the
remediation jobs the sensors launch. Each module builds its own from the graph."""

from __future__ import annotations

from typing import Any

from jobs import backups, certificates, reconcile, remediation
from platform_assets.core.graph import Graph


def build_jobs(graph: Graph) -> list[Any]:
    """Every job of ``graph``'s environment (names scoped by ``names.scoped``), the remediation
    jobs included."""
    return [
        *reconcile.build(graph),
        *backups.build(graph),
        *certificates.build(graph),
        *remediation.build(graph),
    ]
