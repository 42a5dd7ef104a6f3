"""The change calendar: maintenance windows, freezes, IONOS windows and the disruption gate."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from platform_assets.core import calendar
from platform_assets.spec import load_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "platform" / "platform.yaml"


@pytest.fixture(scope="module")
def spec():  # type: ignore[no-untyped-def]
    return load_spec(EXAMPLE)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_window_sunday_ten_to_two(spec) -> None:  # type: ignore[no-untyped-def]
    # 2026-11-22 is a Sunday; the example's window is Sunday 10:00 for 4h (UTC).
    assert calendar.in_maintenance_window(spec, at("2026-11-22T10:00:00"))
    assert calendar.in_maintenance_window(spec, at("2026-11-22T13:59:59"))
    assert not calendar.in_maintenance_window(spec, at("2026-11-22T14:00:00"))
    assert not calendar.in_maintenance_window(spec, at("2026-11-22T09:59:59"))
    assert not calendar.in_maintenance_window(spec, at("2026-11-23T11:00:00"))
    assert calendar.next_change_window(spec, at("2026-11-23T11:00:00")) == at(
        "2026-11-29T10:00:00")


def test_window_in_other_timezone_and_across_midnight(spec) -> None:  # type: ignore[no-untyped-def]
    cal = {"maintenance_windows": [{"name": "late", "day": "Saturday", "start": "23:00",
                                    "duration": "3h", "timezone": "Europe/Berlin"}]}
    other = spec.model_copy(update={"change_calendar": type(spec.change_calendar).model_validate(
        cal)})
    # Saturday 23:00 Berlin (winter, UTC+1) is 22:00 UTC; the window runs to Sunday 01:00 UTC.
    assert calendar.in_maintenance_window(other, at("2026-11-21T22:30:00"))
    assert calendar.in_maintenance_window(other, at("2026-11-22T00:59:00"))
    assert not calendar.in_maintenance_window(other, at("2026-11-22T01:00:00"))


def test_freeze_beats_window_and_force_beats_both(spec) -> None:  # type: ignore[no-untyped-def]
    sunday_in_freeze = at("2026-12-27T11:00:00")
    assert calendar.in_freeze(spec, sunday_in_freeze)
    gate = calendar.disruption_gate(spec, sunday_in_freeze)
    assert not gate.allowed and "year-end" in gate.reason
    assert calendar.disruption_gate(spec, sunday_in_freeze, force=True).allowed
    assert calendar.disruption_gate(spec, at("2026-11-22T11:00:00")).allowed
    closed = calendar.disruption_gate(spec, at("2026-11-24T11:00:00"))
    assert not closed.allowed and "2026-11-29T10:00:00" in closed.reason
    assert not calendar.in_freeze(spec, at("2027-01-04T00:00:00"))


def test_ionos_maintenance_windows(spec) -> None:  # type: ignore[no-untyped-def]
    # MariaDB Sunday 09:00, cluster and pool Sunday 10:00, 4h each by default.
    assert calendar.active_ionos_maintenance(spec, at("2026-11-22T09:30:00")) == [
        "mariadb/wordpress-db"]
    assert set(calendar.active_ionos_maintenance(spec, at("2026-11-22T10:30:00"))) == {
        "cluster/ionos-k8s", "node_pool/application-pool", "mariadb/wordpress-db"}
    assert not calendar.in_ionos_maintenance(spec, at("2026-11-25T10:30:00"))
    end = calendar.last_ionos_maintenance_end(spec.ionos.cluster.maintenance_window,
                                              at("2026-11-25T10:30:00"))
    assert end == at("2026-11-22T14:00:00")


def test_naive_datetime_is_rejected(spec) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="aware"):
        calendar.in_freeze(spec, datetime(2026, 11, 22))
