"""What one run reads of the cluster: each kind listed once, across namespaces.

A reconcile of many components would otherwise list every kind once per component and
namespace; at a real API server's latency that is most of a no-op run. Here the first component
that needs a kind lists it across all namespaces with our ``managed-by`` label (following
``continue`` pages) and every later one filters that list by its component label and
namespace. Health reads the same objects. Our own writes update the lists, so a later
component of the same run sees them. The kinds the first component needs are listed side
by side (``prefetch``), so the run waits one round trip for them, not one per kind.

A kind the run's RBAC may not list across namespaces (403) falls back to per-namespace lists.
The RBAC derived from the spec (``core.rbac``) grants the cross-namespace list for every kind a
component applies except Secrets, which would be the right to read every Secret of the cluster.
Secrets (``core.manifests.READ_BY_NAME_KINDS``) are never listed per namespace either, which
would be the right to read every Secret there. Before listing them across namespaces the view
asks once whether it may (``ClusterApi.may``: a SelfSubjectAccessReview, as ``kubectl auth
can-i`` asks), so the run account, which may not, makes no refused request (an audit log shows
none); it GETs each Secret the component applies or its inventory lists, by name, side by side
(``named``), as the derived RBAC grants them. An admin pays one small POST for the question and
lists as before; a server that cannot answer (None) is asked by listing, the 403 then telling.

Those GETs are the run's, not each component's: told the run's components (``prefetch_named``,
from ``Engine.expect``), the view GETs every Secret their inventories list as soon as the
ConfigMaps are listed, ``GET_THREADS`` at a time on one pool, and a component waits only for
its own (or GETs one no inventory lists yet on the same pool). At a real server's latency each
component would otherwise wait a round trip of its own for them.

The StorageClass of a Pending claim whose health is waited for is read the same way, by name
(``storage_class``): one GET per class per run, cached with the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from platform_assets.core import desired
from platform_assets.core.component_plan import ObjId
from platform_assets.core.manifests import READ_BY_NAME_KINDS
from platform_assets.core.ports import ClusterApi, Json
from platform_assets.engine.handler import ReconcileError, guarded
from platform_assets.names import FIELD_MANAGER, LABEL_COMPONENT, LABEL_MANAGED_BY

MANAGED = f"{LABEL_MANAGED_BY}={FIELD_MANAGER}"
NAMESPACES = "namespaces"  # the key of the list of every namespace
STORAGE_CLASS_API = "storage.k8s.io/v1"


def _forbidden(exc: ReconcileError) -> bool:
    return getattr(exc.__cause__, "status", None) == 403


_REFUSED: Json = {}  # a GET the run's RBAC refused (told apart by identity)


Bucket = dict[ObjId, Json]
Index = dict[tuple[str, str], Bucket]  # (namespace, component) -> that component's objects


def _component(obj: Json) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_COMPONENT) or "")


def _where(obj: Json) -> tuple[str, str]:
    """(namespace, name) of a listed object, as ``desired.obj_id`` has them."""
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta["name"])


def _ours(obj: Json, component: str) -> bool:
    """Whether a read object is the component's, as the label-selected list would return it."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(LABEL_MANAGED_BY) == FIELD_MANAGER and _component(obj) == component


# GETs by name in flight at once, for the whole run: 1,000 Secrets at 30 ms are then about a
# second (8 took four); a real API server serves hundreds of requests in flight
# (--max-requests-inflight 400). KubernetesResource keeps as many connections open.
GET_THREADS = 32


def _done(obj: Json | None) -> Future[Json | None]:
    out: Future[Json | None] = Future()
    out.set_result(obj)
    return out


def _index(found: Bucket) -> Index:
    out: Index = {}
    for oid, obj in found.items():
        out.setdefault((oid[2], _component(obj)), {})[oid] = obj
    return out


