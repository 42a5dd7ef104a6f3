"""Pieces the IONOS emulators share: the error body, auth checks, timestamps and JSON state files.

Every IONOS API answers errors as ``{"httpStatus": N, "messages": [{"errorCode", "message"}]}``,
and an injected 429/5xx always carries an integer ``Retry-After`` because the ``ionoscloud`` SDK
reads it with ``int(headers['Retry-After'])`` and fails with a KeyError when it is missing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlencode

from sandbox.http import Request, Response, Service, json_response

if TYPE_CHECKING:
    from sandbox.world import World

T = TypeVar("T")


class ApiError(Exception):
    """An error a handler raises; the service turns it into the IONOS error body."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _DEFAULT_CODES.get(status, str(status))


# The Cloud API uses numeric error codes as strings; these are the ones seen in its docs.
_DEFAULT_CODES = {400: "104", 401: "315", 403: "317", 404: "309", 405: "105", 409: "320",
                  412: "323", 415: "106", 422: "100", 429: "429"}


def error_body(status: int, message: str, code: str = "") -> dict[str, Any]:
    return {"httpStatus": status,
            "messages": [{"errorCode": code or _DEFAULT_CODES.get(status, str(status)),
                          "message": message}]}


def error_response(err: ApiError) -> Response:
    return json_response(err.status, error_body(err.status, err.message, err.code))


class IonosServiceBase(Service):
    """A Service whose injected faults look like the IONOS APIs' own errors."""

    def fault_response(self, status: int, retry_after: int) -> Response:
        messages = {429: "Too many requests: rate limit exceeded, retry later",
                    500: "Internal server error (injected by the sandbox)",
                    502: "Bad gateway (injected by the sandbox)",
                    503: "Service unavailable (injected by the sandbox)",
                    504: "Gateway timeout (injected by the sandbox)"}
        return json_response(status, error_body(status, messages.get(status, "injected fault")),
                             **{"Retry-After": str(int(retry_after))})


def iso(ts: float) -> str:
    """An epoch timestamp as the IONOS APIs write it: ISO 8601, UTC, ``Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def etag_of(data: Any) -> str:
    return hashlib.md5(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def check_bearer(req: Request, token: str) -> None:
    """Bearer only (what the generated Python DBaaS SDKs send)."""
    header = req.headers.get("Authorization") or ""
    if not header:
        raise ApiError(401, "Unauthorized: no Authorization header (a Bearer token is required)")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or value.strip() != token:
        raise ApiError(401, "Unauthorized: the Bearer token is invalid or expired")


def check_basic_or_bearer(req: Request, token: str, username: str, password: str) -> None:
    """``Basic user:password`` or ``Bearer token``: the Cloud API (its SDKs' ``Configuration(
    username=, password=)``), and the DBaaS MariaDB and Certificate Manager APIs, whose Node SDKs
    document ``new Configuration({username, password})`` (npm @ionos-cloud/sdk-nodejs-dbaas-mariadb
    and @ionos-cloud/sdk-nodejs-cert-manager READMEs) although their Python SDKs send only Bearer.
    An empty configured username accepts no Basic login."""
    header = req.headers.get("Authorization") or ""
    if not header:
        raise ApiError(401, "Unauthorized: no Authorization header (Basic or Bearer is required)")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        if value.strip() == token:
            return
        raise ApiError(401, "Unauthorized: the Bearer token is invalid or expired")
    if scheme.lower() == "basic":
        try:
            user, _, pw = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "Unauthorized: malformed Basic credentials") from None
        if username and user == username and pw == password:
            return
        raise ApiError(401, "Unauthorized: wrong username or password")
    raise ApiError(401, f"Unauthorized: unsupported authorization scheme {scheme!r}")


def json_body(req: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object: 415 for another content type, 400 when malformed."""
    if not req.body.strip():
        if allow_empty:
            return {}
        raise ApiError(422, "[(root)] the request body is required")
    if req.content_type not in ("application/json", "") and not req.content_type.endswith("+json"):
        raise ApiError(415, f"Unsupported media type {req.content_type!r}; "
                            "send the body as application/json")
    try:
        data = req.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"Malformed JSON in the request body: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return data


