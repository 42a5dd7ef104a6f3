"""Alert remediation with guardrails: rule matching, dedupe, cooldown, budget, circuit. Pure.

The alert sensor feeds active Alertmanager alerts (API v2 ``gettableAlert`` dicts) and its cursor
state into :func:`plan_remediations` and gets back what to do. Nothing here talks to Dagster or
the network; ``now`` is always passed in, so tests inject the clock.

Guardrails, in the order they apply to an alert that matches a rule:

1. **Dedupe**: an alert instance (fingerprint + startsAt) is acted on at most once.
2. **Freeze / IONOS maintenance**: no remediation while a change freeze is in force or an IONOS
   maintenance window is open, unless the rule allows it (the alert is retried on later ticks).
3. **Circuit**: when the target's budget (``budget.max`` remediations per ``budget.window``) is
   spent, the circuit is open: the sensor escalates once per window instead of looping.
4. **Cooldown**: a target remediated less than ``cooldown`` ago is left alone (retried later).

The state kept in the cursor is bounded: timestamps outside the longest window are dropped and the
dedupe set is capped at :data:`MAX_SEEN` entries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from platform_assets.core.calendar import active_freeze, active_ionos_maintenance
from platform_assets.names import (
    EXPAND_PVC_JOB,
    RECONCILE_JOB,
    RENEW_CERTIFICATE_JOB,
    RESTART_ROLLOUT_JOB,
    SNAPSHOT_JOB,
)
from platform_assets.spec.models import PlatformSpec, RemediationRule, parse_duration, parse_size

ESCALATION_ALERT = "PlatformRemediationEscalated"
MAX_SEEN = 5000
SEEN_TTL = timedelta(days=2)

# The job each action launches (by name; the jobs live in ``jobs/``).
ACTION_JOBS = {
    "reconcile": RECONCILE_JOB,
    "restart_rollout": RESTART_ROLLOUT_JOB,
    "renew_certificate": RENEW_CERTIFICATE_JOB,
    "rerun_backup": SNAPSHOT_JOB,
    "expand_pvc": EXPAND_PVC_JOB,
}


class MalformedAlert(ValueError):
    """An alert from the API lacks a field we need or has the wrong type."""


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    starts_at: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str = "active"

    @property
    def dedupe_key(self) -> str:
        return f"{self.fingerprint}@{self.starts_at}"

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "?")


def parse_alert(raw: Any) -> Alert:
    """A gettableAlert dict as an :class:`Alert`; raises :class:`MalformedAlert` saying why."""
    if not isinstance(raw, Mapping):
        raise MalformedAlert(f"expected an object, got {type(raw).__name__}")
    labels = raw.get("labels")
    if not isinstance(labels, Mapping) or not labels:
        raise MalformedAlert("labels missing or not an object")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise MalformedAlert("labels must map strings to strings")
    fingerprint = raw.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise MalformedAlert("fingerprint missing")
    starts_at = raw.get("startsAt")
    if not isinstance(starts_at, str) or _parse_time(starts_at) is None:
        raise MalformedAlert(f"startsAt missing or not a timestamp ({starts_at!r})")
    annotations = raw.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        raise MalformedAlert("annotations must be an object")
    status = raw.get("status") or {}
    state = status.get("state", "active") if isinstance(status, Mapping) else "active"
    return Alert(fingerprint, starts_at, dict(labels), {str(k): str(v) for k, v in
                                                      annotations.items()}, str(state))


def describe_raw(raw: Any) -> str:
    """A short name for a (possibly malformed) alert, for messages."""
    if isinstance(raw, Mapping):
        labels = raw.get("labels")
        name = labels.get("alertname") if isinstance(labels, Mapping) else None
        return f"{name or '<no alertname>'} (fingerprint {raw.get('fingerprint') or '?'})"
    return repr(raw)[:80]


def _parse_time(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        # Go writes up to nanoseconds; Python parses microseconds at most.
        m = re.match(r"^(.*\.\d{6})\d*(.*)$", text)
        if not m:
            return None
        try:
            t = datetime.fromisoformat((m[1] + m[2]).replace("Z", "+00:00"))
        except ValueError:
            return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def rule_matches(rule: RemediationRule, labels: Mapping[str, str]) -> bool:
    """Every matcher holds; values starting with ``~`` are anchored regexes (as ``=~``)."""
    for name, want in rule.match.items():
        have = labels.get(name, "")
        if want.startswith("~"):
            if not _regex(want[1:]).fullmatch(have):
                return False
        elif have != want:
            return False
    return True


def match_rule(rules: Iterable[RemediationRule], labels: Mapping[str, str]
               ) -> RemediationRule | None:
    """The first rule whose matchers all hold."""
    return next((r for r in rules if rule_matches(r, labels)), None)


def resolve_target(rule: RemediationRule, labels: Mapping[str, str]) -> str | None:
    """What the rule acts on: its ``target``, else the alert's ``target_label``/``asset`` label."""
    return rule.target or labels.get(rule.target_label) or labels.get("asset")


