"""The backup assets, checks, job and schedules built from the spec (no network)."""

from __future__ import annotations

import itertools
import typing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from jobs.backups import build as build_jobs
from platform_assets.backup_assets import (
    BackupRunConfig,
    build_backup_assets,
    partitions_for,
    rpo_check_keys,
)
from platform_assets.core.graph import build_graph
from platform_assets.spec import load_spec
from schedules.backups import build as build_schedules
from schedules.backups import partition_for_tick

SPEC = Path(__file__).resolve().parents[2] / "platform" / "platform.yaml"


def graph():  # type: ignore[no-untyped-def]
    return build_graph(load_spec(SPEC))


def test_one_partitioned_asset_per_target_and_copy_with_checks() -> None:
    g = graph()
    assets, checks = build_backup_assets(g)
    spec = g.spec
    assert spec.backups is not None
    names = {t.name for t in spec.backups.targets}
    keys = {a.key.to_user_string() for a in assets}
    assert keys == {f"backups/{n}" for n in names} | {f"backups/cross_region/{n}" for n in names}
    for a in assets:
        parts = a.partitions_def
        assert isinstance(parts, dg.DailyPartitionsDefinition)
        assert parts.timezone == "UTC" and parts.start.strftime("%Y-%m-%d") == \
            spec.backups.start_date
        assert a.group_names_by_key[a.key] == "backups"
    check_names = {(k.asset_key.to_user_string(), k.name) for c in checks for k in c.check_keys}
    for n in names:
        assert (f"backups/{n}", "rpo") in check_names
        assert (f"backups/{n}", "retention_compliance") in check_names
        assert (f"backups/cross_region/{n}", "manifest_checksums") in check_names
    targets = {t.name: t for t in spec.backups.targets}
    for n, t in targets.items():
        drill = (f"backups/{n}", "restore_drill") in check_names
        # Snapshots stay in the region and are checked as snapshots; everything in the bucket,
        # volume files included, is restore-drilled.
        assert drill is (t.kind in ("database", "resources") or t.method == "files")
        snapshot = (f"backups/{n}", "snapshot_available") in check_names
        assert snapshot is (t.kind == "volume" and t.method != "files")


def test_nightly_schedule_requests_the_day_that_ended() -> None:
    from platform_assets.definitions import build_definitions

    g = graph()
    jobs = build_jobs(g)
    assert [j.name for j in jobs] == ["snapshot_platform", "check_backup_rpo"]
    schedules = {s.name: s for s in build_schedules(g)}
    repo = build_definitions(SPEC).get_repository_def()
    nightly = schedules["nightly_snapshots"]
    assert nightly.cron_schedule == "0 2 * * *"
    assert nightly.execution_timezone == "UTC"
    assert nightly.job_name == "snapshot_platform"
    tick = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    ctx = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repo)
    request = nightly.evaluate_tick(ctx).run_requests[0]
    assert request.partition_key == "2026-11-21"
    assert request.run_key == "snapshot-2026-11-21"
    early = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 1, 2, tzinfo=UTC), repository_def=repo)
    result = nightly.evaluate_tick(early)
    assert not result.run_requests and "start on 2026-11-01" in (result.skip_message or "")
    assert schedules["backup_rpo"].execution_timezone == "UTC"


def test_partition_for_tick_in_utc() -> None:
    assert partition_for_tick("2026-11-01", datetime(2026, 12, 1, 2, tzinfo=UTC),
                              "UTC") == "2026-11-30"
    assert partition_for_tick("2026-11-01", datetime(2026, 11, 1, 2, tzinfo=UTC), "UTC") is None


@pytest.mark.parametrize("timezone", ["Europe/Berlin", "America/New_York", "UTC"])
@pytest.mark.parametrize("cron", ["0 0 * * *", "0 1 * * *", "30 2 * * *", "0 3 * * *",
                                  "0 22 * * *"])
@pytest.mark.parametrize("around", ["2026-03-05", "2026-03-25", "2026-10-20", "2026-10-30"])
def test_each_utc_day_is_backed_up_once_across_dst(timezone: str, cron: str,
                                                   around: str) -> None:
    # The ticks as Dagster's scheduler computes them (it moves a skipped local time to the end
    # of the gap and takes the later of a repeated one), two weeks around both transitions
    # (US 2026-03-08 and 2026-11-01, EU 2026-03-29 and 2026-10-25): consecutive UTC days, none
    # skipped or repeated, each over by the time it is backed up.
    start = datetime.fromisoformat(around).replace(tzinfo=UTC).timestamp()
    ticks = cron_string_iterator(start, cron, timezone)
    days = []
    for _ in range(14):
        tick = next(ticks)
        part = partition_for_tick("2026-01-01", tick, timezone)
        assert part is not None
        end_of_day = datetime.fromisoformat(part).replace(tzinfo=UTC) + timedelta(days=1)
        assert end_of_day <= tick, (tick, part)
        days.append(date.fromisoformat(part))
    assert [(b - a).days for a, b in itertools.pairwise(days)] == [1] * 13, days


