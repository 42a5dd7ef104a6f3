"""Which chunks of a files target the collection deletes (core.chunk_gc): never one a retained
night names, never one younger than the grace period, only one condemned a grace period ago
and not written since; the condemned list read back with hostile input refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from platform_assets.core.chunk_gc import (
    GcStateError,
    condemned_json,
    condemned_key,
    grace_period,
    parse_condemned,
    plan_chunk_gc,
)

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
GRACE = timedelta(hours=24)
OLD = NOW - timedelta(days=10)


def test_a_chunk_a_retained_night_names_is_never_deleted_nor_condemned() -> None:
    plan = plan_chunk_gc({"c/a": OLD}, {"c/a"}, {"c/a": NOW - timedelta(days=5)}, NOW, GRACE)
    assert plan.delete == () and plan.condemned == {} and plan.referenced == 1


def test_a_young_unreferenced_chunk_is_left_alone() -> None:
    """An attempt in progress uploads chunks before the index that names them."""
    plan = plan_chunk_gc({"c/a": NOW - timedelta(hours=23)}, set(), {}, NOW, GRACE)
    assert plan.delete == () and plan.condemned == {} and plan.young == 1


def test_an_old_unreferenced_chunk_is_condemned_first_and_deleted_a_grace_period_later() -> None:
    first = plan_chunk_gc({"c/a": OLD}, set(), {}, NOW, GRACE)
    assert first.delete == () and first.condemned == {"c/a": NOW}
    soon = plan_chunk_gc({"c/a": OLD}, set(), first.condemned, NOW + timedelta(hours=23), GRACE)
    assert soon.delete == () and soon.condemned == {"c/a": NOW}
    later = plan_chunk_gc({"c/a": OLD}, set(), soon.condemned, NOW + GRACE, GRACE)
    assert later.delete == ("c/a",) and later.condemned == {}


def test_a_condemned_chunk_written_again_or_named_again_is_kept() -> None:
    """The agent uploads a condemned chunk again when a night needs it; a night that reused it
    before it was condemned names it in its manifest by the sweep."""
    condemned = {"c/a": NOW - timedelta(days=2), "c/b": NOW - timedelta(days=2)}
    rewritten = NOW - timedelta(days=1, hours=1)
    plan = plan_chunk_gc({"c/a": rewritten, "c/b": OLD}, {"c/b"}, condemned, NOW, GRACE)
    assert plan.delete == ()
    assert plan.condemned == {"c/a": NOW}  # condemned anew, from now
    assert plan.referenced == 1


def test_a_chunk_no_longer_stored_leaves_the_condemned_list() -> None:
    plan = plan_chunk_gc({}, set(), {"c/gone": OLD}, NOW, GRACE)
    assert plan.condemned == {} and plan.delete == ()


def test_the_grace_period_outlasts_any_attempt() -> None:
    assert grace_period(timedelta(hours=1)) == timedelta(hours=24)
    assert grace_period(timedelta(hours=20)) == timedelta(hours=40)


def test_the_condemned_list_round_trips_beside_the_chunks() -> None:
    assert condemned_key("backups", "wiki") == "backups/wiki/gc/condemned.json"
    assert condemned_key("", "wiki") == "wiki/gc/condemned.json"
    state = {"backups/wiki/chunks/ab/" + "ab" * 32: NOW}
    assert parse_condemned(condemned_json(state), "s3://b/k") == state


@pytest.mark.parametrize("raw, message", [
    (b"{", "not JSON"),
    (b'{"version": 2, "condemned": {}}', "version 1"),
    (b'[]', "version 1"),
    (b'{"version": 1, "condemned": {"k": "yesterday"}}', "condemned.k"),
    (b'{"version": 1, "condemned": {"k": "2026-11-26T02:00:00"}}', "with a zone"),
])
def test_a_hostile_condemned_list_is_refused_naming_where(raw: bytes, message: str) -> None:
    with pytest.raises(GcStateError, match=message) as err:
        parse_condemned(raw, "s3://b/backups/wiki/gc/condemned.json")
    assert "s3://b/backups/wiki/gc/condemned.json" in str(err.value)
