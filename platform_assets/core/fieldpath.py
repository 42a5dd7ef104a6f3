"""Field paths of Kubernetes objects, and the two ways a spec names them to ignore. Pure.

A path is a tuple of segments: a map key (``str``) or a list item (``Item``: its index and, for
an item of a keyed list, the value that identifies it). The spec's ``ignore_differences`` name
paths the way Argo CD's ``ignoreDifferences`` does, in one of two forms:

- a JSON Pointer (RFC 6901): ``/spec/replicas``, ``/metadata/annotations/a~1b`` (``~1`` is
  ``/``, ``~0`` is ``~``); a numeric segment matches a list index or a map key;
- a jq path expression, the subset that names paths: ``.spec.replicas``,
  ``.metadata.labels["a.b"]``, ``.spec.template.spec.containers[]`` (every item),
  ``.containers[0]``, and ``.containers[] | select(.name == "web")``
  followed by more path (``| .image``).

A rule's path ignores that field and everything under it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

ANY = "[]"  # a pattern segment matching every item of a list


@dataclass(frozen=True)
class Item:
    """A list item in an object path: its index and, in a keyed list, its identity."""

    index: int
    key: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        if self.key:
            return "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in self.key) + "]"
        return f"[{self.index}]"


@dataclass(frozen=True)
class Select:
    """A pattern segment matching the list items whose ``field`` equals ``value``."""

    field: str
    value: Any


Segment = str | Item
Pattern = tuple[str | int | Select, ...]  # str key or ANY, int index, Select


def render(path: tuple[Segment, ...]) -> str:
    """``spec.template.spec.containers[name="web"].image``."""
    out = ""
    for seg in path:
        if isinstance(seg, Item):
            out += str(seg)
        else:
            out += ("." if out else "") + seg
    return out


class FieldPathError(ValueError):
    """A JSON pointer or jq path the spec cannot use; the message says what is wrong."""


def parse_json_pointer(text: str) -> Pattern:
    """``/spec/replicas`` → ``("spec", "replicas")``; numeric segments also match indexes."""
    if not text.startswith("/"):
        raise FieldPathError(f"{text!r}: a JSON pointer starts with '/' (RFC 6901)")
    out: list[str | int | Select] = []
    for raw in text[1:].split("/"):
        if re.search(r"~[^01]|~$", raw):
            raise FieldPathError(f"{text!r}: '~' must be followed by 0 or 1 (RFC 6901)")
        out.append(raw.replace("~1", "/").replace("~0", "~"))
    return tuple(out)


_JQ_TOKEN = re.compile(
    r"""\s*(?:
      \.(?P<key>[A-Za-z_][A-Za-z0-9_-]*)
    | \.?\[\s*(?P<quoted>"(?:[^"\\]|\\.)*")\s*\]
    | \.?\[\s*(?P<index>\d+)\s*\]
    | \.?\[\s*\](?P<all>)
    | \|\s*select\(\s*\.(?P<sfield>[A-Za-z_][A-Za-z0-9_-]*)\s*==\s*
        (?P<svalue>"(?:[^"\\]|\\.)*"|-?\d+|true|false)\s*\)
    | \|(?P<pipe>)
    )""", re.VERBOSE)


def parse_jq_path(text: str) -> Pattern:
    """The subset of jq path expressions in the module docstring; raises FieldPathError."""
    if not text.strip().startswith("."):
        raise FieldPathError(f"{text!r}: a jq path starts with '.'")
    out: list[str | int | Select] = []
    pos = 0
    while pos < len(text.rstrip()):
        m = _JQ_TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FieldPathError(
                f"{text!r}: cannot read the path at column {pos + 1} (supported: .key, "
                '["key"], [], [N], | select(.field == "value"))')
        out.extend(_jq_segment(m))
        pos = m.end()
    return tuple(out)


def _jq_segment(m: re.Match[str]) -> list[str | int | Select]:
    if m.group("key") is not None:
        return [m.group("key")]
    if m.group("quoted") is not None:
        return [str(json.loads(m.group("quoted")))]
    if m.group("index") is not None:
        return [int(m.group("index"))]
    if m.group("all") is not None:
        return [ANY]
    if m.group("sfield") is not None:
        return [Select(m.group("sfield"), json.loads(m.group("svalue")))]
    return []  # a pipe between two path parts


def matches(pattern: Pattern, path: tuple[Segment, ...], obj: Any) -> bool:
    """Whether ``path`` (in ``obj``, whose list items a ``select`` reads) is at or under
    ``pattern``."""
    cur: Any = obj
    i = 0
    for pat in pattern:
        if isinstance(pat, Select):
            # select() filters the item the previous segment reached.
            if not isinstance(cur, dict) or cur.get(pat.field) != pat.value:
                return False
            continue
        if i >= len(path):
            return False
        seg = path[i]
        if not _segment_matches(pat, seg):
            return False
        cur = step(cur, seg)
        i += 1
    return True


def _segment_matches(pat: str | int, seg: Segment) -> bool:
    if isinstance(seg, Item):
        return pat == ANY or pat == seg.index or (isinstance(pat, str) and pat == str(seg.index))
    return isinstance(pat, str) and pat == seg


def step(cur: Any, seg: Segment) -> Any:
    """The value one segment below ``cur`` (None when absent)."""
    if isinstance(seg, Item):
        if not isinstance(cur, list):
            return None
        if seg.key:
            return next((x for x in cur if isinstance(x, dict)
                         and all(x.get(k) == v for k, v in seg.key)), None)
        return cur[seg.index] if seg.index < len(cur) else None
    return cur.get(seg) if isinstance(cur, dict) else None


def lookup(obj: Any, path: tuple[Segment, ...]) -> Any:
    """The value at ``path`` in ``obj``, None when any part is absent."""
    cur = obj
    for seg in path:
        cur = step(cur, seg)
        if cur is None:
            return None
    return cur
