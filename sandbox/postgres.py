"""A local IONOS DBaaS PostgreSQL API v2 (what ``ionoscloud_dbaas_postgres`` 3.x calls).

Served under ``/postgresql``: ``Configuration(host="http://127.0.0.1:PORT/postgresql",
token=...)``. Bearer or Basic auth, as the other DBaaS APIs (``check_basic_or_bearer`` names
the source; the Python SDK itself sends only the token).

Paths, statuses and shapes follow the SDK's generated API classes and models (3.0.1):

- ``/clusters``: POST 201 ``ClusterRead``, GET list (``offset``, ``limit`` 1..1000,
  ``filter.name`` contains, ``filter.state``); ``/clusters/{id}``: GET 200, PUT 200 ("ensure"
  with ``ClusterEnsure``; 409 while the cluster is being deleted), DELETE 202.
- ``metadata.state`` from ``PostgresClusterStates``: PROVISIONING → AVAILABLE after a create,
  UPDATING → AVAILABLE after a PUT, DESTROYING then 404 after a DELETE; ``fail_next`` makes the
  next create or update end FAILED with a ``statusMessage``. (The 3.x API has no BUSY state.)
- Validation answers 422 with the IONOS error body, naming the field: the SDK's bounds
  (instances 1..5, ram 4..240 GB, cores 1..62, storageSize 10..4096 GB and never shrinking,
  retentionDays 1..365, name 2..63 alphanumerics with ``-_.`` between), ``PostgresUser``'s rules
  (username 2..16 of ``[A-Za-z0-9_]``; password 8..63 with a lower- and an upper-case letter, a
  digit and one of ``@$!%*?&``; database 2..63), ``primaryInstanceAddress`` outside
  10.208.0.0/12 (``PostgresClusterConnection``), ``replicationMode`` STRICTLY_SYNCHRONOUS only
  with 3 or more instances (``PostgresClusterReplicationMode``), a version from ``/versions``
  and upgrades only to its ``canUpgradeTo``.
- ``/backups`` (``filter.clusterId``): one active backup per cluster from when it became
  AVAILABLE; ``/backup-locations`` and ``/versions``.

The password is write-only and never returned. ``metadata.dnsName`` is ``world.postgres_host``
when a real PostgreSQL server is wired in (the sandbox entry point probes 127.0.0.1:5432 and
writes ``SANDBOX_POSTGRES_HOST``/``_PORT``): a create then makes the cluster's user (LOGIN,
CREATEDB, CREATEROLE: what a logical backup and its restore drill need, not a superuser) and
database on it, as the admin login ``world.extras["postgres_admin_user"]`` (default postgres);
if that fails the cluster ends FAILED with the reason. Else the host is a fake
``pg-<id>.postgresql.de-fra.ionos.com``. Not emulated: restores, connection pooler behaviour.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any

from sandbox import dbaas
from sandbox.dbaas import DbaasService, Json
from sandbox.http import Request
from sandbox.ionos_common import ApiError, iso

VERSIONS = {"14": ["15"], "15": ["16"], "16": ["17"], "17": []}
BACKUP_LOCATIONS = ["de", "eu-central-2", "eu-south-2"]
POOLERS = ("DISABLED", "TRANSACTION", "SESSION")
RESERVED_NETWORK = ipaddress.ip_network("10.208.0.0/12")
_USER_RE = re.compile(r"^[A-Za-z0-9_]{2,16}$")
_DB_RE = re.compile(r"^[A-Za-z0-9_]{2,63}$")
_RESERVED_USERS = {"postgres", "admin", "standby", "replicator", "root"}
_INSTANCE_BOUNDS = {"count": (1, 5), "ram": (4, 240), "cores": (1, 62), "storageSize": (10, 4096)}
_DEFAULT_WINDOW = {"dayOfTheWeek": "Sunday", "time": "03:00:00"}


def check_password(pw: Any, where: str) -> None:
    """``PostgresUser.password``: 8..63 characters with a lower- and an upper-case letter, a
    digit and one of @$!%*?&."""
    if not isinstance(pw, str) or not 8 <= len(pw) <= 63 or not (
            re.search(r"[a-z]", pw) and re.search(r"[A-Z]", pw) and re.search(r"\d", pw)
            and re.search(r"[@$!%*?&]", pw)):
        raise ApiError(422, f"[{where}.password] must be 8-63 characters with a lowercase and "
                            "an uppercase letter, a digit and one of @$!%*?&")


def _credentials(p: Json) -> tuple[Json, str]:
    where = "properties.credentials"
    creds = dbaas.json_object(p, "credentials", "properties")
    user, pw = dbaas.need(creds, "username", where), dbaas.need(creds, "password", where)
    if not isinstance(user, str) or not _USER_RE.match(user) or user.lower() in _RESERVED_USERS:
        raise ApiError(422, f"[{where}.username] {user!r} must be 2-16 of [A-Za-z0-9_] and not "
                            f"reserved ({sorted(_RESERVED_USERS)})")
    check_password(pw, where)
    db = creds.get("database")
    if db is not None and (not isinstance(db, str) or not _DB_RE.match(db)):
        raise ApiError(422, f"[{where}.database] {db!r} must be 2-63 of [A-Za-z0-9_]")
    return {"username": user, "database": db}, str(pw)


def _options(p: Json, count: int) -> Json:
    mode = p.get("replicationMode", "ASYNCHRONOUS")
    if mode not in ("ASYNCHRONOUS", "STRICTLY_SYNCHRONOUS"):
        raise ApiError(422, f"[properties.replicationMode] {mode!r} is not ASYNCHRONOUS or "
                            "STRICTLY_SYNCHRONOUS")
    if mode == "STRICTLY_SYNCHRONOUS" and count < 3:
        raise ApiError(422, "[properties.replicationMode] STRICTLY_SYNCHRONOUS needs at least 3 "
                            "instances")
    pooler = p.get("connectionPooler", "DISABLED")
    if pooler not in POOLERS:
        raise ApiError(422, f"[properties.connectionPooler] {pooler!r} is not one of {POOLERS}")
    out: dict[str, Any] = {"replicationMode": mode, "connectionPooler": pooler}
    for flag in ("logsEnabled", "metricsEnabled"):
        value = p.get(flag, False)
        if not isinstance(value, bool):
            raise ApiError(422, f"[properties.{flag}] must be a boolean")
        out[flag] = value
    return out


def validate(p: Json, current: Json | None) -> Json:
    """The cluster's stored properties from a POST (``current`` None) or PUT body."""
    out = dbaas.name_and_description(p)
    out.update(version=dbaas.version(p, current, VERSIONS),
               instances=dbaas.instances(p, current, _INSTANCE_BOUNDS, "storageSize",
                                         "storage cannot shrink"),
               connection=dbaas.connection(p, (RESERVED_NETWORK,)),
               maintenanceWindow=dbaas.maintenance_window(p, _DEFAULT_WINDOW),
               backup=dbaas.kept_at(p, "backup", BACKUP_LOCATIONS, "de", 7))
    out.update(_options(p, out["instances"]["count"]))
    if current is None:
        out["credentials"], out["_password"] = _credentials(p)
    else:
        out["credentials"], out["_password"] = current["credentials"], current["_password"]
        user = (p.get("credentials") or {}).get("username") if isinstance(
            p.get("credentials"), dict) else None
        if user not in (None, current["credentials"]["username"]):
            raise ApiError(422, "[properties.credentials.username] cannot be changed")
    return out


