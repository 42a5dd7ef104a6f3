"""The change calendar: maintenance windows, freezes and IONOS's own maintenance windows. Pure.

Disruptive changes (a Kubernetes version upgrade, a node pool replace or shrink, deletes and
prunes) run only inside one of the spec's ``change_calendar.maintenance_windows`` and never in a
freeze, unless a run says ``force``. Outside, the plan marks them *deferred*. Every function takes
``now`` (an aware datetime) so callers inject the clock.

Across daylight-saving changes (one rule, in ``_weekly_starts``): a window whose local start does
not exist that night opens when that local time would have been (02:30 on the spring-forward
night is 03:30 summer time), one whose start exists twice opens at the first, and a duration is
elapsed real time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from platform_assets.spec.models import (
    WEEKDAYS,
    ChangeWindow,
    Freeze,
    MaintenanceWindow,
    PlatformSpec,
    parse_duration,
)


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("calendar functions need an aware datetime (e.g. datetime.now(UTC))")
    return now


def _hm(text: str) -> tuple[int, int, int]:
    parts = text.rstrip("Z").split(":")
    return int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) > 2 else 0


def _weekly_starts(day: str, start: str, tz: str, now: datetime,
                   weeks_back: int) -> list[datetime]:
    """The UTC starts of a weekly window from ``weeks_back`` weeks before ``now``'s week to the
    week after, oldest first.

    The one place a local start becomes an instant, so the open test and the next opening agree:
    a start that does not exist (the spring-forward gap) and one that exists twice (the fall-back
    hour) resolve as PEP 495's ``fold=0`` does, the same as java.time's ``ZonedDateTime.of``: a
    nonexistent 02:30 moves forward by the gap (to 03:30 summer time) and a repeated 02:30 is
    its first occurrence.
    """
    zone = ZoneInfo(tz)
    local_day = _aware(now).astimezone(zone).date()
    h, m, s = _hm(start)
    this_week = local_day - timedelta(days=(local_day.weekday() - WEEKDAYS.index(day)) % 7)
    return [datetime.combine(this_week + timedelta(weeks=k), time(h, m, s), tzinfo=zone)
            .astimezone(UTC) for k in range(-weeks_back, 2)]


def _weekly_window_at(day: str, start: str, duration: timedelta, tz: str,
                      now: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence of a weekly window that contains ``now``, if any.

    The duration is elapsed time: a 3h window on the night the clocks go back is open 3 real
    hours, not until the local clock shows start + 3h.
    """
    # The window containing `now` started at most `duration` ago (durations longer than a week
    # are odd but harmless).
    for begin in _weekly_starts(day, start, tz, now, weeks_back=duration.days // 7 + 1):
        if begin <= now < begin + duration:
            return begin, begin + duration
    return None


def _next_weekly(day: str, start: str, tz: str, now: datetime) -> datetime:
    """The first start of a weekly window strictly after ``now``."""
    return min(b for b in _weekly_starts(day, start, tz, now, weeks_back=0) if b > now)


def active_change_window(spec: PlatformSpec, now: datetime) -> ChangeWindow | None:
    """The change-calendar maintenance window open at ``now``, if any."""
    for w in spec.change_calendar.maintenance_windows:
        if _weekly_window_at(w.day, w.start, parse_duration(w.duration), w.timezone, now):
            return w
    return None


def in_maintenance_window(spec: PlatformSpec, now: datetime) -> bool:
    """Whether a change-calendar maintenance window is open at ``now``."""
    return active_change_window(spec, now) is not None


def next_change_window(spec: PlatformSpec, now: datetime) -> datetime | None:
    """When the next change-calendar maintenance window opens (None: the spec has none)."""
    starts = [_next_weekly(w.day, w.start, w.timezone, now)
              for w in spec.change_calendar.maintenance_windows]
    return min(starts) if starts else None


def active_freeze(spec: PlatformSpec, now: datetime) -> Freeze | None:
    """The change freeze in force at ``now``, if any."""
    now = _aware(now)
    for f in spec.change_calendar.freezes:
        if f.start <= now < f.end:
            return f
    return None


def in_freeze(spec: PlatformSpec, now: datetime) -> bool:
    """Whether a change freeze is in force at ``now``."""
    return active_freeze(spec, now) is not None


def ionos_maintenance_windows(spec: PlatformSpec) -> dict[str, MaintenanceWindow]:
    """IONOS's own maintenance windows by resource (cluster, node pools, MariaDB)."""
    if spec.ionos is None:  # an existing cluster: its maintenance is not IONOS's
        return {}
    ionos = spec.ionos
    out: dict[str, MaintenanceWindow] = {
        f"cluster/{ionos.cluster.name}": ionos.cluster.maintenance_window}
    for p in ionos.node_pools:
        out[f"node_pool/{p.name}"] = p.maintenance_window or ionos.cluster.maintenance_window
    if spec.mariadb:
        out[f"mariadb/{spec.mariadb.name}"] = spec.mariadb.maintenance_window
    for pg in ionos.postgres:
        out[f"postgres/{pg.name}"] = pg.maintenance_window
    for mem in ionos.inmemorydb:
        out[f"inmemorydb/{mem.name}"] = mem.maintenance_window
    return out


def active_ionos_maintenance(spec: PlatformSpec, now: datetime) -> list[str]:
    """The IONOS resources whose maintenance window (IONOS may upgrade them) is open at ``now``."""
    return [name for name, w in ionos_maintenance_windows(spec).items()
            if _weekly_window_at(w.day, w.time, parse_duration(w.duration), "UTC", now)]


def in_ionos_maintenance(spec: PlatformSpec, now: datetime) -> bool:
    """Whether any IONOS maintenance window of the spec's resources is open at ``now``."""
    return bool(active_ionos_maintenance(spec, now))


def last_ionos_maintenance_end(window: MaintenanceWindow, now: datetime) -> datetime:
    """The end of the most recent occurrence of an IONOS window that began before ``now``."""
    duration = parse_duration(window.duration)
    begin = _next_weekly(window.day, window.time, "UTC", now) - timedelta(days=7)
    return begin + duration


@dataclass(frozen=True)
class Gate:
    """Whether disruptive changes may run now, and why (the reason goes into the plan)."""

    allowed: bool
    reason: str


def disruption_gate(spec: PlatformSpec, now: datetime, force: bool = False) -> Gate:
    """May disruptive changes run at ``now``? Freezes win over windows; ``force`` wins over both."""
    if force:
        return Gate(True, "forced by the run (force: true)")
    freeze = active_freeze(spec, now)
    if freeze:
        return Gate(False, f"change freeze {freeze.name} until {freeze.end.isoformat()}"
                    + (f" ({freeze.reason})" if freeze.reason else ""))
    window = active_change_window(spec, now)
    if window:
        return Gate(True, f"inside maintenance window {window.name}")
    nxt = next_change_window(spec, now)
    when = f"; next window opens {nxt.isoformat()}" if nxt else "; the spec has no window"
    return Gate(False, "outside every maintenance window" + when)
