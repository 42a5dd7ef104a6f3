"""Each resource satisfies the ``platform_assets.core.ports`` Protocol the engines type it as.

Checked by mypy, in one place for all of them; nothing here runs (the resources stay unimported
until a run needs them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from platform_assets.core import ports
    from resources.database import DatabaseDumpResource
    from resources.ionos import IonosCloudResource
    from resources.kubernetes import KubernetesResource
    from resources.object_storage import ObjectStorageResource
    from resources.postgres_dump import PostgresDumpResource
    from resources.tls import TlsProbeResource

    def _conforms(ionos: IonosCloudResource, kubernetes: KubernetesResource,
                  object_storage: ObjectStorageResource, database: DatabaseDumpResource,
                  tls: TlsProbeResource, postgres: PostgresDumpResource) -> None:
        cloud: ports.CloudApi = ionos
        certificates: ports.CertificateManager = ionos
        cluster: ports.ClusterApi = kubernetes
        store: ports.ObjectStore = object_storage
        db: ports.Database = database
        probe: ports.TlsProbe = tls
        backup_cloud: ports.BackupCloud = ionos
        backup_cluster: ports.BackupCluster = kubernetes
        scratch: ports.ScratchDatabase = database
        pg: ports.PostgresDumps = postgres
        del cloud, certificates, cluster, store, db, probe, backup_cloud, backup_cluster
        del scratch, pg
