"""Certificate evaluation: pure functions from observations to named findings with severities.

Three vantage points observe a certificate: the served endpoint (a TLS handshake), cert-manager
(the Certificate object and its TLS Secret) and IONOS Certificate Manager. Each observation is a
plain dataclass built by the resources; everything here is pure (cryptography parses the
certificates; no Dagster, no SDKs, no network), so each rule is tested in milliseconds.

Thresholds do not cry wolf: a certificate that cert-manager manages, is Ready and whose renewal
time has not passed by more than the grace period is *not* reported as ``expiring-warning``
(cert-manager will renew it, or is renewing it right now). The critical threshold always counts,
and a certificate past ``renewalTime + grace`` is ``overdue-for-renewal`` however many days it has.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from platform_assets.spec.models import Certificate, Certificates, parse_duration

Severity = Literal["WARN", "ERROR"]
Vantage = Literal["endpoint", "cert_manager", "ionos"]

# The cert-manager API group and version the Certificate objects live in.
CERT_MANAGER_API_VERSION = "cert-manager.io/v1"

# Names of the probe's failures; each is its own finding reason.
PROBE_FAILURES = {
    "dns-failure": "the host name does not resolve",
    "connection-refused": "nothing listens on the port (connection refused)",
    "connect-timeout": "the TCP connection did not open in time",
    "connect-failed": "the TCP connection failed",
    "handshake-timeout": "the TLS handshake did not complete in time",
    "handshake-failed": "the server does not speak TLS (or the handshake failed)",
    "no-certificate": "the handshake completed without a server certificate",
    "malformed-certificate": "the served certificate could not be parsed",
    "ca-bundle-unreadable": "the CA bundle to verify the chain with could not be read",
    "probe-error": "the probe failed unexpectedly",
}
UNREACHABLE = frozenset({"dns-failure", "connection-refused", "connect-timeout", "connect-failed"})


@dataclass(frozen=True)
class CertInfo:
    """What the checks need from one X.509 certificate."""

    subject: str
    issuer: str
    serial: str
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the certificate covers: DNS names, then IP addresses."""
        return (*self.dns_names, *self.ip_addresses)


class CertificateParseError(ValueError):
    """Bytes that are not a certificate; the message says what was wrong."""


def _cert_info(cert: Any) -> CertInfo:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(i) for i in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        dns_names=dns,
        ip_addresses=ips,
    )


def parse_der(der: bytes) -> CertInfo:
    """Parse a DER certificate (what a TLS handshake yields)."""
    from cryptography import x509

    try:
        return _cert_info(x509.load_der_x509_certificate(der))
    except ValueError as exc:
        raise CertificateParseError(f"not a DER certificate: {exc}") from None


def parse_pem(pem: str | bytes) -> CertInfo:
    """Parse the first certificate of a PEM bundle (the leaf, by convention)."""
    from cryptography import x509

    data = pem.encode() if isinstance(pem, str) else pem
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise CertificateParseError("no '-----BEGIN CERTIFICATE-----' block")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateParseError(f"not a PEM certificate: {exc}") from None
    return _cert_info(certs[0])


def days_until_expiry(cert: CertInfo, now: datetime) -> float:
    """Days from ``now`` until ``cert`` expires (negative once expired), to 0.01 day."""
    return round((cert.not_after - now).total_seconds() / 86400, 2)


def hostname_matches(hostname: str, names: Iterable[str]) -> bool:
    """RFC 6125 matching: exact names, or a wildcard as the whole left-most label only."""
    host = hostname.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for name in names:
        n = name.lower().rstrip(".")
        if ip is not None:
            try:
                if ipaddress.ip_address(n) == ip:
                    return True
            except ValueError:
                pass
            continue
        if n == host:
            return True
        if n.startswith("*.") and "." in host:
            first, rest = host.split(".", 1)
            if first and rest == n[2:] and "*" not in rest:
                return True
    return False


