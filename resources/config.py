"""What each resource is configured with, and nothing else: the classes the ``Definitions`` bind.

Dagster needs a resource's fields when the code location loads (it builds the config schema the
UI's launchpad shows) but none of its methods. So each resource is two classes: here its config
(a ``ConfigurableResource`` with fields only), and in its own module the resource itself, a
subclass that adds the methods (``IonosCloudResource(IonosCloudConfig)``). When a run or a tick
initialises a resource, Dagster calls ``create_resource``, which imports that module and hands
out the subclass with the same values; the module's code is compiled then, not at every load.

Code that has a config and needs the methods (a sensor's resource parameter, a nested resource)
asks for them with ``open()``; on the resource itself, ``open()`` is the resource.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from platform_assets.names import FIELD_MANAGER

if TYPE_CHECKING:
    from resources.alertmanager import AlertmanagerResource
    from resources.database import DatabaseDumpResource
    from resources.git import GitRepositoryResource
    from resources.ionos import IonosCloudResource
    from resources.kubernetes import KubernetesResource
    from resources.object_storage import ObjectStorageResource
    from resources.postgres_dump import PostgresDumpResource
    from resources.tls import TlsProbeResource

# Bytes of a dump read from its pipe at a time: as much as the widened pipe holds
# (``resources.dump_tools._widen_pipe``). A 1 MiB buffer is still in the cache when zstd takes
# it, and freed ones are used again by malloc; 4 MiB ones each cost fresh page faults (about
# 0.1 s of CPU a GiB).
STREAM_CHUNK = 1024 * 1024


class IonosCloudConfig(dg.ConfigurableResource):
    """IONOS Cloud credentials and endpoints. Token (Bearer) or username/password (Basic)."""

    # Unset (None) means: the IONOS_* variable, else IONOS's endpoint (``resources.credentials``);
    # the regional DBaaS and Certificate Manager endpoints follow ``location``.
    api_url: str | None = None
    mariadb_url: str | None = None
    certmanager_url: str | None = None
    location: str | None = None
    # DBaaS PostgreSQL (resources/ionos_dbaas.py); unset: IONOS_POSTGRES_URL, else regional.
    postgres_url: str | None = None
    inmemorydb_url: str | None = None  # unset: IONOS_INMEMORYDB_URL, else regional
    registry_url: str | None = None  # Container Registry; unset: IONOS_REGISTRY_URL, else global
    # Explicit credentials; unset, IONOS_TOKEN or IONOS_USERNAME/IONOS_PASSWORD (or *_FILE) are
    # read when the first client is built.
    token: str | None = Field(default=None, repr=False)  # secrets stay out of repr()
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    # The variables an environment of the spec reads its credentials from instead
    # (``ionos.credentials``; names, not values), and the environment, for messages.
    token_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    environment: str | None = None
    retry_attempts: int = 6
    retry_max_wait_seconds: float = 30.0
    request_timeout_seconds: float = 1800.0
    poll_interval_seconds: float = 1.0
    http_timeout_seconds: float = 60.0

    def create_resource(self, context: dg.InitResourceContext) -> IonosCloudResource:
        return self.open()

    def open(self) -> IonosCloudResource:
        """The resource with these values and its methods."""
        from resources.ionos import IonosCloudResource

        return IonosCloudResource(**dict(self))


class KubernetesConfig(dg.ConfigurableResource):
    """Access to the platform's Kubernetes API."""

    kubeconfig_path: str | None = None
    context: str | None = None
    in_cluster: bool | None = None
    from_ionos_cluster: bool = False
    cluster_name: str | None = None
    ionos: IonosCloudConfig | None = None
    field_manager: str = FIELD_MANAGER
    retry_attempts: int = 6
    retry_max_wait_seconds: float = 30.0

    def create_resource(self, context: dg.InitResourceContext) -> KubernetesResource:
        return self.open()

    def open(self) -> KubernetesResource:
        """The resource with these values and its methods."""
        from resources.kubernetes import KubernetesResource

        return KubernetesResource(**dict(self))


class S3StoreConfig(dg.Config):
    """A bucket of an S3-compatible store outside IONOS (the spec's ``object_stores``): its
    endpoint (or the variable holding it), region, and the variables holding its keys."""

    bucket: str
    region: str
    endpoint_url: str | None = None
    endpoint_env: str | None = None
    access_key_id_env: str
    secret_access_key_env: str


class ObjectStorageConfig(dg.ConfigurableResource):
    """S3 credentials and endpoint; the buckets of ``stores`` use their store's own."""

    # Explicit keys override boto3's credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
    # AWS_PROFILE and the shared credentials file, web identity); unset, the chain decides.
    access_key_id: str | None = None
    secret_access_key: str | None = Field(default=None, repr=False)  # secrets stay out of repr()
    endpoint_url: str | None = None
    endpoint_url_env: str | None = None  # name of a variable that may override every endpoint
    default_region: str = "eu-central-3"
    retry_attempts: int = 6
    retry_max_wait_seconds: float = 30.0
    max_pool_connections: int = 16
    # Buckets of object stores outside IONOS: each with its own endpoint, region and keys.
    stores: list[S3StoreConfig] = []

    def create_resource(self, context: dg.InitResourceContext) -> ObjectStorageResource:
        return self.open()

    def open(self) -> ObjectStorageResource:
        """The resource with these values and its methods."""
        from resources.object_storage import ObjectStorageResource

        return ObjectStorageResource(**dict(self))


