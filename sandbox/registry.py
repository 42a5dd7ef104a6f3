"""A local IONOS Container Registry API (what ``ionoscloud_container_registry`` 2.x calls).

Served under ``/containerregistries`` (the SDK's default host is
``https://api.ionos.com/containerregistries``): ``Configuration(host="http://127.0.0.1:PORT/
containerregistries", token=...)``. Bearer or Basic auth: the API's OpenAPI document lists both
``basicAuth`` and ``tokenAuth`` (docs.ionos.com, Container Registry API reference).

Paths, statuses and shapes follow the SDK's generated API classes and models (2.0.0) and the API
how-tos on docs.ionos.com:

- ``/registries``: GET list (``filter.name``, ``limit``, ``pagination.token``; the response's
  ``pagination`` and ``_links``), POST 201 ``PostRegistryOutput``; ``/registries/{id}``: GET 200,
  PATCH 200 (``garbageCollectionSchedule``, ``features``, ``apiSubnetAllowList``), DELETE 204.
- ``metadata.state``: ``New`` with an empty ``hostname`` right after the POST ("we do not get a
  hostname in the output because the host has not been allocated yet", the create how-to), then
  ``Running`` with ``hostname`` ``<name>.cr.<region>.ionos.com``; after a DELETE the registry
  stays ``Deleting`` for a while before it is gone (the Terraform provider polls for that).
- Validation answers 400 with the IONOS error body naming the field: ``name``
  ``^[a-z][-a-z0-9]{1,61}[a-z0-9]$`` (the 1.x SDK's validator; "3 to 63 characters, starts with
  a letter and ends with a letter or number", the how-to) and unique across all registries (409);
  ``location`` one of ``GET /locations``; ``garbageCollectionSchedule`` ``days`` from ``Day`` and
  a ``time`` (required, ``HH:MM:SS+00:00``); ``features.vulnerabilityScanning`` is enabled when
  not given and cannot be turned off once active (Terraform provider docs).
- ``/registries/{id}/tokens``: GET (``offset``, ``limit``), POST 201 ``PostTokenOutput`` whose
  ``credentials.password`` is the only time the password is shown ("password is only available
  once in the POST response", API reference); every GET answers ``"password": ""``. Token
  ``name`` ``^[A-Za-z][-A-Za-z0-9]{0,61}[A-Za-z0-9]$`` unique in its registry (409), ``status``
  ``enabled``/``disabled``, ``scopes`` of ``type`` ``repository`` with ``actions`` from pull,
  push, delete, ``expiryDate`` RFC 3339 or null; ``/tokens/{id}``: GET, PATCH (``expiryDate``,
  ``scopes``, ``status``), DELETE 204.

``registry_login(hostname, username, password)`` tells whether a token's credentials are valid
for a registry (what ``docker login`` would be told), so tests can check what a pull Secret holds.
Not emulated: the PUT (create-or-replace) methods, name availability (HEAD /names/{name}),
repositories, artifacts, vulnerabilities.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime
from typing import Any

from sandbox.http import Request, Response, json_response
from sandbox.ionos_common import (
    ApiError,
    IonosApi,
    iso,
    json_body,
    now,
    page_links,
    query_int,
)

PREFIX = "/containerregistries"
LOCATIONS = ("de/fra", "de/txl", "es/vit", "gb/lhr", "fr/par", "us/las", "us/ewr")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ACTIONS = ("pull", "push", "delete")
_REGISTRY_NAME = re.compile(r"^[a-z][-a-z0-9]{1,61}[a-z0-9]$")
_TOKEN_NAME = re.compile(r"^[A-Za-z][-A-Za-z0-9]{0,61}[A-Za-z0-9]$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\+00:00|Z)?$")


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, f"[{field}] {message}")


def _schedule(p: dict[str, Any]) -> dict[str, Any] | None:
    gc = p.get("garbageCollectionSchedule")
    if gc is None:
        return None
    where = "properties.garbageCollectionSchedule"
    if not isinstance(gc, dict):
        raise _bad(where, "must be an object with days and time")
    days, time = gc.get("days") or [], gc.get("time")
    if not isinstance(days, list) or any(d not in DAYS for d in days):
        raise _bad(f"{where}.days", f"{days!r}: each day must be one of {list(DAYS)}")
    if not isinstance(time, str) or not _TIME.match(time):
        raise _bad(f"{where}.time", f"{time!r} is required, a UTC time of day such as "
                                    "01:00:00+00:00")
    return {"days": list(days), "time": time if "+" in time else time.rstrip("Z") + "+00:00"}


def _features(p: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    f = p.get("features")
    enabled = True if current is None else current["vulnerabilityScanning"]["enabled"]
    if f is not None:
        scan = (f or {}).get("vulnerabilityScanning") if isinstance(f, dict) else None
        if scan is not None:
            if not isinstance(scan, dict) or not isinstance(scan.get("enabled"), bool):
                raise _bad("properties.features.vulnerabilityScanning.enabled",
                           "must be true or false")
            if current is not None and enabled and not scan["enabled"]:
                raise _bad("properties.features.vulnerabilityScanning.enabled",
                           "vulnerability scanning cannot be turned off once it is active")
            enabled = scan["enabled"]
    return {"vulnerabilityScanning": {"enabled": enabled}}


def _allow_list(p: dict[str, Any]) -> list[str]:
    value = p.get("apiSubnetAllowList") or []
    if not isinstance(value, list) or len(value) > 25 or not all(
            isinstance(v, str) for v in value):
        raise _bad("properties.apiSubnetAllowList", "must be at most 25 CIDR strings")
    return list(value)


def validate_registry(p: dict[str, Any]) -> dict[str, Any]:
    """A registry's stored properties from a POST body."""
    name, location = p.get("name"), p.get("location")
    if not isinstance(name, str) or not _REGISTRY_NAME.match(name):
        raise _bad("properties.name", f"{name!r} must be 3-63 characters of a-z, 0-9 and '-', "
                                      "start with a letter and end with a letter or digit")
    if location not in LOCATIONS:
        raise _bad("properties.location", f"{location!r} must be one of the available location "
                                          f"IDs (GET /locations: {list(LOCATIONS)})")
    return {"name": name, "location": location, "garbageCollectionSchedule": _schedule(p),
            "features": _features(p, None), "apiSubnetAllowList": _allow_list(p)}


