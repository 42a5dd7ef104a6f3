"""Backups of a managed PostgreSQL cluster (target kind ``postgres``): each database dumped with
the real ``pg_dump`` and streamed to the bucket as the MariaDB dumps are, with the table stats
the restore drill compares against and the backups IONOS keeps of the cluster on record."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from platform_assets.backups.bucket import confirm_size
from platform_assets.backups.errors import BackupError, required
from platform_assets.core.backup_manifest import ManifestObject, object_key
from platform_assets.core.graph import postgres_cluster_of
from platform_assets.core.ports import DbaasBackups, Json, PgLogin, PostgresDumps
from platform_assets.spec.models import BackupTarget, PlatformSpec, PostgresCluster

if TYPE_CHECKING:
    from platform_assets.backups.sources import BackupJob

Produced = tuple[list[ManifestObject], dict[str, Any], dict[str, str]]


@dataclass(frozen=True)
class BoundPostgres:
    """One cluster's login bound to the resource, with the interface the restore drill uses
    for databases (``restore``, ``table_stats``, ``drop_database`` taking a host)."""

    resource: PostgresDumps
    login: PgLogin

    def restore(self, database: str, chunks: Iterable[bytes], host: str) -> int:
        """Restore an archive into the scratch database ``database`` (``host``: the login's)."""
        return self.resource.restore(self.login, database, chunks)

    def table_stats(self, database: str, host: str) -> dict[str, Json]:
        """Row counts and checksums per table of ``database``."""
        return self.resource.table_stats(self.login, database)

    def drop_database(self, database: str, host: str) -> None:
        """Drop the scratch database ``database`` and its role."""
        self.resource.drop_database(self.login, database)


def postgres_cluster(spec: PlatformSpec, target: BackupTarget) -> PostgresCluster:
    """The ``ionos.postgres`` entry a postgres target backs up."""
    name = postgres_cluster_of(spec, target)
    found = next((pg for pg in spec.ionos_infra.postgres if pg.name == name), None)
    if found is None:
        raise BackupError(f"backup target {target.name}: no PostgreSQL cluster to back up "
                          "(protects names none of ionos.postgres)")
    return found


def postgres_login(spec: PlatformSpec, target: BackupTarget, ionos: DbaasBackups | None,
                   db: PostgresDumps) -> tuple[BoundPostgres, Json | None]:
    """(the login bound to the cluster's host, the DBaaS cluster JSON or None). The host is
    the resource's when set, else the cluster's ``dnsName``."""
    pg = postgres_cluster(spec, target)
    cluster = ionos.find_postgres(pg.name) if ionos is not None else None
    host = db.host or ((cluster or {}).get("metadata") or {}).get("dnsName") or ""
    if not host:
        raise BackupError(f"no PostgreSQL server to dump: create the managed cluster {pg.name} "
                          "(it has no DNS name yet), or set the resource's host")
    return BoundPostgres(db, db.login(pg.name, host)), cluster


def _dbaas_record(ionos: DbaasBackups | None, cluster: Json | None) -> Json:
    if cluster is None or ionos is None:
        return {"cluster": None, "backups": []}
    return {"cluster": cluster["id"], "backups": [
        {"id": b.get("id"), **{k: (b.get("properties") or {}).get(k) for k in (
            "earliestRecoveryTargetTime", "isActive", "location", "postgresClusterVersion")}}
        for b in ionos.postgres_backups(cluster["id"])]}


def backup_postgres(job: BackupJob) -> Produced:
    """Dump each database of the target (default: the cluster's ``database``) into the bucket
    with ``pg_dump --format=custom``, recording row counts and content checksums per table."""
    target, where, store, log = job.target, job.where, job.store, job.log
    pg = postgres_cluster(job.spec, target)
    db = required(job.pg, "postgres_database", f"backup {target.name}")
    bound, cluster = postgres_login(job.spec, target, job.ionos, db)
    login = bound.login
    tools = {**db.tool_versions(), "server": db.server_version(login)}
    objects = []
    for name in target.databases or [pg.database]:
        stats = db.table_stats(login, name)
        key = object_key(where.prefix, target.name, job.partition, job.attempt,
                         f"{name}.pgdump{job.encoding.suffix}")
        job.written.append(key)
        log(f"dumping {name} ({len(stats)} tables) to s3://{where.bucket}/{key}")
        result = store.upload_stream(where.bucket, key, job.encode(db.dump(login, name)),
                                     where.region, content_type=job.encoding.content_type,
                                     part_size=job.part_size, log=log)
        confirm_size(store, where, key, result.size)
        objects.append(ManifestObject(
            key=key, size=result.size, sha256=result.sha256,
            source=f"pg_dump --format=custom {name}@{login.host}:{login.port}",
            content_type=job.encoding.content_type,
            details={"database": name, "tables": stats, **job.encoding.details(),
                     "upload_seconds": round(result.seconds, 3)}))
    return objects, {"host": login.host, "cluster": pg.name,
                     "dbaas": _dbaas_record(job.ionos, cluster)}, tools
