"""One ConfigurableResource per outside system, wired with secrets from the environment.

Keys: ``ionos`` (IonosCloudResource), ``kubernetes`` (KubernetesResource), ``object_storage``
(ObjectStorageResource), ``git`` (GitRepositoryResource), ``alertmanager``
(AlertmanagerResource), ``tls`` (TlsProbeResource), ``database`` (DatabaseDumpResource).
Nothing here connects anywhere: clients are built on first use.

Secrets and endpoints come from the environment through ``env``: for the ``Definitions`` it is
``dg.EnvVar`` (read when a run uses the resource); the command line, which runs outside Dagster,
passes a lookup that reads them at once (``platform_assets.__main__.resources_from_env``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from platform_assets.core.graph import Graph

# The name of an environment variable -> its value (or a ``dg.EnvVar`` that resolves later).
EnvLookup = Callable[[str], str]


def _env_var(name: str) -> str:
    import dagster as dg

    return dg.EnvVar(name)


def build_resources(graph: Graph, env: EnvLookup = _env_var) -> dict[str, Any]:
    """Every resource the ``Definitions`` bind, by key."""
    return {**sensor_resources(graph), **tls_resources(graph), **core_resources(graph, env),
            **backup_resources(graph, env)}


def endpoint_defaults() -> dict[str, str]:
    """The IONOS endpoints' variables and the production URLs the resource defaults to (for a
    lookup that reads the environment at once, where an unset endpoint means production)."""
    from resources.ionos import IonosCloudResource

    fields = IonosCloudResource.model_fields
    return {"IONOS_API_URL": fields["api_url"].default,
            "IONOS_MARIADB_URL": fields["mariadb_url"].default,
            "IONOS_CERTMANAGER_URL": fields["certmanager_url"].default}


def core_resources(graph: Graph, env: EnvLookup = _env_var) -> dict[str, Any]:
    """``ionos``, ``kubernetes`` (kubeconfig from the spec's IONOS cluster, or in-cluster) and
    ``object_storage``. Secrets and endpoints are ``dg.EnvVar``s, resolved only when a run uses
    the resource: IONOS_TOKEN, IONOS_API_URL, IONOS_MARIADB_URL, IONOS_CERTMANAGER_URL,
    AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for production, set the URLs to IONOS's:
    https://api.ionos.com/cloudapi/v6, https://mariadb.de-fra.ionos.com/v2,
    https://certificate-manager.de-fra.ionos.com). AWS_ENDPOINT_URL_S3, when set (the sandbox),
    replaces every region's S3 endpoint; unset, each region uses its IONOS endpoint."""
    from resources.ionos import IonosCloudResource
    from resources.kubernetes import KubernetesResource
    from resources.object_storage import ObjectStorageResource

    ionos = IonosCloudResource(
        token=env("IONOS_TOKEN"),
        api_url=env("IONOS_API_URL"),
        mariadb_url=env("IONOS_MARIADB_URL"),
        certmanager_url=env("IONOS_CERTMANAGER_URL"),
        retry_attempts=8,
        retry_max_wait_seconds=30.0,
    )
    return {
        "ionos": ionos,
        "kubernetes": KubernetesResource(
            from_ionos_cluster=True, cluster_name=graph.spec.ionos.cluster.name, ionos=ionos),
        "object_storage": ObjectStorageResource(
            access_key_id=env("AWS_ACCESS_KEY_ID"),
            secret_access_key=env("AWS_SECRET_ACCESS_KEY"),
            endpoint_url_env="AWS_ENDPOINT_URL_S3",
        ),
    }


def sensor_resources(graph: Graph) -> dict[str, Any]:
    """``git`` and ``alertmanager`` (their URLs default to $PLATFORM_GIT_URL/$ALERTMANAGER_URL)."""
    from resources.alertmanager import AlertmanagerResource
    from resources.git import GitRepositoryResource

    git = graph.spec.git
    return {
        "git": GitRepositoryResource(url=git.url, branch=git.branch, spec_path=git.spec_path),
        "alertmanager": AlertmanagerResource(),
    }


def tls_resources(graph: Graph) -> dict[str, Any]:
    """``tls``: concurrency and timeout from ``certificates``; the resolve map and the extra CA
    bundle default to $PLATFORM_TLS_RESOLVE and $SANDBOX_CA_BUNDLE, read when probing."""
    from platform_assets.spec.models import parse_duration
    from resources.tls import TlsProbeResource

    certs = graph.spec.certificates
    return {"tls": TlsProbeResource(
        concurrency=certs.concurrency,
        timeout_seconds=parse_duration(certs.timeout).total_seconds(),
    )}


def backup_resources(graph: Graph, env: EnvLookup = _env_var) -> dict[str, Any]:
    """``database``: the managed MariaDB, dumped as the spec's user with the password from the
    environment variable the spec names (``ionos.mariadb.password_env``). The host is the DBaaS
    cluster's DNS name, looked up at run time; the port is the one IONOS serves (3306)."""
    from resources.database import DatabaseDumpResource

    db = graph.spec.ionos.mariadb
    if db is None:
        return {"database": DatabaseDumpResource()}
    return {"database": DatabaseDumpResource(user=db.username,
                                             password=env(db.password_env))}
