"""What the engines need from each outside system, as Protocols. Pure: no SDKs, no Dagster.

The resources in ``resources/`` satisfy these structurally (no inheritance), and unit tests use
small fakes of them. Objects cross the boundary as the APIs' JSON (``Json``): IONOS bodies with
``id``, ``properties`` and ``metadata``; Kubernetes objects as plain dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:  # certificate parsing is imported by what probes, not by the Protocols
    from platform_assets.core.certs import ProbeResult, ProbeTarget

Json = dict[str, Any]
Log = Callable[[str], object] | None
# A list of objects (a name for it, since ``list`` is a method name in ``BackupCluster``).
Objects = list[Json]
# How a delete treats the object's dependents (metav1.DeletionPropagation).
Propagation = Literal["Background", "Foreground", "Orphan"]
T = TypeVar("T")


class DatabaseApi(Protocol):
    """The IONOS DBaaS APIs beyond MariaDB (PostgreSQL, in-memory DB) for the reconcile engine;
    ``CloudApi`` includes it. Creates and updates wait until the cluster is AVAILABLE."""

    def list_postgres_clusters(self) -> list[Json]: ...

    def find_postgres(self, name: str) -> Json | None: ...

    def create_postgres(self, props: Json, credentials: dict[str, str],
                        log: Log = None) -> Json: ...

    def update_postgres(self, cluster_id: str, props: Json, log: Log = None) -> Json: ...

    def postgres_ready(self, cluster_id: str, log: Log = None) -> Json: ...

    def list_inmemorydb_clusters(self) -> list[Json]: ...

    def find_inmemorydb(self, name: str) -> Json | None: ...

    def create_inmemorydb(self, props: Json, credentials: Json, log: Log = None) -> Json: ...

    def update_inmemorydb(self, cluster_id: str, props: Json, log: Log = None) -> Json: ...

    def inmemorydb_ready(self, cluster_id: str, log: Log = None) -> Json: ...


# Datacenter resources with named sub-resources, by their collection's name in the Cloud API.
GatewayKind = Literal["natgateways", "applicationloadbalancers"]


class GatewayApi(Protocol):
    """NAT gateways and Application Load Balancers (each with its named rules) and target
    groups, for the reconcile engine; ``CloudApi`` includes it. Creates and updates returning
    JSON wait until the resource is AVAILABLE."""

    def list_gateways(self, kind: GatewayKind, dc_id: str) -> list[Json]: ...

    def find_gateway(self, kind: GatewayKind, dc_id: str, name: str) -> Json | None: ...

    def gateway_ready(self, kind: GatewayKind, dc_id: str, gw_id: str,
                      log: Log = None) -> Json: ...

    def create_gateway(self, kind: GatewayKind, dc_id: str, props: Json, subs: list[Json],
                       log: Log = None) -> Json: ...

    def update_gateway(self, kind: GatewayKind, dc_id: str, gw_id: str, props: Json | None,
                       subs: dict[str, Json | None], sub_ids: dict[str, str],
                       log: Log = None) -> None: ...

    def list_target_groups(self) -> list[Json]: ...

    def find_target_group(self, name: str) -> Json | None: ...

    def create_target_group(self, props: Json, log: Log = None) -> Json: ...

    def update_target_group(self, tg_id: str, props: Json, log: Log = None) -> Json: ...

    def target_group_ready(self, tg_id: str, log: Log = None) -> Json: ...


class RegistryApi(Protocol):
    """The IONOS Container Registry API (``resources/ionos_registry.py``)."""

    def list_registries(self) -> list[Json]: ...

    def find_registry(self, name: str) -> Json | None: ...

    def create_registry(self, props: Json, log: Log = None) -> Json: ...

    def update_registry(self, registry_id: str, patch: Json, log: Log = None) -> Json: ...

    def registry_ready(self, registry_id: str, log: Log = None) -> Json: ...

    def list_registry_tokens(self, registry_id: str) -> list[Json]: ...

    def create_registry_token(self, registry_id: str, props: Json,
                              log: Log = None) -> tuple[Json, dict[str, str]]:
        """The token and its credentials (``username``, ``password``: shown only now)."""
        ...

    def update_registry_token(self, registry_id: str, token_id: str, patch: Json,
                              log: Log = None) -> Json: ...

    def delete_registry_token(self, registry_id: str, token_id: str, log: Log = None) -> None: ...


class CloudApi(DatabaseApi, GatewayApi, RegistryApi, Protocol):
    """The IONOS Cloud API (Compute, Managed Kubernetes and DBaaS MariaDB) for the reconcile
    engine; satisfied by ``resources.ionos.IonosCloudResource``. Every ``create_*`` and
    ``update_*`` returning JSON waits until the resource is ready again; every wait gives
    ``log`` each state change and the time waited."""

    def find_datacenter(self, name: str) -> Json | None: ...

    def create_datacenter(self, props: Json, log: Log = None) -> Json: ...

    def update_datacenter(self, dc_id: str, props: Json, log: Log = None) -> None: ...

    def datacenter_ready(self, dc_id: str, log: Log = None) -> Json: ...

    def list_lans(self, dc_id: str) -> list[Json]: ...

    def create_lan(self, dc_id: str, props: Json, log: Log = None) -> Json: ...

    def update_lan(self, dc_id: str, lan_id: str, props: Json, log: Log = None) -> None: ...

    def list_k8s_clusters(self) -> list[Json]: ...

    def find_k8s_cluster(self, name: str) -> Json | None: ...

    def create_k8s_cluster(self, props: Json, log: Log = None) -> Json: ...

    def update_k8s_cluster(self, cluster_id: str, props: Json, log: Log = None) -> Json: ...

    def k8s_cluster_ready(self, cluster_id: str, log: Log = None) -> Json: ...

    def list_node_pools(self, cluster_id: str) -> list[Json]: ...

    def create_node_pool(self, cluster_id: str, props: Json, log: Log = None) -> Json: ...

    def update_node_pool(self, cluster_id: str, pool_id: str, props: Json,
                         log: Log = None) -> Json: ...

    def upgrade_node_pool(self, cluster_id: str, pool_id: str, props: Json,
                          log: Log = None) -> Json: ...

    def delete_node_pool(self, cluster_id: str, pool_id: str, log: Log = None) -> None: ...

    def node_pool_ready(self, cluster_id: str, pool_id: str, log: Log = None) -> Json: ...

    def list_mariadb_clusters(self) -> list[Json]: ...

    def find_mariadb(self, name: str) -> Json | None: ...

    def create_mariadb(self, props: Json, credentials: dict[str, str],
                       log: Log = None) -> Json: ...

    def update_mariadb(self, cluster_id: str, props: Json, log: Log = None) -> Json: ...

    def mariadb_ready(self, cluster_id: str, log: Log = None) -> Json: ...

    # The network edge (IP blocks, Network Load Balancers) and Cloud DNS.

    def list_ip_blocks(self) -> list[Json]: ...

    def find_ip_block(self, name: str) -> Json | None: ...

    def create_ip_block(self, props: Json, log: Log = None) -> Json: ...

    def update_ip_block(self, block_id: str, props: Json, log: Log = None) -> None: ...

    def ip_block_ready(self, block_id: str, log: Log = None) -> Json: ...

    def delete_ip_block(self, block_id: str, log: Log = None) -> None: ...

    def list_nlbs(self, dc_id: str) -> list[Json]: ...

    def find_nlb(self, dc_id: str, name: str) -> Json | None: ...

    def create_nlb(self, dc_id: str, props: Json, rules: list[Json], log: Log = None) -> Json: ...

    def update_nlb(self, dc_id: str, nlb_id: str, props: Json | None,
                   rules: dict[str, Json | None], rule_ids: dict[str, str],
                   log: Log = None) -> None: ...

    def nlb_ready(self, dc_id: str, nlb_id: str, log: Log = None) -> Json: ...

    def node_ips(self, cluster_id: str, pool_id: str) -> list[str]: ...

    def find_zone(self, name: str) -> Json | None: ...

    def create_zone(self, props: Json, log: Log = None) -> Json: ...

    def update_zone(self, zone_id: str, props: Json, log: Log = None) -> None: ...

    def list_records(self, zone_id: str) -> list[Json]: ...

    def write_records(self, zone_id: str, records: dict[str, Json | None],
                      record_ids: dict[str, str], log: Log = None) -> None: ...


class ClusterReader(Protocol):
    """Reads from the platform's Kubernetes API (all a certificate audit needs)."""

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> Json | None:
        """The object, or None when it does not exist."""
        ...


