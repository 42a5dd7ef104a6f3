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


def build_fleet_sensors(graphs: Sequence[Graph], jobs: Sequence[Any] | None = None
                        ) -> list[Any]:
    """The sensors of a spec with environments: ``git_changes`` per environment (each requests
    its own environment's reconcile); ``alertmanager_alerts`` once, routing each alert to its
    environment's jobs (``jobs``: every environment's); ``run_failures`` and ``failed_checks``
    once over every environment's assets."""
    every = merged(graphs)
    return [*(git_changes.build(g) for g in graphs), alertmanager_alerts.build_fleet(graphs, jobs),
            run_failures.build(every), failed_checks.build(every)]


def merged(graphs: Sequence[Graph]) -> Graph:
    """One graph holding every environment's nodes (their keys never collide: each is
    prefixed by its environment), for what reads across environments."""
    import dataclasses
    from types import MappingProxyType

    nodes = {k: n for g in graphs for k, n in g.nodes.items()}
    return dataclasses.replace(graphs[0], nodes=MappingProxyType(nodes), environment=None)
