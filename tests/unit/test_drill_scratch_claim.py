"""The files drill's scratch claim is created anew: a claim of its name an earlier drill left
(still Terminating under pvc-protection, or a crashed run's) is deleted and waited for."""

from __future__ import annotations

from typing import Any

import pytest

from platform_assets.backups.errors import BackupError
from platform_assets.backups.volume_job import fresh_claim


class Claims:
    """A cluster whose claim ``ns/name`` answers ``left`` more GETs, then is gone."""

    def __init__(self, claim: dict[str, Any] | None, left: int) -> None:
        self.claim, self.left = claim, left
        self.deleted: list[str] = []

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        if self.claim is None or self.left <= 0:
            return None
        self.left -= 1
        return self.claim

    def delete(self, api_version: str, kind: str, name: str,
               namespace: str | None = None) -> bool:
        self.deleted.append(name)
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


TERMINATING = {"metadata": {"name": "s", "deletionTimestamp": "2026-11-26T00:00:00Z",
                            "finalizers": ["kubernetes.io/pvc-protection"]}}


def test_a_terminating_claim_is_waited_for_not_deleted_again() -> None:
    kube, clock = Claims(TERMINATING, 4), Clock()
    fresh_claim(kube, "ns", "s", "1m", clock.sleep, lambda: clock.now)  # type: ignore[arg-type]
    assert kube.deleted == [] and clock.now == 1.5


def test_a_leftover_claim_is_deleted_then_waited_for() -> None:
    kube, clock = Claims({"metadata": {"name": "s"}}, 2), Clock()
    fresh_claim(kube, "ns", "s", "1m", clock.sleep, lambda: clock.now)  # type: ignore[arg-type]
    assert kube.deleted == ["s"]


def test_a_claim_that_does_not_go_fails_naming_what_holds_it() -> None:
    kube, clock = Claims(TERMINATING, 10_000), Clock()
    with pytest.raises(BackupError, match=r"scratch claim ns/s of an earlier drill \(held by "
                                          r"kubernetes.io/pvc-protection\) was not deleted "
                                          "within 1m"):
        fresh_claim(kube, "ns", "s", "1m", clock.sleep, lambda: clock.now)  # type: ignore[arg-type]
    assert clock.now <= 61


def test_no_claim_no_request_but_the_read() -> None:
    kube = Claims(None, 0)
    fresh_claim(kube, "ns", "s", "1m")  # type: ignore[arg-type]
    assert kube.deleted == []
