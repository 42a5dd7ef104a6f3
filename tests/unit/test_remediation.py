"""Remediation guardrails: matching, dedupe, cooldown, budget and circuit, calendar, dry run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from platform_assets.core.remediation import (
    ESCALATION_ALERT,
    MAX_SEEN,
    ClaimSize,
    Expansion,
    MalformedAlert,
    RemediationState,
    claim_mounters,
    claim_size,
    escalation_alert,
    expand_quantity,
    expansion_finished,
    expansion_refusal,
    expansion_stalled,
    match_rule,
    parse_alert,
    plan_expansion,
    plan_remediations,
    previous_partition,
)
from platform_assets.spec.loader import SpecError, load_spec_text
from platform_assets.spec.models import PlatformSpec

SPEC = """\
apiVersion: platform-ops/v1
metadata: {name: test-platform}
ionos:
  datacenter: {name: dc, location: de/fra}
  cluster:
    name: k8s
    k8s_version: 1.32.6
    maintenance_window: {day: Sunday, time: "10:00"}
  node_pools:
    - {name: pool, node_count: 2, cores: 2, ram: 8GB, storage_size: 50GB}
applications:
  - name: shop
    namespace: shop
    source: {kustomization: {path: ./apps/shop}}
remediation:
  dry_run: false
  rules:
    - name: shop-restart
      match: {alertname: ShopDown, namespace: shop}
      action: restart_rollout
      target: shop
      cooldown: COOLDOWN
      budget: {max: 3, window: 1h}
    - name: certs
      match: {alertname: "~CertificateExpir.*"}
      action: renew_certificate
      target_label: certificate
    - name: backups
      match: {alertname: BackupMissed}
      action: rerun_backup
      target_label: backup
      allow_in_maintenance: true
    - name: nodes
      match: {alertname: NodeNotReady}
      action: escalate
change_calendar:
  freezes:
    - {name: holidays, start: 2026-12-21T00:00:00Z, end: 2027-01-04T00:00:00Z}
