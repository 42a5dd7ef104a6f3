"""Backup assets and their checks, one per backup target of the spec, daily partitions (UTC).

For every target: ``["backups", <target>]`` takes that day's backup (IONOS volume snapshot, CSI
VolumeSnapshot, a streamed ``mariadb-dump`` plus the DBaaS backups on record, or the namespaces'
objects as YAML), writes its manifest last and applies retention; ``["backups",
"cross_region", <target>]`` copies the partition to the DR bucket and verifies it by sha256.
Checks next to them: ``rpo`` (newest complete backup younger than the RPO),
``retention_compliance``, ``manifest_checksums`` (every object re-read), and the restore drills
(``restore_drill``: dump into a scratch database, objects into a scratch namespace, timed
against the RTO) or ``snapshot_available`` for volumes. One asset per target, so one target
failing never stops the others. This module defines them; what each does when a run executes it
is ``platform_assets/runs/backups.py`` (imported by the run), which hands the partition to the
backup engine (``platform_assets/backups/``).
"""

import functools
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import dagster as dg
from pydantic import Field

from platform_assets.core.graph import Graph, Node
from platform_assets.names import TAG_TARGET, TAG_TIER, environment_group
from platform_assets.scoped_resources import resource_keys
from platform_assets.spec.models import BackupTarget, PlatformSpec, parse_duration

GROUP = "backups"

F = TypeVar("F", bound=Callable[..., Any])


def _context_signature(context: type, result: type) -> inspect.Signature:
    param = inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              annotation=context)
    return inspect.Signature([param], return_annotation=result)


_ASSET_SIGNATURE = _context_signature(dg.AssetExecutionContext, dg.MaterializeResult)
_CHECK_SIGNATURE = _context_signature(dg.AssetCheckExecutionContext, dg.AssetCheckResult)


def _signed(signature: inspect.Signature) -> Callable[[F], F]:
    """Give a compute function its signature ahead of Dagster (PEP 362's ``__signature__``,
    which ``inspect.signature`` and Dagster's ``get_type_hints`` honour): Dagster reads each
    op's signature about twenty times while it builds the op, and the seventy-odd backup and
    check ops of a spec share two. Its parameters must be the function's own."""

    def mark(fn: F) -> F:
        code = fn.__code__
        if code.co_varnames[:code.co_argcount] != tuple(signature.parameters):
            raise TypeError(f"{fn.__qualname__} does not take {signature}")
        fn.__signature__ = signature  # type: ignore[attr-defined]
        return fn

    return mark


class BackupRunConfig(dg.Config):
    """Run config of a backup or copy asset."""

    retention_dry_run: bool = Field(
        default=False, description="plan retention and show what would be deleted, delete nothing")
    skip_retention: bool = Field(default=False, description="do not run retention at all")
    part_size_mb: int = Field(default=8, ge=5, le=512,
                              description="multipart upload part size for dumps (memory use is "
                                          "about 8 parts)")


@functools.cache
def run_config_schema() -> dg.Field:
    """``BackupRunConfig``'s schema, inferred once and shared by every backup and copy asset: an
    asset function taking ``config: BackupRunConfig`` would have Dagster infer it anew for each
    asset (sixteen times for the example). The launchpad shows the same schema either way."""
    return BackupRunConfig.to_config_schema().as_field()


def partitions_for(graph: Graph) -> dg.DailyPartitionsDefinition | None:
    """The one daily (UTC) partitions definition every backup and copy asset shares."""
    bk = graph.spec.backups
    if bk is None:
        return None
    # A datetime, not the spec's string: Dagster parses a string with ``strptime``, whose module
    # the code location's load would otherwise import for this alone.
    return dg.DailyPartitionsDefinition(start_date=datetime.fromisoformat(bk.start_date),
                                        timezone="UTC")


def build_backup_assets(graph: Graph) -> tuple[list[Any], list[Any]]:
    """Assets and checks for every backup target (nothing when the spec has no backups)."""
    spec = graph.spec
    parts = partitions_for(graph)
    if spec.backups is None or parts is None:
        return [], []
    targets = {t.name: t for t in spec.backups.targets}
    assets: list[Any] = []
    checks: list[Any] = []
    for node in graph.by_kind("backup"):
        target = targets[node.name]
        assets.append(_backup_asset(spec, node, target, parts))
        checks.extend(_backup_checks(spec, node, target))
    for node in graph.by_kind("backup_copy"):
        target = targets[node.name]
        assets.append(_copy_asset(spec, node, target, parts))
        checks.extend(_copy_checks(spec, node, target))
    return assets, checks