@dataclass(frozen=True)
class ProbeTarget:
    """One endpoint to probe: SNI ``sni or host``; dial ``connect_to or host`` (or the resolve
    map's address)."""

    host: str
    port: int = 443
    sni: str | None = None
    connect_to: str | None = None

    @property
    def server_name(self) -> str:
        """The name sent as SNI and verified: ``sni`` when set, else the host."""
        return self.sni or self.host


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one TLS handshake. ``error`` is one of ``PROBE_FAILURES`` or None.

    ``trusted`` says whether OpenSSL verified the served chain (the leaf plus the intermediates
    the server sent) against the trust store, with the validity period *not* checked (expiry is
    judged from the leaf by ``evaluate``); ``trust_error`` is OpenSSL's reason when not.
    ``validity_error`` is OpenSSL's reason when the same chain fails *with* the validity period
    checked: the leaf's own dates, or, when the leaf is within them, an intermediate's or the
    root's.
    """

    target: ProbeTarget
    address: str
    error: str | None = None
    detail: str = ""
    leaf: CertInfo | None = None
    trusted: bool | None = None
    trust_error: str | None = None
    tls_version: str | None = None
    elapsed_ms: float = 0.0
    validity_error: str | None = None  # the chain verified only with the validity period off
    # After the leaf: the verified path (intermediates, then the trust anchor) when trusted;
    # otherwise what the server sent after its leaf, for the record.
    chain: tuple[CertInfo, ...] = ()


@dataclass(frozen=True)
class CertManagerState:
    """A cert-manager Certificate and its TLS Secret, as read from the cluster."""

    namespace: str
    name: str
    error: str | None = None          # the API could not be read
    found: bool = False
    ready: bool = False
    ready_reason: str = ""
    ready_message: str = ""
    issuing: bool = False
    not_after: datetime | None = None
    renewal_time: datetime | None = None
    secret_name: str | None = None
    secret_found: bool = False
    secret_cert: CertInfo | None = None
    secret_error: str | None = None   # the Secret exists but its certificate is unusable


@dataclass(frozen=True)
class IonosCertState:
    """A certificate in IONOS Certificate Manager."""

    name: str
    error: str | None = None
    found: bool = False
    id: str | None = None
    state: str | None = None
    message: str | None = None
    expired: bool | None = None
    not_after: datetime | None = None
    cert: CertInfo | None = None
    cert_error: str | None = None


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


def secret_name_of(ref_secret: str | None, certificate: dict[str, Any] | None) -> str | None:
    """The TLS Secret: the spec's ``secret``, else the Certificate's ``spec.secretName``."""
    if ref_secret:
        return ref_secret
    return ((certificate or {}).get("spec") or {}).get("secretName")


def cert_manager_state(namespace: str, name: str, certificate: dict[str, Any] | None,
                       secret: dict[str, Any] | None, error: str | None = None
                       ) -> CertManagerState:
    """Build the observation from the Certificate and Secret objects (dicts, as the API gives)."""
    if error:
        return CertManagerState(namespace, name, error=error)
    if certificate is None:
        return CertManagerState(namespace, name, found=False)
    status = certificate.get("status") or {}
    ready_c = _condition(certificate, "Ready") or {}
    generation = (certificate.get("metadata") or {}).get("generation")
    observed = ready_c.get("observedGeneration")
    stale = generation is not None and observed is not None and observed != generation
    ready = ready_c.get("status") == "True" and not stale
    reason = ready_c.get("reason", "") if not stale else "Stale"
    message = ready_c.get("message", "") if not stale else (
        f"Ready was observed at generation {observed}, the Certificate is at {generation}")
    issuing = (_condition(certificate, "Issuing") or {}).get("status") == "True"
    secret_name = ((certificate.get("spec") or {}).get("secretName"))
    base = dict(namespace=namespace, name=name, found=True, ready=ready, ready_reason=reason,
                ready_message=message, issuing=issuing, not_after=_time(status.get("notAfter")),
                renewal_time=_time(status.get("renewalTime")), secret_name=secret_name)
    if secret is None:
        return CertManagerState(**base)  # type: ignore[arg-type]
    secret_name = (secret.get("metadata") or {}).get("name") or secret_name
    base["secret_name"] = secret_name
    raw = (secret.get("data") or {}).get("tls.crt")
    if not raw:
        return CertManagerState(**base, secret_found=True,  # type: ignore[arg-type]
                                secret_error="the Secret has no tls.crt")
    try:
        pem = base64.b64decode(raw, validate=True)
        cert = parse_pem(pem)
    except (binascii.Error, ValueError) as exc:
        return CertManagerState(**base, secret_found=True,  # type: ignore[arg-type]
                                secret_error=f"tls.crt is not a certificate: {exc}")
    return CertManagerState(**base, secret_found=True, secret_cert=cert)  # type: ignore[arg-type]


def ionos_state(name: str, record: dict[str, Any] | None, error: str | None = None
                ) -> IonosCertState:
    """Build the observation from one record of ``IonosCloudResource.list_certificates()``."""
    if error:
        return IonosCertState(name, error=error)
    if record is None:
        return IonosCertState(name, found=False)
    cert: CertInfo | None = None
    cert_error: str | None = None
    pem = record.get("certificate")
    if pem:
        try:
            cert = parse_pem(pem)
        except CertificateParseError as exc:
            cert_error = str(exc)
    else:
        cert_error = "the certificate body is empty"
    return IonosCertState(
        name, found=True, id=record.get("id"), state=record.get("state"),
        message=record.get("message"), expired=record.get("expired"),
        not_after=_time(record.get("not_after")), cert=cert, cert_error=cert_error,
    )


@dataclass(frozen=True)
class Thresholds:
    """Days left at which a certificate is a warning or an error, and how long a renewal may
    lag."""
    warning_days: int = 30
    critical_days: int = 7
    renewal_grace: timedelta = timedelta(hours=1)


def thresholds_for(section: Certificates, item: Certificate) -> Thresholds:
    """The item's own thresholds where it sets them, else the section's."""
    return Thresholds(
        warning_days=item.warning_days if item.warning_days is not None else section.warning_days,
        critical_days=(item.critical_days if item.critical_days is not None
                       else section.critical_days),
        renewal_grace=parse_duration(section.renewal_grace),
    )


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a certificate, seen from one vantage point (the TLS endpoint, the
    cluster or IONOS Certificate Manager)."""
    reason: str
    severity: Severity
    vantage: Vantage
    message: str

    def __str__(self) -> str:
        return f"{self.severity} {self.vantage}: {self.reason}: {self.message}"


