"""Schedules: nightly_snapshots, certificate_audit and drift_check, with cron from the spec."""

from __future__ import annotations

from typing import Any

from platform_assets.core.graph import Graph
from schedules import backups, certificates, drift


def build_schedules(graph: Graph) -> list[Any]:
    return [*drift.build(graph), *backups.build(graph), *certificates.build(graph)]
