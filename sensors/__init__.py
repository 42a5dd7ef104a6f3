"""Sensors: git_changes, alertmanager_alerts and run_failures."""

from __future__ import annotations

from typing import Any

from platform_assets.core.graph import Graph


def build_sensors(graph: Graph) -> list[Any]:
    return []