class ClusterWriter(ClusterReader, Protocol):
    """Reads and writes objects of the platform's Kubernetes API (server-side applies under one
    field manager)."""

    def apply(self, obj: Json, force: bool = True, dry_run: bool = False,
              subresource: str | None = None) -> Json:
        """Server-side apply of ``obj`` under our field manager (``force`` takes fields from
        other managers; ``dry_run`` asks what the server would store); returns the object as
        the server stored it."""
        ...

    def delete(self, api_version: str, kind: str, name: str,
               namespace: str | None = None, propagation: Propagation = "Background") -> bool:
        """Delete the object; False when it did not exist.

        Background (the default): the object goes at once and the garbage collector removes
        its dependents (a Job's pods) afterwards, so its name is free for the next create:
        callers that replace a leftover Job (backups/volume_job.py) rely on that. Foreground:
        the object stays (with a deletionTimestamp) until its dependents are gone, so a caller
        that waits for it to disappear knows they are."""
        ...


class ClusterApi(ClusterWriter, Protocol):
    """The platform's Kubernetes API; satisfied by ``resources.kubernetes.KubernetesResource``.
    Writes are server-side applies under one field manager."""

    def dynamic(self) -> object:
        """Connect and run discovery (once per process); raises LookupError when the cluster
        cannot be reached because it does not exist yet."""
        ...

    def list_managed(self, api_version: str, kind: str, namespace: str | None,
                     label_selector: str) -> list[Json]:
        """Objects of a kind carrying ``label_selector`` in ``namespace`` (None: across all
        namespaces), every page; [] when the API lacks the kind."""
        ...

    def serves(self, api_version: str, kind: str) -> str | None:
        """None when the server serves the kind in that version, else why not (naming the
        versions it serves)."""
        ...

    def patch_merge(self, api_version: str, kind: str, name: str, namespace: str | None,
                    patch: Json, subresource: str | None = None,
                    field_manager: str | None = None) -> Json:
        """A JSON merge patch (an update, as a controller or a CLI writes, not an apply)."""
        ...

    def namespaced(self, api_version: str, kind: str) -> bool:
        """Whether objects of this kind live in a namespace, as the API server's discovery
        says; raises when the API does not serve the kind."""
        ...

    def may(self, verb: str, api_version: str, kind: str,
            namespace: str | None = None) -> bool | None:
        """Whether the run's identity may ``verb`` the kind in ``namespace`` (None: across all
        namespaces), asked without trying (a SelfSubjectAccessReview); None when the server
        cannot say."""
        ...


