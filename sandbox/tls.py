"""Local TLS endpoints with certificates generated at start, for the certificate checks.

A sandbox CA is created in ``workdir`` (``ca.pem`` is the bundle that trusts it). Each case is a
TLS server on 127.0.0.1 with a free port, run by threads (stdlib ``ssl``; certificates from
``cryptography``, ECDSA P-256 so that start-up and handshakes are cheap):

======================  ==========================================================================
case                    what it serves
======================  ==========================================================================
valid                   the example platform's hosts (``samcloud.online``,
                        ``*.samcloud.online``), 89 days left, signed by the sandbox CA; answers
                        per SNI (``set_certificate``)
expiring-warning        20 days left (under 30)
expiring-critical       3 days left (under 7)
expired                 expired 2 days ago
wrong-hostname          a certificate for another name than the one asked for
untrusted               signed by a second CA that the bundle does not trust
expired-intermediate    a valid leaf (60 days), sent with its intermediate, which expired
garbage                 accepts TCP and answers with bytes that are not TLS
no-certificate          completes a handshake with an anonymous cipher: no certificate at all
stall                   accepts TCP and never answers the ClientHello
refused                 a port nothing listens on
dns-failure             a name under ``.invalid`` (RFC 2606: never resolves)
======================  ==========================================================================

``TlsEndpoints.env()`` gives ``SANDBOX_CA_BUNDLE`` and ``PLATFORM_TLS_RESOLVE``
(``host:port=127.0.0.1:port``, comma-separated, like ``curl --resolve``) that maps the example
spec's endpoints to the valid server.
"""

from __future__ import annotations

import datetime as dt
import heapq
import ipaddress
import itertools
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Mode = Literal["tls", "garbage", "anon", "stall"]

DEFAULT_HOSTS = ("samcloud.online", "*.samcloud.online")
DEFAULT_RESOLVE_HOSTS = (
    "samcloud.online", "www.samcloud.online", "grafana.samcloud.online",
    "alertmanager.samcloud.online",
)
CASE_DOMAIN = "sandbox.test"
LINGER = 5.0  # seconds a server keeps a finished handshake's connection open


@dataclass(frozen=True)
class TlsCase:
    """One sandbox endpoint: probe ``host`` (SNI) at ``127.0.0.1:port``."""

    name: str
    host: str
    port: int
    expect: str
    description: str
    address: str = "127.0.0.1"
    not_after: dt.datetime | None = None


@dataclass
class Issued:
    cert_pem: bytes
    key_pem: bytes
    not_after: dt.datetime


class Authority:
    """A CA that signs leaf certificates: a root, or an intermediate of ``parent`` whose own
    validity ends ``days_left`` days from now (negative: expired). A leaf an intermediate issues
    carries the intermediates after it, as a server sends its chain."""

    def __init__(self, name: str, parent: Authority | None = None,
                 days_left: float = 3650, now: dt.datetime | None = None) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = now or dt.datetime.now(dt.UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "platform-ops sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ])
        self.parent = parent
        builder = (
            x509.CertificateBuilder()
            .subject_name(self.name).issuer_name(parent.name if parent else self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=400 if days_left < 1 else 1))
            .not_valid_after(now + dt.timedelta(days=days_left))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0 if parent else None),
                           critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
        )
        if parent is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()),
                critical=False)
        self.cert = builder.sign(parent.key if parent else self.key, hashes.SHA256())

    @property
    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        """The intermediates a server sends after a leaf this CA issued (none for a root)."""
        return b"" if self.parent is None else self.pem + self.parent.chain_pem

    def issue(self, names: Sequence[str], days_left: float, lifetime_days: float = 90.0,
              now: dt.datetime | None = None) -> Issued:
        """A leaf for ``names`` that expires ``days_left`` days from now (negative: expired)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = now or dt.datetime.now(dt.UTC)
        not_after = now + dt.timedelta(days=days_left)
        not_before = not_after - dt.timedelta(days=lifetime_days)
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return Issued(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM) + self.chain_pem,
            key_pem=key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()),
            not_after=not_after,
        )


def _context(cert_pem: bytes, key_pem: bytes, workdir: Path, label: str) -> ssl.SSLContext:
    cert_path = workdir / f"{label}.crt"
    key_path = workdir / f"{label}.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key_pem)
    key_path.chmod(0o600)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_path), str(key_path))
    ctx.num_tickets = 0  # probes never resume; tickets would only cost both sides CPU
    return ctx


class Gauge:
    """Connections the servers have accepted and not yet begun to answer: ``peak`` is the most
    at once. With a latency set, each is a client handshake in flight that cannot finish before
    its answer, so tests read the peak to see a client's concurrency bound from this side."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = 0
        self.peak = 0

    def up(self) -> None:
        with self.lock:
            self.current += 1
            self.peak = max(self.peak, self.current)

    def down(self) -> None:
        with self.lock:
            self.current -= 1

    def reset(self) -> None:
        with self.lock:
            self.peak = self.current


