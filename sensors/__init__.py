"""Sensors: git_changes, alertmanager_alerts, run_failures and failed_checks.

``build_sensors(graph, jobs)`` takes the job definitions the alert sensor may launch (matched by
name: reconcile_platform, snapshot_platform, renew_certificate, restart_rollout, expand_pvc,
audit_certificates); without them it can only launch ``reconcile_platform``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from platform_assets.core.graph import Graph
from sensors import alertmanager_alerts, failed_checks, git_changes, run_failures


def build_sensors(graph: Graph, jobs: Sequence[Any] | None = None) -> list[Any]:
    return [
        git_changes.build(graph),
        alertmanager_alerts.build(graph, jobs),
        run_failures.build(graph),
        failed_checks.build(graph),
    ]