class BackupCluster(ClusterWriter, Protocol):
    """What the backup engine needs of the Kubernetes API (volume snapshots, namespace exports,
    the volume agent's Jobs); satisfied by ``resources.kubernetes.KubernetesResource``."""

    def pod_log(self, name: str, namespace: str, tail_lines: int = 20) -> str:
        """The last ``tail_lines`` lines of a pod's (only) container's log."""
        ...

    def namespaced_kinds(self) -> tuple[tuple[str, str], ...]:
        """(apiVersion, kind) of every namespaced kind that can be listed, from discovery."""
        ...

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None,
             field_selector: str | None = None) -> Objects:
        """Objects of a kind (in ``namespace``, or all namespaces when None); raises with the
        API's ``status`` (403: not allowed) when the list is refused."""
        ...


class CertificateManager(Protocol):
    """IONOS Certificate Manager; satisfied by ``resources.ionos.IonosCloudResource``."""

    def list_certificates(self, page_size: int = 1000) -> list[Json]:
        """Every certificate, as flat dicts (``name``, ``certificate``, ...)."""
        ...


class BucketApi(Protocol):
    """S3 bucket settings, in the shapes of ``core.desired.bucket_state``; satisfied by
    ``resources.object_storage.ObjectStorageResource``."""

    def bucket_state(self, bucket: str, region: str) -> Json | None: ...

    def create_bucket(self, bucket: str, region: str) -> None: ...

    def set_bucket_versioning(self, bucket: str, region: str, enabled: bool) -> None: ...

    def set_bucket_lifecycle(self, bucket: str, region: str, rules: list[Json]) -> None: ...


