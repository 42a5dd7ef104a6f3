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
import threading
import uuid
from pathlib import Path
from typing import Any

from sandbox.http import Request, Response, json_response
from sandbox.ionos_common import (
    ApiError,
    IonosServiceBase,
    StateFile,
    check_basic_or_bearer,
    error_response,
    iso,
    json_body,
    now,
    page_links,
    query_int,
)
from sandbox.world import World

PREFIX = "/postgresql"
VERSIONS = {"14": ["15"], "15": ["16"], "16": ["17"], "17": []}
BACKUP_LOCATIONS = ["de", "eu-central-2", "eu-south-2"]
STATES = ("PROVISIONING", "AVAILABLE", "UPDATING", "DESTROYING", "FAILED")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
POOLERS = ("DISABLED", "TRANSACTION", "SESSION")
RESERVED_NETWORK = ipaddress.ip_network("10.208.0.0/12")
_NAME_RE = re.compile(r"^[a-zA-Z0-9]([-_.a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$")
_USER_RE = re.compile(r"^[A-Za-z0-9_]{2,16}$")
_DB_RE = re.compile(r"^[A-Za-z0-9_]{2,63}$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")
_RESERVED_USERS = {"postgres", "admin", "standby", "replicator", "root"}
_INSTANCE_BOUNDS = {"count": (1, 5), "ram": (4, 240), "cores": (1, 62), "storageSize": (10, 4096)}


def _need(d: dict[str, Any], key: str, where: str) -> Any:
    if d.get(key) is None:
        raise ApiError(422, f"[{where}.{key}] Attribute is required")
    return d[key]


def _int(d: dict[str, Any], key: str, lo: int, hi: int, where: str) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ApiError(422, f"[{where}.{key}] must be an integer between {lo} and {hi}, got {v!r}")
    return v


