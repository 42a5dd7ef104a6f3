"""One component's plan: the objects the spec asks for against what the cluster has. Pure.

The reconcile engine observes (one label-selected list per kind and namespace, see
``observe_groups`` and ``prune_groups``; Secrets one GET per name, see ``observe_names`` and
``prune_names``) and hands the result to ``plan_component``, which decides each object's
change, which leftovers to prune (objects with our labels, or in our inventory, that the spec
no longer has; Secrets only from the inventory) and the inventory ConfigMap to write last, or
first when a later run could not find an object without it (``write_ahead``). An object whose
applied-hash annotation equals the spec's is only corrected when its drift mode allows.

The inventory lives in the component's namespace, so a component moved to another namespace
would no longer find the last one. Each materialization records the namespaces an inventory of
the component may still be in (``INVENTORY_NAMESPACES``); a run reads the inventories of the
others (``retired_inventories``), prunes what they list like any leftover, and deletes each
after the new inventory is written (``ComponentPlan.retired``).

A component marked ``absent: true`` applies nothing: every object its inventories list is a
leftover pruned with ``ABSENT_REASON``, and the inventories go last (``retired``), once every
prune is carried out; while one is deferred, held by finalizers or unreadable, they stay and a
later run finds the rest.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace

from platform_assets.core import desired, immutable, ownership
from platform_assets.core.calendar import Gate
from platform_assets.core.diff import MISSING, FieldChange, diff, touches
from platform_assets.core.fieldpath import parse_jq_path, parse_json_pointer, render
from platform_assets.core.manifests import READ_BY_NAME_KINDS
from platform_assets.core.ownership import IgnoreRule
from platform_assets.core.plan import Action, Change, Plan, decide, delete_change
from platform_assets.core.ports import Json
from platform_assets.core.redact import redact_all, redact_change
from platform_assets.names import ANNOTATION_APPLIED_HASH, FIELD_MANAGER
from platform_assets.spec.models import Component

ObjId = tuple[str, str, str, str]
ListGroup = tuple[str, str, str]  # apiVersion, kind, namespace ("" for cluster-scoped)

# The materialization metadata naming, comma-separated, the namespaces where an inventory of
# the component may remain after the run (its own, and those of a move not pruned yet).
INVENTORY_NAMESPACES = "inventory_namespaces"
# The materialization metadata of an absent component: ``gone`` once no inventory of it is
# left (nothing more to prune), else ``pruning``.
ABSENT = "absent"
ABSENT_REASON = "component is absent from the spec"


def retired_inventories(component: Component, recorded: Mapping[str, object]) -> list[ObjId]:
    """The inventories of ``component`` outside its namespace that may remain: in its
    ``previous_namespaces``, and where the last materialization's metadata (``recorded``)
    says: its ``INVENTORY_NAMESPACES``, and its ``namespace`` (what a materialization recorded
    before that key existed)."""
    names = f"{recorded.get(INVENTORY_NAMESPACES) or ''},{recorded.get('namespace') or ''}"
    found = {n.strip() for n in names.split(",")} | set(component.previous_namespaces)
    return [("v1", "ConfigMap", ns, desired.inventory_name(component.name))
            for ns in sorted(found - {"", component.namespace})]


def namespaces_of(component: Component, objs: desired.ComponentObjects) -> list[str]:
    """The namespaces the component's objects live in, except those its manifests create
    (none for an absent component: a prune never creates a namespace)."""
    if component.absent:
        return []
    in_manifests = {o["metadata"]["name"] for o in objs.objects if o["kind"] == "Namespace"}
    used = {component.namespace} | {str(o["metadata"].get("namespace") or "")
                                    for o in objs.objects}
    return sorted(used - in_manifests - {""})


def observe_groups(objs: desired.ComponentObjects) -> set[ListGroup]:
    """One list per kind and namespace the component applies (the inventory included), but
    for the kinds read by name (``READ_BY_NAME_KINDS``: Secrets)."""
    return {oid[:3] for oid in map(desired.obj_id, objs.all)
            if oid[1] not in READ_BY_NAME_KINDS}


def observe_names(objs: desired.ComponentObjects) -> set[ObjId]:
    """The objects of the kinds read by name (Secrets) the component applies: one GET each."""
    return {oid for oid in map(desired.obj_id, objs.all) if oid[1] in READ_BY_NAME_KINDS}


def _listed(inventories: Iterable[Json | None]) -> set[ObjId]:
    return {oid for inventory in inventories for oid in desired.parse_inventory(inventory)}


def prune_groups(objs: desired.ComponentObjects, *inventories: Json | None) -> set[ListGroup]:
    """Kinds and namespaces the last inventories (its own, and ``retired_inventories``) list
    that the spec no longer has: listed too, so their objects can be pruned (kinds read by name
    excepted: ``prune_names``)."""
    listed = {oid[:3] for oid in _listed(inventories) if oid[1] not in READ_BY_NAME_KINDS}
    return listed - observe_groups(objs)


def prune_names(objs: desired.ComponentObjects, *inventories: Json | None) -> set[ObjId]:
    """Objects of the kinds read by name that the last inventories list and the spec no longer
    has: read by name too, so they can be pruned. Only the inventory can name them, so a run
    writes a new one into the inventory before applying it (``write_ahead``): a run that dies
    between the two leaves it inventoried, and a later run finds it."""
    listed = {oid for oid in _listed(inventories) if oid[1] in READ_BY_NAME_KINDS}
    return listed - observe_names(objs)


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
    # An inventory to apply before the first object a later run could not find from the
    # observed inventory (``write_ahead_before``): the last one's entries and the new ones.
    # It is ``inventory`` itself when nothing is pruned, which then is not applied again.
    write_ahead: Json | None = None
    write_ahead_before: ObjId | None = None
    # Inventories left in the namespaces the component moved from (``retired_inventories``),
    # to delete once the new inventory is written: a run killed before finds them again.
    retired: list[tuple[ObjId, Change]] = field(default_factory=list)
    # An absent component: its own inventory is among ``retired`` and nothing is applied.
    absent: bool = False

    @property
    def pruned(self) -> int:
        """How many objects this plan deletes because the spec no longer has them."""
        return sum(1 for _, c in [*self.prunes, *self.retired] if c.writes)

    def inventory_namespaces(self, namespace: str, applied: bool) -> str:
        """``INVENTORY_NAMESPACES`` after the run: the component's ``namespace`` (unless it is
        absent) and those whose retired inventory stays (not deleted, or nothing ``applied``:
        a dry run)."""
        stay = {oid[2] for oid, change in self.retired if not (applied and change.writes)}
        return ",".join(sorted(({namespace} if not self.absent else set()) | stay))

    def absent_state(self, applied: bool) -> str:
        """``ABSENT`` after the run of an absent component: ``gone`` when no inventory of it
        remains, else ``pruning``."""
        return "pruning" if self.inventory_namespaces("", applied) else "gone"


def plan_component(path: str, component: Component, objs: desired.ComponentObjects,
                   observed: Mapping[ObjId, Json], missing_namespaces: Collection[str],
                   gate: Gate, unread: Collection[ObjId] = (),
                   retired: Collection[ObjId] = ()) -> ComponentPlan:
    """Decide every change of ``component``.

    Args:
        path: the asset's path (the plan's name).
        component: its spec.
        objs: the stamped objects it applies (``desired.component_objects``).
        observed: what the cluster has, by object id, from the lists of ``observe_groups`` and
            ``prune_groups`` and the reads of ``observe_names`` and ``prune_names``.
        missing_namespaces: those of ``namespaces_of`` that do not exist.
        gate: whether disruptive changes (prunes) may run now.
        unread: objects of ``prune_names`` the run may not read (403: the RBAC of a spec
            that no longer has them names them no more): kept in the inventory, not pruned,
            reported as orphans.
        retired: the ``retired_inventories`` of a component that moved namespace; those
            observed are deleted after the new inventory, what they list pruned.
    """
    plan = Plan(path)
    mode = component.drift
    for ns in namespaces_of(component, objs):
        plan.add(decide(f"v1 Namespace {ns}", ns not in missing_namespaces, [], gate=gate,
                        mode=mode))
    rules = ignore_rules(component)
    want_ids = {desired.obj_id(o): o for o in objs.objects}
    replacing = ReplacePolicy(component.name, component.allow_replace)
    live = _live(want_ids, observed)
    changes = {oid: plan.add(_recreated(object_change(want, live.get(oid), gate, mode, rules,
                                                      replacing), observed.get(oid)))
               for oid, want in want_ids.items()}
    # A replace creates the object anew: the whole of it, fields others owned included.
    bodies = {oid: apply_body(want, live.get(oid), rules)
              if changes[oid].writes and changes[oid].action != "replace" else want
              for oid, want in want_ids.items()}
    if component.absent:
        return _absent_plan(plan, component, objs, observed, gate, unread, retired)
    wanted = {*changes, desired.obj_id(objs.inventory)}
    leftovers = [oid for oid in observed if oid not in wanted]
    prunes, orphans = _leftovers(plan, component, observed, leftovers, gate,
                                 _moved(component, observed, retired))
    kept = [_with_id(observed[oid], oid) for oid, ch in prunes if ch.action != "delete"]
    old = [(oid, ch) for oid, ch in prunes if oid in retired]
    prunes = [(oid, ch) for oid, ch in prunes if oid not in retired]
    for a, k, ns, name in sorted(unread):
        kept.append({"apiVersion": a, "kind": k, "metadata": {"name": name, "namespace": ns}})
        address = desired.obj_address(kept[-1])
        plan.add(Change(address, "no-op", reason="no longer in the spec; the run may not read "
                                                 "it (403), so it is not pruned"))
        orphans.append(address)
    inventory = desired.stamp(desired.inventory_object(component, [*objs.objects, *kept]),
                              component.name)
    have_inventory = observed.get(desired.obj_id(objs.inventory))
    inv_change = inventory_change(inventory, have_inventory, mode)
    plan.add(inv_change)
    ahead, before = write_ahead(component, inventory, have_inventory, changes)
    return ComponentPlan(plan, bodies, changes, prunes, orphans, inventory, inv_change,
                         ahead if inv_change.writes else None, before, old)


def _absent_plan(plan: Plan, component: Component, objs: desired.ComponentObjects,
                 observed: Mapping[ObjId, Json], gate: Gate, unread: Collection[ObjId],
                 retired: Collection[ObjId]) -> ComponentPlan:
    """The plan of an absent component: delete everything its inventories list (and what our
    label lists in the kinds and namespaces they name), each with ``ABSENT_REASON``, then the
    inventories, unless a prune is not carried out now: they must name it for a later run."""
    own = desired.obj_id(objs.inventory)
    inventories = [oid for oid in sorted({own, *retired}) if oid in observed]
    leftovers = [oid for oid in observed if oid not in inventories]
    prunes, orphans = _leftovers(plan, component, observed, leftovers, gate,
                                 dict.fromkeys(leftovers, ABSENT_REASON))
    for a, k, ns, name in sorted(unread):
        address = desired.obj_address(
            {"apiVersion": a, "kind": k, "metadata": {"name": name, "namespace": ns}})
        plan.add(Change(address, "no-op", reason=f"{ABSENT_REASON}; the run may not read it "
                                                 "(403), so it is not pruned"))
        orphans.append(address)
    # Namespaces are never pruned: they need no inventory to be left alone.
    left = sum(1 for _, c in prunes if not c.writes) + len(unread)
    gone: list[tuple[ObjId, Change]] = []
    for oid in inventories:
        address = desired.obj_address(_with_id(observed[oid], oid))
        why = f"{ABSENT_REASON}: its inventory in {oid[2]}, deleted last"
        gone.append((oid, plan.add(delete_change(address, gate, why, component.drift)
                                   if not left else Change(address, "no-op", reason=(
                                       f"{why}: kept until the {left} objects it lists that "
                                       "this run does not delete are gone")))))
    inventory = objs.inventory
    kept = Change(desired.obj_address(inventory), "no-op", reason=ABSENT_REASON)
    return ComponentPlan(plan, {}, {}, prunes, orphans, inventory, kept, retired=gone,
                         absent=True)


def _moved(component: Component, observed: Mapping[ObjId, Json],
           retired: Collection[ObjId]) -> dict[ObjId, str]:
    """Why each object a retired inventory lists (and the inventory itself) is a leftover."""
    out: dict[ObjId, str] = {}
    for rid in retired:
        if rid in observed:
            why = (f"no longer in the spec: the component moved to namespace "
                   f"{component.namespace} (listed by its inventory in {rid[2]})")
            out.update(dict.fromkeys(desired.parse_inventory(observed[rid]), why))
            out[rid] = (f"the component's inventory in {rid[2]}, retired: the component moved "
                        f"to namespace {component.namespace}")
    return out


def _live(want_ids: Mapping[ObjId, Json], observed: Mapping[ObjId, Json]) -> dict[ObjId, Json]:
    """The desired objects' observed state, those being deleted left out: applying onto one
    would write to an object about to go, so it is planned as missing; the run waits for it
    to go and creates it again, as Flux does, and the next run finds it and writes nothing."""
    return {oid: have for oid in want_ids
            if (have := observed.get(oid)) is not None and not being_deleted(have)}


def being_deleted(obj: Json | None) -> bool:
    """Whether the object is being deleted (deletionTimestamp set; finalizers hold it)."""
    return bool(((obj or {}).get("metadata") or {}).get("deletionTimestamp"))


def held_by(obj: Json | None) -> str:
    """What keeps an object being deleted: its finalizers, and what pvc-protection waits for."""
    fins = ((obj or {}).get("metadata") or {}).get("finalizers") or []
    text = f"finalizers: {', '.join(fins) or 'none'}"
    if "kubernetes.io/pvc-protection" in fins:
        text += "; a pod still uses the claim: it goes once no pod mounts it"
    return text


def _recreated(change: Change, have: Json | None) -> Change:
    """A create of an object still being deleted says so, and what holds it."""
    if not being_deleted(have) or change.action != "create":
        return change
    return replace(change, reason=f"being deleted ({held_by(have)}): created again once it "
                                  "is gone")


def found_later(oid: ObjId, listed: Collection[ObjId], inventory: ObjId) -> bool:
    """Whether a later run finds ``oid`` to prune it, whatever its spec, with the inventory
    ``inventory`` listing ``listed``: it reads by name what the inventory names (all a kind
    read by name has), and lists the kinds and namespaces the inventory names
    (``prune_groups``) and the inventory's own. Namespaces are never pruned, so need no
    finding."""
    if oid[1] in READ_BY_NAME_KINDS:
        return oid in listed
    return oid[1] == "Namespace" or oid[:3] == inventory[:3] or \
        any(seen[:3] == oid[:3] for seen in listed)


def naming(component: Component, oids: Iterable[ObjId]) -> Json:
    """The component's inventory ConfigMap listing ``oids``."""
    entries = [{"apiVersion": a, "kind": k, "metadata": {"name": n, "namespace": ns}}
               for a, k, ns, n in sorted(set(oids))]
    return desired.stamp(desired.inventory_object(component, entries), component.name)


