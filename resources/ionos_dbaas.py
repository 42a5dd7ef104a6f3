"""The IONOS DBaaS PostgreSQL API v2 (``ionoscloud_dbaas_postgres`` 3.x) and In-Memory DB API
v2 (``ionoscloud_dbaas_inmemorydb`` 1.x) for ``IonosCloudResource``, which mixes
``IonosDatabases`` in.

The calls go through the resource's bounded retries and waits; the methods only say which SDK
call to make and how to read its answer. Credentials given to a create never leave the call.
"""

from __future__ import annotations

from collections.abc import Callable
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
    _clients: dict[str, Any]

    def call(self, describe: str, fn: Callable[[], T], log: Log = None) -> T: ...

    def create_once(self, describe: str, create: Callable[[], T], find: Callable[[], Any],
                    log: Log = None) -> Any: ...

    def wait_until(self, describe: str, fetch: Callable[[], T], ready: Callable[[T], bool],
                   failed: Callable[[T], str | None] = ..., *, log: Log = None,
                   target: str = ..., state: Callable[[T], str] = ...) -> T: ...

    def to_json(self, model: Any) -> Any: ...

    def _find_named(self, items: Any, name: str, key: str = "name") -> dict[str, Any] | None: ...

    def _dbaas_client(self, sdk: Any, host: str) -> Any: ...

    def postgres_client(self) -> Any: ...

    def list_postgres_clusters(self) -> list[dict[str, Any]]: ...

    def find_postgres(self, name: str) -> dict[str, Any] | None: ...

    def postgres_ready(self, cluster_id: str, log: Log = None) -> dict[str, Any]: ...

    def inmemorydb_client(self) -> Any: ...

    def list_inmemorydb_clusters(self) -> list[dict[str, Any]]: ...

    def find_inmemorydb(self, name: str) -> dict[str, Any] | None: ...

    def inmemorydb_ready(self, cluster_id: str, log: Log = None) -> dict[str, Any]: ...


def postgres_url(location: str | None, environ: Any = None) -> str:
    """``IONOS_POSTGRES_URL``, else the regional endpoint of ``location`` (the SDK's host list:
    ``https://postgresql.de-fra.ionos.com``)."""
    import os

    from resources.credentials import region_of

    env = os.environ if environ is None else environ
    return str(env.get(IONOS_POSTGRES_URL) or POSTGRES_URL_PATTERN.format(
        region=region_of(location or "de/fra")))


def inmemorydb_url(location: str | None, environ: Any = None) -> str:
    """``IONOS_INMEMORYDB_URL``, else the regional endpoint of ``location`` (the SDK's host
    list: ``https://in-memory-db.de-fra.ionos.com/v2``)."""
    import os

    from resources.credentials import region_of

    env = os.environ if environ is None else environ
    return str(env.get(IONOS_INMEMORYDB_URL) or INMEMORYDB_URL_PATTERN.format(
        region=region_of(location or "de/fra")))


def _enum_state(c: Any) -> str:
    value = getattr(c.metadata, "state", None)
    return str(getattr(value, "value", value))