def rpo_check_keys(graph: Graph) -> list[dg.AssetCheckKey]:
    """The ``rpo`` checks of every backup and copy asset (run hourly by ``backup_rpo``)."""
    nodes = [*graph.by_kind("backup"), *graph.by_kind("backup_copy")]
    return [dg.AssetCheckKey(dg.AssetKey(list(n.key)), "rpo") for n in nodes]


# The resource that dumps and restores each database kind of target.
DATABASE_RESOURCE = {"database": "database", "postgres": "postgres_database"}


def _check_names(target: BackupTarget, copy: bool) -> list[str]:
    """The checks ``_backup_checks``/``_copy_checks`` put on a target's assets."""
    if copy:
        return ["rpo", "retention_compliance", "manifest_checksums"]
    if not target.in_bucket:
        return ["rpo", "retention_compliance", "snapshot_available"]
    return ["rpo", "retention_compliance", "manifest_checksums", "restore_drill"]


def selection_for(graph: Graph, targets: list[BackupTarget]
                  ) -> tuple[list[dg.AssetKey], list[dg.AssetCheckKey]]:
    """The backup and copy assets of ``targets`` and their checks (a tier's schedule runs
    those alone)."""
    from platform_assets.core.graph import backup_copy_key, backup_key

    assets: list[dg.AssetKey] = []
    checks: list[dg.AssetCheckKey] = []
    for t in targets:
        keys = [(graph.scoped(backup_key(t.name)), False)]
        if graph.scoped(backup_copy_key(t.name)) in graph.nodes:
            keys.append((graph.scoped(backup_copy_key(t.name)), True))
        for key, copy in keys:
            assets.append(dg.AssetKey(list(key)))
            checks += [dg.AssetCheckKey(dg.AssetKey(list(key)), n) for n in _check_names(t, copy)]
    return assets, checks


def _resource_keys(target: BackupTarget) -> set[str]:
    if target.kind == "volume":
        return {"object_storage", "kubernetes"} | (
            {"ionos"} if target.method == "ionos-snapshot" else set())
    if target.kind in DATABASE_RESOURCE:
        return {"object_storage", "ionos", DATABASE_RESOURCE[target.kind]}
    return {"object_storage", "kubernetes"}


def _asset_kwargs(spec: PlatformSpec, node: Node, parts: dg.PartitionsDefinition,
                  keys: set[str]) -> dict[str, Any]:
    bk = spec.backups
    assert bk is not None
    tier = bk.tier_of(next(t for t in bk.targets if t.name == node.name))
    return {
        "key": dg.AssetKey(list(node.key)),
        "deps": [dg.AssetKey(list(d)) for d in node.deps],
        "partitions_def": parts,
        "group_name": environment_group(GROUP, node.environment),
        "kinds": set(node.kinds),
        "owners": list(node.owners),
        "description": node.description,
        "code_version": node.code_version,
        "required_resource_keys": resource_keys(keys, node),
        "config_schema": run_config_schema(),
        "freshness_policy": dg.FreshnessPolicy.time_window(fail_window=parse_duration(tier.rpo)),
        "tags": {TAG_TARGET: node.name, TAG_TIER: tier.name},
    }


def _run_config(context: dg.AssetExecutionContext) -> BackupRunConfig:
    # The op's config through the op context: ``AssetExecutionContext.op_config`` is deprecated.
    return BackupRunConfig(**context.op_execution_context.op_config)


