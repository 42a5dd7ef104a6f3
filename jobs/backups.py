"""snapshot_platform: every backup and cross-region copy asset (and their checks), one day."""

from __future__ import annotations

from typing import Any

import dagster as dg

from jobs.executors import executor_for
from jobs.k8s_tags import k8s_tags
from platform_assets.backup_assets import partitions_for, rpo_check_keys
from platform_assets.core.graph import Graph
from platform_assets.names import RPO_JOB, SNAPSHOT_JOB, TAG_JOB, scoped


def build(graph: Graph) -> list[Any]:
    """``snapshot_platform`` (daily partitions, from its assets) and ``check_backup_rpo`` (the
    RPO checks only). Neither takes run config: a run names its day by its partition key."""
    parts = partitions_for(graph)
    if parts is None or not graph.by_group("backups"):
        return []
    env = graph.environment
    nodes = [*graph.by_kind("backup"), *graph.by_kind("backup_copy")]
    selection = (dg.AssetSelection.groups("backups") if env is None else
                 dg.AssetSelection.assets(*(dg.AssetKey(list(n.key)) for n in nodes)))
    return [
        dg.define_asset_job(
            scoped(SNAPSHOT_JOB, env),
            selection=selection,
            description="Take the day's backup of every target, copy it to the DR region, "
                        "apply retention and run the restore drills.",
            tags={TAG_JOB: "backups", **k8s_tags(SNAPSHOT_JOB)},
            executor_def=executor_for(SNAPSHOT_JOB),
        ),
        dg.define_asset_job(
            scoped(RPO_JOB, env),
            selection=dg.AssetSelection.checks(*rpo_check_keys(graph)),
            description="Check that every backup and its copy is younger than the RPO.",
            tags=k8s_tags(RPO_JOB),
        ),
    ]