"""

QUIET = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday: no window, no freeze


def spec(cooldown: str = "0s", dry_run: bool = False) -> PlatformSpec:
    text = SPEC.replace("COOLDOWN", cooldown).replace("dry_run: false", f"dry_run: {dry_run}")
    return load_spec_text(text, "platform.yaml")


def alert(name: str = "ShopDown", starts: datetime = QUIET, **labels: str) -> dict[str, Any]:
    labels = {"alertname": name, "namespace": "shop", **labels}
    fp = f"{abs(hash(tuple(sorted(labels.items())))):016x}"[:16]
    return {"labels": labels, "fingerprint": fp, "annotations": {},
            "startsAt": starts.isoformat().replace("+00:00", "Z"),
            "endsAt": (starts + timedelta(minutes=5)).isoformat(),
            "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}}


def test_matchers_exact_and_anchored_regex() -> None:
    rules = spec().remediation.rules
    assert match_rule(rules, {"alertname": "ShopDown", "namespace": "shop"}).name == "shop-restart"
    assert match_rule(rules, {"alertname": "ShopDown", "namespace": "other"}) is None
    assert match_rule(rules, {"alertname": "CertificateExpiringSoon"}).name == "certs"
    assert match_rule(rules, {"alertname": "XCertificateExpiring"}) is None


@pytest.mark.parametrize("raw, why", [
    ("nope", "expected an object"),
    ({"fingerprint": "a", "startsAt": "2026-11-18T12:00:00Z"}, "labels"),
    ({"labels": {"a": "b"}, "startsAt": "2026-11-18T12:00:00Z"}, "fingerprint"),
    ({"labels": {"a": "b"}, "fingerprint": "f", "startsAt": "yesterday"}, "startsAt"),
    ({"labels": {"a": 1}, "fingerprint": "f", "startsAt": "2026-11-18T12:00:00Z"}, "strings"),
])
def test_malformed_alerts_say_why(raw: Any, why: str) -> None:
    with pytest.raises(MalformedAlert, match=why):
        parse_alert(raw)


def test_go_nanosecond_timestamps_parse() -> None:
    raw = alert()
    raw["startsAt"] = "2026-11-18T12:00:00.123456789Z"
    assert parse_alert(raw).starts_at == raw["startsAt"]


def test_malformed_alerts_are_skipped_and_named_while_others_proceed() -> None:
    bad = {"labels": {"alertname": "Broken"}, "fingerprint": "ff"}
    plan = plan_remediations(spec(), [bad, alert()], RemediationState(), QUIET)
    assert len(plan.malformed) == 1 and "Broken" in plan.malformed[0]
    assert [d.outcome for d in plan.decisions] == ["remediate"]
    assert plan.decisions[0].job == "restart_rollout"


def test_same_alert_instance_is_remediated_once() -> None:
    s, state = spec(), RemediationState()
    first = plan_remediations(s, [alert()], state, QUIET)
    state = RemediationState.from_cursor(first.state.to_cursor())
    second = plan_remediations(s, [alert()], state, QUIET + timedelta(hours=2))
    assert len(first.by_outcome("remediate")) == 1
    assert second.decisions == []


def test_cooldown_holds_a_new_instance_then_lets_it_through() -> None:
    s, state = spec(cooldown="15m"), RemediationState()
    plan_remediations(s, [alert(starts=QUIET)], state, QUIET)
    held = plan_remediations(s, [alert(starts=QUIET + timedelta(minutes=5))], state,
                             QUIET + timedelta(minutes=5))
    assert [d.outcome for d in held.decisions] == ["held"]
    assert "cooldown" in held.decisions[0].reason
    later = plan_remediations(s, [alert(starts=QUIET + timedelta(minutes=5))], state,
                              QUIET + timedelta(minutes=16))
    assert [d.outcome for d in later.decisions] == ["remediate"]


def flap(s: PlatformSpec, times: int = 100, span: timedelta = timedelta(minutes=10)
         ) -> tuple[int, int]:
    """Fire one alert ``times`` times within ``span`` (a new start each time), one tick each."""
    state = RemediationState()
    remediations = escalations = 0
    for i in range(times):
        now = QUIET + span * i / times
        plan = plan_remediations(s, [alert(starts=now)], state, now)
        state = RemediationState.from_cursor(plan.state.to_cursor())
        remediations += len(plan.by_outcome("remediate"))
        escalations += len(plan.by_outcome("escalate"))
    return remediations, escalations


def test_flapping_alert_is_bounded_by_the_budget_then_escalated_once() -> None:
    remediations, escalations = flap(spec(cooldown="0s"))
    assert remediations == 3  # budget.max
    assert escalations == 1


def test_flapping_alert_with_cooldown_remediates_even_less() -> None:
    remediations, escalations = flap(spec(cooldown="15m"))
    assert remediations == 1
    assert escalations == 0


def test_circuit_closes_after_the_window() -> None:
    s, state = spec(), RemediationState()
    for i in range(4):
        plan_remediations(s, [alert(starts=QUIET + timedelta(minutes=i))], state,
                          QUIET + timedelta(minutes=i))
    assert state.escalated
    later = QUIET + timedelta(hours=1, minutes=5)
    plan = plan_remediations(s, [alert(starts=later)], state, later)
    assert [d.outcome for d in plan.decisions] == ["remediate"]


def test_no_remediation_in_a_freeze_unless_allowed() -> None:
    s = spec()
    frozen = datetime(2026, 12, 23, 12, 0, tzinfo=UTC)
    plan = plan_remediations(s, [alert(starts=frozen)], RemediationState(), frozen)
    assert [d.outcome for d in plan.decisions] == ["held"]
    assert "freeze holidays" in plan.decisions[0].reason
    rules = [r.model_copy(update={"allow_in_freeze": True}) for r in s.remediation.rules]
    allowed = s.model_copy(update={"remediation": s.remediation.model_copy(
        update={"rules": rules})})
    plan = plan_remediations(allowed, [alert(starts=frozen)], RemediationState(), frozen)
    assert [d.outcome for d in plan.decisions] == ["remediate"]


def test_ionos_maintenance_window_holds_unless_the_rule_allows() -> None:
    sunday = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    alerts = [alert(starts=sunday), alert("BackupMissed", starts=sunday, backup="nightly")]
    plan = plan_remediations(spec(), alerts, RemediationState(), sunday)
    outcome = {d.rule.name: d.outcome for d in plan.decisions}
    assert outcome == {"shop-restart": "held", "backups": "remediate"}
    held = next(d for d in plan.decisions if d.outcome == "held")
    assert "IONOS maintenance" in held.reason


def test_held_alerts_are_retried_later() -> None:
    s, state = spec(), RemediationState()
    frozen = datetime(2027, 1, 3, 23, 0, tzinfo=UTC)
    plan_remediations(s, [alert(starts=frozen)], state, frozen)
    after = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)
    plan = plan_remediations(s, [alert(starts=frozen)], state, after)
    assert [d.outcome for d in plan.decisions] == ["remediate"]


def test_dry_run_reports_and_changes_no_budget() -> None:
    state = RemediationState()
    plan = plan_remediations(spec(dry_run=True), [alert()], state, QUIET)
    assert [d.outcome for d in plan.decisions] == ["dry_run"]
    assert "would restart_rollout shop" in plan.decisions[0].reason
    assert state.history == {}


def test_escalate_rule_and_missing_target_label() -> None:
    plan = plan_remediations(spec(), [alert("NodeNotReady"), alert("BackupMissed")],
                             RemediationState(), QUIET)
    assert [d.outcome for d in plan.decisions] == ["escalate"]
    assert any("'backup'" in m for m in plan.malformed)


def test_escalation_alert_shape() -> None:
    s, state = spec(), RemediationState()
    for i in range(4):
        plan = plan_remediations(s, [alert(starts=QUIET + timedelta(minutes=i))], state,
                                 QUIET + timedelta(minutes=i))
    d = plan.by_outcome("escalate")[0]
    body = escalation_alert(d, QUIET)
    assert body["labels"]["alertname"] == ESCALATION_ALERT
    assert body["labels"]["target"] == "shop"
    assert "budget spent: 3 of 3" in body["annotations"]["description"]
    assert body["startsAt"] == "2026-11-18T12:00:00Z"


def test_cursor_state_stays_bounded() -> None:
    # Escalate-rule alerts are each remembered (no budget stops them), so two ticks of distinct
    # alerts push the dedupe set past MAX_SEEN: the cap keeps exactly the newest MAX_SEEN.
    s, state = spec(), RemediationState()
    older = [alert("NodeNotReady", node=f"old{i}") for i in range(500)]
    newer = [alert("NodeNotReady", node=f"new{i}") for i in range(MAX_SEEN)]
    first = plan_remediations(s, older, state, QUIET)
    assert len(first.by_outcome("escalate")) == 500
    second = plan_remediations(s, newer, state, QUIET + timedelta(minutes=1))
    assert len(second.by_outcome("escalate")) == MAX_SEEN
    assert len(state.seen) == MAX_SEEN + 500
    state.prune(QUIET + timedelta(minutes=1), timedelta(hours=1))
    assert set(state.seen) == {parse_alert(a).dedupe_key for a in newer}
    assert len(RemediationState.from_cursor(state.to_cursor()).seen) == MAX_SEEN
    week_later = QUIET + timedelta(days=7)
    state.prune(week_later, timedelta(hours=1))
    assert state.seen == {} and state.history == {} and state.escalated == {}


def test_garbage_cursor_starts_fresh() -> None:
    assert RemediationState.from_cursor("not json").seen == {}
    assert RemediationState.from_cursor("[1]").history == {}


def test_unknown_action_or_target_is_a_spec_error_at_load() -> None:
    bad_action = SPEC.replace("COOLDOWN", "0s").replace("action: escalate", "action: reboot")
    with pytest.raises(SpecError, match=r"platform\.yaml:\d+: remediation\.rules\[3\]\.action"):
        load_spec_text(bad_action, "platform.yaml")
    bad_target = SPEC.replace("COOLDOWN", "0s").replace("target: shop", "target: nowhere")
    with pytest.raises(SpecError, match="unknown asset 'nowhere'"):
        load_spec_text(bad_target, "platform.yaml")


def test_helpers() -> None:
    assert expand_quantity("20Gi", "10Gi") == "30Gi"
    # Kubernetes quantities (SI ``G``, fractions) as the API server reports them.
    assert expand_quantity("1G", "1Gi") == str(10**9 + 2**30)
    assert expand_quantity("1.5Gi", "512Mi") == "2Gi"
    assert previous_partition(QUIET) == "2026-11-17"


def test_run_failure_alert_lists_failed_and_downstream_assets() -> None:
    from sensors.ticks.run_failures import failure_alert

    failed = [("ionos", "cluster")]
    downstream = [("platform", f"c{i}") for i in range(60)]
    body = failure_alert("reconcile_platform", "run-1", failed, downstream, "boom", QUIET,
                         "http://dagster/runs/run-1")
    assert body["labels"] == {"alertname": "PlatformRunFailed", "severity": "critical",
                              "job": "reconcile_platform", "run_id": "run-1"}
    assert body["annotations"]["failed_assets"] == "ionos/cluster"
    assert body["annotations"]["downstream_assets"].endswith("and 10 more")
    assert body["generatorURL"] == "http://dagster/runs/run-1"


@pytest.mark.parametrize("n", [4, 10, 50])
def test_n_alerts_in_one_tick_give_exactly_max_remediations_and_one_escalation(n: int) -> None:
    # n distinct ShopDown alerts (different pods) arrive together: the budget of 3 goes to the
    # three that started first, the fourth opens the circuit and escalates, the rest are held.
    s, state = spec(), RemediationState()
    alerts = [alert(starts=QUIET - timedelta(seconds=n - i), pod=f"p{i}") for i in range(n)]
    plan = plan_remediations(s, list(reversed(alerts)), state, QUIET)
    remediated = plan.by_outcome("remediate")
    assert [d.alert.labels["pod"] for d in remediated] == ["p0", "p1", "p2"]
    (escalated,) = plan.by_outcome("escalate")
    assert escalated.alert.labels["pod"] == "p3"
    assert "budget spent: 3 of 3" in escalated.reason
    held = plan.by_outcome("held")
    assert len(held) == n - 4
    assert all("already escalated" in d.reason for d in held)
    assert state.history == {"restart_rollout:shop": [QUIET.timestamp()] * 3,
                             "rule:shop-restart": [QUIET.timestamp()] * 3}
    # The next tick neither remediates nor escalates again within the window.
    again = plan_remediations(s, alerts, state, QUIET + timedelta(minutes=1))
    assert not again.by_outcome("remediate") and not again.by_outcome("escalate")


def test_a_cursor_of_another_shape_starts_afresh() -> None:
    # `dagster sensor cursor --set` takes any string: one of the wrong shape must not stop the
    # sensor on every tick.
    for cursor in ('{"history": {"web": 5}}', '{"seen": [1, 2]}', '{"escalated": "x"}', "[]"):
        assert RemediationState.from_cursor(cursor) == RemediationState()


def test_expansion_refusal_follows_the_resize_admission_plugin() -> None:
    """PersistentVolumeClaimResize (plugin/pkg/admission/storage/persistentvolume/resize): only
    a Bound claim of a class with ``allowVolumeExpansion: true`` may grow."""
    def claim(phase: str | None, cls: str | None) -> dict[str, Any]:
        return {"spec": {"storageClassName": cls} if cls is not None else {},
                "status": {"phase": phase} if phase else {}}

    growing = {"metadata": {"name": "ssd"}, "allowVolumeExpansion": True}
    assert expansion_refusal(claim("Bound", "ssd"), growing) is None
    assert "it is Pending, not Bound" in str(expansion_refusal(claim(None, "ssd"), growing))
    assert "it has no StorageClass" in str(expansion_refusal(claim("Bound", ""), None))
    assert "StorageClass gone does not exist" in str(
        expansion_refusal(claim("Bound", "gone"), None))
    assert "does not set allowVolumeExpansion: true" in str(
        expansion_refusal(claim("Bound", "fixed"), {"metadata": {"name": "fixed"}}))


def _pvc(request: str, capacity: str | None, allocated: str | None = None,
         state: str | None = None, *conditions: str) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Bound"}
    if capacity is not None:
        status["capacity"] = {"storage": capacity}
    if allocated is not None:
        status["allocatedResources"] = {"storage": allocated}
    if state is not None:
        status["allocatedResourceStatuses"] = {"storage": state}
    status["conditions"] = [{"type": c, "status": "True"} for c in conditions]
    return {"spec": {"resources": {"requests": {"storage": request}}}, "status": status}


def test_claim_size_reads_the_resize_state_kubernetes_reports() -> None:
    """PersistentVolumeClaimStatus (k8s.io/api core/v1, 1.32 with
    RecoverVolumeExpansionFailure): ``capacity``, ``allocatedResources``,
    ``allocatedResourceStatuses`` and the ``Resizing``/``FileSystemResizePending``
    conditions; False conditions and other types are no resize."""
    pvc = _pvc("30Gi", "20Gi", "30Gi", "NodeResizePending", "FileSystemResizePending")
    pvc["status"]["conditions"] += [{"type": "Resizing", "status": "False"},
                                    {"type": "ModifyingVolume", "status": "True"}]
    assert claim_size(pvc) == ClaimSize("30Gi", "20Gi", "30Gi",
                                        ("FileSystemResizePending", "NodeResizePending"))
    assert claim_size(_pvc("20Gi", "20Gi", "20Gi")) == ClaimSize("20Gi", "20Gi", "20Gi", ())
    assert "status.capacity.storage is None" in str(claim_size(_pvc("20Gi", None)))
    assert "requests.storage is 'lots'" in str(claim_size(_pvc("lots", "20Gi")))


def test_expansion_grows_from_the_capacity_and_never_stacks_on_a_resize_in_progress() -> None:
    """The target is status.capacity + expand_by; a resize under way to that target (a rerun
    of a stopped run) is waited for; any other resize under way is refused, naming its
    sizes."""
    settled = ClaimSize("20Gi", "20Gi", "20Gi")
    assert plan_expansion(settled, "10Gi") == Expansion(True, "20Gi", "30Gi")
    # The volume is larger than the request (a static PV): grow from what it has.
    assert plan_expansion(ClaimSize("10Gi", "12Gi"), "10Gi") == Expansion(True, "12Gi", "22Gi")
    rerun = ClaimSize("30Gi", "20Gi", "30Gi", ("FileSystemResizePending", "NodeResizePending"))
    assert plan_expansion(rerun, "10Gi") == Expansion(False, "20Gi", "30Gi")
    assert plan_expansion(ClaimSize("30Gi", "20Gi"), "10Gi") == Expansion(False, "20Gi", "30Gi")
    refused = plan_expansion(rerun, "5Gi")
    assert isinstance(refused, str)
    assert refused.startswith(
        "a resize is already in progress (spec.resources.requests.storage 30Gi, "
        "status.capacity 20Gi, status.allocatedResources 30Gi, FileSystemResizePending, "
        "NodeResizePending)")
    # Reported as under way though the request is not above the capacity: refused too.
    stuck = ClaimSize("20Gi", "20Gi", "20Gi", ("ControllerResizeInProgress",))
    assert "already in progress" in str(plan_expansion(stuck, "10Gi"))


def test_an_expansion_is_finished_when_the_capacity_has_the_target_and_nothing_is_reported(
        ) -> None:
    assert expansion_finished(ClaimSize("30Gi", "30Gi", "30Gi"), "30Gi")
    assert expansion_finished(ClaimSize("30Gi", "32212254720", None), "30Gi")
    assert not expansion_finished(ClaimSize("30Gi", "20Gi", "30Gi", ("NodeResizePending",)),
                                  "30Gi")
    assert not expansion_finished(ClaimSize("30Gi", "30Gi", "30Gi", ("NodeResizeInProgress",)),
                                  "30Gi")


def test_claim_mounters_are_the_running_pods_naming_the_claim() -> None:
    def pod(name: str, claim: str, phase: str = "Running", deleting: bool = False) -> Any:
        meta = {"name": name} | ({"deletionTimestamp": "2026-11-20T00:00:00Z"} if deleting
                                 else {})
        return {"metadata": meta, "status": {"phase": phase},
                "spec": {"volumes": [{"name": "v", "emptyDir": {}},
                                     {"name": "d", "persistentVolumeClaim": {
                                         "claimName": claim}}]}}

    pods = [pod("b", "data"), pod("a", "data"), pod("other", "logs"),
            pod("pending", "data", "Pending"), pod("going", "data", deleting=True)]
    assert claim_mounters("data", pods) == ["a", "b"]


def test_a_stalled_expansion_says_what_holds_it_and_what_to_do() -> None:
    pending = ClaimSize("30Gi", "20Gi", "30Gi", ("FileSystemResizePending", "NodeResizePending"))
    alone = expansion_stalled(pending, "30Gi", [])
    assert alone.startswith("status.capacity is 20Gi, not 30Gi (")
    assert "FileSystemResizePending" in alone and \
        alone.endswith("restart or start a pod that mounts it")
    assert "though web-0 mount(s) it" in expansion_stalled(pending, "30Gi", ["web-0"])
    assert expansion_stalled(pending, "30Gi", None).endswith(
        "restart or start a pod that mounts it")
    resizing = ClaimSize("30Gi", "20Gi", "30Gi", ("Resizing", "ControllerResizeInProgress"))
    assert "external-resizer has not finished" in expansion_stalled(resizing, "30Gi", [])
    assert "no resizer has started" in expansion_stalled(ClaimSize("30Gi", "20Gi"), "30Gi", [])
    infeasible = ClaimSize("30Gi", "20Gi", "30Gi", ("ControllerResizeInfeasible",))
    assert "infeasible" in expansion_stalled(infeasible, "30Gi", [])
