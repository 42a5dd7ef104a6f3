"""The change calendar: maintenance windows, freezes, IONOS windows and the disruption gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from platform_assets.core import calendar
from platform_assets.spec import load_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "platform" / "platform.yaml"


@pytest.fixture(scope="module")
def spec():
    return load_spec(EXAMPLE)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_window_sunday_ten_to_two(spec) -> None:
    # 2026-11-22 is a Sunday; the example's window is Sunday 10:00 for 4h (UTC).
    assert calendar.in_maintenance_window(spec, at("2026-11-22T10:00:00"))
    assert calendar.in_maintenance_window(spec, at("2026-11-22T13:59:59"))
    assert not calendar.in_maintenance_window(spec, at("2026-11-22T14:00:00"))
    assert not calendar.in_maintenance_window(spec, at("2026-11-22T09:59:59"))
    assert not calendar.in_maintenance_window(spec, at("2026-11-23T11:00:00"))
    assert calendar.next_change_window(spec, at("2026-11-23T11:00:00")) == at(
        "2026-11-29T10:00:00")


def test_window_in_other_timezone_and_across_midnight(spec) -> None:
    cal = {"maintenance_windows": [{"name": "late", "day": "Saturday", "start": "23:00",
                                    "duration": "3h", "timezone": "Europe/Berlin"}]}
    other = spec.model_copy(update={"change_calendar": type(spec.change_calendar).model_validate(
        cal)})
    # Saturday 23:00 Berlin (winter, UTC+1) is 22:00 UTC; the window runs to Sunday 01:00 UTC.
    assert calendar.in_maintenance_window(other, at("2026-11-21T22:30:00"))
    assert calendar.in_maintenance_window(other, at("2026-11-22T00:59:00"))
    assert not calendar.in_maintenance_window(other, at("2026-11-22T01:00:00"))


def test_freeze_beats_window_and_force_beats_both(spec) -> None:
    sunday_in_freeze = at("2026-12-27T11:00:00")
    assert calendar.in_freeze(spec, sunday_in_freeze)
    gate = calendar.disruption_gate(spec, sunday_in_freeze)
    assert not gate.allowed and "year-end" in gate.reason
    assert calendar.disruption_gate(spec, sunday_in_freeze, force=True).allowed
    assert calendar.disruption_gate(spec, at("2026-11-22T11:00:00")).allowed
    closed = calendar.disruption_gate(spec, at("2026-11-24T11:00:00"))
    assert not closed.allowed and "2026-11-29T10:00:00" in closed.reason
    assert not calendar.in_freeze(spec, at("2027-01-04T00:00:00"))


def test_ionos_maintenance_windows(spec) -> None:
    # MariaDB Sunday 09:00, cluster and pool Sunday 10:00, 4h each by default.
    assert calendar.active_ionos_maintenance(spec, at("2026-11-22T09:30:00")) == [
        "mariadb/wordpress-db"]
    assert set(calendar.active_ionos_maintenance(spec, at("2026-11-22T10:30:00"))) == {
        "cluster/ionos-k8s", "node_pool/application-pool", "mariadb/wordpress-db"}
    assert not calendar.in_ionos_maintenance(spec, at("2026-11-25T10:30:00"))
    end = calendar.last_ionos_maintenance_end(spec.ionos.cluster.maintenance_window,
                                              at("2026-11-25T10:30:00"))
    assert end == at("2026-11-22T14:00:00")


def test_naive_datetime_is_rejected(spec) -> None:
    with pytest.raises(ValueError, match="aware"):
        calendar.in_freeze(spec, datetime(2026, 11, 22))


def _berlin(spec, start: str, duration: str):
    cal = {"maintenance_windows": [{"name": "night", "day": "Sunday", "start": start,
                                    "duration": duration, "timezone": "Europe/Berlin"}]}
    return spec.model_copy(update={"change_calendar": type(spec.change_calendar).model_validate(
        cal)})


def _open_minutes(spec, first: datetime, last: datetime) -> list[datetime]:
    out, t = [], first
    while t <= last:
        if calendar.in_maintenance_window(spec, t):
            out.append(t)
        t += timedelta(minutes=1)
    return out


# Europe/Berlin: 2026-03-29 02:00 CET (01:00Z) jumps to 03:00 CEST; 2026-10-25 03:00 CEST
# (01:00Z) falls back to 02:00 CET, so 02:00-03:00 local happens twice. Both are Sundays.
def test_nonexistent_start_on_spring_forward_opens_when_the_next_window_says(spec) -> None:
    night = _berlin(spec, "02:30", "1h")
    # 02:30 does not exist that night: it is 03:30 summer time (01:30Z), PEP 495 fold=0.
    assert calendar.next_change_window(night, at("2026-03-29T00:00:00")) == at(
        "2026-03-29T01:30:00")
    opened = _open_minutes(night, at("2026-03-28T23:00:00"), at("2026-03-29T04:00:00"))
    assert opened[0] == at("2026-03-29T01:30:00")
    assert opened[-1] == at("2026-03-29T02:29:00")
    assert len(opened) == 60
    gate = calendar.disruption_gate(night, at("2026-03-29T01:10:00"))
    assert not gate.allowed and "2026-03-29T01:30:00+00:00" in gate.reason


def test_start_in_the_repeated_hour_opens_at_its_first_occurrence(spec) -> None:
    night = _berlin(spec, "02:30", "1h")
    # 02:30 happens at 00:30Z (summer time) and again at 01:30Z (winter time): the first counts.
    assert calendar.next_change_window(night, at("2026-10-25T00:00:00")) == at(
        "2026-10-25T00:30:00")
    opened = _open_minutes(night, at("2026-10-24T22:00:00"), at("2026-10-25T04:00:00"))
    assert (opened[0], opened[-1], len(opened)) == (
        at("2026-10-25T00:30:00"), at("2026-10-25T01:29:00"), 60)


def test_duration_is_real_time_when_the_clocks_go_back(spec) -> None:
    night = _berlin(spec, "01:00", "3h")
    # 01:00 summer time is 23:00Z; three real hours later the local clock shows 03:00 winter time.
    opened = _open_minutes(night, at("2026-10-24T21:00:00"), at("2026-10-25T05:00:00"))
    assert (opened[0], opened[-1], len(opened)) == (
        at("2026-10-24T23:00:00"), at("2026-10-25T01:59:00"), 180)


def test_duration_is_real_time_when_the_clocks_go_forward(spec) -> None:
    night = _berlin(spec, "01:00", "3h")
    # 01:00 winter time is 00:00Z; three real hours later the local clock shows 04:00 summer time.
    opened = _open_minutes(night, at("2026-03-28T22:00:00"), at("2026-03-29T05:00:00"))
    assert (opened[0], opened[-1], len(opened)) == (
        at("2026-03-29T00:00:00"), at("2026-03-29T02:59:00"), 180)


@pytest.mark.parametrize("start", ["00:30", "01:59", "02:00", "02:30", "02:59", "03:00"])
@pytest.mark.parametrize("first", ["2026-03-28T20:00:00", "2026-10-24T20:00:00"])
def test_open_exactly_when_the_next_window_has_opened(spec, start: str, first: str) -> None:
    # The window is open at t iff the first opening after t - duration is at or before t: the
    # open test and next_change_window agree minute by minute across both transitions.
    night = _berlin(spec, start, "45m")
    duration = timedelta(minutes=45)
    begin = at(first)
    checked = 0
    for minute in range(0, 10 * 60):
        t = begin + timedelta(minutes=minute)
        nxt = calendar.next_change_window(night, t - duration)
        assert nxt is not None
        assert calendar.in_maintenance_window(night, t) == (nxt <= t), t
        checked += calendar.in_maintenance_window(night, t)
    assert checked == 45


def test_a_start_with_seconds_opens_on_the_second(spec) -> None:
    night = _berlin(spec, "02:30:30", "1h")
    # A normal Sunday in winter: 02:30:30 CET is 01:30:30Z.
    assert not calendar.in_maintenance_window(night, at("2026-11-22T01:30:29"))
    assert calendar.in_maintenance_window(night, at("2026-11-22T01:30:30"))
    assert calendar.next_change_window(night, at("2026-11-22T00:00:00")) == at(
        "2026-11-22T01:30:30")
