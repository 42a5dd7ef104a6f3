"""The backup engine: one partition of one target backed up, or copied to the DR bucket.

The write protocol (see ``platform_assets.core.backup_manifest``): data objects go under a key
of this attempt, the manifest is written last; a failure removes what the attempt wrote, so no
object that looks complete is left behind.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from platform_assets.backups.bucket import (
    Log,
    Where,
    backups_of,
    cleanup,
    read_manifest,
    remove_partition,
    where_of,
)
from platform_assets.backups.errors import BackupError, cause
from platform_assets.backups.sources import SOURCES, BackupJob, encoding_of
from platform_assets.core.backup_manifest import (
    Manifest,
    compare_object,
    manifest_key,
    partition_prefix,
    stale_keys,
    utc_iso,
)
from platform_assets.core.ports import (
    BackupCloud,
    BackupCluster,
    BackupStore,
    Database,
    PostgresDumps,
)
from platform_assets.core.volume_index import is_chunk_key
from platform_assets.spec.models import BackupTarget, PlatformSpec


@dataclass
class BackupOutcome:
    """What a backup or copy left: the partition's manifest, whether it was already complete
    (``skipped``), how long it took, and extra figures for the asset's metadata."""

    manifest: Manifest
    skipped: bool
    seconds: float
    metadata: dict[str, Any] = field(default_factory=dict)


def now_utc() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def run_backup(spec: PlatformSpec, target: BackupTarget, partition: str, *, store: BackupStore,
               ionos: BackupCloud | None = None, kube: BackupCluster | None = None,
               db: Database | None = None, pg: PostgresDumps | None = None, run_id: str = "",
               part_size: int = 8 * 1024 * 1024, log: Log = lambda _: None,
               clock: Callable[[], datetime] = now_utc) -> BackupOutcome:
    """Back up one partition of one target; a partition with a manifest is left as it is.
    ``db`` dumps a ``database`` target, ``pg`` a ``postgres`` one."""
    where = where_of(spec)
    describe = f"backup {target.name} ({target.kind}, {partition})"
    try:
        return _run_backup(spec, target, partition, where, describe, store=store, ionos=ionos,
                           kube=kube, db=db, pg=pg, run_id=run_id, part_size=part_size, log=log,
                           clock=clock)
    except BackupError:
        raise
    except Exception as exc:
        raise BackupError(f"{describe} failed: {cause(exc)}") from exc


def _run_backup(spec: PlatformSpec, target: BackupTarget, partition: str, where: Where,
                describe: str, *, store: BackupStore, ionos: BackupCloud | None,
                kube: BackupCluster | None, db: Database | None, pg: PostgresDumps | None,
                run_id: str, part_size: int, log: Log,
                clock: Callable[[], datetime]) -> BackupOutcome:
    t0 = time.monotonic()
    existing = read_manifest(store, where, target.name, partition, describe)
    if existing is not None:
        log(f"{describe}: already complete ({existing.finished_at}); nothing to do")
        return BackupOutcome(existing, True, time.monotonic() - t0)
    stale = stale_keys(store.list_keys(where.bucket, partition_prefix(
        where.prefix, target.name, partition), where.region), None, where.prefix, target.name,
        partition)
    if stale:
        log(f"{describe}: removing {len(stale)} object(s) of an earlier failed attempt")
        store.delete_keys(where.bucket, stale, where.region)
    attempt = f"{(run_id or uuid.uuid4().hex)[:8]}-{int(time.time())}"
    started = clock()
    encoding, key = encoding_of(spec)  # a missing or malformed key fails before any write
    bk = backups_of(spec)
    job = BackupJob(spec, target, partition, attempt, where, store, ionos=ionos, kube=kube,
                    db=db, pg=pg, part_size=part_size, log=log, encoding=encoding, key=key,
                    level=bk.compression.stream_level, threads=bk.compression.threads)
    try:
        objects, details, tools = SOURCES[target.kind](job)
        manifest = Manifest(
            target=target.name, kind=target.kind, partition=partition, attempt=attempt,
            bucket=where.bucket, started_at=utc_iso(started), finished_at=utc_iso(clock()),
            objects=tuple(objects), tool_versions=tools, details=details,
        )
        store.put_bytes(where.bucket, manifest_key(where.prefix, target.name, partition),
                        manifest.to_json(), where.region, content_type="application/json")
    except Exception as exc:
        cleanup(store, where, job.written, log)
        raise BackupError(f"{describe} failed: {cause(exc)}") from exc
    return BackupOutcome(manifest, False, time.monotonic() - t0)