class _Server:
    """One listening socket, served by one thread's small event loop."""

    def __init__(self, mode: Mode, ctx: ssl.SSLContext | None = None,
                 settings: Settings | None = None) -> None:
        self.mode = mode
        self.settings = settings or Settings()
        self.default_ctx = ctx
        self.sni: dict[str, ssl.SSLContext] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port: int = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.held: list[socket.socket] = []
        self.lock = threading.Lock()
        if mode == "tls" and ctx is not None:
            ctx.sni_callback = self._pick
        self.thread = threading.Thread(target=self._accept, name=f"tls-{mode}-{self.port}",
                                       daemon=True)
        self.thread.start()

    def _pick(self, conn: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        if not server_name:
            return
        name = server_name.lower()
        chosen = self.sni.get(name) or self.sni.get("*." + name.split(".", 1)[-1])
        if chosen is not None:
            conn.context = chosen

    def _accept(self) -> None:
        # A small event loop: accept, handshake inline (a millisecond of work; a thread per
        # connection would cost more than the handshake), then keep the connection until the
        # client closes it or LINGER seconds pass, as a real server would. With a latency set,
        # a connection waits that long before its ClientHello is answered: the round trip to an
        # endpoint that far away (this kernel has no netem to delay the packets themselves).
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ, None)
        waiting: list[tuple[float, int, socket.socket]] = []
        seq = itertools.count()
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                while waiting and waiting[0][0] <= now:
                    self._finish(sel, heapq.heappop(waiting)[2])
                wait = min(0.5, waiting[0][0] - now) if waiting else 0.5
                for key, _ in sel.select(timeout=max(wait, 0.0)):
                    if key.data is not None:
                        sel.unregister(key.fileobj)
                        _close(key.fileobj)  # type: ignore[arg-type]
                    elif not self._take(sel, waiting, seq):
                        return
                self._expire(sel, time.monotonic())
        finally:
            self._expire(sel, float("inf"))
            for _, _, conn in waiting:
                _close(conn)
            sel.close()

    def _take(self, sel: selectors.BaseSelector, waiting: list[tuple[float, int, socket.socket]],
              seq: itertools.count[int]) -> bool:
        """Accept one connection; False once the listening socket is closed."""
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return False
        if self.mode == "stall":
            self._answer(conn)
            return True
        self.settings.gauge.up()
        latency = self.settings.latency
        if latency > 0:
            heapq.heappush(waiting, (time.monotonic() + latency, next(seq), conn))
        else:
            self._finish(sel, conn)
        return True

    @staticmethod
    def _expire(sel: selectors.BaseSelector, now: float) -> None:
        """Close the kept connections whose linger ended before ``now``."""
        for key in list(sel.get_map().values()):
            if key.data is not None and key.data < now:
                sel.unregister(key.fileobj)
                _close(key.fileobj)  # type: ignore[arg-type]

    def _finish(self, sel: selectors.BaseSelector, conn: socket.socket) -> None:
        self.settings.gauge.down()
        kept = self._answer(conn)
        if kept is not None:
            sel.register(kept, selectors.EVENT_READ, time.monotonic() + LINGER)

    def _answer(self, conn: socket.socket) -> socket.socket | None:
        if self.mode == "stall":
            with self.lock:
                self.held.append(conn)
            return None
        conn.settimeout(2)
        try:
            if self.mode == "garbage":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nServer: not-tls\r\n\r\n" + bytes(
                    range(256)) * 4)
                conn.close()
                return None
            assert self.default_ctx is not None
            return self.default_ctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()
            return None

    def stop(self) -> None:
        self.stopping.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for c in self.held:
                c.close()
            self.held.clear()
        self.thread.join(timeout=2)


