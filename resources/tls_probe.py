"""The TLS handshakes of ``TlsProbeResource.probe`` (``resources.tls``).

What is checked, honestly (Python 3.11's ``ssl`` has the chains only on its private
``_sslobj``; 3.13 makes them public):

1. One handshake with full verification: the chain the server sends (leaf and intermediates)
   verified by OpenSSL against the system trust store plus the CA bundles given, validity periods
   included, but not the hostname (matched by ``hostname_matches`` on the leaf's SANs, so a
   mismatch is its own finding). Success: ``trusted=True``, the leaf in DER from
   ``getpeercert(binary_form=True)`` and the verified path above it (``chain``, parsed once per
   distinct certificate). This is the only handshake of a healthy endpoint.
2. Only after a validity error (expired or not yet valid, which ``ssl`` does not attribute to a
   depth): the same verification without validity periods (``X509_V_FLAG_NO_CHECK_TIME``). If it
   passes, the chain is trusted and ``validity_error`` holds the reason: the evaluation blames
   the leaf when its own dates explain it ("expired", not "untrusted"), else the rest of the
   chain ("chain-expired": an expired intermediate).
3. After any other failure: a handshake that verifies nothing, to fetch the leaf anyway;
   ``trusted=False`` with OpenSSL's reason. This context also offers anonymous ciphers, so a
   server that completes a handshake with no certificate is told apart from one that does not
   speak TLS at all.

Endpoints are probed by one non-blocking event loop per usable CPU, with at most ``concurrency``
handshakes in flight in all; each endpoint has one deadline covering name resolution (run in a
daemon thread, since ``getaddrinfo`` has no timeout), connect and handshake. ``probe`` never
raises: every failure is a named ``ProbeResult.error``.
"""

from __future__ import annotations

import _ssl
import errno
import ipaddress
import os
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from platform_assets.core.certs import (
    CertificateParseError,
    CertInfo,
    ProbeResult,
    ProbeTarget,
    parse_der,
)

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME; the ssl module has no name for it.
_NO_CHECK_TIME = 0x200000
# X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED: some certificate of the chain is
# outside its validity period (OpenSSL does not say which one through the ssl module).
_TIME_ERRORS = frozenset({9, 10})


@dataclass(frozen=True)
class _Contexts:
    verify: ssl.SSLContext   # the whole chain, validity periods included
    notime: ssl.SSLContext   # the same without validity periods (after a time error)
    fetch: ssl.SSLContext    # verifies nothing: to get the leaf of an untrusted server


def tls_contexts(bundles: Sequence[str], use_system_store: bool) -> _Contexts:
    """The three contexts of the module docstring's handshakes, trusting ``bundles`` (and the
    system store when ``use_system_store``)."""

    def verifying(flags: int) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        if use_system_store:
            ctx.load_default_certs()
        for b in bundles:
            ctx.load_verify_locations(cafile=b)
        ctx.verify_flags = ctx.verify_flags | flags
        return ctx

    fetch = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    fetch.check_hostname = False
    fetch.verify_mode = ssl.CERT_NONE
    fetch.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    fetch.set_ciphers("ALL:@SECLEVEL=0")
    return _Contexts(verifying(0), verifying(_NO_CHECK_TIME), fetch)