class ClusterView:
    """The cluster as one run lists it (thread-safe: components reconcile in parallel)."""

    def __init__(self, cluster: Callable[[], ClusterApi]):
        self._cluster = cluster
        self._lock = threading.Lock()
        self._kind_locks: dict[object, threading.Lock] = {}
        self._lists: dict[object, Index | None] = {}
        self._started: set[object] = set()  # kinds a prefetch was started for
        self._failed: dict[object, ReconcileError] = {}  # a prefetch's error, for its reader
        # Objects read by name: the GET in flight or done, or what our own write returned.
        self._named: dict[ObjId, Future[Json | None]] = {}
        self._getter: ThreadPoolExecutor | None = None
        self._named_prefetched = False
        self.lists = 0  # requests made (pages excepted), for tests and benchmarks
        self.gets = 0  # GETs of objects read by name (``named``), likewise
        self.reviews = 0  # access reviews asked (``may``), likewise

    def _once(self, key: object, read: Callable[[], Index | None]) -> Index | None:
        with self._lock:
            lock = self._kind_locks.setdefault(key, threading.Lock())
        with lock:
            failed = self._failed.pop(key, None)
            if failed is not None:  # a prefetch's attempt was this reader's
                raise failed
            if key not in self._lists:
                self._lists[key] = read()
            return self._lists[key]

    def _list(self, api: str, kind: str, namespace: str | None, selector: str) -> Index:
        where = namespace or "all namespaces"
        items = guarded(f"LIST {api} {kind} in {where} ({selector})",
                        partial(self._cluster().list_managed, api, kind, namespace, selector))
        with self._lock:  # prefetches list from threads of their own
            self.lists += 1
        # Items of a list carry no apiVersion or kind: the list says them.
        return _index({(api, kind, *_where(i)): i for i in items})

    def _may_list_across(self, api: str, kind: str) -> bool | None:
        """Asked once per view (``_once``); the resource keeps the answer for its identity,
        so a run's later passes and its drift checks do not ask again."""
        may = guarded(f"REVIEW list {api} {kind} in all namespaces",
                      partial(self._cluster().may, "list", api, kind, None))
        with self._lock:
            self.reviews += 1
        return may

    def _across(self, api: str, kind: str) -> Index | None:
        """Every object of ours of a kind; None when it must be listed per namespace (or, for
        the kinds read by name, read by name)."""
        if kind in READ_BY_NAME_KINDS and self._may_list_across(api, kind) is False:
            return None
        try:
            return self._list(api, kind, None, MANAGED)
        except ReconcileError as exc:
            if _forbidden(exc):
                return None
            raise

    def prefetch(self, kinds: Iterable[tuple[str, str]]) -> None:
        """Start listing, side by side, each kind not listed yet and the namespaces: at a real
        server's latency the first component's lists then cost one round trip, not one each
        (the other components wait for them either way). A list that fails here fails its
        first reader with the same error, as if that reader had listed."""
        reads: dict[object, Callable[[], Index | None]] = {
            NAMESPACES: partial(self._list, "v1", "Namespace", None, "")}
        for api, kind in sorted(set(kinds)):
            reads[(api, kind)] = partial(self._across, api, kind)
        with self._lock:
            todo = [k for k in reads if k not in self._started and k not in self._lists]
            self._started.update(todo)
            locks = {k: self._kind_locks.setdefault(k, threading.Lock()) for k in todo}
        for key in todo:
            # Taken here, released by the thread: a reader that comes next waits for this
            # list instead of making its own. Held already: someone is listing it.
            if locks[key].acquire(blocking=False):
                threading.Thread(target=self._prefetch_one, args=(key, reads[key], locks[key]),
                                 daemon=True, name=f"list-{key}").start()

    def _prefetch_one(self, key: object, read: Callable[[], Index | None],
                      lock: threading.Lock) -> None:
        try:
            if key not in self._lists:
                self._lists[key] = read()
        except ReconcileError as exc:  # the first reader raises it, as if it had listed
            self._failed[key] = exc
        finally:
            lock.release()

    def prefetch_named(self, components: Iterable[tuple[str, str]]) -> None:
        """Start GETting every object of the kinds read by name (Secrets) that the inventories
        of ``components`` ((namespace, name): the run's) list, once, ``GET_THREADS`` at a time,
        in the background: by the time a component reads its Secrets (``named``) they are in
        flight or here. Only what a component's inventory names is fetched ahead (its own
        earlier applies); nothing when ConfigMaps cannot be listed across namespaces, or for
        an account that may list the kind across namespaces (an admin reads that list)."""
        with self._lock:
            if self._named_prefetched:
                return
            self._named_prefetched = True
        wanted = sorted(set(components))
        if wanted:
            threading.Thread(target=self._prefetch_named, args=(wanted,), daemon=True,
                             name="get-named").start()

    def _prefetch_named(self, components: list[tuple[str, str]]) -> None:
        try:
            every = self._once(("v1", "ConfigMap"), partial(self._across, "v1", "ConfigMap"))
        except ReconcileError:
            return  # the components' own reads meet the error
        if every is None:
            return
        oids: set[ObjId] = set()
        with self._lock:
            for ns, comp in components:
                inventory = (every.get((ns, comp)) or {}).get(
                    ("v1", "ConfigMap", ns, desired.inventory_name(comp)))
                oids.update(oid for oid in desired.parse_inventory(inventory)
                            if oid[1] in READ_BY_NAME_KINDS)
        by_name: list[ObjId] = []
        for kind in sorted({oid[:2] for oid in oids}):
            try:  # an account that may list the kind across namespaces reads that list instead
                listed = self._once(kind, partial(self._across, *kind))
            except ReconcileError:
                continue
            if listed is None:
                by_name += sorted(oid for oid in oids if oid[:2] == kind)
        self._fetch(by_name)

    def _fetch(self, oids: Iterable[ObjId]) -> dict[ObjId, Future[Json | None]]:
        """Each object's read: the one already made or in flight, else a new GET on the run's
        pool."""
        out: dict[ObjId, Future[Json | None]] = {}
        with self._lock:
            for oid in oids:
                read = self._named.get(oid)
                if read is None:
                    if self._getter is None:
                        self._getter = ThreadPoolExecutor(GET_THREADS, thread_name_prefix="get")
                    read = self._named[oid] = self._getter.submit(self._get, oid)
                    self.gets += 1
                out[oid] = read
        return out

    def objects(self, api: str, kind: str, namespace: str, component: str) -> Bucket:
        """The component's objects of a kind in ``namespace`` ("" for cluster-scoped)."""
        every = self._once((api, kind), partial(self._across, api, kind))
        if every is None:
            every = self._once((api, kind, namespace), partial(
                self._list, api, kind, namespace or None, MANAGED))
        assert every is not None, "a namespace's list is never None"
        with self._lock:  # other components' writes update the same lists
            return dict(every.get((namespace, component)) or {})

    def named(self, oids: Iterable[ObjId], component: str) -> tuple[Bucket, list[ObjId]]:
        """The component's objects among ``oids`` (of kinds read by name: Secrets), and those
        the run may not read (403).

        From the list across namespaces where the run may make it (label-selected, so only
        ours come back), else one GET each on the run's pool, or the one ``prefetch_named``
        made (404: absent). Only an object with the component's labels counts, as from a list:
        a Secret of that name that is not ours is neither diffed against nor pruned."""
        found: Bucket = {}
        todo: list[ObjId] = []
        for oid in sorted(set(oids)):
            every = self._once(oid[:2], partial(self._across, oid[0], oid[1]))
            if every is None:
                todo.append(oid)
                continue
            with self._lock:
                hit = (every.get((oid[2], component)) or {}).get(oid)
            if hit is not None:
                found[oid] = hit
        got = {oid: read.result() for oid, read in self._fetch(todo).items()}
        found.update({oid: obj for oid, obj in got.items() if obj and _ours(obj, component)})
        return found, [oid for oid, obj in got.items() if obj is _REFUSED]

    def _get(self, oid: ObjId) -> Json | None:
        api, kind, ns, name = oid
        try:
            return guarded(f"GET {api} {kind} {ns}/{name}",
                           partial(self._cluster().get, api, kind, name, ns or None))
        except ReconcileError as exc:
            if _forbidden(exc):
                return _REFUSED
            raise

    def storage_class(self, name: str) -> Json | None:
        """The StorageClass ``name`` (None: there is none), one GET per run however many claims
        name it: the health of a Pending claim depends on its class's binding mode.

        Raises:
            ReconcileError: the run may not read it (403), naming what grants it.
        """
        oid: ObjId = (STORAGE_CLASS_API, "StorageClass", "", name)
        found = self._fetch([oid])[oid].result()
        if found is _REFUSED:
            raise ReconcileError(
                f"the run may not GET StorageClass {name} (403), which tells whether a Pending "
                "claim waits for its first consumer: its RBAC is older than the spec; apply "
                "`python -m platform_assets rbac` for this spec")
        return found

    def namespace_exists(self, name: str) -> bool:
        """Whether a namespace exists (every namespace listed once)."""
        found = self._once(NAMESPACES, partial(self._list, "v1", "Namespace", None, ""))
        with self._lock:
            return any(("v1", "Namespace", "", name) in bucket
                       for bucket in (found or {}).values())

    def _keys(self, oid: ObjId) -> tuple[object, ...]:
        keys: tuple[object, ...] = ((oid[0], oid[1]), (oid[0], oid[1], oid[2]))
        return keys + ((NAMESPACES,) if oid[:2] == ("v1", "Namespace") else ())

    def wrote(self, obj: Json) -> None:
        """Our apply of ``obj`` (as the server answered it): later reads see it."""
        oid = desired.obj_id(obj)
        with self._lock:
            if oid[1] in READ_BY_NAME_KINDS or oid in self._named:  # a StorageClass read
                self._named[oid] = _done(obj)
            for key in self._keys(oid):
                found = self._lists.get(key)
                if found is not None:
                    found.setdefault((oid[2], _component(obj)), {})[oid] = obj

    def deleted(self, oid: ObjId) -> None:
        with self._lock:
            if oid[1] in READ_BY_NAME_KINDS or oid in self._named:
                self._named[oid] = _done(None)
            for key in self._keys(oid):
                for bucket in (self._lists.get(key) or {}).values():
                    bucket.pop(oid, None)
