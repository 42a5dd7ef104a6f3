"""A local IONOS DBaaS MariaDB API v2 (what ``ionoscloud_dbaas_mariadb`` 3.x calls).

Served under ``/mariadb/v2``: ``Configuration(host="http://127.0.0.1:PORT/mariadb/v2",
token=...)``. Bearer or Basic auth, as the real API (``check_basic_or_bearer`` names the source;
the Python SDK itself sends no header for username/password).

- ``/clusters``: POST 201, GET list (``offset``, ``limit``, ``filter.name``, ``filter.state``) and
  item, PUT 200 (``restoreFromBackup.recoveryTargetDatetime`` restores in place), DELETE 202.
  States PROVISIONING → AVAILABLE (UPDATING → AVAILABLE after a PUT), DESTROYING then 404.
- ``metadata.dnsName`` is ``world.mariadb_host`` when a real MariaDB server is wired in, else a
  fake ``ma-<id>.mariadb.de-fra.ionos.com``. The API has no port field (the real one is always
  3306); a client finds the sandbox port in ``world.mariadb_port`` (the sandbox entry point
  writes it to its env file as ``SANDBOX_MARIADB_PORT``).
- ``/backups`` (``filter.clusterId``): every cluster gets one backup per day since it became
  AVAILABLE; the newest has ``latestRecoveryTargetTime`` null (restorable up to now), as the
  API documents. Backups outlive their cluster for ``backup.retentionDays``.
- ``/backup-locations`` and ``/versions``.

Shapes satisfy the SDK's strict pydantic models: ints are JSON numbers, ``lanId`` a string,
states and days from their enums; the password is write-only and never returned.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from sandbox.dbaas import (
    DAYS,
    NAME_RE,
    STATES,
    TIME_RE,
    DbaasService,
    Json,
    integer,
    kept_at,
    need,
    version,
)
from sandbox.http import Request, Response, json_response
from sandbox.ionos_common import ApiError, iso, now, parse_iso

PREFIX = "/mariadb/v2"
VERSIONS = {"10.6": ["10.11"], "10.11": []}
BACKUP_LOCATIONS = ["de", "eu-central-2", "eu-south-2"]
DAY_SECONDS = 86400.0
_USER_RE = re.compile(r"^[A-Za-z0-9_]{2,16}$")
_DB_RE = re.compile(r"^[A-Za-z0-9_]{2,63}$")
_CIDR_RE = re.compile(r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$")
_RESERVED_USERS = {"mariadb", "admin", "standby", "root", "replication"}
_NS = uuid.UUID("6f1c3b1e-5d7a-4c35-9a0e-2f6f5a1b7c11")


def _name(p: Json, current: Json | None) -> str:
    name = need(p, "name", "properties")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ApiError(422, f"[properties.name] {name!r} must be 2-63 characters, "
                            "alphanumerics with '-', '_' or '.' between")
    return name


def _description(p: Json, current: Json | None) -> str:
    desc = p.get("description") or ""
    if not isinstance(desc, str):
        raise ApiError(422, "[properties.description] must be a string")
    return desc


def _instances(p: Json, current: Json | None) -> dict[str, int]:
    inst = need(p, "instances", "properties")
    if not isinstance(inst, dict):
        raise ApiError(422, "[properties.instances] must be an object")
    wi = "properties.instances"
    storage = integer(inst, "storageSize", 10, 4096, wi)
    if current and storage < current["instances"]["storageSize"]:
        raise ApiError(422, f"[{wi}.storageSize] storage cannot shrink (is "
                            f"{current['instances']['storageSize']} GB)")
    return {"count": integer(inst, "count", 1, 5, wi), "ram": integer(inst, "ram", 4, 240, wi),
            "cores": integer(inst, "cores", 1, 62, wi), "storageSize": storage}


def _connection(p: Json, current: Json | None) -> dict[str, str]:
    conn = need(p, "connection", "properties")
    wc = "properties.connection"
    if not isinstance(conn, dict):
        raise ApiError(422, f"[{wc}] must be an object")
    dc = need(conn, "datacenterId", wc)
    lan = need(conn, "lanId", wc)
    cidr = need(conn, "primaryInstanceAddress", wc)
    if not isinstance(dc, str) or not isinstance(lan, str) or not lan.isdigit():
        raise ApiError(422, f"[{wc}] datacenterId must be a UUID string and lanId a "
                            "numeric string such as \"2\"")
    if not isinstance(cidr, str) or not _CIDR_RE.match(cidr):
        raise ApiError(422, f"[{wc}.primaryInstanceAddress] {cidr!r} must be an IPv4 "
                            "address with a prefix, such as 192.168.1.100/24")
    return {"datacenterId": dc, "lanId": lan, "primaryInstanceAddress": cidr}


def _window(p: Json, current: Json | None) -> dict[str, str]:
    mw = p.get("maintenanceWindow") or {"dayOfTheWeek": "Sunday", "time": "03:00:00"}
    wm = "properties.maintenanceWindow"
    if not isinstance(mw, dict) or mw.get("dayOfTheWeek") not in DAYS:
        raise ApiError(422, f"[{wm}.dayOfTheWeek] must be one of {sorted(DAYS)}")
    if not isinstance(mw.get("time"), str) or not TIME_RE.match(mw["time"]):
        raise ApiError(422, f"[{wm}.time] {mw.get('time')!r} must look like HH:MM:SS")
    return {"dayOfTheWeek": mw["dayOfTheWeek"], "time": mw["time"]}


def _credentials(p: Json) -> tuple[Json, str]:
    creds = need(p, "credentials", "properties")
    wcr = "properties.credentials"
    if not isinstance(creds, dict):
        raise ApiError(422, f"[{wcr}] must be an object")
    user = need(creds, "username", wcr)
    pw = need(creds, "password", wcr)
    if not isinstance(user, str) or not _USER_RE.match(user) or user.lower() in _RESERVED_USERS:
        raise ApiError(422, f"[{wcr}.username] {user!r} must be 2-16 of [A-Za-z0-9_] "
                            f"and not reserved ({sorted(_RESERVED_USERS)})")
    if not isinstance(pw, str) or not 10 <= len(pw) <= 256:
        raise ApiError(422, f"[{wcr}.password] must be 10-256 characters")
    db = creds.get("database")
    if db is not None and (not isinstance(db, str) or not _DB_RE.match(db)):
        raise ApiError(422, f"[{wcr}.database] {db!r} must be 2-63 of [A-Za-z0-9_]")
    return {"username": user, "database": db}, pw


# A PUT checks and replaces only the fields it gives (a create, all), in this order.
_FIELDS: tuple[tuple[str, Callable[[Json, Json | None], Any]], ...] = (
    ("name", _name), ("description", _description),
    ("version", lambda p, current: version(p, current, VERSIONS)), ("instances", _instances),
    ("connection", _connection), ("maintenanceWindow", _window))


class MariaDBService(DbaasService):
    """The DBaaS MariaDB v2 emulator (see the module docstring)."""

    name = "mariadb"
    prefix = PREFIX
    title = "MariaDB API"
    urn = "mariadb"
    states = tuple(sorted(STATES))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._backups: dict[str, Json] = {}
        super().__init__(*args, **kwargs)

    def _state(self) -> Json:
        return {"clusters": self._clusters, "backups": self._backups}

    def _restore(self, loaded: Json) -> None:
        super()._restore(loaded)
        self._backups = loaded.get("backups", {})

    def _clear(self) -> None:
        super()._clear()
        self._backups.clear()

    def _dns_name(self, c: Json) -> str:
        return self.world.mariadb_host or f"ma-{c['id'][:8]}.mariadb.de-fra.ionos.com"

    def _route(self, req: Request, parts: list[str]) -> Response:
        if parts and parts[0] == "clusters" and len(parts) <= 2:
            return super()._route(req, parts)
        if req.method != "GET" or not 1 <= len(parts) <= 2:
            raise ApiError(404, f"Unknown path {req.path}")
        if parts == ["backups"]:
            return self._list_backups(req)
        if len(parts) == 2 and parts[0] == "backups":
            backup = self._backups.get(parts[1])
            if backup is None:
                raise ApiError(404, f"backup {parts[1]} not found")
            return json_response(200, self._render_backup(req, backup))
        if parts == ["backup-locations"]:
            items = [self._render_location(req, loc) for loc in BACKUP_LOCATIONS]
            return json_response(200, self._page(req, "backup-locations", items))
        if parts[0] == "backup-locations":
            if parts[1] not in BACKUP_LOCATIONS:
                raise ApiError(404, f"backup location {parts[1]} not found")
            return json_response(200, self._render_location(req, parts[1]))
        if parts == ["versions"]:
            items = [self._render_version(req, v) for v in VERSIONS]
            return json_response(200, self._page(req, "versions", items))
        if parts[0] == "versions":
            if parts[1] not in VERSIONS:
                raise ApiError(404, f"version {parts[1]} not found")
            return json_response(200, self._render_version(req, parts[1]))
        raise ApiError(404, f"Unknown path {req.path}")

    def _advanced(self, t: float) -> None:
        self._refresh_backups(t)

    def _refresh_backups(self, t: float) -> None:
        """One backup per day since a cluster became AVAILABLE; drop expired ones."""
        for c in self._clusters.values():
            since = c.get("available_since")
            if since is None:
                continue
            days = int((t - since) // DAY_SECONDS)
            first = max(0, days - int(c["props"]["backup"]["retentionDays"]))
            for bid in [b["id"] for b in self._backups.values()
                        if b["clusterId"] == c["id"] and b.get("day") is not None
                        and b["day"] < first]:
                del self._backups[bid]
            for i in range(first, days + 1):
                bid = str(uuid.uuid5(_NS, f"{c['id']}/{i}"))
                earliest = since + i * DAY_SECONDS
                latest = None if i == days else since + (i + 1) * DAY_SECONDS
                if bid not in self._backups or self._backups[bid]["latest"] != latest:
                    self._backups[bid] = self._backup_record(bid, c, earliest, latest)
                    self._backups[bid]["day"] = i
        for bid in list(self._backups):
            b = self._backups[bid]
            if b["clusterId"] in self._clusters:
                continue
            if b["latest"] is None:
                b["latest"] = b.get("deleted_at") or t
            if t - (b["latest"] or t) > b["retentionDays"] * DAY_SECONDS:
                del self._backups[bid]

    def _backup_record(self, bid: str, c: dict[str, Any], earliest: float,
                       latest: float | None) -> dict[str, Any]:
        props = c["props"]
        return {"id": bid, "clusterId": c["id"], "clusterName": props["name"],
                "version": props["version"], "earliest": earliest, "latest": latest,
                "location": props["backup"]["location"],
                "retentionDays": props["backup"]["retentionDays"]}

    def _validate(self, p: Json, current: Json | None) -> Json:
        """A create's properties, or a PUT's (each field given is checked and replaces the
        current one)."""
        out: Json = dict(current) if current else {}
        for key, check in _FIELDS:
            if current is None or key in p:
                out[key] = check(p, current)
        if current is None:
            out["credentials"], out["_password"] = _credentials(p)
        elif isinstance(p.get("credentials"), dict) and p["credentials"].get("username") not in (
                None, current["credentials"]["username"]):
            raise ApiError(422, "[properties.credentials.username] cannot be changed")
        for flag in ("logsEnabled", "metricsEnabled"):
            if flag in p or current is None:
                value = p.get(flag, False)
                if not isinstance(value, bool):
                    raise ApiError(422, f"[properties.{flag}] must be a boolean")
                out[flag] = value
        if "backup" in p or current is None:
            out["backup"] = kept_at(p, "backup", BACKUP_LOCATIONS, "de", 14)
        return out

    def _creating(self, p: Json) -> Json:
        """A new cluster may restore a backup (``restoreFromBackup.sourceBackupId``), to a time
        within its recovery window."""
        restore = p.get("restoreFromBackup")
        if restore is not None:
            if not isinstance(restore, dict) or not restore.get("sourceBackupId"):
                raise ApiError(422, "[properties.restoreFromBackup.sourceBackupId] is required "
                                    "when restoring into a new cluster")
            backup = self._backups.get(restore["sourceBackupId"])
            if backup is None:
                raise ApiError(422, f"[properties.restoreFromBackup.sourceBackupId] backup "
                                    f"{restore['sourceBackupId']} does not exist")
            self._check_target_time(restore.get("recoveryTargetDatetime"), backup)
        return {"restoredFrom": restore}

    def _provision(self, props: Json) -> str | None:
        """With a real MariaDB wired in, create the cluster's database and user on it.

        The admin login is ``world.extras["mariadb_admin_user"]`` / ``["mariadb_admin_password"]``
        (default root with an empty password, the local server's setup). Returns a problem
        message, or None.
        """
        if not self.world.mariadb_host:
            return None
        import pymysql

        creds = props["credentials"]
        user, password, database = creds["username"], props["_password"], creds["database"]
        try:
            conn = pymysql.connect(
                host=self.world.mariadb_host, port=int(self.world.mariadb_port),
                user=self.world.extras.get("mariadb_admin_user", "root"),
                password=self.world.extras.get("mariadb_admin_password", ""),
                connect_timeout=5, autocommit=True)
        except pymysql.MySQLError as exc:
            return f"cannot reach the sandbox MariaDB server: {exc}"
        try:
            with conn.cursor() as cur:
                if database:
                    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
                cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
                cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password))
                if database:
                    cur.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO %s@'%%'", (user,))
                # The real DBaaS admin user may create databases; grant the scratch-database
                # pattern restore drills use, without opening the rest of the shared server.
                cur.execute("GRANT ALL PRIVILEGES ON `drill\\_%%`.* TO %s@'%%'", (user,))
        except pymysql.MySQLError as exc:
            return f"creating the database user failed: {exc}"
        finally:
            conn.close()
        return None

    def _check_target_time(self, value: Any, backup: dict[str, Any] | None) -> None:
        if value is None:
            return
        try:
            target = parse_iso(str(value))
        except ValueError:
            raise ApiError(422, f"[properties.restoreFromBackup.recoveryTargetDatetime] "
                                f"{value!r} is not an ISO 8601 date-time") from None
        if backup is not None:
            latest = backup["latest"] if backup["latest"] is not None else now()
            if not backup["earliest"] <= target <= latest:
                raise ApiError(422, f"[properties.restoreFromBackup.recoveryTargetDatetime] "
                                    f"{value} is outside the backup's recovery window "
                                    f"{iso(backup['earliest'])} .. {iso(latest)}")

    def _updating(self, c: Json, p: Json) -> None:
        """A PUT may restore the cluster in place (``restoreFromBackup`` with a time only)."""
        restore = p.get("restoreFromBackup")
        if restore is not None:
            if not isinstance(restore, dict) or restore.get("sourceBackupId"):
                raise ApiError(422, "[properties.restoreFromBackup] an in-place restore takes "
                                    "recoveryTargetDatetime only")
            if not restore.get("recoveryTargetDatetime"):
                raise ApiError(422, "[properties.restoreFromBackup.recoveryTargetDatetime] is "
                                    "required for an in-place restore")
            self._check_target_time(restore["recoveryTargetDatetime"], None)
            c["restoredFrom"] = restore

    def _deleting(self, c: Json, t: float) -> None:
        """The cluster's newest backup stops growing when it is deleted."""
        for b in self._backups.values():
            if b["clusterId"] == c["id"] and b["latest"] is None:
                b["deleted_at"] = t

    def _render_backup(self, req: Request, b: dict[str, Any]) -> dict[str, Any]:
        href = f"{req.base_url}{PREFIX}/backups/{b['id']}"
        return {"id": b["id"], "type": "backup", "href": href, "metadata": {}, "properties": {
                    "clusterId": b["clusterId"], "clusterName": b["clusterName"],
                    "mariadbClusterVersion": b["version"],
                    "earliestRecoveryTargetTime": iso(b["earliest"]),
                    "latestRecoveryTargetTime": iso(b["latest"]) if b["latest"] is not None
                    else None,
                    "location": b["location"]}}

    def _list_backups(self, req: Request) -> Response:
        backups = sorted(self._backups.values(), key=lambda b: (b["clusterId"], b["earliest"]))
        cid = req.query.get("filter.clusterId")
        if cid:
            backups = [b for b in backups if b["clusterId"] == cid]
        return json_response(200, self._page(req, "backups",
                                             [self._render_backup(req, b) for b in backups]))

    def _render_location(self, req: Request, loc: str) -> dict[str, Any]:
        return {"id": loc, "type": "backupLocation",
                "href": f"{req.base_url}{PREFIX}/backup-locations/{loc}", "metadata": {},
                "properties": {"location": loc}}

    def _render_version(self, req: Request, v: str) -> dict[str, Any]:
        return {"id": v, "type": "version", "href": f"{req.base_url}{PREFIX}/versions/{v}",
                "metadata": {}, "properties": {"version": v, "status": "SUPPORTED",
                                               "comment": "", "canUpgradeTo": VERSIONS[v]}}
