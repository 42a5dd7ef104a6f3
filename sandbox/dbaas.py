"""What the IONOS DBaaS API emulators share (MariaDB, PostgreSQL, In-Memory DB): clusters with
states that settle after the sandbox's delay, their JSON, lists and the field checks.

The three APIs (their SDKs' generated API classes and models) have one shape:

- ``/clusters``: POST 201, GET list (``offset``, ``limit`` 1..1000, ``filter.name`` contains,
  ``filter.state``); ``/clusters/{id}``: GET 200, PUT 200 (409 while the cluster is being
  deleted), DELETE 202.
- ``metadata.state``: PROVISIONING → AVAILABLE after a create, UPDATING → AVAILABLE after a PUT,
  DESTROYING then 404 after a DELETE; ``fail_next`` makes the next create or update end FAILED
  with a ``statusMessage``, as does a failure to provision the real server a sandbox wires in.
- Validation answers 422 with the IONOS error body, naming the field (``[properties.x] ...``).

A service sets ``name``, ``prefix``, ``title``, ``urn`` (of ``resourceURN``) and
``catalogue`` (the read-only collections beside ``/clusters``) and implements ``_validate``,
``_dns_name`` and ``_catalogue_items``; hooks let it add to a create, a PUT, a delete or the
state's advance.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any, ClassVar

from sandbox.http import Request, Response, json_response
from sandbox.ionos_common import ApiError, IonosApi, iso, json_body, now

STATES = ("PROVISIONING", "AVAILABLE", "UPDATING", "DESTROYING", "FAILED")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NAME_RE = re.compile(r"^[a-zA-Z0-9]([-_.a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")
Json = dict[str, Any]


def need(d: Json, key: str, where: str) -> Any:
    """``d[key]``, or a 422 naming ``where.key`` when it is missing or null."""
    if d.get(key) is None:
        raise ApiError(422, f"[{where}.{key}] Attribute is required")
    return d[key]


def integer(d: Json, key: str, lo: int, hi: int, where: str) -> int:
    """``d[key]`` as an integer within ``lo..hi`` (booleans are not integers), else a 422."""
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ApiError(422, f"[{where}.{key}] must be an integer between {lo} and {hi}, got {v!r}")
    return v


def json_object(d: Json, key: str, where: str) -> Json:
    """``d[key]``, required and an object, else a 422."""
    value = need(d, key, where)
    if not isinstance(value, dict):
        raise ApiError(422, f"[{where}.{key}] must be an object")
    return value


def name_and_description(p: Json) -> Json:
    """``name`` (2..63 characters, alphanumerics at both ends, ``-_.`` between) and
    ``description`` (a string, default empty) of a cluster's properties."""
    name = need(p, "name", "properties")
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) < 2:
        raise ApiError(422, f"[properties.name] {name!r} must be 2-63 characters, alphanumerics "
                            "with '-', '_' or '.' between")
    desc = p.get("description") or ""
    if not isinstance(desc, str):
        raise ApiError(422, "[properties.description] must be a string")
    return {"name": name, "description": desc}


def connection(p: Json, reserved: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
               ) -> dict[str, str]:
    """``properties.connection``: a datacenter, a numeric LAN id and the primary instance's
    address with a prefix, outside the ``reserved`` networks."""
    where = "properties.connection"
    conn = json_object(p, "connection", "properties")
    dc, lan = need(conn, "datacenterId", where), need(conn, "lanId", where)
    addr = need(conn, "primaryInstanceAddress", where)
    if not isinstance(dc, str) or not isinstance(lan, str) or not lan.isdigit():
        raise ApiError(422, f"[{where}] datacenterId must be a UUID string and lanId a numeric "
                            "string such as \"2\"")
    try:
        iface = ipaddress.IPv4Interface(addr)
    except (ValueError, TypeError):
        raise ApiError(422, f"[{where}.primaryInstanceAddress] {addr!r} must be an IPv4 address "
                            "with a prefix, such as 192.168.1.100/24") from None
    if "/" not in str(addr) or any(iface.ip in net for net in reserved):
        raise ApiError(422, f"[{where}.primaryInstanceAddress] {addr!r} must have a prefix and "
                            f"lie outside {' and '.join(map(str, reserved))}")
    return {"datacenterId": dc, "lanId": lan, "primaryInstanceAddress": str(addr)}


def instances(p: Json, current: Json | None, bounds: dict[str, tuple[int, int]],
              no_lower: str, why: str) -> dict[str, int]:
    """``properties.instances`` within ``bounds``; ``no_lower`` may not go below the current
    value (``why`` says so in the 422, e.g. "storage cannot shrink")."""
    where = "properties.instances"
    inst = json_object(p, "instances", "properties")
    out = {key: integer(inst, key, lo, hi, where) for key, (lo, hi) in bounds.items()}
    if current and out[no_lower] < current["instances"][no_lower]:
        raise ApiError(422, f"[{where}.{no_lower}] {why} (is "
                            f"{current['instances'][no_lower]} GB)")
    return out


