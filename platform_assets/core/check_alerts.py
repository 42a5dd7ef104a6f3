"""Failed asset checks as Alertmanager alerts: which to fire, re-send and resolve. Pure.

Each check's latest completed evaluation decides its alert. A failed check of severity ERROR
fires (WARN too when the spec's ``alerts.warn`` names the check); a check that passes again, or
that no longer exists, is resolved by posting the same labels with ``endsAt`` now. The labels
identify the alert (Alertmanager's fingerprint is the hash of the label set), so they hold only
what is stable while a check keeps failing: a check failing every hour is one alert, whose
annotations (the latest run's link) are updated in place. The run lives in annotations.

Like Prometheus, a firing alert carries an ``endsAt`` a few re-send intervals ahead and is posted
again before then, so Alertmanager resolves it by itself if the poster stops for good, but not
between two ticks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

CHECK_FAILED_ALERT = "PlatformCheckFailed"
RESEND = timedelta(minutes=5)
VALIDITY = timedelta(minutes=20)
CURSOR_VERSION = 1
Severity = Literal["ERROR", "WARN"]
# Alertmanager routing conventions (Prometheus rules, kube-prometheus-stack) use these values.
ALERT_SEVERITY: Mapping[Severity, str] = {"ERROR": "critical", "WARN": "warning"}


@dataclass(frozen=True)
class CheckOutcome:
    """The latest completed evaluation of one check."""

    asset: str  # "certificates/wildcard-samcloud-online"
    check: str  # "valid"
    passed: bool
    severity: Severity
    run_id: str
    summary: str = ""

    @property
    def key(self) -> str:
        """``asset:check``, the outcome's identity."""
        return f"{self.asset}:{self.check}"


@dataclass(frozen=True)
class AlertPolicy:
    """What the spec says about check alerts."""

    environment: str
    warn: frozenset[str] = frozenset()  # check names, "asset/path:check" or "*"

    def alerts_on(self, outcome: CheckOutcome) -> bool:
        """Whether a failed check is posted: every ERROR, and a WARN only where the spec names the
        check (or ``*``)."""
        if outcome.passed:
            return False
        if outcome.severity == "ERROR":
            return True
        return bool({"*", outcome.check, outcome.key} & self.warn)


@dataclass
class Firing:
    """An alert this poster keeps firing: its labels (to resolve exactly that alert) and when
    it was last posted."""

    labels: dict[str, str]
    posted_at: str
    run_id: str


@dataclass
class AlertState:
    """The sensor's cursor: the firing alerts by check key."""

    firing: dict[str, Firing] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> AlertState:
        """The firing alerts kept in the sensor's cursor; an empty, unreadable or older-version
        cursor starts afresh (alerts are re-posted, never lost)."""
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
            if data.get("version") != CURSOR_VERSION:
                return cls()
            return cls({k: Firing(dict(v["labels"]), str(v["posted_at"]), str(v["run_id"]))
                        for k, v in data["firing"].items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            # An unreadable cursor (a newer or hand-edited one) starts over: firing alerts are
            # re-posted with the same labels, which Alertmanager merges into the same alerts.
            return cls()

    def to_cursor(self) -> str:
        """The state as the sensor's cursor (sorted JSON, versioned)."""
        return json.dumps({"version": CURSOR_VERSION, "firing": {
            k: {"labels": f.labels, "posted_at": f.posted_at, "run_id": f.run_id}
            for k, f in sorted(self.firing.items())}}, sort_keys=True)


@dataclass(frozen=True)
class AlertPlan:
    """What one tick posts and the cursor after it."""

    alerts: list[dict[str, Any]]
    state: AlertState
    fired: list[str]
    resolved: list[str]


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def labels_for(outcome: CheckOutcome, policy: AlertPolicy,
               owners: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """The Alertmanager labels of a failed check's alert (its identity for deduplication)."""
    return {"alertname": CHECK_FAILED_ALERT, "asset": outcome.asset, "check": outcome.check,
            "severity": ALERT_SEVERITY[outcome.severity], "environment": policy.environment,
            "owner": ",".join(sorted(owners.get(outcome.asset, ()))) or "unowned"}


def _due(current: Firing | None, o: CheckOutcome, now: datetime) -> bool:
    """Post when the alert is new, comes from a newer run, or is due a resend before it lapses."""
    return current is None or current.run_id != o.run_id or \
        datetime.fromisoformat(current.posted_at) + RESEND <= now


def _firing_alert(o: CheckOutcome, labels: dict[str, str], ends: str,
                  url: str) -> dict[str, Any]:
    """The Alertmanager alert for a failed check (v2 ``postableAlert``)."""
    alert: dict[str, Any] = {"labels": labels, "annotations": {
        "summary": f"check {o.check} of {o.asset} failed ({o.severity})",
        "description": o.summary[:1000], "run_id": o.run_id}, "endsAt": ends}
    if url:
        alert["generatorURL"] = url
        alert["annotations"]["run_url"] = url
    return alert


def plan_check_alerts(
    outcomes: Iterable[CheckOutcome],
    known_checks: Iterable[str],
    state: AlertState,
    policy: AlertPolicy,
    owners: Mapping[str, Iterable[str]],
    now: datetime,
    run_url: Callable[[str], str] = lambda run_id: "",
) -> AlertPlan:
    """The alerts to post for the checks' latest outcomes.

    Args:
        outcomes: the latest completed evaluation of each check that has one.
        known_checks: every check key (``asset:check``) the code location defines; a firing
            alert of a check that is gone is resolved.
        state: the alerts fired by earlier ticks.
        policy: environment label and which WARN checks alert.
        owners: asset path to owners (the ``owner`` label).
        now: the tick's time.
        run_url: the UI link of a run (empty when the UI's address is unknown).
    """
    firing = dict(state.firing)
    alerts: list[dict[str, Any]] = []
    fired: list[str] = []
    resolved: list[str] = []
    ends = _ts(now + VALIDITY)

    def resolve(key: str, why: str) -> None:
        old = firing.pop(key)
        alerts.append({"labels": old.labels, "annotations": {
            "summary": f"check {old.labels['check']} of {old.labels['asset']} {why}"},
            "endsAt": _ts(now)})
        resolved.append(key)

    seen = set()
    for o in sorted(outcomes, key=lambda o: o.key):
        seen.add(o.key)
        current = firing.get(o.key)
        if not policy.alerts_on(o):
            if current is not None:
                resolve(o.key, "passes again" if o.passed else f"is {o.severity} only")
            continue
        labels = labels_for(o, policy, owners)
        if current is not None and current.labels != labels:
            resolve(o.key, "changed severity or owner")  # a different alert from now on
            current = None
        if not _due(current, o, now):
            continue
        alerts.append(_firing_alert(o, labels, ends, run_url(o.run_id)))
        if current is None:
            fired.append(o.key)
        firing[o.key] = Firing(labels, now.isoformat(), o.run_id)
    known = set(known_checks)
    for key in sorted(k for k in list(firing) if k not in seen):
        resolve(key, "is no longer defined" if key not in known else "has no evaluation left")
    return AlertPlan(alerts, AlertState(firing), fired, resolved)
