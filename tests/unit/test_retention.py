"""Retention planning and restore-point compliance (pure core)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def test_newest_verified_is_kept_when_newer_unverified_points_are_old_too() -> None:
    # The newest point overall is verified here; an older unverified one just expires.
    points = [point(60, verified=True), point(50, verified=False), point(40, verified=True)]
    plan = plan_retention(points, NOW, 30)
    assert [p.ref for p in plan.keep] == ["ref-40"]


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