@dataclass
class Settings:
    """What every server of one ``TlsEndpoints`` shares: ``latency`` (seconds before a
    ClientHello is answered; changeable while running) and the handshake gauge."""

    latency: float = 0.0
    gauge: Gauge = field(default_factory=Gauge)


@dataclass
class TlsEndpoints:
    """The running sandbox TLS servers. ``cases`` by name; ``stop()`` closes everything."""

    workdir: Path
    ca: Authority
    ca_bundle: Path
    cases: dict[str, TlsCase] = field(default_factory=dict)
    resolve: dict[str, str] = field(default_factory=dict)
    _servers: list[_Server] = field(default_factory=list, repr=False)
    _valid: _Server | None = field(default=None, repr=False)
    settings: Settings = field(default_factory=Settings)
    _counter: int = field(default=0, repr=False)

    def env(self) -> dict[str, str]:
        """``SANDBOX_CA_BUNDLE`` and ``PLATFORM_TLS_RESOLVE`` for the env file."""
        return {
            "SANDBOX_CA_BUNDLE": str(self.ca_bundle),
            "PLATFORM_TLS_RESOLVE": ",".join(f"{k}={v}" for k, v in self.resolve.items()),
        }

    def _label(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self._counter}"

    def add_server(self, name: str, host: str, expect: str, description: str,
                   issued: Issued | None, mode: Mode = "tls") -> TlsCase:
        """Start one more server (any mode) and register it as a case."""
        ctx = None
        if issued is not None:
            ctx = _context(issued.cert_pem, issued.key_pem, self.workdir, self._label(name))
        elif mode == "anon":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers("AECDH:ADH:@SECLEVEL=0")
            mode = "tls"
        server = _Server(mode, ctx, self.settings)
        self._servers.append(server)
        case = TlsCase(name, host, server.port, expect, description,
                       not_after=issued.not_after if issued else None)
        self.cases[name] = case
        return case

    def serve_pem(self, name: str, host: str, cert_pem: bytes | str, key_pem: bytes | str,
                  expect: str = "ok") -> TlsCase:
        """Serve a given certificate and key (e.g. a cert-manager Secret's) on a new port."""
        issued = Issued(_b(cert_pem), _b(key_pem), dt.datetime.now(dt.UTC))
        return self.add_server(name, host, expect, f"serves the given certificate for {host}",
                               issued)

    def set_certificate(self, host: str, cert_pem: bytes | str, key_pem: bytes | str) -> None:
        """Make the valid server answer SNI ``host`` (or ``*.domain``) with this certificate,
        e.g. the TLS Secret cert-manager wrote, so the Secret and the served one agree."""
        assert self._valid is not None
        self._valid.sni[host.lower()] = _context(_b(cert_pem), _b(key_pem), self.workdir,
                                                 self._label("sni"))

    def trust(self, ca_pem: bytes | str) -> None:
        """Add a CA (e.g. the Kubernetes sandbox's issuer) to the bundle."""
        with self.ca_bundle.open("ab") as f:
            f.write(b"\n" + _b(ca_pem))

    def stop(self) -> None:
        for s in self._servers:
            s.stop()
        self._servers.clear()


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


