"""One ConfigurableResource per outside system, wired with secrets from the environment.

Keys: ``ionos`` (IonosCloudResource), ``kubernetes`` (KubernetesResource), ``object_storage``
(ObjectStorageResource), ``git`` (GitRepositoryResource), ``alertmanager``
(AlertmanagerResource), ``tls`` (TlsProbeResource), ``database`` (DatabaseDumpResource),
``postgres_database`` (PostgresDumpResource).
What is built here are their configs (``resources.config``: ``IonosCloudConfig``...), which the
``Definitions`` bind; a run gets each resource from its config's ``create_resource`` and the CLI
from its ``open()``, so the resources' modules are imported then, not when the location loads.
Nothing here connects anywhere: clients are built on first use.

The IONOS, Kubernetes and S3 resources read their credentials from the environment when their
first client is built (the same for the CLI and for runs; ``docs/credentials.md``). The database
password goes through ``env``: ``dg.EnvVar`` for the ``Definitions``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from platform_assets.core.graph import Graph

if TYPE_CHECKING:  # the credentials module is imported when a spec names its own variables
    from resources.credentials import IonosCredentialNames

# The name of an environment variable -> its value (or a ``dg.EnvVar`` that resolves later).
EnvLookup = Callable[[str], str]


def _env_var(name: str) -> str:
    import dagster as dg

    return dg.EnvVar(name)


def build_resources(graph: Graph, env: EnvLookup = _env_var,
                    shared: bool = True) -> dict[str, Any]:
    """Every resource the ``Definitions`` bind, by key (an environment's own resources are
    keyed ``<key>_<environment>``; ``names.scoped``). ``shared=False``: only the environment's
    own, for the second and later environments of a fleet (Git, Alertmanager and TLS are the
    first one's)."""
    common = {**sensor_resources(graph), **tls_resources(graph)} if shared else {}
    return {**common, **core_resources(graph, env), **backup_resources(graph, env)}


# Environments whose resources are configured alike share one instance (a fleet of twenty
# builds a few, not sixty: each ConfigurableResource infers its config schema when built).
@functools.lru_cache(maxsize=64)
def _object_storage(stores: tuple[tuple[str | None, ...], ...] = ()) -> Any:
    from resources.config import ObjectStorageConfig, S3StoreConfig

    return ObjectStorageConfig(endpoint_url_env="AWS_ENDPOINT_URL_S3", stores=[
        S3StoreConfig(bucket=str(bucket), region=str(region), endpoint_url=url,
                      endpoint_env=url_env, access_key_id_env=str(key_id_env),
                      secret_access_key_env=str(key_env))
        for bucket, region, url, url_env, key_id_env, key_env in stores])


def object_stores(graph: Graph) -> tuple[tuple[str | None, ...], ...]:
    """The spec's ``object_stores`` as the object storage resource routes them: bucket, region,
    endpoint or its variable, and the names (never the values) of the key variables."""
    return tuple((s.bucket, s.region, s.endpoint, s.endpoint_env, s.credentials.access_key_id_env,
                  s.credentials.secret_access_key_env) for s in graph.spec.object_stores)


@functools.lru_cache(maxsize=1)
def _no_database() -> Any:
    from resources.config import DatabaseDumpConfig

    return DatabaseDumpConfig()


@functools.lru_cache(maxsize=64)
def _ionos(location: str, names: IonosCredentialNames | None) -> Any:
    from resources.config import IonosCloudConfig

    # None: the shared variables (IONOS_TOKEN, or IONOS_USERNAME and IONOS_PASSWORD).
    token, username, password, environment = (
        (names.token, names.username, names.password, names.environment) if names
        else (None, None, None, None))
    return IonosCloudConfig(location=location, retry_attempts=8, retry_max_wait_seconds=30.0,
                              token_env=token, username_env=username, password_env=password,
                              environment=environment)


def ionos_credential_names(graph: Graph) -> IonosCredentialNames | None:
    """The variables ``graph``'s environment reads its IONOS credentials from, when it names its
    own (``ionos.credentials``); None: the shared IONOS_TOKEN or IONOS_USERNAME/PASSWORD."""
    own = graph.spec.ionos.credentials if graph.spec.ionos else None
    if own is None:
        return None
    from resources.credentials import IonosCredentialNames

    return IonosCredentialNames(own.token_env, own.username_env, own.password_env,
                                graph.environment)


def _environ(name: str) -> str:
    return os.environ.get(name, "")


def core_resources(graph: Graph, env: EnvLookup = _environ) -> dict[str, Any]:
    """``ionos``, ``kubernetes`` and ``object_storage``, the same for the CLI and the Definitions.

    They hold no secret: each reads its credentials when its first client is built, as the tools
    platform engineers use do (``docs/credentials.md`` has the table): IONOS_TOKEN or
    IONOS_USERNAME/IONOS_PASSWORD, or the variables the environment's ``ionos.credentials``
    names (``resources.credentials``; IONOS_API_URL, IONOS_MARIADB_URL
    and IONOS_CERTMANAGER_URL only override the endpoints, which otherwise follow the
    datacenter's location); the kubeconfig (``resources.kubeconfig``); boto3's credential chain
    with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY as an override. AWS_ENDPOINT_URL_S3, when set
    (the sandbox), replaces every region's S3 endpoint; unset, each region uses its IONOS one.
    The buckets of ``object_stores`` use their store's endpoint and the variables it names.

    An environment on an existing cluster (``cluster:``) has no ``ionos`` resource: its
    Kubernetes resource reads the kubeconfig whose path is in the variable the spec names
    (through ``env``: read at once by the CLI, ``dg.EnvVar`` in the Definitions), so it needs no
    IONOS credentials."""
    from resources.config import KubernetesConfig

    spec, key = graph.spec, _keys(graph)
    storage = {key("object_storage"): _object_storage(object_stores(graph))}
    if spec.cluster is not None:
        return {key("kubernetes"): KubernetesConfig(
            kubeconfig_path=env(spec.cluster.kubeconfig_env), context=spec.cluster.context,
            cluster_name=spec.cluster.name), **storage}
    ionos_spec = spec.ionos_infra
    ionos = _ionos(ionos_spec.datacenter.location, ionos_credential_names(graph))
    return {
        key("ionos"): ionos,
        key("kubernetes"): KubernetesConfig(
            from_ionos_cluster=True, cluster_name=ionos_spec.cluster.name, ionos=ionos),
        **storage,
    }


def _keys(graph: Graph) -> Callable[[str], str]:
    from platform_assets.names import scoped

    return lambda key: scoped(key, graph.environment)


def sensor_resources(graph: Graph) -> dict[str, Any]:
    """``git`` and ``alertmanager`` (their URLs default to $PLATFORM_GIT_URL/$ALERTMANAGER_URL)."""
    from resources.config import AlertmanagerConfig, GitRepositoryConfig

    git = graph.spec.git
    return {
        "git": GitRepositoryConfig(url=git.url, branch=git.branch, spec_path=git.spec_path),
        "alertmanager": AlertmanagerConfig(),
    }


def tls_resources(graph: Graph) -> dict[str, Any]:
    """``tls``: concurrency and timeout from ``certificates``; the resolve map and the extra CA
    bundle default to $PLATFORM_TLS_RESOLVE and $SANDBOX_CA_BUNDLE, read when probing."""
    from platform_assets.spec.models import parse_duration
    from resources.config import TlsProbeConfig

    certs = graph.spec.certificates
    return {"tls": TlsProbeConfig(
        concurrency=certs.concurrency,
        timeout_seconds=parse_duration(certs.timeout).total_seconds(),
    )}


def backup_resources(graph: Graph, env: EnvLookup = _env_var) -> dict[str, Any]:
    """``database``: the managed MariaDB, dumped as the spec's user with the password from the
    environment variable the spec names (``ionos.mariadb.password_env``). The host is the DBaaS
    cluster's DNS name, looked up at run time; the port is the one IONOS serves (3306)."""
    from resources.config import DatabaseDumpConfig

    db, key = graph.spec.mariadb, _keys(graph)
    # Only database backup targets ask for these, and a target needs its database in the spec.
    # An environment of a fleet binds only those it has: twenty environments without databases
    # would bind forty resources nothing asks for (the code location's load time).
    lean = graph.environment is not None
    has_postgres = bool(graph.spec.ionos and graph.spec.ionos.postgres)
    out = {} if lean and not has_postgres else {
        key("postgres_database"): postgres_resource(graph)}
    if db is None:
        return out if lean else {key("database"): _no_database(), **out}
    # Restore drills run as an account limited to `drill\_%`.* when one is configured (servers
    # where the dumping account may not create users; resources/database.py).
    drill: dict[str, Any] = {}
    if os.environ.get("MARIADB_DRILL_USER"):
        drill = {"drill_user": os.environ["MARIADB_DRILL_USER"],
                 "drill_password": env("MARIADB_DRILL_PASSWORD")}
    return {key("database"): DatabaseDumpConfig(user=db.username,
                                                  password=env(db.password_env), **drill),
            **out}


def postgres_resource(graph: Graph) -> Any:
    """``postgres_database``: each ``ionos.postgres`` cluster's admin user and the name of the
    variable holding its password (read when a dump or drill logs in, never held in config)."""
    pgs = graph.spec.ionos.postgres if graph.spec.ionos else []
    return _postgres(tuple((pg.name, pg.username, pg.password_env) for pg in pgs))


@functools.lru_cache(maxsize=64)
def _postgres(clusters: tuple[tuple[str, str, str], ...]) -> Any:
    from resources.config import PostgresDumpConfig

    return PostgresDumpConfig(users={name: user for name, user, _ in clusters},
                                password_envs={name: env for name, _, env in clusters})
