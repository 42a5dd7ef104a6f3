"""A local IONOS DBaaS In-Memory DB API v2 (what ``ionoscloud_dbaas_inmemorydb`` 1.x calls).

Served under ``/in-memory-db``: ``Configuration(host="http://127.0.0.1:PORT/in-memory-db",
token=...)``. Bearer or Basic auth, as the other DBaaS APIs (``check_basic_or_bearer``).

Paths, statuses and shapes follow the SDK's generated API classes and models (1.0.0):

- ``/clusters``: POST 201 ``ClusterRead``, GET list (``offset``, ``limit`` 1..1000,
  ``filter.name`` contains, case-insensitive, ``filter.state``); ``/clusters/{id}``: GET 200,
  PUT 200 ("ensure" with ``ClusterEnsure``; 409 while the cluster is being deleted), DELETE 202.
- ``metadata.state`` from ``ClusterState``: PROVISIONING → AVAILABLE after a create, UPDATING →
  AVAILABLE after a PUT, DESTROYING then 404 after a DELETE; ``fail_next`` makes the next create
  or update end FAILED with a ``statusMessage``.
- Validation answers 422 with the IONOS error body naming the field: the SDK's bounds
  (``InstanceConfiguration``: count 1..5, cores 1..62, ram 4..240 GB and never lower),
  ``Cluster.name`` (2..63, alphanumerics at both ends, ``-_.`` between), ``User.username``
  (2..16), ``HashedPassword.hash`` (exactly 64 lowercase hex characters, the SHA-256 of the
  password; the plain password is never sent), ``ClusterConnection.primaryInstanceAddress``
  (a prefix, outside 10.210.0.0/16 and 10.212.0.0/14), ``PersistenceMode`` and
  ``EvictionPolicy`` values, ``SnapshotConfiguration`` (retentionDays 1..365, snapshotHours
  0..23), a version from ``/versions`` and upgrades only to its ``canUpgradeTo``; the username
  and the connection cannot change.
- ``/snapshots`` (``filter.clusterId``): one per cluster once it is AVAILABLE and persists
  (persistenceMode RDB or RDB_AOF); ``/snapshot-locations`` and ``/versions``.

The password hash is write-only and never returned. ``metadata.dnsName`` is
``world.redis_host`` when a real Redis is wired in (the sandbox probes 127.0.0.1:6379): a create
then adds the cluster's user there with ``ACL SETUSER <user> on #<hash> ~* &* +@all`` (Redis
ACLs take the same SHA-256 hex), so a client logs in with the password it hashed; a failure
ends the cluster FAILED with the reason. Else the host is the fake the SDK documents,
``<clusterId>.in-memory-db.de-fra.ionos.com``. Not emulated: restores, replication.
"""

from __future__ import annotations

import ipaddress
import re
import socket
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

PREFIX = "/in-memory-db"
VERSIONS: dict[str, list[str]] = {"7.2": []}
SNAPSHOT_LOCATIONS = ["de/fra", "de/txl", "es/vit", "gb/bhx"]
STATES = ("PROVISIONING", "AVAILABLE", "UPDATING", "DESTROYING", "FAILED")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PERSISTENCE = ("None", "AOF", "RDB", "RDB_AOF")
EVICTION = ("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru",
            "volatile-lfu", "volatile-random", "volatile-ttl")
RESERVED = (ipaddress.ip_network("10.210.0.0/16"), ipaddress.ip_network("10.212.0.0/14"))
_NAME_RE = re.compile(r"^[a-zA-Z0-9]([-_.a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$")
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")
_INSTANCE_BOUNDS = {"count": (1, 5), "cores": (1, 62), "ram": (4, 240)}


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
    if "/" not in str(addr) or any(iface.ip in net for net in RESERVED):
        raise ApiError(422, f"[{where}.primaryInstanceAddress] {addr!r} must have a prefix and "
                            "lie outside 10.210.0.0/16 and 10.212.0.0/14")
    return {"datacenterId": dc, "lanId": lan, "primaryInstanceAddress": str(addr)}


