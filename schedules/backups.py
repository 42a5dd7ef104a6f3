"""nightly_snapshots (the spec's cron, for the day that just ended), one snapshots_<tier> per
tier of ``backups.tiers`` with a schedule of its own (its targets' assets and checks only), and
backup_rpo (hourly)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from platform_assets.backup_assets import partitions_for, selection_for
from platform_assets.core.graph import Graph
from platform_assets.names import (
    RPO_JOB,
    RPO_SCHEDULE,
    SNAPSHOT_JOB,
    SNAPSHOT_SCHEDULE,
    TAG_PARTITION,
    scoped,
    tier_schedule,
)
from platform_assets.spec.models import BackupTarget, Schedule


def partition_for_tick(start_date: str, tick: datetime, timezone: str) -> str | None:
    """The UTC day a nightly tick backs up (02:00 UTC on the 22nd backs up the 21st), or None
    before the first partition.

    Ticks come at the same local time each day, but partitions are UTC days: reading the
    newest complete UTC day off each tick would skip a day or repeat one when the offset changes
    (a 01:00 Europe/Berlin tick is 00:00Z in winter, 23:00Z in summer). So the lag is fixed per
    schedule, from the zone's widest offset of the year: each local day backs up one UTC day,
    and that day has ended at the tick whatever the offset that night.
    """
    zone = ZoneInfo(timezone)
    wall = tick.astimezone(zone).replace(tzinfo=None)
    widest = max(datetime(wall.year, month, 1, tzinfo=zone).utcoffset() or timedelta(0)
                 for month in (1, 7))
    day = (wall - widest).date() - timedelta(days=1)
    return day.isoformat() if day >= date.fromisoformat(start_date) else None


def build(graph: Graph) -> list[Any]:
    parts = partitions_for(graph)
    bk = graph.spec.backups
    if parts is None or bk is None or not bk.targets:
        return []
    env = graph.environment
    own = {t.name for t in bk.tiers if t.schedule is not None}
    default = [t for t in bk.targets if t.tier not in own]
    schedules = [_snapshots(graph, SNAPSHOT_SCHEDULE, bk.schedule, bk.start_date, default,
                            everything=len(default) == len(bk.targets))] if default else []
    for tier in bk.tiers:
        members = [t for t in bk.targets if t.tier == tier.name]
        if tier.schedule is not None and members:
            schedules.append(_snapshots(graph, tier_schedule(tier.name), tier.schedule,
                                        bk.start_date, members, everything=False))

    @dg.schedule(name=scoped(RPO_SCHEDULE, env), cron_schedule="15 * * * *",
                 execution_timezone="UTC", job_name=scoped(RPO_JOB, env),
                 default_status=dg.DefaultScheduleStatus.RUNNING)
    def backup_rpo(context: dg.ScheduleEvaluationContext) -> Any:
        """Hourly: fail the rpo check of any backup older than its RPO (a missed night)."""
        tick = context.scheduled_execution_time
        return dg.RunRequest(run_key=f"rpo-{tick:%Y-%m-%dT%H}")

    return [*schedules, backup_rpo]


def _snapshots(graph: Graph, name: str, schedule: Schedule, start_date: str,
               targets: list[BackupTarget], everything: bool) -> Any:
    """A schedule of ``snapshot_platform`` for the day that ended, running the assets and
    checks of ``targets`` (all of the job's when ``everything``)."""
    assets, checks = selection_for(graph, targets)
    who = "every target" if everything else ", ".join(t.name for t in targets)

    env = graph.environment

    @dg.schedule(name=scoped(name, env), cron_schedule=schedule.cron,
                 execution_timezone=schedule.timezone, job_name=scoped(SNAPSHOT_JOB, env),
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"Back up {who} for the day that just ended (daily partition, "
                             "UTC).")
    def snapshots(context: dg.ScheduleEvaluationContext) -> Any:
        """Back up the schedule's targets for the day that just ended (daily partition, UTC)."""
        partition = partition_for_tick(start_date, context.scheduled_execution_time,
                                       schedule.timezone)
        if partition is None:
            return dg.SkipReason(f"no complete day yet: backups start on {start_date}")
        run_key = f"snapshot-{partition}" if name == SNAPSHOT_SCHEDULE else f"{name}-{partition}"
        if everything:
            return dg.RunRequest(run_key=run_key, partition_key=partition,
                                 tags={TAG_PARTITION: partition})
        return dg.RunRequest(run_key=run_key, partition_key=partition,
                             tags={TAG_PARTITION: partition}, asset_selection=assets,
                             asset_check_keys=checks)

    return snapshots
