"""A local IONOS Cloud DNS API (what ``ionoscloud_dns`` 2.x calls).

Served under ``/dns``: ``Configuration(host="http://127.0.0.1:PORT/dns", token=...)``. Bearer
auth only: the DNS API takes tokens, not username/password (the ionoscloud Terraform provider's
``ionoscloud_dns_zone`` docs), and the SDK sends no header for Basic credentials. A token is the
account's configured one or one the Auth API generated (``sandbox.auth``, ``accepts``): a user
with only a login gets a token there first, as ``ionosctl token generate`` does.

Paths, statuses and shapes follow the SDK's generated API classes and models (ionoscloud_dns
2.0.0, from the DNS API's OpenAPI document):

- ``/zones``: GET list (``filter.zoneName`` contains, ``filter.state``, ``offset``, ``limit``),
  POST 202 ``ZoneRead``; ``/zones/{id}``: GET 200, PUT 202 (``ZoneEnsure``), DELETE 202.
- ``/zones/{id}/records``: GET list (``filter.name``, ``filter.type``, ``filter.state``), POST 202
  ``RecordRead``, 409 for a record that cannot coexist (a CNAME beside other data, RFC 1034
  3.6.2; the SDK declares 409 on this POST); ``/zones/{id}/records/{rid}``: GET, PUT 202, DELETE
  202. ``/records``: every record of the contract (``filter.zoneId``, ``filter.name``, ...).
- ``/quota``: ``quotaUsage`` and ``quotaLimits``; a create beyond a limit is a 403.
- ``metadata.state`` PROVISIONING → AVAILABLE after ``delay`` (creates and updates), DESTROYING
  then gone after a DELETE (``ProvisioningState``). Zones carry ``metadata.nameservers``, records
  ``metadata.fqdn`` and ``metadata.zoneId``.
- Validation, answered 400 (the status the SDK declares; it has no 422 here): zone names are
  lowercase domains; record names relative to the zone with labels of at most 63 characters, a
  leading ``*`` wildcard label allowed, the FQDN at most 253 characters (RFC 1035 2.3.4); TTL
  60..604800 (the SDK's ``Record.ttl`` bounds); A/AAAA content an IPv4/IPv6 address, CNAME a
  host name; ``type`` from ``RecordType``.
- A zone name already taken (in this contract or by another account, ``add_foreign_zone``) is a
  400 that says so; the API does not say whose it is, so neither does the sandbox.

Not emulated: secondary zones, zone files, DNSSEC, reverse records, actual name resolution.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.http import Request, Response, json_response
from sandbox.ionos_common import (
    ApiError,
    IonosServiceBase,
    StateFile,
    check_bearer,
    error_response,
    iso,
    json_body,
    now,
    page_links,
    query_int,
)
from sandbox.world import World

PREFIX = "/dns"
STATES = ("PROVISIONING", "DESTROYING", "AVAILABLE", "FAILED")
RECORD_TYPES = ("A", "AAAA", "CNAME", "ALIAS", "MX", "NS", "SRV", "TXT", "CAA", "SSHFP", "TLSA",
                "SMIMEA", "DS", "HTTPS", "SVCB", "OPENPGPKEY", "CERT", "URI", "RP", "LOC")
NAMESERVERS = ["ns-ic.ui-dns.com", "ns-ic.ui-dns.de", "ns-ic.ui-dns.org", "ns-ic.ui-dns.biz"]
TTL_MIN, TTL_MAX = 60, 604800
DEFAULT_QUOTA = {"zones": 100, "secondaryZones": 100, "records": 1000, "reverseRecords": 100}
_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_RECORD_NAME_RE = re.compile(rf"^(?:\*|{_LABEL})(?:\.{_LABEL})*$")
_ZONE_NAME_RE = re.compile(rf"^(?:{_LABEL}\.)+[a-z][a-z0-9-]*[a-z0-9]$")
_HOST_RE = re.compile(rf"^(?:{_LABEL}\.)*{_LABEL}\.?$")


class DnsService(IonosServiceBase):
    """The Cloud DNS emulator (see the module docstring)."""

    name = "dns"

    def __init__(self, world: World, token: str, delay: float = 0.0,
                 state_dir: Path | None = None, quota: dict[str, int] | None = None,
                 accepts: Callable[[str], bool] | None = None) -> None:
        self.world = world
        self.token = token
        self.accepts = accepts
        self.delay = float(delay)
        self.quota = {**DEFAULT_QUOTA, **(quota or {})}
        self._lock = threading.RLock()
        self._file = StateFile(state_dir, "dns")
        self._zones: dict[str, dict[str, Any]] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self._foreign: set[str] = set()
        loaded = self._file.load()
        if loaded:
            self._zones = loaded.get("zones", {})
            self._records = loaded.get("records", {})
            self._foreign = set(loaded.get("foreign", []))

    def add_foreign_zone(self, zone_name: str) -> None:
        """Let another account own ``zone_name``: creating it here fails as on the real API."""
        with self._lock:
            self._foreign.add(zone_name.lower())
            self._save()

    def reset(self) -> None:
        with self._lock:
            self._zones.clear()
            self._records.clear()
            self._foreign.clear()
            self._save()

    def _save(self) -> None:
        self._file.save({"zones": self._zones, "records": self._records,
                         "foreign": sorted(self._foreign)})

    def handle(self, req: Request) -> Response:
        try:
            if not req.path.startswith(PREFIX):
                raise ApiError(404, f"Unknown path {req.path}; the DNS API lives under {PREFIX}")
            path = req.path[len(PREFIX):].strip("/")
            self._authenticate(req)
            with self._lock:
                self._advance()
                resp = self._route(req, path.split("/") if path else [])
                if req.method in ("POST", "PUT", "DELETE"):
                    self._save()
            return resp
        except ApiError as err:
            return error_response(err)

    def _authenticate(self, req: Request) -> None:
        scheme, _, value = (req.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and self.accepts is not None and \
                self.accepts(value.strip()):
            return
        check_bearer(req, self.token)

    def _route(self, req: Request, parts: list[str]) -> Response:
        m = req.method
        n = len(parts)
        if parts == ["zones"] and m in ("GET", "POST"):
            return self._list_zones(req) if m == "GET" else self._create_zone(req)
        if n == 2 and parts[0] == "zones" and m in ("GET", "PUT", "DELETE"):
            zone = self._zone(parts[1])
            if m == "GET":
                return json_response(200, self._render_zone(req, zone))
            return self._put_zone(req, zone) if m == "PUT" else self._delete(zone)
        if n == 3 and parts[0] == "zones" and parts[2] == "records" and m in ("GET", "POST"):
            zone = self._zone(parts[1])
            if m == "GET":
                return self._list_records(req, zone["id"])
            return self._create_record(req, zone)
        if n == 4 and parts[0] == "zones" and parts[2] == "records" and \
                m in ("GET", "PUT", "DELETE"):
            zone = self._zone(parts[1])
            rec = self._record(zone["id"], parts[3])
            if m == "GET":
                return json_response(200, self._render_record(req, rec))
            return self._put_record(req, zone, rec) if m == "PUT" else self._delete(rec)
        if parts == ["records"] and m == "GET":
            return self._list_records(req, req.query.get("filter.zoneId"))
        if parts == ["quota"] and m == "GET":
            return json_response(200, {"quotaUsage": self._usage(), "quotaLimits": self.quota})
        if parts and parts[0] in ("zones", "records", "quota"):
            raise ApiError(405, f"Method {m} is not allowed on {req.path}")
        raise ApiError(404, f"Unknown path {req.path}")

    def _advance(self) -> None:
        t = now()
        for table in (self._zones, self._records):
            for oid in list(table):
                obj = table[oid]
                pending = obj.get("pending")
                if pending and pending[0] <= t:
                    obj["state"], obj["pending"], obj["modified"] = pending[1], None, pending[0]
                if obj.get("delete_at") is not None and obj["delete_at"] <= t:
                    del table[oid]
        for rid in [r["id"] for r in self._records.values() if r["zoneId"] not in self._zones]:
            del self._records[rid]

    def _provision(self, obj: dict[str, Any]) -> None:
        t = now()
        obj["state"], obj["modified"] = "PROVISIONING", t
        obj["pending"] = [t + self.delay, "AVAILABLE"]

    def _delete(self, obj: dict[str, Any]) -> Response:
        if obj["state"] != "DESTROYING":
            t = now()
            obj.update(state="DESTROYING", pending=None, modified=t, delete_at=t + self.delay)
            if obj.get("kind") == "zone":
                for rec in self._records.values():
                    if rec["zoneId"] == obj["id"]:
                        rec.update(state="DESTROYING", pending=None, delete_at=t + self.delay)
        return json_response(202, {})

    def _zone(self, zid: str) -> dict[str, Any]:
        zone = self._zones.get(zid)
        if zone is None:
            raise ApiError(404, f"zone {zid} not found")
        return zone

    def _record(self, zid: str, rid: str) -> dict[str, Any]:
        rec = self._records.get(rid)
        if rec is None or rec["zoneId"] != zid:
            raise ApiError(404, f"record {rid} not found in zone {zid}")
        return rec

    def _usage(self) -> dict[str, int]:
        return {"zones": len(self._zones), "secondaryZones": 0, "records": len(self._records),
                "reverseRecords": 0}

    def _check_quota(self, what: str) -> None:
        used, limit = self._usage()[what], self.quota[what]
        if used >= limit:
            raise ApiError(403, f"quota exceeded: the contract may have {limit} {what} and has "
                                f"{used}; delete some or ask IONOS to raise the limit "
                                "(GET /quota shows usage and limits)")

    @staticmethod
    def _props(req: Request) -> dict[str, Any]:
        body = json_body(req)
        props = body.get("properties")
        if not isinstance(props, dict):
            raise ApiError(400, "[properties] is required and must be an object")
        return props

    def _zone_props(self, p: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        name = p.get("zoneName")
        if current is not None and name is not None and name != current["zoneName"]:
            raise ApiError(400, f"[properties.zoneName] a zone's name cannot change (is "
                                f"{current['zoneName']!r}); create a new zone instead")
        if current is None:
            if not isinstance(name, str) or len(name) > 253 or not _ZONE_NAME_RE.match(name):
                raise ApiError(400, f"[properties.zoneName] {name!r} is not a valid zone name: "
                                    "a lowercase domain such as example.com")
        desc = p.get("description", "")
        enabled = p.get("enabled", True)
        if not isinstance(desc, str) or len(desc) > 1024:
            raise ApiError(400, "[properties.description] must be a string of at most 1024 "
                                "characters")
        if not isinstance(enabled, bool):
            raise ApiError(400, "[properties.enabled] must be a boolean")
        return {"zoneName": current["zoneName"] if current else name, "description": desc,
                "enabled": enabled}

    def _create_zone(self, req: Request) -> Response:
        props = self._zone_props(self._props(req), None)
        name = props["zoneName"]
        if name in self._foreign or any(z["props"]["zoneName"] == name
                                        for z in self._zones.values()):
            raise ApiError(400, f"[properties.zoneName] the zone {name} already exists; a zone "
                                "name can be hosted only once in IONOS Cloud DNS")
        self._check_quota("zones")
        t = now()
        zid = str(uuid.uuid4())
        zone: dict[str, Any] = {"id": zid, "kind": "zone", "created": t, "props": props}
        self._zones[zid] = zone
        self._provision(zone)
        return json_response(202, self._render_zone(req, zone))

    def _put_zone(self, req: Request, zone: dict[str, Any]) -> Response:
        if zone["state"] == "DESTROYING":
            raise ApiError(404, f"zone {zone['id']} is being deleted")
        zone["props"] = self._zone_props(self._props(req), zone["props"])
        self._provision(zone)
        return json_response(202, self._render_zone(req, zone))

    def _record_props(self, p: dict[str, Any], zone: dict[str, Any]) -> dict[str, Any]:
        w = "properties"
        name, rtype, content = p.get("name"), p.get("type"), p.get("content")
        if not isinstance(name, str) or (name and not _RECORD_NAME_RE.match(name)):
            raise ApiError(400, f"[{w}.name] {name!r} is not a valid record name: labels of "
                                "letters, digits, '_' and '-' (not at either end), at most 63 "
                                "characters each, an optional leading '*'")
        if len(f"{name}.{zone['props']['zoneName']}") > 253:
            raise ApiError(400, f"[{w}.name] {name}.{zone['props']['zoneName']} is longer than "
                                "253 characters")
        if rtype not in RECORD_TYPES:
            raise ApiError(400, f"[{w}.type] {rtype!r} is not one of {', '.join(RECORD_TYPES)}")
        if not isinstance(content, str) or not content:
            raise ApiError(400, f"[{w}.content] is required")
        self._check_content(str(rtype), content)
        ttl = p.get("ttl", 3600)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not TTL_MIN <= ttl <= TTL_MAX:
            raise ApiError(400, f"[{w}.ttl] {ttl!r} must be an integer between {TTL_MIN} and "
                                f"{TTL_MAX}")
        enabled = p.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ApiError(400, f"[{w}.enabled] must be a boolean")
        priority = p.get("priority")
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                     or not 0 <= priority <= 65535):
            raise ApiError(400, f"[{w}.priority] must be an integer between 0 and 65535")
        return {"name": name, "type": rtype, "content": content, "ttl": ttl,
                "priority": priority if priority is not None else 0, "enabled": enabled}

    @staticmethod
    def _check_content(rtype: str, content: str) -> None:
        kind = {"A": ipaddress.IPv4Address, "AAAA": ipaddress.IPv6Address}.get(rtype)
        if kind is not None:
            try:
                kind(content)
            except ValueError:
                raise ApiError(400, f"[properties.content] {content!r} is not a valid "
                                    f"{'IPv4' if rtype == 'A' else 'IPv6'} address for an "
                                    f"{rtype} record") from None
        if rtype == "CNAME" and not _HOST_RE.match(content):
            raise ApiError(400, f"[properties.content] {content!r} is not a host name")

    def _check_coexist(self, zone_id: str, props: dict[str, Any], rid: str | None) -> None:
        name = props["name"].lower()
        others = [r for r in self._records.values() if r["zoneId"] == zone_id
                  and r["id"] != rid and r["props"]["name"].lower() == name
                  and r["state"] != "DESTROYING"]
        if others and (props["type"] == "CNAME" or
                       any(r["props"]["type"] == "CNAME" for r in others)):
            raise ApiError(409, f"a CNAME record cannot coexist with other records of "
                                f"{props['name'] or '@'} (RFC 1034 3.6.2)")

    def _create_record(self, req: Request, zone: dict[str, Any]) -> Response:
        if zone["state"] == "DESTROYING":
            raise ApiError(404, f"zone {zone['id']} is being deleted")
        props = self._record_props(self._props(req), zone)
        self._check_coexist(zone["id"], props, None)
        self._check_quota("records")
        rid = str(uuid.uuid4())
        rec: dict[str, Any] = {"id": rid, "kind": "record", "zoneId": zone["id"],
                               "created": now(), "props": props}
        self._records[rid] = rec
        self._provision(rec)
        return json_response(202, self._render_record(req, rec))

    def _put_record(self, req: Request, zone: dict[str, Any], rec: dict[str, Any]) -> Response:
        if rec["state"] == "DESTROYING":
            raise ApiError(404, f"record {rec['id']} is being deleted")
        props = self._record_props(self._props(req), zone)
        self._check_coexist(zone["id"], props, rec["id"])
        rec["props"] = props
        self._provision(rec)
        return json_response(202, self._render_record(req, rec))

    def _meta(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {"createdDate": iso(obj["created"]), "createdBy": "sandbox",
                "createdByUserId": "sandbox-user", "lastModifiedDate": iso(obj["modified"]),
                "lastModifiedBy": "sandbox", "lastModifiedByUserId": "sandbox-user",
                "resourceURN": f"ionos:dns:::{obj['kind']}/{obj['id']}", "state": obj["state"]}

    def _render_zone(self, req: Request, zone: dict[str, Any]) -> dict[str, Any]:
        return {"id": zone["id"], "type": "zone",
                "href": f"{req.base_url}{PREFIX}/zones/{zone['id']}",
                "metadata": {**self._meta(zone), "nameservers": list(NAMESERVERS)},
                "properties": dict(zone["props"])}

    def _render_record(self, req: Request, rec: dict[str, Any]) -> dict[str, Any]:
        zone = self._zones[rec["zoneId"]]
        name, zname = rec["props"]["name"], zone["props"]["zoneName"]
        return {"id": rec["id"], "type": "record",
                "href": f"{req.base_url}{PREFIX}/zones/{zone['id']}/records/{rec['id']}",
                "metadata": {**self._meta(rec), "fqdn": f"{name}.{zname}" if name else zname,
                             "zoneId": zone["id"]},
                "properties": dict(rec["props"])}

    def _page(self, req: Request, path: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        offset = query_int(req, "offset", 0, 0, 10**9)
        limit = query_int(req, "limit", 100, 1, 1000)
        href = f"{req.base_url}{PREFIX}/{path}"
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, href)), "type": "collection",
                "href": href, "offset": offset, "limit": limit,
                "_links": page_links(href, offset, limit, len(items)),
                "items": items[offset:offset + limit]}

    @staticmethod
    def _state_filter(req: Request) -> str | None:
        state = req.query.get("filter.state")
        if state is not None and state not in STATES:
            raise ApiError(400, f"filter.state {state!r} is not one of {', '.join(STATES)}")
        return state

    def _list_zones(self, req: Request) -> Response:
        zones = sorted(self._zones.values(), key=lambda z: z["created"])
        state = self._state_filter(req)
        name = req.query.get("filter.zoneName")
        zones = [z for z in zones if (not state or z["state"] == state)
                 and (not name or name.lower() in z["props"]["zoneName"])]
        return json_response(200, self._page(req, "zones",
                                             [self._render_zone(req, z) for z in zones]))

    def _list_records(self, req: Request, zone_id: str | None) -> Response:
        recs = sorted(self._records.values(), key=lambda r: r["created"])
        state = self._state_filter(req)
        rtype = req.query.get("filter.type")
        if rtype is not None and rtype not in RECORD_TYPES:
            raise ApiError(400, f"filter.type {rtype!r} is not one of {', '.join(RECORD_TYPES)}")
        name = (req.query.get("filter.name") or "").lower()
        recs = [r for r in recs if (not zone_id or r["zoneId"] == zone_id)
                and (not state or r["state"] == state)
                and (not rtype or r["props"]["type"] == rtype)
                and (not name or name in r["props"]["name"].lower())]
        path = f"zones/{zone_id}/records" if zone_id and "/zones/" in req.path else "records"
        return json_response(200, self._page(req, path,
                                             [self._render_record(req, r) for r in recs]))
