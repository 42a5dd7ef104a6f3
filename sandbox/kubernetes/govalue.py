"""How kube-apiserver prints a rejected value in a field error's message
(k8s.io/apimachinery/pkg/util/validation/field/errors.go, ``Error.ErrorBody``): a nil pointer as
``"null"``, a string quoted (``%q``), a number or bool bare, and anything else as Go's ``%#v``
literal of the *internal* type (``v1.LabelSelector{MatchLabels:map[string]string{...}, ...}``).

The literals of small types are reproduced exactly. Large structs (a pod template, a node
affinity) are printed by the real server as a Go literal of every field of the internal type,
which the sandbox cannot reproduce from JSON; ``abbreviated`` prints the type and ``{...}``, so
a client sees the same type, field and detail but not the full dump.
"""

from __future__ import annotations

import json
from typing import Any


def quote(text: str) -> str:
    """Go's ``%q`` of a string (JSON's escaping agrees for the printable text of API objects)."""
    return json.dumps(text, ensure_ascii=False)


def value(v: Any) -> str:
    """``ErrorBody``'s rendering of a scalar (or nil) bad value."""
    if v is None:
        return '"null"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return quote(str(v))


def string_map(m: Any) -> str:
    """``%#v`` of a ``map[string]string`` (Go's fmt sorts the keys)."""
    if not isinstance(m, dict) or m is None:
        return "map[string]string(nil)"
    items = ", ".join(f"{quote(str(k))}:{quote(str(v))}" for k, v in sorted(m.items()))
    return f"map[string]string{{{items}}}"


def string_list(items: Any, go_type: str = "[]string") -> str:
    """``%#v`` of a slice of strings (or of a named string type)."""
    if not isinstance(items, list):
        return f"{go_type}(nil)"
    return f"{go_type}{{{', '.join(quote(str(i)) for i in items)}}}"


def label_selector(sel: Any) -> str:
    """``%#v`` of a dereferenced ``*metav1.LabelSelector`` (``"null"`` when nil)."""
    if not isinstance(sel, dict):
        return value(None)
    exprs = sel.get("matchExpressions")
    if isinstance(exprs, list):
        rendered = ", ".join(
            "v1.LabelSelectorRequirement{"
            f"Key:{quote(str(e.get('key') or ''))}, "
            f"Operator:{quote(str(e.get('operator') or ''))}, "
            f"Values:{string_list(e.get('values'))}}}"
            for e in exprs if isinstance(e, dict))
        expr_text = f"[]v1.LabelSelectorRequirement{{{rendered}}}"
    else:
        expr_text = "[]v1.LabelSelectorRequirement(nil)"
    return (f"v1.LabelSelector{{MatchLabels:{string_map(sel.get('matchLabels'))}, "
            f"MatchExpressions:{expr_text}}}")


def struct(go_type: str, fields: list[tuple[str, str]]) -> str:
    """``%#v`` of a struct whose fields are already rendered, in the Go type's field order."""
    return f"{go_type}{{{', '.join(f'{k}:{v}' for k, v in fields)}}}"


def abbreviated(go_type: str, v: Any) -> str:
    """A large struct's value: the real server prints every field (see the module docstring)."""
    if v is None:
        return value(None)
    return f"{go_type}{{...}}"
