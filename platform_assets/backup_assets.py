"""Backup assets and their checks, one per backup target of the spec, daily partitions (UTC).

For every target: ``["backups", <target>]`` takes that day's backup (IONOS volume snapshot, CSI
VolumeSnapshot, a streamed ``mariadb-dump`` plus the DBaaS backups on record, or the namespaces'
objects as YAML), writes its manifest last and applies retention; ``["backups",
"cross_region", <target>]`` copies the partition to the DR bucket and verifies it by sha256.
Checks next to them: ``rpo`` (newest complete backup younger than the RPO),
``retention_compliance``, ``manifest_checksums`` (every object re-read), and the restore drills
(``restore_drill``: dump into a scratch database, objects into a scratch namespace, timed
against the RTO) or ``snapshot_available`` for volumes. One asset per target, so one target
failing never stops the others.
"""

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from platform_assets.core.graph import Graph, Node
from platform_assets.names import TAG_TARGET, TAG_TIER, environment_group
from platform_assets.scoped_resources import Systems, resource_keys, systems_of
from platform_assets.spec.models import BackupTarget, PlatformSpec, parse_duration

if TYPE_CHECKING:  # the backup engine, manifests and retention are imported when a run starts
    from platform_assets.backups.bucket import Where
    from platform_assets.backups.drills import DrillResult
    from platform_assets.backups.engine import BackupOutcome
    from platform_assets.core.backup_manifest import BackupRecord, Manifest
    from platform_assets.core.retention import RestorePoint

GROUP = "backups"
# Materialization metadata holding the objects a backup run wrote (``BackupRecord``).
RECORD_KEY = "recorded_objects"


class BackupRunConfig(dg.Config):
    """Run config of a backup or copy asset."""

    retention_dry_run: bool = Field(
        default=False, description="plan retention and show what would be deleted, delete nothing")
    skip_retention: bool = Field(default=False, description="do not run retention at all")
    part_size_mb: int = Field(default=8, ge=5, le=512,
                              description="multipart upload part size for dumps (memory use is "
                                          "about 8 parts)")


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
        "freshness_policy": dg.FreshnessPolicy.time_window(fail_window=parse_duration(tier.rpo)),
        "tags": {TAG_TARGET: node.name, TAG_TIER: tier.name},
    }


def _fail(describe: str, exc: BaseException, target: str, partition: str) -> dg.Failure:
    return dg.Failure(description=str(exc) or describe,
                      metadata={"target": target, "partition": partition,
                                "cause": type(exc).__name__})


