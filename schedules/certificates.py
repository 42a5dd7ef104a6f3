"""certificate_audit: runs audit_certificates on ``certificates.schedule`` (every 6 hours by
default), in the schedule's stated timezone."""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.core.graph import Graph
from platform_assets.names import AUDIT_CERTIFICATES_JOB, CERTIFICATE_SCHEDULE, scoped


def build(graph: Graph) -> list[Any]:
    if not graph.by_kind("certificate"):
        return []
    schedule = graph.spec.certificates.schedule
    return [dg.ScheduleDefinition(
        name=scoped(CERTIFICATE_SCHEDULE, graph.environment),
        cron_schedule=schedule.cron,
        execution_timezone=schedule.timezone,
        job_name=scoped(AUDIT_CERTIFICATES_JOB, graph.environment),
        description="Check every certificate (endpoint, cert-manager, IONOS) on the spec's "
                    "schedule.",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )]
