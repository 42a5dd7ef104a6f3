"""One component's plan: the objects the spec asks for against what the cluster has. Pure.

The reconcile engine observes (one label-selected list per kind and namespace, see
``observe_groups`` and ``prune_groups``) and hands the result to ``plan_component``, which
decides each object's change, which leftovers to prune (objects with our labels, or in our
inventory, that the spec no longer has) and the inventory ConfigMap to write last. An object
whose applied-hash annotation equals the spec's is only corrected when its drift mode allows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from platform_assets.core import desired
from platform_assets.core.calendar import Gate
from platform_assets.core.diff import FieldChange, diff
from platform_assets.core.plan import Action, Change, Plan, decide, delete_change
from platform_assets.core.ports import Json
from platform_assets.names import ANNOTATION_APPLIED_HASH
from platform_assets.spec.models import Component

ObjId = tuple[str, str, str, str]
ListGroup = tuple[str, str, str]  # apiVersion, kind, namespace ("" for cluster-scoped)
REDACTED = "(secret value)"


def namespaces_of(component: Component, objs: desired.ComponentObjects) -> list[str]:
    """The namespaces the component's objects live in, except those its manifests create."""
    in_manifests = {o["metadata"]["name"] for o in objs.objects if o["kind"] == "Namespace"}
    used = {component.namespace} | {str(o["metadata"].get("namespace") or "")
                                    for o in objs.objects}
    return sorted(used - in_manifests - {""})


def observe_groups(objs: desired.ComponentObjects) -> set[ListGroup]:
    """One list per kind and namespace the component applies (the inventory included)."""
    return {oid[:3] for oid in map(desired.obj_id, objs.all)}


def prune_groups(objs: desired.ComponentObjects, inventory: Json | None) -> set[ListGroup]:
    """Kinds and namespaces the last inventory lists that the spec no longer has: listed too,
    so their objects can be pruned."""
    listed = {(a, k, ns) for a, k, ns, _ in desired.parse_inventory(inventory)}
    return listed - observe_groups(objs)


@dataclass(frozen=True)
class ComponentPlan:
    """The plan of one component, and what applying it writes."""

    plan: Plan
    objects: dict[ObjId, Json]  # each desired object (the inventory excepted), in apply order
    changes: dict[ObjId, Change]  # and its change
    prunes: list[tuple[ObjId, Change]]  # leftovers to delete, most dependent kinds first
    orphans: list[str]  # leftovers kept (pruning off, or namespaces)
    inventory: Json  # the inventory ConfigMap to apply last
    inventory_change: Change

    @property
    def pruned(self) -> int:
        return sum(1 for _, c in self.prunes if c.writes)


def plan_component(path: str, component: Component, objs: desired.ComponentObjects,
                   observed: Mapping[ObjId, Json], missing_namespaces: Collection[str],
                   gate: Gate) -> ComponentPlan:
    """Decide every change of ``component``.

    Args:
        path: the asset's path (the plan's name).
        component: its spec.
        objs: the stamped objects it applies (``desired.component_objects``).
        observed: what the cluster has, by object id, from the lists of ``observe_groups`` and
            ``prune_groups``.
        missing_namespaces: those of ``namespaces_of`` that do not exist.
        gate: whether disruptive changes (prunes) may run now.
    """
    plan = Plan(path)
    mode = component.drift
    for ns in namespaces_of(component, objs):
        plan.add(decide(f"v1 Namespace {ns}", ns not in missing_namespaces, [], gate=gate,
                        mode=mode))
    want_ids = {desired.obj_id(o): o for o in objs.objects}
    changes = {oid: plan.add(object_change(want, observed.get(oid), gate, mode))
               for oid, want in want_ids.items()}
    wanted = {*changes, desired.obj_id(objs.inventory)}
    leftovers = [oid for oid in observed if oid not in wanted]
    prunes, orphans = _leftovers(plan, component, observed, leftovers, gate)
    kept = [_with_id(observed[oid], oid) for oid, ch in prunes if ch.action != "delete"]
    inventory = desired.stamp(desired.inventory_object(component, [*objs.objects, *kept]),
                              component.name)
    inv_change = inventory_change(inventory, observed.get(desired.obj_id(objs.inventory)), mode)
    plan.add(inv_change)
    return ComponentPlan(plan, want_ids, changes, prunes, orphans, inventory, inv_change)


def object_change(want: Json, have: Json | None, gate: Gate, mode: str) -> Change:
    """One object's change. Its applied-hash annotation tells a spec change from drift."""
    fields: list[FieldChange] = []
    spec_changed = True
    if have is not None:
        spec_changed = desired.applied_hash(have) != desired.applied_hash(want)
        fields = diff(desired.comparable(want), have)
        if spec_changed and not fields:
            fields = diff({"metadata": {"annotations": {
                ANNOTATION_APPLIED_HASH: desired.applied_hash(want)}}}, have)
    if want["kind"] == "Secret":
        fields = [FieldChange(f.path, REDACTED, REDACTED) for f in fields]
    return decide(desired.obj_address(want), have is not None, fields, gate=gate,
                  drift=not spec_changed, mode=mode)


def inventory_change(want: Json, have: Json | None, mode: str) -> Change:
    """The inventory's change: not gated (it only lists), never written in observe mode."""
    fields = diff(desired.comparable(want), have) if have else []
    action: Action = "create" if have is None else "update" if fields else "no-op"
    if mode == "observe" and action != "no-op":
        return Change(desired.obj_address(want), "no-op", tuple(fields),
                      reason="drift mode observe: never writes")
    return Change(desired.obj_address(want), action, tuple(fields), reason="inventory")


def _with_id(obj: Json, oid: ObjId) -> Json:
    return obj | {"apiVersion": oid[0], "kind": oid[1]}


def _leftovers(plan: Plan, component: Component, observed: Mapping[ObjId, Json],
               leftovers: Iterable[ObjId], gate: Gate,
               ) -> tuple[list[tuple[ObjId, Change]], list[str]]:
    prunes: list[tuple[ObjId, Change]] = []
    orphans: list[str] = []
    for oid in sorted(leftovers, key=lambda i: -desired.APPLY_ORDER.get(i[1], 10)):
        address = desired.obj_address(_with_id(observed[oid], oid))
        if not component.prune or oid[1] == "Namespace":
            why = "pruning is off" if not component.prune else "namespaces are never pruned"
            plan.add(Change(address, "no-op", reason=f"no longer in the spec; {why}"))
            orphans.append(address)
            continue
        prunes.append((oid, plan.add(delete_change(address, gate, mode=component.drift))))
    return prunes, orphans
