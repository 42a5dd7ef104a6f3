"""The one error the backup engine raises, how a cause is quoted in it, and the resource a
step needs and was not given."""

from __future__ import annotations

from typing import TypeVar

S = TypeVar("S")


class BackupError(RuntimeError):
    """A backup, copy or drill failed; the message names the target, partition and cause."""


def cause(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 500 characters) of an exception."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:500] if text else ''}"


def required(system: S | None, key: str, describe: str) -> S:
    """``system``, or a ``BackupError`` naming the resource ``describe`` needs and lacks."""
    if system is None:
        raise BackupError(f"{describe} needs the {key} resource, and the run has none")
    return system
