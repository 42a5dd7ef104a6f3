"""What the tool-driven methods (Velero, Longhorn) share: the namespace their tool runs in, and
waiting for its controller to act on an object (poll until done or the time is up, with the
clock and the sleeper injected)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from platform_assets.backups.errors import BackupError
from platform_assets.core.graph import tool_component_of
from platform_assets.spec.models import BackupTarget, PlatformSpec

Obj = dict[str, Any] | None


def poll(fetch: Callable[[], Obj], done: Callable[[Obj], bool], timeout: float,
         timed_out: Callable[[Obj], Exception], sleep: Callable[[float], None],
         clock: Callable[[], float], seen: Callable[[Obj], None] = lambda _o: None,
         every: float = 1.0) -> Obj:
    """``fetch()`` until ``done`` says so (its last value), ``seen`` told of each; after
    ``timeout`` seconds the error (a ``BackupError`` in backups) ``timed_out`` makes of the
    last value."""
    deadline = clock() + timeout
    while True:
        obj = fetch()
        if done(obj):
            return obj
        seen(obj)
        if clock() > deadline:
            raise timed_out(obj)
        sleep(every)


def wait_gone(fetch: Callable[[], Obj], what: str, timeout: float, timeout_text: str,
              sleep: Callable[[float], None], clock: Callable[[], float],
              every: float = 1.0) -> None:
    """``fetch()`` until the object is gone; a ``BackupError`` naming ``what`` after
    ``timeout`` seconds (``timeout_text`` as the spec wrote it)."""
    poll(fetch, lambda o: o is None, timeout,
         lambda _o: BackupError(f"{what} was not deleted within {timeout_text}"),
         sleep, clock, every=every)


def tool_namespace(spec: PlatformSpec, target: BackupTarget) -> str:
    """The namespace of the component that installs the target's tool."""
    component = tool_component_of(spec, target)
    found = next((c for c in spec.components if c.name == component), None)
    if found is None:
        raise BackupError(f"target {target.name}: no component installs "
                          f"{target.method.capitalize()} (the spec loader refuses this; was "
                          "the spec validated?)")
    return found.namespace