def version(p: Json, current: Json | None, versions: dict[str, list[str]]) -> str:
    """``properties.version``: one of ``versions``, and from the current one only to what it
    can be upgraded to."""
    value = need(p, "version", "properties")
    if not isinstance(value, str) or value not in versions:
        raise ApiError(422, f"[properties.version] {value!r} is not supported; GET /versions "
                            f"lists {sorted(versions)}")
    if current and value != current["version"] and value not in versions[current["version"]]:
        raise ApiError(422, f"[properties.version] cannot change from {current['version']} to "
                            f"{value}; allowed: {versions[current['version']]}")
    return value


def maintenance_window(p: Json, default: dict[str, str] | None) -> dict[str, str]:
    """``properties.maintenanceWindow`` (a day and ``HH:MM:SS``); ``default`` when absent, or
    required when there is none."""
    where = "properties.maintenanceWindow"
    if default is None:
        mw: Any = json_object(p, "maintenanceWindow", "properties")
    else:
        mw = p.get("maintenanceWindow") or default
    if not isinstance(mw, dict) or mw.get("dayOfTheWeek") not in DAYS:
        raise ApiError(422, f"[{where}.dayOfTheWeek] must be one of {list(DAYS)}")
    if not isinstance(mw.get("time"), str) or not TIME_RE.match(mw["time"]):
        raise ApiError(422, f"[{where}.time] {mw.get('time')!r} must look like HH:MM:SS")
    return {"dayOfTheWeek": mw["dayOfTheWeek"], "time": mw["time"]}


def kept_at(p: Json, key: str, locations: list[str], default_location: str,
            default_days: int) -> Json:
    """``properties.key`` of where the API keeps a cluster's backups or snapshots: an object
    with a ``location`` (one of ``locations``) and ``retentionDays`` (1..365)."""
    b = p.get(key) or {}
    where = f"properties.{key}"
    if not isinstance(b, dict):
        raise ApiError(422, f"[{where}] must be an object")
    location = b.get("location") or default_location
    if location not in locations:
        raise ApiError(422, f"[{where}.location] {location!r} is not one of {locations}")
    days = integer(b, "retentionDays", 1, 365, where) if "retentionDays" in b else default_days
    return {"location": location, "retentionDays": days}


def choice(p: Json, key: str, allowed: tuple[str, ...], default: str) -> str:
    """``properties.key``, one of ``allowed`` (``default`` when absent)."""
    value = p.get(key, default)
    if value not in allowed:
        raise ApiError(422, f"[properties.{key}] {value!r} is not one of {list(allowed)}")
    return str(value)