def copy_partition(spec: PlatformSpec, target: BackupTarget, partition: str, *,
                   store: BackupStore,
                   log: Log = lambda _: None,
                   clock: Callable[[], datetime] = now_utc) -> BackupOutcome:
    """Copy a complete partition to the DR bucket, verify every object by sha256, write the
    DR manifest last."""
    bk = backups_of(spec)
    if bk.cross_region_copy is None:
        raise BackupError("the spec has no backups.cross_region_copy")
    src, dst = where_of(spec), where_of(spec, dr=True)
    describe = f"cross-region copy of {target.name} ({partition}) to {dst.bucket}"
    try:
        return _copy_partition(target, partition, src, dst, describe, store, log, clock)
    except BackupError:
        raise
    except Exception as exc:  # the second region unreachable, an unreadable manifest
        raise BackupError(f"{describe} failed: {cause(exc)}") from exc


def _copy_partition(target: BackupTarget, partition: str, src: Where, dst: Where,
                    describe: str, store: BackupStore, log: Log,
                    clock: Callable[[], datetime]) -> BackupOutcome:
    t0 = time.monotonic()
    source = read_manifest(store, src, target.name, partition, describe)
    if source is None:
        raise BackupError(f"{describe}: the backup of this partition is not complete (no "
                          f"manifest in {src.bucket}); run the backup first")
    existing = read_manifest(store, dst, target.name, partition, describe)
    if existing is not None and existing.attempt == source.attempt:
        return BackupOutcome(existing, True, time.monotonic() - t0)
    stale = store.list_keys(dst.bucket, partition_prefix(dst.prefix, target.name, partition),
                            dst.region)
    if stale:
        remove_partition(store, dst, target.name, partition)
    written: list[str] = []
    started = clock()
    try:
        copied = []
        shared = _present_chunks(store, dst, target.name, source)
        for obj in source.objects:
            if shared.get(obj.key, (None,))[0] == obj.size:
                # A chunk is content-addressed and was verified when it was first copied.
                copied.append(obj)
                continue
            written.append(obj.key)
            result = store.copy_across(src.bucket, obj.key, dst.bucket, obj.key,
                                       src.region, dst.region, log=log)
            check = compare_object(obj, result.size, result.sha256)
            if check.ok:
                # Read back from the second region: what is there, not what was sent.
                check = compare_object(obj, *(store.sha256_of(dst.bucket, obj.key, dst.region)
                                              or (None, None)))
            if not check.ok:
                raise BackupError(f"s3://{dst.bucket}/{obj.key}: {check.problem}")
            copied.append(obj)
        manifest = Manifest(
            target=source.target, kind=source.kind, partition=partition,
            attempt=source.attempt, bucket=dst.bucket, started_at=utc_iso(started),
            finished_at=utc_iso(clock()), objects=tuple(copied),
            tool_versions=source.tool_versions,
            details={**source.details, "copied_from": f"s3://{src.bucket}",
                     "source_finished_at": source.finished_at},
        )
        store.put_bytes(dst.bucket, manifest_key(dst.prefix, target.name, partition),
                        manifest.to_json(), dst.region, content_type="application/json")
    except Exception as exc:
        cleanup(store, dst, written, log)
        raise BackupError(f"{describe} failed: {cause(exc)}") from exc
    return BackupOutcome(manifest, False, time.monotonic() - t0)


def _present_chunks(store: BackupStore, dst: Where, target: str,
                    source: Manifest) -> dict[str, tuple[int, str]]:
    """The chunks of a ``files`` volume target already in the DR bucket that the copy may
    keep (none for others): not those the DR bucket's collection condemned, which are copied
    again."""
    from platform_assets.backups.volume_files import Location, condemned_chunks, reusable_chunks

    if not any(is_chunk_key(dst.prefix, target, o.key) for o in source.objects):
        return {}
    loc = Location(dst.bucket, dst.region, dst.prefix, target)
    return reusable_chunks(store, loc, condemned_chunks(store, loc))