@dataclass
class RemediationState:
    """What the alert sensor remembers between ticks (serialised as JSON into its cursor)."""

    seen: dict[str, float] = field(default_factory=dict)  # dedupe key -> epoch seconds
    history: dict[str, list[float]] = field(default_factory=dict)  # target -> remediation times
    escalated: dict[str, float] = field(default_factory=dict)  # target -> last escalation
    pending_verify: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> RemediationState:
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls(
            seen=dict(data.get("seen") or {}),
            history={k: list(v) for k, v in (data.get("history") or {}).items()},
            escalated=dict(data.get("escalated") or {}),
            pending_verify=dict(data.get("pending_verify") or {}),
        )

    def to_cursor(self) -> str:
        return json.dumps({"seen": self.seen, "history": self.history,
                           "escalated": self.escalated, "pending_verify": self.pending_verify},
                          separators=(",", ":"), sort_keys=True)

    def prune(self, now: datetime, horizon: timedelta) -> None:
        """Drop what no guardrail can need any more, so the cursor stays bounded."""
        t = now.timestamp()
        keep_after = t - max(horizon, SEEN_TTL).total_seconds()
        self.seen = {k: v for k, v in self.seen.items() if v >= keep_after}
        if len(self.seen) > MAX_SEEN:
            newest = sorted(self.seen.items(), key=lambda kv: kv[1])[-MAX_SEEN:]
            self.seen = dict(newest)
        window_after = t - horizon.total_seconds()
        self.history = {k: [x for x in v if x >= window_after] for k, v in self.history.items()}
        self.history = {k: v for k, v in self.history.items() if v}
        self.escalated = {k: v for k, v in self.escalated.items() if v >= window_after}
        stale = t - timedelta(days=1).total_seconds()
        self.pending_verify = {k: v for k, v in self.pending_verify.items()
                               if float(v.get("at", t)) >= stale}


@dataclass(frozen=True)
class Decision:
    """What to do about one alert.

    ``outcome`` is ``remediate`` (launch ``job``), ``escalate`` (post the escalation alert),
    ``dry_run`` (report only), or ``held`` (a guardrail holds it back; ``reason`` says which).
    """

    alert: Alert
    rule: RemediationRule
    target: str | None
    outcome: str
    reason: str
    job: str | None = None

    @property
    def run_key(self) -> str:
        return f"{self.alert.fingerprint}:{self.alert.starts_at}"

    @property
    def budget_key(self) -> str:
        return f"{self.rule.action}:{self.target}"


@dataclass
class Plan:
    decisions: list[Decision]
    malformed: list[str]
    state: RemediationState

    def by_outcome(self, outcome: str) -> list[Decision]:
        return [d for d in self.decisions if d.outcome == outcome]


def _horizon(rules: Iterable[RemediationRule]) -> timedelta:
    spans = [timedelta(hours=1)]
    for r in rules:
        spans += [parse_duration(r.budget.window), parse_duration(r.cooldown)]
    return max(spans)


def guard(spec: PlatformSpec, rule: RemediationRule, now: datetime) -> str | None:
    """Why the calendar forbids remediating under ``rule`` at ``now`` (None: allowed)."""
    freeze = active_freeze(spec, now)
    if freeze and not rule.allow_in_freeze:
        return f"change freeze {freeze.name} until {freeze.end.isoformat()}"
    windows = active_ionos_maintenance(spec, now)
    if windows and not rule.allow_in_maintenance:
        return f"IONOS maintenance window open for {', '.join(windows)}"
    return None


