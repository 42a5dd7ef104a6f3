"""Alert remediation with guardrails: rule matching, dedupe, cooldown, budget, circuit. Pure.

The alert sensor feeds active Alertmanager alerts (API v2 ``gettableAlert`` dicts) and its cursor
state into :func:`plan_remediations` and gets back what to do. Nothing here talks to Dagster or
the network; ``now`` is always passed in, so tests inject the clock.

Guardrails, in the order they apply to an alert that matches a rule:

1. **Dedupe**: an alert instance (fingerprint + startsAt) is acted on at most once.
2. **Freeze / IONOS maintenance**: no remediation while a change freeze is in force or an IONOS
   maintenance window is open, unless the rule allows it (the alert is retried on later ticks).
0. **Bounds**: an object the alert's labels choose (a PVC, a workload) must be in the namespace
   of the rule's component and, checked by the job on the live object, carry its labels; a
   rule's fixed ``target`` is never overridden by labels. Anything else is refused.
3. **Circuit**: when the target's budget (``budget.max`` remediations per ``budget.window``) or
   the rule's budget across all its targets (``rule_budget``, default ``budget``) is spent, the
   circuit is open: the sensor escalates once per window instead of looping.
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
from fractions import Fraction
from functools import lru_cache
from typing import Any

from platform_assets.core.calendar import active_freeze, active_ionos_maintenance
from platform_assets.core.diff import quantity_value
from platform_assets.names import (
    ACTION_JOBS,
    FIELD_MANAGER,
    FLUX_NAMESPACE,
    LABEL_COMPONENT,
    LABEL_HELM_RELEASE_NAME,
    LABEL_HELM_RELEASE_NAMESPACE,
    LABEL_KUSTOMIZATION_NAME,
    LABEL_KUSTOMIZATION_NAMESPACE,
    LABEL_MANAGED_BY,
)
from platform_assets.spec.models import (
    Component,
    PlatformSpec,
    RemediationRule,
    parse_duration,
    parse_size,
)

ESCALATION_ALERT = "PlatformRemediationEscalated"
# Budget keys of whole rules in the cursor's history (targets' keys are ``<action>:<target>``).
RULE_BUDGET_PREFIX = "rule:"
# Actions on a cluster object the alert may name (the rest act on assets of the spec).
CLUSTER_ACTIONS = frozenset({"restart_rollout", "expand_pvc"})
MAX_SEEN = 5000
SEEN_TTL = timedelta(days=2)

class MalformedAlert(ValueError):
    """An alert from the API lacks a field we need or has the wrong type."""


@dataclass(frozen=True)
class Alert:
    """An Alertmanager alert as the sensor reads it; labels are untrusted input."""
    fingerprint: str
    starts_at: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str = "active"

    @property
    def dedupe_key(self) -> str:
        """One key per firing: a new ``startsAt`` after a resolve is a new firing."""
        return f"{self.fingerprint}@{self.starts_at}"

    @property
    def name(self) -> str:
        """The alert's ``alertname`` label (``?`` when it has none)."""
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
    """Every matcher of the rule holds (:func:`labels_match`)."""
    return labels_match(rule.match, labels)


