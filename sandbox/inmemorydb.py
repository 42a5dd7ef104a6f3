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
import uuid

from sandbox import dbaas
from sandbox.dbaas import DbaasService, Json
from sandbox.http import Request
from sandbox.ionos_common import ApiError, iso

VERSIONS: dict[str, list[str]] = {"7.2": []}
SNAPSHOT_LOCATIONS = ["de/fra", "de/txl", "es/vit", "gb/bhx"]
PERSISTENCE = ("None", "AOF", "RDB", "RDB_AOF")
EVICTION = ("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru",
            "volatile-lfu", "volatile-random", "volatile-ttl")
RESERVED = (ipaddress.ip_network("10.210.0.0/16"), ipaddress.ip_network("10.212.0.0/14"))
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_INSTANCE_BOUNDS = {"count": (1, 5), "cores": (1, 62), "ram": (4, 240)}


def _credentials(p: Json) -> tuple[str, str]:
    where = "properties.credentials"
    creds = dbaas.json_object(p, "credentials", "properties")
    user = dbaas.need(creds, "username", where)
    if not isinstance(user, str) or not 2 <= len(user) <= 16:
        raise ApiError(422, f"[{where}.username] {user!r} must be 2-16 characters")
    pw = dbaas.json_object(creds, "password", where)
    digest = pw.get("hash")
    if not isinstance(digest, str) or not _HASH_RE.match(digest):
        raise ApiError(422, f"[{where}.password.hash] must be exactly 64 lowercase hexadecimal "
                            "characters (the SHA-256 of the password)")
    return user, digest


def _snapshot(p: Json) -> Json:
    out = dbaas.kept_at(p, "snapshot", SNAPSHOT_LOCATIONS, "de/fra", 7)
    hours = (p.get("snapshot") or {}).get("snapshotHours") or [0]
    if not isinstance(hours, list) or not 1 <= len(hours) <= 24 or not all(
            isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 23 for h in hours):
        raise ApiError(422, "[properties.snapshot.snapshotHours] must be 1-24 hours between 0 "
                            "and 23")
    return {**out, "snapshotHours": hours}


def validate(p: Json, current: Json | None) -> Json:
    """The cluster's stored properties from a POST (``current`` None) or PUT body."""
    out = dbaas.name_and_description(p)
    out.update(version=dbaas.version(p, current, VERSIONS),
               instances=dbaas.instances(p, current, _INSTANCE_BOUNDS, "ram",
                                         "RAM cannot be downgraded"),
               connection=dbaas.connection(p, RESERVED),
               persistenceMode=dbaas.choice(p, "persistenceMode", PERSISTENCE, "RDB"),
               evictionPolicy=dbaas.choice(p, "evictionPolicy", EVICTION, "allkeys-lru"),
               snapshot=_snapshot(p), maintenanceWindow=dbaas.maintenance_window(p, None))
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


class InMemoryDBService(DbaasService):
    """The DBaaS In-Memory DB v2 emulator (see the module docstring)."""

    name = "inmemorydb"
    prefix = "/in-memory-db"
    title = "In-Memory DB API"
    urn = "inmemorydb"
    catalogue = ("snapshots", "snapshot-locations", "versions")
    name_filter_ignores_case = True

    def _validate(self, p: Json, current: Json | None) -> Json:
        return validate(p, current)

    def _dns_name(self, c: Json) -> str:
        host = self.world.extras.get("redis_host")
        return host or f"{c['id']}.in-memory-db.de-fra.ionos.com"

    def _catalogue_items(self, req: Request, kind: str) -> list[Json]:
        if kind == "snapshots":
            return self._snapshots(req)
        if kind == "snapshot-locations":
            return [self._item(req, kind, loc.replace("/", "-"), "snapshotLocation",
                               {"location": loc}) for loc in SNAPSHOT_LOCATIONS]
        return [self._item(req, kind, v, "version", {"version": v, "status": "SUPPORTED",
                                                     "canUpgradeTo": VERSIONS[v]})
                for v in VERSIONS]

    def _snapshots(self, req: Request) -> list[Json]:
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

    def _provision(self, props: Json) -> str | None:
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