@dataclass
class Evaluation:
    """The verdict on one certificate across its vantage points."""

    name: str
    findings: list[Finding] = field(default_factory=list)
    days_left: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether the evaluation found nothing."""
        return not self.findings

    @property
    def severity(self) -> Severity | None:
        """ERROR when any finding is an error, WARN when all are warnings, None when none."""
        if not self.findings:
            return None
        return "ERROR" if any(f.severity == "ERROR" for f in self.findings) else "WARN"

    @property
    def reasons(self) -> list[str]:
        """The findings' reasons, once each, in the order found."""
        return list(dict.fromkeys(f.reason for f in self.findings))

    def summary(self) -> str:
        """One line for the check's description: days left when it passes, else each vantage and
        reason."""
        if self.passed:
            left = f"{self.days_left:.1f} days left" if self.days_left is not None else "ok"
            return f"{self.name}: ok, {left}"
        return f"{self.name}: " + "; ".join(f"{f.vantage} {f.reason}" for f in self.findings)


def renewal_state(cm: CertManagerState, th: Thresholds, now: datetime) -> str:
    """``scheduled`` (before renewalTime), ``renewing`` (inside renewalTime + grace),
    ``overdue`` (after that), or ``unknown``."""
    if cm.renewal_time is None:
        return "unknown"
    if now < cm.renewal_time:
        return "scheduled"
    if now <= cm.renewal_time + th.renewal_grace:
        return "renewing"
    return "overdue"


def _expiry_findings(cert: CertInfo, vantage: Vantage, th: Thresholds, now: datetime,
                     renewal_managed: bool, notes: list[str]) -> list[Finding]:
    days = days_until_expiry(cert, now)
    when = cert.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    if days <= 0:
        return [Finding("expired", "ERROR", vantage,
                        f"expired {-days:.1f} days ago ({when})")]
    if now < cert.not_before:
        return [Finding("not-yet-valid", "ERROR", vantage,
                        f"valid only from {cert.not_before.isoformat()}")]
    if days <= th.critical_days:
        return [Finding("expiring-critical", "ERROR", vantage,
                        f"expires in {days:.1f} days ({when}); critical at "
                        f"{th.critical_days} days")]
    if days <= th.warning_days:
        if renewal_managed:
            notes.append(f"{vantage}: {days:.1f} days left is inside cert-manager's normal "
                         "renewal window; not a warning")
            return []
        return [Finding("expiring-warning", "WARN", vantage,
                        f"expires in {days:.1f} days ({when}); warning at "
                        f"{th.warning_days} days")]
    return []


