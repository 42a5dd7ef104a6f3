"""One tick of the alertmanager_alerts sensor (``sensors/alertmanager_alerts.py`` defines it):
remediate active alerts through the spec's rules, within a budget. Imported by the tick, not
when the code location loads.

Each tick reads the active, unsilenced alerts once, lets the pure core
(``platform_assets.core.remediation``) decide per alert, and turns the decisions into run
requests (``run_key`` = fingerprint and start time), escalation alerts posted back to
Alertmanager, or log lines (dry run, held by a guardrail, malformed alerts). The guardrail state
(dedupe keys, remediation times per target, open circuits, remediations awaiting verification)
lives in the cursor as bounded JSON.

After a remediation run succeeds, a later tick requests the affected asset's checks, so a fix is
verified, not assumed; a failed remediation run is escalated.
"""


from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg

from jobs.certificates import run_config_for as certificate_run_config
from jobs.remediation import ExpandConfig, WorkloadConfig, run_config_for
from platform_assets.core.graph import (
    KEY_CLUSTER,
    KEY_MARIADB,
    Graph,
    backup_key,
    certificate_key,
    component_key,
)
from platform_assets.names import (
    ACTION_JOBS,
    ALERT_CLUSTER_LABEL,
    ALERT_ENVIRONMENT_LABEL,
    RECONCILE_JOB,
    RENEW_CERTIFICATE_JOB,
    SNAPSHOT_JOB,
    TAG_ALERT,
    TAG_CERTIFICATE,
    TAG_ENVIRONMENT,
    TAG_REMEDIATION_KEY,
    TAG_RULE,
    TAG_TARGET,
    TAG_VERIFIES,
    VERIFY_JOB_BY_GROUP,
    scoped,
)
from resources.alertmanager import AlertmanagerResource, AlertmanagerUnavailable

if TYPE_CHECKING:
    # The pure core that decides is imported when a tick decides, after Alertmanager answered.
    from platform_assets.core.remediation import Decision, RemediationState

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Key = tuple[str, ...]

def target_asset(graph: Graph, d: Decision) -> Key | None:
    """The asset a decision affects (whose checks verify the remediation)."""
    from platform_assets.core.remediation import rule_component

    target = d.target or ""
    action = d.rule.action
    if action == "renew_certificate":
        key = certificate_key(target)
    elif action == "rerun_backup":
        key = backup_key(target)
    elif d.located is not None:
        # The component the located object belongs to (its namespace's, for label-chosen ones).
        component = rule_component(graph.spec, d.rule) or next(
            (c for c in graph.spec.components if c.namespace == d.located.namespace), None)
        key = component_key(graph.spec.layer_of(component.name), component.name) \
            if component else ()
    elif target == "cluster":
        key = KEY_CLUSTER
    elif target == "mariadb":
        key = KEY_MARIADB
    else:
        key = component_key(graph.spec.layer_of(target), target)
    key = graph.scoped(key) if key else key
    return key if key in graph.nodes else None


Request = dg.RunRequest | str
Tags = dict[str, str]


def _reconcile(graph: Graph, d: Decision, tags: Tags, now: datetime) -> Request:
    key = target_asset(graph, d)
    if key is None:
        return f"no reconciled asset named {d.target!r}"
    return dg.RunRequest(run_key=d.run_key, job_name=scoped(RECONCILE_JOB, graph.environment),
                         tags=tags, asset_selection=[dg.AssetKey(list(key))])


def _rerun_backup(graph: Graph, d: Decision, tags: Tags, now: datetime) -> Request:
    key = target_asset(graph, d)
    if key is None:
        return f"no backup target named {d.target!r}"
    from platform_assets.core.remediation import previous_partition

    labels = d.alert.labels
    partition = labels.get("partition") or labels.get("date") or previous_partition(now)
    start = graph.spec.backups.start_date if graph.spec.backups else "0000-00-00"
    if not _DAY.match(partition) or not start <= partition <= previous_partition(now):
        # An unknown partition key would fail the whole tick; refuse this one alone.
        return (f"partition {partition!r} is not a daily partition between {start} and "
                f"{previous_partition(now)}")
    return dg.RunRequest(run_key=d.run_key, job_name=scoped(SNAPSHOT_JOB, graph.environment),
                         tags=tags, partition_key=partition,
                         asset_selection=[dg.AssetKey(list(key))])


