"""The spec's cron check: the fast path for plain numeric expressions accepts nothing croniter
rejects, and everything else is still decided by croniter."""

from __future__ import annotations

import itertools

import pytest
from croniter import croniter

from platform_assets.spec.models import _cron, _plainly_valid_cron

ITEMS = ["*", "*/0", "*/1", "*/6", "*/60", "0", "5", "7", "12", "23", "24", "31", "32", "59",
         "60", "1-5", "5-1", "0-59", "0-60", "1-31/2", "5/15", "1,2,3", "1,,2", "-1", "a", "",
         "mon", "jan", "L", "?"]


@pytest.mark.parametrize("position", range(5))
def test_fast_path_accepts_nothing_croniter_rejects(position: int) -> None:
    for item in ITEMS:
        fields = ["*"] * 5
        fields[position] = item
        expr = " ".join(fields)
        if _plainly_valid_cron(expr):
            assert croniter.is_valid(expr), expr


def test_pairs_of_fields_agree_with_croniter_where_fast() -> None:
    for a, b in itertools.product(ITEMS[:12], repeat=2):
        expr = f"{a} {b} * * *"
        if _plainly_valid_cron(expr):
            assert croniter.is_valid(expr), expr


def test_forms_outside_the_fast_path_still_go_through_croniter() -> None:
    assert _cron("0 2 * * mon") == "0 2 * * mon"
    assert _cron("0 */6 * * *") == "0 */6 * * *"
    for bad in ("60 * * * *", "0 2 * *", "0 2 * * * *", "0 2 * * funday"):
        with pytest.raises(ValueError, match="not a valid 5-field cron"):
            _cron(bad)