def _chain_findings(ep: ProbeResult, leaf: CertInfo, where: str, th: Thresholds,
                    now: datetime) -> list[Finding]:
    """Dates of the trusted path above the leaf: a lapsed intermediate or root breaks the chain
    for every client; one close to its end will. Only the path OpenSSL verified counts, so an
    extra certificate a server sends that no path uses (an old cross-sign) raises nothing."""
    def span(c: CertInfo) -> str:
        return f"{c.subject} (valid {c.not_before:%Y-%m-%d} to {c.not_after:%Y-%m-%d})"

    if ep.validity_error and leaf.not_before <= now < leaf.not_after:
        lapsed = [c for c in ep.chain if not c.not_before <= now < c.not_after]
        what = ", ".join(span(c) for c in lapsed) or "a certificate of the path"
        return [Finding("chain-expired", "ERROR", "endpoint",
                        f"{where}: the leaf is within its dates but the chain is not "
                        f"({ep.validity_error}): {what}")]
    out: list[Finding] = []
    for c in ep.chain:
        d = days_until_expiry(c, now)
        if d <= th.critical_days:
            out.append(Finding("chain-expiring-critical", "ERROR", "endpoint",
                               f"{where}: {span(c)} expires in {d:.1f} days"))
        elif d <= th.warning_days:
            out.append(Finding("chain-expiring-warning", "WARN", "endpoint",
                               f"{where}: {span(c)} expires in {d:.1f} days"))
    return out


def _hostnames(item: Certificate) -> list[str]:
    names = [item.hostname] if item.hostname else []
    if item.endpoint:
        names.append(item.endpoint.sni or item.endpoint.host)
    return list(dict.fromkeys(n for n in names if n))


def evaluate(item: Certificate, th: Thresholds, now: datetime,
             endpoint: ProbeResult | None = None,
             cert_manager: CertManagerState | None = None,
             ionos: IonosCertState | None = None) -> Evaluation:
    """Judge one certificate from every vantage point it was observed from."""
    ev = Evaluation(item.name)
    days: list[float] = []
    # cert-manager's verdict decides whether a near expiry is still "renewal on schedule"
    managed, secret_fp = False, None
    if cert_manager is not None:
        managed, secret_fp = _judge_cert_manager(item, cert_manager, th, now, ev, days)
    if endpoint is not None:
        _judge_endpoint(item, endpoint, th, now, ev, days, managed, secret_fp)
    if ionos is not None:
        _judge_ionos(item, ionos, th, now, ev, days)
    ev.days_left = min(days) if days else None
    return ev


def _judge_cert_manager(item: Certificate, cm: CertManagerState, th: Thresholds,
                        now: datetime, ev: Evaluation,
                        days: list[float]) -> tuple[bool, str | None]:
    """Findings from the cert-manager Certificate and its Secret; returns (managed, secret fp).

    ``managed`` means cert-manager is healthy and renewing on schedule.
    """
    findings, facts = ev.findings, ev.facts
    ref = f"{cm.namespace}/{cm.name}"
    if cm.error:
        findings.append(Finding("cert-manager-unavailable", "ERROR", "cert_manager",
                                f"could not read Certificate {ref}: {cm.error}"))
        return False, None
    if not cm.found:
        findings.append(Finding("cert-manager-not-found", "ERROR", "cert_manager",
                                f"Certificate {ref} does not exist"))
        return False, None
    state = renewal_state(cm, th, now)
    facts["renewal_state"] = state
    if cm.renewal_time:
        facts["renewal_time"] = cm.renewal_time.isoformat()
    if not cm.ready:
        findings.append(Finding(
            "cert-manager-not-ready", "ERROR", "cert_manager",
            f"Certificate {ref} is not Ready ({cm.ready_reason or 'no Ready condition'}"
            f"{': ' + cm.ready_message if cm.ready_message else ''})"))
    if state == "overdue":
        assert cm.renewal_time is not None
        late = now - cm.renewal_time
        findings.append(Finding(
            "overdue-for-renewal", "WARN", "cert_manager",
            f"renewal was due at {cm.renewal_time.isoformat()}, "
            f"{late.total_seconds() / 3600:.1f} h ago (grace "
            f"{th.renewal_grace.total_seconds() / 3600:g} h); cert-manager is not "
            "renewing it"))
    managed = cm.ready and state in ("scheduled", "renewing")
    return managed, _judge_secret(item, cm, th, now, ev, days, managed)


