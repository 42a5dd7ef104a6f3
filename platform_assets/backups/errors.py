"""The one error the backup engine raises, and how a cause is quoted in it."""

from __future__ import annotations


class BackupError(RuntimeError):
    """A backup, copy or drill failed; the message names the target, partition and cause."""


def cause(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 500 characters) of an exception."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:500] if text else ''}"
