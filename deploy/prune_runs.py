"""Delete finished Dagster runs (and their event logs) older than a cut-off: run retention.

Dagster keeps every run forever; on PostgreSQL the event log table then grows without bound.
The Helm values run this nightly as the ``dagster-run-retention`` CronJob with the instance's
own ``dagster.yaml``::

    python /opt/dagster/app/deploy/prune_runs.py --keep-days 90 [--dry-run]

Runs still queued, starting or in progress are never touched, whatever their age.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("prune_runs")

BATCH = 200


def prune_runs(instance: Any, older_than: datetime, dry_run: bool = False) -> list[str]:
    """Delete finished runs created before ``older_than``; return their ids (oldest first)."""
    from dagster import DagsterRunStatus
    from dagster._core.storage.dagster_run import FINISHED_STATUSES, RunsFilter

    statuses = [s for s in DagsterRunStatus if s in FINISHED_STATUSES]
    deleted: list[str] = []
    while True:
        records = instance.get_run_records(
            filters=RunsFilter(statuses=statuses, created_before=older_than),
            limit=BATCH, ascending=True)
        batch = [r.dagster_run.run_id for r in records if r.dagster_run.run_id not in deleted]
        if not batch:
            return deleted
        for run_id in batch:
            if not dry_run:
                instance.delete_run(run_id)
            deleted.append(run_id)
        if dry_run and len(records) < BATCH:
            return deleted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-days", type=int, default=90,
                        help="keep runs created in the last N days (default 90)")
    parser.add_argument("--dry-run", action="store_true", help="only list what would go")
    args = parser.parse_args(argv)
    if args.keep_days < 1:
        parser.error("--keep-days must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)

    from dagster import DagsterInstance

    cutoff = datetime.now(UTC) - timedelta(days=args.keep_days)
    with DagsterInstance.get() as instance:
        ids = prune_runs(instance, cutoff, dry_run=args.dry_run)
    log.info("%s %d finished runs created before %s", "would delete" if args.dry_run
             else "deleted", len(ids), cutoff.isoformat(timespec="seconds"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