def _judge_secret(item: Certificate, cm: CertManagerState, th: Thresholds, now: datetime,
                  ev: Evaluation, days: list[float], managed: bool) -> str | None:
    """Findings from the TLS Secret cert-manager writes; returns its certificate's fingerprint."""
    findings, facts = ev.findings, ev.facts
    if not cm.secret_found:
        findings.append(Finding("secret-missing", "ERROR", "cert_manager",
                                f"TLS Secret {cm.namespace}/{cm.secret_name} not found"))
        return None
    if cm.secret_error or cm.secret_cert is None:
        findings.append(Finding("malformed-secret", "ERROR", "cert_manager",
                                f"TLS Secret {cm.namespace}/{cm.secret_name}: "
                                f"{cm.secret_error}"))
        return None
    sc = cm.secret_cert
    d = days_until_expiry(sc, now)
    days.append(d)
    facts["secret_days_left"] = d
    facts["secret_not_after"] = sc.not_after.isoformat()
    facts["secret_serial"] = sc.serial
    findings.extend(_expiry_findings(sc, "cert_manager", th, now, managed, ev.notes))
    if item.hostname and not hostname_matches(item.hostname, sc.names):
        findings.append(Finding("wrong-hostname", "ERROR", "cert_manager",
                                f"the Secret's certificate covers {list(sc.names)}, "
                                f"not {item.hostname}"))
    return sc.fingerprint_sha256


def _judge_endpoint(item: Certificate, ep: ProbeResult, th: Thresholds, now: datetime,
                    ev: Evaluation, days: list[float], managed: bool,
                    secret_fp: str | None) -> None:
    """Findings from the certificate the endpoint serves in a TLS handshake."""
    findings, facts = ev.findings, ev.facts
    where = f"{ep.target.server_name}:{ep.target.port}"
    facts["endpoint"] = where
    facts["endpoint_address"] = ep.address
    facts["handshake_ms"] = round(ep.elapsed_ms, 1)
    if ep.error:
        category = "unreachable" if ep.error in UNREACHABLE else "tls"
        facts["endpoint_failure"] = category
        findings.append(Finding(ep.error, "ERROR", "endpoint",
                                f"{where}: {PROBE_FAILURES.get(ep.error, ep.error)}"
                                f"{' (' + ep.detail + ')' if ep.detail else ''}"))
        return
    leaf = ep.leaf
    if leaf is None:
        return
    d = days_until_expiry(leaf, now)
    days.append(d)
    facts["endpoint_days_left"] = d
    facts["issuer"] = leaf.issuer
    facts["subject"] = leaf.subject
    facts["sans"] = ", ".join(leaf.names)
    facts["not_after"] = leaf.not_after.isoformat()
    facts["serial"] = leaf.serial
    facts["tls_version"] = ep.tls_version or ""
    same_as_secret = secret_fp is not None and leaf.fingerprint_sha256 == secret_fp
    findings.extend(_expiry_findings(leaf, "endpoint", th, now,
                                     managed and same_as_secret, ev.notes))
    for h in _hostnames(item):
        if not hostname_matches(h, leaf.names):
            findings.append(Finding("wrong-hostname", "ERROR", "endpoint",
                                    f"{where} serves a certificate for "
                                    f"{list(leaf.names) or [leaf.subject]}, not {h}"))
    _judge_chain(ep, leaf, where, th, now, ev, days)
    if secret_fp is not None and not same_as_secret:
        findings.append(Finding(
            "secret-differs-from-served", "WARN", "endpoint",
            f"{where} serves serial {leaf.serial} but the TLS Secret holds serial "
            f"{facts.get('secret_serial')}: renewed but not served (reload the ingress)"))


