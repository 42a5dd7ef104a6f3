"""Alert remediation in a fleet: each alert is routed to the environment its labels name
(``remediation.alert_selector``, default its cluster's name), decided with that environment's
rules and budget, and launched as that environment's job; an alert of no environment, or of
several, is logged once and never acted on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.core.alert_routing import FleetState, alert_selector, route_alerts
from platform_assets.core.remediation import RemediationState
from platform_assets.spec.loader import SpecError, load_graphs, load_specs_text
from sensors.ticks import alertmanager_alerts

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet" / "platform.yaml"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def alert(fingerprint: str, starts: datetime = NOW, **labels: str) -> dict[str, Any]:
    return {"fingerprint": fingerprint, "startsAt": starts.isoformat().replace("+00:00", "Z"),
            "labels": {"alertname": "KubeDeploymentReplicasMismatch", "namespace": "hello",
                       "deployment": "hello", **labels},
            "annotations": {}, "status": {"state": "active"}}


class Alertmanager:
    """Our AlertmanagerResource's interface, serving fixed alerts and keeping what is posted."""

    def __init__(self, alerts: list[Any]) -> None:
        self.alerts = alerts
        self.posted: list[dict[str, Any]] = []

    def active_alerts(self) -> list[Any]:
        return list(self.alerts)

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        self.posted += alerts


def test_each_environment_selects_the_alerts_of_its_cluster_by_default() -> None:
    staging, production = load_graphs(FLEET)
    assert alert_selector(staging.spec) == {"cluster": "k3s-staging"}
    assert alert_selector(production.spec) == {"cluster": "fleet-prod"}


def test_alerts_are_routed_to_the_one_environment_they_name() -> None:
    selectors = {"staging": {"cluster": "k3s-staging"}, "production": {"cluster": "fleet-prod"},
                 "qa": {"cluster": "~qa-.*"}, "qa-eu": {"cluster": "~.*-eu"}}
    routing = route_alerts(selectors, [
        alert("a", cluster="k3s-staging"), alert("b", cluster="fleet-prod"),
        alert("c", cluster="elsewhere"), alert("d"), alert("e", cluster="qa-eu"),
        {"labels": "nope"}])
    assert [a["fingerprint"] for a in routing.by_environment["staging"]] == ["a"]
    assert [a["fingerprint"] for a in routing.by_environment["production"]] == ["b"]
    why = {a.fingerprint: reason for a, reason in routing.unrouted}
    assert why["c"] == "it names no environment of the spec (cluster='elsewhere')"
    assert why["d"] == "it names no environment of the spec (no cluster label)"
    assert why["e"].startswith("it matches the alert_selector of environments qa, qa-eu")
    assert routing.malformed == ["<no alertname> (fingerprint ?): labels missing or not an "
                                 "object"]


def test_fleet_state_keeps_each_environment_apart_and_survives_the_cursor() -> None:
    state = FleetState()
    state.of("staging").history["restart_rollout:hello"] = [NOW.timestamp()]
    state.of("gone").seen["x@y"] = NOW.timestamp()
    again = FleetState.from_cursor(state.to_cursor(["staging", "production"]))
    assert again.of("staging").history == {"restart_rollout:hello": [NOW.timestamp()]}
    assert again.of("production") == RemediationState()
    assert "gone" not in again.environments  # left the spec, left the cursor
    # The cursor of the spec before it had environments starts the fleet afresh.
    assert FleetState.from_cursor(RemediationState().to_cursor()).environments == {}
    assert FleetState.from_cursor("not json").environments == {}


def _tick(graphs: list[Any], am: Alertmanager, cursor: str | None = None,
          now: datetime = NOW) -> tuple[Any, str | None, list[str]]:
    lines: list[str] = []
    ctx = dg.build_sensor_context(cursor=cursor)
    ctx.log.info = lines.append  # type: ignore[method-assign]
    out = alertmanager_alerts.evaluate_fleet(ctx, am, graphs, now=now)  # type: ignore[arg-type]
    return out, ctx.cursor, lines


def test_an_alert_for_staging_launches_stagings_job_only() -> None:
    graphs = load_graphs(FLEET)
    am = Alertmanager([alert("s1", cluster="k3s-staging")])
    out, cursor, _ = _tick(graphs, am)
    (req,) = out
    assert req.job_name == "restart_rollout_staging"
    assert req.run_config == {"ops": {"restart_workload": {"config": {
        "namespace": "hello", "name": "hello", "kind": "Deployment", "owner_labels": []}}}}
    assert req.tags["platform-ops/environment"] == "staging"
    assert cursor is not None and set(json.loads(cursor)["environments"]) == {"staging",
                                                                            "production"}
    assert json.loads(cursor)["environments"]["production"]["history"] == {}


