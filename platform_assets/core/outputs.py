"""Infrastructure outputs wired into components: the values each kind of infrastructure asset
publishes (``spec.models.INFRASTRUCTURE_OUTPUTS`` names them) and the ConfigMap or Secret that
carries them into a component's namespace. Pure: no SDKs, no Dagster.

Plain values come from the resource as the API returns it; secret values (passwords) come from
the environment variables the spec names and only ever go into a Secret's ``data``, which every
plan redacts.
"""

from __future__ import annotations

import base64
from typing import Any

from platform_assets.spec.models import (
    Component,
    InfrastructureInput,
    InMemoryDB,
    MariaDB,
    PostgresCluster,
)

MARIADB_PORT = 3306  # the DBaaS API has no port field: IONOS MariaDB listens on 3306
POSTGRES_PORT = 5432  # nor has the PostgreSQL API: IONOS PostgreSQL listens on 5432
REDIS_PORT = 6379  # nor has the In-Memory DB API: it serves Redis's port


def not_yet(what: str) -> str:
    """The value of an output whose resource does not exist yet (a dry run)."""
    return f"(known after the {what} is created)"


def _dns_name(obj: dict[str, Any] | None, what: str) -> str:
    return str(((obj or {}).get("metadata") or {}).get("dnsName") or not_yet(what))


def _with_password(values: dict[str, str], password: str | None) -> dict[str, str]:
    if password is not None:
        values["password"] = password
    return values


def mariadb_values(db: MariaDB, cluster: dict[str, Any] | None,
                   password: str | None = None) -> dict[str, str]:
    """The MariaDB cluster's outputs (``password`` only when given)."""
    return _with_password({"host": _dns_name(cluster, "MariaDB cluster"),
                           "port": str(MARIADB_PORT), "database": db.database,
                           "user": db.username}, password)


def postgres_values(pg: PostgresCluster, cluster: dict[str, Any] | None,
                    password: str | None = None) -> dict[str, str]:
    """A PostgreSQL cluster's outputs (``password`` only when given)."""
    return _with_password({"host": _dns_name(cluster, "PostgreSQL cluster"),
                           "port": str(POSTGRES_PORT), "database": pg.database,
                           "user": pg.username}, password)


def inmemorydb_values(mem: InMemoryDB, cluster: dict[str, Any] | None,
                     password: str | None = None) -> dict[str, str]:
    """An in-memory database's outputs (``password`` only when given)."""
    return _with_password({"host": _dns_name(cluster, "in-memory database"),
                           "port": str(REDIS_PORT), "user": mem.username}, password)


def ip_block_values(block: dict[str, Any] | None) -> dict[str, str]:
    """An IP block's outputs: ``ip`` (its first address, the one DNS records and the load
    balancer use) and ``ips`` (every reserved address, comma-separated)."""
    ips = [str(ip) for ip in ((block or {}).get("properties") or {}).get("ips") or []]
    if not ips:
        return {"ip": not_yet("IP block"), "ips": not_yet("IP block")}
    return {"ip": ips[0], "ips": ",".join(ips)}


def output_object(component: Component, wiring: InfrastructureInput,
                  values: dict[str, str]) -> dict[str, Any]:
    """The ConfigMap or Secret (``Opaque``, base64 ``data``) holding the outputs ``wiring``
    asks for under its keys, in the component's namespace."""
    data = {key: values[output] for output, key in sorted(wiring.keys.items())}
    kind, name = wiring.target
    meta = {"name": name, "namespace": component.namespace}
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
