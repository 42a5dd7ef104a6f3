"""The helper every service skip goes through: a skip, or a failure when CI requires services."""

from __future__ import annotations

import pytest

from tests.conftest import REQUIRE_SERVICES, missing_service


def test_a_missing_service_skips_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_SERVICES, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no MariaDB on 127.0.0.1:3306"):
        missing_service("no MariaDB on 127.0.0.1:3306")


def test_a_missing_service_fails_when_services_are_required(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_SERVICES, "1")
    with pytest.raises(pytest.fail.Exception,
                       match=r"no MariaDB on 127.0.0.1:3306 \(PLATFORM_OPS_REQUIRE_SERVICES=1"):
        missing_service("no MariaDB on 127.0.0.1:3306")