def _scopes(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _bad("properties.scopes", "must be a list")
    out = []
    for i, s in enumerate(value):
        where = f"properties.scopes[{i}]"
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not s["name"]:
            raise _bad(f"{where}.name", "is required: a repository name or pattern such as 'app/*'")
        if s.get("type") != "repository":
            raise _bad(f"{where}.type", f"{s.get('type')!r} must be 'repository'")
        actions = s.get("actions")
        if not isinstance(actions, list) or not actions or any(a not in ACTIONS for a in actions):
            raise _bad(f"{where}.actions", f"{actions!r}: each action must be one of "
                                           f"{list(ACTIONS)}")
        out.append({"actions": list(actions), "name": s["name"], "type": "repository"})
    return out


def _expiry(value: Any) -> str | None:
    if value is None:
        return None
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _bad("properties.expiryDate", f"{value!r} is not an RFC 3339 date-time") from None
    return str(value)


def _token_fields(p: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "status" in p:
        if p["status"] not in ("enabled", "disabled"):
            raise _bad(f"{where}.status", f"{p['status']!r} must be 'enabled' or 'disabled'")
        out["status"] = p["status"]
    if "scopes" in p:
        out["scopes"] = _scopes(p["scopes"])
    if "expiryDate" in p:
        out["expiryDate"] = _expiry(p["expiryDate"])
    return out


def _hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


class RegistryService(IonosApi):
    """The Container Registry emulator (see the module docstring)."""

    name = "registry"
    prefix = PREFIX
    title = "Container Registry API"
    WRITES = ("POST", "PATCH", "DELETE")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._registries: dict[str, dict[str, Any]] = {}
        super().__init__(*args, **kwargs)

    def _state(self) -> dict[str, Any]:
        return {"registries": self._registries}

    def _restore(self, state: dict[str, Any]) -> None:
        self._registries = state.get("registries", {})

    def _clear(self) -> None:
        self._registries = {}

    def registry_login(self, hostname: str, username: str, password: str) -> bool:
        """Whether ``username``/``password`` log in to the registry at ``hostname``: an enabled,
        unexpired token of it with that password."""
        with self._lock:
            self._advance()
            reg = next((r for r in self._registries.values()
                        if r["state"] == "Running" and self._hostname(r) == hostname), None)
            tok = next((t for t in (reg or {}).get("tokens", {}).values()
                        if t["props"]["name"] == username), None)
        if tok is None or tok["props"]["status"] != "enabled":
            return False
        expiry = tok["props"].get("expiryDate")
        if expiry and datetime.fromisoformat(expiry.replace("Z", "+00:00")).timestamp() < now():
            return False
        return secrets.compare_digest(tok["_hash"], _hash(password))

    def _route(self, req: Request, parts: list[str]) -> Response:
        m, n = req.method, len(parts)
        if parts == ["locations"] and m == "GET":
            return json_response(200, {"id": "locations", "type": "collection",
                                       "href": f"{req.base_url}{PREFIX}/locations",
                                       "items": [{"id": loc} for loc in LOCATIONS]})
        if parts == ["registries"] and m in ("GET", "POST"):
            return self._list(req) if m == "GET" else self._create(req)
        if n == 2 and parts[0] == "registries" and m in ("GET", "PATCH", "DELETE"):
            reg = self._registry(parts[1])
            if m == "GET":
                return json_response(200, self._render(req, reg))
            return self._patch(req, reg) if m == "PATCH" else self._delete(reg)
        if n >= 3 and parts[0] == "registries" and parts[2] == "tokens":
            return self._tokens(req, self._registry(parts[1]), parts[3:])
        if parts and parts[0] in ("registries", "locations"):
            raise ApiError(405, f"Method {m} is not allowed on {req.path} (the sandbox does "
                                "not emulate the PUT create-or-replace methods)")
        raise ApiError(404, f"Unknown path {req.path}")

    def _advance(self) -> None:
        t = now()
        for rid in list(self._registries):
            reg = self._registries[rid]
            if reg["state"] == "New" and reg["ready_at"] <= t:
                reg["state"], reg["modified"] = "Running", reg["ready_at"]
            if reg["state"] == "Deleting" and reg["delete_at"] <= t:
                del self._registries[rid]

    def _registry(self, rid: str) -> dict[str, Any]:
        reg = self._registries.get(rid)
        if reg is None:
            raise ApiError(404, f"registry {rid} not found")
        return reg

    @staticmethod
    def _props(req: Request) -> dict[str, Any]:
        p = json_body(req).get("properties")
        if not isinstance(p, dict):
            raise _bad("properties", "is required")
        return p

    def _create(self, req: Request) -> Response:
        props = validate_registry(self._props(req))
        if any(r["props"]["name"] == props["name"] for r in self._registries.values()):
            raise ApiError(409, f"registry name {props['name']!r} is already in use; registry "
                                "names are unique across IONOS")
        rid, t = str(uuid.uuid4()), now()
        reg = {"id": rid, "created": t, "modified": t, "props": props, "state": "New",
               "ready_at": t + self.delay, "delete_at": None, "tokens": {}}
        self._registries[rid] = reg
        return json_response(201, self._render(req, reg))

    def _patch(self, req: Request, reg: dict[str, Any]) -> Response:
        if reg["state"] == "Deleting":
            raise ApiError(409, f"registry {reg['id']} is being deleted")
        body = json_body(req)
        props = reg["props"]
        if "garbageCollectionSchedule" in body:
            props["garbageCollectionSchedule"] = _schedule(body)
        if "features" in body:
            props["features"] = _features(body, props["features"])
        if "apiSubnetAllowList" in body:
            props["apiSubnetAllowList"] = _allow_list(body)
        reg["modified"] = now()
        return json_response(200, self._render(req, reg))

    def _delete(self, reg: dict[str, Any]) -> Response:
        if reg["state"] != "Deleting":
            t = now()
            reg.update(state="Deleting", modified=t, delete_at=t + self.delay)
        return Response(status=204, body=None)

    @staticmethod
    def _hostname(reg: dict[str, Any]) -> str:
        if reg["state"] == "New":
            return ""
        return f"{reg['props']['name']}.cr.{reg['props']['location'].replace('/', '-')}.ionos.com"

    @staticmethod
    def _metadata(obj: dict[str, Any], state: str) -> dict[str, Any]:
        return {"createdDate": iso(obj["created"]), "createdBy": "sandbox",
                "createdByUserId": "sandbox-user", "lastModifiedDate": iso(obj["modified"]),
                "lastModifiedBy": "sandbox", "lastModifiedByUserId": "sandbox-user",
                "state": state}

    def _render(self, req: Request, reg: dict[str, Any]) -> dict[str, Any]:
        props = {k: v for k, v in reg["props"].items() if v is not None}
        return {"id": reg["id"], "type": "registry",
                "href": f"{req.base_url}{PREFIX}/registries/{reg['id']}",
                "metadata": self._metadata(reg, reg["state"]),
                "properties": {**props, "hostname": self._hostname(reg),
                               "storageUsage": {"bytes": 0, "updatedAt": iso(reg["modified"])}}}

    def _list(self, req: Request) -> Response:
        name = req.query.get("filter.name")
        regs = sorted(self._registries.values(), key=lambda r: r["created"])
        regs = [r for r in regs if not name or name in r["props"]["name"]]
        limit = query_int(req, "limit", 100, 1, 1000)
        start = 0
        token = req.query.get("pagination.token")
        if token:
            start = next((i for i, r in enumerate(regs) if r["id"] == token), -1)
            if start < 0:
                raise _bad("pagination.token", "is not a token this API returned")
        page, rest = regs[start:start + limit], regs[start + limit:]
        href = f"{req.base_url}{PREFIX}/registries"
        links = {"self": href, **({"next": f"{href}?pagination.token={rest[0]['id']}"}
                                  if rest else {})}
        return json_response(200, {
            "id": "registries", "type": "collection", "href": href,
            "items": [self._render(req, r) for r in page],
            "pagination": {"limit": limit, **({"token": rest[0]["id"]} if rest else {})},
            "_links": links})

    def _tokens(self, req: Request, reg: dict[str, Any], rest: list[str]) -> Response:
        m = req.method
        if reg["state"] == "Deleting" and m != "GET":
            raise ApiError(409, f"registry {reg['id']} is being deleted")
        if not rest and m in ("GET", "POST"):
            return self._list_tokens(req, reg) if m == "GET" else self._create_token(req, reg)
        if len(rest) == 1 and m in ("GET", "PATCH", "DELETE"):
            tok = reg["tokens"].get(rest[0])
            if tok is None:
                raise ApiError(404, f"token {rest[0]} not found in registry {reg['id']}")
            if m == "DELETE":
                del reg["tokens"][rest[0]]
                return Response(status=204, body=None)
            if m == "PATCH":
                tok["props"].update(_token_fields(json_body(req), "properties"))
                tok["modified"] = now()
            return json_response(200, self._render_token(req, reg, tok))
        raise ApiError(405, f"Method {m} is not allowed on {req.path}")

    def _create_token(self, req: Request, reg: dict[str, Any]) -> Response:
        p = self._props(req)
        name = p.get("name")
        if not isinstance(name, str) or not _TOKEN_NAME.match(name):
            raise _bad("properties.name", f"{name!r} must be 2-63 letters, digits and '-', "
                                          "start with a letter and end with a letter or digit")
        if any(t["props"]["name"] == name for t in reg["tokens"].values()):
            raise ApiError(409, f"token {name!r} already exists in registry {reg['id']}")
        props = {"name": name, "status": "enabled", "scopes": [], "expiryDate": None,
                 **_token_fields(p, "properties")}
        password = secrets.token_urlsafe(32)
        tid, t = str(uuid.uuid4()), now()
        tok = {"id": tid, "created": t, "modified": t, "props": props, "_hash": _hash(password)}
        reg["tokens"][tid] = tok
        return json_response(201, self._render_token(req, reg, tok, password))

    def _render_token(self, req: Request, reg: dict[str, Any], tok: dict[str, Any],
                      password: str = "") -> dict[str, Any]:
        props = tok["props"]
        return {"id": tok["id"], "type": "token",
                "href": f"{req.base_url}{PREFIX}/registries/{reg['id']}/tokens/{tok['id']}",
                "metadata": self._metadata(tok, props["status"]),
                "properties": {**props, "credentials": {"username": props["name"],
                                                        "password": password}}}

    def _list_tokens(self, req: Request, reg: dict[str, Any]) -> Response:
        toks = sorted(reg["tokens"].values(), key=lambda t: t["created"])
        offset = query_int(req, "offset", 0, 0, 10**9)
        limit = query_int(req, "limit", 100, 1, 1000)
        page = toks[offset:offset + limit]
        href = f"{req.base_url}{PREFIX}/registries/{reg['id']}/tokens"
        links = page_links(href, offset, limit, len(toks))
        return json_response(200, {
            "id": "tokens", "type": "collection", "href": href,
            "items": [self._render_token(req, reg, t) for t in page],
            "count": len(page), "offset": offset, "limit": limit, "total": len(toks),
            "_links": {"self": links["self"], **({"next": links["next"]} if "next" in links
                                                  else {}),
                       **({"previous": links["prev"]} if "prev" in links else {})}})
