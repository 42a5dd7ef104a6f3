"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and a documented subset of strategic merge.

Strategic merge here is merge patch plus keyed merging of the lists built-in kinds merge by key
(containers, initContainers, env, volumes, volumeMounts by ``name``; container ports by
``containerPort``, service ports by ``port``; conditions by ``type``) and ``$patch: delete`` on
list items and maps. ``$setElementOrder/...`` directives are accepted and ignored;
``$retainKeys`` and ``$deleteFromPrimitiveList`` are out of scope (rejected with 422).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

NAME_KEYED = {"containers", "initContainers", "ephemeralContainers", "env", "volumes",
              "volumeMounts", "imagePullSecrets", "hostAliases", "volumeDevices"}


class PatchError(ValueError):
    """A patch that cannot be applied; the API answers 422 (or 400 for a malformed body)."""


def list_key(field_name: str, items: list[Any]) -> str | None:
    """The merge key of a built-in list field, or None when the list is atomic."""
    if field_name in NAME_KEYED:
        key = "name" if field_name != "hostAliases" else "ip"
    elif field_name == "ports":
        key = "containerPort" if any(
            isinstance(i, dict) and "containerPort" in i for i in items) else "port"
    elif field_name == "conditions":
        key = "type"
    else:
        return None
    if items and all(isinstance(i, dict) and key in i for i in items):
        return key
    return None if items else key


def clone(obj: Any) -> Any:
    return copy.deepcopy(obj)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge(target: Any, patch: Any, field_name: str = "") -> Any:
    """Apply a strategic merge patch (the subset in the module docstring)."""
    if isinstance(patch, dict):
        return _merge_map(target, patch)
    if isinstance(patch, list):
        return _merge_list(target, patch, field_name)
    return clone(patch)


def _merge_map(target: Any, patch: dict[str, Any]) -> Any:
    if patch.get("$patch") == "delete":
        return None
    if patch.get("$patch") == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k == "$patch":
            continue
        if k.startswith("$"):
            raise PatchError(f"strategic merge directive {k} is not supported by the sandbox")
        merged = None if v is None else strategic_merge(out.get(k), v, k)
        if merged is None and (v is None or isinstance(v, dict)):
            out.pop(k, None)
        else:
            out[k] = merged
    return out


def _merge_list(target: Any, patch: list[Any], field_name: str) -> list[Any]:
    """A list merged by its merge key (``name`` of containers, ...); other lists replaced."""
    key = list_key(field_name, [i for i in patch if not _is_delete(i)])
    if key is None or not isinstance(target, list):
        return [clone(i) for i in patch if not _is_delete(i)]
    out = [clone(i) for i in target]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"list {field_name}: every item needs the merge key {key!r}")
        idx = next((n for n, cur in enumerate(out)
                    if isinstance(cur, dict) and cur.get(key) == item[key]), None)
        if _is_delete(item):
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def _is_delete(item: Any) -> bool:
    return isinstance(item, dict) and item.get("$patch") == "delete"


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise PatchError(f"path {path!r}: key {p!r} does not exist")
            cur = cur[p]
        elif isinstance(cur, list):
            cur = cur[_index(cur, p, path, allow_end=False)]
        else:
            raise PatchError(f"path {path!r}: {p!r} is not a container")
    return cur


def _index(lst: list[Any], p: str, path: str, allow_end: bool) -> int:
    if p == "-" and allow_end:
        return len(lst)
    if not p.isdigit():
        raise PatchError(f"path {path!r}: {p!r} is not a list index")
    i = int(p)
    if i > len(lst) or (i == len(lst) and not allow_end):
        raise PatchError(f"path {path!r}: index {i} out of range")
    return i


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return clone(value)
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = clone(value)
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, allow_end=True), clone(value))
    else:
        raise PatchError(f"path {path!r}: parent is not a container")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {path!r} does not exist")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path, allow_end=False))
    raise PatchError(f"path {path!r}: parent is not a container")


def json_patch(doc: Any, ops: Any) -> Any:
    """Apply RFC 6902 operations in order; any failure raises PatchError and changes nothing."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = clone(doc)
    for n, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"operation {n}: needs 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {n} ({kind} {path}): missing 'value'")
        if kind in ("move", "copy") and "from" not in op:
            raise PatchError(f"operation {n} ({kind} {path}): missing 'from'")
        apply = _JSON_PATCH_OPS.get(kind)
        if apply is None:
            raise PatchError(f"operation {n}: unknown op {kind!r}")
        doc = apply(doc, op)
    return doc


def _op_replace(doc: Any, op: dict[str, Any]) -> Any:
    doc, _ = _remove(doc, op["path"])
    return _add(doc, op["path"], op["value"])


def _op_move(doc: Any, op: dict[str, Any]) -> Any:
    doc, value = _remove(doc, op["from"])
    return _add(doc, op["path"], value)


def _op_copy(doc: Any, op: dict[str, Any]) -> Any:
    return _add(doc, op["path"], clone(_walk(doc, _pointer(op["from"]), op["from"])))


def _op_test(doc: Any, op: dict[str, Any]) -> Any:
    actual = _walk(doc, _pointer(op["path"]), op["path"])
    if json.dumps(actual, sort_keys=True) != json.dumps(op["value"], sort_keys=True):
        raise PatchError(f"test operation failed at {op['path']!r}")
    return doc


# RFC 6902 section 4: each operation applied to the document in turn.
_JSON_PATCH_OPS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "add": lambda doc, op: _add(doc, op["path"], op["value"]),
    "remove": lambda doc, op: _remove(doc, op["path"])[0],
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
}