def _instances(p: dict[str, Any], current: dict[str, Any] | None) -> dict[str, int]:
    where = "properties.instances"
    inst = _object(p, "instances", "properties")
    out = {key: _int(inst, key, lo, hi, where) for key, (lo, hi) in _INSTANCE_BOUNDS.items()}
    if current and out["ram"] < current["instances"]["ram"]:
        raise ApiError(422, f"[{where}.ram] RAM cannot be downgraded (is "
                            f"{current['instances']['ram']} GB)")
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
    mw = _object(p, "maintenanceWindow", "properties")
    where = "properties.maintenanceWindow"
    if mw.get("dayOfTheWeek") not in DAYS:
        raise ApiError(422, f"[{where}.dayOfTheWeek] must be one of {list(DAYS)}")
    if not isinstance(mw.get("time"), str) or not _TIME_RE.match(mw["time"]):
        raise ApiError(422, f"[{where}.time] {mw.get('time')!r} must look like HH:MM:SS")
    return {"dayOfTheWeek": mw["dayOfTheWeek"], "time": mw["time"]}


def _credentials(p: dict[str, Any]) -> tuple[str, str]:
    where = "properties.credentials"
    creds = _object(p, "credentials", "properties")
    user = _need(creds, "username", where)
    if not isinstance(user, str) or not 2 <= len(user) <= 16:
        raise ApiError(422, f"[{where}.username] {user!r} must be 2-16 characters")
    pw = _object(creds, "password", where)
    digest = pw.get("hash")
    if not isinstance(digest, str) or not _HASH_RE.match(digest):
        raise ApiError(422, f"[{where}.password.hash] must be exactly 64 lowercase hexadecimal "
                            "characters (the SHA-256 of the password)")
    return user, digest


def _snapshot(p: dict[str, Any]) -> dict[str, Any]:
    s = p.get("snapshot") or {}
    where = "properties.snapshot"
    if not isinstance(s, dict):
        raise ApiError(422, f"[{where}] must be an object")
    location = s.get("location") or "de/fra"
    if location not in SNAPSHOT_LOCATIONS:
        raise ApiError(422, f"[{where}.location] {location!r} is not one of "
                            f"{SNAPSHOT_LOCATIONS}")
    days = _int(s, "retentionDays", 1, 365, where) if "retentionDays" in s else 7
    hours = s.get("snapshotHours") or [0]
    if not isinstance(hours, list) or not 1 <= len(hours) <= 24 or not all(
            isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 23 for h in hours):
        raise ApiError(422, f"[{where}.snapshotHours] must be 1-24 hours between 0 and 23")
    return {"location": location, "retentionDays": days, "snapshotHours": hours}


