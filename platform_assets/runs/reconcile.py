"""What the reconcile op does when a run executes it: every selected asset in dependency order,
independent ones in parallel threads, then the selected ``drift`` checks. The work happens in
``platform_assets.engine.reconcile.Engine``; this module turns its outcomes into Dagster events.
The op is defined in ``platform_assets/reconcile_assets.py``; this module is imported by the
run, not when the code location loads.
"""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, TypeVar

import dagster as dg

from platform_assets.core.graph import Graph, Node, drift_mode
from platform_assets.heap import heap_frozen
from platform_assets.names import TAG_DRY_RUN, TAG_FORCE
from platform_assets.reconcile_assets import ReconcileConfig, asset_key
from platform_assets.scoped_resources import systems_of

if TYPE_CHECKING:
    from platform_assets.core.promotion import UpstreamAsset
    from platform_assets.engine.reconcile import Engine, ReconcileOutcome

R = TypeVar("R")

MAX_PARALLEL = 4


def reconcile_and_check(context: dg.AssetExecutionContext, config: ReconcileConfig,
                        graph: Graph, by_key: dict[dg.AssetKey, Node],
                        upstream: Graph | None = None) -> Iterator[Any]:
    """The reconcile op of ``graph``: the selected assets (``upstream``: the graph of the
    environment this one is promoted from), then the selected ``drift`` checks."""
    yield from _reconcile_selected(context, config, graph, by_key, upstream)
    yield from _drift_selected(context, graph, by_key)


RunContext = dg.AssetExecutionContext | dg.AssetCheckExecutionContext


def _tag_true(context: RunContext, tag: str) -> bool:
    return str(context.run.tags.get(tag, "")).lower() in ("1", "true", "yes")


def _graph_for_run(context: RunContext, graph: Graph) -> Graph:
    """The graph a run applies: for runs the ``git_changes`` sensor requests (tagged with a
    commit), the spec at that commit, not whatever the working copy holds when the run starts."""
    from platform_assets.core.loading import commit_of_run, graph_at_commit

    sha = commit_of_run(context.run.tags)
    if sha is None:
        return graph
    context.log.info(f"applying the spec at commit {sha}")
    return graph_at_commit(context.resources.git, sha, graph.environment)


def _node(graph: Graph, node: Node) -> Node:
    """``node`` as the run's graph has it (same key; the section may differ at another commit)."""
    return graph.nodes.get(node.key, node)


def _engine(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
            graph: Graph) -> "Engine":
    from platform_assets.engine.reconcile import Engine
    from platform_assets.spec.loader import spec_base_dir

    # The resources satisfy the engine's Protocols (checked here by mypy).
    res = systems_of(context, graph.environment)
    # Manifest paths are relative to the spec file: the graph may carry its directory (set by
    # whoever loaded it from elsewhere); otherwise it is $PLATFORM_SPEC's, as at load time.
    base_dir = graph.base_dir or spec_base_dir(None)
    lock = threading.Lock()

    def log(message: str) -> None:
        with lock:
            context.log.info(message)

    from resources.credentials import secret

    # Secrets the spec names (the MariaDB password) may come from NAME or NAME_FILE.
    return Engine(graph.spec, base_dir, ionos=res.ionos, kubernetes=res.kubernetes,
                  object_storage=res.object_storage, log=log, env=secret)


def _previous(context: RunContext,
              nodes: list[Node]) -> dict[tuple[str, ...], tuple[str | None, dict[str, Any]]]:
    """Code version and metadata of each node's last applied (not dry-run) materialization, by
    node key. One event-log query for all of them: asked one asset at a time (what
    ``get_latest_materialization_event`` does), each is a query of its own."""
    if not nodes:
        return {}
    events = context.instance.get_latest_materialization_events([asset_key(n) for n in nodes])
    out: dict[tuple[str, ...], tuple[str | None, dict[str, Any]]] = {}
    for node in nodes:
        event = events.get(asset_key(node))
        mat = event.asset_materialization if event is not None else None
        if mat is None:
            out[node.key] = (None, {})
            continue
        meta = {k: getattr(v, "value", v) for k, v in (mat.metadata or {}).items()}
        out[node.key] = (str(meta["applied_code_version"]) if meta.get("applied_code_version")
                         else None, meta)
    return out


