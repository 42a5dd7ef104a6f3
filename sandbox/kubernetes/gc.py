"""The garbage collector of kube-controller-manager (pkg/controller/garbagecollector), run by
``Controllers.reconcile_once``: the API server only marks or removes the object a client
deletes, and this controller deals with its dependents afterwards.

- An owner being deleted with the ``orphan`` finalizer: its ownerReferences are removed from
  the dependents, then the finalizer (attemptToOrphanWorker).
- An owner being deleted with ``foregroundDeletion``: the finalizer goes once no dependent
  with ``blockOwnerDeletion: true`` is left (processDeletingDependentsItem).
- A dependent (attemptToDeleteItem; one being deleted is left alone): each ownerReference is
  solid (the owner exists), dangling (no object of that uid, kind and name where the reference
  can point) or waiting (the owner is being deleted in the foreground). With a solid owner the
  dangling and waiting references are removed; otherwise the dependent is deleted: in the
  foreground when an owner waits for it and it has dependents of its own, else with the policy
  its own finalizers name (Background by default), with a uid precondition.

Each pass works on a snapshot of the store and skips when nothing changed since the last one;
a write of a pass changes the store, so the next pass takes the next level of dependents.
Simplified: no unblocking of ownerReferences to break a foreground-deletion cycle.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sandbox.kubernetes.api import FOREGROUND, ORPHAN, ApiError, ApiServer
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.registry import ResourceType

# The garbage collector is a loop of kube-controller-manager; its writes carry that user agent.
MANAGER = "kube-controller-manager"

Item = tuple[ResourceType, dict[str, Any]]


class GarbageCollector:
    def __init__(self, api: ApiServer):
        self.api = api
        self.store = api.store
        self._seen = -1

    def reconcile(self) -> None:
        """One pass over every object; nothing when the store has not changed since the last."""
        with self.store.lock:
            if self.store.rv == self._seen:
                return
            self._seen = self.store.rv
            items = [(rt, obj) for gk in self.store.kinds()
                     if (rt := self.api.rt_for(gk)) is not None
                     for obj in self.store.select(gk)]
        by_uid = {obj["metadata"]["uid"]: (rt, obj) for rt, obj in items}
        dependents: dict[str, list[Item]] = defaultdict(list)
        for rt, obj in items:
            for ref in obj["metadata"].get("ownerReferences") or []:
                dependents[str(ref.get("uid"))].append((rt, obj))
        for rt, obj in items:
            meta = obj["metadata"]
            fins = meta.get("finalizers") or []
            try:
                if meta.get("deletionTimestamp") and ORPHAN in fins:
                    self._orphan(rt, obj, dependents[meta["uid"]])
                elif meta.get("deletionTimestamp") and FOREGROUND in fins:
                    self._finish_foreground(rt, obj, dependents[meta["uid"]])
                elif not meta.get("deletionTimestamp") and meta.get("ownerReferences"):
                    self._attempt_delete(rt, obj, by_uid, bool(dependents[meta["uid"]]))
            except ApiError:
                continue  # gone or changed meanwhile: the next pass sees the new state

    def _orphan(self, rt: ResourceType, owner: dict[str, Any], deps: list[Item]) -> None:
        uid = owner["metadata"]["uid"]
        for drt, dep in deps:
            self._drop_refs(drt, dep, {uid})
        self.api.remove_finalizer(rt, owner, ORPHAN, MANAGER)

    def _finish_foreground(self, rt: ResourceType, owner: dict[str, Any],
                           deps: list[Item]) -> None:
        uid = owner["metadata"]["uid"]
        if not any(r.get("uid") == uid and r.get("blockOwnerDeletion") is True
                   for _, dep in deps for r in dep["metadata"].get("ownerReferences") or []):
            self.api.remove_finalizer(rt, owner, FOREGROUND, MANAGER)

    def _attempt_delete(self, rt: ResourceType, item: dict[str, Any],
                        by_uid: dict[str, Item], has_dependents: bool) -> None:
        meta = item["metadata"]
        solid, gone, waiting = [], set(), set()
        for ref in meta["ownerReferences"]:
            owner = _owner(ref, meta.get("namespace") or "", by_uid)
            if owner is None:
                gone.add(str(ref.get("uid")))
            elif owner["metadata"].get("deletionTimestamp") and \
                    FOREGROUND in (owner["metadata"].get("finalizers") or []):
                waiting.add(str(ref.get("uid")))
            else:
                solid.append(ref)
        if solid:
            if gone or waiting:
                self._drop_refs(rt, item, gone | waiting)
            return
        fins = meta.get("finalizers") or []
        if waiting and has_dependents:
            policy = "Foreground"
        elif ORPHAN in fins:
            policy = "Orphan"
        elif FOREGROUND in fins:
            policy = "Foreground"
        else:
            policy = "Background"
        self.api.delete(rt, meta.get("namespace") or "", meta["name"],
                        {"propagationPolicy": policy, "preconditions": {"uid": meta["uid"]}})

    def _drop_refs(self, rt: ResourceType, obj: dict[str, Any], uids: set[str]) -> None:
        """Patch the current state of ``obj``: its ownerReferences to ``uids`` go."""
        with self.store.lock:
            meta = obj["metadata"]
            cur = self.store.get(rt.gk, meta.get("namespace") or "", meta["name"])
            if cur is None or cur["metadata"]["uid"] != meta["uid"]:
                return
            refs = cur["metadata"].get("ownerReferences") or []
            kept = [r for r in refs if str(r.get("uid")) not in uids]
            if len(kept) == len(refs):
                return
            new = clone(cur)
            if kept:
                new["metadata"]["ownerReferences"] = kept
            else:
                new["metadata"].pop("ownerReferences", None)
            self.api.write_object(rt, cur, new, MANAGER)


def _owner(ref: dict[str, Any], ns: str, by_uid: dict[str, Item]) -> dict[str, Any] | None:
    """The object a reference points at, as the collector finds it: by uid, of the named kind
    and name, in the dependent's namespace unless cluster-scoped (classifyReferences; a
    namespaced owner elsewhere counts as absent)."""
    found = by_uid.get(str(ref.get("uid")))
    if found is None:
        return None
    rt, owner = found
    meta = owner["metadata"]
    if rt.kind != ref.get("kind") or meta["name"] != ref.get("name"):
        return None
    if rt.namespaced and meta.get("namespace") != ns:
        return None
    return owner

