"""One tick of the failed_checks sensor (``sensors/failed_checks.py`` defines it): failed asset
checks become Alertmanager alerts, resolved when they pass again. Imported by the tick, not
when the code location loads.

Each tick reads the latest completed evaluation of every check the code location defines, lets
``platform_assets.core.check_alerts`` decide what to fire, re-send or resolve, and posts that in
one request. The cursor holds the firing alerts (their labels), so a check failing every hour is
one alert and a check that passes again resolves exactly the alert it raised.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.core.graph import Graph
from resources.alertmanager import AlertmanagerResource, AlertmanagerUnavailable

if TYPE_CHECKING:
    from platform_assets.core.check_alerts import AlertPolicy, CheckOutcome, Severity


def policy_of(graph: Graph) -> AlertPolicy:
    from platform_assets.core.check_alerts import AlertPolicy

    spec = graph.spec
    return AlertPolicy(environment=spec.alerts.environment or spec.metadata.name,
                       warn=frozenset(spec.alerts.warn))


def _summary(evaluation: Any) -> str:
    meta = {k: getattr(v, "value", v) for k, v in (evaluation.metadata or {}).items()}
    for key in ("summary", "reasons", "problems"):
        if meta.get(key) not in (None, "", "none"):
            return str(meta[key])
    return str(evaluation.description or "")


def latest_outcomes(instance: dg.DagsterInstance,
                    keys: Iterable[dg.AssetCheckKey]) -> list[CheckOutcome]:
    """The latest completed evaluation of each check (checks never evaluated are left out)."""
    from platform_assets.core.check_alerts import CheckOutcome

    records = instance.event_log_storage.get_asset_check_summary_records(list(keys))
    out = []
    for key, summary in records.items():
        record = summary.last_completed_check_execution_record if summary else None
        evaluation = record.evaluation if record else None
        if record is None or evaluation is None:
            continue
        severity: Severity = ("WARN" if evaluation.severity == dg.AssetCheckSeverity.WARN
                              else "ERROR")
        out.append(CheckOutcome(asset=key.asset_key.to_user_string(), check=key.name,
                                passed=bool(evaluation.passed), severity=severity,
                                run_id=record.run_id, summary=_summary(evaluation)))
    return out


def _check_keys(context: dg.SensorEvaluationContext) -> list[dg.AssetCheckKey]:
    return sorted(context.repository_def.asset_graph.asset_check_keys,  # type: ignore[union-attr]
                  key=lambda k: (k.asset_key.to_user_string(), k.name))


def evaluate(context: dg.SensorEvaluationContext, alertmanager: AlertmanagerResource,
             graph: Graph, owners: Mapping[str, tuple[str, ...]]) -> dg.SkipReason:
    """One tick: post what changed since the cursor's firing alerts; never starts a run."""
    from platform_assets.core.check_alerts import AlertState, plan_check_alerts

    policy = policy_of(graph)
    keys = _check_keys(context)
    state = AlertState.from_cursor(context.cursor)
    web = os.environ.get("DAGSTER_WEBSERVER_URL", "").rstrip("/")
    plan = plan_check_alerts(
        latest_outcomes(context.instance, keys),
        [f"{k.asset_key.to_user_string()}:{k.name}" for k in keys], state, policy, owners,
        datetime.now(UTC), (lambda run_id: f"{web}/runs/{run_id}") if web else
        (lambda run_id: ""))
    if plan.alerts:
        try:
            alertmanager.post_alerts(plan.alerts)
        except AlertmanagerUnavailable as exc:
            # The cursor stays: the next tick posts the same decisions again.
            return dg.SkipReason(f"Alertmanager unreachable, cursor unchanged: {exc}")
    context.update_cursor(plan.state.to_cursor())
    for key in plan.fired:
        context.log.info(f"alert fired: {key}")
    for key in plan.resolved:
        context.log.info(f"alert resolved: {key}")
    return dg.SkipReason(
        f"{len(plan.state.firing)} check alert(s) firing; {len(plan.fired)} new, "
        f"{len(plan.resolved)} resolved, {len(plan.alerts)} posted (this sensor starts "
        "no runs)")
