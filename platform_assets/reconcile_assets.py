"""Placeholder: replaced by the issue that builds these assets."""

from __future__ import annotations

from typing import Any

from platform_assets.core.graph import Graph


def build_reconcile_assets(graph: Graph) -> tuple[list[Any], list[Any]]:
    return [], []
