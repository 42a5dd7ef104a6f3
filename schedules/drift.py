"""The drift schedule (placeholder until its issue lands)."""

from __future__ import annotations

from typing import Any

from platform_assets.core.graph import Graph


def build(graph: Graph) -> list[Any]:
    return []
