"""Component planning without a server: create, no-op, spec change vs drift, prune, inventory."""

from __future__ import annotations

import copy
import json

from platform_assets.core import desired
from platform_assets.core.calendar import Gate
from platform_assets.core.component_plan import (
    ABSENT_REASON,
    inventory_ahead,
    namespaces_of,
    observe_groups,
    observe_names,
    plan_component,
    prune_groups,
    prune_names,
    retired_inventories,
    write_ahead,
)
from platform_assets.core.redact import REDACTED
from platform_assets.spec.models import Component
from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

OPEN = Gate(True, "inside maintenance window sunday")
CLOSED = Gate(False, "outside every maintenance window")


def component(**kw: object) -> Component:
    return Component.model_validate({"name": "web", "namespace": "web",
                                     "source": {"manifests": {"path": "m"}}, **kw})


def objects(comp: Component, manifests: list[dict]) -> desired.ComponentObjects:
    docs = copy.deepcopy(manifests)
    for d in docs:
        d["metadata"].setdefault("namespace", comp.namespace)
    return desired.component_objects(comp, docs)


def config_id(objs: desired.ComponentObjects) -> tuple[str, str, str, str]:
    return next(desired.obj_id(o) for o in objs.objects if o["kind"] == "ConfigMap")


def applied(objs: desired.ComponentObjects) -> dict:
    """What the cluster holds after the objects and the inventory were applied as planned."""
    return {desired.obj_id(o): copy.deepcopy(o) for o in objs.all}


def test_everything_is_created_on_an_empty_cluster() -> None:
    comp = component()
    objs = objects(comp, [DEPLOYMENT, CONFIG])
    result = plan_component("platform/web", comp, objs, {}, ["web"], OPEN)
    actions = {c.address: c.action for c in result.plan.changes}
    assert actions == {"v1 Namespace web": "create", "apps/v1 Deployment web/web": "create",
                       "v1 ConfigMap web/web-config": "create",
                       "v1 ConfigMap web/platform-ops-inventory-web": "create"}
    assert result.plan.changes[-1].reason == "inventory"  # the inventory is written last
    assert not result.prunes and not result.orphans


def test_what_was_applied_is_a_no_op() -> None:
    comp = component()
    objs = objects(comp, [DEPLOYMENT, CONFIG])
    result = plan_component("platform/web", comp, objs, applied(objs), [], OPEN)
    assert not result.plan.has_changes and not result.plan.writes


def test_a_spec_change_updates_and_outside_drift_is_flagged() -> None:
    comp = component()
    before = objects(comp, [DEPLOYMENT, CONFIG])
    edited = copy.deepcopy(CONFIG) | {"data": {"greeting": "bonjour"}}
    result = plan_component("platform/web", comp, objects(comp, [DEPLOYMENT, edited]),
                            applied(before), [], OPEN)
    change = next(c for c in result.plan.changes if c.address.endswith("web-config"))
    assert change.action == "update" and not change.drift
    assert [f.path for f in change.fields] == ["data.greeting"]

    live = applied(before)
    live[config_id(before)]["data"]["greeting"] = "changed by hand"
    drifted = plan_component("platform/web", comp, before, live, [], OPEN)
    change = next(c for c in drifted.plan.changes if c.address.endswith("web-config"))
    assert change.action == "update" and change.drift


def test_warn_reports_drift_and_observe_never_writes() -> None:
    for mode, expected in (("warn", "drift mode warn"), ("observe", "drift mode observe")):
        comp = component(drift=mode)
        objs = objects(comp, [DEPLOYMENT, CONFIG])
        live = applied(objs)
        live[config_id(objs)]["data"]["greeting"] = "changed by hand"
        result = plan_component("platform/web", comp, objs, live, [], OPEN)
        change = next(c for c in result.plan.changes if c.address.endswith("web-config"))
        assert change.action == "no-op" and change.drift and expected in change.reason
        assert not result.plan.writes
    comp = component(drift="observe")
    nothing = plan_component("platform/web", comp, objects(comp, [DEPLOYMENT]), {}, ["web"],
                             OPEN)
    assert not nothing.plan.writes and not nothing.inventory_change.writes


