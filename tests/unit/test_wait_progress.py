"""IONOS waits say what they wait for: each state change and the time waited is logged, and a
long unchanged state at least every minute; the plan names a resource IONOS is still busy with."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from resources.ionos import IonosCloudResource, WaitProgress


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def cluster(state: str) -> Any:
    return SimpleNamespace(metadata=SimpleNamespace(state=state))


def test_wait_until_logs_each_state_change_with_the_time_waited() -> None:
    clock, lines = Clock(), []
    states = iter(["DEPLOYING"] * 12 + ["ACTIVE"])
    ionos = IonosCloudResource(token="t", poll_interval_seconds=5.0)
    ionos.wait_until("GET /k8s/c1", lambda: cluster(next(states)),
                     lambda c: c.metadata.state == "ACTIVE", sleep=clock.sleep, clock=clock,
                     log=lines.append, target="ACTIVE")
    assert lines[0] == "GET /k8s/c1: DEPLOYING after 0s (waiting for ACTIVE)"
    # Unchanged for over a minute: said again, so a long wait never looks hung.
    assert any(line.startswith("GET /k8s/c1: DEPLOYING after ") and line != lines[0]
               for line in lines[1:-1])
    assert len(lines) < 12
    waited = clock.t - 1000.0
    assert lines[-1] == f"GET /k8s/c1: ACTIVE after {waited:.0f}s"


def test_progress_is_silent_without_a_log_and_between_changes() -> None:
    clock, lines = Clock(), []
    progress = WaitProgress("x", "DONE", lines.append, clock, every=60)
    for _ in range(3):
        progress.see("QUEUED")
        clock.sleep(10)
    progress.see("RUNNING")
    progress.see("DONE")
    assert lines == ["x: QUEUED after 0s (waiting for DONE)",
                     "x: RUNNING after 30s (waiting for DONE)", "x: DONE after 30s"]
    WaitProgress("x", "DONE", None, clock).see("QUEUED")  # no log: nothing to call


def test_transfer_progress_logs_mib_and_rate_periodically_and_at_the_end() -> None:
    from resources.s3_transfer import TransferProgress

    clock, lines = Clock(), []
    progress = TransferProgress("upload to s3://b/k", lines.append, clock, every=30)
    mib = 1024 * 1024
    for _ in range(8):  # 8 MiB parts every 10 s: a line every third part
        clock.sleep(10)
        progress.add(8 * mib)
    progress.done()
    assert lines == ["upload to s3://b/k: 24.0 MiB so far in 30s (0.8 MiB/s)",
                     "upload to s3://b/k: 48.0 MiB so far in 60s (0.8 MiB/s)",
                     "upload to s3://b/k: 64.0 MiB in all in 80s (0.8 MiB/s)"]


def test_transfer_progress_is_quiet_for_a_short_transfer_or_without_a_log() -> None:
    from resources.s3_transfer import TransferProgress

    clock, lines = Clock(), []
    short = TransferProgress("x", lines.append, clock, every=30)
    short.add(5)
    clock.sleep(5)
    short.add(5)
    short.done()
    assert lines == []
    silent = TransferProgress("x", None, clock, every=0)
    silent.add(5)
    silent.done()
    assert silent.size == 5
