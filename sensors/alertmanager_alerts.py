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
)
from platform_assets.names import (
    ALERT_SENSOR,
    AUDIT_CERTIFICATES_JOB,
    RECONCILE_JOB,
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
    labels = d.alert.labels
    action = d.rule.action
    if action == "renew_certificate":
        key = certificate_key(target)
    elif action == "rerun_backup":
        key = backup_key(target)
    elif action == "expand_pvc":
        name = labels.get("component") or next(
            (c.name for c in graph.spec.components if c.namespace == labels.get("namespace")), "")
        key = component_key(graph.spec.layer_of(name), name) if name else ()
    elif target == "cluster":
        key = KEY_CLUSTER
    elif target == "mariadb":
        key = KEY_MARIADB
    else:
        key = component_key(graph.spec.layer_of(target), target)
    return key if key in graph.nodes else None


def run_request_for(graph: Graph, d: Decision, now: datetime) -> dg.RunRequest | str:
    """The run that carries out a remediation, or why none can be made."""
    labels = d.alert.labels
    tags = {TAG_REMEDIATION_KEY: d.run_key, TAG_RULE: d.rule.name,
            TAG_TARGET: d.target or "", TAG_ALERT: d.alert.name}
    action = d.rule.action
    job = ACTION_JOBS[action]
    key = target_asset(graph, d)
    if action == "reconcile":
        if key is None:
            return f"no reconciled asset named {d.target!r}"
        return dg.RunRequest(run_key=d.run_key, job_name=job, tags=tags,
                             asset_selection=[dg.AssetKey(list(key))])
    if action == "rerun_backup":
        if key is None:
            return f"no backup target named {d.target!r}"
        partition = labels.get("partition") or labels.get("date") or previous_partition(now)
        start = graph.spec.backups.start_date if graph.spec.backups else "0000-00-00"
        if not _DAY.match(partition) or not start <= partition <= previous_partition(now):
            # An unknown partition key would fail the whole tick; refuse this one alone.
            return (f"partition {partition!r} is not a daily partition between {start} and "
                    f"{previous_partition(now)}")
        return dg.RunRequest(run_key=d.run_key, job_name=job, tags=tags, partition_key=partition,
                             asset_selection=[dg.AssetKey(list(key))])
    if action == "renew_certificate":
        if key is None:
            return f"no certificate named {d.target!r}"
        tags[TAG_CERTIFICATE] = d.target or ""
        return dg.RunRequest(run_key=d.run_key, job_name=job, tags=tags)
    if action == "restart_rollout":
        name = d.target or ""
        namespace = labels.get("namespace")
        kind = "Deployment"
        for label, k in (("deployment", "Deployment"), ("statefulset", "StatefulSet"),
                         ("daemonset", "DaemonSet")):
            if labels.get(label):
                kind, name = k, labels[label]
                break
        if not namespace:
            try:
                namespace = graph.spec.component(d.target or "").namespace
            except KeyError:
                return f"no namespace for {d.target!r}: the alert lacks a namespace label"
        workload = WorkloadConfig(namespace=namespace, name=name, kind=kind)
        return dg.RunRequest(run_key=d.run_key, job_name=job, tags=tags,
                             run_config=run_config_for(workload))
    if action == "expand_pvc":
        namespace = labels.get("namespace")
        if not namespace:
            return "the alert lacks a namespace label for the PVC"
        expand = ExpandConfig(namespace=namespace, name=d.target or "",
                              expand_by=str(d.rule.expand_by))
        return dg.RunRequest(run_key=d.run_key, job_name=job, tags=tags,
                             run_config=run_config_for(expand))
    return f"unknown action {action!r}"


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
    runs: list[dg.RunRequest] = list(verify_runs)
    lines: list[str] = []
    for problem in plan.malformed:
        lines.append(f"skipped malformed alert {problem}")
    for d in plan.decisions:
        what = f"{d.alert.name} [{d.alert.fingerprint}] → {d.rule.action} {d.target or ''}"
        if d.outcome == "remediate":
            req = run_request_for(graph, d, now)
            if isinstance(req, str) or (launchable and not launchable(d.job or "")):
                reason = req if isinstance(req, str) else f"job {d.job} is not defined here"
                lines.append(f"cannot remediate {what}: {reason}; escalating")
                escalations.append(escalation_alert(d, now) | {"annotations": {
                    "summary": f"Remediation of {d.target} impossible", "description": reason}})
                continue
            runs.append(req)
            asset = target_asset(graph, d)
            # A reconcile run executes the asset's checks itself; other actions get them after.
            if asset is not None and d.rule.action != "reconcile":
                state.pending_verify[d.run_key] = {"asset": list(asset), "at": now.timestamp(),
                                                   "rule": d.rule.name}
            lines.append(f"remediating {what}")
        elif d.outcome == "escalate":
            if graph.spec.remediation.dry_run:
                lines.append(f"dry run: would escalate {what}: {d.reason}")
            else:
                escalations.append(escalation_alert(d, now))
                lines.append(f"escalating {what}: {d.reason}")
        elif d.outcome == "dry_run":
            lines.append(f"dry run: would launch {d.job} for {what}")
        elif "already escalated" in d.reason:
            context.log.debug(f"holding {what}: {d.reason}")
        else:
            lines.append(f"holding {what}: {d.reason}")
    if escalations:
        try:
            alertmanager.post_alerts(escalations)
        except AlertmanagerUnavailable as exc:
            # The escalations are lost with the cursor unchanged; the next tick retries them.
            return dg.SkipReason(f"could not post {len(escalations)} escalation(s), cursor "
                                 f"unchanged: {exc}")
    for line in lines:
        context.log.info(line)
    context.update_cursor(state.to_cursor())
    if runs:
        return runs
    summary = (f"{len(alerts)} active alert(s), {len(plan.decisions)} matched a rule, "
               f"{len(escalations)} escalated, {len(plan.malformed)} malformed")
    detail = "; ".join(lines[:10])
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
