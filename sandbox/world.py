"""The links between sandbox services that a real cloud wires together.

IONOS node pools become Kubernetes Node objects; a bound PVC is backed by an IONOS volume whose
id is the PV's CSI volume handle; a cluster's kubeconfig points at the sandbox Kubernetes API; the
TLS endpoints serve the Secrets cert-manager issues, as an ingress would.
Services register callbacks here instead of importing each other.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class World:
    kubernetes_url: str = ""
    # The bearer token the Kubernetes API requires; random, so only those given it get in.
    kubernetes_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # Set by the Kubernetes service: the CA (PEM) of its TLS certificate, for kubeconfigs.
    kubernetes_ca_pem: str = ""
    # Set by the IONOS service: create a volume in the (first) datacenter, return its id.
    provision_volume: Callable[[str, int], str] | None = None
    # Set by the IONOS service: grow a volume (id) to a size in GB; LookupError if it is gone.
    resize_volume: Callable[[str, int], None] | None = None
    # Set by the IONOS service: does a volume id still exist?
    volume_exists: Callable[[str], bool] | None = None
    # Set by the Kubernetes service: replace the Node objects of a node pool.
    set_pool_nodes: Callable[[str, list[dict[str, Any]]], None] | None = None
    # Set by the Kubernetes service: evict a cordoned node's pods (force: delete them), return
    # the ``namespace/name`` of those still on it.
    drain_node: Callable[[str, bool], list[str]] | None = None
    # Set by the assembly: called after cert-manager writes or re-issues a TLS Secret, with the
    # Certificate's DNS names, the Secret's tls.crt (leaf and chain), tls.key and ca.crt (PEM).
    on_tls_secret: Callable[[list[str], str, str, str], None] | None = None
    # Address of a real MariaDB server the DBaaS clusters point at, if one answered.
    mariadb_host: str | None = None
    mariadb_port: int = 3306
    # Address of a real PostgreSQL server the DBaaS PostgreSQL clusters point at, if one answered.
    postgres_host: str | None = None
    postgres_port: int = 5432
    # Set by the assembly: the S3 endpoint, which stands for IONOS S3's regional endpoints
    # (https://s3.<region>.ionoscloud.com) wherever a simulated controller calls them.
    s3_url: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)
    extras: dict[str, Any] = field(default_factory=dict)


def kubeconfig_cluster(server_url: str, ca_pem: str) -> dict[str, str]:
    """A kubeconfig ``cluster`` for the sandbox Kubernetes API: ``https`` and its CA when one
    is known (the API's port speaks TLS and plain HTTP)."""
    if not ca_pem:
        return {"server": server_url}
    if server_url.startswith("http://"):
        server_url = "https://" + server_url[len("http://"):]
    return {"server": server_url,
            "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode()}
