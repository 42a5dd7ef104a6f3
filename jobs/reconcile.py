"""reconcile_platform and detect_drift."""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.core.graph import Graph

RECONCILE_GROUPS = ("infrastructure", "platform", "applications")


def build(graph: Graph) -> list[Any]:
    selection = dg.AssetSelection.groups(*RECONCILE_GROUPS)
    return [
        dg.define_asset_job(
            "reconcile_platform", selection=selection,
            description="Reconcile IONOS infrastructure, platform components and applications "
            "to the spec.",
        ),
    ]
