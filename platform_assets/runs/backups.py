"""What the backup assets and checks do when a run executes them: each hands its partition to
the Dagster-free backup engine (``platform_assets/backups/``) and turns the outcome into
metadata or a check result. They are defined in ``platform_assets/backup_assets.py``; this
module is imported by the run, not when the code location loads.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.backup_assets import DATABASE_RESOURCE, BackupRunConfig
from platform_assets.core.graph import Node
from platform_assets.scoped_resources import Systems, systems_of
from platform_assets.spec.models import BackupTarget, BackupTier, PlatformSpec, parse_duration

if TYPE_CHECKING:
    from platform_assets.backups.bucket import Where
    from platform_assets.backups.drills import DrillResult
    from platform_assets.backups.engine import BackupOutcome
    from platform_assets.core.backup_manifest import BackupRecord, Manifest
    from platform_assets.core.retention import RestorePoint

# Materialization metadata holding the objects a backup run wrote (``BackupRecord``).
RECORD_KEY = "recorded_objects"


def materialize_backup(context: dg.AssetExecutionContext, config: BackupRunConfig,
                       spec: PlatformSpec, node: Node,
                       target: BackupTarget) -> dg.MaterializeResult:
    """Back up one partition of ``target`` (the ``["backups", <target>]`` asset)."""
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
        meta.update(_export_metadata(out.manifest))
    return dg.MaterializeResult(metadata=meta)


def _export_metadata(manifest: "Manifest") -> dict[str, Any]:
    """A resources export's figures, and what it could not export: the kinds discovery lists
    that the account may not list in some namespace (what the namespace holds of them is not
    in the backup, and cannot be known under least privilege), and ``include_kinds`` the
    cluster does not serve."""
    objects = manifest.objects
    forbidden = sorted({k for o in objects for k in o.details.get("not_exported_kinds") or []})
    return {"exported_objects": sum(int(o.details.get("count", 0)) for o in objects),
            "not_exported_kinds": dg.MetadataValue.text(", ".join(forbidden) or "none"),
            "include_kinds_not_served": dg.MetadataValue.text(
                ", ".join(manifest.details.get("include_kinds_not_served") or []) or "none")}


def materialize_copy(context: dg.AssetExecutionContext, config: BackupRunConfig,
                     spec: PlatformSpec, node: Node, target: BackupTarget) -> dg.MaterializeResult:
    """Copy one partition of ``target`` to the DR bucket and verify it (the
    ``["backups", "cross_region", <target>]`` asset)."""
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


def _fail(describe: str, exc: BaseException, target: str, partition: str) -> dg.Failure:
    return dg.Failure(description=str(exc) or describe,
                      metadata={"target": target, "partition": partition,
                                "cause": type(exc).__name__})


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


def rpo_result(context: dg.AssetCheckExecutionContext, spec: PlatformSpec, node: Node,
               target: BackupTarget, dr: bool, rpo: timedelta) -> dg.AssetCheckResult:
    """The ``rpo`` check: the newest complete backup is younger than ``rpo``."""
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


def compliance_result(context: dg.AssetCheckExecutionContext, spec: PlatformSpec, node: Node,
                      target: BackupTarget, dr: bool, tier: BackupTier) -> dg.AssetCheckResult:
    """The ``retention_compliance`` check of ``target``'s restore points against its tier."""
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


def checksums_result(context: dg.AssetCheckExecutionContext, spec: PlatformSpec, node: Node,
                     target: BackupTarget, dr: bool) -> dg.AssetCheckResult:
    """The ``manifest_checksums`` check: the newest backup's objects re-read and compared."""
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


def drill_result(context: dg.AssetCheckExecutionContext, spec: PlatformSpec, node: Node,
                 target: BackupTarget, tier: BackupTier, rto: timedelta) -> dg.AssetCheckResult:
    """The ``restore_drill`` check: restore the newest backup, compare, time it against ``rto``."""
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
    if result.notes:
        meta["not_restored"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in result.notes[:50]))
    return _check_result(not problems, problems, meta)


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
    from platform_assets.core.rbac import drill_dry_run_kinds

    return drill_resources(manifest, where, store, kube, record, key, drill_dry_run_kinds(spec))


def snapshot_result(context: dg.AssetCheckExecutionContext, spec: PlatformSpec, node: Node,
                    target: BackupTarget) -> dg.AssetCheckResult:
    """The ``snapshot_available`` check: the newest snapshot of the volume exists and is usable."""
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
