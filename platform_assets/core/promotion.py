"""Promotion between environments: a change reaches an environment only after the environment
it is promoted from applied the same spec and its checks passed. Pure.

An environment with ``promotion: {after: staging}`` asks, for each asset it is about to change
(its code version differs from the one it last applied), whether ``staging``'s asset of the same
name is settled: staging applied its current spec of it, and staging's ``drift`` check of it ran
after that and passed. Assets staging does not have (production's IONOS infrastructure) and
assets with no pending change (a drift repair) are never held back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UpstreamAsset:
    """What the instance records of the upstream environment's asset."""

    # The code version the upstream spec holds now, and the one its last applied (not dry-run)
    # reconcile recorded.
    current_code_version: str
    applied_code_version: str | None
    # When that reconcile was recorded, and the latest completed drift check (None: never).
    applied_at: float | None
    check_passed: bool | None
    checked_at: float | None


def promotion_wait(path: str, changing: bool, after: str,
                   upstream: UpstreamAsset | None) -> str | None:
    """Why ``path`` must not be applied yet (None: it may be).

    Args:
        path: the asset's path, for the message.
        changing: whether this reconcile would change the asset (its code version is not the one
            it last applied).
        after: the environment it is promoted from.
        upstream: that environment's record of the same asset (None: it has no such asset).
    """
    if not changing or upstream is None:
        return None
    where = f"{path}: waiting for {after} (promotion)"
    if upstream.applied_code_version != upstream.current_code_version:
        return (f"{where}: {after} has not applied its current spec of this asset yet "
                f"(code version {upstream.current_code_version}); reconcile {after} first")
    if upstream.check_passed is None or upstream.checked_at is None:
        return f"{where}: {after}'s drift check of this asset has never run; run it"
    if upstream.applied_at is not None and upstream.checked_at < upstream.applied_at:
        return f"{where}: {after}'s drift check has not run since {after} applied the change"
    if not upstream.check_passed:
        return f"{where}: {after}'s drift check of this asset failed; fix {after} first"
    return None
