"""Shared fixtures: one in-process sandbox per test session (per xdist worker), started lazily."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.admin import AdminClient


class SandboxHandle:
    """What tests get: the clients' environment and the admin API of the running sandbox."""

    def __init__(self, app: Any):
        self.app = app
        self.env: dict[str, str] = dict(app.env)
        self.admin_url: str = app.admin_url
        self.admin = AdminClient(self.admin_url)

    def requests(self) -> dict[str, dict[str, int]]:
        return self.admin.requests()

    def reset_counts(self) -> None:
        self.admin.reset_counts()

    def set_fault(self, service: str, **cfg: Any) -> dict[str, Any]:
        return self.admin.set_fault(service, **cfg)

    def clear_faults(self) -> None:
        self.admin.clear_faults()

    def reset(self) -> dict[str, Any]:
        """Clear the state of every service (other tests' objects included)."""
        return self.admin.reset()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    """The whole sandbox, started in this process on first use and stopped at session end."""
    from sandbox.app import start_sandbox

    app = start_sandbox()
    try:
        yield SandboxHandle(app)
    finally:
        app.stop()


@pytest.fixture
def sandbox_env(sandbox: SandboxHandle,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """``os.environ`` holds the sandbox's environment for one test; faults are cleared after."""
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    try:
        yield dict(sandbox.env)
    finally:
        sandbox.clear_faults()
