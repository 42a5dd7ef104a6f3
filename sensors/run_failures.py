"""run_failures: a failed run becomes an Alertmanager alert naming the job, assets and impact.

The sensor's definition; its tick is ``sensors/ticks/run_failures.py``, imported by the tick, not
when the code location loads.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.core.graph import Graph
from platform_assets.names import RUN_FAILURE_SENSOR
from resources.config import AlertmanagerConfig


def build(graph: Graph, default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED
          ) -> dg.SensorDefinition:
    @dg.run_failure_sensor(name=RUN_FAILURE_SENSOR, default_status=default_status,
                           minimum_interval_seconds=30)
    def run_failures(context: dg.RunFailureSensorContext,
                     alertmanager: AlertmanagerConfig) -> None:
        """Post an alert to Alertmanager for every failed run, with what it leaves broken."""
        from sensors.ticks.run_failures import evaluate

        evaluate(context, alertmanager.open(), graph)

    return run_failures
