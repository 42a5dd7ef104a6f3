"""The drift schedule: ``drift_check`` runs ``detect_drift`` on the spec's cron (hourly)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.core.graph import Graph
from platform_assets.names import DRIFT_JOB, DRIFT_SCHEDULE, scoped


def build(graph: Graph) -> list[Any]:
    sched = graph.spec.drift.schedule
    return [
        dg.ScheduleDefinition(
            name=scoped(DRIFT_SCHEDULE, graph.environment),
            job_name=scoped(DRIFT_JOB, graph.environment), cron_schedule=sched.cron,
            execution_timezone=sched.timezone,
            description="Observe every reconciled asset and report drift and orphans.",
            default_status=dg.DefaultScheduleStatus.RUNNING,
        ),
    ]