def _metadata(outcome: "ReconcileOutcome", node: Node, dry_run: bool,
              previous: str | None) -> dict[str, Any]:
    counts = outcome.plan.counts()
    meta: dict[str, Any] = {
        "plan": dg.MetadataValue.md(outcome.plan.to_markdown()),
        "dry_run": dry_run,
        "writes": outcome.writes,
        "changes": sum(v for k, v in counts.items() if k != "no-op"),
        "deferred": counts["deferred"],
        "applied_code_version": (previous or "") if dry_run else node.code_version,
    }
    if outcome.plan.notes:
        meta["notes"] = "; ".join(outcome.plan.notes)
    for k, v in outcome.metadata.items():
        if isinstance(v, bool | int | float | str) or v is None:
            meta[k] = v if v is not None else ""
    return meta


def run_in_order(nodes: list[Node], work: Callable[[Node], R],
                 max_parallel: int = MAX_PARALLEL) -> Iterator[tuple[Node, R | None,
                                                                     BaseException | None]]:
    """Run ``work`` on each node once its selected dependencies succeeded, independent nodes in
    parallel; yield (node, result, error) as each finishes. A node whose dependency failed is
    yielded with an error saying so and never run."""
    with heap_frozen():
        yield from _run_in_order(nodes, work, max_parallel)


def _run_in_order(nodes: list[Node], work: Callable[[Node], R],
                  max_parallel: int) -> Iterator[tuple[Node, R | None, BaseException | None]]:
    keys = {n.key for n in nodes}
    pending = {n.key: n for n in nodes}
    ok: set[tuple[str, ...]] = set()
    failed: set[tuple[str, ...]] = set()
    running: dict[Future[R], Node] = {}
    with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="reconcile") as pool:
        while pending or running:
            for key, node in list(pending.items()):
                deps = [d for d in node.deps if d in keys]
                bad = [d for d in deps if d in failed]
                if bad:
                    del pending[key]
                    failed.add(key)
                    yield node, None, RuntimeError(
                        f"{node.path}: not run: {', '.join('/'.join(d) for d in bad)} failed")
                elif all(d in ok for d in deps):
                    del pending[key]
                    running[pool.submit(work, node)] = node
            if not running:
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                node = running.pop(fut)
                err = fut.exception()
                (failed if err else ok).add(node.key)
                yield node, (None if err else fut.result()), err


class PromotionWait(RuntimeError):
    """The asset waits for the environment it is promoted from (``core.promotion``)."""


def _upstream_asset(instance: dg.DagsterInstance, node: Node,
                    summary: Any) -> "UpstreamAsset":
    from platform_assets.core.promotion import UpstreamAsset

    event = instance.get_latest_materialization_event(asset_key(node))
    mat = event.asset_materialization if event is not None else None
    applied = (mat.metadata or {}).get("applied_code_version") if mat else None
    record = summary.last_completed_check_execution_record if summary else None
    evaluation = record.evaluation if record else None
    return UpstreamAsset(
        current_code_version=node.code_version,
        applied_code_version=str(getattr(applied, "value", applied) or "") or None,
        applied_at=event.timestamp if event is not None else None,
        check_passed=bool(evaluation.passed) if evaluation is not None else None,
        checked_at=((record.event.timestamp if record.event else record.create_timestamp)
                    if record is not None and evaluation is not None else None))


def promotion_waits(instance: dg.DagsterInstance, graph: Graph, upstream: Graph | None,
                    nodes: list[Node], applied: dict[tuple[str, ...], str | None]
                    ) -> dict[tuple[str, ...], str]:
    """The selected nodes that must wait for the environment ``graph`` is promoted from, and
    why (``core.promotion``); ``applied`` is each node's last applied code version."""
    from platform_assets.core.promotion import promotion_wait

    promo = graph.spec.promotion
    if promo is None or upstream is None:
        return {}
    twins = {n.key: upstream.nodes.get(upstream.scoped(graph.relative(n.key))) for n in nodes}
    checks = [dg.AssetCheckKey(asset_key(t), "drift") for t in twins.values() if t is not None]
    summaries = instance.event_log_storage.get_asset_check_summary_records(checks)
    out: dict[tuple[str, ...], str] = {}
    for n in nodes:
        twin = twins[n.key]
        state = None if twin is None else _upstream_asset(
            instance, twin, summaries.get(dg.AssetCheckKey(asset_key(twin), "drift")))
        wait = promotion_wait(n.path, applied.get(n.key) != n.code_version, promo.after, state)
        if wait is not None:
            out[n.key] = wait
    return out