def inventory_ahead(component: Component, have: Json | None,
                    oids: Iterable[ObjId]) -> Json | None:
    """The inventory to write before another handler writes ``oids`` for the component (a
    registry's pull Secrets): the observed one (``have``) with those a later run would not
    find added; None when it would find them all. The component's own run lists them too, but
    it may never come (the run killed or failed first) before the spec drops them."""
    listed = set(desired.parse_inventory(have))
    inventory = desired.obj_id(naming(component, ()))
    new = {oid for oid in oids if not found_later(oid, listed, inventory)}
    return naming(component, listed | new) if new else None


def write_ahead(component: Component, inventory: Json, have: Json | None,
                changes: Mapping[ObjId, Change]) -> tuple[Json | None, ObjId | None]:
    """The inventory to write before applying an object a later run would not find from the
    observed inventory (``found_later``: a Secret it does not list, or the first object of a
    kind and namespace it does not name, which a spec without it would never list), and the
    first such object in apply order; (None, None) when it finds each one the plan writes.

    It lists what the observed inventory lists and what the final ``inventory`` lists, so a run
    killed after the apply leaves every such object findable for the next run to prune or
    keep; with no prune pending that union is ``inventory`` itself, so a run that prunes
    nothing writes no more than before."""
    listed = set(desired.parse_inventory(have))
    new = [oid for oid, ch in changes.items()
           if ch.writes and not found_later(oid, listed, desired.obj_id(inventory))]
    if not new:
        return None, None
    final = set(desired.parse_inventory(inventory))
    if listed <= final:
        return inventory, new[0]
    return naming(component, final | listed), new[0]


