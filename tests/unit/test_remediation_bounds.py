"""Remediation bounded by the spec: label-chosen objects, fixed targets, rule budgets, matchers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from platform_assets.core.remediation import (
    Located,
    RemediationState,
    locate,
    ownership_labels,
    plan_remediations,
)
from platform_assets.names import (
    FIELD_MANAGER,
    LABEL_COMPONENT,
    LABEL_HELM_RELEASE_NAME,
    LABEL_HELM_RELEASE_NAMESPACE,
    LABEL_MANAGED_BY,
)
from platform_assets.spec.loader import SpecError, load_spec_text
from platform_assets.spec.models import PlatformSpec
from tests.unit.test_remediation import QUIET, SPEC, alert

RULES = """\
    - name: pvc-filling-up
      match: {alertname: KubePersistentVolumeFillingUp}
      action: expand_pvc
      target_label: persistentvolumeclaim
      component: shop
      expand_by: 10Gi
      cooldown: 6h
      budget: {max: 1, window: 24h}
    - name: any-pvc
      match: {alertname: AnyVolumeFillingUp}
      action: expand_pvc
      target_label: persistentvolumeclaim
      expand_by: 1Gi
      budget: {max: 5, window: 1h}
      rule_budget: {max: 2, window: 1h}
    - name: web-restart
      match: {alertname: WebDown}
      action: restart_rollout
      target: web
    - name: labelled-restart
      match: {alertname: SomethingDown}
      action: restart_rollout
      target_label: deployment
      component: web
"""
COMPONENTS = """\
  - name: web
    namespace: shop
    source: {helm_release: {chart: web, version: 1.0.0, repository: charts}}
"""


def spec(extra_rules: str = RULES) -> PlatformSpec:
    text = SPEC.replace("COOLDOWN", "0s").replace("  rules:\n", "  rules:\n" + extra_rules, 1)
    text = text.replace("applications:\n", "applications:\n" + COMPONENTS, 1)
    return load_spec_text(text, "platform.yaml")


def test_twenty_alerts_naming_twenty_pvcs_give_one_expansion() -> None:
    """The attack: a 1-per-24h rule, 20 alerts each naming another PVC. The per-target budget
    alone allowed 20 expansions; the rule's budget across targets allows one."""
    s, state = spec(), RemediationState()
    alerts = [alert("KubePersistentVolumeFillingUp", QUIET - timedelta(seconds=20 - i),
                    persistentvolumeclaim=f"data-{i}") for i in range(20)]
    plan = plan_remediations(s, alerts, state, QUIET)
    assert [d.target for d in plan.by_outcome("remediate")] == ["data-0"]
    (escalated,) = plan.by_outcome("escalate")
    assert "under rule pvc-filling-up" in escalated.reason
    assert len(plan.by_outcome("held")) == 18
    # A day later the rule may act once more, not 20 times.
    later = plan_remediations(s, [alert("KubePersistentVolumeFillingUp", QUIET + timedelta(
        hours=25), persistentvolumeclaim=f"more-{i}") for i in range(20)], state,
        QUIET + timedelta(hours=25))
    assert len(later.by_outcome("remediate")) == 1


def test_rule_budget_can_differ_from_the_target_budget() -> None:
    s, state = spec(), RemediationState()
    alerts = [alert("AnyVolumeFillingUp", QUIET - timedelta(seconds=5 - i),
                    persistentvolumeclaim=f"v{i}") for i in range(5)]
    plan = plan_remediations(s, alerts, state, QUIET)
    assert len(plan.by_outcome("remediate")) == 2


