"""Assets that reconcile IONOS infrastructure and Kubernetes components, built from the graph.

One asset per infrastructure and component node of ``platform_assets.core.graph`` (keys, groups,
kinds, owners, descriptions and code versions from its ``Node``), each with a ``drift`` check.
They are the specs of one subsettable multi-asset: a run reconciles whichever assets it selects,
in dependency order, independent ones in parallel threads, inside one op that holds the cluster's
pool, so two runs never reconcile the same cluster at once. This module defines them; what the
op does when a run executes it is ``platform_assets/runs/reconcile.py`` (imported by the run),
which hands each asset to ``platform_assets.engine.reconcile.Engine``.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from platform_assets.core.graph import Graph, Node, drift_mode
from platform_assets.names import (
    RECONCILE_OP,
    RECONCILED_KINDS,
    TAG_KIND,
    cluster_pool,
    environment_group,
    scoped,
)

RESOURCE_KEYS = {"ionos", "kubernetes", "object_storage", "git"}


def resource_keys(graph: Graph) -> set[str]:
    """The resource keys the reconcile and drift ops of ``graph``'s environment need (no IONOS
    for an environment on an existing cluster)."""
    keys = RESOURCE_KEYS if graph.spec.ionos is not None else RESOURCE_KEYS - {"ionos"}
    return {scoped(k, graph.environment) for k in keys}


class ReconcileConfig(dg.Config):
    """Run options of a reconcile (also settable for the whole run with the tags
    ``platform-ops/dry-run`` and ``platform-ops/force``)."""

    dry_run: bool = False
    force: bool = False


def reconciled_nodes(graph: Graph) -> list[Node]:
    return [n for n in graph.topological() if n.kind in RECONCILED_KINDS]


def asset_key(node: Node) -> dg.AssetKey:
    """The Dagster asset key of ``node``."""
    return dg.AssetKey(list(node.key))


def build_reconcile_assets(graph: Graph, upstream: Graph | None = None
                           ) -> tuple[list[Any], list[Any]]:
    """One asset and one ``drift`` check per infrastructure and component node; ``upstream``
    is the graph of the environment this one is promoted from (``spec.promotion``)."""
    nodes = reconciled_nodes(graph)
    if not nodes:
        return [], []
    keys = {n.key for n in nodes}
    by_key = {asset_key(n): n for n in nodes}
    specs = [
        dg.AssetSpec(
            key=asset_key(n), deps=[dg.AssetKey(list(d)) for d in n.deps if d in keys],
            group_name=environment_group(n.group, graph.environment), kinds=set(n.kinds),
            owners=list(n.owners) or None,
            description=n.description, code_version=n.code_version,
            tags={TAG_KIND: n.kind},
        )
        for n in nodes
    ]

    check_specs = [
        dg.AssetCheckSpec(
            "drift", asset=asset_key(n),
            description=f"Observe {n.path} without writing; report differences from the spec "
                        f"and orphans (drift mode {drift_mode(n.section)}).")
        for n in nodes
    ]

    env = graph.environment
    # The drift checks are the checks of this one op, not a multi-asset check of their own: a
    # separate check op takes every asset as an input, and building those inputs was most of
    # the code location's load time for a fleet (benchmarks/bench_fleet.py).
    @dg.multi_asset(name=scoped(RECONCILE_OP, env), specs=specs, check_specs=check_specs,
                    can_subset=True, required_resource_keys=resource_keys(graph),
                    pool=cluster_pool(graph.spec.cluster_name, env),
                    description="Reconcile the selected IONOS resources and components to the "
                                "spec (observe, diff, plan, apply, verify), then run the "
                                "selected drift checks, which only read.")
    def reconcile(context: dg.AssetExecutionContext, config: ReconcileConfig) -> Iterator[Any]:
        from platform_assets.runs.reconcile import reconcile_and_check

        yield from reconcile_and_check(context, config, graph, by_key, upstream)

    return [reconcile], []
