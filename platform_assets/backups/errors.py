"""The one error the backup engine raises, how a cause is quoted in it, and the resource a
step needs and was not given."""

from __future__ import annotations

import json
from typing import TypeVar

S = TypeVar("S")


class BackupError(RuntimeError):
    """A backup, copy or drill failed; the message names the target, partition and cause."""


def _status_message(exc: BaseException) -> str | None:
    """The ``message`` of the Kubernetes ``Status`` an API error carries in its body (the
    kubernetes client's ``ApiException``/``DynamicApiError`` keep the response body and its
    status code as ``body`` and ``status``; its first line is only the code). The API server
    writes it: what was refused and why, e.g. a ValidatingAdmissionPolicy's message with the
    object's name, never the object's data."""
    body, status = getattr(exc, "body", None), getattr(exc, "status", None)
    if not isinstance(status, int) or not isinstance(body, (str, bytes)):
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    message = parsed.get("message") if isinstance(parsed, dict) else None
    if not isinstance(message, str) or not message.strip():
        return None
    return f"{status} {' '.join(message.split())}"


def cause(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 500 characters) of an exception; for a
    Kubernetes API error, its status code and the API's message instead."""
    text = _status_message(exc) or (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text[:500]}"


def required(system: S | None, key: str, describe: str) -> S:
    """``system``, or a ``BackupError`` naming the resource ``describe`` needs and lacks."""
    if system is None:
        raise BackupError(f"{describe} needs the {key} resource, and the run has none")
    return system
