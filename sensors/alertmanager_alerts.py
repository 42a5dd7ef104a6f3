"""alertmanager_alerts: remediate active alerts through the spec's rules, within a budget.

The sensor's definition; what a tick does (read the alerts once, let the pure core decide, turn
decisions into run requests, escalations and log lines, keep the guardrail state in the cursor)
is ``sensors/ticks/alertmanager_alerts.py``, imported by the tick, not when the code location
loads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.core.graph import Graph
from platform_assets.names import (
    ACTION_JOBS,
    ALERT_SENSOR,
    RECONCILE_JOB,
    VERIFY_JOB_BY_GROUP,
    scoped,
)
from resources.config import AlertmanagerConfig

if TYPE_CHECKING:  # the resource's methods are imported by a tick, not when the location loads
    from resources.alertmanager import AlertmanagerResource


def _targets(jobs: Sequence[Any] | None, wanted: set[str]) -> tuple[dict[str, Any], set[str]]:
    """The sensor's target arguments (the ``jobs`` it may launch, by name) and their names."""
    targets = [j for j in (jobs or []) if getattr(j, "name", None) in wanted]
    if not targets:
        return {"job_name": RECONCILE_JOB}, {RECONCILE_JOB}
    return {"jobs": targets}, {j.name for j in targets}


def _launched(environment: str | None) -> set[str]:
    """The jobs the sensor may launch in ``environment``."""
    return {scoped(j, environment)
            for j in {*ACTION_JOBS.values(), *VERIFY_JOB_BY_GROUP.values()}}


Tick = Callable[[dg.SensorEvaluationContext, "AlertmanagerResource", Callable[[str], bool]], Any]


def _sensor(jobs: Sequence[Any] | None, wanted: set[str], tick: Tick, description: str,
            default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    target_args, names = _targets(jobs, wanted)

    @dg.sensor(name=ALERT_SENSOR, minimum_interval_seconds=30, description=description,
               default_status=default_status, **target_args)
    def alertmanager_alerts(context: dg.SensorEvaluationContext,
                            alertmanager: AlertmanagerConfig) -> Any:
        """Remediate active Alertmanager alerts by the spec's rules, within cooldown and budget."""
        return tick(context, alertmanager.open(), names.__contains__)

    return alertmanager_alerts


def build(graph: Graph, jobs: Sequence[Any] | None = None,
          default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED
          ) -> dg.SensorDefinition:
    """The sensor; ``jobs`` are the job definitions it may launch (matched by name)."""

    def tick(context: dg.SensorEvaluationContext, alertmanager: AlertmanagerResource,
             launchable: Callable[[str], bool]) -> Any:
        from sensors.ticks.alertmanager_alerts import evaluate

        return evaluate(context, alertmanager, graph, launchable=launchable)

    return _sensor(jobs, _launched(None), tick,
                   "Remediate active Alertmanager alerts by the spec's rules, within cooldown "
                   "and budget.", default_status)


def build_fleet(graphs: Sequence[Graph], jobs: Sequence[Any] | None = None,
                default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED
                ) -> dg.SensorDefinition:
    """The one sensor of a fleet (one Alertmanager read per tick, each alert routed to its
    environment); ``jobs`` are every environment's job definitions."""

    def tick(context: dg.SensorEvaluationContext, alertmanager: AlertmanagerResource,
             launchable: Callable[[str], bool]) -> Any:
        from sensors.ticks.alertmanager_alerts import evaluate_fleet

        return evaluate_fleet(context, alertmanager, graphs, launchable=launchable)

    return _sensor(jobs, set().union(*(_launched(g.environment) for g in graphs)), tick,
                   "Remediate each environment's active Alertmanager alerts in that environment "
                   "only, by its rules, within its cooldowns and budgets.", default_status)