def _reconcile_selected(context: dg.AssetExecutionContext, config: ReconcileConfig,
                        graph: Graph, by_key: dict[dg.AssetKey, Node],
                        upstream: Graph | None = None) -> Iterator[Any]:
    """The reconcile op: every selected node in dependency order; one failure fails the step
    after the independent nodes finished."""
    from platform_assets.engine.reconcile import Options

    dry_run = config.dry_run or _tag_true(context, TAG_DRY_RUN)
    force = config.force or _tag_true(context, TAG_FORCE)
    run_graph = _graph_for_run(context, graph)
    selected = [_node(run_graph, by_key[k]) for k in by_key if k in context.selected_asset_keys]
    engine = _engine(context, run_graph)
    engine.expect(selected)
    previous = _previous(context, selected)
    waits = promotion_waits(context.instance, run_graph, upstream, selected,
                            {k: v[0] for k, v in previous.items()})

    def work(node: Node) -> "ReconcileOutcome":
        if node.key in waits:  # its dependents are not run either (run_in_order)
            raise PromotionWait(waits[node.key])
        prev_version, prev_meta = previous[node.key]
        return engine.reconcile(node, Options(
            dry_run=dry_run, force=force, previous_code_version=prev_version,
            previous_metadata=prev_meta))

    errors: list[str] = []
    for node, outcome, err in run_in_order(selected, work):
        if err is not None or outcome is None:
            errors.append(_error_message(node, err))
            context.log.error(errors[-1])
            continue
        context.log.info(f"{node.path}: {outcome.plan.summary()}"
                         + (" (dry run)" if dry_run else ""))
        for obs in outcome.observations:
            yield dg.AssetObservation(
                asset_key=asset_key(node), description=obs.get("description"),
                metadata={k: v for k, v in obs.items() if k != "description"})
        yield dg.MaterializeResult(
            asset_key=asset_key(node),
            metadata=_metadata(outcome, node, dry_run, previous[node.key][0]))
    if errors:
        # Each message names the resource and the request; a traceback adds nothing.
        raise dg.Failure(description="\n".join(errors), allow_retries=False)


def _error_message(node: Node, err: BaseException | None) -> str:
    from platform_assets.engine.reconcile import ReconcileError

    if isinstance(err, ReconcileError | RuntimeError):
        return str(err)
    return f"{node.path}: {type(err).__name__}: {err}"


def _drift_selected(context: dg.AssetExecutionContext, graph: Graph,
                    by_key: dict[dg.AssetKey, Node]) -> Iterator[dg.AssetCheckResult]:
    """The selected ``drift`` checks, after the selected assets were reconciled: observe only."""
    keys = context.selected_asset_check_keys
    if not keys:
        return
    run_graph = _graph_for_run(context, graph)
    selected = [_node(run_graph, by_key[k.asset_key]) for k in keys]
    engine = _engine(context, run_graph)
    engine.expect(selected)
    previous = {key: meta for key, (_, meta) in _previous(context, selected).items()}

    def check(node: Node) -> "ReconcileOutcome":
        return engine.check(node, previous[node.key])

    for node, outcome, err in run_in_order(selected, check):
        yield drift_result(node, outcome, err)


def drift_result(node: Node, outcome: "ReconcileOutcome | None",
                 err: BaseException | None) -> dg.AssetCheckResult:
    """The ``drift`` check result of one node: severity by its drift mode."""
    mode = drift_mode(node.section)
    severity = dg.AssetCheckSeverity.ERROR if mode == "enforce" else dg.AssetCheckSeverity.WARN
    if err is not None:
        return dg.AssetCheckResult(
            asset_key=asset_key(node), check_name="drift", passed=False, severity=severity,
            description=f"could not observe: {err}", metadata={"drift_mode": mode})
    assert outcome is not None, "a node that did not fail has an outcome"
    drifted = outcome.drift
    return dg.AssetCheckResult(
        asset_key=asset_key(node), check_name="drift",
        passed=not drifted and not outcome.orphans, severity=severity,
        description=(f"{len(drifted)} difference(s), {len(outcome.orphans)} orphan(s)"
                     if drifted or outcome.orphans else "matches the spec"),
        metadata={
            "drift_mode": mode,
            "differences": len(drifted),
            "orphan_count": len(outcome.orphans),
            "orphans": dg.MetadataValue.md("\n".join(f"- `{o}`" for o in outcome.orphans)
                                           or "none"),
            "plan": dg.MetadataValue.md(outcome.plan.to_markdown()),
        },
    )