def _object(d: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = _need(d, key, where)
    if not isinstance(value, dict):
        raise ApiError(422, f"[{where}.{key}] must be an object")
    return value


def check_password(pw: Any, where: str) -> None:
    """``PostgresUser.password``: 8..63 characters with a lower- and an upper-case letter, a
    digit and one of @$!%*?&."""
    if not isinstance(pw, str) or not 8 <= len(pw) <= 63 or not (
            re.search(r"[a-z]", pw) and re.search(r"[A-Z]", pw) and re.search(r"\d", pw)
            and re.search(r"[@$!%*?&]", pw)):
        raise ApiError(422, f"[{where}.password] must be 8-63 characters with a lowercase and "
                            "an uppercase letter, a digit and one of @$!%*?&")


def _connection(p: dict[str, Any]) -> dict[str, str]:
    where = "properties.connection"
    conn = _object(p, "connection", "properties")
    dc, lan = _need(conn, "datacenterId", where), _need(conn, "lanId", where)
    addr = _need(conn, "primaryInstanceAddress", where)
    if not isinstance(dc, str) or not isinstance(lan, str) or not lan.isdigit():
        raise ApiError(422, f"[{where}] datacenterId must be a UUID string and lanId a numeric "
                            "string such as \"2\"")
    try:
        iface = ipaddress.IPv4Interface(addr)
    except (ValueError, TypeError):
        raise ApiError(422, f"[{where}.primaryInstanceAddress] {addr!r} must be an IPv4 address "
                            "with a prefix, such as 192.168.1.100/24") from None
    if "/" not in str(addr) or iface.ip in RESERVED_NETWORK:
        raise ApiError(422, f"[{where}.primaryInstanceAddress] {addr!r} must have a prefix and "
                            f"lie outside {RESERVED_NETWORK}")
    return {"datacenterId": dc, "lanId": lan, "primaryInstanceAddress": str(addr)}


def _instances(p: dict[str, Any], current: dict[str, Any] | None) -> dict[str, int]:
    where = "properties.instances"
    inst = _object(p, "instances", "properties")
    out = {key: _int(inst, key, lo, hi, where) for key, (lo, hi) in _INSTANCE_BOUNDS.items()}
    if current and out["storageSize"] < current["instances"]["storageSize"]:
        raise ApiError(422, f"[{where}.storageSize] storage cannot shrink (is "
                            f"{current['instances']['storageSize']} GB)")
    return out


def _version(p: dict[str, Any], current: dict[str, Any] | None) -> str:
    version = _need(p, "version", "properties")
    if not isinstance(version, str) or version not in VERSIONS:
        raise ApiError(422, f"[properties.version] {version!r} is not supported; GET /versions "
                            f"lists {sorted(VERSIONS)}")
    if current and version != current["version"] and \
            version not in VERSIONS[current["version"]]:
        raise ApiError(422, f"[properties.version] cannot change from {current['version']} to "
                            f"{version}; allowed: {VERSIONS[current['version']]}")
    return version


def _window(p: dict[str, Any]) -> dict[str, str]:
    mw = p.get("maintenanceWindow") or {"dayOfTheWeek": "Sunday", "time": "03:00:00"}
    where = "properties.maintenanceWindow"
    if not isinstance(mw, dict) or mw.get("dayOfTheWeek") not in DAYS:
        raise ApiError(422, f"[{where}.dayOfTheWeek] must be one of {list(DAYS)}")
    if not isinstance(mw.get("time"), str) or not _TIME_RE.match(mw["time"]):
        raise ApiError(422, f"[{where}.time] {mw.get('time')!r} must look like HH:MM:SS")
    return {"dayOfTheWeek": mw["dayOfTheWeek"], "time": mw["time"]}


def _credentials(p: dict[str, Any]) -> tuple[dict[str, Any], str]:
    where = "properties.credentials"
    creds = _object(p, "credentials", "properties")
    user, pw = _need(creds, "username", where), _need(creds, "password", where)
    if not isinstance(user, str) or not _USER_RE.match(user) or user.lower() in _RESERVED_USERS:
        raise ApiError(422, f"[{where}.username] {user!r} must be 2-16 of [A-Za-z0-9_] and not "
                            f"reserved ({sorted(_RESERVED_USERS)})")
    check_password(pw, where)
    db = creds.get("database")
    if db is not None and (not isinstance(db, str) or not _DB_RE.match(db)):
        raise ApiError(422, f"[{where}.database] {db!r} must be 2-63 of [A-Za-z0-9_]")
    return {"username": user, "database": db}, str(pw)


def _options(p: dict[str, Any], count: int) -> dict[str, Any]:
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


def _backup(p: dict[str, Any]) -> dict[str, Any]:
    b = p.get("backup") or {}
    where = "properties.backup"
    if not isinstance(b, dict):
        raise ApiError(422, f"[{where}] must be an object")
    location = b.get("location") or "de"
    if location not in BACKUP_LOCATIONS:
        raise ApiError(422, f"[{where}.location] {location!r} is not one of {BACKUP_LOCATIONS}")
    days = _int(b, "retentionDays", 1, 365, where) if "retentionDays" in b else 7
    return {"location": location, "retentionDays": days}


def validate(p: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """The cluster's stored properties from a POST (``current`` None) or PUT body."""
    name = _need(p, "name", "properties")
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) < 2:
        raise ApiError(422, f"[properties.name] {name!r} must be 2-63 characters, alphanumerics "
                            "with '-', '_' or '.' between")
    desc = p.get("description") or ""
    if not isinstance(desc, str):
        raise ApiError(422, "[properties.description] must be a string")
    out: dict[str, Any] = {"name": name, "description": desc, "version": _version(p, current),
                           "instances": _instances(p, current), "connection": _connection(p),
                           "maintenanceWindow": _window(p), "backup": _backup(p)}
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


class PostgresService(IonosServiceBase):
    """The DBaaS PostgreSQL v2 emulator (see the module docstring)."""

    name = "postgres"

    def __init__(self, world: World, token: str, delay: float = 0.0,
                 state_dir: Path | None = None, username: str = "", password: str = "") -> None:
        self.world = world
        self.token = token
        self.username = username
        self.password = password
        self.delay = float(delay)
        self._lock = threading.RLock()
        self._file = StateFile(state_dir, "postgres")
        self._clusters: dict[str, dict[str, Any]] = {}
        self._fail_next = False
        loaded = self._file.load()
        if loaded:
            self._clusters = loaded.get("clusters", {})

    def fail_next(self) -> None:
        """Make the next cluster create or update end FAILED."""
        with self._lock:
            self._fail_next = True

    def reset(self) -> None:
        with self._lock:
            self._clusters.clear()
            self._save()

    def _save(self) -> None:
        self._file.save({"clusters": self._clusters})

    def handle(self, req: Request) -> Response:
        try:
            if not req.path.startswith(PREFIX):
                raise ApiError(404, f"Unknown path {req.path}; the PostgreSQL API lives under "
                                    f"{PREFIX}")
            check_basic_or_bearer(req, self.token, self.username, self.password)
            path = req.path[len(PREFIX):].strip("/")
            with self._lock:
                self._advance()
                resp = self._route(req, path.split("/") if path else [])
                if req.method in ("POST", "PUT", "DELETE"):
                    self._save()
            return resp
        except ApiError as err:
            return error_response(err)

    def _route(self, req: Request, parts: list[str]) -> Response:
        m, n = req.method, len(parts)
        if parts == ["clusters"] and m in ("GET", "POST"):
            return self._list(req) if m == "GET" else self._create(req)
        if n == 2 and parts[0] == "clusters" and m in ("GET", "PUT", "DELETE"):
            c = self._cluster(parts[1])
            if m == "GET":
                return json_response(200, self._render(req, c))
            return self._put(req, c) if m == "PUT" else self._delete(c)
        if m == "GET" and parts and parts[0] in ("backups", "backup-locations", "versions"):
            return self._catalogue(req, parts)
        if parts and parts[0] in ("clusters", "backups", "backup-locations", "versions"):
            raise ApiError(405, f"Method {m} is not allowed on {req.path}")
        raise ApiError(404, f"Unknown path {req.path}")

    def _catalogue(self, req: Request, parts: list[str]) -> Response:
        kind = parts[0]
        items = {"backups": self._backups(req), "backup-locations": [
            self._item(req, kind, loc, "backupLocation", {"location": loc})
            for loc in BACKUP_LOCATIONS], "versions": [
            self._item(req, kind, v, "version", {"version": v, "status": "SUPPORTED",
                                                 "comment": "", "canUpgradeTo": VERSIONS[v]})
            for v in VERSIONS]}[kind]
        if len(parts) == 1:
            return json_response(200, self._page(req, kind, items))
        found = next((i for i in items if i["id"] == parts[1]), None) if len(parts) == 2 else None
        if found is None:
            raise ApiError(404, f"{kind} {'/'.join(parts[1:])} not found")
        return json_response(200, found)

    def _item(self, req: Request, kind: str, oid: str, rtype: str,
              props: dict[str, Any]) -> dict[str, Any]:
        return {"id": oid, "type": rtype, "href": f"{req.base_url}{PREFIX}/{kind}/{oid}",
                "metadata": {}, "properties": props}

    def _backups(self, req: Request) -> list[dict[str, Any]]:
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

    def _advance(self) -> None:
        t = now()
        for cid in list(self._clusters):
            c = self._clusters[cid]
            pending = c.get("pending")
            if pending and pending[0] <= t:
                c["state"], c["pending"], c["modified"] = pending[1], None, pending[0]
                if c["state"] == "AVAILABLE" and c.get("available_since") is None:
                    c["available_since"] = pending[0]
            if c.get("delete_at") is not None and c["delete_at"] <= t:
                del self._clusters[cid]

    def _set_state(self, c: dict[str, Any], interim: str) -> None:
        t = now()
        final = "AVAILABLE"
        c["statusMessage"] = ""
        if self._fail_next:
            self._fail_next = False
            final = "FAILED"
            c["statusMessage"] = "Provisioning failed (injected by the sandbox)"
        c.update(state=interim, modified=t, pending=[t + self.delay, final])

    def _cluster(self, cid: str) -> dict[str, Any]:
        c = self._clusters.get(cid)
        if c is None:
            raise ApiError(404, f"cluster {cid} not found")
        return c

    @staticmethod
    def _props(req: Request) -> dict[str, Any]:
        p = json_body(req).get("properties")
        if not isinstance(p, dict):
            raise ApiError(422, "[properties] Attribute is required")
        return p

    def _create(self, req: Request) -> Response:
        props = validate(self._props(req), None)
        cid, t = str(uuid.uuid4()), now()
        c: dict[str, Any] = {"id": cid, "created": t, "modified": t, "props": props,
                             "pending": None, "delete_at": None, "available_since": None}
        self._clusters[cid] = c
        self._set_state(c, "PROVISIONING")
        problem = self._provision_real_database(props)
        if problem:
            c["pending"][1] = "FAILED"
            c["statusMessage"] = problem
        return json_response(201, self._render(req, c))

    def _provision_real_database(self, props: dict[str, Any]) -> str | None:
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

    def _put(self, req: Request, c: dict[str, Any]) -> Response:
        if c["state"] == "DESTROYING":
            raise ApiError(409, f"cluster {c['id']} is being deleted")
        c["props"] = validate(self._props(req), c["props"])
        self._set_state(c, "UPDATING")
        return json_response(200, self._render(req, c))

    def _delete(self, c: dict[str, Any]) -> Response:
        if c["state"] != "DESTROYING":
            t = now()
            c.update(state="DESTROYING", pending=None, modified=t, delete_at=t + self.delay)
        return Response(status=202, body=None)

    def _render(self, req: Request, c: dict[str, Any]) -> dict[str, Any]:
        props = {k: v for k, v in c["props"].items() if not k.startswith("_")}
        return {
            "id": c["id"], "type": "cluster",
            "href": f"{req.base_url}{PREFIX}/clusters/{c['id']}",
            "metadata": {
                "createdDate": iso(c["created"]), "createdBy": "sandbox",
                "createdByUserId": "sandbox-user", "lastModifiedDate": iso(c["modified"]),
                "lastModifiedBy": "sandbox", "lastModifiedByUserId": "sandbox-user",
                "resourceURN": f"ionos:dbaas:psql:de/fra:cluster/{c['id']}",
                "state": c["state"], "statusMessage": c.get("statusMessage") or "",
                "dnsName": self.world.postgres_host
                or f"pg-{c['id'][:8]}.postgresql.de-fra.ionos.com"},
            "properties": props,
        }

    def _page(self, req: Request, kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        offset = query_int(req, "offset", 0, 0, 10**9)
        limit = query_int(req, "limit", 100, 1, 1000)
        href = f"{req.base_url}{PREFIX}/{kind}"
        return {"id": kind, "type": "collection", "href": href,
                "items": items[offset:offset + limit], "offset": offset, "limit": limit,
                "_links": page_links(href, offset, limit, len(items))}

    def _list(self, req: Request) -> Response:
        clusters = sorted(self._clusters.values(), key=lambda c: c["created"])
        name, state = req.query.get("filter.name"), req.query.get("filter.state")
        if state is not None and state not in STATES:
            raise ApiError(400, f"filter.state {state!r} is not one of {list(STATES)}")
        clusters = [c for c in clusters if (not name or name in c["props"]["name"])
                    and (not state or c["state"] == state)]
        return json_response(200, self._page(req, "clusters",
                                             [self._render(req, c) for c in clusters]))