def _backup_asset(spec: PlatformSpec, node: Node, target: BackupTarget,
                  parts: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(**_asset_kwargs(spec, node, parts, _resource_keys(target)))
    @_signed(_ASSET_SIGNATURE)
    def _backup(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from platform_assets.runs.backups import materialize_backup

        return materialize_backup(context, _run_config(context), spec, node, target)

    return _backup


def _copy_asset(spec: PlatformSpec, node: Node, target: BackupTarget,
                parts: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(**_asset_kwargs(spec, node, parts, {"object_storage"}))
    @_signed(_ASSET_SIGNATURE)
    def _copy(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from platform_assets.runs.backups import materialize_copy

        return materialize_copy(context, _run_config(context), spec, node, target)

    return _copy


def _rpo_check(spec: PlatformSpec, node: Node, target: BackupTarget, dr: bool) -> Any:
    bk = spec.backups
    assert bk is not None
    tier = bk.tier_of(target)
    rpo = parse_duration(tier.rpo)
    keys = {"object_storage"} if dr else _resource_keys(target)

    @dg.asset_check(asset=dg.AssetKey(list(node.key)), name="rpo",
                    required_resource_keys=resource_keys(keys, node),
                    description=f"The newest complete backup is younger than the RPO "
                                f"({tier.rpo}, tier {tier.name}).")
    @_signed(_CHECK_SIGNATURE)
    def _rpo(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from platform_assets.runs.backups import rpo_result

        return rpo_result(context, spec, node, target, dr, rpo)

    return _rpo


def _compliance_check(spec: PlatformSpec, node: Node, target: BackupTarget, dr: bool) -> Any:
    bk = spec.backups
    assert bk is not None
    tier = bk.tier_of(target)
    keys = {"object_storage"} if dr else _resource_keys(target)

    @dg.asset_check(asset=dg.AssetKey(list(node.key)), name="retention_compliance",
                    required_resource_keys=resource_keys(keys, node),
                    description=f"Restore points: at least one verified, none older than "
                                f"{tier.retention_days} days, the newest within the RPO "
                                f"(tier {tier.name}).")
    @_signed(_CHECK_SIGNATURE)
    def _compliance(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from platform_assets.runs.backups import compliance_result

        return compliance_result(context, spec, node, target, dr, tier)

    return _compliance


def _checksum_check(spec: PlatformSpec, node: Node, target: BackupTarget, dr: bool) -> Any:
    @dg.asset_check(asset=dg.AssetKey(list(node.key)), name="manifest_checksums",
                    required_resource_keys=resource_keys({"object_storage"}, node),
                    description="Every object of the newest backup, re-read, matches the size "
                                "and sha256 in its manifest, and the manifest matches what the "
                                "backup run recorded (when this instance ran it).")
    @_signed(_CHECK_SIGNATURE)
    def _checksums(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from platform_assets.runs.backups import checksums_result

        return checksums_result(context, spec, node, target, dr)

    return _checksums


# What each kind of target's restore drill does (a tool-driven method's own drill first).
DRILLS = {
    "database": "restores the newest dump into a scratch database and compares row counts and "
                "table checksums",
    "postgres": "restores the newest dump into a scratch database and compares row counts and "
                "table checksums",
    "resources": "restores the newest export into a scratch namespace and compares every "
                 "object",
    "velero": "restores the newest Velero backup with a Restore mapped into a scratch "
              "namespace and compares every object with the backup's contents",
    "volume": "restores the newest night's files into a scratch PVC with the volume agent and "
              "compares every file's sha256",
    "longhorn": "re-reads the newest Longhorn backup's cfg and blocks (sha256 as recorded), "
                "has Longhorn restore a scratch Volume fromBackup (checking every block's "
                "sha512), mounts it and compares every file's sha256 with the snapshot's "
                "file list",
}


def _drill_check(spec: PlatformSpec, node: Node, target: BackupTarget) -> Any:
    bk = spec.backups
    assert bk is not None
    tier = bk.tier_of(target)
    rto = parse_duration(tier.rto)
    keys = _resource_keys(target)
    what = DRILLS.get(target.method) or DRILLS[target.kind]

    @dg.asset_check(asset=dg.AssetKey(list(node.key)), name="restore_drill",
                    required_resource_keys=resource_keys(keys, node),
                    description=f"Restore drill: {what}, within the RTO ({tier.rto}, tier "
                                f"{tier.name}).")
    @_signed(_CHECK_SIGNATURE)
    def _drill(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from platform_assets.runs.backups import drill_result

        return drill_result(context, spec, node, target, tier, rto)

    return _drill


def _snapshot_check(spec: PlatformSpec, node: Node, target: BackupTarget) -> Any:
    @dg.asset_check(asset=dg.AssetKey(list(node.key)), name="snapshot_available",
                    required_resource_keys=resource_keys(_resource_keys(target), node),
                    description="The newest snapshot of the volume exists and is usable.")
    @_signed(_CHECK_SIGNATURE)
    def _snapshot(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from platform_assets.runs.backups import snapshot_result

        return snapshot_result(context, spec, node, target)

    return _snapshot


def _backup_checks(spec: PlatformSpec, node: Node, target: BackupTarget) -> list[Any]:
    checks = [_rpo_check(spec, node, target, False),
              _compliance_check(spec, node, target, False)]
    if not target.in_bucket:
        checks.append(_snapshot_check(spec, node, target))
    else:
        checks.append(_checksum_check(spec, node, target, False))
        checks.append(_drill_check(spec, node, target))
    return checks


def _copy_checks(spec: PlatformSpec, node: Node, target: BackupTarget) -> list[Any]:
    return [_rpo_check(spec, node, target, True), _compliance_check(spec, node, target, True),
            _checksum_check(spec, node, target, True)]