class ChunkStore(Protocol):
    """Small S3 objects by key (the volume agent's chunks and indexes, manifests)."""

    def put_bytes(self, bucket: str, key: str, data: bytes, region: str | None = None,
                  content_type: str = "application/octet-stream") -> str:
        """Write one object, checked by its checksum on the server; returns its ETag."""
        ...

    def get_bytes(self, bucket: str, key: str, region: str | None = None) -> bytes | None:
        """One object's bytes, or None when the key does not exist; ``ObjectTooLarge`` when it
        is larger than ``core.small_objects.SMALL_OBJECT_MAX``."""
        ...

    def list_objects(self, bucket: str, prefix: str,
                     region: str | None = None) -> dict[str, tuple[int, str]]:
        """Every object under ``prefix``: key → (size, ETag without quotes)."""
        ...


class Upload(Protocol):
    """What a streamed upload or copy wrote (``resources.s3_transfer.UploadResult``)."""

    @property
    def size(self) -> int: ...

    @property
    def sha256(self) -> str: ...

    @property
    def seconds(self) -> float: ...


class BackupStore(ChunkStore, Protocol):
    """S3 objects for backups (streams in, streams out, cross-region copies); satisfied by
    ``resources.object_storage.ObjectStorageResource``."""

    @property
    def default_region(self) -> str: ...

    def endpoint_for(self, region: str, bucket: str | None = None) -> str:
        """The S3 endpoint of ``bucket``'s store, else of ``region`` (what the volume agent's
        Job connects to)."""
        ...

    def list_modified(self, bucket: str, prefix: str,
                      region: str | None = None) -> dict[str, datetime]:
        """Every object under ``prefix``: key → when it was last written (aware, UTC)."""
        ...

    def agent_credentials(self, bucket: str | None = None) -> dict[str, str]:
        """The S3 keys of ``bucket`` as a Job's environment variables (empty: the Job's own
        chain)."""
        ...

    def client(self, region: str | None = None, bucket: str | None = None) -> Any:
        """The S3 client of ``bucket``'s store, else of ``region`` (an SDK object: for calls
        the store has no method for)."""
        ...

    def call(self, describe: str, fn: Callable[[], T], log: Log = None) -> T:
        """``fn`` with bounded retries of transient errors; ``describe`` names the request."""
        ...

    def list_keys(self, bucket: str, prefix: str, region: str | None = None) -> list[str]:
        """Every key under ``prefix``, following the listing's continuation tokens."""
        ...

    def delete_keys(self, bucket: str, keys: list[str], region: str | None = None) -> int:
        """Delete the keys in batches of the API's limit; returns how many were deleted."""
        ...

    def upload_stream(self, bucket: str, key: str, chunks: Iterable[bytes],
                      region: str | None = None, content_type: str = "application/octet-stream",
                      part_size: int = 8 * 1024 * 1024, concurrency: int = 6,
                      log: Log = None) -> Upload:
        """Stream ``chunks`` into one object (multipart, bounded memory, sha256 on the fly); a
        failed upload leaves no object."""
        ...

    def open_stream(self, bucket: str, key: str, region: str | None = None,
                    chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """An object's bytes in chunks (raises when it does not exist)."""
        ...

    def sha256_of(self, bucket: str, key: str,
                  region: str | None = None) -> tuple[int, str] | None:
        """Re-read an object: (size, sha256), or None when it does not exist."""
        ...

    def copy_across(self, src_bucket: str, key: str, dst_bucket: str, dst_key: str | None = None,
                    src_region: str | None = None, dst_region: str | None = None,
                    log: Log = None) -> Upload:
        """Copy one object to another bucket, possibly in another region, streamed through."""
        ...


class ObjectStore(BucketApi, BackupStore, Protocol):
    """Everything of S3 the engines use: bucket settings and backup objects."""


class SnapshotApi(Protocol):
    """IONOS volume snapshots (the ``ionos-snapshot`` volume backups); satisfied by
    ``resources.ionos.IonosCloudResource``."""

    def list_snapshots(self) -> list[Json]: ...

    def find_volume(self, volume_id: str,
                    datacenter_id: str | None = None) -> tuple[str, Json] | None:
        """(datacenter id, volume JSON) of a volume; None when no datacenter holds it."""
        ...

    def create_volume_snapshot(self, datacenter_id: str, volume_id: str, name: str,
                               description: str = "", log: Log = None) -> Json:
        """Snapshot a volume and wait until it is done (never a second one of that name)."""
        ...

    def delete_snapshot(self, snapshot_id: str, log: Log = None) -> bool:
        """Delete a snapshot and wait; False when it was already gone."""
        ...


class DbaasBackups(Protocol):
    """The managed databases and the backups IONOS keeps of them, as a backup records them;
    satisfied by ``resources.ionos.IonosCloudResource``."""

    def mariadb_cluster_by_name(self, name: str) -> Json | None: ...

    def mariadb_backups(self, cluster_id: str) -> list[Json]: ...

    def find_postgres(self, name: str) -> Json | None: ...

    def postgres_backups(self, cluster_id: str) -> list[Json]: ...


class BackupCloud(SnapshotApi, DbaasBackups, Protocol):
    """What the backup engine needs of the IONOS APIs."""


class ScratchDatabase(Protocol):
    """A server a restore drill restores a dump into, compares and drops (by position: the
    MariaDB resource and a bound PostgreSQL login name the arguments differently)."""

    def restore(self, database: str, sql_chunks: Iterable[bytes], host: str, /) -> int: ...

    def table_stats(self, database: str, host: str, /) -> dict[str, Json]: ...

    def drop_database(self, database: str, host: str, /) -> None: ...


class Database(Protocol):
    """A MariaDB server for dumps and restore drills; satisfied by
    ``resources.database.DatabaseDumpResource``."""

    @property
    def host(self) -> str:
        """The configured host; empty: the caller resolves it (the DBaaS cluster's DNS name)."""
        ...

    @property
    def port(self) -> int: ...

    def tool_versions(self) -> dict[str, str]: ...

    def server_version(self, host: str | None = None) -> str: ...

    def table_stats(self, database: str, host: str | None = None) -> dict[str, Json]:
        """Row counts and checksums per table, to compare a restore with its source."""
        ...

    def dump(self, database: str, host: str | None = None) -> Iterator[bytes]:
        """A logical dump of ``database`` as chunks of SQL, streamed, never held whole."""
        ...

    def restore(self, database: str, sql_chunks: Iterable[bytes],
                host: str | None = None) -> int:
        """Feed the SQL into ``database`` with client commands refused; returns the bytes
        restored."""
        ...

    def drop_database(self, database: str, host: str | None = None) -> None: ...


@dataclass(frozen=True)
class PgLogin:
    """Where and as whom to connect to a PostgreSQL server; the password stays out of
    ``repr``."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)

    def where(self) -> str:
        """``user@host:port``, for messages."""
        return f"{self.user}@{self.host}:{self.port}"


class PostgresDumps(Protocol):
    """The managed PostgreSQL clusters, dumped and restored per login; satisfied by
    ``resources.postgres_dump.PostgresDumpResource``."""

    @property
    def host(self) -> str:
        """The configured host; empty: the caller resolves it (the cluster's DNS name)."""
        ...

    def login(self, cluster: str, host: str) -> PgLogin:
        """The login of ``cluster`` at ``host``."""
        ...

    def tool_versions(self) -> dict[str, str]: ...

    def server_version(self, login: PgLogin) -> str: ...

    def table_stats(self, login: PgLogin, database: str) -> dict[str, Json]: ...

    def dump(self, login: PgLogin, database: str) -> Iterator[bytes]:
        """A ``pg_dump --format=custom`` archive of ``database``, streamed."""
        ...

    def restore(self, login: PgLogin, scratch: str, archive: Iterable[bytes]) -> int:
        """Restore an archive into a fresh scratch database; returns the bytes fed."""
        ...

    def drop_database(self, login: PgLogin, scratch: str) -> None: ...


class TlsProbe(Protocol):
    """TLS handshakes with served endpoints; satisfied by ``resources.tls.TlsProbeResource``."""

    def probe(self, endpoints: Sequence[ProbeTarget], extra_bundles: Sequence[str] = (),
              concurrency: int | None = None,
              timeout_seconds: float | None = None) -> list[ProbeResult]:
        """Handshake with every endpoint (bounded concurrency and time); what each served."""
        ...