def test_leftovers_are_pruned_in_a_window_deferred_outside_and_kept_when_pruning_is_off() -> None:
    comp = component()
    before = objects(comp, [DEPLOYMENT, CONFIG])
    now = objects(comp, [DEPLOYMENT])
    result = plan_component("platform/web", comp, now, applied(before), [], OPEN)
    assert [(oid[1], c.action) for oid, c in result.prunes] == [("ConfigMap", "delete")]
    assert result.pruned == 1
    assert "web-config" not in result.inventory["data"]["objects"]

    deferred = plan_component("platform/web", comp, now, applied(before), [], CLOSED)
    assert [c.action for _, c in deferred.prunes] == ["deferred"]
    assert deferred.pruned == 0
    # A prune that waits for a window stays in the inventory, so a later run still finds it.
    assert "web-config" in deferred.inventory["data"]["objects"]

    kept = component(prune=False)
    off = plan_component("platform/web", kept, objects(kept, [DEPLOYMENT]),
                         applied(objects(kept, [DEPLOYMENT, CONFIG])), [], OPEN)
    assert not off.prunes and off.orphans == ["v1 ConfigMap web/web-config"]


def test_a_leftover_being_deleted_is_not_deleted_again() -> None:
    """A prune of an object with finalizers leaves it with a deletionTimestamp (the API server
    removes it once they are gone): the next run writes nothing for it and keeps it
    inventoried until it is gone."""
    comp = component()
    before = objects(comp, [DEPLOYMENT, CONFIG])
    live = applied(before)
    live[config_id(before)]["metadata"] |= {"deletionTimestamp": "2026-01-01T00:00:00Z",
                                            "finalizers": ["example.com/hold"]}
    result = plan_component("platform/web", comp, objects(comp, [DEPLOYMENT]), live, [], OPEN)
    [(_, change)] = result.prunes
    assert change.action == "no-op" and "example.com/hold" in change.reason
    assert result.pruned == 0 and not result.plan.writes
    assert "web-config" in result.inventory["data"]["objects"]
    assert not result.inventory_change.writes


def test_a_desired_object_being_deleted_is_created_again_once_gone() -> None:
    """Someone deleted an object the spec still has and finalizers hold it: applying onto it
    would write to an object about to go, so the plan creates it (the run waits for it to go,
    as Flux's kustomize-controller recreates what it finds terminating) and says what holds
    it; it is planned whole, not without the fields others owned."""
    comp = component()
    objs = objects(comp, [DEPLOYMENT, CONFIG])
    live = applied(objs)
    live[config_id(objs)]["metadata"] |= {"deletionTimestamp": "2026-01-01T00:00:00Z",
                                          "finalizers": ["example.com/hold"]}
    result = plan_component("platform/web", comp, objs, live, [], CLOSED)
    change = result.changes[config_id(objs)]
    assert change.action == "create" and change.writes
    assert "being deleted (finalizers: example.com/hold)" in change.reason
    assert result.objects[config_id(objs)] == next(
        o for o in objs.objects if desired.obj_id(o) == config_id(objs))
    assert sum(1 for c in result.plan.changes if c.writes) == 1


def test_secret_values_never_enter_the_plan() -> None:
    comp = component()
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "stringData": {"password": "hunter2"}}
    before = objects(comp, [secret])
    edited = copy.deepcopy(secret) | {"stringData": {"password": "hunter3"}}
    result = plan_component("platform/web", comp, objects(comp, [edited]), applied(before),
                            [], OPEN)
    change = next(c for c in result.plan.changes if "Secret" in c.address)
    assert change.fields and all(f.desired == f.observed == REDACTED for f in change.fields)
    assert "hunter" not in result.plan.to_markdown()


