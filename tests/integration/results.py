"""What integration tests read from a Dagster run's result."""

from __future__ import annotations

from typing import Any


def step_errors(result: Any) -> str:
    """The messages of the run's failed steps, one per line (for an assertion's message)."""
    return "\n".join(ev.event_specific_data.error.message for ev in result.all_events
                     if ev.event_type_value == "STEP_FAILURE")
