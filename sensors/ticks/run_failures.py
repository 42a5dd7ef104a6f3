"""One tick of the run_failures sensor (``sensors/run_failures.py`` defines it): a failed run
becomes an Alertmanager alert naming the job, assets and impact. Imported by the tick, not when
the code location loads.

The alert reaches people through the routing Alertmanager already has. Failed assets are the ones
the run planned but did not materialize; what depends on them comes from the spec's asset graph.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from platform_assets.core.graph import Graph
from resources.alertmanager import AlertmanagerResource, AlertmanagerUnavailable

RUN_FAILED_ALERT = "PlatformRunFailed"
MAX_LISTED = 50


def failed_assets(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, ...]]:
    """Assets the run planned to materialize but did not."""
    planned: set[tuple[str, ...]] = set()
    done: set[tuple[str, ...]] = set()
    for event_type, into in ((dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, planned),
                             (dg.DagsterEventType.ASSET_MATERIALIZATION, done)):
        records = instance.get_records_for_run(run_id, of_type=event_type, limit=10_000).records
        for rec in records:
            key = rec.asset_key
            if key is not None:
                into.add(tuple(key.path))
    return sorted(planned - done)


def failure_alert(job: str, run_id: str, failed: list[tuple[str, ...]],
                  downstream: list[tuple[str, ...]], message: str, now: datetime,
                  run_url: str = "") -> dict[str, Any]:
    """The postableAlert for a failed run. Pure."""
    def listing(keys: list[tuple[str, ...]]) -> str:
        names = ["/".join(k) for k in keys[:MAX_LISTED]]
        more = len(keys) - len(names)
        return ", ".join(names) + (f" and {more} more" if more > 0 else "") if names else "none"

    alert: dict[str, Any] = {
        "labels": {"alertname": RUN_FAILED_ALERT, "severity": "critical", "job": job,
                   "run_id": run_id},
        "annotations": {
            "summary": f"Dagster run of {job} failed",
            "failed_assets": listing(failed),
            "downstream_assets": listing(downstream),
            "description": message[:1000],
        },
        "startsAt": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    if run_url:
        alert["generatorURL"] = run_url
    return alert


def evaluate(context: dg.RunFailureSensorContext, alertmanager: AlertmanagerResource,
             graph: Graph) -> None:
    """One tick: alert on the failed run of ``context``.

    Raises:
        AlertmanagerUnavailable: the alert could not be posted (the tick fails, and says so).
    """
    run = context.dagster_run
    failed = failed_assets(context.instance, run.run_id)
    downstream = sorted(graph.downstream({k for k in failed if k in graph.nodes}) - set(failed))
    message = context.failure_event.message or "run failed"
    web = os.environ.get("DAGSTER_WEBSERVER_URL", "").rstrip("/")
    alert = failure_alert(run.job_name, run.run_id, failed, downstream, message,
                          datetime.now(UTC), f"{web}/runs/{run.run_id}" if web else "")
    try:
        alertmanager.post_alerts([alert])
    except AlertmanagerUnavailable as exc:
        context.log.error(f"could not alert on failed run {run.run_id}: {exc}")
        raise
    context.log.info(f"alerted on failed run {run.run_id} of {run.job_name}")