def ignore_rules(component: Component) -> tuple[IgnoreRule, ...]:
    """The component's ``ignore_differences`` as rules (paths parsed; the spec checked them)."""
    return tuple(
        IgnoreRule(kind=d.kind, group=d.group, name=d.name, namespace=d.namespace,
                   patterns=(*map(parse_json_pointer, d.json_pointers),
                             *map(parse_jq_path, d.jq_path_expressions)),
                   managers=tuple(d.managed_fields_managers))
        for d in component.ignore_differences)


@dataclass(frozen=True)
class ReplacePolicy:
    """Whose objects these are, and whether their spec lets a reconcile replace them."""

    component: str = ""
    allow_replace: bool = False


def object_change(want: Json, have: Json | None, gate: Gate, mode: str,
                  rules: tuple[IgnoreRule, ...] = (),
                  replacing: ReplacePolicy = ReplacePolicy()) -> Change:
    """One object's change: its applied-hash annotation tells a spec change from drift, and
    drift is a field our manager no longer owns (``core.ownership``). A change of a field the
    API server refuses to update (``core.immutable``) is a replace: blocked unless the
    component allows it, calendar-gated when it does, never planned for stored data."""
    fields: list[FieldChange] = []
    spec_changed = True
    frozen: list[str] = []
    if have is not None:
        spec_changed = desired.applied_hash(have) != desired.applied_hash(want)
        fields = field_changes(want, have, spec_changed, rules)
        frozen = [*immutable.frozen_fields(want, have, fields),
                  *immutable.shrunk_requests(want, have, fields)]
    if want["kind"] == "Secret":
        fields = [redact_all(f) for f in fields]
    else:
        fields = [redact_change(f, want) for f in fields]
    change = decide(desired.obj_address(want), have is not None, fields, immutable=frozen,
                    allow_replace=replacing.allow_replace, gate=gate, drift=not spec_changed,
                    mode=mode)
    return _guard_replace(change, want, have or {}, frozen, replacing)