def query_int(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, f"query parameter {name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise ApiError(422, f"query parameter {name}={value} must be between {lo} and {hi}")
    return value


@dataclass(frozen=True)
class ListQuery:
    """``filter.<property>``, ``orderBy`` and ``maxResults`` of a Cloud API list request.

    The Cloud API's own words (sdk-go, generated from the OpenAPI document): filters "limit
    results to those containing a matching value for a specific property", ``orderBy`` "sorts
    the results alphanumerically in ascending order based on the specified property", and
    ``maxResults`` "limits the number of results returned". ionosctl lists the filterable names
    as the resource's properties and its metadata. Matching is case-insensitive (the SDK's
    ``/requests`` filter docs); repeated values of one filter are alternatives (sdk-go 6.1.4).
    """

    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    order_by: str | None = None
    max_results: int | None = None

    @classmethod
    def from_request(cls, req: Request, own: Collection[str] = ()) -> ListQuery:
        """Read the query; ``own`` names ``filter.*`` parameters the endpoint handles itself."""
        filters = tuple((key[len("filter."):], tuple(v.lower() for v in values))
                        for key, values in req.raw_query.items()
                        if key.startswith("filter.") and key not in own)
        for prop, _ in filters:
            if not prop:
                raise ApiError(422, "query parameter 'filter.' needs a property name, "
                                    "e.g. filter.name=web")
        order_by = req.query.get("orderBy") or None
        max_results = query_int(req, "maxResults", -1, 0, 10**9)
        return cls(filters, order_by, None if max_results < 0 else max_results)

    @property
    def active(self) -> bool:
        return bool(self.filters or self.order_by or self.max_results is not None)

    def select(self, items: list[T], view: Callable[[T], dict[str, Any]]) -> list[T]:
        """Filter and order ``items`` by ``view(item)`` (its rendered properties and metadata).

        ``maxResults`` is not applied here: the caller cuts the page it returns."""
        if not (self.filters or self.order_by):
            return items
        views = [(item, view(item)) for item in items]
        if self.filters:
            views = [(item, v) for item, v in views if all(
                any(want in text for want in wants for text in _texts(_lookup(v, prop)))
                for prop, wants in self.filters)]
        if self.order_by:
            prop = self.order_by
            views.sort(key=lambda iv: _order_key(_lookup(iv[1], prop)))
        return [item for item, _ in views]

    def cut(self, items: list[T]) -> list[T]:
        return items if self.max_results is None else items[:self.max_results]


_MISSING = object()


def _lookup(view: dict[str, Any], prop: str) -> Any:
    for section in ("properties", "metadata"):
        part = view.get(section)
        if isinstance(part, dict) and prop in part:
            return part[prop]
    return view.get(prop, _MISSING) if prop in ("id", "type") else _MISSING


def _texts(value: Any) -> list[str]:
    if value is _MISSING or value is None:
        return []
    if isinstance(value, str):
        return [value.lower()]
    if isinstance(value, bool):
        return [str(value).lower()]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return [json.dumps(value, sort_keys=True).lower()]


def _order_key(value: Any) -> tuple[int, float, str]:
    """Ascending; numbers by value, everything else as text; items without the property last."""
    if value is _MISSING or value is None:
        return (2, 0.0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, value if isinstance(value, str) else json.dumps(value, sort_keys=True))


def page_links(base: str, offset: int, limit: int, total: int) -> dict[str, str]:
    """``_links`` of a paginated list: self always, prev and next where they exist."""
    links = {"self": f"{base}?{urlencode({'offset': offset, 'limit': limit})}"}
    if offset > 0:
        links["prev"] = f"{base}?{urlencode({'offset': max(0, offset - limit), 'limit': limit})}"
    if offset + limit < total:
        links["next"] = f"{base}?{urlencode({'offset': offset + limit, 'limit': limit})}"
    return links


class StateFile:
    """One JSON file of service state, written atomically after each change."""

    def __init__(self, state_dir: Path | None, name: str) -> None:
        self.path = state_dir / f"{name}.json" if state_dir is not None else None

    def load(self) -> dict[str, Any] | None:
        if self.path is None or not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"sandbox state file {self.path} is unreadable: {exc}; "
                             "delete it to start from an empty state") from None
        return data if isinstance(data, dict) else None

    def save(self, data: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, self.path)


def now() -> float:
    return time.time()


class IonosApi(IonosServiceBase):
    """An IONOS API emulator served under one path prefix: Bearer or Basic authentication, one
    lock around every request, its state in a JSON file saved after each write.

    A subclass sets ``name``, ``prefix`` and ``title`` and implements ``_route`` (over the
    path's segments after the prefix), ``_state`` (what is saved), ``_restore`` (taking it back)
    and ``_clear``; ``_advance`` moves time-driven state on before each request.
    """

    prefix: ClassVar[str]
    title: ClassVar[str]  # in messages: "the PostgreSQL API lives under /postgresql"
    WRITES: ClassVar[tuple[str, ...]] = ("POST", "PUT", "PATCH", "DELETE")

    def __init__(self, world: World, token: str, delay: float = 0.0,
                 state_dir: Path | None = None, username: str = "", password: str = "") -> None:
        self.world = world
        self.token, self.username, self.password = token, username, password
        self.delay = float(delay)
        self._lock = threading.RLock()
        self._file = StateFile(state_dir, self.name)
        loaded = self._file.load()
        if loaded:
            self._restore(loaded)

    def reset(self) -> None:
        """Forget everything (the admin API's reset), and save the empty state."""
        with self._lock:
            self._clear()
            self._save()

    def _save(self) -> None:
        self._file.save(self._state())

    def handle(self, req: Request) -> Response:
        try:
            if not req.path.startswith(self.prefix):
                raise ApiError(404, f"Unknown path {req.path}; the {self.title} lives under "
                                    f"{self.prefix}")
            check_basic_or_bearer(req, self.token, self.username, self.password)
            with self._lock:
                self._advance()
                resp = self._route(req, self._segments(req.path[len(self.prefix):]))
                if req.method in self.WRITES:
                    self._save()
            return resp
        except ApiError as err:
            return error_response(err)

    @staticmethod
    def _segments(path: str) -> list[str]:
        """The path's segments after the prefix (an empty one inside stays: ``a//b`` is not
        ``a/b``)."""
        path = path.strip("/")
        return path.split("/") if path else []

    def _advance(self) -> None:
        """Move time-driven state on (states that settle after ``delay``); nothing here."""

    def _route(self, req: Request, parts: list[str]) -> Response:  # pragma: no cover
        raise NotImplementedError

    def _state(self) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def _restore(self, loaded: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _clear(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def _page(self, req: Request, kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """A collection of ``items`` as the APIs page it (``offset``, ``limit`` 1..1000)."""
        offset = query_int(req, "offset", 0, 0, 10**9)
        limit = query_int(req, "limit", 100, 1, 1000)
        href = f"{req.base_url}{self.prefix}/{kind}"
        return {"id": kind, "type": "collection", "href": href,
                "items": items[offset:offset + limit], "offset": offset, "limit": limit,
                "_links": page_links(href, offset, limit, len(items))}
