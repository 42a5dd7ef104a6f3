"""Which restore points retention deletes, and whether a target's restore points comply.

Pure: no Dagster, no SDKs. A restore point is one partition (day) of one target: a manifest in
S3, an IONOS snapshot or a CSI VolumeSnapshot. Rules:

- points older than ``retention_days`` go,
- except the newest verified point, which is always kept,
- and nothing goes while the newest point is unverified (a backup that may be bad must not
  cost the last good one its company).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class RestorePoint:
    """One backup of a target: ``ref`` is what deleting it removes (a key prefix, an id)."""

    partition: str
    created_at: datetime
    verified: bool
    ref: str


@dataclass(frozen=True)
class RetentionPlan:
    """Which restore points retention deletes and keeps, and why it refuses when it does."""
    delete: tuple[RestorePoint, ...]
    keep: tuple[RestorePoint, ...]
    blocked: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)

    def table(self) -> str:
        """The plan as a markdown table (dry-run metadata)."""
        rows = ["| partition | ref | verified | action | why |", "|---|---|---|---|---|"]
        for p in sorted((*self.delete, *self.keep), key=lambda p: p.partition):
            action = "delete" if p in self.delete else "keep"
            rows.append(f"| {p.partition} | {p.ref} | {'yes' if p.verified else 'no'} | "
                        f"{action} | {self.reasons.get(p.ref, '')} |")
        return "\n".join(rows)


def _utc(now: datetime) -> datetime:
    """``now`` in UTC: ages and cutoffs are real time, whatever zone the caller's clock is in
    (arithmetic on a local aware datetime follows the wall clock across DST changes)."""
    return now.astimezone(UTC)


def _order(p: RestorePoint) -> tuple[datetime, str]:
    # In UTC: two local times in the hour the clocks go back compare by the wall clock.
    return _utc(p.created_at), p.partition


def newest_verified(points: list[RestorePoint]) -> RestorePoint | None:
    """The newest restore point whose drill passed, or None."""
    good = [p for p in points if p.verified]
    return max(good, key=_order) if good else None


def plan_retention(points: list[RestorePoint], now: datetime,
                   retention_days: int) -> RetentionPlan:
    """Split ``points`` into what retention deletes and what it keeps."""
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, got {retention_days}")
    if not points:
        return RetentionPlan((), ())
    ordered = sorted(points, key=_order)
    newest = ordered[-1]
    cutoff = _utc(now) - timedelta(days=retention_days)
    reasons: dict[str, str] = {}
    if not newest.verified:
        for p in ordered:
            reasons[p.ref] = "kept: the newest backup is not verified"
        return RetentionPlan((), tuple(ordered),
                             blocked=f"newest backup {newest.partition} is not verified",
                             reasons=reasons)
    keeper = newest_verified(ordered)
    delete, keep = [], []
    for p in ordered:
        # The whole partition of the newest verified point stays: retention removes a
        # partition's manifest with any of its points (a duplicate snapshot of that day).
        if p == keeper or (keeper is not None and p.partition == keeper.partition):
            keep.append(p)
            reasons[p.ref] = "newest verified"
        elif p.created_at < cutoff:
            delete.append(p)
            reasons[p.ref] = f"older than {retention_days} days"
        else:
            keep.append(p)
            reasons[p.ref] = "within retention"
    return RetentionPlan(tuple(delete), tuple(keep), reasons=reasons)


@dataclass(frozen=True)
class Compliance:
    """How a target's restore points meet its RPO and retention: counts, ages and problems."""
    count: int
    verified: int
    newest_age_hours: float | None
    oldest_age_days: float | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether the restore points comply (no problem found)."""
        return not self.problems


def compliance(points: list[RestorePoint], now: datetime, retention_days: int,
               rpo: timedelta, grace: timedelta = timedelta(days=1)) -> Compliance:
    """Count and age of restore points against the retention and RPO promises.

    Problems: no verified point; the newest verified point older than the RPO; a point older
    than retention (plus ``grace`` for the nightly run that deletes it).
    """
    problems: list[str] = []
    now = _utc(now)
    keeper = newest_verified(points)
    newest_age = (now - keeper.created_at).total_seconds() / 3600 if keeper else None
    oldest = min(points, key=_order) if points else None
    oldest_age = (now - oldest.created_at).total_seconds() / 86400 if oldest else None
    if keeper is None:
        problems.append("no verified restore point")
    elif now - keeper.created_at > rpo:
        problems.append(f"newest verified restore point {keeper.partition} is "
                        f"{newest_age:.1f}h old, older than the RPO of "
                        f"{rpo.total_seconds() / 3600:g}h")
    limit = timedelta(days=retention_days) + grace
    expired = [p for p in points if now - p.created_at > limit
               and (keeper is None or p.partition != keeper.partition)]
    if expired:
        problems.append(f"{len(expired)} restore point(s) older than {retention_days} days "
                        f"were not deleted: {', '.join(sorted(p.partition for p in expired))}")
    return Compliance(len(points), sum(p.verified for p in points), newest_age, oldest_age,
                      tuple(problems))


def rpo_status(newest_good: datetime | None, now: datetime,
               rpo: timedelta) -> tuple[bool, str]:
    """(ok, message) for the RPO freshness check of one asset."""
    if newest_good is None:
        return False, "no complete backup exists"
    age = _utc(now) - newest_good
    hours = age.total_seconds() / 3600
    if age > rpo:
        return False, (f"newest complete backup is {hours:.1f}h old, older than the RPO of "
                       f"{rpo.total_seconds() / 3600:g}h")
    return True, f"newest complete backup is {hours:.1f}h old (RPO {rpo.total_seconds() / 3600:g}h)"
