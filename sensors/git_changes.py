"""git_changes: re-reconcile only what a Git commit changed, applying the spec at that commit.

The sensor's definition; what a tick does (fetch the branch, compare the spec at the last applied
commit with the head's, request a run tagged with the commit for what changed) is
``sensors/ticks/git_changes.py``, imported by the tick, not when the code location loads.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.core.graph import Graph
from platform_assets.names import GIT_SENSOR, RECONCILE_JOB, scoped
from resources.config import GitRepositoryConfig


def build(graph: Graph, default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED
          ) -> dg.SensorDefinition:
    env = graph.environment

    @dg.sensor(name=scoped(GIT_SENSOR, env), job_name=scoped(RECONCILE_JOB, env),
               minimum_interval_seconds=30, default_status=default_status)
    def git_changes(context: dg.SensorEvaluationContext, git: GitRepositoryConfig) -> Any:
        """Reconcile only the assets a new Git commit changed, at that commit."""
        from sensors.ticks.git_changes import evaluate

        return evaluate(context, git.open(), env)

    return git_changes
