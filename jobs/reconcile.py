"""reconcile_platform and detect_drift."""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.core.graph import Graph
from platform_assets.reconcile_assets import TAG_CLUSTER, reconciled_nodes

RECONCILE_GROUPS = ("infrastructure", "platform", "applications")


def _options_mapping(graph: Graph) -> dg.ConfigMapping:
    """``{dry_run, force}`` for the whole run, handed to every reconcile asset."""
    ops = [dg.AssetKey(list(n.key)).to_python_identifier() for n in reconciled_nodes(graph)]

    @dg.config_mapping(config_schema={
        "dry_run": dg.Field(bool, default_value=False,
                            description="plan only: observe and diff, never write"),
        "force": dg.Field(bool, default_value=False,
                          description="apply disruptive changes outside maintenance windows "
                                      "and freezes"),
    })
    def options(cfg: dict[str, Any]) -> dict[str, Any]:
        return {"ops": {op: {"config": {"dry_run": cfg["dry_run"], "force": cfg["force"]}}
                        for op in ops}}

    return options


def build(graph: Graph) -> list[Any]:
    """The reconcile job (tagged with the cluster so the run queue runs one per cluster at a
    time) and the drift job (only the ``drift`` checks: it never writes)."""
    selection = dg.AssetSelection.groups(*RECONCILE_GROUPS).without_checks()
    keys = [dg.AssetKey(list(n.key)) for n in reconciled_nodes(graph)]
    cluster_tag = {TAG_CLUSTER: graph.spec.ionos.cluster.name}
    return [
        dg.define_asset_job(
            "reconcile_platform", selection=selection,
            description="Reconcile IONOS infrastructure, platform components and applications "
            "to the spec.",
            config=_options_mapping(graph),
            tags=cluster_tag,
        ),
        dg.define_asset_job(
            "detect_drift", selection=dg.AssetSelection.checks_for_assets(*keys),
            description="Observe every reconciled asset without writing; report drift and "
            "orphans as failed checks.",
            tags=cluster_tag,
        ),
    ]