def test_observe_and_prune_groups() -> None:
    comp = component()
    objs = objects(comp, [DEPLOYMENT, CONFIG])
    assert observe_groups(objs) == {("apps/v1", "Deployment", "web"), ("v1", "ConfigMap", "web")}
    assert namespaces_of(comp, objs) == ["web"]
    old = objects(comp, [DEPLOYMENT, CONFIG, {"apiVersion": "v1", "kind": "Service",
                                               "metadata": {"name": "web"}}])
    assert prune_groups(objs, old.inventory) == {("v1", "Service", "web")}
    assert prune_groups(objs, None) == set()


def test_secrets_are_observed_and_pruned_by_name_not_by_list() -> None:
    """Secrets are read one GET per name (a list would return every Secret of the namespace):
    those the spec applies, and those only the last inventory still names, to prune them."""
    comp = component()
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"},
              "stringData": {"t": "x"}}
    old_secret = {**secret, "metadata": {"name": "old-token"}}
    objs = objects(comp, [DEPLOYMENT, secret])
    assert observe_groups(objs) == {("apps/v1", "Deployment", "web"), ("v1", "ConfigMap", "web")}
    assert observe_names(objs) == {("v1", "Secret", "web", "token")}
    old = objects(comp, [DEPLOYMENT, secret, old_secret])
    assert prune_groups(objs, old.inventory) == set()
    assert prune_names(objs, old.inventory) == {("v1", "Secret", "web", "old-token")}
    assert prune_names(objs, None) == set()



def test_the_inventory_is_written_ahead_of_what_a_later_run_would_not_find() -> None:
    """Ahead of the first object in apply order whose kind and namespace the observed inventory
    does not name (a later spec without it would never list them) or, read by name, that it
    does not list; not for the inventory's own kind and namespace, always listed, nor for a
    Namespace, never pruned. With a prune pending it keeps the old entries too."""
    comp = component()
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}
    elsewhere = {**CONFIG, "metadata": {"name": "web-config", "namespace": "other"}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}
    before = objects(comp, [DEPLOYMENT, CONFIG])
    have = applied(before)

    def ahead(manifests: list[dict]) -> tuple[object, object]:
        objs = objects(comp, manifests)
        planned = plan_component("platform/web", comp, objs, have, [], OPEN)
        assert (planned.write_ahead, planned.write_ahead_before) == write_ahead(
            comp, planned.inventory, have.get(desired.obj_id(objs.inventory)), planned.changes)
        return planned.write_ahead_before, planned.write_ahead == planned.inventory

    assert ahead([DEPLOYMENT, CONFIG, {**CONFIG, "metadata": {"name": "more"}}]) == (None, False)
    assert ahead([DEPLOYMENT, CONFIG, service]) == (("v1", "Service", "web", "web"), True)
    assert ahead([namespace, DEPLOYMENT, CONFIG, elsewhere]) == (
        ("v1", "ConfigMap", "other", "web-config"), True)
    # The Deployment pruned: the inventory ahead still names it, the final one no more.
    assert ahead([CONFIG, service]) == (("v1", "Service", "web", "web"), False)
    pruning = plan_component("platform/web", comp, objects(comp, [CONFIG, service]), have, [],
                             OPEN)
    assert pruning.write_ahead is not None
    assert [oid[1] for oid in desired.parse_inventory(pruning.write_ahead)] == [
        "Deployment", "ConfigMap", "Service"]
    first = plan_component("platform/web", comp, before, {}, ["web"], OPEN)
    assert first.write_ahead_before == desired.obj_id(DEPLOYMENT | {
        "metadata": {"name": "web", "namespace": "web"}})
    assert first.write_ahead is first.inventory  # written once, ahead, as it was written last


