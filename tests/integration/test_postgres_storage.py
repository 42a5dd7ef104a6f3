"""PostgreSQL as the Dagster instance storage: a job run and a schedule tick, read back."""

from __future__ import annotations

import logging
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.conftest import missing_service

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
from prune_runs import prune_runs  # noqa: E402  (deploy/ is scripts, not a package)

# SQLAlchemy 2.1 defaults postgresql:// to psycopg 3; the lock file ships psycopg2.
PG = {"hostname": "127.0.0.1", "port": 5432, "username": "postgres", "password": "",
      "scheme": "postgresql+psycopg2"}


def _admin() -> Any:
    import psycopg2

    try:
        conn = psycopg2.connect(host=PG["hostname"], port=PG["port"], user=PG["username"],
                                dbname="postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        missing_service(f"no PostgreSQL on 127.0.0.1:5432 accepting user postgres without a "
                        f"password ({str(exc).strip()}): apt-get install postgresql")
    conn.autocommit = True
    return conn


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database for this test, dropped afterwards."""
    name = f"platform_ops_test_{uuid.uuid4().hex[:10]}"
    conn = _admin()
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


def _storage(db: str) -> dict[str, Any]:
    return {"storage": {"postgres": {"postgres_db": {**PG, "db_name": db}}}}


def _tables(db: str) -> set[str]:
    import psycopg2

    with psycopg2.connect(host=PG["hostname"], port=PG["port"], user=PG["username"],
                          dbname=db) as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in cur.fetchall()}


def shipped_without_tls(text: str) -> str:
    """deploy/dagster.yaml for the local server, which speaks no TLS."""
    return text.replace("sslmode: verify-full", "sslmode: disable").replace(
        "        sslrootcert: /etc/dagster/postgresql-ca/ca.crt\n", "")


@contextmanager
def production_instance(db: str, home: Path, monkeypatch: pytest.MonkeyPatch,
                        verify: bool = False) -> Iterator[Any]:
    """An instance from deploy/dagster.yaml, with the environment the Helm values give it."""
    from dagster import DagsterInstance

    home.mkdir(parents=True)
    text = (ROOT / "deploy" / "dagster.yaml").read_text()
    assert "sslmode: verify-full" in text
    # The local server speaks no TLS; everything else is the file as shipped.
    (home / "dagster.yaml").write_text(shipped_without_tls(text) if not verify else text)
    for key, value in {"DAGSTER_PG_HOST": PG["hostname"], "DAGSTER_PG_PORT": str(PG["port"]),
                       "DAGSTER_PG_USER": PG["username"], "DAGSTER_PG_PASSWORD": "",
                       "DAGSTER_PG_DB": db, "DAGSTER_JOB_NAMESPACE": "dagster"}.items():
        monkeypatch.setenv(key, value)
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


def test_a_job_runs_and_is_read_back_from_postgres(database: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.test_utils import instance_for_test

    @dg.asset(group_name="infrastructure")
    def datacenter() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"id": "dc-1", "count": 3})

    @dg.asset(deps=[datacenter], group_name="infrastructure")
    def cluster() -> None:
        return None

    defs = dg.Definitions(assets=[datacenter, cluster],
                          jobs=[dg.define_asset_job("reconcile_test", selection="*")])
    job = defs.resolve_job_def("reconcile_test")

    with instance_for_test(temp_dir=str(tmp_path), overrides=_storage(database)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = job.execute_in_process(instance=instance, tags={"platform-ops/cluster": "sandbox"})
        assert result.success
        run_id = result.run_id

    # A second instance, opened through the production dagster.yaml (what the webserver and
    # the daemon use), sees the run.
    with production_instance(database, tmp_path / "prod", monkeypatch) as other:
        assert type(other.run_storage).__name__ == "PostgresRunStorage"
        assert type(other.run_coordinator).__name__ == "QueuedRunCoordinator"
        run = other.get_run_by_id(run_id)
        assert run is not None
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.job_name == "reconcile_test"
        assert run.tags["platform-ops/cluster"] == "sandbox"
        steps = [e.dagster_event.step_key for e in other.all_logs(run_id)
                 if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"]
        assert sorted(steps) == ["cluster", "datacenter"]
        mat = other.get_latest_materialization_event(dg.AssetKey("datacenter"))
        assert mat is not None and mat.run_id == run_id
        assert mat.asset_materialization.metadata["id"].value == "dc-1"

        # Run retention: finished runs older than the cut-off go, newer and unfinished stay.
        # The cut-off lies between the two runs' creation times as the storage recorded them
        # (no sleeping to make wall-clock seconds differ).
        newer = job.execute_in_process(instance=other).run_id
        queued = other.create_run_for_job(job_def=job).run_id
        created = [_created(other, r) for r in (run_id, newer)]
        assert created[0] < created[1]
        cutoff = created[0] + (created[1] - created[0]) / 2
        assert prune_runs(other, cutoff, dry_run=True) == [run_id]
        assert other.get_run_by_id(run_id) is not None
        assert prune_runs(other, cutoff) == [run_id]
        assert other.get_run_by_id(run_id) is None
        assert list(other.all_logs(run_id)) == []
        assert other.get_run_by_id(newer) is not None
        assert prune_runs(other, datetime.now(UTC) + timedelta(minutes=1)) == [newer]
        assert other.get_run_by_id(queued) is not None
    assert {"runs", "event_logs", "jobs", "job_ticks"} <= _tables(database)


def _created(instance: Any, run_id: str) -> datetime:
    record = instance.get_run_record_by_id(run_id)
    assert record is not None
    created: datetime = record.create_timestamp
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def test_the_drift_schedule_ticks_into_postgres(database: str, tmp_path: Path) -> None:
    from dagster._core.scheduler.instigation import TickStatus
    from dagster._core.test_utils import create_test_daemon_workspace_context, instance_for_test
    from dagster._core.workspace.load_target import PythonFileTarget
    from dagster._scheduler.scheduler import launch_scheduled_runs

    from platform_assets.spec.loader import load_graph
    from schedules import build_schedules

    # The real schedules, built from the example spec; detect_drift stands in as a no-op job
    # (what it does is not under test here, where its runs go is).
    location = tmp_path / "location.py"
    location.write_text(textwrap.dedent('''
        import dagster as dg

        from platform_assets.spec.loader import load_graph
        from schedules import build_schedules


        @dg.op
        def observe() -> None:
            return None


        @dg.job(name="detect_drift")
        def detect_drift():
            observe()


        defs = dg.Definitions(jobs=[detect_drift], schedules=[
            s for s in build_schedules(load_graph()) if s.name == "drift_check"])
    '''))
    drift = next(s for s in build_schedules(load_graph()) if s.name == "drift_check")
    assert drift.job_name == "detect_drift"

    overrides = {**_storage(database),
                 "run_coordinator": {"module": "dagster._core.run_coordinator",
                                     "class": "QueuedRunCoordinator",
                                     "config": {"max_concurrent_runs": 2}}}
    (tmp_path / "home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "home"), overrides=overrides) as instance:
        # The schedule evaluated against the Postgres-backed instance, as the daemon would.
        tick_time = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
        with dg.build_schedule_context(instance=instance,
                                       scheduled_execution_time=tick_time) as ctx:
            requests = drift.evaluate_tick(ctx).run_requests
        assert requests and requests[0].job_name in (None, "detect_drift")

        target = PythonFileTarget(python_file=str(location), attribute="defs",
                                  working_directory=str(ROOT), location_name="platform_ops")
        logger = logging.getLogger("test_scheduler")
        with create_test_daemon_workspace_context(target, instance) as workspace:
            start = datetime.now(UTC).replace(second=0, microsecond=0)
            # First pass records the (default-running) schedule; the second is an hour later.
            list(launch_scheduled_runs(workspace, logger, start, iteration_times={}))
            later = start.replace(minute=0) + timedelta(hours=1, minutes=1)
            list(launch_scheduled_runs(workspace, logger, later, iteration_times={}))

        states = instance.all_instigator_state()
        state = next(s for s in states if s.instigator_name == "drift_check")
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
        assert ticks, "no tick stored"
        tick = ticks[0]
        assert tick.status == TickStatus.SUCCESS, tick.error
        assert len(tick.run_ids) == 1
        run = instance.get_run_by_id(tick.run_ids[0])
        assert run is not None and run.job_name == "detect_drift"
        assert run.status == dg.DagsterRunStatus.QUEUED
        assert run.tags["dagster/schedule_name"] == "drift_check"
        assert datetime.fromtimestamp(tick.timestamp, UTC) == later.replace(minute=0)


def test_the_shipped_storage_never_falls_back_to_plaintext(
        database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Issue 15: ``sslmode: require`` never checked who answered. With the file as shipped
    (``verify-full`` and a CA), libpq refuses a server that cannot prove itself, here the local
    one that speaks no TLS at all, instead of sending the password in the clear."""
    from dagster_postgres.utils import DagsterPostgresException

    with pytest.raises(DagsterPostgresException), \
            production_instance(database, tmp_path / "home", monkeypatch, verify=True) as inst:
        inst.get_runs()
    # Each attempt was refused by libpq for want of TLS, never retried without it.
    assert "server does not support SSL, but SSL was required" in caplog.text