def plan_remediations(
    spec: PlatformSpec, raw_alerts: Iterable[Any], state: RemediationState, now: datetime
) -> Plan:
    """Decide, for every active alert, whether to remediate, escalate, report or hold.

    ``state`` is updated in place (and returned in the plan) as if every ``remediate`` and
    ``escalate`` decision were carried out.
    """
    rules = spec.remediation.rules
    state.prune(now, _horizon(rules))
    t = now.timestamp()
    decisions: list[Decision] = []
    malformed: list[str] = []
    alerts: list[Alert] = []
    for raw in raw_alerts:
        try:
            alerts.append(parse_alert(raw))
        except MalformedAlert as exc:
            malformed.append(f"{describe_raw(raw)}: {exc}")
    # Oldest first, so budgets go to the alerts that have waited longest; stable across ticks.
    alerts.sort(key=lambda a: (a.starts_at, a.fingerprint))
    for alert in alerts:
        if alert.state != "active" or alert.dedupe_key in state.seen:
            continue
        rule = match_rule(rules, alert.labels)
        if rule is None:
            continue
        target = resolve_target(rule, alert.labels)
        if rule.action == "escalate":
            decisions.append(Decision(alert, rule, target, "escalate",
                                      f"rule {rule.name} escalates {alert.name}"))
            state.seen[alert.dedupe_key] = t
            continue
        if target is None:
            malformed.append(f"{describe_raw(alert.__dict__)}: rule {rule.name} needs label "
                             f"{rule.target_label!r} to find its target")
            continue
        blocked = guard(spec, rule, now)
        if blocked:
            decisions.append(Decision(alert, rule, target, "held", blocked))
            continue
        key = f"{rule.action}:{target}"
        window = parse_duration(rule.budget.window).total_seconds()
        recent = [x for x in state.history.get(key, []) if x > t - window]
        if len(recent) >= rule.budget.max:
            last_escalation = state.escalated.get(key)
            if last_escalation is not None and last_escalation > t - window:
                decisions.append(Decision(alert, rule, target, "held",
                                          f"circuit open for {key}; already escalated"))
                continue
            decisions.append(Decision(
                alert, rule, target, "escalate",
                f"budget spent: {len(recent)} of {rule.budget.max} {rule.action} remediations of "
                f"{target} within {rule.budget.window}; circuit open"))
            if not spec.remediation.dry_run:
                state.escalated[key] = t
            continue
        cooldown = parse_duration(rule.cooldown).total_seconds()
        if recent and recent[-1] > t - cooldown:
            left = int(recent[-1] + cooldown - t)
            decisions.append(Decision(alert, rule, target, "held",
                                      f"cooldown of {rule.cooldown} for {key} ({left}s left)"))
            continue
        if spec.remediation.dry_run:
            decisions.append(Decision(alert, rule, target, "dry_run",
                                      f"dry run: would {rule.action} {target}",
                                      ACTION_JOBS[rule.action]))
            state.seen[alert.dedupe_key] = t
            continue
        decisions.append(Decision(alert, rule, target, "remediate",
                                  f"{alert.name} matched rule {rule.name}",
                                  ACTION_JOBS[rule.action]))
        state.seen[alert.dedupe_key] = t
        state.history.setdefault(key, []).append(t)
    return Plan(decisions, malformed, state)


def escalation_alert(decision: Decision, now: datetime, generator_url: str = "") -> dict[str, Any]:
    """The ``PlatformRemediationEscalated`` alert (a postableAlert) for a decision."""
    labels = {
        "alertname": ESCALATION_ALERT,
        "severity": "critical",
        "rule": decision.rule.name,
        "action": decision.rule.action,
        "target": decision.target or "",
        "source_alertname": decision.alert.name,
    }
    out: dict[str, Any] = {
        "labels": {k: v for k, v in labels.items() if v},
        "annotations": {
            "summary": f"Remediation of {decision.target or decision.alert.name} escalated",
            "description": decision.reason,
            "source_fingerprint": decision.alert.fingerprint,
        },
        "startsAt": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        # Firing while the circuit is open: until the budget window has passed.
        "endsAt": (now + parse_duration(decision.rule.budget.window)).astimezone(UTC)
        .isoformat().replace("+00:00", "Z"),
    }
    if generator_url:
        out["generatorURL"] = generator_url
    return out


def expand_quantity(current: str, by: str) -> str:
    """``current`` plus ``by`` (both Kubernetes quantities), written in Gi when whole."""
    total = parse_size(current) + parse_size(by)
    gib = 1024**3
    return f"{total // gib}Gi" if total % gib == 0 else str(total)


def previous_partition(now: datetime) -> str:
    """The newest complete daily partition (UTC) at ``now``: yesterday's date."""
    return (now.astimezone(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