def _renew_certificate(graph: Graph, d: Decision, tags: Tags, now: datetime) -> Request:
    if target_asset(graph, d) is None:
        return f"no certificate named {d.target!r}"
    return dg.RunRequest(run_key=d.run_key,
                         job_name=scoped(RENEW_CERTIFICATE_JOB, graph.environment),
                         run_config=certificate_run_config(certificate=d.target or "",
                                                           environment=graph.environment),
                         tags={**tags, TAG_CERTIFICATE: d.target or ""})


def _on_cluster_object(graph: Graph, d: Decision, tags: Tags, now: datetime) -> Request:
    where = d.located
    if where is None:
        return "no object located for the alert"
    owners = [dict(s) for s in where.owner_labels]
    config: WorkloadConfig | ExpandConfig
    if d.rule.action == "expand_pvc":
        config = ExpandConfig(namespace=where.namespace, name=where.name,
                              expand_by=str(d.rule.expand_by), owner_labels=owners)
    else:
        config = WorkloadConfig(namespace=where.namespace, name=where.name, kind=where.kind,
                                owner_labels=owners)
    return dg.RunRequest(run_key=d.run_key,
                         job_name=scoped(ACTION_JOBS[d.rule.action], graph.environment),
                         tags=tags, run_config=run_config_for(config))


# How each action becomes a run (``escalate`` never launches one).
RUN_BUILDERS: dict[str, Callable[[Graph, Decision, Tags, datetime], Request]] = {
    "reconcile": _reconcile,
    "rerun_backup": _rerun_backup,
    "renew_certificate": _renew_certificate,
    "restart_rollout": _on_cluster_object,
    "expand_pvc": _on_cluster_object,
}


def run_request_for(graph: Graph, d: Decision, now: datetime) -> Request:
    """The run that carries out a remediation, or why none can be made."""
    build = RUN_BUILDERS.get(d.rule.action)
    if build is None:
        return f"unknown action {d.rule.action!r}"
    tags = {TAG_REMEDIATION_KEY: d.run_key, TAG_RULE: d.rule.name,
            TAG_TARGET: d.target or "", TAG_ALERT: d.alert.name}
    if graph.environment is not None:
        tags[TAG_ENVIRONMENT] = graph.environment
    return build(graph, d, tags, now)


def _check_keys_of(context: dg.SensorEvaluationContext, key: Key) -> list[dg.AssetCheckKey]:
    repo = context.repository_def
    if repo is None:
        return []
    return sorted((ck for ck in repo.asset_graph.asset_check_keys
                   if tuple(ck.asset_key.path) == key), key=lambda ck: ck.name)


def _verify(context: dg.SensorEvaluationContext, state: RemediationState,
            graph: Graph, now: datetime) -> tuple[list[dg.RunRequest], list[dict[str, Any]]]:
    """Verification runs for finished remediations; escalations for failed ones."""
    runs: list[dg.RunRequest] = []
    escalations: list[dict[str, Any]] = []
    if not state.pending_verify:
        return runs, escalations
    try:
        instance = context.instance
    except Exception:  # noqa: BLE001 - built without an instance (tests): nothing to look up
        return runs, escalations
    for key, item in list(state.pending_verify.items()):
        found = instance.get_runs(filters=dg.RunsFilter(tags={TAG_REMEDIATION_KEY: key}), limit=1)
        if not found:
            continue
        status = found[0].status
        if status == dg.DagsterRunStatus.SUCCESS:
            asset = tuple(item["asset"])
            checks = _check_keys_of(context, asset)
            group = graph.nodes[asset].group if asset in graph.nodes else "platform"
            if checks:
                runs.append(dg.RunRequest(
                    run_key=f"verify:{key}",
                    job_name=scoped(VERIFY_JOB_BY_GROUP[group], graph.environment),
                    asset_selection=[], asset_check_keys=checks,
                    tags={TAG_VERIFIES: key}))
            else:
                context.log.info(f"remediation {key} succeeded; {'/'.join(asset)} has no checks")
            del state.pending_verify[key]
        elif status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            escalations.append({
                "labels": {"alertname": "PlatformRemediationEscalated", "severity": "critical",
                           "rule": str(item.get("rule", "")), "target": "/".join(item["asset"])},
                "annotations": {"summary": "A remediation run did not succeed",
                                "description": f"run {found[0].run_id} ended {status.value}"},
                "startsAt": now.isoformat().replace("+00:00", "Z"),
            })
            del state.pending_verify[key]
    return runs, escalations