class GitRepositoryConfig(dg.ConfigurableResource):
    """The Git repository holding the platform spec (default URL: ``$PLATFORM_GIT_URL``)."""

    url: str | None = None
    branch: str = "main"
    spec_path: str = "platform.yaml"
    cache_dir: str | None = None
    timeout_seconds: float = 60.0
    checkout_dir: str | None = None
    allowed_signers: str | None = None

    def create_resource(self, context: dg.InitResourceContext) -> GitRepositoryResource:
        return self.open()

    def open(self) -> GitRepositoryResource:
        """The resource with these values and its methods."""
        from resources.git import GitRepositoryResource

        return GitRepositoryResource(**dict(self))


class AlertmanagerConfig(dg.ConfigurableResource):
    """Alertmanager API v2 endpoint (default URL ``$ALERTMANAGER_URL``)."""

    url: str | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)  # secrets stay out of repr()
    bearer_token: str | None = Field(default=None, repr=False)
    ca_file: str | None = Field(default=None, description="PEM CA bundle that signs the "
                                "server's certificate (default $ALERTMANAGER_CA_FILE; unset: "
                                "the system CAs)")
    timeout_seconds: float = 10.0
    retry_attempts: int = 3
    # An answer is read into memory whole; 10,000 alerts are about 10 MB.
    max_response_bytes: int = 64 * 1024 * 1024

    def create_resource(self, context: dg.InitResourceContext) -> AlertmanagerResource:
        return self.open()

    def open(self) -> AlertmanagerResource:
        """The resource with these values and its methods."""
        from resources.alertmanager import AlertmanagerResource

        return AlertmanagerResource(**dict(self))


class TlsProbeConfig(dg.ConfigurableResource):
    """TLS handshakes to served endpoints (SNI, bounded concurrency, per-endpoint timeouts)."""

    resolve: str | None = None
    ca_bundle: str | None = None
    use_system_store: bool = True
    concurrency: int = 32
    timeout_seconds: float = 5.0

    def create_resource(self, context: dg.InitResourceContext) -> TlsProbeResource:
        return self.open()

    def open(self) -> TlsProbeResource:
        """The resource with these values and its methods."""
        from resources.tls import TlsProbeResource

        return TlsProbeResource(**dict(self))


class DatabaseDumpConfig(dg.ConfigurableResource):
    """A MariaDB server reached with the ``mariadb-dump`` and ``mariadb`` clients.

    ``host`` empty means: not configured here, the caller resolves the host (the backup asset
    asks the IONOS DBaaS API for the cluster's DNS name).
    """

    host: str = ""
    port: int = 3306
    user: str = "root"
    password: str = Field(default="", repr=False)  # secrets stay out of repr()
    dump_binary: str = "mariadb-dump"
    client_binary: str = "mariadb"
    connect_timeout_seconds: int = 10
    chunk_size: int = STREAM_CHUNK
    # An account for restore drills whose grants cover `drill\_%`.* only (for servers where the
    # dumping account may not create users); empty: a user is created for each restore.
    drill_user: str = ""
    # A CA file: every connection (dump, restore, pymysql) uses TLS and verifies the server's
    # certificate and host name against it, and fails when the server offers no TLS. Empty: no
    # TLS, for servers that offer none (the sandbox's MariaDB).
    ssl_ca: str = ""
    drill_password: str = Field(default="", repr=False)

    def create_resource(self, context: dg.InitResourceContext) -> DatabaseDumpResource:
        return self.open()

    def open(self) -> DatabaseDumpResource:
        """The resource with these values and its methods."""
        from resources.database import DatabaseDumpResource

        return DatabaseDumpResource(**dict(self))


class PostgresDumpConfig(dg.ConfigurableResource):
    """The managed PostgreSQL clusters, reached with ``pg_dump``, ``pg_restore`` and psycopg2.

    ``users`` and ``password_envs`` map a cluster's name to its admin user and to the name of
    the environment variable holding its password (read when a login is made, also as
    ``*_FILE``); ``host`` empty means: the caller resolves it (the cluster's ``dnsName``).
    """

    host: str = ""
    port: int = 5432
    users: dict[str, str] = Field(default_factory=dict)
    password_envs: dict[str, str] = Field(default_factory=dict)
    sslmode: str = Field(default="prefer", description="libpq sslmode, e.g. verify-full")
    sslrootcert: str = ""
    pg_dump_binary: str = "pg_dump"
    pg_restore_binary: str = "pg_restore"
    connect_timeout_seconds: int = 10
    chunk_size: int = STREAM_CHUNK

    def create_resource(self, context: dg.InitResourceContext) -> PostgresDumpResource:
        return self.open()

    def open(self) -> PostgresDumpResource:
        """The resource with these values and its methods."""
        from resources.postgres_dump import PostgresDumpResource

        return PostgresDumpResource(**dict(self))