def labels_match(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every matcher holds; values starting with ``~`` are anchored regexes (as ``=~``)."""
    for name, want in matchers.items():
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
        """The state a sensor cursor holds; a fresh state for none or an unreadable one."""
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        try:
            return cls(
                seen=dict(data.get("seen") or {}),
                history={k: list(v) for k, v in (data.get("history") or {}).items()},
                escalated=dict(data.get("escalated") or {}),
                pending_verify=dict(data.get("pending_verify") or {}),
            )
        except (TypeError, ValueError, AttributeError):  # a hand-set cursor of another shape
            return cls()

    def to_cursor(self) -> str:
        """The state as a sensor cursor (compact, sorted JSON)."""
        return json.dumps({"seen": self.seen, "history": self.history,
                           "escalated": self.escalated, "pending_verify": self.pending_verify},
                          separators=(",", ":"), sort_keys=True)

    def prune(self, now: datetime, horizon: timedelta) -> None:
        """Drop what no guardrail can need any more, so the cursor stays bounded."""
        t = now.timestamp()
        self.seen = prune_seen(self.seen, now, horizon)
        window_after = t - horizon.total_seconds()
        self.history = {k: [x for x in v if x >= window_after] for k, v in self.history.items()}
        self.history = {k: v for k, v in self.history.items() if v}
        self.escalated = {k: v for k, v in self.escalated.items() if v >= window_after}
        stale = t - timedelta(days=1).total_seconds()
        self.pending_verify = {k: v for k, v in self.pending_verify.items()
                               if float(v.get("at", t)) >= stale}


def prune_seen(seen: Mapping[str, float], now: datetime,
               horizon: timedelta = SEEN_TTL) -> dict[str, float]:
    """The dedupe keys of ``seen`` still needed at ``now``: at most :data:`MAX_SEEN`, none older
    than ``horizon`` or :data:`SEEN_TTL`, whichever is longer."""
    keep_after = now.timestamp() - max(horizon, SEEN_TTL).total_seconds()
    kept = {k: v for k, v in seen.items() if v >= keep_after}
    if len(kept) > MAX_SEEN:
        kept = dict(sorted(kept.items(), key=lambda kv: kv[1])[-MAX_SEEN:])
    return kept


@dataclass(frozen=True)
class Decision:
    """What to do about one alert.

    ``outcome`` is ``remediate`` (launch ``job``), ``escalate`` (post the escalation alert),
    ``dry_run`` (report only), ``held`` (a guardrail holds it back; ``reason`` says which), or
    ``refused`` (the alert's labels name an object outside the rule's component; never retried).
    """

    alert: Alert
    rule: RemediationRule
    target: str | None
    outcome: str
    reason: str
    job: str | None = None
    located: Located | None = None
    # The budget whose spent circuit this escalation opens (None: a rule that escalates).
    escalation_key: str | None = None

    @property
    def run_key(self) -> str:
        """The run key of the remediation: the alert's fingerprint and start."""
        return f"{self.alert.fingerprint}:{self.alert.starts_at}"

    @property
    def budget_key(self) -> str:
        """The per-target budget's key (action and target); the per-rule budget counts across
        targets."""
        return f"{self.rule.action}:{self.target}"


@dataclass
class Plan:
    """What the sensor does with this batch of alerts, the alerts it could not read, and the state
    to keep."""
    decisions: list[Decision]
    malformed: list[str]
    state: RemediationState

    def by_outcome(self, outcome: str) -> list[Decision]:
        """The decisions with ``outcome``."""
        return [d for d in self.decisions if d.outcome == outcome]


def _horizon(rules: Iterable[RemediationRule]) -> timedelta:
    spans = [timedelta(hours=1)]
    for r in rules:
        spans += [parse_duration(r.budget.window), parse_duration(r.cooldown)]
        if r.rule_budget:
            spans.append(parse_duration(r.rule_budget.window))
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
    state.prune(now, _horizon(spec.remediation.rules))
    alerts, malformed = _parse_all(raw_alerts)
    decisions: list[Decision] = []
    # Oldest first, so budgets go to the alerts that have waited longest; stable across ticks.
    for alert in sorted(alerts, key=lambda a: (a.starts_at, a.fingerprint)):
        if alert.state != "active" or alert.dedupe_key in state.seen:
            continue
        rule = match_rule(spec.remediation.rules, alert.labels)
        if rule is None:
            continue
        target = resolve_target(rule, alert.labels)
        if rule.action != "escalate" and target is None:
            malformed.append(f"{describe_raw(alert.__dict__)}: rule {rule.name} needs label "
                             f"{rule.target_label!r} to find its target")
            continue
        decision = _decide(spec, rule, alert, target, state, now)
        decisions.append(decision)
        _record(spec, decision, state, now.timestamp())
    return Plan(decisions, malformed, state)


def _parse_all(raw_alerts: Iterable[Any]) -> tuple[list[Alert], list[str]]:
    alerts: list[Alert] = []
    malformed: list[str] = []
    for raw in raw_alerts:
        try:
            alerts.append(parse_alert(raw))
        except MalformedAlert as exc:
            malformed.append(f"{describe_raw(raw)}: {exc}")
    return alerts, malformed


def _decide(spec: PlatformSpec, rule: RemediationRule, alert: Alert, target: str | None,
            state: RemediationState, now: datetime) -> Decision:
    """The decision for one matched alert, guardrail by guardrail (state is not changed)."""
    if rule.action == "escalate":
        return Decision(alert, rule, target, "escalate",
                        f"rule {rule.name} escalates {alert.name}")
    located: Located | None = None
    if rule.action in CLUSTER_ACTIONS:
        found = locate(spec, rule, alert.labels)
        if isinstance(found, str):
            return Decision(alert, rule, target, "refused", found)
        located = found
    blocked = guard(spec, rule, now)
    if blocked:
        return Decision(alert, rule, target, "held", blocked)
    spent = _spent_budget(rule, target, state, now)
    if spent:
        key, reason, window = spent
        last_escalation = state.escalated.get(key)
        if last_escalation is not None and last_escalation > now.timestamp() - window:
            return Decision(alert, rule, target, "held",
                            f"circuit open for {key}; already escalated", escalation_key=key)
        return Decision(alert, rule, target, "escalate", reason, escalation_key=key)
    cooling = _cooling_down(rule, target, state, now)
    if cooling:
        return Decision(alert, rule, target, "held", cooling)
    if spec.remediation.dry_run:
        return Decision(alert, rule, target, "dry_run", f"dry run: would {rule.action} {target}",
                        ACTION_JOBS[rule.action], located=located)
    return Decision(alert, rule, target, "remediate", f"{alert.name} matched rule {rule.name}",
                    ACTION_JOBS[rule.action], located=located)


def _recent(state: RemediationState, key: str, window: timedelta, now: datetime) -> list[float]:
    after = now.timestamp() - window.total_seconds()
    return [x for x in state.history.get(key, []) if x > after]


def _spent_budget(rule: RemediationRule, target: str | None, state: RemediationState,
                  now: datetime) -> tuple[str, str, float] | None:
    """(budget key, reason, window in seconds) of the first spent budget: the target's, then
    the rule's across all targets (so alerts naming many targets cannot multiply it)."""
    rule_budget = rule.rule_budget or rule.budget
    for key, budget, what in (
            (f"{rule.action}:{target}", rule.budget, f"of {target}"),
            (f"{RULE_BUDGET_PREFIX}{rule.name}", rule_budget, f"under rule {rule.name}")):
        window = parse_duration(budget.window)
        recent = _recent(state, key, window, now)
        if len(recent) >= budget.max:
            return key, (f"budget spent: {len(recent)} of {budget.max} {rule.action} "
                         f"remediations {what} within {budget.window}; circuit open"), \
                window.total_seconds()
    return None


def _cooling_down(rule: RemediationRule, target: str | None, state: RemediationState,
                  now: datetime) -> str | None:
    key = f"{rule.action}:{target}"
    cooldown = parse_duration(rule.cooldown)
    recent = _recent(state, key, cooldown, now)
    if not recent:
        return None
    left = int(recent[-1] + cooldown.total_seconds() - now.timestamp())
    return f"cooldown of {rule.cooldown} for {key} ({left}s left)"


def _record(spec: PlatformSpec, d: Decision, state: RemediationState, t: float) -> None:
    """What carrying out ``d`` changes in the guardrail state."""
    if d.outcome in ("remediate", "dry_run", "refused") or (
            d.outcome == "escalate" and d.escalation_key is None):
        state.seen[d.alert.dedupe_key] = t
    if d.outcome == "escalate" and d.escalation_key and not spec.remediation.dry_run:
        state.escalated[d.escalation_key] = t
    if d.outcome == "remediate":
        state.history.setdefault(d.budget_key, []).append(t)
        state.history.setdefault(f"{RULE_BUDGET_PREFIX}{d.rule.name}", []).append(t)


@dataclass(frozen=True)
class Located:
    """The cluster object a remediation acts on, and the label sets that prove it belongs to
    the rule's component (empty when the spec itself names the object)."""

    kind: str
    namespace: str
    name: str
    owner_labels: tuple[tuple[tuple[str, str], ...], ...] = ()

    def owned(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with ``labels`` may be acted on."""
        if not self.owner_labels:
            return True
        return any(all(labels.get(k) == v for k, v in want) for want in self.owner_labels)


def ownership_labels(component: Component) -> tuple[tuple[tuple[str, str], ...], ...]:
    """The label sets that mark an object as the component's: ours (``core.desired`` puts them
    on every object it applies), or the origin labels Flux adds to what it installs for the
    component (helm-controller since fluxcd/helm-controller#238; kustomize-controller)."""
    ours = ((LABEL_MANAGED_BY, FIELD_MANAGER), (LABEL_COMPONENT, component.name))
    out = [ours]
    if component.source.helm_release:
        out.append(((LABEL_HELM_RELEASE_NAME, component.name),
                    (LABEL_HELM_RELEASE_NAMESPACE, component.namespace)))
    if component.source.kustomization:
        out.append(((LABEL_KUSTOMIZATION_NAME, component.name),
                    (LABEL_KUSTOMIZATION_NAMESPACE, FLUX_NAMESPACE)))
    return tuple(out)


def rule_component(spec: PlatformSpec, rule: RemediationRule) -> Component | None:
    """The component a rule is bounded to: ``component``, else ``target`` if it names one."""
    name = rule.component or rule.target
    return next((c for c in spec.components if c.name == name), None)


_WORKLOAD_LABELS = (("deployment", "Deployment"), ("statefulset", "StatefulSet"),
                    ("daemonset", "DaemonSet"))


def locate(spec: PlatformSpec, rule: RemediationRule,
           labels: Mapping[str, str]) -> Located | str:
    """The object a ``restart_rollout`` or ``expand_pvc`` rule acts on, or why the alert's
    labels may not choose it.

    A rule with a fixed ``target`` acts on that component's Deployment in its namespace; the
    alert's labels cannot change either. Otherwise the labels choose the object, and it is
    accepted only in the namespace of the rule's component (or, for a rule bounded to none, of
    a component of the spec), and, when the job reads it, only with that component's labels.
    """
    component = rule_component(spec, rule)
    if rule.action == "restart_rollout" and rule.target and component:
        return Located("Deployment", component.namespace, component.name)
    kind, name = "PersistentVolumeClaim", labels.get(rule.target_label, "")
    if rule.action == "restart_rollout":
        kind, name = next(((k, labels[lbl]) for lbl, k in _WORKLOAD_LABELS if labels.get(lbl)),
                          ("Deployment", name))
    namespace = labels.get("namespace", "")
    if not (name and namespace):
        return f"the alert lacks the namespace or object name labels for its {kind}"
    owners = [component] if component else [c for c in spec.components
                                            if c.namespace == namespace]
    if not owners or any(c.namespace != namespace for c in owners):
        bound = (f"component {component.name}'s namespace {component.namespace!r}" if component
                 else "a namespace of a component of the spec")
        return f"{kind} {namespace}/{name} is outside {bound}; refused"
    return Located(kind, namespace, name,
                   tuple(s for c in owners for s in ownership_labels(c)))


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
    """``current`` (a Kubernetes quantity) plus ``by`` (a spec size), written in Gi when whole,
    else in bytes (rounded up)."""
    total = -(-_quantity(current) // 1) + parse_size(by)
    gib = 1024**3
    return f"{total // gib}Gi" if total % gib == 0 else str(total)


def _quantity(text: str | None) -> Fraction:
    return quantity_value(text) or Fraction(0)


# A claim's resize under way (k8s.io/api core/v1 types.go, Kubernetes 1.32 with
# RecoverVolumeExpansionFailure): these conditions while True, and any entry of
# ``status.allocatedResourceStatuses`` (ControllerResizeInProgress, NodeResizePending,
# NodeResizeInProgress, and the Infeasible ones of a resize that failed).
RESIZING = "Resizing"
FS_RESIZE_PENDING = "FileSystemResizePending"


@dataclass(frozen=True)
class ClaimSize:
    """A claim's storage as the API server reports it: ``request`` (spec), ``capacity`` (what
    its volume's filesystem has: ``status.capacity``), ``allocated`` (the size a resize grows
    to: ``status.allocatedResources``) and that resize's ``states`` (its True conditions and
    its ``allocatedResourceStatuses`` entry)."""

    request: str
    capacity: str
    allocated: str | None = None
    states: tuple[str, ...] = ()

    def in_progress(self) -> bool:
        """A resize is under way: asked for (request above capacity) or reported."""
        return bool(self.states) or _quantity(self.request) > _quantity(self.capacity)

    def describe(self) -> str:
        parts = [f"spec.resources.requests.storage {self.request}",
                 f"status.capacity {self.capacity}"]
        if self.allocated is not None:
            parts.append(f"status.allocatedResources {self.allocated}")
        return ", ".join(parts + list(self.states))


def claim_size(pvc: Mapping[str, Any]) -> ClaimSize | str:
    """The claim's :class:`ClaimSize`, or what it lacks."""
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    request = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    capacity = (status.get("capacity") or {}).get("storage")
    if quantity_value(request) is None:
        return f"its spec.resources.requests.storage is {request!r}, not a quantity"
    if quantity_value(capacity) is None:
        return (f"its status.capacity.storage is {capacity!r}, not a quantity: the volume's "
                "size is unknown, so there is nothing to grow it from")
    states = tuple(str(c.get("type")) for c in status.get("conditions") or []
                   if c.get("type") in (RESIZING, FS_RESIZE_PENDING)
                   and c.get("status") == "True")
    state = (status.get("allocatedResourceStatuses") or {}).get("storage")
    allocated = (status.get("allocatedResources") or {}).get("storage")
    return ClaimSize(str(request), str(capacity), str(allocated) if allocated else None,
                     states + ((str(state),) if state else ()))


@dataclass(frozen=True)
class Expansion:
    """What ``expand_pvc`` does to a claim: set its request to ``target`` (``grow``), or, when
    that resize is already under way (an earlier run's), only wait for it."""

    grow: bool
    current: str
    target: str


def plan_expansion(size: ClaimSize, by: str) -> Expansion | str:
    """Grow from what the volume has (``status.capacity``), never from the request: a second
    alert while a resize runs would otherwise grow it twice. A resize to the same target (the
    request already there: a rerun of a run that patched and was stopped) is waited for; any
    other resize under way is a refusal naming its sizes."""
    target = expand_quantity(size.capacity, by)
    if not size.in_progress():
        return Expansion(True, size.capacity, target)
    if _quantity(size.request) == _quantity(target):
        return Expansion(False, size.capacity, target)
    return (f"a resize is already in progress ({size.describe()}); growing it again by {by} "
            "now would stack on it: let it finish (status.capacity reaching the request), "
            "then expand again if the volume still fills up")


def expansion_finished(size: ClaimSize, target: str) -> bool:
    """The volume's filesystem has the target size and no resize is reported any more."""
    return _quantity(size.capacity) >= _quantity(target) and not size.states


def claim_mounters(name: str, pods: Iterable[Mapping[str, Any]]) -> list[str]:
    """The running pods (not being deleted) that mount the claim ``name`` of their namespace:
    the kubelet grows a filesystem only on a node where one of them runs."""
    return sorted(str(p["metadata"]["name"]) for p in pods
                  if (p.get("status") or {}).get("phase") == "Running"
                  and not p["metadata"].get("deletionTimestamp")
                  and any(((v or {}).get("persistentVolumeClaim") or {}).get("claimName") == name
                          for v in (p.get("spec") or {}).get("volumes") or []))


def expansion_stalled(size: ClaimSize, target: str, mounters: list[str] | None) -> str:
    """Why the claim's capacity has not reached ``target`` yet, and what to do; ``mounters``
    is None when the pods could not be read."""
    seen = f"status.capacity is {size.capacity}, not {target} ({size.describe()})"
    if FS_RESIZE_PENDING in size.states or "NodeResizePending" in size.states:
        if mounters is None:
            return (f"{seen}: the volume has grown, its filesystem not yet "
                    f"({FS_RESIZE_PENDING}); the kubelet grows it only while a pod that mounts "
                    "the claim runs: restart or start a pod that mounts it")
        if not mounters:
            return (f"{seen}: the volume has grown, its filesystem not yet "
                    f"({FS_RESIZE_PENDING}); the kubelet grows it only while a pod that mounts "
                    "the claim runs, and none does: restart or start a pod that mounts it")
        return (f"{seen}: the volume has grown, its filesystem not yet ({FS_RESIZE_PENDING}) "
                f"though {', '.join(mounters)} mount(s) it: check their events "
                "(FileSystemResizeFailed) and restart them")
    if any(s.endswith("Infeasible") for s in size.states):
        return (f"{seen}: the CSI driver refused the size as infeasible: see the claim's "
                "events (VolumeResizeFailed)")
    if size.states:
        return (f"{seen}: the CSI driver's external-resizer has not finished growing the "
                "volume: see the claim's events (VolumeResizeFailed) and the driver's resizer")
    return (f"{seen}: no resizer has started (no {RESIZING} condition): check that the "
            "claim's CSI driver runs an external-resizer")


def expansion_refusal(pvc: Mapping[str, Any], storage_class: Mapping[str, Any] | None,
                      ) -> str | None:
    """Why the API server would refuse to grow this claim's storage request, or None: the
    PersistentVolumeClaimResize admission plugin (plugin/pkg/admission/storage/persistentvolume/
    resize) admits it only for a Bound claim whose StorageClass sets ``allowVolumeExpansion:
    true`` (and the update validation refuses any change of an unbound claim's spec).
    ``storage_class`` is the claim's class as read, None when it has none or it is missing."""
    phase = str((pvc.get("status") or {}).get("phase") or "Pending")
    cls = str((pvc.get("spec") or {}).get("storageClassName") or "")
    if phase != "Bound":
        return (f"it is {phase}, not Bound, and only a bound claim may grow: its volume is not "
                "provisioned yet (a claim of a WaitForFirstConsumer class waits for a Pod that "
                "uses it); expand it once it is Bound")
    if not cls:
        return ("it has no StorageClass, and only a dynamically provisioned claim may grow: "
                "grow its PersistentVolume by hand")
    if storage_class is None:
        return f"its StorageClass {cls} does not exist, so nothing allows it to grow"
    if storage_class.get("allowVolumeExpansion") is not True:
        return (f"its StorageClass {cls} does not set allowVolumeExpansion: true (StorageClass "
                "parameters are immutable: use a class that allows expansion for new claims)")
    return None


def previous_partition(now: datetime) -> str:
    """The newest complete daily partition (UTC) at ``now``: yesterday's date."""
    return (now.astimezone(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
