"""A small threaded HTTP layer every sandbox service runs on.

It gives each service the same things for free: request counting per service and method (the
admin API's ``GET /requests``), fault injection (error rate with 429/500/503 and an integer
Retry-After, added latency, dropped connections) and JSON or streamed responses. Services only
implement ``handle(Request) -> Response``.
"""

from __future__ import annotations

import json
import math
import random
import socket
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    base_url: str
    raw_query: dict[str, list[str]] = field(default_factory=dict)
    target: str = ""  # the request target as sent (path and query, still percent-encoded)

    def json(self) -> Any:
        """The body parsed as JSON. Raises ValueError when it is not JSON."""
        return json.loads(self.body.decode() or "null")

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes | Iterator[bytes]:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        if isinstance(self.body, Iterator):
            return self.body
        return json.dumps(self.body, separators=(",", ":")).encode()


def json_response(status: int, body: Any, **headers: str) -> Response:
    return Response(status=status, body=body, headers=dict(headers))


class Service:
    """Base of a sandbox service. Subclasses set ``name`` and implement ``handle``."""

    name = "service"
    # When set, the service's port also speaks TLS: a connection that opens with a TLS
    # handshake is served over it, any other as plain HTTP (clients such as kubectl send
    # credentials only over TLS).
    tls_context: ssl.SSLContext | None = None

    def handle(self, req: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def fault_response(self, status: int, retry_after: int) -> Response:
        """The error an injected fault answers with; services override to match their API."""
        return json_response(status, {"error": "injected fault", "code": status},
                             **{"Retry-After": str(retry_after)})

    def counted_as(self, method: str, path: str) -> str:
        """The key a request is counted under in ``GET /requests``: its HTTP method, unless
        the service knows it for something else (an access review is a POST that writes
        nothing)."""
        return method

    def route(self, path: str) -> Service:
        """The service a request to ``path`` is counted, faulted and answered by.

        A plain service answers everything itself; ``PrefixRouter`` picks an inner service.
        """
        return self


class PrefixRouter(Service):
    """Serves several services on one port, chosen by the longest matching path prefix.

    Requests are counted and faulted under the inner service's name (the server asks
    ``route``), and the inner service sees the full, unchanged path.
    """

    name = "router"

    def __init__(self, routes: dict[str, Service]):
        self._routes = sorted(
            ((prefix.rstrip("/"), svc) for prefix, svc in routes.items()),
            key=lambda item: len(item[0]), reverse=True,
        )

    @property
    def services(self) -> list[Service]:
        return [svc for _, svc in self._routes]

    def route(self, path: str) -> Service:
        for prefix, svc in self._routes:
            if path == prefix or path.startswith(prefix + "/"):
                return svc
        return self

    def handle(self, req: Request) -> Response:
        svc = self.route(req.path)
        if svc is self:
            known = ", ".join(sorted(prefix for prefix, _ in self._routes))
            return json_response(404, {"httpStatus": 404, "messages": [{
                "errorCode": "404",
                "message": f"no sandbox service serves {req.path}; prefixes: {known}",
            }]})
        return svc.handle(req)


class RequestCounter:
    """Counts requests per service and HTTP method (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, service: str, method: str) -> None:
        with self._lock:
            self._counts[service][method] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {s: dict(m) for s, m in self._counts.items()}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


@dataclass
class FaultConfig:
    error_rate: float = 0.0
    statuses: list[int] = field(default_factory=lambda: [503])
    retry_after: int = 1
    latency_ms: int = 0
    drop_rate: float = 0.0
    methods: list[str] | None = None  # None: every method
    path_contains: str | None = None
    times: int | None = None  # inject this many errors or drops, then clear; None: no limit

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        allowed = set(cls.__dataclass_fields__)
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; allowed {sorted(allowed)}")
        _check_fault_types(data)
        cfg = cls(**data)
        if cfg.methods is not None:
            cfg.methods = [m.upper() for m in cfg.methods]
        cfg._check_ranges()
        return cfg

    def _check_ranges(self) -> None:
        if not 0 <= self.error_rate <= 1 or not 0 <= self.drop_rate <= 1:
            raise ValueError("error_rate and drop_rate must be between 0 and 1")
        if self.error_rate + self.drop_rate > 1:
            raise ValueError("error_rate + drop_rate must not exceed 1")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        if any(s not in (429, 500, 502, 503, 504) for s in self.statuses):
            raise ValueError("statuses must be among 429, 500, 502, 503, 504")
        if (not isinstance(self.retry_after, int) or isinstance(self.retry_after, bool)
                or self.retry_after < 0):
            raise ValueError("retry_after must be a non-negative integer (seconds)")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fault_types(data: dict[str, Any]) -> None:
    """The JSON types of a fault's fields (before the dataclass is built from them)."""
    for key in ("error_rate", "drop_rate", "latency_ms"):
        value = data.get(key, 0)
        if not ((_is_int(value) or isinstance(value, float)) and math.isfinite(value)):
            raise ValueError(f"{key} must be a number (finite), got {data[key]!r}")
    statuses = data.get("statuses", [503])
    if not isinstance(statuses, list) or not statuses or not all(map(_is_int, statuses)):
        raise ValueError(f"statuses must be a non-empty list of integers, got {statuses!r}")
    methods = data.get("methods")
    if methods is not None and (
            not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)):
        raise ValueError(f"methods must be a list of HTTP methods or null, got {methods!r}")
    times = data.get("times")
    if times is not None and (not _is_int(times) or times < 1):
        raise ValueError(f"times must be a positive integer or null, got {times!r}")
    path_contains = data.get("path_contains")
    if path_contains is not None and not isinstance(path_contains, str):
        raise ValueError(f"path_contains must be a string or null, got {path_contains!r}")


