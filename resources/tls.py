"""TlsProbeResource: real TLS handshakes with SNI against the served endpoints.

What is checked, honestly (Python 3.11's ``ssl`` exposes no verified chain):

1. One handshake with verification on: the system trust store plus the CA bundles given, the
   chain the server sends (leaf and intermediates) verified by OpenSSL, *without* the validity
   period (``X509_V_FLAG_NO_CHECK_TIME``: expiry is judged from the leaf's dates by the pure
   evaluation, so an expired certificate is "expired", not "untrusted"), and without the
   hostname (matched by ``hostname_matches`` on the leaf's SANs, so a mismatch is its own
   finding). Success: ``trusted=True`` and the leaf in DER from ``getpeercert(binary_form=True)``.
2. Only when that fails: a second handshake that verifies nothing, to fetch the leaf anyway;
   ``trusted=False`` with OpenSSL's reason. The second context also offers anonymous ciphers, so
   a server that completes a handshake with no certificate is told apart from one that does not
   speak TLS at all.

Endpoints are probed concurrently by a bounded thread pool; each has one deadline covering name
resolution, connect and handshake. ``probe`` never raises: every failure is a named
``ProbeResult.error``.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg

from platform_assets.core.certs import (
    CertificateParseError,
    ProbeResult,
    ProbeTarget,
    parse_der,
)

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME; the ssl module has no name for it.
_NO_CHECK_TIME = 0x200000


def parse_resolve(text: str | None) -> dict[str, str]:
    """``host:port=addr:port`` pairs, comma-separated (``curl --resolve`` without the colons).

    Raises:
        ValueError: an entry that is not ``host:port=addr:port``, named in the message.
    """
    out: dict[str, str] = {}
    for raw in (text or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        left, sep, right = entry.partition("=")
        if not sep or ":" not in left or ":" not in right:
            raise ValueError(f"PLATFORM_TLS_RESOLVE entry {entry!r} is not host:port=addr:port")
        out[left.strip().lower()] = right.strip()
    return out


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(self.end - time.monotonic(), 0.001)


class TlsProbeResource(dg.ConfigurableResource):
    """TLS handshakes to served endpoints (SNI, bounded concurrency, per-endpoint timeouts)."""

    resolve: str | None = None
    ca_bundle: str | None = None
    use_system_store: bool = True
    concurrency: int = 32
    timeout_seconds: float = 5.0

    def resolve_map(self) -> dict[str, str]:
        """The resolve overrides: this resource's ``resolve``, else ``$PLATFORM_TLS_RESOLVE``."""
        return parse_resolve(self.resolve if self.resolve is not None
                             else os.environ.get("PLATFORM_TLS_RESOLVE"))

    def bundles(self, extra: Sequence[str] = ()) -> list[str]:
        """CA bundles trusted besides the system store: ``ca_bundle`` (default
        ``$SANDBOX_CA_BUNDLE``) and ``extra`` (e.g. the spec's ``certificates.ca_bundle``)."""
        own = self.ca_bundle if self.ca_bundle is not None else os.environ.get(
            "SANDBOX_CA_BUNDLE")
        return [b for b in [own, *extra] if b]

    def _contexts(self, bundles: Sequence[str]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        verify.check_hostname = False
        verify.verify_mode = ssl.CERT_REQUIRED
        if self.use_system_store:
            verify.load_default_certs()
        for b in bundles:
            verify.load_verify_locations(cafile=b)
        verify.verify_flags = verify.verify_flags | _NO_CHECK_TIME
        fetch = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        fetch.check_hostname = False
        fetch.verify_mode = ssl.CERT_NONE
        fetch.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        fetch.set_ciphers("ALL:@SECLEVEL=0")
        return verify, fetch

    def probe(self, endpoints: Sequence[ProbeTarget], extra_bundles: Sequence[str] = (),
              concurrency: int | None = None,
              timeout_seconds: float | None = None) -> list[ProbeResult]:
        """Handshake with every endpoint, at most ``concurrency`` at a time.

        Args:
            endpoints: what to probe.
            extra_bundles: CA bundle files trusted in addition (the spec's ``ca_bundle``).
            concurrency: overrides the resource's bound.
            timeout_seconds: overrides the per-endpoint deadline.

        Returns:
            One result per endpoint, in order. Never raises.
        """
        timeout = timeout_seconds if timeout_seconds is not None else self.timeout_seconds
        try:
            resolve = self.resolve_map()
        except ValueError as exc:
            return [ProbeResult(t, "", error="dns-failure", detail=str(exc)) for t in endpoints]
        try:
            contexts = self._contexts(self.bundles(extra_bundles))
        except (OSError, ssl.SSLError) as exc:
            return [ProbeResult(t, "", error="ca-bundle-unreadable", detail=str(exc))
                    for t in endpoints]
        workers = max(1, min(concurrency or self.concurrency, len(endpoints) or 1))

        def one(target: ProbeTarget) -> ProbeResult:
            try:
                return probe_one(target, resolve, contexts, timeout)
            except Exception as exc:  # a bug or an odd platform error stays with its endpoint
                return ProbeResult(target, "", error="probe-error",
                                   detail=f"{type(exc).__name__}: {_short(exc)}")

        if workers == 1:
            return [one(t) for t in endpoints]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tls-probe") as pool:
            return list(pool.map(one, endpoints))


def _dial(target: ProbeTarget, resolve: dict[str, str]) -> tuple[str, int]:
    mapped = resolve.get(f"{target.host.lower()}:{target.port}")
    if mapped:
        host, _, port = mapped.rpartition(":")
        return host.strip("[]"), int(port)
    return (target.connect_to or target.host), target.port


def _connect(addr: tuple[str, int], deadline: _Deadline) -> socket.socket:
    infos = socket.getaddrinfo(addr[0], addr[1], type=socket.SOCK_STREAM)
    last: OSError | None = None
    for family, stype, proto, _, sockaddr in infos:
        sock = socket.socket(family, stype, proto)
        sock.settimeout(deadline.left())
        try:
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
            if isinstance(exc, TimeoutError):
                break
    raise last or OSError(f"no address for {addr[0]}")


class _ConnectTimeout(Exception):
    pass


class _HandshakeTimeout(Exception):
    pass


def _handshake(ctx: ssl.SSLContext, target: ProbeTarget, addr: tuple[str, int],
               deadline: _Deadline) -> tuple[bytes | None, str | None]:
    try:
        sock = _connect(addr, deadline)
    except TimeoutError:
        raise _ConnectTimeout() from None
    try:
        sock.settimeout(deadline.left())
        with ctx.wrap_socket(sock, server_hostname=target.server_name) as tls:
            return tls.getpeercert(binary_form=True), tls.version()
    except TimeoutError:
        raise _HandshakeTimeout() from None
    finally:
        sock.close()


def probe_one(target: ProbeTarget, resolve: dict[str, str],
              contexts: tuple[ssl.SSLContext, ssl.SSLContext],
              timeout: float) -> ProbeResult:
    """One endpoint: verifying handshake, then (if needed) a fetching one. Never raises."""
    started = time.monotonic()
    deadline = _Deadline(timeout)
    addr = _dial(target, resolve)
    address = f"{addr[0]}:{addr[1]}"

    def result(**kw: object) -> ProbeResult:
        return ProbeResult(target, address, elapsed_ms=(time.monotonic() - started) * 1000,
                           **kw)  # type: ignore[arg-type]

    verify, fetch = contexts
    trusted = True
    trust_error: str | None = None
    first_error: str = ""
    der: bytes | None = None
    version: str | None = None
    for ctx in (verify, fetch):
        try:
            der, version = _handshake(ctx, target, addr, deadline)
            break
        except socket.gaierror as exc:
            return result(error="dns-failure", detail=f"{addr[0]}: {exc.strerror or exc}")
        except ConnectionRefusedError:
            return result(error="connection-refused", detail=address)
        except ssl.SSLCertVerificationError as exc:
            trusted = False
            trust_error = exc.verify_message or str(exc)
        except _ConnectTimeout:
            return result(error="connect-timeout", detail=f"no TCP connection within {timeout:g}s")
        except _HandshakeTimeout:
            return result(error="handshake-timeout",
                          detail=f"connected, but no handshake within {timeout:g}s")
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
            if ctx is fetch:
                return result(error="handshake-failed", detail=first_error or _short(exc))
            trusted = False
            first_error = _short(exc)
        except OSError as exc:
            return result(error="connect-failed", detail=_short(exc))
    if not der:
        return result(error="no-certificate", detail=f"{version or 'TLS'} without a certificate")
    try:
        leaf = parse_der(der)
    except CertificateParseError as exc:
        return result(error="malformed-certificate", detail=str(exc))
    return result(leaf=leaf, trusted=trusted, trust_error=trust_error or (
        first_error or None), tls_version=version)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def ca_bundle_path(path: str | None, base: Path | None = None) -> str | None:
    """The spec's ``ca_bundle``: absolute, or relative to the spec file's directory."""
    if not path:
        return None
    p = Path(path)
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p)