class IonosDatabases:
    """DBaaS PostgreSQL clusters: list, find by name, create, update (ensure), wait."""

    def postgres_client(self: _Resource) -> Any:
        """The ``ionoscloud_dbaas_postgres.ApiClient`` (the location's region), built on first
        use."""
        if "postgres" not in self._clients:
            import ionoscloud_dbaas_postgres as pg

            host = self.postgres_url or postgres_url(self.location)
            self._clients["postgres"] = self._dbaas_client(pg, host)
        return self._clients["postgres"]

    def list_postgres_clusters(self: _Resource) -> list[dict[str, Any]]:
        """Every PostgreSQL cluster of the contract (JSON), every page."""
        import ionoscloud_dbaas_postgres as pg

        api = pg.ClustersApi(self.postgres_client())
        out: list[dict[str, Any]] = []
        offset, limit = 0, 1000
        while True:
            page = self.call(f"GET /clusters?offset={offset} (PostgreSQL)",
                             lambda o=offset: api.clusters_get(offset=o, limit=limit))  # type: ignore[misc]
            items = list((self.to_json(page) or {}).get("items") or [])
            out.extend(items)
            if len(items) < limit:
                return out
            offset += len(items)

    def find_postgres(self: _Resource, name: str) -> dict[str, Any] | None:
        """The PostgreSQL cluster named ``name`` (JSON), or None."""
        return self._find_named({"items": self.list_postgres_clusters()}, name)

    def postgres_ready(self: _Resource, cluster_id: str, log: Log = None) -> dict[str, Any]:
        """Poll the cluster until AVAILABLE; raise when it ends FAILED."""
        import ionoscloud_dbaas_postgres as pg

        api = pg.ClustersApi(self.postgres_client())
        obj = self.wait_until(
            f"GET /clusters/{cluster_id} (PostgreSQL)", lambda: api.clusters_find_by_id(cluster_id),
            lambda c: _enum_state(c) == "AVAILABLE",
            lambda c: f"state FAILED: {getattr(c.metadata, 'status_message', '')}"
            if _enum_state(c) == "FAILED" else None, log=log, target="AVAILABLE",
            state=_enum_state)
        return dict(self.to_json(obj))

    def create_postgres(self: _Resource, props: dict[str, Any], credentials: dict[str, str],
                        log: Log = None) -> dict[str, Any]:
        """Create a PostgreSQL cluster (``credentials`` never leave this call) and wait until
        AVAILABLE; after a transient failure it looks the name up before trying again."""
        import ionoscloud_dbaas_postgres as pg

        api = pg.ClustersApi(self.postgres_client())
        body = pg.ClusterCreate.from_dict({"properties": {**props, "credentials": credentials}})
        out = self.create_once(f"POST /clusters ({props['name']}, PostgreSQL)",
                               lambda: self.to_json(api.clusters_post(body)),
                               lambda: self.find_postgres(props["name"]), log)
        return self.postgres_ready(out["id"], log)

    def update_postgres(self: _Resource, cluster_id: str, props: dict[str, Any],
                        log: Log = None) -> dict[str, Any]:
        """PUT (ensure) the cluster's properties and wait until AVAILABLE."""
        import ionoscloud_dbaas_postgres as pg

        api = pg.ClustersApi(self.postgres_client())
        body = pg.ClusterEnsure.from_dict({"id": cluster_id, "properties": props})
        self.call(f"PUT /clusters/{cluster_id} (PostgreSQL)",
                  lambda: api.clusters_put(cluster_id, body), log)
        return self.postgres_ready(cluster_id, log)

    def postgres_backups(self: _Resource, cluster_id: str) -> list[dict[str, Any]]:
        """The backups IONOS keeps of a PostgreSQL cluster (JSON)."""
        import ionoscloud_dbaas_postgres as pg

        api = pg.BackupsApi(self.postgres_client())
        out = self.call(f"GET /backups?filter.clusterId={cluster_id} (PostgreSQL)",
                        lambda: api.backups_get(filter_cluster_id=cluster_id))
        return [dict(b) for b in (self.to_json(out) or {}).get("items") or []]

    def inmemorydb_client(self: _Resource) -> Any:
        """The ``ionoscloud_dbaas_inmemorydb.ApiClient`` (the location's region)."""
        if "inmemorydb" not in self._clients:
            import ionoscloud_dbaas_inmemorydb as im

            host = self.inmemorydb_url or inmemorydb_url(self.location)
            self._clients["inmemorydb"] = self._dbaas_client(im, host)
        return self._clients["inmemorydb"]

    def list_inmemorydb_clusters(self: _Resource) -> list[dict[str, Any]]:
        """Every In-Memory DB cluster of the contract (JSON), every page."""
        import ionoscloud_dbaas_inmemorydb as im

        api = im.ClustersApi(self.inmemorydb_client())
        out: list[dict[str, Any]] = []
        offset, limit = 0, 1000
        while True:
            page = self.call(f"GET /clusters?offset={offset} (In-Memory DB)",
                             lambda o=offset: api.clusters_get(offset=o, limit=limit))  # type: ignore[misc]
            items = list((self.to_json(page) or {}).get("items") or [])
            out.extend(items)
            if len(items) < limit:
                return out
            offset += len(items)

    def find_inmemorydb(self: _Resource, name: str) -> dict[str, Any] | None:
        """The In-Memory DB cluster named ``name`` (JSON), or None."""
        return self._find_named({"items": self.list_inmemorydb_clusters()}, name)

    def inmemorydb_ready(self: _Resource, cluster_id: str, log: Log = None) -> dict[str, Any]:
        """Poll the cluster until AVAILABLE; raise when it ends FAILED."""
        import ionoscloud_dbaas_inmemorydb as im

        api = im.ClustersApi(self.inmemorydb_client())
        obj = self.wait_until(
            f"GET /clusters/{cluster_id} (In-Memory DB)",
            lambda: api.clusters_find_by_id(cluster_id),
            lambda c: _enum_state(c) == "AVAILABLE",
            lambda c: f"state FAILED: {getattr(c.metadata, 'status_message', '')}"
            if _enum_state(c) == "FAILED" else None, log=log, target="AVAILABLE",
            state=_enum_state)
        return dict(self.to_json(obj))

    def create_inmemorydb(self: _Resource, props: dict[str, Any], credentials: dict[str, Any],
                          log: Log = None) -> dict[str, Any]:
        """Create an In-Memory DB cluster (``credentials``: username and the password's hash)
        and wait until AVAILABLE; never a duplicate after a transient failure."""
        import ionoscloud_dbaas_inmemorydb as im

        api = im.ClustersApi(self.inmemorydb_client())
        body = im.ClusterCreate.from_dict({"properties": {**props, "credentials": credentials}})
        out = self.create_once(f"POST /clusters ({props['name']}, In-Memory DB)",
                               lambda: self.to_json(api.clusters_post(body)),
                               lambda: self.find_inmemorydb(props["name"]), log)
        return self.inmemorydb_ready(out["id"], log)

    def update_inmemorydb(self: _Resource, cluster_id: str, props: dict[str, Any],
                          log: Log = None) -> dict[str, Any]:
        """PUT (ensure) the cluster's properties and wait until AVAILABLE."""
        import ionoscloud_dbaas_inmemorydb as im

        api = im.ClustersApi(self.inmemorydb_client())
        body = im.ClusterEnsure.from_dict({"id": cluster_id, "properties": props})
        self.call(f"PUT /clusters/{cluster_id} (In-Memory DB)",
                  lambda: api.clusters_put(cluster_id, body), log)
        return self.inmemorydb_ready(cluster_id, log)
