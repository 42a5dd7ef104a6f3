"""Drift of a Kubernetes object decided from server-side apply's field ownership. Pure.

The API server records, in ``metadata.managedFields``, which field manager owns each field
(https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management). After our
apply, every field we sent is owned by our manager (operation ``Apply``). From then on:

- another writer that changes one of those fields takes it over (an ``Update`` by
  ``kubectl-edit``, ``kubectl-scale``, a controller; or a forced apply by another manager): that
  field is drift, and the new owner is who changed it;
- a field that disappears from the object loses its owner too: drift, "removed";
- values the server defaults or normalizes (``cpu: 0.5`` stored as ``500m``, a defaulted
  ``protocol: TCP``) stay ours and are not drift; nor are fields other managers add (an
  injected sidecar container, a controller's annotations), because we never owned them.

So drift is "a field we applied that our manager no longer owns", with no value comparison.
Spec changes are told apart by the hash annotation of what we applied (``core.desired``); their
field-level differences (what the plan shows) come from ``core.diff`` and from the fields we
own that the spec no longer has (``dropped_fields``: server-side apply removes those).

The spec can ignore more per component (``ignore_differences``, as Argo CD's), and
``DEFAULT_IGNORES`` holds the one ownership Kubernetes itself hands to a controller by design: a
HorizontalPodAutoscaler scales its target through the ``scale`` subresource as
``kube-controller-manager``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from platform_assets.core.fieldpath import Item, Pattern, Segment, lookup, matches, render

Json = dict[str, Any]
Path = tuple[Segment, ...]
MANAGED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")
# Fields that tell list items apart when a list is keyed (k8s.io/api patchMergeKey tags).
IDENTITY_KEYS = ("name", "mountPath", "devicePath", "containerPort", "port", "ip", "type",
                 "key", "topologyKey")
HPA_MANAGER = "kube-controller-manager"


@dataclass(frozen=True)
class IgnoreRule:
    """Differences to ignore on some objects (Argo CD's ``ignoreDifferences``).

    ``kind`` (``*`` for every kind), optionally ``group``, ``name`` and ``namespace``, select
    the objects. On them a lost field is ignored when it is at or under one of ``patterns``
    (none: any field) and, if ``managers`` is set, now owned by one of them.
    """

    kind: str
    group: str | None = None
    name: str | None = None
    namespace: str | None = None
    patterns: tuple[Pattern, ...] = ()
    managers: tuple[str, ...] = ()

    def selects(self, obj: Json) -> bool:
        """Whether this rule applies to ``obj`` (kind, group, name and namespace, each when
        given)."""
        meta = obj.get("metadata") or {}
        api = str(obj.get("apiVersion") or "")
        group = api.rpartition("/")[0]
        return (self.kind in ("*", obj.get("kind"))
                and (self.group is None or self.group == group)
                and (self.name is None or self.name == meta.get("name"))
                and (self.namespace is None or self.namespace == (meta.get("namespace") or "")))

    def ignores(self, path: Path, owner: str, obj: Json) -> bool:
        """Whether a change at ``path`` by manager ``owner`` is not drift under this rule."""
        on_path = not self.patterns or any(matches(p, path, obj) for p in self.patterns)
        return on_path and (not self.managers or owner in self.managers)


DEFAULT_IGNORES = tuple(
    IgnoreRule(kind=kind, group="apps", patterns=(("spec", "replicas"),),
               managers=(HPA_MANAGER,))
    for kind in ("Deployment", "StatefulSet", "ReplicaSet"))


@dataclass(frozen=True)
class LostField:
    """A field we applied that our manager no longer owns."""

    path: Path
    desired: Any
    observed: Any  # None when the field is gone
    owner: str  # the manager that owns it now; "" when nobody does

    @property
    def text(self) -> str:
        """The lost field's path, as messages write it."""
        return render(self.path)

    @property
    def changed_by(self) -> str:
        """Who took the field from us: the manager that owns it now, or how it was lost."""
        if self.owner:
            return self.owner
        return "removed" if self.observed is None else "no manager owns it"


def tracked(obj: Json) -> Json:
    """The part of an applied object whose fields have owners: no apiVersion, kind or status,
    and of metadata only labels, annotations, finalizers and ownerReferences."""
    out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    meta = obj.get("metadata") or {}
    md = {k: meta[k] for k in MANAGED_METADATA if meta.get(k)}
    if md:
        out["metadata"] = md
    return out


def _merge(into: Json, tree: Any) -> None:
    if not isinstance(tree, dict):
        return
    for k, sub in tree.items():
        _merge(into.setdefault(k, {}), sub)


def _entries(live: Json) -> list[Json]:
    return [e for e in (live.get("metadata") or {}).get("managedFields") or []
            if isinstance(e, dict)]


def owned_tree(live: Json, manager: str) -> Json | None:
    """The fields ``manager`` owns through apply (one ``fieldsV1`` tree), or None when the
    server records no ownership for the object at all."""
    entries = _entries(live)
    if not entries:
        return None
    ours = [e.get("fieldsV1") for e in entries if e.get("manager") == manager
            and e.get("operation") == "Apply" and not e.get("subresource")]
    if len(ours) == 1 and isinstance(ours[0], dict):
        return ours[0]  # the usual case: nothing to merge (callers only read the tree)
    tree: Json = {}
    for fields in ours:
        _merge(tree, fields)
    return tree


def _key_matches(element: str, item: Any) -> bool:
    if not (element.startswith("k:") and isinstance(item, dict)):
        return False
    try:
        key = json.loads(element[2:])
    except ValueError:
        return False
    # A key field the item leaves out was defaulted by the server (a port's protocol).
    return isinstance(key, dict) and any(k in item for k in key) and all(
        item.get(k, v) == v for k, v in key.items())


def _element(node: Json, item: Any) -> str | None:
    """The ``k:``/``v:`` element of ``node`` that stands for list item ``item``."""
    if not isinstance(item, dict):
        el = "v:" + json.dumps(item, separators=(",", ":"))
        return el if el in node else None
    return next((el for el in node if _key_matches(el, item)), None)


def _item(index: int, item: Any, element: str | None) -> Item:
    if element is not None and element.startswith("k:"):
        return Item(index, tuple(sorted(json.loads(element[2:]).items())))
    if isinstance(item, dict):
        for k in IDENTITY_KEYS:
            if k in item:
                return Item(index, ((k, item[k]),))
    return Item(index)


def _child(node: Json, key: str, path: Path) -> Json | None:
    child = node.get("f:" + key)
    if child is None and path == () and key == "stringData":
        # The server folds a Secret's stringData into data; either may carry the ownership.
        child = node.get("f:data")
    return child if isinstance(child, dict) else None


def _is_items(node: Json) -> bool:
    return any(el.startswith(("k:", "v:")) for el in node)


def unowned(value: Any, node: Json, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """(path, desired value) of each field under ``value`` that ``node`` does not own; a lost
    subtree is reported once, at its top."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            child = _child(node, k, path)
            if child is None:
                yield path + (k,), v
            else:
                yield from unowned(v, child, path + (k,))
    elif isinstance(value, list) and value and _is_items(node):
        for i, item in enumerate(value):
            el = _element(node, item)
            seg = _item(i, item, el)
            if el is None:
                yield path + (seg,), item
            else:
                yield from unowned(item, node[el], path + (seg,))


def _owns(node: Any, value: Any, path: Path) -> bool:
    """Whether the fieldsV1 tree ``node`` owns ``path`` (of the desired ``value``)."""
    for depth, seg in enumerate(path):
        if not isinstance(node, dict):
            return False
        if depth and not node:
            return True  # an atomic ancestor owns everything below it
        if isinstance(seg, Item):
            item = value[seg.index] if isinstance(value, list) and seg.index < len(value) \
                else None
            el = _element(node, item)
            node, value = (node.get(el) if el else None), item
        else:
            node = node.get("f:" + seg)
            value = value.get(seg) if isinstance(value, dict) else None
    return node is not None


def owner_of(live: Json, mine: str, path: Path, desired: Json) -> str:
    """Who owns ``path`` now (another manager than ``mine``), "" when nobody does."""
    for e in _entries(live):
        if e.get("manager") == mine and e.get("operation") == "Apply":
            continue
        if _owns(e.get("fieldsV1"), desired, path):
            return str(e.get("manager") or "")
    return ""


def lost_fields(desired: Json, live: Json, manager: str,
                rules: Iterable[IgnoreRule] = ()) -> list[LostField] | None:
    """The fields of ``desired`` (what we applied) that ``manager`` no longer owns in ``live``,
    less those the rules ignore; None when the server records no ownership for ``live``."""
    tree = owned_tree(live, manager)
    if tree is None:
        return None
    want = tracked(desired)
    applicable: list[IgnoreRule] | None = None  # only needed once a field is lost
    out = []
    for path, value in unowned(want, tree):
        owner = owner_of(live, manager, path, want)
        if applicable is None:
            applicable = [r for r in (*DEFAULT_IGNORES, *rules) if r.selects(desired)]
        if any(r.ignores(path, owner, want) for r in applicable):
            continue
        out.append(LostField(path, value, lookup(live, path), owner))
    return out


def dropped_fields(desired: Json, live: Json, manager: str) -> list[tuple[Path, Any]]:
    """Fields ``manager`` owns that ``desired`` no longer has, with their live values: the next
    apply removes them (server-side apply semantics)."""
    tree = owned_tree(live, manager)
    if not tree:
        return []
    return [(p, lookup(live, p)) for p in _absent(tree, tracked(desired), ())]


def _absent(node: Json, value: Any, path: Path) -> Iterator[Path]:
    for el, sub in node.items():
        if el.startswith("f:"):
            key = el[2:]
            if not isinstance(value, dict) or key not in value:
                if not (path == () and key == "data" and "stringData" in (value or {})):
                    yield path + (key,)
                continue
            if isinstance(sub, dict) and sub:
                yield from _absent(sub, value[key], path + (key,))
        elif el.startswith("k:") and isinstance(value, list):
            index = next((i for i, it in enumerate(value) if _key_matches(el, it)), None)
            if index is None:
                yield path + (_item(-1, None, el),)
            elif isinstance(sub, dict):
                yield from _absent(sub, value[index], path + (_item(index, value[index], el),))


def taken_over(desired: Json, live: Json, manager: str,
               rules: Iterable[IgnoreRule] = ()) -> list[Path]:
    """Fields of ``desired`` that another manager owns now and the rules say are theirs (an
    HPA's replicas): a later apply leaves them out, so it never takes them back."""
    tree = owned_tree(live, manager)
    applicable = [r for r in (*DEFAULT_IGNORES, *rules) if r.selects(desired)]
    if not tree or not applicable:
        return []
    want = tracked(desired)
    out = []
    for path, _value in unowned(want, tree):
        owner = owner_of(live, manager, path, want)
        if owner and any(r.ignores(path, owner, want) for r in applicable):
            out.append(path)
    return out


def without(obj: Json, paths: Iterable[Path]) -> Json:
    """A copy of ``obj`` without the fields at ``paths``."""
    import copy

    out = copy.deepcopy(obj)
    for path in paths:
        parent = lookup(out, path[:-1]) if len(path) > 1 else out
        last = path[-1]
        if isinstance(last, Item) and isinstance(parent, list):
            target = lookup(out, path)
            parent[:] = [x for x in parent if x is not target]
        elif isinstance(parent, dict) and isinstance(last, str):
            parent.pop(last, None)
    return out
