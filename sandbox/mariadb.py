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
    parse_iso,
    query_int,
)
from sandbox.world import World

PREFIX = "/mariadb/v2"
VERSIONS = {"10.6": ["10.11"], "10.11": []}
BACKUP_LOCATIONS = ["de", "eu-central-2", "eu-south-2"]
STATES = {"PROVISIONING", "AVAILABLE", "UPDATING", "DESTROYING", "FAILED"}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_SECONDS = 86400.0
_NAME_RE = re.compile(r"^[a-zA-Z0-9]([-_.a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$")
_USER_RE = re.compile(r"^[A-Za-z0-9_]{2,16}$")
_DB_RE = re.compile(r"^[A-Za-z0-9_]{2,63}$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")
_CIDR_RE = re.compile(r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$")
_RESERVED_USERS = {"mariadb", "admin", "standby", "root", "replication"}
_NS = uuid.UUID("6f1c3b1e-5d7a-4c35-9a0e-2f6f5a1b7c11")


class MariaDBService(IonosServiceBase):
    """The DBaaS MariaDB v2 emulator (see the module docstring)."""

    name = "mariadb"

    def __init__(self, world: World, token: str, delay: float = 0.0,
                 state_dir: Path | None = None, username: str = "", password: str = "") -> None:
        self.world = world
        self.token = token
        self.username = username
        self.password = password
        self.delay = float(delay)
        self._lock = threading.RLock()
        self._file = StateFile(state_dir, "mariadb")
        self._clusters: dict[str, dict[str, Any]] = {}
        self._backups: dict[str, dict[str, Any]] = {}
        self._fail_next = False
        loaded = self._file.load()
        if loaded:
            self._clusters = loaded.get("clusters", {})
            self._backups = loaded.get("backups", {})

    def fail_next(self) -> None:
        """Make the next cluster create or update end FAILED."""
        with self._lock:
            self._fail_next = True

    def reset(self) -> None:
        with self._lock:
            self._clusters.clear()
            self._backups.clear()
            self._save()

    def add_backup(self, cluster_id: str, earliest: float, latest: float | None) -> str:
        """Record an extra backup of a cluster (tests of restore and backup-age checks)."""
        with self._lock:
            cluster = self._clusters.get(cluster_id)
            if cluster is None:
                raise KeyError(f"no MariaDB cluster {cluster_id}")
            bid = str(uuid.uuid4())
            self._backups[bid] = self._backup_record(bid, cluster, earliest, latest)
            self._save()
            return bid

    def _save(self) -> None:
        self._file.save({"clusters": self._clusters, "backups": self._backups})

    def handle(self, req: Request) -> Response:
        try:
            if not req.path.startswith(PREFIX):
                raise ApiError(404, f"Unknown path {req.path}; the MariaDB API lives under "
                                    f"{PREFIX}")
            path = req.path[len(PREFIX):].rstrip("/")
            check_basic_or_bearer(req, self.token, self.username, self.password)
            with self._lock:
                self._advance()
                resp = self._route(req, path)
                if req.method in ("POST", "PUT", "PATCH", "DELETE"):
                    self._save()
            return resp
        except ApiError as err:
            return error_response(err)

    def _route(self, req: Request, path: str) -> Response:
        parts = path.strip("/").split("/") if path.strip("/") else []
        m = req.method
        if parts == ["clusters"]:
            if m == "GET":
                return self._list_clusters(req)
            if m == "POST":
                return self._create(req)
        elif len(parts) == 2 and parts[0] == "clusters":
            if m == "GET":
                return json_response(200, self._render(req, self._cluster(parts[1])))
            if m == "PUT":
                return self._put(req, parts[1])
            if m == "DELETE":
                return self._delete(parts[1])
        elif parts == ["backups"] and m == "GET":
            return self._list_backups(req)
        elif len(parts) == 2 and parts[0] == "backups" and m == "GET":
            backup = self._backups.get(parts[1])
            if backup is None:
                raise ApiError(404, f"backup {parts[1]} not found")
            return json_response(200, self._render_backup(req, backup))
        elif parts == ["backup-locations"] and m == "GET":
            items = [self._render_location(req, loc) for loc in BACKUP_LOCATIONS]
            return json_response(200, self._page(req, "backup-locations", items))
        elif len(parts) == 2 and parts[0] == "backup-locations" and m == "GET":
            if parts[1] not in BACKUP_LOCATIONS:
                raise ApiError(404, f"backup location {parts[1]} not found")
            return json_response(200, self._render_location(req, parts[1]))
        elif parts == ["versions"] and m == "GET":
            items = [self._render_version(req, v) for v in VERSIONS]
            return json_response(200, self._page(req, "versions", items))
        elif len(parts) == 2 and parts[0] == "versions" and m == "GET":
            if parts[1] not in VERSIONS:
                raise ApiError(404, f"version {parts[1]} not found")
            return json_response(200, self._render_version(req, parts[1]))
        else:
            raise ApiError(404, f"Unknown path {req.path}")
        raise ApiError(405, f"Method {m} is not allowed on {req.path}")

    def _advance(self) -> None:
        t = now()
        for cid in list(self._clusters):
            c = self._clusters[cid]
            pending = c.get("pending")
            if pending and pending[0] <= t:
                c["state"] = pending[1]
                c["pending"] = None
                c["modified"] = pending[0]
                if c["state"] == "AVAILABLE" and c.get("available_since") is None:
                    c["available_since"] = pending[0]
            if c.get("delete_at") is not None and c["delete_at"] <= t:
                del self._clusters[cid]
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

    def _set_state(self, c: dict[str, Any], interim: str, final: str) -> None:
        t = now()
        if self._fail_next:
            self._fail_next = False
            final = "FAILED"
            c["statusMessage"] = "Provisioning failed (injected by the sandbox)"
        else:
            c["statusMessage"] = ""
        c["state"] = interim
        c["modified"] = t
        c["pending"] = [t + self.delay, final]

    @staticmethod
    def _need(d: dict[str, Any], key: str, where: str) -> Any:
        if d.get(key) is None:
            raise ApiError(422, f"[{where}.{key}] Attribute is required")
        return d[key]

    @staticmethod
    def _int(d: dict[str, Any], key: str, lo: int, hi: int, where: str) -> int:
        v = d.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ApiError(422, f"[{where}.{key}] must be an integer between {lo} and {hi}, "
                                f"got {v!r}")
        return v

    def _validate(self, p: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        w = "properties"
        out: dict[str, Any] = dict(current) if current else {}
        if current is None or "name" in p:
            name = self._need(p, "name", w)
            if not isinstance(name, str) or not _NAME_RE.match(name):
                raise ApiError(422, f"[{w}.name] {name!r} must be 2-63 characters, "
                                    "alphanumerics with '-', '_' or '.' between")
            out["name"] = name
        if "description" in p or current is None:
            desc = p.get("description") or ""
            if not isinstance(desc, str):
                raise ApiError(422, f"[{w}.description] must be a string")
            out["description"] = desc
        if current is None or "version" in p:
            version = self._need(p, "version", w)
            if not isinstance(version, str) or version not in VERSIONS:
                raise ApiError(422, f"[{w}.version] {version!r} is not supported; GET /versions "
                                    f"lists {sorted(VERSIONS)}")
            if current and version != current["version"] and \
                    version not in VERSIONS[current["version"]]:
                raise ApiError(422, f"[{w}.version] cannot change from {current['version']} to "
                                    f"{version}; allowed: {VERSIONS[current['version']]}")
            out["version"] = version
        if current is None or "instances" in p:
            inst = self._need(p, "instances", w)
            if not isinstance(inst, dict):
                raise ApiError(422, f"[{w}.instances] must be an object")
            wi = f"{w}.instances"
            storage = self._int(inst, "storageSize", 10, 4096, wi)
            if current and storage < current["instances"]["storageSize"]:
                raise ApiError(422, f"[{wi}.storageSize] storage cannot shrink (is "
                                    f"{current['instances']['storageSize']} GB)")
            out["instances"] = {"count": self._int(inst, "count", 1, 5, wi),
                                "ram": self._int(inst, "ram", 4, 240, wi),
                                "cores": self._int(inst, "cores", 1, 62, wi),
                                "storageSize": storage}
        if current is None or "connection" in p:
            conn = self._need(p, "connection", w)
            wc = f"{w}.connection"
            if not isinstance(conn, dict):
                raise ApiError(422, f"[{wc}] must be an object")
            dc = self._need(conn, "datacenterId", wc)
            lan = self._need(conn, "lanId", wc)
            cidr = self._need(conn, "primaryInstanceAddress", wc)
            if not isinstance(dc, str) or not isinstance(lan, str) or not lan.isdigit():
                raise ApiError(422, f"[{wc}] datacenterId must be a UUID string and lanId a "
                                    "numeric string such as \"2\"")
            if not isinstance(cidr, str) or not _CIDR_RE.match(cidr):
                raise ApiError(422, f"[{wc}.primaryInstanceAddress] {cidr!r} must be an IPv4 "
                                    "address with a prefix, such as 192.168.1.100/24")
            out["connection"] = {"datacenterId": dc, "lanId": lan,
                                 "primaryInstanceAddress": cidr}
        if "maintenanceWindow" in p or current is None:
            mw = p.get("maintenanceWindow") or {"dayOfTheWeek": "Sunday", "time": "03:00:00"}
            wm = f"{w}.maintenanceWindow"
            if not isinstance(mw, dict) or mw.get("dayOfTheWeek") not in DAYS:
                raise ApiError(422, f"[{wm}.dayOfTheWeek] must be one of {sorted(DAYS)}")
            if not isinstance(mw.get("time"), str) or not _TIME_RE.match(mw["time"]):
                raise ApiError(422, f"[{wm}.time] {mw.get('time')!r} must look like HH:MM:SS")
            out["maintenanceWindow"] = {"dayOfTheWeek": mw["dayOfTheWeek"], "time": mw["time"]}
        if current is None:
            creds = self._need(p, "credentials", w)
            wcr = f"{w}.credentials"
            if not isinstance(creds, dict):
                raise ApiError(422, f"[{wcr}] must be an object")
            user = self._need(creds, "username", wcr)
            pw = self._need(creds, "password", wcr)
            if not isinstance(user, str) or not _USER_RE.match(user) or \
                    user.lower() in _RESERVED_USERS:
                raise ApiError(422, f"[{wcr}.username] {user!r} must be 2-16 of [A-Za-z0-9_] "
                                    f"and not reserved ({sorted(_RESERVED_USERS)})")
            if not isinstance(pw, str) or not 10 <= len(pw) <= 256:
                raise ApiError(422, f"[{wcr}.password] must be 10-256 characters")
            db = creds.get("database")
            if db is not None and (not isinstance(db, str) or not _DB_RE.match(db)):
                raise ApiError(422, f"[{wcr}.database] {db!r} must be 2-63 of [A-Za-z0-9_]")
            out["credentials"] = {"username": user, "database": db}
            out["_password"] = pw
        elif "credentials" in p and isinstance(p["credentials"], dict) and \
                p["credentials"].get("username") not in (None, current["credentials"]["username"]):
            raise ApiError(422, f"[{w}.credentials.username] cannot be changed")
        for flag in ("logsEnabled", "metricsEnabled"):
            if flag in p or current is None:
                value = p.get(flag, False)
                if not isinstance(value, bool):
                    raise ApiError(422, f"[{w}.{flag}] must be a boolean")
                out[flag] = value
        if "backup" in p or current is None:
            b = p.get("backup") or {}
            wb = f"{w}.backup"
            if not isinstance(b, dict):
                raise ApiError(422, f"[{wb}] must be an object")
            location = b.get("location") or "de"
            if location not in BACKUP_LOCATIONS:
                raise ApiError(422, f"[{wb}.location] {location!r} is not one of "
                                    f"{BACKUP_LOCATIONS}")
            days = self._int(b, "retentionDays", 1, 365, wb) if "retentionDays" in b else 14
            out["backup"] = {"location": location, "retentionDays": days}
        return out

    def _cluster(self, cid: str) -> dict[str, Any]:
        c = self._clusters.get(cid)
        if c is None:
            raise ApiError(404, f"cluster {cid} not found")
        return c

    def _dns_name(self, cid: str) -> str:
        return self.world.mariadb_host or f"ma-{cid[:8]}.mariadb.de-fra.ionos.com"

    def _render(self, req: Request, c: dict[str, Any]) -> dict[str, Any]:
        props = {k: v for k, v in c["props"].items() if not k.startswith("_")}
        return {
            "id": c["id"], "type": "cluster", "href": f"{req.base_url}{PREFIX}/clusters/{c['id']}",
            "metadata": {
                "createdDate": iso(c["created"]), "createdBy": "sandbox",
                "createdByUserId": "sandbox-user", "lastModifiedDate": iso(c["modified"]),
                "lastModifiedBy": "sandbox", "lastModifiedByUserId": "sandbox-user",
                "resourceURN": f"ionos:dbaas:mariadb:de/fra:cluster/{c['id']}",
                "state": c["state"], "statusMessage": c.get("statusMessage") or "",
                "dnsName": self._dns_name(c["id"]),
            },
            "properties": props,
        }

    def _page(self, req: Request, kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        offset = query_int(req, "offset", 0, 0, 10**9)
        limit = query_int(req, "limit", 100, 1, 1000)
        href = f"{req.base_url}{PREFIX}/{kind}"
        return {"id": kind, "type": "collection", "href": href,
                "items": items[offset:offset + limit], "offset": offset, "limit": limit,
                "_links": page_links(href, offset, limit, len(items))}

    def _list_clusters(self, req: Request) -> Response:
        clusters = sorted(self._clusters.values(), key=lambda c: c["created"])
        name = req.query.get("filter.name")
        state = req.query.get("filter.state")
        if state is not None and state not in STATES:
            raise ApiError(400, f"filter.state {state!r} is not one of {sorted(STATES)}")
        if name:
            clusters = [c for c in clusters if name in c["props"]["name"]]
        if state:
            clusters = [c for c in clusters if c["state"] == state]
        return json_response(200, self._page(req, "clusters",
                                             [self._render(req, c) for c in clusters]))

    def _create(self, req: Request) -> Response:
        body = json_body(req)
        p = body.get("properties")
        if not isinstance(p, dict):
            raise ApiError(422, "[properties] Attribute is required")
        props = self._validate(p, None)
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
        cid = str(uuid.uuid4())
        t = now()
        c: dict[str, Any] = {
            "id": cid, "created": t, "modified": t, "state": "PROVISIONING", "props": props,
            "pending": None, "delete_at": None, "available_since": None,
            "restoredFrom": restore}
        self._clusters[cid] = c
        self._set_state(c, "PROVISIONING", "AVAILABLE")
        problem = self._provision_real_database(props)
        if problem:
            c["pending"][1] = "FAILED"
            c["statusMessage"] = problem
        return json_response(201, self._render(req, c))

    def _provision_real_database(self, props: dict[str, Any]) -> str | None:
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

    def _put(self, req: Request, cid: str) -> Response:
        c = self._cluster(cid)
        if c["state"] in ("DESTROYING",):
            raise ApiError(409, f"cluster {cid} is being deleted")
        body = json_body(req)
        p = body.get("properties")
        if not isinstance(p, dict):
            raise ApiError(422, "[properties] Attribute is required")
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
        c["props"] = self._validate(p, c["props"])
        self._set_state(c, "UPDATING", "AVAILABLE")
        return json_response(200, self._render(req, c))

    def _delete(self, cid: str) -> Response:
        c = self._cluster(cid)
        if c["state"] != "DESTROYING":
            t = now()
            c["state"] = "DESTROYING"
            c["pending"] = None
            c["modified"] = t
            c["delete_at"] = t + self.delay
            for b in self._backups.values():
                if b["clusterId"] == cid and b["latest"] is None:
                    b["deleted_at"] = t
        return Response(status=202, body=None)

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
