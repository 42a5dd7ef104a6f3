"""alertmanager_alerts: remediate active alerts through the spec's rules, within a budget.

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
from typing import Any

import dagster as dg

from jobs.remediation import ExpandConfig, WorkloadConfig, run_config_for
from platform_assets.core.graph import (
    KEY_CLUSTER,
    KEY_MARIADB,
    Graph,
    backup_key,
    certificate_key,
    component_key,
)
from platform_assets.core.remediation import (
    ACTION_JOBS,
    Decision,
    RemediationState,
    escalation_alert,
    plan_remediations,
    previous_partition,
    rule_component,
)
from platform_assets.names import (
    ALERT_SENSOR,
    AUDIT_CERTIFICATES_JOB,
    RECONCILE_JOB,
    RENEW_CERTIFICATE_JOB,
    SNAPSHOT_JOB,
    TAG_ALERT,
    TAG_CERTIFICATE,
    TAG_REMEDIATION_KEY,
    TAG_RULE,
    TAG_TARGET,
    TAG_VERIFIES,
)
from resources.alertmanager import AlertmanagerResource, AlertmanagerUnavailable

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Key = tuple[str, ...]

# Where the checks that verify an asset run: the job that holds them.
VERIFY_JOB_BY_GROUP = {"infrastructure": RECONCILE_JOB, "platform": RECONCILE_JOB,
                       "applications": RECONCILE_JOB, "backups": SNAPSHOT_JOB,
                       "certificates": AUDIT_CERTIFICATES_JOB}


def target_asset(graph: Graph, d: Decision) -> Key | None:
    """The asset a decision affects (whose checks verify the remediation)."""
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
    return key if key in graph.nodes else None


Request = dg.RunRequest | str
Tags = dict[str, str]


def _reconcile(graph: Graph, d: Decision, tags: Tags, now: datetime) -> Request:
    key = target_asset(graph, d)
    if key is None:
        return f"no reconciled asset named {d.target!r}"
    return dg.RunRequest(run_key=d.run_key, job_name=RECONCILE_JOB, tags=tags,
                         asset_selection=[dg.AssetKey(list(key))])


def _rerun_backup(graph: Graph, d: Decision, tags: Tags, now: datetime) -> Request:
    key = target_asset(graph, d)
    if key is None:
        return f"no backup target named {d.target!r}"
    labels = d.alert.labels
    partition = labels.get("partition") or labels.get("date") or previous_partition(now)
    start = graph.spec.backups.start_date if graph.spec.backups else "0000-00-00"
    if not _DAY.match(partition) or not start <= partition <= previous_partition(now):
        # An unknown partition key would fail the whole tick; refuse this one alone.
        return (f"partition {partition!r} is not a daily partition between {start} and "
                f"{previous_partition(now)}")
    return dg.RunRequest(run_key=d.run_key, job_name=SNAPSHOT_JOB, tags=tags,
                         partition_key=partition, asset_selection=[dg.AssetKey(list(key))])


def _renew_certificate(graph: Graph, d: Decision, tags: Tags, now: datetime) -> Request:
    if target_asset(graph, d) is None:
        return f"no certificate named {d.target!r}"
    return dg.RunRequest(run_key=d.run_key, job_name=RENEW_CERTIFICATE_JOB,
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
    return dg.RunRequest(run_key=d.run_key, job_name=ACTION_JOBS[d.rule.action], tags=tags,
                         run_config=run_config_for(config))


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
                    run_key=f"verify:{key}", job_name=VERIFY_JOB_BY_GROUP[group],
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
    req = run_request_for(graph, d, now)
    if isinstance(req, str) or (launchable and not launchable(d.job or "")):
        reason = req if isinstance(req, str) else f"job {d.job} is not defined here"
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
    what = f"{d.alert.name} [{d.alert.fingerprint}] → {d.rule.action} {d.target or ''}"
    if d.outcome == "remediate":
        _remediate(tick, graph, state, d, now, launchable, what)
    elif d.outcome == "escalate" and graph.spec.remediation.dry_run:
        tick.lines.append(f"dry run: would escalate {what}: {d.reason}")
    elif d.outcome == "escalate":
        tick.escalations.append(escalation_alert(d, now))
        tick.lines.append(f"escalating {what}: {d.reason}")
    elif d.outcome == "dry_run":
        tick.lines.append(f"dry run: would launch {d.job} for {what}")
    elif d.outcome == "refused":
        tick.lines.append(f"refusing {what}: {d.reason}")
    elif "already escalated" in d.reason:
        context.log.debug(f"holding {what}: {d.reason}")
    else:
        tick.lines.append(f"holding {what}: {d.reason}")


def evaluate(context: dg.SensorEvaluationContext, alertmanager: AlertmanagerResource,
             graph: Graph, now: datetime | None = None,
             launchable: Callable[[str], bool] | None = None) -> Any:
    """One tick of the alertmanager_alerts sensor (see the module docstring)."""
    now = now or datetime.now(UTC)
    try:
        alerts = alertmanager.active_alerts()
    except AlertmanagerUnavailable as exc:
        return dg.SkipReason(f"Alertmanager unreachable, cursor unchanged: {exc}")
    state = RemediationState.from_cursor(context.cursor)
    verify_runs, escalations = _verify(context, state, graph, now)
    plan = plan_remediations(graph.spec, alerts, state, now)
    tick = _Tick(runs=list(verify_runs), escalations=escalations,
                 lines=[f"skipped malformed alert {problem}" for problem in plan.malformed])
    for d in plan.decisions:
        _handle(context, tick, graph, state, d, now, launchable)
    if tick.escalations:
        try:
            alertmanager.post_alerts(tick.escalations)
        except AlertmanagerUnavailable as exc:
            # The escalations are lost with the cursor unchanged; the next tick retries them.
            return dg.SkipReason(f"could not post {len(tick.escalations)} escalation(s), cursor "
                                 f"unchanged: {exc}")
    for line in tick.lines:
        context.log.info(line)
    context.update_cursor(state.to_cursor())
    if tick.runs:
        return tick.runs
    summary = (f"{len(alerts)} active alert(s), {len(plan.decisions)} matched a rule, "
               f"{len(tick.escalations)} escalated, {len(plan.malformed)} malformed")
    detail = "; ".join(tick.lines[:10])
    return dg.SkipReason(summary + (f": {detail}" if detail else ""))


def build(graph: Graph, jobs: Sequence[Any] | None = None,
          default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED
          ) -> dg.SensorDefinition:
    """The sensor; ``jobs`` are the job definitions it may launch (matched by name)."""
    wanted = set(ACTION_JOBS.values()) | set(VERIFY_JOB_BY_GROUP.values())
    targets = [j for j in (jobs or []) if getattr(j, "name", None) in wanted]
    names = {j.name for j in targets}
    target_args: dict[str, Any] = {"jobs": targets} if targets else {
        "job_name": RECONCILE_JOB}
    if not targets:
        names = {RECONCILE_JOB}

    @dg.sensor(name=ALERT_SENSOR, minimum_interval_seconds=30,
               default_status=default_status, **target_args)
    def alertmanager_alerts(context: dg.SensorEvaluationContext,
                            alertmanager: AlertmanagerResource) -> Any:
        """Remediate active Alertmanager alerts by the spec's rules, within cooldown and budget."""
        return evaluate(context, alertmanager, graph, launchable=names.__contains__)

    return alertmanager_alerts