@dataclass
class _Tick:
    """What one tick has decided so far: runs to request, alerts to post, lines to log."""

    runs: list[dg.RunRequest] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _remediate(tick: _Tick, graph: Graph, state: RemediationState, d: Decision, now: datetime,
               launchable: Callable[[str], bool] | None, what: str) -> None:
    from platform_assets.core.remediation import escalation_alert

    req = run_request_for(graph, d, now)
    job = scoped(d.job or "", graph.environment)
    if isinstance(req, str) or (launchable and not launchable(job)):
        reason = req if isinstance(req, str) else f"job {job} is not defined here"
        tick.lines.append(f"cannot remediate {what}: {reason}; escalating")
        tick.escalations.append(escalation_alert(d, now) | {"annotations": {
            "summary": f"Remediation of {d.target} impossible", "description": reason}})
        return
    tick.runs.append(req)
    asset = target_asset(graph, d)
    # A reconcile run executes the asset's checks itself; other actions get them after.
    if asset is not None and d.rule.action != "reconcile":
        state.pending_verify[d.run_key] = {"asset": list(asset), "at": now.timestamp(),
                                           "rule": d.rule.name}
    tick.lines.append(f"remediating {what}")


def _handle(context: dg.SensorEvaluationContext, tick: _Tick, graph: Graph,
            state: RemediationState, d: Decision, now: datetime,
            launchable: Callable[[str], bool] | None) -> None:
    from platform_assets.core.remediation import escalation_alert

    what = f"{d.alert.name} [{d.alert.fingerprint}] → {d.rule.action} {d.target or ''}"
    if d.outcome == "remediate":
        _remediate(tick, graph, state, d, now, launchable, what)
    elif d.outcome == "escalate" and graph.spec.remediation.dry_run:
        tick.lines.append(f"dry run: would escalate {what}: {d.reason}")
    elif d.outcome == "escalate":
        tick.escalations.append(escalation_alert(d, now))
        tick.lines.append(f"escalating {what}: {d.reason}")
    elif d.outcome == "dry_run":
        tick.lines.append(f"dry run: would launch {scoped(d.job or '', graph.environment)} "
                          f"for {what}")
    elif d.outcome == "refused":
        tick.lines.append(f"refusing {what}: {d.reason}")
    elif "already escalated" in d.reason:
        context.log.debug(f"holding {what}: {d.reason}")
    else:
        tick.lines.append(f"holding {what}: {d.reason}")


Launchable = Callable[[str], bool] | None


def _plan_environment(context: dg.SensorEvaluationContext, tick: _Tick, graph: Graph,
                      state: RemediationState, alerts: list[Any], now: datetime,
                      launchable: Launchable) -> tuple[int, int]:
    """Verify, decide and turn into runs the alerts of one environment; how many matched one
    of its rules and how many it could not read. In a fleet, what it escalates names the
    environment."""
    from platform_assets.core.remediation import plan_remediations

    first = len(tick.escalations)
    verify_runs, escalations = _verify(context, state, graph, now)
    tick.runs += verify_runs
    tick.escalations += escalations
    plan = plan_remediations(graph.spec, alerts, state, now)
    tick.lines += [f"skipped malformed alert {problem}" for problem in plan.malformed]
    for d in plan.decisions:
        _handle(context, tick, graph, state, d, now, launchable)
    if graph.environment is not None:
        where = {ALERT_ENVIRONMENT_LABEL: graph.environment,
                 ALERT_CLUSTER_LABEL: graph.spec.cluster_name}
        for alert in tick.escalations[first:]:
            alert["labels"] = {**alert["labels"], **where}
    return len(plan.decisions), len(plan.malformed)


