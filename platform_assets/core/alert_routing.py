"""Which environment of a fleet an alert belongs to, and the fleet's remediation state. Pure.

One Alertmanager usually serves every cluster of a fleet: each cluster's Prometheus adds an
external label naming its cluster to every alert it sends (by convention ``cluster``, the label
kubernetes-mixin's alerts and dashboards group by, ``clusterLabel``). Each environment's
``remediation.alert_selector`` says which alerts are its own; unset, it is
``{cluster: <the environment's cluster name>}``. An alert is remediated only in the one
environment whose selector it matches, with that environment's rules, budgets and calendar; an
alert matching no environment, or several, is never acted on (the sensor logs it once).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from platform_assets.core.remediation import (
    Alert,
    MalformedAlert,
    RemediationState,
    describe_raw,
    labels_match,
    parse_alert,
    prune_seen,
)
from platform_assets.names import ALERT_CLUSTER_LABEL
from platform_assets.spec.models import PlatformSpec


def alert_selector(spec: PlatformSpec) -> dict[str, str]:
    """The label matchers that make an alert one of ``spec``'s environment's alerts."""
    return dict(spec.remediation.alert_selector) or {ALERT_CLUSTER_LABEL: spec.cluster_name}


@dataclass
class Routing:
    """The alerts of one read, each given to its environment (still raw, as the API sent them),
    the ones no environment takes (with why), and the ones that cannot be read."""

    by_environment: dict[str, list[Any]]
    unrouted: list[tuple[Alert, str]] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)


def route_alerts(selectors: Mapping[str, Mapping[str, str]],
                 raw_alerts: Iterable[Any]) -> Routing:
    """Give every alert to the one environment whose selector (label matchers, as a rule's
    ``match``) it satisfies; an alert no selector or several selectors take is unrouted."""
    out = Routing({env: [] for env in selectors})
    for raw in raw_alerts:
        try:
            alert = parse_alert(raw)
        except MalformedAlert as exc:
            out.malformed.append(f"{describe_raw(raw)}: {exc}")
            continue
        envs = [env for env, sel in selectors.items() if labels_match(sel, alert.labels)]
        if len(envs) == 1:
            out.by_environment[envs[0]].append(raw)
        else:
            out.unrouted.append((alert, _why_unrouted(selectors, alert, envs)))
    return out


def _why_unrouted(selectors: Mapping[str, Mapping[str, str]], alert: Alert,
                  envs: list[str]) -> str:
    if envs:
        return (f"it matches the alert_selector of environments {', '.join(envs)}; a "
                "remediation acts in one environment only")
    names = sorted({label for sel in selectors.values() for label in sel})
    given = ", ".join(f"{n}={alert.labels[n]!r}" if n in alert.labels else f"no {n} label"
                      for n in names)
    return f"it names no environment of the spec ({given})"


@dataclass
class FleetState:
    """What the alert sensor of a fleet remembers: each environment's guardrail state (its
    budgets, cooldowns and pending verifications are its own) and the unrouted alerts it has
    already logged (so each firing is logged once)."""

    environments: dict[str, RemediationState] = field(default_factory=dict)
    logged_unrouted: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> FleetState:
        """The state a sensor cursor holds; a fresh state for none or an unreadable one."""
        try:
            data = json.loads(cursor) if cursor else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict) or not isinstance(data.get("environments"), dict):
            return cls()  # none yet, or a spec's cursor from before it had environments
        envs = {str(name): RemediationState.from_cursor(json.dumps(state))
                for name, state in data["environments"].items()}
        return cls(envs, dict(data.get("logged_unrouted") or {}))

    def of(self, environment: str) -> RemediationState:
        """The guardrail state of ``environment`` (empty the first time)."""
        return self.environments.setdefault(environment, RemediationState())

    def first_time(self, alert: Alert, now: datetime) -> bool:
        """Whether this firing of an unrouted ``alert`` is seen for the first time (and note
        it)."""
        self.logged_unrouted = prune_seen(self.logged_unrouted, now)
        new = alert.dedupe_key not in self.logged_unrouted
        self.logged_unrouted[alert.dedupe_key] = now.timestamp()
        return new

    def to_cursor(self, environments: Iterable[str]) -> str:
        """The cursor, keeping only ``environments`` (an environment removed from the spec
        leaves with its state)."""
        keep = set(environments)
        return json.dumps({
            "environments": {name: json.loads(state.to_cursor())
                             for name, state in sorted(self.environments.items())
                             if name in keep},
            "logged_unrouted": self.logged_unrouted,
        }, separators=(",", ":"), sort_keys=True)