def test_an_alert_of_no_environment_is_logged_once_and_never_acted_on() -> None:
    graphs = load_graphs(FLEET)
    am = Alertmanager([alert("u1", cluster="someone-elses"), alert("n1")])
    out, cursor, lines = _tick(graphs, am)
    assert isinstance(out, dg.SkipReason)
    assert "2 of no single environment" in (out.skip_message or "")
    assert lines == [
        "skipped KubeDeploymentReplicasMismatch [u1]: it names no environment of the spec "
        "(cluster='someone-elses'); not remediated in any environment",
        "skipped KubeDeploymentReplicasMismatch [n1]: it names no environment of the spec "
        "(no cluster label); not remediated in any environment"]
    out, _, lines = _tick(graphs, am, cursor, NOW + timedelta(seconds=30))
    assert isinstance(out, dg.SkipReason) and lines == []  # each firing is logged once
    assert am.posted == []


def test_each_environment_spends_its_own_budget() -> None:
    """Production's rule allows one restart an hour, staging's three: two firings each."""
    graphs = load_graphs(FLEET)
    firings = [alert(f"{env}{i}", NOW - timedelta(minutes=40 - 20 * i), cluster=cluster)
               for env, cluster in (("s", "k3s-staging"), ("p", "fleet-prod")) for i in (0, 1)]
    cursor = None
    launched: list[str] = []
    for i, raw in enumerate(sorted(firings, key=lambda a: a["startsAt"])):
        out, cursor, _ = _tick(graphs, Alertmanager([raw]), cursor,
                               NOW + timedelta(minutes=20 * i))
        launched += [r.job_name for r in out] if isinstance(out, list) else []
    assert sorted(launched) == ["restart_rollout_production", "restart_rollout_staging",
                                "restart_rollout_staging"]
    state = json.loads(cursor or "{}")["environments"]
    assert state["production"]["escalated"]  # its circuit opened; staging's did not
    assert not state["staging"]["escalated"]


def test_an_escalation_names_its_environment() -> None:
    graphs = load_graphs(FLEET)
    cursor = None
    am = Alertmanager([])
    for i in range(2):  # production's budget is one an hour
        am.alerts = [alert(f"p{i}", NOW + timedelta(minutes=i), cluster="fleet-prod")]
        _, cursor, _ = _tick(graphs, am, cursor, NOW + timedelta(minutes=20 * i))
    (escalation,) = am.posted
    assert escalation["labels"]["environment"] == "production"
    assert escalation["labels"]["cluster"] == "fleet-prod"


def test_a_spec_without_environments_may_select_its_own_alerts() -> None:
    from platform_assets.core.graph import build_graph
    from platform_assets.spec.loader import load_spec

    spec = load_spec(ROOT / "platform" / "platform.yaml")
    spec = spec.model_copy(update={"remediation": spec.remediation.model_copy(
        update={"alert_selector": {"cluster": "samcloud"}})})
    am = Alertmanager([alert("o1", cluster="other", namespace="services",
                             deployment="wordpress"),
                       alert("m1", cluster="samcloud", namespace="services",
                             deployment="wordpress")])
    ctx = dg.build_sensor_context()
    out = alertmanager_alerts.evaluate(ctx, am, build_graph(spec), now=NOW)  # type: ignore[arg-type]
    assert [r.run_key.split(":")[0] for r in out] == ["m1"]
    assert out[0].job_name == "restart_rollout"


def _problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_specs_text(text, "fleet.yaml", path_exists=lambda _: True)
    return [str(p) for p in info.value.problems]


def test_two_environments_whose_alerts_look_alike_are_refused() -> None:
    text = FLEET.read_text() + (
        "  qa:\n"
        "    cluster: {name: k3s-staging, kubeconfig_env: QA_KUBECONFIG}\n")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "QA_KUBECONFIG" in t)
    assert _problems(text) == [
        f"fleet.yaml:{line}: environments.qa.cluster.name: alerts could not tell environment "
        "'qa' from 'staging': both select cluster=k3s-staging; give their clusters different "
        "names or set remediation.alert_selector"]
    # A selector of its own tells them apart.
    fixed = text + "    remediation: {alert_selector: {cluster: k3s-staging, env: qa}}\n"
    assert set(load_specs_text(fixed, "fleet.yaml", path_exists=lambda _: True)) == {
        "staging", "production", "qa"}
