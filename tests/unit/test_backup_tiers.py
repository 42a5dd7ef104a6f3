"""Backup tiers: RPO, RTO, retention and schedule per target, from backups.tiers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.backup_assets import build_backup_assets
from platform_assets.core.graph import build_graph
from platform_assets.spec import load_spec
from platform_assets.spec.loader import SpecError, load_spec_text
from schedules.backups import build as build_schedules

EXAMPLE = Path(__file__).resolve().parents[2] / "platform" / "platform.yaml"


def _with_backups(backups: str) -> str:
    text = EXAMPLE.read_text()
    head = text[:text.index("\nbackups:")]
    tail = text[text.index("\ncertificates:"):]
    return f"{head}\n{backups}{tail}"


def test_the_example_puts_each_target_in_a_tier() -> None:
    spec = load_spec(EXAMPLE)
    assert spec.backups is not None
    tiers = {t.name: spec.backups.tier_of(t) for t in spec.backups.targets}
    assert tiers["wordpress-database"].name == "critical"
    assert tiers["wordpress-database"].rto == "1h"
    assert tiers["loki-data"].name == "dev" and tiers["loki-data"].retention_days == 14


def test_checks_and_freshness_follow_the_tier() -> None:
    spec = load_spec(EXAMPLE)
    assets, checks = build_backup_assets(build_graph(spec))
    by_key = {a.key.to_user_string(): a for a in assets}
    loki = by_key["backups/loki-data"]
    assert loki.tags_by_key[loki.key]["platform-ops/tier"] == "dev"
    descriptions = {(k.asset_key.to_user_string(), k.name): spec_.description
                    for c in checks for k, spec_ in c.check_specs_by_output_name.items()
                    for k in [spec_.key]}
    assert "8d, tier dev" in descriptions[("backups/loki-data", "rpo")]
    assert "1h, tier critical" in descriptions[("backups/wordpress-database", "restore_drill")]
    assert "14 days" in descriptions[("backups/loki-data", "retention_compliance")]
    assert "24h, tier standard" in descriptions[("backups/cluster-resources", "rpo")]


def test_a_tier_with_its_own_schedule_runs_only_its_targets() -> None:
    from platform_assets.definitions import build_definitions

    graph = build_graph(load_spec(EXAMPLE))
    schedules = {s.name: s for s in build_schedules(graph)}
    assert set(schedules) == {"nightly_snapshots", "snapshots_dev", "backup_rpo"}
    dev = schedules["snapshots_dev"]
    assert (dev.cron_schedule, dev.execution_timezone, dev.job_name) == \
        ("0 3 * * 0", "UTC", "snapshot_platform")
    repo = build_definitions(str(EXAMPLE)).get_repository_def()
    tick = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    request = dev.evaluate_tick(dg.build_schedule_context(
        scheduled_execution_time=tick, repository_def=repo)).run_requests[0]
    assert request.partition_key == "2026-11-28"
    assert {k.to_user_string() for k in request.asset_selection or []} == {
        "backups/prometheus-data", "backups/loki-data", "backups/cross_region/prometheus-data",
        "backups/cross_region/loki-data"}
    assert {(k.asset_key.to_user_string(), k.name) for k in request.asset_check_keys or []} >= {
        ("backups/loki-data", "restore_drill"), ("backups/cross_region/loki-data", "rpo")}
    nightly = schedules["nightly_snapshots"].evaluate_tick(dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 22, 2, tzinfo=UTC),
        repository_def=repo)).run_requests[0]
    selected = {k.to_user_string() for k in nightly.asset_selection or []}
    assert "backups/wordpress-files" in selected and "backups/loki-data" not in selected
    # Every check key a schedule asks for exists in the job.
    job_checks = set(repo.get_job("snapshot_platform").asset_layer.asset_graph.asset_check_keys)
    assert set(request.asset_check_keys or []) <= job_checks
    assert set(nightly.asset_check_keys or []) <= job_checks


@pytest.mark.parametrize("backups, message", [
    ("backups:\n  bucket: b\n  targets:\n    - {name: r, kind: resources, namespaces: [a], "
     "tier: gold}\n", "tier 'gold' is not in backups.tiers"),
    ("backups:\n  bucket: b\n  tiers:\n    - {name: fast, rpo: 5m, rto: 30m, "
     "retention_days: 7}\n", "rpo 5m is shorter than a day"),
    ("backups:\n  bucket: b\n  tiers:\n    - {name: a, rpo: 1d, rto: 1h, retention_days: 7}\n"
     "    - {name: a, rpo: 2d, rto: 1h, retention_days: 7}\n", "a name appears twice"),
])
def test_bad_tiers_are_spec_errors_with_their_line(backups: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(_with_backups(backups), str(EXAMPLE), base_dir=EXAMPLE.parent)
    text = str(err.value)
    assert message in text and "platform.yaml:" in text
