"""The IONOS DBaaS PostgreSQL API v2 (``ionoscloud_dbaas_postgres`` 3.x) and In-Memory DB API
v2 (``ionoscloud_dbaas_inmemorydb`` 1.x) for ``IonosCloudResource``, which mixes
``IonosDatabases`` in.

The calls go through the resource's bounded retries and waits; the methods only say which SDK
call to make and how to read its answer. Credentials given to a create never leave the call.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Log = Callable[[str], Any] | None

POSTGRES_URL_PATTERN = "https://postgresql.{region}.ionos.com"
IONOS_POSTGRES_URL = "IONOS_POSTGRES_URL"
INMEMORYDB_URL_PATTERN = "https://in-memory-db.{region}.ionos.com/v2"
IONOS_INMEMORYDB_URL = "IONOS_INMEMORYDB_URL"


class _Resource(Protocol):
    """What the mixin uses of ``IonosCloudResource``."""

    postgres_url: str | None
    inmemorydb_url: str | None
    location: str | None

    def _client_once(self, key: str, build: Callable[[], Any]) -> Any: ...

    def call(self, describe: str, fn: Callable[[], T], log: Log = None) -> T: ...

    def create_once(self, describe: str, create: Callable[[], T], find: Callable[[], Any],
                    log: Log = None) -> Any: ...

    def wait_until(self, describe: str, fetch: Callable[[], T], ready: Callable[[T], bool],
                   failed: Callable[[T], str | None] = ..., *, log: Log = None,
                   target: str = ..., state: Callable[[T], str] = ...) -> T: ...

    def to_json(self, model: Any) -> Any: ...

    def _find_named(self, items: Any, name: str, key: str = "name") -> dict[str, Any] | None: ...

    def _dbaas_client(self, sdk: Any, host: str) -> Any: ...

    def list_postgres_clusters(self) -> list[dict[str, Any]]: ...

    def find_postgres(self, name: str) -> dict[str, Any] | None: ...

    def list_inmemorydb_clusters(self) -> list[dict[str, Any]]: ...

    def find_inmemorydb(self, name: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class _Api:
    """One DBaaS API of the same shape: its SDK, its name in messages and where it is served."""

    key: str  # of the resource's client cache
    sdk: str  # the SDK's module
    label: str
    url_env: str
    url_pattern: str
    configured: Callable[[_Resource], str | None]  # the resource's own URL setting


POSTGRES = _Api("postgres", "ionoscloud_dbaas_postgres", "PostgreSQL", IONOS_POSTGRES_URL,
                POSTGRES_URL_PATTERN, lambda r: r.postgres_url)
INMEMORYDB = _Api("inmemorydb", "ionoscloud_dbaas_inmemorydb", "In-Memory DB",
                  IONOS_INMEMORYDB_URL, INMEMORYDB_URL_PATTERN, lambda r: r.inmemorydb_url)


def _url(api: _Api, location: str | None, environ: Any) -> str:
    import os

    from resources.credentials import region_of

    env = os.environ if environ is None else environ
    return str(env.get(api.url_env) or api.url_pattern.format(
        region=region_of(location or "de/fra")))


def postgres_url(location: str | None, environ: Any = None) -> str:
    """``IONOS_POSTGRES_URL``, else the regional endpoint of ``location`` (the SDK's host list:
    ``https://postgresql.de-fra.ionos.com``)."""
    return _url(POSTGRES, location, environ)


def inmemorydb_url(location: str | None, environ: Any = None) -> str:
    """``IONOS_INMEMORYDB_URL``, else the regional endpoint of ``location`` (the SDK's host
    list: ``https://in-memory-db.de-fra.ionos.com/v2``)."""
    return _url(INMEMORYDB, location, environ)


def _enum_state(c: Any) -> str:
    value = getattr(c.metadata, "state", None)
    return str(getattr(value, "value", value))


def _sdk(api: _Api) -> Any:
    return importlib.import_module(api.sdk)


def _client(res: _Resource, api: _Api) -> Any:
    """The API's ``ApiClient`` (the location's region), built on first use."""
    return res._client_once(api.key, lambda: res._dbaas_client(
        _sdk(api), api.configured(res) or _url(api, res.location, None)))


def _clusters(res: _Resource, api: _Api) -> Any:
    return _sdk(api).ClustersApi(_client(res, api))


def _list(res: _Resource, api: _Api) -> list[dict[str, Any]]:
    """Every cluster of the contract (JSON), every page."""
    clusters = _clusters(res, api)
    out: list[dict[str, Any]] = []
    offset, limit = 0, 1000
    while True:
        page = res.call(f"GET /clusters?offset={offset} ({api.label})",
                        partial(clusters.clusters_get, offset=offset, limit=limit))
        items = list((res.to_json(page) or {}).get("items") or [])
        out.extend(items)
        if len(items) < limit:
            return out
        offset += len(items)


def _ready(res: _Resource, api: _Api, cluster_id: str, log: Log) -> dict[str, Any]:
    """Poll the cluster until AVAILABLE; raise when it ends FAILED."""
    clusters = _clusters(res, api)
    obj = res.wait_until(
        f"GET /clusters/{cluster_id} ({api.label})",
        lambda: clusters.clusters_find_by_id(cluster_id),
        lambda c: _enum_state(c) == "AVAILABLE",
        lambda c: f"state FAILED: {getattr(c.metadata, 'status_message', '')}"
        if _enum_state(c) == "FAILED" else None, log=log, target="AVAILABLE",
        state=_enum_state)
    return dict(res.to_json(obj))


def _create(res: _Resource, api: _Api, props: dict[str, Any], credentials: dict[str, Any],
            find: Callable[[], Any], log: Log) -> dict[str, Any]:
    """Create a cluster (``credentials`` never leave this call), never twice after a transient
    failure (``find`` looks the name up first), and wait until it is AVAILABLE."""
    clusters = _clusters(res, api)
    body = _sdk(api).ClusterCreate.from_dict({"properties": {**props,
                                                              "credentials": credentials}})
    out = res.create_once(f"POST /clusters ({props['name']}, {api.label})",
                          lambda: res.to_json(clusters.clusters_post(body)), find, log)
    return _ready(res, api, out["id"], log)


def _update(res: _Resource, api: _Api, cluster_id: str, props: dict[str, Any],
            log: Log) -> dict[str, Any]:
    """PUT (ensure) the cluster's properties and wait until AVAILABLE."""
    clusters = _clusters(res, api)
    body = _sdk(api).ClusterEnsure.from_dict({"id": cluster_id, "properties": props})
    res.call(f"PUT /clusters/{cluster_id} ({api.label})",
             lambda: clusters.clusters_put(cluster_id, body), log)
    return _ready(res, api, cluster_id, log)


class IonosDatabases:
    """DBaaS PostgreSQL and In-Memory DB clusters: list, find by name, create, update (ensure),
    wait; and the backups IONOS keeps of a PostgreSQL cluster."""

    def list_postgres_clusters(self: _Resource) -> list[dict[str, Any]]:
        """Every PostgreSQL cluster of the contract (JSON), every page."""
        return _list(self, POSTGRES)

    def find_postgres(self: _Resource, name: str) -> dict[str, Any] | None:
        """The PostgreSQL cluster named ``name`` (JSON), or None."""
        return self._find_named({"items": self.list_postgres_clusters()}, name)

    def postgres_ready(self: _Resource, cluster_id: str, log: Log = None) -> dict[str, Any]:
        """Poll the cluster until AVAILABLE; raise when it ends FAILED."""
        return _ready(self, POSTGRES, cluster_id, log)

    def create_postgres(self: _Resource, props: dict[str, Any], credentials: dict[str, str],
                        log: Log = None) -> dict[str, Any]:
        """Create a PostgreSQL cluster (``credentials`` never leave this call) and wait until
        AVAILABLE; after a transient failure it looks the name up before trying again."""
        return _create(self, POSTGRES, props, credentials,
                       lambda: self.find_postgres(props["name"]), log)

    def update_postgres(self: _Resource, cluster_id: str, props: dict[str, Any],
                        log: Log = None) -> dict[str, Any]:
        """PUT (ensure) the cluster's properties and wait until AVAILABLE."""
        return _update(self, POSTGRES, cluster_id, props, log)

    def postgres_backups(self: _Resource, cluster_id: str) -> list[dict[str, Any]]:
        """The backups IONOS keeps of a PostgreSQL cluster (JSON)."""
        api = _sdk(POSTGRES).BackupsApi(_client(self, POSTGRES))
        out = self.call(f"GET /backups?filter.clusterId={cluster_id} (PostgreSQL)",
                        lambda: api.backups_get(filter_cluster_id=cluster_id))
        return [dict(b) for b in (self.to_json(out) or {}).get("items") or []]

    def list_inmemorydb_clusters(self: _Resource) -> list[dict[str, Any]]:
        """Every In-Memory DB cluster of the contract (JSON), every page."""
        return _list(self, INMEMORYDB)

    def find_inmemorydb(self: _Resource, name: str) -> dict[str, Any] | None:
        """The In-Memory DB cluster named ``name`` (JSON), or None."""
        return self._find_named({"items": self.list_inmemorydb_clusters()}, name)

    def inmemorydb_ready(self: _Resource, cluster_id: str, log: Log = None) -> dict[str, Any]:
        """Poll the cluster until AVAILABLE; raise when it ends FAILED."""
        return _ready(self, INMEMORYDB, cluster_id, log)

    def create_inmemorydb(self: _Resource, props: dict[str, Any], credentials: dict[str, Any],
                          log: Log = None) -> dict[str, Any]:
        """Create an In-Memory DB cluster (``credentials``: username and the password's hash)
        and wait until AVAILABLE; never a duplicate after a transient failure."""
        return _create(self, INMEMORYDB, props, credentials,
                       lambda: self.find_inmemorydb(props["name"]), log)

    def update_inmemorydb(self: _Resource, cluster_id: str, props: dict[str, Any],
                          log: Log = None) -> dict[str, Any]:
        """PUT (ensure) the cluster's properties and wait until AVAILABLE."""
        return _update(self, INMEMORYDB, cluster_id, props, log)