class FaultInjector:
    """Per-service fault configuration, decided per request with a seeded RNG."""

    def __init__(self, seed: int = 1234) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, FaultConfig] = {}
        self._rng = random.Random(seed)

    def set(self, service: str, cfg: FaultConfig | None) -> None:
        with self._lock:
            if cfg is None:
                self._faults.pop(service, None)
            else:
                self._faults[service] = cfg

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {k: v.__dict__ for k, v in self._faults.items()}

    def decide(self, service: str, method: str, path: str) -> tuple[float, str | None, int, int]:
        """(latency seconds, 'drop' | 'error' | None, status, retry_after)."""
        with self._lock:
            cfg = self._faults.get(service)
            if cfg is None:
                return 0.0, None, 0, 0
            if cfg.methods is not None and method not in cfg.methods:
                return cfg.latency_ms / 1000, None, 0, 0
            if cfg.path_contains and cfg.path_contains not in path:
                return cfg.latency_ms / 1000, None, 0, 0
            r = self._rng.random()
            latency = cfg.latency_ms / 1000
            if r >= cfg.drop_rate + cfg.error_rate:
                return latency, None, 0, 0
            if cfg.times is not None:
                cfg.times -= 1
                if cfg.times <= 0:
                    self._faults.pop(service, None)
            if r < cfg.drop_rate:
                return latency, "drop", 0, 0
            return latency, "error", self._rng.choice(cfg.statuses), cfg.retry_after


COUNTER = RequestCounter()
FAULTS = FaultInjector()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes; without TCP_NODELAY a keep-alive client's delayed
    # ACK adds ~40 ms to every request.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # keep test output clean; the admin API counts requests instead

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        svc = self.server.service.route(split.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        COUNTER.add(svc.name, svc.counted_as(self.command, split.path))
        latency, fault, status, retry_after = FAULTS.decide(svc.name, self.command, split.path)
        if latency:
            time.sleep(latency)
        if fault == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "error":
            self._send(svc.fault_response(status, retry_after))
            return
        raw_query = parse_qs(split.query, keep_blank_values=True)
        req = Request(
            method=self.command, path=split.path,
            query={k: v[-1] for k, v in raw_query.items()}, headers=self.headers, body=body,
            base_url=f"http://127.0.0.1:{self.server.server_address[1]}",
            raw_query=raw_query, target=self.path,
        )
        try:
            resp = svc.handle(req)
        except Exception as exc:  # a sandbox bug must not kill the connection thread silently
            resp = json_response(500, {"error": f"sandbox {svc.name} failed: {exc!r}"})
        self._send(resp)

    def _read_chunked(self) -> bytes:
        out = b""
        while True:
            size = int(self.rfile.readline().strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return out
            out += self.rfile.read(size)
            self.rfile.readline()

    def _send(self, resp: Response) -> None:
        payload = resp.encoded()
        self.send_response(resp.status)
        headers = dict(resp.headers)
        if resp.content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = resp.content_type
        for k, v in headers.items():
            self.send_header(k, v)
        if isinstance(payload, bytes):
            if self.command != "HEAD" or "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        if "Content-Length" in headers:
            # A proxied body of known length streams through as is, without chunking.
            self.end_headers()
            try:
                for chunk in payload:
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in payload:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, service: Service, host: str, port: int):
        self.service = service
        super().__init__((host, port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        context = self.service.tls_context
        if context is None or not isinstance(request, socket.socket):
            super().finish_request(request, client_address)
            return
        request.settimeout(30)  # a silent client holds only its own thread, and not forever
        try:
            if request.recv(1, socket.MSG_PEEK) != b"\x16":  # not a TLS handshake record
                request.settimeout(None)
                super().finish_request(request, client_address)
                return
            wrapped = context.wrap_socket(request, server_side=True)
        except OSError:  # ssl.SSLError included: a failed handshake ends this connection
            return
        wrapped.settimeout(None)
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()


class RunningServer:
    """A service bound to 127.0.0.1 and served from a background thread."""

    def __init__(self, service: Service, host: str = "127.0.0.1", port: int = 0):
        self.service = service
        self._server = _Server(service, host, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"sandbox-{service.name}", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningServer:
        self._thread.start()
        return self

    def replace_service(self, service: Service) -> None:
        """Answer the next requests with ``service`` (the sandbox's reset of a stateful one)."""
        self.service = service
        self._server.service = service

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve(service: Service, port: int = 0) -> RunningServer:
    """Start ``service`` on 127.0.0.1 (a free port unless given) and return the running server."""
    return RunningServer(service, port=port).start()