def _judge_chain(ep: ProbeResult, leaf: CertInfo, where: str, th: Thresholds, now: datetime,
                 ev: Evaluation, days: list[float]) -> None:
    """Trust and expiry of the served chain."""
    ev.facts["trusted"] = bool(ep.trusted)
    if not ep.trusted:
        why = ep.trust_error or "no trusted issuer"
        ev.findings.append(Finding("untrusted-chain", "ERROR", "endpoint",
                                   f"{where}: chain not trusted ({why}; issuer "
                                   f"{leaf.issuer})"))
    else:
        ev.findings.extend(_chain_findings(ep, leaf, where, th, now))
    if ep.chain:
        # issuer first, trust anchor last; only a verified path counts towards days_left
        ev.facts["chain"] = "; ".join(
            f"{c.subject} (until {c.not_after:%Y-%m-%d})" for c in ep.chain)
        if ep.trusted:
            cd = min(days_until_expiry(c, now) for c in ep.chain)
            days.append(cd)
            ev.facts["chain_days_left"] = cd


def _judge_ionos(item: Certificate, io: IonosCertState, th: Thresholds, now: datetime,
                 ev: Evaluation, days: list[float]) -> None:
    """Findings from the IONOS Certificate Manager's copy of the certificate."""
    findings, facts = ev.findings, ev.facts
    if io.error:
        findings.append(Finding("ionos-unavailable", "ERROR", "ionos",
                                f"could not list IONOS certificates: {io.error}"))
        return
    if not io.found:
        findings.append(Finding("ionos-not-found", "ERROR", "ionos",
                                f"no IONOS Certificate Manager certificate named {io.name}"))
        return
    facts["ionos_id"] = io.id or ""
    facts["ionos_state"] = io.state or ""
    if io.state and io.state.upper() == "FAILED":
        findings.append(Finding("ionos-failed", "ERROR", "ionos",
                                f"state FAILED: {io.message or ''}".strip()))
    expired = Finding("expired", "ERROR", "ionos", "IONOS marks the certificate expired")
    if io.cert is None:
        findings.append(Finding("ionos-malformed-certificate", "ERROR", "ionos",
                                io.cert_error or "no certificate"))
        if io.expired or (io.not_after and io.not_after <= now):
            findings.append(expired)
        return
    d = days_until_expiry(io.cert, now)
    days.append(d)
    facts["ionos_days_left"] = d
    got = _expiry_findings(io.cert, "ionos", th, now, False, ev.notes)
    if io.expired and not any(f.reason == "expired" for f in got):
        got = [expired]
    findings.extend(got)
    if item.hostname and not hostname_matches(item.hostname, io.cert.names):
        findings.append(Finding("wrong-hostname", "ERROR", "ionos",
                                f"covers {list(io.cert.names)}, not {item.hostname}"))


class AlreadyIssuing(RuntimeError):
    """The Certificate is already being issued; a manual trigger would change nothing."""


def renewal_request(certificate: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The Certificate with ``Issuing=True, reason ManuallyTriggered``, as ``cmctl renew`` writes
    it through the status subresource. Raises AlreadyIssuing when Issuing is True already."""
    issuing = _condition(certificate, "Issuing")
    if issuing and issuing.get("status") == "True":
        meta = certificate.get("metadata") or {}
        raise AlreadyIssuing(f"Certificate {meta.get('namespace')}/{meta.get('name')} is already "
                             f"being issued ({issuing.get('reason', '')})")
    obj = copy.deepcopy(certificate)
    obj.get("metadata", {}).pop("managedFields", None)
    status = obj.setdefault("status", {}) or {}
    obj["status"] = status
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Issuing"]
    conditions.append({
        "type": "Issuing",
        "status": "True",
        "reason": "ManuallyTriggered",
        "message": "Certificate re-issuance manually triggered",
        "lastTransitionTime": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "observedGeneration": (obj.get("metadata") or {}).get("generation", 1),
    })
    status["conditions"] = conditions
    return obj