def test_another_handler_names_its_objects_in_the_inventory_before_writing_them() -> None:
    """A registry's pull Secret, written before the component's own run: the observed inventory
    with it added (none to start with: only it), nothing once it is named."""
    comp = component()
    pull = ("v1", "Secret", "web", "web-pull")
    first = inventory_ahead(comp, None, [pull])
    assert first is not None and desired.parse_inventory(first) == [pull]
    assert desired.obj_id(first) == desired.obj_id(objects(comp, []).inventory)
    assert inventory_ahead(comp, first, [pull]) is None
    have = applied(objects(comp, [DEPLOYMENT, CONFIG]))[("v1", "ConfigMap", "web",
                                                        "platform-ops-inventory-web")]
    more = inventory_ahead(comp, have, [pull])
    assert more is not None
    assert [oid[3] for oid in desired.parse_inventory(more)] == ["web", "web-config", "web-pull"]


def test_the_inventories_a_move_left_are_found_from_the_recorded_namespaces() -> None:
    """Every recorded or declared namespace but the component's own holds a retired inventory;
    a materialization from before ``inventory_namespaces`` recorded only ``namespace``."""
    comp = component(namespace="web2")
    inv = "platform-ops-inventory-web"
    assert retired_inventories(comp, {}) == []
    assert retired_inventories(comp, {"namespace": "web2"}) == []
    assert retired_inventories(comp, {"namespace": "web"}) == [("v1", "ConfigMap", "web", inv)]
    assert retired_inventories(comp, {"namespace": "web2", "inventory_namespaces": "a,web2"}) \
        == [("v1", "ConfigMap", "a", inv)]
    # Declared in the spec: found even with no run history.
    declared = component(namespace="web2", previous_namespaces=["web", "web2"])
    assert retired_inventories(declared, {}) == [("v1", "ConfigMap", "web", inv)]


def test_a_moved_component_prunes_what_its_old_inventory_lists_after_the_new_one() -> None:
    """What the old inventory lists is pruned with the move as its reason; the old inventory
    goes last (``retired``), after the new one, which lists every deferred prune, the old
    inventory included, so a later run still finds them."""
    old = component()
    before = applied(objects(old, [DEPLOYMENT, CONFIG]))
    comp = component(namespace="web2")
    objs = objects(comp, [DEPLOYMENT, CONFIG])
    retired = retired_inventories(comp, {"namespace": "web"})
    have = {**before, **applied(objs)}
    result = plan_component("platform/web", comp, objs, have, [], OPEN, retired=retired)
    assert [c.address for _, c in result.prunes] == [
        "apps/v1 Deployment web/web", "v1 ConfigMap web/web-config"]
    assert [(oid, c.action) for oid, c in result.retired] == [(retired[0], "delete")]
    reasons = {c.address: c.reason for c in result.plan.changes if c.action == "delete"}
    assert reasons["v1 ConfigMap web/web-config"] == (
        "no longer in the spec: the component moved to namespace web2 (listed by its "
        "inventory in web)")
    assert reasons["v1 ConfigMap web/platform-ops-inventory-web"] == (
        "the component's inventory in web, retired: the component moved to namespace web2")
    assert result.pruned == 3
    assert result.inventory_namespaces("web2", applied=True) == "web2"
    assert result.inventory_namespaces("web2", applied=False) == "web,web2"

    deferred = plan_component("platform/web", comp, objs, have, [], CLOSED, retired=retired)
    assert {c.action for _, c in [*deferred.prunes, *deferred.retired]} == {"deferred"}
    assert "v1/ConfigMap/web/platform-ops-inventory-web" in json.loads(
        deferred.inventory["data"]["objects"])
    assert deferred.inventory_namespaces("web2", applied=True) == "web,web2"
    gone = plan_component("platform/web", comp, objs, applied(objs), [], OPEN, retired=retired)
    assert not gone.prunes and not gone.retired
    assert gone.inventory_namespaces("web2", applied=True) == "web2"


SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-token"},
          "type": "Opaque", "stringData": {"token": "t"}}