def _finish(context: dg.SensorEvaluationContext, alertmanager: AlertmanagerResource,
            tick: _Tick, cursor: str, summary: str) -> Any:
    """Post the escalations, log, keep the cursor; the runs or why there are none."""
    if tick.escalations:
        try:
            alertmanager.post_alerts(tick.escalations)
        except AlertmanagerUnavailable as exc:
            # The escalations are lost with the cursor unchanged; the next tick retries them.
            return dg.SkipReason(f"could not post {len(tick.escalations)} escalation(s), cursor "
                                 f"unchanged: {exc}")
    for line in tick.lines:
        context.log.info(line)
    context.update_cursor(cursor)
    if tick.runs:
        return tick.runs
    detail = "; ".join(tick.lines[:10])
    return dg.SkipReason(summary + (f": {detail}" if detail else ""))


def _read(alertmanager: AlertmanagerResource) -> list[Any] | dg.SkipReason:
    """The active alerts, or why the tick stops here."""
    try:
        return alertmanager.active_alerts()
    except AlertmanagerUnavailable as exc:
        return dg.SkipReason(f"Alertmanager unreachable, cursor unchanged: {exc}")


def evaluate(context: dg.SensorEvaluationContext, alertmanager: AlertmanagerResource,
             graph: Graph, now: datetime | None = None, launchable: Launchable = None) -> Any:
    """One tick of the alertmanager_alerts sensor (see the module docstring). With
    ``remediation.alert_selector``, only the alerts it selects are this platform's."""
    from platform_assets.core.alert_routing import route_alerts
    from platform_assets.core.remediation import RemediationState

    now = now or datetime.now(UTC)
    alerts = _read(alertmanager)
    if isinstance(alerts, dg.SkipReason):
        return alerts
    state = RemediationState.from_cursor(context.cursor)
    mine, unreadable = alerts, []
    if graph.spec.remediation.alert_selector:
        # Alertmanager serves other clusters too: act only on this platform's alerts.
        routing = route_alerts({"": graph.spec.remediation.alert_selector}, alerts)
        mine, unreadable = routing.by_environment[""], routing.malformed
    tick = _Tick(lines=[f"skipped malformed alert {problem}" for problem in unreadable])
    decided, malformed = _plan_environment(context, tick, graph, state, mine, now, launchable)
    return _finish(context, alertmanager, tick, state.to_cursor(),
                   f"{len(alerts)} active alert(s), {decided} matched a rule, "
                   f"{len(tick.escalations)} escalated, {malformed + len(unreadable)} malformed")


def evaluate_fleet(context: dg.SensorEvaluationContext, alertmanager: AlertmanagerResource,
                   graphs: Sequence[Graph], now: datetime | None = None,
                   launchable: Launchable = None) -> Any:
    """One tick of a fleet's alertmanager_alerts sensor: every alert goes to the environment
    whose ``remediation.alert_selector`` it matches (``core.alert_routing``) and is decided
    there, with that environment's rules, budgets, calendar, jobs and cluster; an alert of no
    environment, or of several, is logged once and never acted on."""
    from platform_assets.core.alert_routing import FleetState, alert_selector, route_alerts
    from platform_assets.core.remediation import match_rule

    now = now or datetime.now(UTC)
    alerts = _read(alertmanager)
    if isinstance(alerts, dg.SkipReason):
        return alerts
    fleet = FleetState.from_cursor(context.cursor)
    routing = route_alerts({g.environment or "": alert_selector(g.spec) for g in graphs}, alerts)
    tick = _Tick(lines=[f"skipped malformed alert {problem}" for problem in routing.malformed])
    decided = sum(_plan_environment(context, tick, g, fleet.of(g.environment or ""),
                                    routing.by_environment[g.environment or ""], now,
                                    launchable)[0] for g in graphs)
    for alert, why in routing.unrouted:
        # Only alerts some environment has a rule for are worth a line; each firing once.
        if any(match_rule(g.spec.remediation.rules, alert.labels) for g in graphs) and \
                fleet.first_time(alert, now):
            tick.lines.append(f"skipped {alert.name} [{alert.fingerprint}]: {why}; not "
                              "remediated in any environment")
    return _finish(context, alertmanager, tick,
                   fleet.to_cursor(g.environment or "" for g in graphs),
                   f"{len(alerts)} active alert(s), {decided} matched a rule of their "
                   f"environment, {len(routing.unrouted)} of no single environment, "
                   f"{len(tick.escalations)} escalated, {len(routing.malformed)} malformed")