def _choice(p: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = p.get(key, default)
    if value not in allowed:
        raise ApiError(422, f"[properties.{key}] {value!r} is not one of {list(allowed)}")
    return str(value)


def validate(p: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """The cluster's stored properties from a POST (``current`` None) or PUT body."""
    name = _need(p, "name", "properties")
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) < 2:
        raise ApiError(422, f"[properties.name] {name!r} must be 2-63 characters, alphanumerics "
                            "with '-', '_' or '.' between")
    desc = p.get("description") or ""
    if not isinstance(desc, str):
        raise ApiError(422, "[properties.description] must be a string")
    out: dict[str, Any] = {
        "name": name, "description": desc, "version": _version(p, current),
        "instances": _instances(p, current), "connection": _connection(p),
        "persistenceMode": _choice(p, "persistenceMode", PERSISTENCE, "RDB"),
        "evictionPolicy": _choice(p, "evictionPolicy", EVICTION, "allkeys-lru"),
        "snapshot": _snapshot(p), "maintenanceWindow": _window(p)}
    if current is None:
        user, digest = _credentials(p)
        out["credentials"], out["_hash"] = {"username": user}, digest
        return out
    if out["connection"] != current["connection"]:
        raise ApiError(422, "[properties.connection] cannot be changed; create a new cluster")
    out["credentials"], out["_hash"] = current["credentials"], current["_hash"]
    creds = p.get("credentials")
    if isinstance(creds, dict) and creds.get("username") not in (
            None, current["credentials"]["username"]):
        raise ApiError(422, "[properties.credentials.username] cannot be changed")
    return out


def redis_command(host: str, port: int, *args: str, timeout: float = 3.0) -> bytes:
    """One command to a Redis server in RESP; its first reply line (``-ERR ...`` on errors)."""
    payload = f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(payload)
        return sock.recv(4096).split(b"\r\n", 1)[0]


class InMemoryDBService(IonosServiceBase):
    """The DBaaS In-Memory DB v2 emulator (see the module docstring)."""

    name = "inmemorydb"

    def __init__(self, world: World, token: str, delay: float = 0.0,
                 state_dir: Path | None = None, username: str = "", password: str = "") -> None:
        self.world = world
        self.token, self.username, self.password = token, username, password
        self.delay = float(delay)
        self._lock = threading.RLock()
        self._file = StateFile(state_dir, "inmemorydb")
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
                raise ApiError(404, f"Unknown path {req.path}; the In-Memory DB API lives under "
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
        catalogue = ("snapshots", "snapshot-locations", "versions")
        if m == "GET" and parts and parts[0] in catalogue:
            return self._catalogue(req, parts)
        if parts and parts[0] in ("clusters", *catalogue):
            raise ApiError(405, f"Method {m} is not allowed on {req.path}")
        raise ApiError(404, f"Unknown path {req.path}")

    def _catalogue(self, req: Request, parts: list[str]) -> Response:
        kind = parts[0]
        items = {"snapshots": self._snapshots(req), "snapshot-locations": [
            self._item(req, kind, loc.replace("/", "-"), "snapshotLocation", {"location": loc})
            for loc in SNAPSHOT_LOCATIONS], "versions": [
            self._item(req, kind, v, "version", {"version": v, "status": "SUPPORTED",
                                                 "canUpgradeTo": VERSIONS[v]})
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

    def _snapshots(self, req: Request) -> list[dict[str, Any]]:
        want = req.query.get("filter.clusterId")
        out = []
        for c in sorted(self._clusters.values(), key=lambda c: c["created"]):
            if c.get("available_since") is None or (want and c["id"] != want) or \
                    c["props"]["persistenceMode"] not in ("RDB", "RDB_AOF"):
                continue
            sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"inmemorydb-snapshot/{c['id']}"))
            out.append(self._item(req, "snapshots", sid, "snapshot", {
                "clusterId": c["id"], "location": c["props"]["snapshot"]["location"],
                "version": c["props"]["version"], "snapshotTime": iso(c["available_since"])}))
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
        problem = self._provision_real_user(props)
        if problem:
            c["pending"][1] = "FAILED"
            c["statusMessage"] = problem
        return json_response(201, self._render(req, c))

    def _provision_real_user(self, props: dict[str, Any]) -> str | None:
        """With a real Redis wired in, its ACL user for the cluster (password by its hash)."""
        host = self.world.extras.get("redis_host")
        if not host:
            return None
        user = props["credentials"]["username"]
        try:
            answer = redis_command(host, int(self.world.extras.get("redis_port", 6379)),
                                   "ACL", "SETUSER", user, "reset", "on", f"#{props['_hash']}",
                                   "~*", "&*", "+@all")
        except OSError as exc:
            return f"cannot reach the sandbox Redis server: {exc}"
        if answer != b"+OK":
            return f"creating the Redis user failed: {answer.decode(errors='replace')}"
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
                "resourceURN": f"ionos:dbaas:inmemorydb:de/fra:cluster/{c['id']}",
                "state": c["state"], "statusMessage": c.get("statusMessage") or "",
                "dnsName": self.world.extras.get("redis_host")
                or f"{c['id']}.in-memory-db.de-fra.ionos.com"},
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
        clusters = [c for c in clusters
                    if (not name or name.lower() in c["props"]["name"].lower())
                    and (not state or c["state"] == state)]
        return json_response(200, self._page(req, "clusters",
                                             [self._render(req, c) for c in clusters]))