def test_an_absent_component_deletes_what_its_inventory_lists_then_the_inventory() -> None:
    """Nothing is applied, no namespace planned; each object the inventory lists (the Secret
    included) is deleted with the reason, most dependent first, the inventory last; the run
    records that nothing is left."""
    before = applied(objects(component(), [DEPLOYMENT, CONFIG, SECRET]))
    comp = component(absent=True)
    objs = objects(comp, [DEPLOYMENT, CONFIG, SECRET])
    assert objs.objects == [] and namespaces_of(comp, objs) == []
    assert prune_names(objs, before[desired.obj_id(objs.inventory)]) == {
        ("v1", "Secret", "web", "web-token")}
    result = plan_component("platform/web", comp, objs, before, [], OPEN)
    assert [(c.address, c.action, c.reason) for c in result.plan.changes] == [
        ("apps/v1 Deployment web/web", "delete", ABSENT_REASON),
        ("v1 ConfigMap web/web-config", "delete", ABSENT_REASON),
        ("v1 Secret web/web-token", "delete", ABSENT_REASON),
        ("v1 ConfigMap web/platform-ops-inventory-web", "delete",
         f"{ABSENT_REASON}: its inventory in web, deleted last")]
    assert [oid[3] for oid, _ in result.retired] == ["platform-ops-inventory-web"]
    assert not result.objects and not result.inventory_change.writes
    assert result.write_ahead is None and result.pruned == 4
    assert result.absent_state(applied=True) == "gone"
    assert result.inventory_namespaces("web", applied=True) == ""
    assert result.absent_state(applied=False) == "pruning"  # a dry run deleted nothing

    again = plan_component("platform/web", comp, objs, {}, [], OPEN)
    assert not again.plan.writes and again.absent_state(applied=True) == "gone"


def test_an_absent_component_keeps_its_inventory_while_a_prune_waits() -> None:
    """Outside the window every delete is deferred; an object held by finalizers or a Secret
    the run may not read keeps the inventory (no-op), which names them for a later run."""
    before = applied(objects(component(), [DEPLOYMENT, CONFIG, SECRET]))
    comp = component(absent=True)
    objs = objects(comp, [DEPLOYMENT, CONFIG])
    inv = "v1 ConfigMap web/platform-ops-inventory-web"
    deferred = plan_component("platform/web", comp, objs, before, [], CLOSED)
    assert {c.action for c in deferred.plan.changes} == {"deferred", "no-op"}
    assert next(c for c in deferred.plan.changes if c.address == inv).action == "no-op"
    assert not deferred.plan.writes and deferred.absent_state(applied=True) == "pruning"

    held = copy.deepcopy(before)
    dep = ("apps/v1", "Deployment", "web", "web")
    held[dep]["metadata"] |= {"deletionTimestamp": "2026-11-26T10:00:00Z",
                              "finalizers": ["example.com/hold"]}
    waiting = plan_component("platform/web", comp, objs, held, [], OPEN)
    actions = {c.address: c.action for c in waiting.plan.changes}
    assert actions["apps/v1 Deployment web/web"] == "no-op"
    assert actions["v1 Secret web/web-token"] == "delete" and actions[inv] == "no-op"
    assert "kept until the 1 objects" in next(
        c.reason for c in waiting.plan.changes if c.address == inv)

    secret = ("v1", "Secret", "web", "web-token")
    unread = plan_component("platform/web", comp, objs,
                            {k: v for k, v in before.items() if k != secret}, [], OPEN,
                            unread=[secret])
    assert {c.address: c.action for c in unread.plan.changes}[inv] == "no-op"
    assert unread.orphans == ["v1 Secret web/web-token"]


def test_an_absent_component_that_moved_deletes_both_inventories_last() -> None:
    """What the inventory a move left lists is deleted too, that inventory with its own."""
    before = applied(objects(component(), [DEPLOYMENT, CONFIG]))
    comp = component(namespace="web2", absent=True)
    objs = objects(comp, [])
    retired = retired_inventories(comp, {"namespace": "web"})
    result = plan_component("platform/web", comp, objs, before, [], OPEN, retired=retired)
    assert [c.reason for _, c in result.prunes] == [ABSENT_REASON] * 2
    assert [(oid, c.action) for oid, c in result.retired] == [(retired[0], "delete")]
    assert result.absent_state(applied=True) == "gone"
