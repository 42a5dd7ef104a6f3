"""Assets that reconcile IONOS infrastructure and Kubernetes components, built from the graph.

One asset per infrastructure and component node of ``platform_assets.core.graph``, each with a
``drift`` asset check. The work happens in ``platform_assets.reconcile.Engine``; this module only
wires it to Dagster: run options, resources, metadata, observations and check results.
"""


from collections.abc import Callable
from typing import Any

import dagster as dg

from platform_assets.core.graph import Graph, Node

RECONCILED_KINDS = ("datacenter", "lan", "cluster", "node_pool", "mariadb", "bucket", "component")
TAG_DRY_RUN = "platform-ops/dry-run"
TAG_FORCE = "platform-ops/force"
TAG_CLUSTER = "platform-ops/cluster"

_RESOURCES = {
    "datacenter": {"ionos"}, "lan": {"ionos"}, "cluster": {"ionos"}, "node_pool": {"ionos"},
    "mariadb": {"ionos"}, "bucket": {"object_storage"}, "component": {"kubernetes"},
}


class ReconcileConfig(dg.Config):
    """Run options of a reconcile (also settable for the whole run with the tags
    ``platform-ops/dry-run`` and ``platform-ops/force``)."""

    dry_run: bool = False
    force: bool = False


def _tag_true(context: Any, tag: str) -> bool:
    return str(context.run.tags.get(tag, "")).lower() in ("1", "true", "yes")


def _engine(context: Any, graph: Graph) -> Any:
    from platform_assets.reconcile import Engine
    from platform_assets.spec.loader import spec_base_dir

    res = context.resources
    # Manifest paths are relative to the spec file: the graph may carry its directory (set by
    # whoever loaded it from elsewhere); otherwise it is $PLATFORM_SPEC's, as at load time.
    base_dir = getattr(graph, "base_dir", None) or spec_base_dir(None)
    return Engine(
        graph.spec, base_dir,
        ionos=getattr(res, "ionos", None), kubernetes=getattr(res, "kubernetes", None),
        object_storage=getattr(res, "object_storage", None), log=context.log.info)


def _previous(context: Any, key: dg.AssetKey) -> tuple[str | None, dict[str, Any]]:
    """Code version and metadata of the last applied (not dry-run) materialization."""
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None, {}
    mat = event.asset_materialization
    meta = {k: getattr(v, "value", v) for k, v in (mat.metadata or {}).items()}
    return (str(meta["applied_code_version"]) if meta.get("applied_code_version") else None,
            meta)


def _metadata(outcome: Any, node: Node, dry_run: bool, previous: str | None) -> dict[str, Any]:
    counts = outcome.plan.counts()
    meta: dict[str, Any] = {
        "plan": dg.MetadataValue.md(outcome.plan.to_markdown()),
        "dry_run": dry_run,
        "writes": outcome.writes,
        "changes": sum(v for k, v in counts.items() if k != "no-op"),
        "deferred": counts["deferred"],
        "applied_code_version": previous if dry_run else node.code_version,
    }
    if outcome.plan.notes:
        meta["notes"] = "; ".join(outcome.plan.notes)
    for k, v in outcome.metadata.items():
        if isinstance(v, bool | int | float | str) or v is None:
            meta[k] = v if v is not None else ""
    return meta


def _reconcile_asset(graph: Graph, node: Node, keys: set[tuple[str, ...]]) -> Any:
    deps = [dg.AssetKey(list(d)) for d in node.deps if d in keys]

    @dg.asset(
        key=dg.AssetKey(list(node.key)),
        deps=deps,
        group_name=node.group,
        kinds=set(node.kinds),
        owners=list(node.owners) or None,
        description=node.description,
        code_version=node.code_version,
        required_resource_keys=_RESOURCES[node.kind],
        tags={"platform-ops/kind": node.kind},
    )
    def _asset(context: dg.AssetExecutionContext, config: ReconcileConfig) -> Any:
        from platform_assets.reconcile import Options, ReconcileError

        dry_run = config.dry_run or _tag_true(context, TAG_DRY_RUN)
        force = config.force or _tag_true(context, TAG_FORCE)
        previous, prev_meta = _previous(context, context.asset_key)
        try:
            outcome = _engine(context, graph).reconcile(
                node, Options(dry_run=dry_run, force=force, previous_code_version=previous,
                              previous_metadata=prev_meta))
        except ReconcileError as exc:
            # The message names the resource and the request; the traceback adds nothing.
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        context.log.info(f"{node.path}: {outcome.plan.summary()}"
                         + (" (dry run)" if dry_run else ""))
        for obs in outcome.observations:
            context.log_event(dg.AssetObservation(
                asset_key=context.asset_key, description=obs.get("description"),
                metadata={k: v for k, v in obs.items() if k != "description"}))
        return dg.MaterializeResult(metadata=_metadata(outcome, node, dry_run, previous))

    return _asset


def _drift_check(graph: Graph, node: Node) -> Any:
    mode = getattr(node.section, "drift", "enforce")
    severity = dg.AssetCheckSeverity.ERROR if mode == "enforce" else dg.AssetCheckSeverity.WARN

    @dg.asset_check(
        asset=dg.AssetKey(list(node.key)), name="drift",
        description=f"Observe {node.path} without writing and report differences from the spec "
                    f"and orphans (drift mode {mode}).",
        required_resource_keys=_RESOURCES[node.kind],
        blocking=False,
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from platform_assets.reconcile import ReconcileError

        try:
            outcome = _engine(context, graph).check(node)
        except ReconcileError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        drifted = [c for c in outcome.plan.changes if c.action != "no-op" or c.drift]
        return dg.AssetCheckResult(
            passed=not drifted and not outcome.orphans,
            severity=severity,
            description=(f"{len(drifted)} difference(s), {len(outcome.orphans)} orphan(s)"
                         if drifted or outcome.orphans else "matches the spec"),
            metadata={
                "drift_mode": mode,
                "differences": len(drifted),
                "orphans": dg.MetadataValue.md("\n".join(f"- `{o}`" for o in outcome.orphans)
                                               or "none"),
                "orphan_count": len(outcome.orphans),
                "plan": dg.MetadataValue.md(outcome.plan.to_markdown()),
            },
        )

    return _check


def reconciled_nodes(graph: Graph) -> list[Node]:
    return [n for n in graph.topological() if n.kind in RECONCILED_KINDS]


def build_reconcile_assets(graph: Graph) -> tuple[list[Any], list[Any]]:
    """One asset and one ``drift`` check per infrastructure and component node."""
    nodes = reconciled_nodes(graph)
    keys = {n.key for n in nodes}
    build: Callable[[Node], Any] = lambda n: _reconcile_asset(graph, n, keys)  # noqa: E731
    return [build(n) for n in nodes], [_drift_check(graph, n) for n in nodes]
