"""TlsProbeResource: real TLS handshakes with SNI against the served endpoints.

The resource holds the probe's configuration; the handshakes themselves (what is checked, and
the event loops that run them) are ``resources.tls_probe``, imported by the first probe rather
than when the code location loads. ``probe`` never raises: every failure is a named
``ProbeResult.error``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from resources.config import TlsProbeConfig

if TYPE_CHECKING:
    from platform_assets.core.certs import ProbeResult, ProbeTarget


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


class TlsProbeResource(TlsProbeConfig):
    """TLS handshakes to served endpoints (SNI, bounded concurrency, per-endpoint timeouts)."""

    def open(self) -> TlsProbeResource:
        """This resource (its config's ``open()``, already open)."""
        return self

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
        from platform_assets.core.certs import ProbeResult
        from resources.tls_probe import probe_all, tls_contexts

        timeout = timeout_seconds if timeout_seconds is not None else self.timeout_seconds
        try:
            resolve = self.resolve_map()
        except ValueError as exc:
            return [ProbeResult(t, "", error="dns-failure", detail=str(exc)) for t in endpoints]
        try:
            contexts = tls_contexts(self.bundles(extra_bundles), self.use_system_store)
        except (OSError, ssl.SSLError) as exc:
            return [ProbeResult(t, "", error="ca-bundle-unreadable", detail=str(exc))
                    for t in endpoints]
        return probe_all(endpoints, resolve, contexts, concurrency or self.concurrency, timeout)


def ca_bundle_path(path: str | None, base: Path | None = None) -> str | None:
    """The spec's ``ca_bundle``: absolute, or relative to the spec file's directory."""
    if not path:
        return None
    p = Path(path)
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p)
