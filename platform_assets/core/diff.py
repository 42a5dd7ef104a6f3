"""Field-level differences between a desired and an observed object. Pure.

Only the fields the desired side sets are compared (the server may add defaults and status), so
``diff({"a": 1}, {"a": 1, "b": 2})`` is empty. Lists are compared element by element when they
have the same length (dict elements again as subsets), else as a whole; lists of named items
(containers, env, volumes) are matched by name, so items others add are not differences.
Resource quantities (under ``resources``, ``capacity``, ``hard``, ``overhead``, ``sizeLimit``)
compare by value, as the API server stores them in canonical form (``cpu: 0.5`` comes back
as ``500m``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<absent>"})()


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: ``path`` such as ``spec.replicas`` or ``lans[0].id``."""

    path: str
    observed: Any
    desired: Any
    changed_by: str = ""  # the field manager that changed it (drift), when known

    def __str__(self) -> str:
        text = f"{self.path}: {render(self.observed)} -> {render(self.desired)}"
        return f"{text} (changed by {self.changed_by})" if self.changed_by else text


def render(value: Any, limit: int = 80) -> str:
    """A value as short JSON for plan output, ``(absent)`` for a missing field, cut at ``limit``
    characters."""
    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


_QUANTITY_RE = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|"
                          r"[numkMGTPE]|[KMGTPE]i)?$")
_QUANTITY_SCALE = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
                   "": Fraction(1), "k": Fraction(10**3), "M": Fraction(10**6),
                   "G": Fraction(10**9), "T": Fraction(10**12), "P": Fraction(10**15),
                   "E": Fraction(10**18), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
                   "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50),
                   "Ei": Fraction(2**60)}
# Path segments under which values are Kubernetes resource.Quantity (k8s.io/api types.go).
_QUANTITY_PARENTS = ("resources.requests.", "resources.limits.", "capacity.", "allocatable.",
                     "hard.", "overhead.")


def quantity_value(value: Any) -> Fraction | None:
    """The value of a Kubernetes quantity (``500m``, ``0.5``, ``1Gi``), None if not one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    m = _QUANTITY_RE.match(str(value).strip())
    if m is None:
        return None
    suffix = m.group(2) or ""
    if suffix[:1] in ("e", "E"):
        scale = Fraction(10) ** int(suffix[1:])
    else:
        scale = _QUANTITY_SCALE[suffix]
    return Fraction(m.group(1)) * scale


def _is_quantity_path(path: str) -> bool:
    return path.endswith(".sizeLimit") or any(p in path for p in _QUANTITY_PARENTS)


def _equal_scalars(a: Any, b: Any) -> bool:
    if a == b and type(a) is type(b):
        return True
    # Numbers that mean the same (2 vs 2.0) and case-insensitive booleans-as-strings are equal;
    # anything else (e.g. "2" vs 2) is a real difference.
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return float(a) == float(b)
    return False


def diff(desired: Any, observed: Any, path: str = "",
         ignore: Iterable[str] = ()) -> list[FieldChange]:
    """The fields of ``desired`` whose value differs in ``observed``.

    Args:
        desired: what the spec asks for (a dict, list or scalar).
        observed: what exists (``MISSING`` or None when absent).
        path: the prefix of reported paths.
        ignore: paths (as reported) to skip, e.g. ``metadata.annotations.x``.
    """
    skip = frozenset(ignore)
    out: list[FieldChange] = []
    _diff(desired, observed, path, skip, out)
    return out


def _diff(desired: Any, observed: Any, path: str, skip: frozenset[str],
          out: list[FieldChange]) -> None:
    if path in skip:
        return
    if isinstance(desired, dict):
        _diff_dict(desired, observed, path, skip, out)
    elif isinstance(desired, list):
        _diff_list(desired, observed, path, skip, out)
    else:
        _diff_scalar(desired, observed, path, out)


def _not_a(kind: type, desired: Any, observed: Any, path: str, out: list[FieldChange]) -> bool:
    """True (and the whole value reported when it matters) if ``observed`` is not a ``kind``."""
    if isinstance(observed, kind):
        return False
    if desired or observed not in (None, MISSING):
        out.append(FieldChange(path, observed, desired))
    return True


def _diff_dict(desired: dict[str, Any], observed: Any, path: str, skip: frozenset[str],
               out: list[FieldChange]) -> None:
    if _not_a(dict, desired, observed, path, out):
        return
    for key, value in desired.items():
        _diff(value, observed.get(key, MISSING), _join(path, key), skip, out)


def _by_name(desired: list[Any], observed: list[Any]) -> list[Any] | None:
    """The observed item of each desired one, matched by ``name`` (containers, env, volumes:
    lists the server merges by key, where others may add items such as injected sidecars);
    None when the list is not keyed by name."""
    if not desired or not all(isinstance(d, dict) and "name" in d for d in desired):
        return None
    if not all(isinstance(o, dict) for o in observed):
        return None
    named = {o.get("name"): o for o in observed}
    return [named.get(d["name"], MISSING) for d in desired]


def _diff_list(desired: list[Any], observed: Any, path: str, skip: frozenset[str],
               out: list[FieldChange]) -> None:
    if _not_a(list, desired, observed, path, out):
        return
    matched = _by_name(desired, observed)
    if matched is not None:
        for i, (d, o) in enumerate(zip(desired, matched, strict=True)):
            _diff(d, o, _join(path, i), skip, out)
        return
    if len(desired) != len(observed):
        out.append(FieldChange(path, observed, desired))
        return
    before = len(out)
    for i, (d, o) in enumerate(zip(desired, observed, strict=True)):
        _diff(d, o, _join(path, i), skip, out)
    if any(not isinstance(d, dict) for d in desired) and len(out) > before:
        # A changed scalar inside a list reads better as the whole list.
        del out[before:]
        out.append(FieldChange(path, observed, desired))


def _diff_scalar(desired: Any, observed: Any, path: str, out: list[FieldChange]) -> None:
    if desired is None and observed in (None, MISSING):
        return
    if _is_quantity_path(path):
        want = quantity_value(desired)
        if want is not None and want == quantity_value(observed):
            return
    if not _equal_scalars(desired, observed):
        out.append(FieldChange(path, observed, desired))


def touches(changes: Iterable[FieldChange], prefixes: Iterable[str]) -> list[FieldChange]:
    """The changes at or under any of ``prefixes`` (``a.b`` matches ``a.b.c`` and ``a.b[0]``)."""
    pre = tuple(prefixes)
    return [c for c in changes
            if any(c.path == p or c.path.startswith(p + ".") or c.path.startswith(p + "[")
                   for p in pre)]


def content_hash(obj: Any) -> str:
    """A short, stable hash of a JSON-able object (keys sorted)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def copied(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), several times faster than
    ``copy.deepcopy``, which a reconcile would spend on every object it applies. A part that
    appears twice is copied twice (JSON has no shared parts; each YAML alias is built anew
    anyway); values of other types go through ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {k: copied(v) for k, v in value.items()}
    if kind is list:
        return [copied(v) for v in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


_ATOMS = frozenset({str, int, float, bool, type(None)})
