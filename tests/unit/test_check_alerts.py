"""Failed checks as alerts: which fire, which are re-sent, which resolve; the cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from platform_assets.core.check_alerts import (
    CHECK_FAILED_ALERT,
    RESEND,
    VALIDITY,
    AlertPlan,
    AlertPolicy,
    AlertState,
    CheckOutcome,
    plan_check_alerts,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = AlertPolicy("production", frozenset({"valid"}))
OWNERS = {"certificates/web": ("team:platform", "team:web")}
KNOWN = ["certificates/web:valid", "backups/db:rpo", "backups/db:retention_compliance"]


def out(asset: str = "certificates/web", check: str = "valid", passed: bool = False,
        severity: str = "ERROR", run: str = "r1") -> CheckOutcome:
    return CheckOutcome(asset, check, passed, severity, run, "expired")


def tick(outcomes: list[CheckOutcome], state: AlertState, now: datetime = T0) -> AlertPlan:
    return plan_check_alerts(outcomes, KNOWN, state, POLICY, OWNERS, now,
                             lambda run_id: f"https://dagster.example/runs/{run_id}")


def test_a_failed_error_check_fires_one_alert_with_its_labels_and_run_link() -> None:
    plan = tick([out()], AlertState())
    (alert,) = plan.alerts
    assert alert["labels"] == {"alertname": CHECK_FAILED_ALERT, "asset": "certificates/web",
                               "check": "valid", "severity": "critical",
                               "environment": "production", "owner": "team:platform,team:web"}
    assert alert["generatorURL"] == "https://dagster.example/runs/r1"
    assert alert["annotations"]["description"] == "expired"
    assert alert["endsAt"] == (T0 + VALIDITY).isoformat().replace("+00:00", "Z")
    assert plan.fired == ["certificates/web:valid"]


def test_a_check_failing_every_hour_is_one_alert_with_the_same_labels() -> None:
    state = AlertState()
    labels = set()
    for hour in range(24):
        plan = tick([out(run=f"r{hour}")], state, T0 + timedelta(hours=hour))
        state = AlertState.from_cursor(plan.state.to_cursor())
        labels |= {tuple(sorted(a["labels"].items())) for a in plan.alerts}
    assert len(labels) == 1 and len(state.firing) == 1


def test_between_runs_it_is_re_sent_only_when_due() -> None:
    first = tick([out()], AlertState())
    state = first.state
    assert tick([out()], state, T0 + RESEND / 2).alerts == []
    again = tick([out()], state, T0 + RESEND)
    assert len(again.alerts) == 1 and again.fired == []


def test_passing_again_resolves_exactly_the_fired_labels() -> None:
    fired = tick([out()], AlertState())
    plan = tick([out(passed=True, run="r2")], fired.state, T0 + timedelta(minutes=1))
    (alert,) = plan.alerts
    assert alert["labels"] == fired.alerts[0]["labels"]
    assert alert["endsAt"] == "2026-11-25T12:01:00Z"
    assert plan.resolved == ["certificates/web:valid"] and not plan.state.firing
    assert tick([out(passed=True)], plan.state).alerts == []


def test_warn_alerts_only_where_the_spec_asks() -> None:
    named = tick([out(severity="WARN")], AlertState())
    assert named.alerts[0]["labels"]["severity"] == "warning"
    other = tick([out("backups/db", "retention_compliance", severity="WARN")], AlertState())
    assert other.alerts == []
    everything = plan_check_alerts([out("backups/db", "retention_compliance", severity="WARN")],
                                   KNOWN, AlertState(), AlertPolicy("p", frozenset({"*"})), {},
                                   T0)
    assert everything.alerts[0]["labels"]["owner"] == "unowned"
    assert "generatorURL" not in everything.alerts[0]


def test_a_severity_change_resolves_the_old_alert_and_fires_a_new_one() -> None:
    warn = tick([out(severity="WARN")], AlertState())
    error = tick([out(severity="ERROR", run="r2")], warn.state)
    resolved, fired = error.alerts
    assert resolved["labels"]["severity"] == "warning" and resolved["endsAt"].endswith("Z")
    assert fired["labels"]["severity"] == "critical" and "endsAt" in fired


def test_a_check_that_is_gone_is_resolved() -> None:
    fired = tick([out()], AlertState())
    plan = plan_check_alerts([], [], fired.state, POLICY, OWNERS, T0)
    assert plan.resolved == ["certificates/web:valid"]
    assert "no longer defined" in plan.alerts[0]["annotations"]["summary"]


def test_an_unreadable_cursor_starts_over() -> None:
    for cursor in (None, "", "not json", "[]", '{"version": 99}', '{"version": 1, "firing": 3}'):
        assert AlertState.from_cursor(cursor).firing == {}
    state = tick([out()], AlertState()).state
    assert AlertState.from_cursor(state.to_cursor()) == state


def test_an_error_check_alerts_whatever_the_warn_list_says_and_a_warn_one_only_if_listed() -> None:
    """ERROR always alerts; WARN only for checks the spec lists (here only ``valid``)."""
    plan = tick([out("backups/db", "rpo", severity="ERROR"),
                 out("backups/db", "retention_compliance", severity="WARN")], AlertState())
    assert plan.fired == ["backups/db:rpo"]


def test_a_passing_or_not_yet_due_check_does_not_hide_the_checks_after_it() -> None:
    """Outcomes are taken in key order; one that needs no alert must not end the tick."""
    passing_first = tick([out("backups/db", "retention_compliance", passed=True),
                          out("backups/db", "rpo")], AlertState())
    assert passing_first.fired == ["backups/db:rpo"]
    first = tick([out("backups/db", "retention_compliance", severity="ERROR")], AlertState())
    later = tick([out("backups/db", "retention_compliance", severity="ERROR"),
                  out("backups/db", "rpo")], first.state, T0 + RESEND / 2)
    assert later.fired == ["backups/db:rpo"] and len(later.alerts) == 1


def test_the_alert_carries_the_run_link_and_a_bounded_description() -> None:
    """Alertmanager keeps annotations verbatim: the run's link is one, and a check's summary is
    cut at 1,000 characters so one chatty check cannot bloat every notification."""
    o = CheckOutcome("certificates/web", "valid", False, "ERROR", "r9", "x" * 5000)
    (alert,) = tick([o], AlertState()).alerts
    assert alert["annotations"]["run_url"] == "https://dagster.example/runs/r9"
    assert alert["annotations"]["run_id"] == "r9"
    assert alert["annotations"]["description"] == "x" * 1000
    assert alert["annotations"]["summary"] == "check valid of certificates/web failed (ERROR)"