def _guard_replace(change: Change, want: Json, have: Json, frozen: list[str],
                   replacing: ReplacePolicy) -> Change:
    """A replace that would lose data is blocked whatever the spec says; one the spec does not
    allow is blocked with what to do about it."""
    if "replace" not in (change.action, change.intended):
        return change
    names = ", ".join(frozen)
    lost = immutable.never_replaced(want) or (
        "deleting it deletes its PersistentVolumeClaims too (persistentVolumeClaimRetention"
        "Policy.whenDeleted: Delete)" if immutable.claims_deleted_with(have) else "")
    shrunk = immutable.shrunk_requests(want, have, change.fields)
    if lost or shrunk:
        why = (f"{', '.join(shrunk)} cannot shrink (the API server refuses a smaller request)"
               if shrunk else f"changing {names} needs a replace (delete and re-create)")
        return replace(change, action="replace", intended=None, reason=f"immutable: {names}",
                       blocked=f"{change.address}: {why}, which platform-ops never does on its "
                       f"own: {lost}. Revert the change, or "
                       "move the data to a new object of another name and drop this one from "
                       "the spec")
    if change.blocked:
        return replace(change, blocked=(
            f"{change.address}: changing {names} needs a replace (delete and re-create), as "
            f"the API server refuses to update it; set allow_replace: true on component "
            f"{replacing.component} to let a reconcile replace it (inside a maintenance "
            "window), or revert the change"))
    return change