class DbaasService(IonosApi):
    """A DBaaS API emulator's clusters (see the module docstring)."""

    urn: ClassVar[str]  # resourceURN: ionos:dbaas:<urn>:de/fra:cluster/<id>
    states: ClassVar[tuple[str, ...]] = STATES  # as filter.state's 400 lists them
    catalogue: ClassVar[tuple[str, ...]] = ()  # collections beside /clusters (GET only)
    name_filter_ignores_case: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._clusters: dict[str, Json] = {}
        self._fail_next = False
        super().__init__(*args, **kwargs)

    def fail_next(self) -> None:
        """Make the next cluster create or update end FAILED."""
        with self._lock:
            self._fail_next = True

    def _state(self) -> Json:
        return {"clusters": self._clusters}

    def _restore(self, loaded: Json) -> None:
        self._clusters = loaded.get("clusters", {})

    def _clear(self) -> None:
        self._clusters.clear()

    def _validate(self, p: Json, current: Json | None) -> Json:  # pragma: no cover
        """The cluster's stored properties from a POST (``current`` None) or PUT body."""
        raise NotImplementedError

    def _dns_name(self, c: Json) -> str:  # pragma: no cover
        """``metadata.dnsName``: the real server's host when one is wired in, else a fake."""
        raise NotImplementedError

    def _catalogue_items(self, req: Request, kind: str) -> list[Json]:  # pragma: no cover
        """Every item of the ``kind`` collection of ``catalogue``."""
        raise NotImplementedError

    def _provision(self, props: Json) -> str | None:
        """Set the cluster up on the real server wired in, if any; a problem, or None."""
        return None

    def _route(self, req: Request, parts: list[str]) -> Response:
        m, n = req.method, len(parts)
        if parts == ["clusters"] and m in ("GET", "POST"):
            return self._list(req) if m == "GET" else self._create(req)
        if n == 2 and parts[0] == "clusters" and m in ("GET", "PUT", "DELETE"):
            c = self._cluster(parts[1])
            if m == "GET":
                return json_response(200, self._render(req, c))
            return self._put(req, c) if m == "PUT" else self._delete(c)
        if m == "GET" and parts and parts[0] in self.catalogue:
            return self._catalogue(req, parts)
        if parts and parts[0] in ("clusters", *self.catalogue):
            raise ApiError(405, f"Method {m} is not allowed on {req.path}")
        raise ApiError(404, f"Unknown path {req.path}")

    def _catalogue(self, req: Request, parts: list[str]) -> Response:
        kind = parts[0]
        items = self._catalogue_items(req, kind)
        if len(parts) == 1:
            return json_response(200, self._page(req, kind, items))
        found = next((i for i in items if i["id"] == parts[1]), None) if len(parts) == 2 else None
        if found is None:
            raise ApiError(404, f"{kind} {'/'.join(parts[1:])} not found")
        return json_response(200, found)

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
        self._advanced(t)

    def _advanced(self, t: float) -> None:
        """What else moves on at time ``t`` once the clusters have (nothing here)."""

    def _set_state(self, c: Json, interim: str) -> None:
        t = now()
        final = "AVAILABLE"
        c["statusMessage"] = ""
        if self._fail_next:
            self._fail_next = False
            final = "FAILED"
            c["statusMessage"] = "Provisioning failed (injected by the sandbox)"
        c.update(state=interim, modified=t, pending=[t + self.delay, final])

    def _cluster(self, cid: str) -> Json:
        c = self._clusters.get(cid)
        if c is None:
            raise ApiError(404, f"cluster {cid} not found")
        return c

    @staticmethod
    def _props(req: Request) -> Json:
        p = json_body(req).get("properties")
        if not isinstance(p, dict):
            raise ApiError(422, "[properties] Attribute is required")
        return p

    def _create(self, req: Request) -> Response:
        p = self._props(req)
        props = self._validate(p, None)
        extra = self._creating(p)
        cid, t = str(uuid.uuid4()), now()
        c: Json = {"id": cid, "created": t, "modified": t, "props": props, "pending": None,
                   "delete_at": None, "available_since": None, **extra}
        self._clusters[cid] = c
        self._set_state(c, "PROVISIONING")
        problem = self._provision(props)
        if problem:
            c["pending"][1] = "FAILED"
            c["statusMessage"] = problem
        return json_response(201, self._render(req, c))

    def _creating(self, p: Json) -> Json:
        """Checks of a create's body beyond the cluster's properties, and what the new
        cluster records of them (nothing here)."""
        return {}

    def _put(self, req: Request, c: Json) -> Response:
        if c["state"] == "DESTROYING":
            raise ApiError(409, f"cluster {c['id']} is being deleted")
        p = self._props(req)
        self._updating(c, p)
        c["props"] = self._validate(p, c["props"])
        self._set_state(c, "UPDATING")
        return json_response(200, self._render(req, c))

    def _updating(self, c: Json, p: Json) -> None:
        """Checks of a PUT's body beyond the cluster's properties (nothing here)."""

    def _delete(self, c: Json) -> Response:
        if c["state"] != "DESTROYING":
            t = now()
            c.update(state="DESTROYING", pending=None, modified=t, delete_at=t + self.delay)
            self._deleting(c, t)
        return Response(status=202, body=None)

    def _deleting(self, c: Json, t: float) -> None:
        """What else a cluster's delete at time ``t`` changes (nothing here)."""

    def _render(self, req: Request, c: Json) -> Json:
        props = {k: v for k, v in c["props"].items() if not k.startswith("_")}
        return {
            "id": c["id"], "type": "cluster",
            "href": f"{req.base_url}{self.prefix}/clusters/{c['id']}",
            "metadata": {
                "createdDate": iso(c["created"]), "createdBy": "sandbox",
                "createdByUserId": "sandbox-user", "lastModifiedDate": iso(c["modified"]),
                "lastModifiedBy": "sandbox", "lastModifiedByUserId": "sandbox-user",
                "resourceURN": f"ionos:dbaas:{self.urn}:de/fra:cluster/{c['id']}",
                "state": c["state"], "statusMessage": c.get("statusMessage") or "",
                "dnsName": self._dns_name(c)},
            "properties": props,
        }

    def _item(self, req: Request, kind: str, oid: str, rtype: str, props: Json) -> Json:
        """One item of a catalogue collection."""
        return {"id": oid, "type": rtype, "href": f"{req.base_url}{self.prefix}/{kind}/{oid}",
                "metadata": {}, "properties": props}

    def _list(self, req: Request) -> Response:
        clusters = sorted(self._clusters.values(), key=lambda c: c["created"])
        name, state = req.query.get("filter.name"), req.query.get("filter.state")
        if state is not None and state not in self.states:
            raise ApiError(400, f"filter.state {state!r} is not one of {list(self.states)}")
        if name and self.name_filter_ignores_case:
            clusters = [c for c in clusters if name.lower() in c["props"]["name"].lower()]
        elif name:
            clusters = [c for c in clusters if name in c["props"]["name"]]
        clusters = [c for c in clusters if not state or c["state"] == state]
        return json_response(200, self._page(req, "clusters",
                                             [self._render(req, c) for c in clusters]))
