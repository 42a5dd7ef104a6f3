"""What the emulated backup tools share: a queue of injected faults, each for the next ``times``
operations, and the one S3 they may reach (a local endpoint; IONOS S3's endpoints
``https://s3.<region>.ionoscloud.com`` are the sandbox's S3, ``World.s3_url``)."""

from __future__ import annotations

import threading
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlparse

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
IONOS_S3_DOMAIN = ".ionoscloud.com"


class _Counted(Protocol):
    times: int


F = TypeVar("F", bound=_Counted)


class FaultQueue(Generic[F]):
    """Faults taken in order; one with ``times`` n applies to the next n operations."""

    def __init__(self) -> None:
        self.items: list[F] = []
        self._lock = threading.Lock()

    def add(self, fault: F) -> dict[str, Any]:
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self.items.append(fault)
            return {"faults": [dict(vars(f)) for f in self.items]}

    def take(self) -> F | None:
        with self._lock:
            if not self.items:
                return None
            fault = self.items[0]
            fault.times -= 1
            if fault.times <= 0:
                self.items.pop(0)
            return fault

    def clear(self) -> None:
        with self._lock:
            self.items.clear()


def local_s3(url: str, sandbox_s3: str, what: str) -> str:
    """The endpoint to use for ``url``; ValueError for one the sandbox cannot reach."""
    if str(urlparse(url).hostname or "").endswith(IONOS_S3_DOMAIN) and sandbox_s3:
        return sandbox_s3
    if urlparse(url).hostname not in LOCAL_HOSTS:
        raise ValueError(f"{what} {url!r}: the sandbox reaches only a local S3 "
                         "(http://127.0.0.1:PORT)")
    return url