def _b(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _new(workdir: Path) -> TlsEndpoints:
    workdir.mkdir(parents=True, exist_ok=True)
    ca = Authority("platform-ops sandbox CA")
    bundle = workdir / "ca.pem"
    bundle.write_bytes(ca.pem)
    return TlsEndpoints(workdir=workdir, ca=ca, ca_bundle=bundle)


def start_tls_endpoints(workdir: Path, hosts: Sequence[str] = DEFAULT_HOSTS,
                        resolve_hosts: Iterable[str] = DEFAULT_RESOLVE_HOSTS,
                        resolve_port: int = 443) -> TlsEndpoints:
    """Generate the CAs and certificates and start every case's server.

    Args:
        workdir: where the CA bundle and the servers' key files go.
        hosts: the names the valid certificate covers.
        resolve_hosts: names mapped to the valid server in ``PLATFORM_TLS_RESOLVE``.
        resolve_port: the port those names are probed on (the spec's endpoint port).
    """
    eps = _new(workdir)
    ca = eps.ca
    other = Authority("untrusted sandbox CA")
    d = CASE_DOMAIN
    valid = eps.add_server("valid", hosts[0], "ok",
                           f"valid for {', '.join(hosts)}, 89 days left",
                           ca.issue(list(hosts), 89))
    eps._valid = eps._servers[-1]
    for h in resolve_hosts:
        eps.resolve[f"{h}:{resolve_port}"] = f"127.0.0.1:{valid.port}"
    eps.add_server("expiring-warning", f"expiring-warning.{d}", "expiring-warning",
                   "20 days left", ca.issue([f"expiring-warning.{d}"], 20))
    eps.add_server("expiring-critical", f"expiring-critical.{d}", "expiring-critical",
                   "3 days left", ca.issue([f"expiring-critical.{d}"], 3))
    eps.add_server("expired", f"expired.{d}", "expired", "expired 2 days ago",
                   ca.issue([f"expired.{d}"], -2))
    eps.add_server("wrong-hostname", f"wrong-hostname.{d}", "wrong-hostname",
                   "serves a certificate for another name", ca.issue([f"elsewhere.{d}"], 89))
    eps.add_server("untrusted", f"untrusted.{d}", "untrusted-chain",
                   "signed by a CA outside the bundle", other.issue([f"untrusted.{d}"], 89))
    lapsed = Authority("expired sandbox intermediate", parent=ca, days_left=-3)
    eps.add_server("expired-intermediate", f"expired-intermediate.{d}", "chain-expired",
                   "a valid leaf whose intermediate expired 3 days ago",
                   lapsed.issue([f"expired-intermediate.{d}"], 60))
    eps.add_server("garbage", f"garbage.{d}", "handshake-failed", "answers bytes that are not "
                   "TLS", None, mode="garbage")
    eps.add_server("no-certificate", f"no-certificate.{d}", "no-certificate",
                   "anonymous cipher: handshake without a certificate", None, mode="anon")
    eps.add_server("stall", f"stall.{d}", "handshake-timeout",
                   "accepts TCP, never answers the ClientHello", None, mode="stall")
    eps.cases["refused"] = TlsCase("refused", f"refused.{d}", _closed_port(),
                                   "connection-refused", "nothing listens on the port")
    eps.cases["dns-failure"] = TlsCase("dns-failure", "does-not-exist.invalid", 443,
                                       "dns-failure", "a name that never resolves",
                                       address="does-not-exist.invalid")
    return eps


def make_many(n: int, workdir: Path | None = None, days_left: float = 89,
              latency: float = 0.0) -> TlsEndpoints:
    """``n`` valid endpoints ``ep<i>.bench.test`` (one server and one certificate each), for the
    benchmark. ``resolve`` maps each ``host:443`` to its server. ``workdir`` defaults to a new
    temporary directory; ``latency`` is ``settings.latency`` (changeable later)."""
    if workdir is None:
        import tempfile

        workdir = Path(tempfile.mkdtemp(prefix="sandbox-tls-"))
    eps = _new(workdir)
    eps.settings.latency = latency
    for i in range(n):
        host = f"ep{i}.bench.test"
        case = eps.add_server(f"ep{i}", host, "ok", "benchmark endpoint",
                              eps.ca.issue([host], days_left))
        eps.resolve[f"{host}:443"] = f"127.0.0.1:{case.port}"
    return eps


def describe(eps: TlsEndpoints) -> list[dict[str, Any]]:
    """The cases as plain dicts (for the admin API or a README table)."""
    return [{"name": c.name, "host": c.host, "port": c.port, "expect": c.expect,
             "description": c.description} for c in eps.cases.values()]
