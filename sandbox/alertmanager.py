"""The Alertmanager API v2 subset the platform uses: alerts, silences, status, receivers.

Shapes follow the real API (``gettableAlert``, ``postableAlert``, ``gettableSilence``,
``postableSilence``, ``alertmanagerStatus``). Fingerprints are computed like Prometheus's
``LabelSet.Fingerprint`` (FNV-1a 64 over sorted label names and values), so the same labels get
the same fingerprint here and on a real Alertmanager. An alert posted without ``endsAt`` stays
active for ``resolve_timeout`` (5 minutes, the real default) unless posted again; an alert whose
``endsAt`` has passed is resolved and no longer listed. Silences suppress matching alerts.
Inhibition rules are not modelled (``inhibitedBy`` is always empty). The clock is injectable.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.http import Request, Response, Service, json_response

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|'
                      r"([^\s\"]*))\s*$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1


class BadRequest(ValueError):
    """A semantic error: 400 with a JSON string body, as Alertmanager answers."""


class SchemaError(ValueError):
    """A request that fails the OpenAPI schema: the go-swagger ``{code, message}`` body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _parse_failed(why: str) -> SchemaError:
    return SchemaError(400, 400, f'parsing alerts body from "" failed, because {why}')


def fingerprint(labels: dict[str, str]) -> str:
    """Prometheus ``LabelSet.Fingerprint`` as Alertmanager prints it (16 hex digits)."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name.encode(), b"\xff", labels[name].encode(), b"\xff"):
            for byte in part:
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(value: Any, what: str) -> datetime | None:
    if value in (None, "", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"):
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be an RFC 3339 date-time string, got {value!r}")
    text = value.replace("Z", "+00:00")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{what} in body must be of type date-time: {value!r}") from None
    if t.tzinfo is None:
        raise BadRequest(f"{what} needs a timezone: {value!r}")
    return t


@dataclass
class Matcher:
    name: str
    value: str
    is_regex: bool
    is_equal: bool = True
    _re: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.is_regex:
            try:
                self._re = re.compile(f"^(?:{self.value})$")
            except re.error as exc:
                raise BadRequest(f"invalid regular expression {self.value!r}: {exc}") from None

    def matches(self, labels: dict[str, str]) -> bool:
        have = labels.get(self.name, "")
        hit = bool(self._re.match(have)) if self._re else have == self.value
        return hit if self.is_equal else not hit

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex,
                "isEqual": self.is_equal}


def parse_filter(text: str) -> Matcher:
    """A matcher in the ``filter`` query syntax: ``name="value"``, ``name=~"re"``, ..."""
    m = _MATCHER.match(text.strip().strip("{}"))
    if not m:
        raise BadRequest(f"bad matcher format: {text}")
    name, op, quoted, bare = m.groups()
    value = bytes(quoted, "utf-8").decode("unicode_escape") if quoted is not None else bare
    return Matcher(name, value, is_regex=op in ("=~", "!~"), is_equal=op in ("=", "=~"))


@dataclass
class StoredAlert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    updated_at: datetime
    generator_url: str
    fingerprint: str


@dataclass
class Silence:
    id: str
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    updated_at: datetime
    created_by: str
    comment: str

    def state(self, now: datetime) -> str:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {"id": self.id, "status": {"state": self.state(now)},
                "updatedAt": _iso(self.updated_at),
                "matchers": [m.to_json() for m in self.matchers],
                "startsAt": _iso(self.starts_at), "endsAt": _iso(self.ends_at),
                "createdBy": self.created_by, "comment": self.comment}


def _bool(req: Request, name: str, default: bool) -> bool:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise BadRequest(f"{name} in query must be of type boolean: {raw!r}")


def _error(status: int, message: str) -> Response:
    # The real API answers validation errors with a JSON string body.
    return json_response(status, message)


class AlertmanagerService(Service):
    """An in-memory Alertmanager with one receiver (``default``)."""

    name = "alertmanager"

    def __init__(self, receiver: str = "default", resolve_timeout: timedelta = timedelta(minutes=5),
                 clock: Callable[[], datetime] | None = None,
                 resolved_retention: timedelta = timedelta(hours=1),
                 authorization: str | None = None) -> None:
        self.receiver = receiver
        # When set, every API request must send exactly this Authorization header (as behind
        # Alertmanager's web config or an authenticating proxy); otherwise 401.
        self.authorization = authorization
        self.resolve_timeout = resolve_timeout
        self.clock = clock or (lambda: datetime.now(UTC))
        self.resolved_retention = resolved_retention
        self._lock = threading.Lock()
        self._alerts: dict[str, StoredAlert] = {}
        self._silences: dict[str, Silence] = {}
        self._started = self.clock()

    def reset(self) -> None:
        with self._lock:
            self._alerts.clear()
            self._silences.clear()

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        if self.authorization and path.startswith("/api/") and (
                req.headers.get("Authorization") != self.authorization):
            return Response(401, b"Unauthorized\n", content_type="text/plain",
                            headers={"WWW-Authenticate": 'Basic realm="alertmanager"'})
        try:
            return self._route(req, path)
        except BadRequest as exc:
            return _error(400, str(exc))
        except SchemaError as exc:
            return json_response(exc.status, {"code": exc.code, "message": str(exc)})

    def _route(self, req: Request, path: str) -> Response:
        if path in ("/-/healthy", "/-/ready"):
            return Response(200, b"OK", content_type="text/plain")
        methods = self._methods(path)
        handler = methods.get(req.method)
        if handler is not None:
            return handler(req)
        if path in self._STRICT_METHODS or path.startswith("/api/v2/silence/"):
            return _error(405, f"method {req.method} not allowed on {path}")
        return Response(404, b"404 page not found\n", content_type="text/plain")

    # Paths whose other methods are a 405 (elsewhere the router answers 404).
    _STRICT_METHODS = frozenset({"/api/v2/alerts", "/api/v2/silences"})

    def _methods(self, path: str) -> dict[str, Callable[[Request], Response]]:
        if path.startswith("/api/v2/silence/"):
            sid = path.rsplit("/", 1)[1]
            if not _UUID.match(sid):
                raise SchemaError(422, 601, f'silenceID in path must be of type uuid: "{sid}"')
            return {"GET": lambda _: self._get_silence(sid),
                    "DELETE": lambda _: self._delete_silence(sid)}
        table: dict[str, dict[str, Callable[[Request], Response]]] = {
            "/api/v2/alerts": {"GET": self._get_alerts, "POST": self._post_alerts},
            "/api/v2/silences": {"GET": self._get_silences, "POST": self._post_silence},
            "/api/v2/status": {"GET": lambda _: json_response(200, self._status())},
            "/api/v2/receivers": {
                "GET": lambda _: json_response(200, [{"name": self.receiver}])},
        }
        return table.get(path, {})

    def _post_alerts(self, req: Request) -> Response:
        try:
            body = req.json()
        except ValueError as exc:
            raise _parse_failed(f"invalid JSON: {exc}") from None
        if not isinstance(body, list):
            raise _parse_failed("json: cannot unmarshal object into Go value of type "
                                "models.PostableAlerts")
        for i, raw in enumerate(body):
            if not isinstance(raw, dict):
                raise _parse_failed(f"alert {i} is not an object")
            if "labels" not in raw:
                raise SchemaError(422, 602, f"{i}.labels in body is required")
        now = self.clock()
        parsed: list[StoredAlert] = []
        for i, raw in enumerate(body):
            parsed.append(self._parse_postable(raw, i, now))
        with self._lock:
            for alert in parsed:
                old = self._alerts.get(alert.fingerprint)
                if old is not None and old.ends_at > now and alert.starts_at <= old.ends_at:
                    # Still firing: the same alert instance; keep its start (as Alert.Merge).
                    alert.starts_at = min(old.starts_at, alert.starts_at)
                self._alerts[alert.fingerprint] = alert
        return json_response(200, None)

    def _parse_postable(self, raw: Any, i: int, now: datetime) -> StoredAlert:
        where = f"alerts[{i}]"
        labels = raw.get("labels")
        if not isinstance(labels, dict):
            raise _parse_failed(f"{where}.labels is not an object")
        if not labels:
            raise BadRequest("at least one label pair required")
        for k, v in labels.items():
            if not isinstance(v, str):
                raise _parse_failed(f"{where}.labels.{k} is not a string")
            if not _LABEL_NAME.match(str(k)):
                raise BadRequest(f'invalid label set: invalid name "{k}"')
        annotations = raw.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(
                isinstance(v, str) for v in annotations.values()):
            raise BadRequest(f"{where}.annotations must map names to strings")
        try:
            starts = _parse_time(raw.get("startsAt"), f"{where}.startsAt") or now
            ends = _parse_time(raw.get("endsAt"), f"{where}.endsAt")
        except BadRequest as exc:
            raise _parse_failed(str(exc)) from None
        if ends is None:
            ends = max(now, starts) + self.resolve_timeout
        if ends < starts:
            raise BadRequest("start time must be before end time")
        gen = raw.get("generatorURL") or ""
        if not isinstance(gen, str):
            raise BadRequest(f"{where}.generatorURL must be a string")
        return StoredAlert(dict(labels), dict(annotations), starts, ends, now, gen,
                           fingerprint(labels))

    def _silenced_by(self, labels: dict[str, str], now: datetime) -> list[str]:
        return [s.id for s in self._silences.values()
                if s.state(now) == "active" and all(m.matches(labels) for m in s.matchers)]

    def _get_alerts(self, req: Request) -> Response:
        active = _bool(req, "active", True)
        silenced = _bool(req, "silenced", True)
        inhibited = _bool(req, "inhibited", True)
        _bool(req, "unprocessed", True)
        del inhibited  # nothing is ever inhibited here
        matchers = [parse_filter(f) for f in req.raw_query.get("filter", [])]
        receiver_re = None
        if req.query.get("receiver"):
            try:
                receiver_re = re.compile(f"^(?:{req.query['receiver']})$")
            except re.error as exc:
                raise BadRequest(f"failed to parse receiver param: {exc}") from None
        if receiver_re and not receiver_re.match(self.receiver):
            return json_response(200, [])
        now = self.clock()
        out: list[dict[str, Any]] = []
        with self._lock:
            stale = [fp for fp, a in self._alerts.items()
                     if a.ends_at + self.resolved_retention < now]
            for fp in stale:
                del self._alerts[fp]
            alerts = list(self._alerts.values())
            for a in alerts:
                if a.ends_at <= now:
                    continue  # resolved
                if not all(m.matches(a.labels) for m in matchers):
                    continue
                silenced_by = self._silenced_by(a.labels, now)
                if silenced_by and not silenced:
                    continue
                if not silenced_by and not active:
                    continue
                item: dict[str, Any] = {
                    "annotations": a.annotations, "endsAt": _iso(a.ends_at),
                    "fingerprint": a.fingerprint, "receivers": [{"name": self.receiver}],
                    "startsAt": _iso(a.starts_at),
                    "status": {"inhibitedBy": [], "silencedBy": silenced_by,
                               "state": "suppressed" if silenced_by else "active"},
                    "updatedAt": _iso(a.updated_at), "labels": a.labels,
                }
                if a.generator_url:  # omitted when empty, as the real API does
                    item["generatorURL"] = a.generator_url
                out.append(item)
        out.sort(key=lambda x: (x["labels"].get("alertname", ""), x["fingerprint"]))
        return json_response(200, out)

    def _post_silence(self, req: Request) -> Response:
        try:
            body = req.json()
        except ValueError as exc:
            raise BadRequest(f"parsing silence body failed: {exc}") from None
        if not isinstance(body, dict):
            raise BadRequest("silence in body must be an object")
        for key in ("matchers", "startsAt", "endsAt", "createdBy", "comment"):
            if key not in body:
                raise SchemaError(422, 602, f"{key} in body is required")
        raw_matchers = body["matchers"]
        if not isinstance(raw_matchers, list) or not raw_matchers:
            raise SchemaError(422, 612, "matchers in body should have at least 1 items")
        matchers = []
        for m in raw_matchers:
            if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not isinstance(
                    m.get("value"), str) or not isinstance(m.get("isRegex"), bool):
                raise BadRequest("silence invalid: a matcher needs name, value and isRegex")
            matchers.append(Matcher(m["name"], m["value"], m["isRegex"],
                                    bool(m.get("isEqual", True))))
        now = self.clock()
        starts = _parse_time(body["startsAt"], "startsAt")
        ends = _parse_time(body["endsAt"], "endsAt")
        if starts is None or ends is None:
            raise BadRequest("silence invalid: startsAt and endsAt are required")
        if ends <= starts:
            raise BadRequest("silence invalid: end time must not be before start time")
        if ends < now:
            raise BadRequest("silence invalid: end time can't be in the past")
        sid = body.get("id") or str(uuid.uuid4())
        with self._lock:
            if body.get("id") and sid not in self._silences:
                return _error(404, f"silence {sid} not found")
            self._silences[sid] = Silence(sid, matchers, max(starts, now) if body.get("id")
                                          else starts, ends, now, str(body["createdBy"]),
                                          str(body["comment"]))
        return json_response(200, {"silenceID": sid})

    def _get_silences(self, req: Request) -> Response:
        matchers = [parse_filter(f) for f in req.raw_query.get("filter", [])]
        now = self.clock()
        with self._lock:
            out = []
            for s in self._silences.values():
                labels = {m.name: m.value for m in s.matchers}
                if all(m.matches(labels) for m in matchers):
                    out.append(s.to_json(now))
        return json_response(200, out)

    def _get_silence(self, sid: str) -> Response:
        with self._lock:
            s = self._silences.get(sid)
            if s is None:
                return Response(404, b"", content_type="")
            return json_response(200, s.to_json(self.clock()))

    def _delete_silence(self, sid: str) -> Response:
        now = self.clock()
        with self._lock:
            s = self._silences.get(sid)
            if s is None:
                return _error(500, "silence not found")  # what the real API answers
            if s.state(now) != "expired":
                s.ends_at = max(now, s.starts_at)
                s.updated_at = now
        return json_response(200, None)

    def _status(self) -> dict[str, Any]:
        return {
            "cluster": {"name": "sandbox", "status": "disabled", "peers": []},
            "config": {"original": f"route:\n  receiver: {self.receiver}\nreceivers:\n"
                                   f"  - name: {self.receiver}\n"},
            "uptime": _iso(self._started),
            "versionInfo": {"branch": "sandbox", "buildDate": "", "buildUser": "platform-ops",
                            "goVersion": "n/a", "revision": "sandbox", "version": "0.25.0"},
        }
