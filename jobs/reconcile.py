"""reconcile_platform and detect_drift."""

from __future__ import annotations

from typing import Any

import dagster as dg

from jobs.executors import executor_for
from jobs.k8s_tags import k8s_tags
from platform_assets.core.graph import Graph
from platform_assets.names import (
    DRIFT_JOB,
    RECONCILE_GROUPS,
    RECONCILE_JOB,
    RECONCILE_OP,
    TAG_CLUSTER,
    scoped,
)
from platform_assets.reconcile_assets import reconciled_nodes


def run_config_for(dry_run: bool = False, force: bool = False) -> dict[str, Any]:
    """Run config for ``reconcile_platform`` (its options apply to the whole run)."""
    return {"dry_run": dry_run, "force": force}


def _options_mapping(graph: Graph) -> dg.ConfigMapping:
    op = scoped(RECONCILE_OP, graph.environment)

    """``{dry_run, force}`` for the whole run, handed to the reconcile op."""

    @dg.config_mapping(config_schema={
        "dry_run": dg.Field(bool, default_value=False,
                            description="plan only: observe and diff, never write"),
        "force": dg.Field(bool, default_value=False,
                          description="apply disruptive changes outside maintenance windows "
                                      "and freezes"),
    })
    def options(cfg: dict[str, Any]) -> dict[str, Any]:
        return {"ops": {op: {"config": {"dry_run": cfg["dry_run"],
                                                  "force": cfg["force"]}}}}

    return options


def build(graph: Graph) -> list[Any]:
    """The reconcile job and the drift job (only the ``drift`` checks: it never writes).

    Two runs never reconcile the same cluster at once: the reconcile op holds the cluster's
    pool (limit it to 1: ``concurrency: pools: default_limit: 1`` in dagster.yaml), and runs
    carry the cluster as a tag for a run-queue ``tag_concurrency_limits`` entry as well.
    """
    # The drift checks run after the assets they check (reads only), so a run, or a sensor's
    # re-reconcile of a few assets, ends by verifying the result rather than assuming it.
    keys = [dg.AssetKey(list(n.key)) for n in reconciled_nodes(graph)]
    env = graph.environment
    # Each environment's job selects its own assets: its runs (pods, with K8sRunLauncher) and
    # failures are its own, and environments proceed in parallel.
    selection = (dg.AssetSelection.groups(*RECONCILE_GROUPS) if env is None
                 else dg.AssetSelection.assets(*keys))
    cluster_tag = {TAG_CLUSTER: graph.spec.cluster_name}
    return [
        dg.define_asset_job(
            scoped(RECONCILE_JOB, env), selection=selection,
            description="Reconcile IONOS infrastructure, platform components and applications "
            "to the spec.",
            config=_options_mapping(graph),
            tags={**cluster_tag, **k8s_tags(RECONCILE_JOB)},
            executor_def=executor_for(RECONCILE_JOB),
        ),
        dg.define_asset_job(
            scoped(DRIFT_JOB, env), selection=dg.AssetSelection.checks_for_assets(*keys),
            description="Observe every reconciled asset without writing; report drift and "
            "orphans as failed checks.",
            tags={**cluster_tag, **k8s_tags(DRIFT_JOB)},
            executor_def=executor_for(DRIFT_JOB),
        ),
    ]
