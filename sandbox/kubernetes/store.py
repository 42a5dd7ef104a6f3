"""In-memory object store: dicts keyed by (group, plural) then (namespace, name), one global
resourceVersion counter (like an etcd revision), and a bounded event history for watches.

Stored objects are never mutated in place: every write stores a fresh dict, so readers may
serialise what they got without holding the lock.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GK = tuple[str, str]
NN = tuple[str, str]


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    gk: GK
    obj: dict[str, Any]
    # The state before a MODIFIED event, so a selector-filtered watch can tell that the object
    # entered or left its selection (sent as ADDED / DELETED, as the watch cache does).
    prev: dict[str, Any] | None = None


class Expired(Exception):
    """A watch asked for a resourceVersion older than the kept history."""

    def __init__(self, requested: int, oldest: int):
        super().__init__(f"too old resource version: {requested} ({oldest})")


class Store:
    def __init__(self, history_limit: int = 10_000) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 0
        self.objects: dict[GK, dict[NN, dict[str, Any]]] = {}
        self.touched: dict[tuple[GK, NN], float] = {}
        self.logs: dict[NN, str] = {}
        self.history: deque[Event] = deque()
        self.history_limit = history_limit
        self.compacted_rv = 0
        self.dirty = False
        self.listeners: list[Callable[[Event], None]] = []
        # How often ``load`` replaced every object (no events tell caches of it).
        self.loads = 0

    def get(self, gk: GK, ns: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(gk, {}).get((ns, name))

    def select(self, gk: GK, ns: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            bucket = self.objects.get(gk, {})
            if ns is None:
                return list(bucket.values())
            return [o for (n, _), o in bucket.items() if n == ns]

    def kinds(self) -> list[GK]:
        with self.lock:
            return list(self.objects)

    def next_rv(self) -> int:
        with self.lock:
            self.rv += 1
            return self.rv

    def put(self, gk: GK, obj: dict[str, Any], etype: str) -> None:
        """Store ``obj`` (whose metadata.resourceVersion the caller set from next_rv)."""
        meta = obj["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        with self.lock:
            bucket = self.objects.setdefault(gk, {})
            prev = bucket.get(key)
            bucket[key] = obj
            self.touched[(gk, key)] = time.monotonic()
            self._record(Event(int(meta["resourceVersion"]), etype, gk, obj, prev))

    def remove(self, gk: GK, obj: dict[str, Any]) -> None:
        """Remove an object; ``obj`` is its last state carrying a new resourceVersion."""
        meta = obj["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        with self.lock:
            self.objects.get(gk, {}).pop(key, None)
            self.touched.pop((gk, key), None)
            if gk == ("", "pods"):
                self.logs.pop(key, None)
            self._record(Event(int(meta["resourceVersion"]), "DELETED", gk, obj))

    def _record(self, ev: Event) -> None:
        self.history.append(ev)
        while len(self.history) > self.history_limit:
            self.compacted_rv = self.history.popleft().rv
        self.dirty = True
        self.changed.notify_all()
        for listener in self.listeners:
            listener(ev)

    def events_since(self, rv: int) -> list[Event]:
        with self.lock:
            if rv < self.compacted_rv:
                raise Expired(rv, self.compacted_rv)
            out = []
            for ev in reversed(self.history):
                if ev.rv <= rv:
                    break
                out.append(ev)
            out.reverse()
            return out

    def follow(self, rv: int, deadline: float, stopped: Callable[[], bool]) -> Iterator[Event]:
        """Yield events after ``rv`` until ``deadline`` (monotonic); raises Expired first."""
        cursor = rv
        self.events_since(rv)  # raise Expired before the response starts
        while not stopped():
            with self.lock:
                events = self.events_since(cursor)
                if not events:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self.changed.wait(min(remaining, 1.0))
                    continue
            for ev in events:
                cursor = ev.rv
                yield ev
            if time.monotonic() >= deadline:
                return

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                "resourceVersion": self.rv,
                "objects": [{"group": g, "plural": p, "object": o}
                            for (g, p), bucket in self.objects.items() for o in bucket.values()],
                "logs": [{"namespace": ns, "pod": name, "log": text}
                         for (ns, name), text in self.logs.items()],
            }

    def load(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.objects.clear()
            self.logs.clear()
            self.history.clear()
            self.rv = int(data.get("resourceVersion", 0))
            self.compacted_rv = self.rv
            for item in data.get("objects", []):
                obj = item["object"]
                meta = obj["metadata"]
                self.objects.setdefault((item["group"], item["plural"]), {})[
                    (meta.get("namespace") or "", meta["name"])] = obj
            for item in data.get("logs", []):
                self.logs[(item["namespace"], item["pod"])] = item["log"]
            self.dirty = False
            self.loads += 1

    def save(self, path: Path) -> None:
        with self.lock:
            data = self.dump()
            self.dirty = False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        tmp.replace(path)