def test_definitions_resolve_backup_job() -> None:
    from platform_assets.definitions import build_definitions

    defs = build_definitions(SPEC)
    g = graph()
    job = defs.resolve_job_def("snapshot_platform")
    assert job.partitions_def == partitions_for(g)
    assert job.asset_layer.selected_asset_keys == {
        dg.AssetKey(list(n.key)) for n in g.by_group("backups")}
    assert len(job.asset_layer.selected_asset_keys) == 2 * len(g.spec.backups.targets)
    rpo = defs.resolve_job_def("check_backup_rpo")
    # The RPO check of each backup and copy asset, and no materialization.
    assert rpo.asset_layer.asset_graph.asset_check_keys == set(rpo_check_keys(g))
    assert len(rpo_check_keys(g)) == 2 * len(g.spec.backups.targets)
    assert rpo.asset_layer.selected_asset_keys == set()


class _S3Down:
    """An object store whose every read fails, as an unreachable endpoint does."""

    def list_keys(self, *_a: object, **_k: object) -> list[str]:
        raise ConnectionError("S3 endpoint unreachable")

    get_bytes = list_keys


def test_checks_that_cannot_read_the_backups_fail_with_the_cause() -> None:
    _, checks = build_backup_assets(graph())
    ran = 0
    for check in checks:
        (key,) = check.check_keys
        if key.asset_key.path[:2] != ["backups", "cross_region"]:
            continue  # the copy's checks need only object_storage
        ctx = dg.build_asset_check_context(resources={"object_storage": _S3Down()})
        result = check(ctx)
        assert result.passed is False, key
        assert "S3 endpoint unreachable" in result.metadata["problems"].value, key
        ran += 1
    assert ran >= 3


def test_backup_assets_run_config_is_what_dagster_infers_from_the_config_class() -> None:
    """The assets share one schema instead of a ``config: BackupRunConfig`` parameter each: the
    launchpad must show exactly what that parameter gave (fields, types, defaults, descriptions,
    bounds: the config type's key hashes all of them)."""
    from dagster._config.snap import snap_from_config_type

    def fn(config):  # type: ignore[no-untyped-def]
        del config

    # The class itself, not the string this module's annotations would be (Dagster reads the
    # parameter's annotation as it is).
    fn.__annotations__ = {"config": BackupRunConfig, "return": None}
    want = dg.asset(name="inferred")(fn).op.config_schema.as_field()
    assets, _ = build_backup_assets(graph())
    for a in assets:
        got = a.op.config_schema.as_field()
        assert got.config_type.key == want.config_type.key
        assert snap_from_config_type(got.config_type) == snap_from_config_type(want.config_type)
        assert (got.is_required, got.default_provided) == (want.is_required, want.default_provided)
    run = BackupRunConfig(**{"retention_dry_run": True, "skip_retention": False,
                             "part_size_mb": 16})
    assert (run.retention_dry_run, run.part_size_mb) == (True, 16)


def test_the_signature_given_to_each_compute_function_is_its_own() -> None:
    # Dagster reads ``__signature__`` (PEP 362) instead of the function; the one the factories
    # share must be what Python finds on each function: its parameters and its annotations.
    assets, checks = build_backup_assets(graph())
    fns = [a.op.compute_fn.decorated_fn for a in assets]  # type: ignore[union-attr]
    fns += [c.node_def.compute_fn.decorated_fn for c in checks]  # type: ignore[union-attr]
    assert len(fns) == len(assets) + len(checks) > 20
    for fn in fns:
        signature = fn.__signature__
        code = fn.__code__
        assert tuple(signature.parameters) == code.co_varnames[:code.co_argcount]
        hints = typing.get_type_hints(fn)
        assert {n: p.annotation for n, p in signature.parameters.items()} == {
            n: hints[n] for n in signature.parameters}
        assert signature.return_annotation is hints["return"]


def test_a_signature_that_is_not_the_functions_own_is_refused() -> None:
    from platform_assets.backup_assets import _CHECK_SIGNATURE, _signed

    def compute(context: dg.AssetCheckExecutionContext, extra: int) -> dg.AssetCheckResult:
        raise AssertionError("not run")

    with pytest.raises(TypeError, match="does not take"):
        _signed(_CHECK_SIGNATURE)(compute)
