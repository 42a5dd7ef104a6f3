"""failed_checks: failed asset checks become Alertmanager alerts, resolved when they pass again.

The sensor's definition; its tick (``sensors/ticks/failed_checks.py``, imported by the tick, not
when the code location loads) reads the latest evaluation of every check, lets
``platform_assets.core.check_alerts`` decide what to fire, re-send or resolve, and posts that in
one request. The cursor holds the firing alerts (their labels), so a check failing every hour is
one alert and a check that passes again resolves exactly the alert it raised.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.core.graph import Graph
from resources.config import AlertmanagerConfig


def build(graph: Graph, default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED
          ) -> dg.SensorDefinition:
    owners = {node.path: node.owners for node in graph.nodes.values()}

    @dg.sensor(name="failed_checks", default_status=default_status, minimum_interval_seconds=60)
    def failed_checks(context: dg.SensorEvaluationContext,
                      alertmanager: AlertmanagerConfig) -> dg.SkipReason:
        """Alert in Alertmanager on failed asset checks (ERROR, and WARN where the spec asks)."""
        from sensors.ticks.failed_checks import evaluate

        return evaluate(context, alertmanager.open(), graph, owners)

    return failed_checks