def field_changes(want: Json, have: Json, spec_changed: bool,
                  rules: tuple[IgnoreRule, ...] = ()) -> list[FieldChange]:
    """What differs. Without a spec change only drift counts: the fields our manager lost,
    with who changed them. With one, what the plan shows: values that differ, fields the spec
    dropped and drift. A server that records no ownership is compared by value."""
    lost = ownership.lost_fields(want, have, FIELD_MANAGER, rules)
    drifted = [FieldChange(f.text, MISSING if f.observed is None else f.observed, f.desired,
                           changed_by=f.changed_by) for f in lost or []]
    if lost is None:
        drifted = diff(desired.comparable(want), have)
    if not spec_changed:
        return drifted
    fields = diff(desired.comparable(want), have) if lost is not None else drifted
    shown = {f.path for f in fields}
    fields += [f for f in drifted if f.path not in shown]
    fields += [FieldChange(render(p), value, MISSING)
               for p, value in ownership.dropped_fields(want, have, FIELD_MANAGER)]
    theirs = [render(p) for p in ownership.taken_over(want, have, FIELD_MANAGER, rules)]
    fields = [f for f in fields if not touches([f], theirs)]
    if not fields:
        fields = diff({"metadata": {"annotations": {
            ANNOTATION_APPLIED_HASH: desired.applied_hash(want)}}}, have)
    return fields


def apply_body(want: Json, have: Json | None, rules: tuple[IgnoreRule, ...] = ()) -> Json:
    """What to apply for ``want``: without the fields another manager legitimately owns now (an
    HPA's replicas, ``ignore_differences``), so our apply never takes them back."""
    if have is None:
        return want
    theirs = ownership.taken_over(want, have, FIELD_MANAGER, rules)
    return ownership.without(want, theirs) if theirs else want


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
               leftovers: Iterable[ObjId], gate: Gate, reasons: Mapping[ObjId, str],
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
        meta = observed[oid].get("metadata") or {}
        if meta.get("deletionTimestamp"):
            # Deleted by an earlier run and held by finalizers: deleting it again would write
            # for nothing. Kept in the inventory until it is gone, so a stuck one stays seen.
            prunes.append((oid, plan.add(Change(
                address, "no-op", reason=f"being deleted ({held_by(observed[oid])})"))))
            continue
        why = reasons.get(oid, "no longer in the spec")
        prunes.append((oid, plan.add(delete_change(address, gate, why, component.drift))))
    return prunes, orphans