class PostgresService(DbaasService):
    """The DBaaS PostgreSQL v2 emulator (see the module docstring)."""

    name = "postgres"
    prefix = "/postgresql"
    title = "PostgreSQL API"
    urn = "psql"
    catalogue = ("backups", "backup-locations", "versions")

    def _validate(self, p: Json, current: Json | None) -> Json:
        return validate(p, current)

    def _dns_name(self, c: Json) -> str:
        return self.world.postgres_host or f"pg-{c['id'][:8]}.postgresql.de-fra.ionos.com"

    def _catalogue_items(self, req: Request, kind: str) -> list[Json]:
        if kind == "backups":
            return self._backups(req)
        if kind == "backup-locations":
            return [self._item(req, kind, loc, "backupLocation", {"location": loc})
                    for loc in BACKUP_LOCATIONS]
        return [self._item(req, kind, v, "version", {"version": v, "status": "SUPPORTED",
                                                     "comment": "", "canUpgradeTo": VERSIONS[v]})
                for v in VERSIONS]

    def _backups(self, req: Request) -> list[Json]:
        want = req.query.get("filter.clusterId")
        out = []
        for c in sorted(self._clusters.values(), key=lambda c: c["created"]):
            if c.get("available_since") is None or (want and c["id"] != want):
                continue
            bid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"postgres-backup/{c['id']}"))
            out.append(self._item(req, "backups", bid, "backup", {
                "clusterId": c["id"], "postgresClusterVersion": c["props"]["version"],
                "isActive": True, "earliestRecoveryTargetTime": iso(c["available_since"]),
                "location": c["props"]["backup"]["location"]}))
        return out

    def _provision(self, props: Json) -> str | None:
        """With a real PostgreSQL wired in, create (or re-password) the cluster's user and its
        database there; a problem message, or None."""
        if not self.world.postgres_host:
            return None
        import psycopg2
        from psycopg2 import sql

        creds = props["credentials"]
        user, database = creds["username"], creds.get("database")
        try:
            conn = psycopg2.connect(
                host=self.world.postgres_host, port=int(self.world.postgres_port),
                user=self.world.extras.get("postgres_admin_user", "postgres"),
                password=self.world.extras.get("postgres_admin_password", ""),
                dbname="postgres", connect_timeout=5)
        except psycopg2.Error as exc:
            return f"cannot reach the sandbox PostgreSQL server: {exc}"
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                cur.execute(sql.SQL(verb + " ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD %s")
                            .format(sql.Identifier(user)), (props["_password"],))
                if database:
                    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                    if not cur.fetchone():
                        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(database), sql.Identifier(user)))
        except psycopg2.Error as exc:
            return f"creating the database user failed: {exc}"
        finally:
            conn.close()
        return None
