"""Field ownership (``metadata.managedFields``) and server-side apply.

A field set is a set of leaf paths; each path is a tuple of ``f:<field>`` and
``k:{"<key>":<value>}`` elements, the same elements ``fieldsV1`` uses. Lists are atomic except the
keyed lists of built-in kinds (see ``patch.list_key``); custom resources treat every list as
atomic. Simplifications: ownership is tracked on leaves only; a config that replaces a subtree
another manager owns parts of is not reported as a conflict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sandbox.kubernetes.patch import clone, list_key

Path = tuple[str, ...]
ITEM = "\x00item"  # value of a keyed list item's own path
TRACKED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")


@dataclass
class Entry:
    manager: str
    operation: str
    api_version: str
    time: str
    paths: set[Path]
    subresource: str = ""
    raw_fields: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation,
                               "apiVersion": self.api_version, "time": self.time,
                               "fieldsType": "FieldsV1", "fieldsV1": to_fields(self.paths)}
        if self.subresource:
            out["subresource"] = self.subresource
        return out

    def describe(self) -> str:
        if self.operation == "Apply":
            return f'"{self.manager}"'
        return f'"{self.manager}" using {self.api_version}'


@dataclass
class Conflict:
    entry: Entry
    path: Path


class ApplyConflict(Exception):
    def __init__(self, conflicts: list[Conflict]):
        super().__init__("apply conflict")
        self.conflicts = conflicts

    def status(self) -> dict[str, Any]:
        causes = [{"reason": "FieldManagerConflict",
                   "message": f"conflict with {c.entry.describe()}",
                   "field": path_text(c.path)} for c in self.conflicts]
        if len(self.conflicts) == 1:
            only = self.conflicts[0]
            msg = (f"Apply failed with 1 conflict: conflict with {only.entry.describe()}: "
                   f"{path_text(only.path)}")
        else:
            by: dict[str, list[str]] = {}
            for c in self.conflicts:
                by.setdefault(c.entry.describe(), []).append(path_text(c.path))
            parts = [f"conflicts with {m}:\n" + "\n".join(f"- {p}" for p in ps)
                     for m, ps in by.items()]
            msg = f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(parts)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": msg, "reason": "Conflict", "details": {"causes": causes}, "code": 409}


def path_text(path: Path) -> str:
    out = ""
    for el in path:
        if el.startswith("f:"):
            out += "." + el[2:]
        else:
            key = json.loads(el[2:])
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]"
    return out


def tracked(obj: dict[str, Any], subresource: str, status_sub: bool) -> dict[str, Any]:
    """The part of an object whose fields have owners for a write to ``subresource``."""
    if subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    if status_sub:
        out.pop("status", None)
    meta = obj.get("metadata") or {}
    md = {k: meta[k] for k in TRACKED_METADATA if k in meta}
    if md:
        out["metadata"] = md
    return out


def item_element(key: str, value: Any) -> str:
    return "k:" + json.dumps({key: value}, separators=(",", ":"))


def flatten(obj: dict[str, Any], keyed: bool = True) -> dict[Path, Any]:
    out: dict[Path, Any] = {}

    def walk(v: Any, path: Path, name: str) -> None:
        if isinstance(v, dict) and v:
            for k, sub in v.items():
                walk(sub, path + ("f:" + k,), k)
            return
        if isinstance(v, list) and v and keyed:
            key = list_key(name, v)
            if key is not None:
                for item in v:
                    ip = path + (item_element(key, item[key]),)
                    out[ip] = ITEM
                    for k, sub in item.items():
                        walk(sub, ip + ("f:" + k,), k)
                return
        out[path] = v

    for k, v in obj.items():
        walk(v, ("f:" + k,), k)
    return out


def to_fields(paths: Iterable[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for p in sorted(paths):
        node = tree
        for el in p:
            node = node.setdefault(el, {})
        if p and p[-1].startswith("k:"):
            node["."] = {}
    return tree


def from_fields(tree: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    for k, sub in tree.items():
        if k == ".":
            out.add(prefix)
        elif not sub:
            out.add(prefix + (k,))
        else:
            out |= from_fields(sub, prefix + (k,))
    return out


def decode(managed: Any) -> list[Entry]:
    entries = []
    for m in managed or []:
        if not isinstance(m, dict):
            continue
        entries.append(Entry(
            manager=str(m.get("manager", "")), operation=str(m.get("operation", "Update")),
            api_version=str(m.get("apiVersion", "")), time=str(m.get("time", "")),
            paths=from_fields(m.get("fieldsV1")), subresource=str(m.get("subresource", "")),
        ))
    return entries


def encode(entries: list[Entry]) -> list[dict[str, Any]]:
    return [e.to_json() for e in entries if e.paths]


def delete_path(obj: dict[str, Any], path: Path) -> None:
    """Remove the field or keyed list item at ``path`` (missing parts are ignored)."""
    cur: Any = obj
    for el in path[:-1]:
        cur = _step(cur, el)
        if cur is None:
            return
    last = path[-1]
    if last.startswith("f:") and isinstance(cur, dict):
        cur.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(cur, list):
        (key, value), = json.loads(last[2:]).items()
        cur[:] = [i for i in cur if not (isinstance(i, dict) and i.get(key) == value)]


def _step(cur: Any, el: str) -> Any:
    if el.startswith("f:"):
        return cur.get(el[2:]) if isinstance(cur, dict) else None
    if isinstance(cur, list):
        (key, value), = json.loads(el[2:]).items()
        return next((i for i in cur if isinstance(i, dict) and i.get(key) == value), None)
    return None


def apply_merge(live: Any, cfg: Any, name: str = "", keyed: bool = True) -> Any:
    """Merge an applied configuration into the live object (maps and keyed lists merge)."""
    if isinstance(cfg, dict) and isinstance(live, dict):
        out = dict(live)
        for k, v in cfg.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = apply_merge(live.get(k), v, k, keyed)
        return out
    if isinstance(cfg, list) and isinstance(live, list) and keyed:
        key = list_key(name, cfg)
        if key is not None and all(isinstance(i, dict) and key in i for i in live):
            merged = [clone(i) for i in live]
            for item in cfg:
                idx = next((n for n, cur in enumerate(merged) if cur.get(key) == item[key]), None)
                if idx is None:
                    merged.append(clone(item))
                else:
                    merged[idx] = apply_merge(merged[idx], item, name, keyed)
            return merged
    return clone(cfg)


@dataclass
class WriteContext:
    manager: str
    api_version: str
    now: str
    subresource: str = ""
    status_sub: bool = False
    keyed: bool = True
    force: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _owned_by_others(entries: list[Entry], mine: Entry | None, path: Path) -> bool:
    n = len(path)
    return any(e is not mine and any(q[:n] == path for q in e.paths) for e in entries)


def apply(live: dict[str, Any], cfg: dict[str, Any], ctx: WriteContext) -> dict[str, Any]:
    """Server-side apply ``cfg`` onto ``live`` (an object skeleton when creating).

    Returns the new object with updated ``metadata.managedFields``; raises ApplyConflict.
    """
    entries = decode((live.get("metadata") or {}).get("managedFields"))
    mine = next((e for e in entries if e.manager == ctx.manager and e.operation == "Apply"
                 and e.subresource == ctx.subresource), None)
    cfg_t = tracked(cfg, ctx.subresource, ctx.status_sub)
    cfg_flat = flatten(cfg_t, ctx.keyed)
    live_flat = flatten(tracked(live, ctx.subresource, ctx.status_sub), ctx.keyed)
    conflicts = []
    for p, v in cfg_flat.items():
        if p in live_flat and live_flat[p] != v:
            conflicts += [Conflict(e, p) for e in entries if e is not mine and p in e.paths]
    if conflicts and not ctx.force:
        raise ApplyConflict(conflicts)
    for c in conflicts:
        c.entry.paths.discard(c.path)
    new = clone(live)
    prev = mine.paths if mine else set()
    deleted: list[Path] = []
    for p in sorted(prev - cfg_flat.keys(), key=len):
        if any(p[:len(d)] == d for d in deleted) or _owned_by_others(entries, mine, p):
            continue
        delete_path(new, p)
        deleted.append(p)
    new = apply_merge(new, cfg_t, "", ctx.keyed)
    new_paths = set(cfg_flat)
    if mine is None:
        mine = Entry(ctx.manager, "Apply", ctx.api_version, ctx.now, new_paths, ctx.subresource)
        entries.append(mine)
    elif mine.paths != new_paths or mine.api_version != ctx.api_version:
        mine.paths, mine.time, mine.api_version = new_paths, ctx.now, ctx.api_version
    for c in conflicts:
        c.entry.time = ctx.now
    _set_managed(new, live, entries)
    return new


def record_update(old: dict[str, Any] | None, new: dict[str, Any], ctx: WriteContext) -> None:
    """Give ``ctx.manager`` ownership of the fields a non-apply write changed (in place on new)."""
    base = old or {}
    entries = decode((base.get("metadata") or {}).get("managedFields"))
    old_flat = flatten(_updated(base, ctx), ctx.keyed)
    new_flat = flatten(_updated(new, ctx), ctx.keyed)
    changed = {p for p, v in new_flat.items() if p not in old_flat or old_flat[p] != v}
    removed = set(old_flat) - set(new_flat)
    if not changed and not removed:
        _set_managed(new, base, entries)
        return
    mine = next((e for e in entries if e.manager == ctx.manager and e.operation == "Update"
                 and e.subresource == ctx.subresource), None)
    for e in entries:
        if e is not mine and e.paths & (changed | removed):
            e.paths -= changed | removed
            e.time = ctx.now
    if mine is None:
        mine = Entry(ctx.manager, "Update", ctx.api_version, ctx.now, set(), ctx.subresource)
        entries.append(mine)
    mine.paths = (mine.paths | changed) - removed
    mine.time, mine.api_version = ctx.now, ctx.api_version
    _set_managed(new, base, entries)


def _updated(obj: dict[str, Any], ctx: WriteContext) -> dict[str, Any]:
    """What a non-apply write may change: ``tracked``, and for a status write the annotations
    too, which some status strategies let through (the deployment controller records its
    revision with UpdateStatus; apps/deployment/strategy.go resets only spec and labels)."""
    out = tracked(obj, ctx.subresource, ctx.status_sub)
    annotations = (obj.get("metadata") or {}).get("annotations")
    if ctx.subresource == "status" and annotations:
        out = {**out, "metadata": {"annotations": annotations}}
    return out


def _set_managed(new: dict[str, Any], old: dict[str, Any], entries: list[Entry]) -> None:
    encoded = encode(entries)
    old_managed = (old.get("metadata") or {}).get("managedFields")
    meta = new.setdefault("metadata", {})
    if old_managed is not None and encoded == old_managed:
        meta["managedFields"] = old_managed
    elif encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)
