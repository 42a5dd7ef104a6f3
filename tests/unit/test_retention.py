"""Retention planning and restore-point compliance (pure core)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from platform_assets.core.retention import (
    RestorePoint,
    compliance,
    plan_retention,
    rpo_status,
)

NOW = datetime(2026, 12, 15, 3, 0, tzinfo=UTC)


def point(days_ago: int, verified: bool = True) -> RestorePoint:
    created = NOW - timedelta(days=days_ago, hours=1)
    return RestorePoint(created.date().isoformat(), created, verified, f"ref-{days_ago}")


def test_deletes_points_older_than_retention_and_keeps_the_rest() -> None:
    points = [point(d) for d in range(0, 40)]
    plan = plan_retention(points, NOW, 30)
    assert {p.ref for p in plan.delete} == {f"ref-{d}" for d in range(30, 40)}
    assert {p.ref for p in plan.keep} == {f"ref-{d}" for d in range(0, 30)}
    assert plan.blocked is None
    assert "| delete |" in plan.table()


def test_never_deletes_the_newest_verified_point_even_when_old() -> None:
    points = [point(50), point(45), point(40)]
    plan = plan_retention(points, NOW, 30)
    assert [p.ref for p in plan.keep] == ["ref-40"]
    assert {p.ref for p in plan.delete} == {"ref-50", "ref-45"}


def test_newer_unverified_points_block_retention_and_keep_the_newest_verified() -> None:
    # Both points newer than the newest verified one are unverified: nothing may go, not even
    # the expired verified ones, since the last good backup must keep its company.
    points = [point(60), point(50), point(40, verified=False), point(35, verified=False)]
    plan = plan_retention(points, NOW, 30)
    assert plan.delete == ()
    assert [p.ref for p in plan.keep] == ["ref-60", "ref-50", "ref-40", "ref-35"]
    assert plan.blocked == f"newest backup {point(35).partition} is not verified"


def test_unverified_points_older_than_the_newest_verified_expire_like_any_other() -> None:
    points = [point(60), point(50, verified=False), point(40), point(10, verified=False),
              point(5)]
    plan = plan_retention(points, NOW, 30)
    assert plan.blocked is None
    assert [p.ref for p in plan.delete] == ["ref-60", "ref-50", "ref-40"]
    assert [p.ref for p in plan.keep] == ["ref-10", "ref-5"]
    assert plan.reasons["ref-5"] == "newest verified"
    assert plan.reasons["ref-10"] == "within retention"


def test_a_point_exactly_at_the_cutoff_is_kept() -> None:
    at_cutoff = RestorePoint("2026-11-15", NOW - timedelta(days=30), True, "at-cutoff")
    just_older = RestorePoint("2026-11-14", NOW - timedelta(days=30, microseconds=1), True,
                              "just-older")
    plan = plan_retention([just_older, at_cutoff, point(0)], NOW, 30)
    assert [p.ref for p in plan.delete] == ["just-older"]
    assert [p.ref for p in plan.keep] == ["at-cutoff", "ref-0"]


@pytest.mark.parametrize("reverse", [False, True])
def test_two_verified_points_at_the_same_time_keep_one_whatever_the_order(reverse: bool) -> None:
    created = NOW - timedelta(days=40)
    a = RestorePoint("2026-11-04", created, True, "a")
    b = RestorePoint("2026-11-05", created, True, "b")
    points = [b, a] if reverse else [a, b]
    plan = plan_retention(points, NOW, 30)
    # Ties break on the partition: the later day is the newest verified point.
    assert [p.ref for p in plan.keep] == ["b"]
    assert [p.ref for p in plan.delete] == ["a"]


BERLIN = ZoneInfo("Europe/Berlin")


def test_cutoff_is_real_time_when_the_clock_is_local_across_dst() -> None:
    # 30 days before 2026-11-01 12:00 CET (11:00Z) is 2026-10-02 11:00Z, 13:00 summer time:
    # the wall clock says 12:00, an hour too early, as the clocks went back on 2026-10-25.
    now = datetime(2026, 11, 1, 12, 0, tzinfo=BERLIN)
    older = RestorePoint("2026-10-02", datetime(2026, 10, 2, 12, 30, tzinfo=BERLIN), True, "old")
    newer = RestorePoint("2026-10-03", datetime(2026, 10, 2, 13, 30, tzinfo=BERLIN), True, "new")
    plan = plan_retention([older, newer, point(0)], now, 30)
    assert [p.ref for p in plan.delete] == ["old"]
    assert [p.ref for p in plan.keep] == ["new", "ref-0"]
    c = compliance([older, newer, point(0)], now, 30, timedelta(days=60), grace=timedelta(0))
    assert c.oldest_age_days == pytest.approx(30 + 0.5 / 24)
    assert c.problems == ("1 restore point(s) older than 30 days were not deleted: 2026-10-02",)


def test_points_in_the_repeated_hour_are_ordered_by_real_time() -> None:
    # 02:30 summer time (00:30Z) comes before 02:10 winter time (01:10Z) on 2026-10-25.
    first = RestorePoint("2026-10-24", datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN), True, "first")
    second = RestorePoint("2026-10-25", datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=BERLIN),
                          True, "second")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    plan = plan_retention([second, first], now, 30)
    assert [p.ref for p in plan.keep] == ["second"]
    assert [p.ref for p in plan.delete] == ["first"]
    c = compliance([first, second], datetime(2026, 10, 25, 3, 10, tzinfo=UTC), 30,
                   timedelta(hours=24))
    assert c.newest_age_hours == pytest.approx(2.0)
    assert c.oldest_age_days == pytest.approx(2.0 / 24 + 40 / 60 / 24)


def test_rpo_age_is_real_time_across_the_spring_forward_night() -> None:
    # 01:30 CET to 03:30 CEST on 2026-03-29 is one real hour, not two.
    newest = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)
    ok, msg = rpo_status(newest, datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN), timedelta(hours=1))
    assert ok and "1.0h old" in msg


def test_nothing_is_deleted_while_the_newest_point_is_unverified() -> None:
    points = [point(d) for d in range(1, 40)] + [point(0, verified=False)]
    plan = plan_retention(points, NOW, 30)
    assert plan.delete == ()
    assert plan.blocked and "not verified" in plan.blocked


def test_empty_and_invalid() -> None:
    assert plan_retention([], NOW, 30).delete == ()
    with pytest.raises(ValueError, match="retention_days"):
        plan_retention([point(1)], NOW, 0)


def test_compliance_counts_and_ages() -> None:
    c = compliance([point(0), point(1), point(2)], NOW, 30, timedelta(hours=24))
    assert c.ok and c.count == 3 and c.verified == 3
    assert c.newest_age_hours == pytest.approx(1.0)
    assert c.oldest_age_days == pytest.approx(2 + 1 / 24)


def test_compliance_flags_missed_rpo_expired_points_and_no_verified_point() -> None:
    c = compliance([point(2), point(40)], NOW, 30, timedelta(hours=24))
    assert not c.ok
    assert any("RPO" in p for p in c.problems)
    assert any("older than 30 days" in p for p in c.problems)
    c = compliance([point(0, verified=False)], NOW, 30, timedelta(hours=24))
    assert c.problems == ("no verified restore point",)


def test_rpo_status() -> None:
    ok, msg = rpo_status(NOW - timedelta(hours=23), NOW, timedelta(hours=24))
    assert ok and "23.0h" in msg
    ok, msg = rpo_status(NOW - timedelta(hours=25), NOW, timedelta(hours=24))
    assert not ok and "older than the RPO of 24h" in msg
    assert rpo_status(None, NOW, timedelta(hours=24)) == (False, "no complete backup exists")


def test_a_duplicate_point_of_the_newest_verified_partition_is_kept() -> None:
    # Two snapshots of one day (a retried run): deleting either removes that day's manifest.
    keeper = point(40)
    twin = RestorePoint(keeper.partition, keeper.created_at - timedelta(minutes=5), True, "twin")
    plan = plan_retention([point(50), twin, keeper], NOW, 30)
    assert {p.ref for p in plan.keep} == {"ref-40", "twin"}
    assert [p.ref for p in plan.delete] == ["ref-50"]
    problems = compliance([twin, keeper], NOW, 30, timedelta(days=60)).problems
    assert not [p for p in problems if "were not deleted" in p]


def test_one_day_is_the_shortest_retention() -> None:
    plan = plan_retention([point(2), point(0)], NOW, 1)
    assert [p.ref for p in plan.delete] == ["ref-2"]


def test_compliance_allows_the_grace_of_the_nightly_run_that_deletes() -> None:
    # 30 days and 1 hour old, retention 30 days: the night's run has not deleted it yet, and
    # the default grace of one day says that is fine; without grace it is a problem.
    points = [point(30), point(0)]
    assert compliance(points, NOW, 30, timedelta(hours=24)).ok
    strict = compliance(points, NOW, 30, timedelta(hours=24), grace=timedelta(0))
    assert strict.problems == (
        f"1 restore point(s) older than 30 days were not deleted: {point(30).partition}",)


def test_rpo_and_grace_boundaries() -> None:
    exactly = RestorePoint("2026-12-14", NOW - timedelta(hours=24), True, "exactly")
    assert compliance([exactly], NOW, 30, timedelta(hours=24)).ok  # as old as the RPO: fine
    assert not compliance([exactly], NOW, 30, timedelta(hours=23, minutes=59)).ok
    # The default grace is one day: 31 days and 1 hour old is past it.
    late = [point(31), point(0)]
    assert compliance(late, NOW, 30, timedelta(hours=24)).problems == (
        f"1 restore point(s) older than 30 days were not deleted: {point(31).partition}",)
