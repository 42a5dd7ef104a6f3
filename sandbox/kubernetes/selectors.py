"""Label and field selectors as the API server parses them (``k in (a,b)``, ``!k``, ``a!=b``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """A selector that does not parse; the API answers 400 BadRequest."""


_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_OP_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=|>|<)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split_terms(text: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced parenthesis in selector {text!r}")
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise SelectorError(f"unbalanced parenthesis in selector {text!r}")
    terms.append(cur)
    return [t for t in terms if t.strip()]


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # =, !=, in, notin, exists, !exists, >, <
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        val = labels.get(self.key)
        if self.op == "=":
            return has and val == self.values[0]
        if self.op == "!=":
            return not has or val != self.values[0]
        if self.op == "in":
            return has and val in self.values
        if self.op == "notin":
            return not has or val not in self.values
        if self.op == "exists":
            return has
        if self.op == "!exists":
            return not has
        try:
            num, ref = int(val or ""), int(self.values[0])
        except ValueError:
            return False
        return num > ref if self.op == ">" else num < ref


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse a label selector string; an empty string selects everything."""
    out: list[Requirement] = []
    for term in _split_terms(text or ""):
        if m := _SET_RE.match(term):
            values = tuple(v.strip() for v in m.group(4).split(",") if v.strip())
            if not values and m.group(3) == "in":
                raise SelectorError(f"for 'in' operator, values set can't be empty: {term!r}")
            out.append(Requirement(m.group(1), m.group(3), values))
        elif m := _OP_RE.match(term):
            op = "=" if m.group(3) == "==" else m.group(3)
            if op in (">", "<") and not m.group(4).lstrip("-").isdigit():
                raise SelectorError(f"for 'Gt', 'Lt' operators, the value must be an integer: "
                                    f"{term!r}")
            out.append(Requirement(m.group(1), op, (m.group(4),)))
        elif m := _EXISTS_RE.match(term):
            out.append(Requirement(m.group(2), "!exists" if m.group(1) else "exists"))
        else:
            raise SelectorError(f"unable to parse requirement: {term.strip()!r}")
    return out


def label_matcher(text: str) -> Callable[[dict[str, Any]], bool]:
    reqs = parse_label_selector(text)

    def match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in reqs)

    return match


def parse_field_selector(text: str) -> list[tuple[str, str, str]]:
    """``[(field, op, value)]`` with op ``=`` or ``!=``."""
    out = []
    for term in _split_terms(text or ""):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise SelectorError(f"invalid selector: {term.strip()!r}; can't understand")
        out.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
    return out


def field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def field_matcher(text: str, allowed: tuple[str, ...]) -> Callable[[dict[str, Any]], bool]:
    """A matcher for a field selector; unknown fields raise SelectorError."""
    terms = parse_field_selector(text)
    for name, _, _ in terms:
        if name not in ("metadata.name", "metadata.namespace") and name not in allowed:
            raise SelectorError(f'field label not supported: {name}')

    def match(obj: dict[str, Any]) -> bool:
        for name, op, value in terms:
            actual = field_value(obj, name)
            if (actual == value) != (op == "="):
                return False
        return True

    return match