def _backup_asset(spec: PlatformSpec, node: Node, target: BackupTarget,
                  parts: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(**_asset_kwargs(spec, node, parts, _resource_keys(target)))
    def _backup(context: dg.AssetExecutionContext,
                config: BackupRunConfig) -> dg.MaterializeResult:
        # The backup engine is imported when a run starts, not when the code location loads.
        from platform_assets.backups.engine import run_backup
        from platform_assets.backups.errors import BackupError
        from platform_assets.core.backup_manifest import BackupRecord

        res = systems_of(context, node.environment)
        partition = context.partition_key
        log = context.log.info
        try:
            out = run_backup(
                spec, target, partition, store=res.store(), ionos=res.ionos,
                kube=res.kubernetes, db=res.database, pg=res.postgres_database,
                run_id=context.run.run_id,
                part_size=config.part_size_mb * 1024 * 1024, log=log)
        except BackupError as exc:
            raise _fail(f"backup {target.name}", exc, target.name, partition) from None
        meta = _outcome_metadata(spec, out, spec.backup_bucket()[0])
        if not out.skipped:
            # The drills trust an object only when it matches this record, kept outside the
            # bucket; a skipped run only read the manifest back, so it records nothing.
            meta[RECORD_KEY] = dg.MetadataValue.json(BackupRecord.of(out.manifest).to_dict())
        meta.update(_retention(spec, target, res, config, dr=False, log=context.log.warning))
        details = out.manifest.details
        if target.kind == "volume":
            for k in ("snapshot_id", "snapshot_name", "volume_id", "volume_snapshot"):
                if details.get(k):
                    meta[k] = str(details[k])
            for k in ("files", "uploaded_bytes", "new_chunks", "reused_files"):
                if details.get(k) is not None:
                    meta[k] = dg.MetadataValue.int(int(details[k]))
        if target.kind in DATABASE_RESOURCE:
            meta["dbaas_backups"] = len((details.get("dbaas") or {}).get("backups") or [])
            meta["tables"] = sum(len(o.details.get("tables") or {}) for o in out.manifest.objects)
        if target.method in TOOL_METADATA:
            meta.update(TOOL_METADATA[target.method](details))
        elif target.kind == "resources":
            meta["exported_objects"] = sum(int(o.details.get("count", 0))
                                           for o in out.manifest.objects)
        return dg.MaterializeResult(metadata=meta)

    return _backup


def _copy_asset(spec: PlatformSpec, node: Node, target: BackupTarget,
                parts: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(**_asset_kwargs(spec, node, parts, {"object_storage"}))
    def _copy(context: dg.AssetExecutionContext, config: BackupRunConfig) -> dg.MaterializeResult:
        from platform_assets.backups.engine import copy_partition
        from platform_assets.backups.errors import BackupError

        res = systems_of(context, node.environment)
        partition = context.partition_key
        try:
            out = copy_partition(spec, target, partition, store=res.store(),
                                    log=context.log.info)
        except BackupError as exc:
            raise _fail(f"copy {target.name}", exc, target.name, partition) from None
        meta = _outcome_metadata(spec, out, spec.backup_bucket(dr=True)[0])
        meta["verified_objects"] = len(out.manifest.objects)
        meta.update(_retention(spec, target, res, config, dr=True, log=context.log.warning))
        return dg.MaterializeResult(metadata=meta)

    return _copy


def _outcome_metadata(spec: PlatformSpec, out: "BackupOutcome", bucket: str) -> dict[str, Any]:
    from platform_assets.core.backup_manifest import manifest_key

    m = out.manifest
    prefix = spec.backups.prefix if spec.backups else ""
    return {
        "bytes": dg.MetadataValue.int(m.total_bytes),
        "objects": dg.MetadataValue.int(len(m.objects)),
        "duration_seconds": dg.MetadataValue.float(round(out.seconds, 3)),
        "skipped": out.skipped,
        "manifest": dg.MetadataValue.path(
            f"s3://{bucket}/{manifest_key(prefix, m.target, m.partition)}"),
        "attempt": m.attempt,
        "finished_at": m.finished_at,
        "tool_versions": dg.MetadataValue.json(m.tool_versions),
    }


def velero_metadata(details: dict[str, Any]) -> dict[str, Any]:
    """What a Velero Backup reported: its name, items, warnings and errors (plottable)."""
    return {"velero_backup": str(details.get("velero_backup") or ""),
            "velero_phase": str(details.get("phase") or ""),
            "items_backed_up": dg.MetadataValue.int(int(details.get("items_backed_up") or 0)),
            "velero_warnings": dg.MetadataValue.int(int(details.get("warnings") or 0)),
            "velero_errors": dg.MetadataValue.int(int(details.get("errors") or 0)),
            "velero_expiration": str(details.get("expiration") or "")}


def longhorn_metadata(details: dict[str, Any]) -> dict[str, Any]:
    """What a Longhorn Backup reported: its name and URL, the volume, bytes and blocks."""
    return {"longhorn_backup": str(details.get("longhorn_backup") or ""),
            "longhorn_url": str(details.get("longhorn_url") or ""),
            "longhorn_volume": str(details.get("volume") or ""),
            "volume_bytes": dg.MetadataValue.int(int(details.get("bytes") or 0)),
            "blocks": dg.MetadataValue.int(int(details.get("blocks") or 0)),
            "files": dg.MetadataValue.int(int(details.get("files") or 0))}


# What a tool-driven method's run reports, by method.
TOOL_METADATA: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "velero": velero_metadata, "longhorn": longhorn_metadata}


def _retention(spec: PlatformSpec, target: BackupTarget, res: Systems, config: BackupRunConfig,
               dr: bool, log: Callable[[str], Any]) -> dict[str, Any]:
    from platform_assets.backups.restore_points import apply_retention

    if config.skip_retention:
        return {"retention": "skipped"}
    try:
        plan = apply_retention(spec, target, store=res.store(), ionos=res.ionos,
                               kube=res.kubernetes, dr=dr,
                               dry_run=config.retention_dry_run, log=log)
    except Exception as exc:  # noqa: BLE001 - the backup itself succeeded; report, do not fail
        log(f"retention of {target.name} failed: {exc}; the backup is complete, retention "
            "runs again with the next backup")
        return {"retention_error": str(exc)[:300]}
    return {
        "retention_plan": dg.MetadataValue.md(plan.table()),
        "retention_dry_run": config.retention_dry_run,
        ("retention_would_delete" if config.retention_dry_run else "retention_deleted"):
            dg.MetadataValue.int(len(plan.delete)),
        "retention_blocked": plan.blocked or "",
    }


def recorded_backup(instance: dg.DagsterInstance, key: tuple[str, ...],
                    partition: str) -> "BackupRecord | None":
    """What the newest backup run that wrote ``partition`` recorded about its objects (None when
    no run of this instance did: a backup taken elsewhere, or before runs recorded them)."""
    from platform_assets.core.backup_manifest import BackupRecord

    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(list(key)), asset_partitions=[partition]),
        limit=50)
    for rec in found.records:
        mat = rec.asset_materialization
        value = mat.metadata.get(RECORD_KEY) if mat else None
        record = BackupRecord.from_dict(getattr(value, "value", None))
        if record is not None:
            return record
    return None