def test_a_pvc_outside_the_rules_component_is_refused_and_spends_no_budget() -> None:
    s, state = spec(), RemediationState()
    bad = alert("KubePersistentVolumeFillingUp", namespace="kube-system",
                persistentvolumeclaim="etcd-data")
    plan = plan_remediations(s, [bad], state, QUIET)
    (refused,) = plan.by_outcome("refused")
    assert "kube-system/etcd-data is outside component shop's namespace 'shop'" in \
        refused.reason
    assert state.history == {}
    # Refused once, not retried on the next tick.
    assert plan_remediations(s, [bad], state, QUIET + timedelta(minutes=1)).decisions == []
    good = alert("KubePersistentVolumeFillingUp", persistentvolumeclaim="data")
    (ok,) = plan_remediations(s, [good], state, QUIET).by_outcome("remediate")
    assert ok.located == Located("PersistentVolumeClaim", "shop", "data",
                                 ownership_labels(s.component("shop")))


def test_a_rule_bound_to_no_component_accepts_only_namespaces_of_the_spec() -> None:
    s = spec()
    rule = next(r for r in s.remediation.rules if r.name == "any-pvc")
    refused = locate(s, rule, {"namespace": "dagster", "persistentvolumeclaim": "pg"})
    assert isinstance(refused, str) and "a namespace of a component of the spec" in refused
    found = locate(s, rule, {"namespace": "shop", "persistentvolumeclaim": "data"})
    assert isinstance(found, Located)
    # Both components of namespace shop may own it.
    assert found.owned({LABEL_MANAGED_BY: FIELD_MANAGER, LABEL_COMPONENT: "web"})
    assert found.owned({LABEL_MANAGED_BY: FIELD_MANAGER, LABEL_COMPONENT: "shop"})
    assert not found.owned({LABEL_MANAGED_BY: FIELD_MANAGER, LABEL_COMPONENT: "other"})
    assert not found.owned({})


def test_a_fixed_target_is_not_overridden_by_labels() -> None:
    """The attack: a restart rule for ``web`` and an alert labelled ``deployment: coredns,
    namespace: kube-system``. The labels chose what got restarted; now the spec does."""
    s = spec()
    evil = alert("WebDown", namespace="kube-system", deployment="coredns", statefulset="x")
    (d,) = plan_remediations(s, [evil], RemediationState(), QUIET).by_outcome("remediate")
    assert d.located == Located("Deployment", "shop", "web")
    assert d.located.owned({})  # named by the spec: no label check needed


def test_a_label_chosen_workload_needs_the_components_labels() -> None:
    s = spec()
    rule = next(r for r in s.remediation.rules if r.name == "labelled-restart")
    found = locate(s, rule, {"namespace": "shop", "deployment": "web-api"})
    assert isinstance(found, Located) and (found.kind, found.name) == ("Deployment", "web-api")
    # A HelmRelease component's objects carry helm-controller's origin labels.
    assert found.owned({LABEL_HELM_RELEASE_NAME: "web", LABEL_HELM_RELEASE_NAMESPACE: "shop"})
    assert not found.owned({LABEL_HELM_RELEASE_NAME: "shop-db",
                            LABEL_HELM_RELEASE_NAMESPACE: "shop"})
    sts = locate(s, rule, {"namespace": "shop", "statefulset": "web-db"})
    assert isinstance(sts, Located) and sts.kind == "StatefulSet"
    assert isinstance(locate(s, rule, {"namespace": "shop"}), str)


@pytest.mark.parametrize(("matcher", "field"), [
    ('"~KubePVC(("', "remediation.rules[0].match.alertname"),
    ('"~[z-a]"', "remediation.rules[0].match.alertname"),
])
def test_an_invalid_regex_matcher_is_a_spec_error(matcher: str, field: str) -> None:
    text = SPEC.replace("COOLDOWN", "0s").replace(
        "match: {alertname: ShopDown, namespace: shop}", f"match: {{alertname: {matcher}}}")
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "platform.yaml")
    message = str(err.value)
    assert f"platform.yaml:19: {field}:" in message and "not a valid regex" in message


def test_an_unknown_rule_component_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"rules\[0\]\.component: unknown component 'nope'"):
        spec(RULES.replace("component: shop", "component: nope"))