def probe_all(endpoints: Sequence[ProbeTarget], resolve: dict[str, str], contexts: _Contexts,
              concurrency: int, timeout: float) -> list[ProbeResult]:
    """Handshake with every endpoint, at most ``concurrency`` at a time, over one loop per
    usable CPU; one result per endpoint, in order. Never raises."""
    n = len(endpoints)
    if n == 0:
        return []
    bound = max(1, min(concurrency, n))
    loops = max(1, min(_cores(), bound))
    slots = [bound // loops + (1 if k < bound % loops else 0) for k in range(loops)]
    results: list[ProbeResult | None] = [None] * n
    todo = iter(enumerate(endpoints))
    lock = threading.Lock()

    def take() -> tuple[int, ProbeTarget] | None:
        with lock:
            return next(todo, None)

    def done(i: int, res: ProbeResult) -> None:
        results[i] = res

    crashed: list[str] = []

    def run(k: int) -> None:
        try:
            _Loop(contexts, resolve, timeout).run(take, slots[k], done)
        except Exception as exc:  # a bug: the endpoints it held are reported below, by name
            crashed.append(f"{type(exc).__name__}: {_short(exc)}")

    threads = [threading.Thread(target=run, args=(k,), name=f"tls-probe-{k}", daemon=True)
               for k in range(1, loops)]
    for t in threads:
        t.start()
    run(0)
    for t in threads:
        t.join()
    why = f"the probe loop stopped ({'; '.join(crashed) or 'no reason given'})"
    return [r or ProbeResult(t, "", error="probe-error", detail=why)
            for t, r in zip(endpoints, results, strict=True)]


def _cores() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _dial(target: ProbeTarget, resolve: dict[str, str]) -> tuple[str, int]:
    mapped = resolve.get(f"{target.host.lower()}:{target.port}")
    if mapped:
        host, _, port = mapped.rpartition(":")
        return host.strip("[]"), int(port)
    return (target.connect_to or target.host), target.port


def _literal(host: str, port: int) -> list[tuple[Any, ...]] | None:
    """Socket addresses for an IP literal (no lookup needed), else None."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return [(family, socket.SOCK_STREAM, 0, "", (host, port))]


def _lookup(host: str, port: int) -> Future[list[tuple[Any, ...]]]:
    """``getaddrinfo`` in a daemon thread: it has no timeout of its own, so the endpoint's
    deadline is enforced by the loop, and a resolver that never answers holds nothing up."""
    fut: Future[list[tuple[Any, ...]]] = Future()

    def work() -> None:
        try:
            fut.set_result(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the loop, which names it
            fut.set_exception(exc)

    threading.Thread(target=work, name=f"tls-resolve-{host}", daemon=True).start()
    return fut


class _Endpoint:
    """One endpoint's probe in flight: resolve, connect, then handshakes as the module says."""

    def __init__(self, index: int, target: ProbeTarget, resolve: dict[str, str],
                 timeout: float) -> None:
        self.index = index
        self.target = target
        self.timeout = timeout
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.addr = _dial(target, resolve)
        self.address = f"{self.addr[0]}:{self.addr[1]}"
        self.infos: list[tuple[Any, ...]] = []
        self.lookup: Future[list[tuple[Any, ...]]] | None = None
        self.next_info = 0
        self.sock: socket.socket | None = None
        self.tls: ssl.SSLSocket | None = None
        self.watched: socket.socket | None = None  # what the loop's selector watches for it
        self.phase = "resolve"
        self.attempt = "verify"          # which handshake: verify, notime, then fetch
        self.validity_error: str | None = None
        self.trusted = True
        self.trust_error: str | None = None
        self.first_error = ""
        self.refused = False
        self.last_error: OSError | None = None

    def result(self, **kw: Any) -> ProbeResult:
        return ProbeResult(self.target, self.address,
                           elapsed_ms=(time.monotonic() - self.started) * 1000, **kw)

    def close(self) -> None:
        for s in (self.tls, self.sock):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self.tls = self.sock = None

    def timed_out(self) -> ProbeResult:
        t = f"{self.timeout:g}s"
        if self.phase == "resolve":
            return self.result(error="dns-failure",
                               detail=f"{self.addr[0]}: no answer from the resolver within {t}")
        if self.phase == "connect":
            return self.result(error="connect-timeout", detail=f"no TCP connection within {t}")
        return self.result(error="handshake-timeout",
                           detail=f"connected, but no handshake within {t}")


class _Loop:
    """A non-blocking event loop that keeps up to ``slots`` endpoints in flight.

    Why not a thread per endpoint: on a fast network a handshake is CPU work (OpenSSL), and 32
    threads only fight over the GIL and the cores; one loop per core keeps every core busy and
    still overlaps the waiting when endpoints are far away.
    """

    def __init__(self, contexts: _Contexts, resolve: dict[str, str], timeout: float) -> None:
        self.contexts = contexts
        self.resolve = resolve
        self.timeout = timeout
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        self.resolving: set[_Endpoint] = set()
        self.live: set[_Endpoint] = set()
        self.parsed: dict[bytes, CertInfo] = {}

    def run(self, take: Callable[[], tuple[int, ProbeTarget] | None], slots: int,
            done: Callable[[int, ProbeResult], None]) -> None:
        try:
            while True:
                while len(self.live) < slots:
                    nxt = take()
                    if nxt is None:
                        break
                    ep = _Endpoint(nxt[0], nxt[1], self.resolve, self.timeout)
                    self.live.add(ep)
                    self._guard(ep, self._start, done)
                if not self.live:
                    return
                now = time.monotonic()
                for ep in [e for e in self.live if e.deadline <= now]:
                    self._finish(ep, ep.timed_out(), done)
                if not self.live:
                    continue
                wait = max(min(e.deadline for e in self.live) - time.monotonic(), 0.0)
                for key, _ in self.sel.select(timeout=wait):
                    if key.data is None:
                        self._drain_wake()
                        for ep in [e for e in self.resolving if e.lookup and e.lookup.done()]:
                            self._guard(ep, self._resolved, done)
                    elif key.data in self.live:
                        self._guard(key.data, self._step, done)
        finally:
            for ep in list(self.live):
                ep.close()
            self.sel.close()
            self.wake_r.close()
            self.wake_w.close()

    # Each state handler returns a result when the endpoint is finished, else None.
    def _guard(self, ep: _Endpoint, handler: Callable[[_Endpoint], ProbeResult | None],
               done: Callable[[int, ProbeResult], None]) -> None:
        try:
            res = handler(ep)
        except Exception as exc:  # a bug or an odd platform error stays with its endpoint
            res = ep.result(error="probe-error", detail=f"{type(exc).__name__}: {_short(exc)}")
        if res is not None:
            self._finish(ep, res, done)

    def _finish(self, ep: _Endpoint, res: ProbeResult,
                done: Callable[[int, ProbeResult], None]) -> None:
        self._unwatch(ep)
        ep.close()
        self.resolving.discard(ep)
        self.live.discard(ep)
        done(ep.index, res)

    def _unwatch(self, ep: _Endpoint) -> None:
        if ep.watched is not None:
            self.sel.unregister(ep.watched)
            ep.watched = None

    def _watch(self, ep: _Endpoint, sock: socket.socket, events: int) -> None:
        # Tracked here rather than by catching the selector's KeyError: its message formats the
        # socket's repr, which costs more than the rest of the bookkeeping.
        if ep.watched is sock:
            self.sel.modify(sock, events, ep)
            return
        self._unwatch(ep)
        self.sel.register(sock, events, ep)
        ep.watched = sock

    def _drain_wake(self) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _wake(self, _f: object) -> None:
        try:
            self.wake_w.send(b"x")
        except OSError:  # the buffer is full (a wake-up is pending anyway) or the loop ended
            pass

    def _start(self, ep: _Endpoint) -> ProbeResult | None:
        infos = _literal(*ep.addr)
        if infos is not None:
            ep.infos = infos
            return self._connect(ep)
        ep.lookup = _lookup(ep.addr[0], ep.addr[1])
        self.resolving.add(ep)
        ep.lookup.add_done_callback(self._wake)
        return None

    def _resolved(self, ep: _Endpoint) -> ProbeResult | None:
        self.resolving.discard(ep)
        assert ep.lookup is not None
        try:
            ep.infos = ep.lookup.result()
        except socket.gaierror as exc:
            return ep.result(error="dns-failure", detail=f"{ep.addr[0]}: {exc.strerror or exc}")
        if not ep.infos:
            return ep.result(error="dns-failure", detail=f"{ep.addr[0]}: no address")
        return self._connect(ep)

    def _connect(self, ep: _Endpoint) -> ProbeResult | None:
        """Dial the next address; a refused or failed one moves on to the one after."""
        ep.phase = "connect"
        while ep.next_info < len(ep.infos):
            family, stype, proto, _, sockaddr = ep.infos[ep.next_info]
            ep.next_info += 1
            sock = socket.socket(family, stype, proto)
            sock.setblocking(False)
            try:
                sock.connect(sockaddr)
            except BlockingIOError:
                ep.sock = sock
                self._watch(ep, sock, selectors.EVENT_WRITE)
                return None
            except ConnectionRefusedError as exc:
                sock.close()
                ep.refused, ep.last_error = True, exc
                continue
            except OSError as exc:
                sock.close()
                ep.last_error = exc
                continue
            ep.sock = sock
            return self._handshake(ep)
        if ep.refused:
            return ep.result(error="connection-refused", detail=ep.address)
        return ep.result(error="connect-failed",
                         detail=_short(ep.last_error) if ep.last_error else "no address")

    def _step(self, ep: _Endpoint) -> ProbeResult | None:
        if ep.phase == "connect":
            assert ep.sock is not None
            err = ep.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._unwatch(ep)
                ep.close()
                exc = OSError(err, os.strerror(err))
                ep.refused = ep.refused or err == errno.ECONNREFUSED
                ep.last_error = exc
                return self._connect(ep)
            return self._handshake(ep)
        return self._shake(ep)

    def _handshake(self, ep: _Endpoint) -> ProbeResult | None:
        assert ep.sock is not None
        ep.phase = "handshake"
        self._unwatch(ep)
        ctx = getattr(self.contexts, ep.attempt)
        ep.tls = ctx.wrap_socket(ep.sock, server_hostname=ep.target.server_name,
                                 do_handshake_on_connect=False)
        ep.sock = None  # the SSLSocket owns the descriptor now
        return self._shake(ep)

    def _shake(self, ep: _Endpoint) -> ProbeResult | None:
        tls = ep.tls
        assert tls is not None
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            self._watch(ep, tls, selectors.EVENT_READ)
            return None
        except ssl.SSLWantWriteError:
            self._watch(ep, tls, selectors.EVENT_WRITE)
            return None
        except ssl.SSLCertVerificationError as exc:
            reason = exc.verify_message or str(exc)
            if ep.attempt == "verify" and exc.verify_code in _TIME_ERRORS:
                ep.validity_error = reason  # judged again below without the dates
                return self._again(ep, "notime")
            ep.trusted = False
            ep.trust_error = reason
            return self._again(ep, "fetch")
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError) as exc:
            if ep.attempt == "fetch":
                return ep.result(error="handshake-failed", detail=ep.first_error or _short(exc))
            ep.trusted = False
            ep.first_error = _short(exc)
            return self._again(ep, "fetch")
        except OSError as exc:
            return ep.result(error="connect-failed", detail=_short(exc))
        der, version = tls.getpeercert(binary_form=True), tls.version()
        if not der:
            return ep.result(error="no-certificate",
                             detail=f"{version or 'TLS'} without a certificate")
        try:
            leaf = parse_der(der)
        except CertificateParseError as exc:
            return ep.result(error="malformed-certificate", detail=str(exc))
        return ep.result(leaf=leaf, trusted=ep.trusted,
                         trust_error=ep.trust_error or (ep.first_error or None),
                         tls_version=version, validity_error=ep.validity_error,
                         chain=self._chain(tls, verified=ep.attempt != "fetch"))

    def _chain(self, tls: ssl.SSLSocket, verified: bool) -> tuple[CertInfo, ...]:
        """The path above the leaf: verified (intermediates and anchor) after a verifying
        handshake, else as sent. Python 3.13 names these methods; 3.10-3.12 have them on the
        private ``_sslobj`` only. Intermediates and roots repeat across endpoints, so each is
        parsed once per probe."""
        name = "get_verified_chain" if verified else "get_unverified_chain"
        getter = getattr(getattr(tls, "_sslobj", None), name, None)
        if getter is None:
            return ()
        out = []
        for cert in (getter() or [])[1:]:
            der = cert if isinstance(cert, bytes) else cert.public_bytes(_ssl.ENCODING_DER)
            info = self.parsed.get(der)
            if info is None:
                try:
                    info = self.parsed[der] = parse_der(der)
                except CertificateParseError:
                    continue  # a broken extra certificate; the leaf and the verdict stand
            out.append(info)
        return tuple(out)

    def _again(self, ep: _Endpoint, attempt: str) -> ProbeResult | None:
        """A new connection for the next handshake: ``notime`` after a validity error (is the
        chain otherwise trusted?), ``fetch`` after any other failure (to get the leaf anyway, or
        to tell a server without TLS from one without a certificate)."""
        self._unwatch(ep)
        ep.close()
        ep.attempt = attempt
        ep.next_info = 0
        ep.refused = False
        return self._connect(ep)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