def _check_result(passed: bool, problems: list[str], metadata: dict[str, Any],
                  severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
                  ) -> dg.AssetCheckResult:
    meta = dict(metadata)
    if problems:
        meta["problems"] = dg.MetadataValue.md("\n".join(f"- {p}" for p in problems[:50]))
    return dg.AssetCheckResult(passed=passed, severity=severity, metadata=meta)


def _unreadable(what: str, exc: BaseException) -> dg.AssetCheckResult:
    """A check that could not read its backups fails with the cause (not a traceback)."""
    lines = str(exc).strip().splitlines()
    return _check_result(False, [f"{what}: {type(exc).__name__}: "
                                 f"{lines[0][:300] if lines else ''}"], {})


def _where(spec: PlatformSpec, dr: bool) -> "Where":
    from platform_assets.backups.bucket import where_of

    return where_of(spec, dr)


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
    def _rpo(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from platform_assets.backups.engine import now_utc
        from platform_assets.core.retention import newest_verified, rpo_status

        points = _restore_points(context, spec, node, target, dr)
        if isinstance(points, dg.AssetCheckResult):
            return points
        newest = newest_verified(points)
        now = now_utc()
        ok, msg = rpo_status(newest.created_at if newest else None, now, rpo)
        meta: dict[str, Any] = {"message": msg, "rpo_hours": rpo.total_seconds() / 3600}
        if newest:
            meta["newest_partition"] = newest.partition
            meta["age_hours"] = dg.MetadataValue.float(
                round((now - newest.created_at).total_seconds() / 3600, 2))
        return _check_result(ok, [] if ok else [msg], meta)

    return _rpo


def _restore_points(context: dg.AssetCheckExecutionContext, spec: PlatformSpec, node: Node,
                    target: BackupTarget, dr: bool) -> "list[RestorePoint] | dg.AssetCheckResult":
    """The target's restore points, or a failed check naming why they cannot be listed."""
    from platform_assets.backups.restore_points import restore_points

    res = systems_of(context, node.environment)
    try:
        return list(restore_points(spec, target, res.store(), res.ionos, res.kubernetes,
                                   dr=dr))
    except Exception as exc:  # noqa: BLE001 - unreadable backups are a failed check
        return _unreadable(f"cannot list the restore points of {target.name}", exc)


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
    def _compliance(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from platform_assets.backups.engine import now_utc
        from platform_assets.core.retention import compliance

        points = _restore_points(context, spec, node, target, dr)
        if isinstance(points, dg.AssetCheckResult):
            return points
        c = compliance(points, now_utc(), tier.retention_days, parse_duration(tier.rpo))
        meta: dict[str, Any] = {"restore_points": dg.MetadataValue.int(c.count),
                                "verified_restore_points": dg.MetadataValue.int(c.verified)}
        if c.oldest_age_days is not None:
            meta["oldest_age_days"] = dg.MetadataValue.float(round(c.oldest_age_days, 2))
        if c.newest_age_hours is not None:
            meta["newest_age_hours"] = dg.MetadataValue.float(round(c.newest_age_hours, 2))
        return _check_result(c.ok, list(c.problems), meta, dg.AssetCheckSeverity.WARN)

    return _compliance


def _checksum_check(spec: PlatformSpec, node: Node, target: BackupTarget, dr: bool) -> Any:
    @dg.asset_check(asset=dg.AssetKey(list(node.key)), name="manifest_checksums",
                    required_resource_keys=resource_keys({"object_storage"}, node),
                    description="Every object of the newest backup, re-read, matches the size "
                                "and sha256 in its manifest, and the manifest matches what the "
                                "backup run recorded (when this instance ran it).")
    def _checksums(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from platform_assets.backups.bucket import newest_manifest, verify_objects
        from platform_assets.backups.drills import untrusted

        store = systems_of(context, node.environment).store()
        where = _where(spec, dr)
        try:
            manifest = newest_manifest(store, where, target.name)
            if manifest is None:
                return _check_result(False, ["no complete backup to verify"], {})
            results = verify_objects(store, where, manifest)
        except Exception as exc:  # noqa: BLE001 - unreadable backups are a failed check
            return _unreadable(f"cannot re-read the newest backup of {target.name}", exc)
        bad = [f"{r.key}: {r.problem}" for r in results if not r.ok]
        # A copy holds the same attempt and objects, so the backup run's record covers it too.
        record = recorded_backup(context.instance, node.key, manifest.partition)
        if record is not None:
            bad += untrusted(manifest, where, record)
        return _check_result(not bad, bad, {
            "recorded_by_backup_run": record is not None,
            "partition": manifest.partition,
            "verified_objects": dg.MetadataValue.int(sum(r.ok for r in results)),
            "bytes": dg.MetadataValue.int(manifest.total_bytes),
        })

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
    def _drill(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from platform_assets.backups.bucket import newest_manifest

        res = systems_of(context, node.environment)
        where = _where(spec, False)
        try:
            manifest = newest_manifest(res.store(), where, target.name)
        except Exception as exc:  # noqa: BLE001 - unreadable backups are a failed check
            return _unreadable(f"cannot find the newest backup of {target.name}", exc)
        if manifest is None:
            return _check_result(False, ["no complete backup to restore"], {})
        try:
            result = _run_drill(context, spec, node, target, manifest, where)
        except Exception as exc:  # noqa: BLE001 - a drill that cannot run has failed
            return _check_result(False, [f"restore of {manifest.partition} failed: "
                                         f"{type(exc).__name__}: {exc}"],
                                 {"partition": manifest.partition})
        problems = list(result.problems)
        if result.seconds > rto.total_seconds():
            problems.append(f"restore took {result.seconds:.0f}s, longer than the RTO of "
                            f"{tier.rto} (tier {tier.name})")
        meta = {"partition": manifest.partition,
                "restore_seconds": dg.MetadataValue.float(round(result.seconds, 3)),
                "rto_seconds": dg.MetadataValue.float(rto.total_seconds())}
        meta.update({k: dg.MetadataValue.int(int(v)) for k, v in result.metadata.items()})
        return _check_result(not problems, problems, meta)

    return _drill


def _run_drill(context: dg.AssetCheckExecutionContext, spec: PlatformSpec, node: Node,
               target: BackupTarget, manifest: "Manifest", where: "Where") -> "DrillResult":
    from platform_assets.backups.drills import drill_database, drill_resources
    from platform_assets.backups.errors import required
    from platform_assets.backups.sources import database_host, encoding_of

    res = systems_of(context, node.environment)
    store, describe = res.store(), f"the restore drill of {target.name}"
    record = recorded_backup(context.instance, node.key, manifest.partition)
    _, key = encoding_of(spec)  # the drill proves the configured key opens the backup
    if target.kind == "database":
        db = required(res.database, "database", describe)
        host, _ = database_host(spec, res.ionos, db)
        return drill_database(manifest, where, store, db, host, record, key)
    if target.kind == "postgres":
        from platform_assets.backups.postgres import postgres_login

        bound, _ = postgres_login(spec, target, res.ionos,
                                  required(res.postgres_database, "postgres_database", describe))
        return drill_database(manifest, where, store, bound, bound.login.host, record, key)
    kube = required(res.kubernetes, "kubernetes", describe)
    if target.method == "longhorn":
        from platform_assets.backups.longhorn import drill_longhorn

        return drill_longhorn(spec, target, manifest, where, store, kube, record,
                              context.log.info)
    if target.kind == "volume":
        from platform_assets.backups.volume_job import drill_files

        return drill_files(spec, target, manifest, where, store, kube, record, key,
                           context.log.info)
    if target.method == "velero":
        from platform_assets.backups.velero import drill_velero

        return drill_velero(spec, target, manifest, where, store, kube, record,
                            context.log.info)
    return drill_resources(manifest, where, store, kube, record, key)


def _snapshot_check(spec: PlatformSpec, node: Node, target: BackupTarget) -> Any:
    @dg.asset_check(asset=dg.AssetKey(list(node.key)), name="snapshot_available",
                    required_resource_keys=resource_keys(_resource_keys(target), node),
                    description="The newest snapshot of the volume exists and is usable.")
    def _snapshot(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from platform_assets.backups.restore_points import restore_points
        from platform_assets.core.retention import newest_verified

        res = systems_of(context, node.environment)
        try:
            points = restore_points(spec, target, res.store(), res.ionos, res.kubernetes)
        except Exception as exc:  # noqa: BLE001 - unreadable backups are a failed check
            return _unreadable(f"cannot list the snapshots of {target.name}", exc)
        newest = newest_verified(points)
        if newest is None:
            return _check_result(False, ["no AVAILABLE snapshot with a complete manifest"],
                                 {"snapshots": dg.MetadataValue.int(len(points))})
        return _check_result(True, [], {"snapshot": newest.ref, "partition": newest.partition,
                                        "snapshots": dg.MetadataValue.int(len(points))})

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
