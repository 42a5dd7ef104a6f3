"""Keeping secret-looking values out of plans, metadata, the event log and reports. Pure.

A spec should hold no secrets (docs/security.md says where they go instead), but a ConfigMap key
``db-password``, a Helm value ``auth.token`` or a container's literal ``env`` value named
``API_KEY`` still happens, and plans show field values. Every field change a plan holds goes
through :func:`redact_change`: a value is replaced by :data:`REDACTED` when a key on its path,
or the ``name`` of a list item on its path (an ``env`` entry), looks secret (:func:`looks_secret`),
and values that are themselves mappings or lists are redacted inside the same way. A Secret's
fields are all redacted by the component planner.
"""

from __future__ import annotations

import json
import re
from typing import Any

from platform_assets.core.diff import MISSING, FieldChange

REDACTED = "(secret value)"

# Words that make a key look secret; a key is split into words at '-', '_', '.', and camelCase.
SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "pass", "passphrase", "secret", "secrets", "token", "tokens",
    "key", "keys", "apikey", "credential", "credentials", "private", "privatekey", "auth",
    "authorization", "cookie", "dsn", "connectionstring", "bearer",
})
# A key ending in one of these names where a secret is, not the secret (``secretName``,
# ``passwordSecretRef``, ``tokenFile``), so plans keep showing which Secret is used.
REFERENCE_WORDS = frozenset({"name", "ref", "namespace", "file", "path", "env", "selector"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# One path segment as ``diff`` writes it (``a.b[2]``) or ``fieldpath.render`` (``[name="x"]``).
_SEGMENT = re.compile(r'\[(\d+)\]|\[([^\]=]+)=("(?:[^"\\]|\\.)*")\]|\.?([^.\[]+)')


def looks_secret(key: object) -> bool:
    """Whether a key (or an env entry's name) reads like it holds a secret."""
    if not isinstance(key, str):
        return False
    words = [w.lower() for w in _WORD.findall(key)]
    if not words or (len(words) > 1 and words[-1] in REFERENCE_WORDS):
        return False
    return any(w in SECRET_WORDS for w in words) or "".join(words) in SECRET_WORDS


def _secret_item(item: object) -> bool:
    return isinstance(item, dict) and looks_secret(item.get("name"))


def redact_value(value: Any) -> Any:
    """``value`` with the values of secret-looking keys (and secret-named list items)
    replaced; scalars are returned as they are."""
    if isinstance(value, dict):
        if looks_secret(value.get("name")) and "value" in value:
            return {k: (REDACTED if k == "value" else redact_value(v)) for k, v in value.items()}
        return {k: (REDACTED if looks_secret(k) else redact_value(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


def _segments(path: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for index, item_key, item_value, key in _SEGMENT.findall(path):
        if index:
            out.append(("index", int(index)))
        elif item_key:
            try:
                out.append(("item", (item_key, json.loads(item_value))))
            except ValueError:
                out.append(("item", (item_key, item_value)))
        else:
            out.append(("key", key))
    return out


def _step(node: Any, kind: str, arg: Any) -> Any:
    if kind == "key" and isinstance(node, dict):
        return node.get(arg)
    if kind == "index" and isinstance(node, list) and 0 <= arg < len(node):
        return node[arg]
    return None


def path_is_secret(path: str, context: Any = None) -> bool:
    """Whether a field path goes through a secret-looking key or list item; ``context`` (the
    desired object the path is in) tells the name of items addressed by index."""
    node = context
    for kind, arg in _segments(path):
        if kind == "key" and looks_secret(arg):
            return True
        if kind == "item" and arg[0] == "name" and looks_secret(arg[1]):
            return True
        node = _step(node, kind, arg)
        if kind == "index" and _secret_item(node):
            return True
    return False


def _hide(value: Any) -> Any:
    return value if value is MISSING or value is None else REDACTED


def redact_change(change: FieldChange, context: Any = None) -> FieldChange:
    """``change`` with its values redacted where they look secret (see the module docstring)."""
    if path_is_secret(change.path, context):
        return FieldChange(change.path, _hide(change.observed), _hide(change.desired),
                           change.changed_by)
    observed, desired = redact_value(change.observed), redact_value(change.desired)
    if observed == change.observed and desired == change.desired:
        return change
    return FieldChange(change.path, observed, desired, change.changed_by)


def redact_all(change: FieldChange) -> FieldChange:
    """``change`` with both values hidden, present or not (every field of a Secret)."""
    return FieldChange(change.path, REDACTED, REDACTED, change.changed_by)
