"""Certificate evaluation: expiry, hostname, trust, cert-manager renewal and IONOS rules (pure)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from platform_assets.core.certs import (
    AlreadyIssuing,
    CertManagerState,
    ProbeResult,
    ProbeTarget,
    Thresholds,
    cert_manager_state,
    days_until_expiry,
    evaluate,
    hostname_matches,
    ionos_state,
    parse_pem,
    renewal_request,
    renewal_state,
    thresholds_for,
)
from platform_assets.core.graph import build_graph
from platform_assets.spec import load_spec
from platform_assets.spec.loader import DEFAULT_SPEC
from platform_assets.spec.models import Certificate, Certificates
from resources.tls import parse_resolve
from sandbox.tls import Authority

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TH = Thresholds(warning_days=30, critical_days=7, renewal_grace=timedelta(hours=1))


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority("test CA")


def leaf(ca: Authority, days: float, names: tuple[str, ...] = ("app.example.test",)):
    return parse_pem(ca.issue(list(names), days, now=NOW).cert_pem)


def item(**kw: object) -> Certificate:
    base: dict[str, object] = {"name": "app", "endpoint": {"host": "app.example.test"}}
    base.update(kw)
    return Certificate.model_validate(base)


def served(cert, trusted: bool = True, host: str = "app.example.test") -> ProbeResult:
    return ProbeResult(ProbeTarget(host, 443), "127.0.0.1:1", leaf=cert, trusted=trusted,
                       trust_error=None if trusted else "unable to get local issuer certificate")


def secret_of(ca: Authority, days: float, names=("app.example.test",)) -> dict:
    pem = ca.issue(list(names), days, now=NOW).cert_pem
    return {"metadata": {"name": "app-tls"}, "data": {"tls.crt": base64.b64encode(pem).decode()}}


def certificate_obj(ready: bool = True, renewal: datetime | None = None,
                    not_after: datetime | None = None, generation: int = 1,
                    observed: int = 1, issuing: bool = False) -> dict:
    conds = [{"type": "Ready", "status": "True" if ready else "False",
              "reason": "Ready" if ready else "Failed", "message": "msg",
              "observedGeneration": observed}]
    if issuing:
        conds.append({"type": "Issuing", "status": "True", "reason": "ManuallyTriggered"})
    status: dict = {"conditions": conds}
    if renewal:
        status["renewalTime"] = renewal.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not_after:
        status["notAfter"] = not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "app", "namespace": "web", "generation": generation,
                         "resourceVersion": "7", "managedFields": [{"manager": "x"}]},
            "spec": {"secretName": "app-tls"}, "status": status}


def test_days_until_expiry_counts_fractional_days(ca: Authority) -> None:
    assert days_until_expiry(leaf(ca, 12.5), NOW) == pytest.approx(12.5, abs=0.01)
    assert days_until_expiry(leaf(ca, -2), NOW) == pytest.approx(-2, abs=0.01)


@pytest.mark.parametrize(("host", "names", "ok"), [
    ("samcloud.online", ["samcloud.online", "*.samcloud.online"], True),
    ("grafana.samcloud.online", ["*.samcloud.online"], True),
    ("a.b.samcloud.online", ["*.samcloud.online"], False),
    ("samcloud.online", ["*.samcloud.online"], False),
    ("other.example", ["samcloud.online"], False),
    ("GRAFANA.Samcloud.Online.", ["*.samcloud.online"], True),
    ("127.0.0.1", ["127.0.0.1"], True),
    ("127.0.0.1", ["*.0.0.1"], False),
    # a name in the certificate may carry the root's trailing dot too
    ("www.samcloud.online", ["www.samcloud.online."], True),
    # an IP address SAN after a DNS name still counts
    ("10.0.0.1", ["www.samcloud.online", "10.0.0.1"], True),
    # a single-label host never matches a wildcard (and does not raise)
    ("localhost", ["*.samcloud.online"], False),
    # the wildcard stands for exactly one label: a literal "*" in the rest is no match
    ("a.*.samcloud.online", ["*.*.samcloud.online"], False),
])
def test_hostname_matching_follows_rfc6125(host: str, names: list[str], ok: bool) -> None:
    assert hostname_matches(host, names) is ok


@pytest.mark.parametrize(("days", "reason", "severity"), [
    (89, None, None),
    (20, "expiring-warning", "WARN"),
    (3, "expiring-critical", "ERROR"),
    (-2, "expired", "ERROR"),
])
def test_served_expiry_thresholds(ca: Authority, days: float, reason: str | None,
                                  severity: str | None) -> None:
    ev = evaluate(item(), TH, NOW, endpoint=served(leaf(ca, days)))
    assert ev.reasons == ([reason] if reason else [])
    assert ev.severity == severity
    assert ev.days_left == pytest.approx(days, abs=0.01)


def test_item_thresholds_override_the_section() -> None:
    section = Certificates(warning_days=30, critical_days=7)
    th = thresholds_for(section, item(warning_days=10, critical_days=2))
    assert (th.warning_days, th.critical_days) == (10, 2)
    assert thresholds_for(section, item()).warning_days == 30


def test_wrong_hostname_and_untrusted_are_distinct(ca: Authority) -> None:
    ev = evaluate(item(), TH, NOW, endpoint=served(leaf(ca, 89, ("elsewhere.test",))))
    assert ev.reasons == ["wrong-hostname"] and ev.severity == "ERROR"
    ev = evaluate(item(), TH, NOW, endpoint=served(leaf(ca, 89), trusted=False))
    assert ev.reasons == ["untrusted-chain"]
    assert "local issuer" in ev.findings[0].message


@pytest.mark.parametrize("error", [
    "dns-failure", "connection-refused", "connect-timeout", "handshake-timeout",
    "handshake-failed", "no-certificate", "malformed-certificate",
])
def test_probe_failures_are_named_errors(error: str) -> None:
    result = ProbeResult(ProbeTarget("app.example.test", 443), "x:443", error=error,
                         detail="why")
    ev = evaluate(item(), TH, NOW, endpoint=result)
    assert ev.reasons == [error] and ev.severity == "ERROR" and ev.days_left is None
    unreachable = error in {"dns-failure", "connection-refused", "connect-timeout"}
    assert ev.facts["endpoint_failure"] == ("unreachable" if unreachable else "tls")


def cm_item(**kw: object) -> Certificate:
    return item(cert_manager={"namespace": "web", "name": "app"}, **kw)


def test_inside_the_normal_renewal_window_is_not_a_warning(ca: Authority) -> None:
    sec = secret_of(ca, 29.9)
    cert = certificate_obj(renewal=NOW - timedelta(minutes=30))
    cm = cert_manager_state("web", "app", cert, sec)
    same = served(parse_pem(base64.b64decode(sec["data"]["tls.crt"])))
    ev = evaluate(cm_item(), TH, NOW, endpoint=same, cert_manager=cm)
    assert ev.passed, ev.findings
    assert ev.facts["renewal_state"] == "renewing" and ev.notes


def test_renewal_state_boundaries() -> None:
    """cert-manager renews at ``renewalTime``: from that instant it is renewing, up to and
    including the end of the grace period, and overdue only after it."""
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    th = Thresholds(renewal_grace=timedelta(hours=1))
    cm = CertManagerState("web", "app", found=True, renewal_time=at)
    assert renewal_state(cm, th, at - timedelta(seconds=1)) == "scheduled"
    assert renewal_state(cm, th, at) == "renewing"
    assert renewal_state(cm, th, at + timedelta(hours=1)) == "renewing"
    assert renewal_state(cm, th, at + timedelta(hours=1, seconds=1)) == "overdue"
    assert renewal_state(CertManagerState("web", "app", found=True), th, at) == "unknown"


def test_overdue_for_renewal_even_with_many_days_left(ca: Authority) -> None:
    cm = cert_manager_state("web", "app", certificate_obj(renewal=NOW - timedelta(hours=5)),
                            secret_of(ca, 50))
    ev = evaluate(cm_item(endpoint=None), TH, NOW, cert_manager=cm)
    assert ev.reasons == ["overdue-for-renewal"] and ev.severity == "WARN"
    # once overdue the warning threshold counts again
    cm = cert_manager_state("web", "app", certificate_obj(renewal=NOW - timedelta(hours=5)),
                            secret_of(ca, 20))
    ev = evaluate(cm_item(endpoint=None), TH, NOW, cert_manager=cm)
    assert set(ev.reasons) == {"overdue-for-renewal", "expiring-warning"}


def test_critical_fires_even_when_cert_manager_is_renewing(ca: Authority) -> None:
    cm = cert_manager_state("web", "app", certificate_obj(renewal=NOW - timedelta(minutes=5)),
                            secret_of(ca, 3))
    ev = evaluate(cm_item(endpoint=None), TH, NOW, cert_manager=cm)
    assert ev.reasons == ["expiring-critical"] and ev.severity == "ERROR"


def test_secret_differs_from_served(ca: Authority) -> None:
    cm = cert_manager_state("web", "app", certificate_obj(renewal=NOW + timedelta(days=30)),
                            secret_of(ca, 89))
    old = served(leaf(ca, 40))
    ev = evaluate(cm_item(), TH, NOW, endpoint=old, cert_manager=cm)
    assert ev.reasons == ["secret-differs-from-served"] and ev.severity == "WARN"
    # a served certificate that is not cert-manager's gets no renewal leniency
    ev = evaluate(cm_item(), TH, NOW, endpoint=served(leaf(ca, 20)), cert_manager=cm)
    assert set(ev.reasons) == {"expiring-warning", "secret-differs-from-served"}


@pytest.mark.parametrize(("secret", "reason"), [
    ({"metadata": {"name": "app-tls"}, "data": {}}, "malformed-secret"),
    ({"metadata": {"name": "app-tls"}, "data": {"tls.crt": "!!notbase64"}}, "malformed-secret"),
    ({"metadata": {"name": "app-tls"},
      "data": {"tls.crt": base64.b64encode(b"-----BEGIN CERTIFICATE-----\nAAAA\n"
                                           b"-----END CERTIFICATE-----\n").decode()}},
     "malformed-secret"),
    (None, "secret-missing"),
])
def test_bad_secrets_are_named(secret: dict | None, reason: str) -> None:
    cm = cert_manager_state("web", "app", certificate_obj(renewal=NOW + timedelta(days=3)),
                            secret)
    ev = evaluate(cm_item(endpoint=None), TH, NOW, cert_manager=cm)
    assert ev.reasons == [reason] and ev.severity == "ERROR"


def test_cert_manager_not_ready_stale_missing_and_unavailable(ca: Authority) -> None:
    sec = secret_of(ca, 80)
    for cert in (certificate_obj(ready=False), certificate_obj(generation=2, observed=1)):
        ev = evaluate(cm_item(endpoint=None), TH, NOW,
                      cert_manager=cert_manager_state("web", "app", cert, sec))
        assert ev.reasons == ["cert-manager-not-ready"]
    ev = evaluate(cm_item(endpoint=None), TH, NOW,
                  cert_manager=cert_manager_state("web", "app", None, None))
    assert ev.reasons == ["cert-manager-not-found"]
    ev = evaluate(cm_item(endpoint=None), TH, NOW,
                  cert_manager=CertManagerState("web", "app", error="401 Unauthorized"))
    assert ev.reasons == ["cert-manager-unavailable"]


def test_ionos_rules(ca: Authority) -> None:
    it = Certificate.model_validate({"name": "cdn", "hostname": "www.example.test",
                                     "ionos": {"name": "cdn"}})
    good = {"id": "1", "name": "cdn", "state": "AVAILABLE", "expired": False,
            "certificate": ca.issue(["www.example.test"], 60, now=NOW).cert_pem.decode()}
    assert evaluate(it, TH, NOW, ionos=ionos_state("cdn", good)).passed
    expired = {**good, "expired": True,
               "certificate": ca.issue(["www.example.test"], -1, now=NOW).cert_pem.decode()}
    assert evaluate(it, TH, NOW, ionos=ionos_state("cdn", expired)).reasons == ["expired"]
    failed = {**good, "state": "FAILED", "message": "DNS validation failed"}
    assert evaluate(it, TH, NOW, ionos=ionos_state("cdn", failed)).reasons == ["ionos-failed"]
    broken = {**good, "certificate": "garbage"}
    assert evaluate(it, TH, NOW, ionos=ionos_state("cdn", broken)).reasons == [
        "ionos-malformed-certificate"]
    assert evaluate(it, TH, NOW, ionos=ionos_state("cdn", None)).reasons == ["ionos-not-found"]
    other = {**good, "certificate": ca.issue(["x.test"], 60, now=NOW).cert_pem.decode()}
    assert evaluate(it, TH, NOW, ionos=ionos_state("cdn", other)).reasons == ["wrong-hostname"]


def test_days_left_is_the_minimum_over_vantage_points(ca: Authority) -> None:
    cm = cert_manager_state("web", "app", certificate_obj(renewal=NOW + timedelta(days=30)),
                            secret_of(ca, 80))
    ev = evaluate(cm_item(), TH, NOW, endpoint=served(leaf(ca, 45)), cert_manager=cm)
    assert ev.days_left == pytest.approx(45, abs=0.01)


def test_renewal_request_sets_issuing_like_cmctl() -> None:
    obj = certificate_obj(generation=3, observed=3)
    body = renewal_request(obj, NOW)
    issuing = [c for c in body["status"]["conditions"] if c["type"] == "Issuing"]
    assert issuing == [{"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
                        "message": "Certificate re-issuance manually triggered",
                        "lastTransitionTime": "2026-11-22T12:00:00Z", "observedGeneration": 3}]
    assert body["metadata"]["resourceVersion"] == "7" and "managedFields" not in body["metadata"]
    assert obj["metadata"]["managedFields"]  # the input is not mutated
    with pytest.raises(AlreadyIssuing):
        renewal_request(certificate_obj(issuing=True), NOW)


def test_parse_resolve() -> None:
    assert parse_resolve("a.test:443=127.0.0.1:9, B.test:443=127.0.0.1:10") == {
        "a.test:443": "127.0.0.1:9", "b.test:443": "127.0.0.1:10"}
    assert parse_resolve("") == {}
    with pytest.raises(ValueError, match="'oops' is not host:port=addr:port"):
        parse_resolve("oops")


def test_example_spec_certificates_and_schedule() -> None:
    import dagster as dg

    from jobs.certificates import RenewCertificateConfig, build, resolve_target
    from platform_assets.certificate_assets import build_certificate_assets
    from platform_assets.names import RENEW_CERTIFICATE_JOB
    from schedules.certificates import build as build_schedules

    graph = build_graph(load_spec(DEFAULT_SPEC))
    assets, _ = build_certificate_assets(graph)
    checks = list(assets[0].check_keys)
    assert len(checks) == len(graph.spec.certificates.items) == 5
    assert {c.name for c in checks} == {"valid"}
    (schedule,) = build_schedules(graph)
    assert schedule.name == "certificate_audit" and schedule.cron_schedule == "0 */6 * * *"
    assert schedule.execution_timezone == "UTC" and schedule.job_name == "audit_certificates"
    jobs = {j.name: j for j in build(graph)}
    assert set(jobs) == {"audit_certificates", RENEW_CERTIFICATE_JOB}
    wildcard = graph.spec.certificates.items[0]
    assert wildcard.cert_manager is not None
    assert resolve_target(graph, RenewCertificateConfig(certificate=wildcard.name)) == (
        wildcard.cert_manager.namespace, wildcard.cert_manager.name)
    with pytest.raises(dg.Failure, match="no certificate 'nope'"):
        resolve_target(graph, RenewCertificateConfig(certificate="nope"))
    with pytest.raises(dg.Failure, match="not managed by cert-manager"):
        resolve_target(graph, RenewCertificateConfig(certificate="grafana-samcloud-online"))


def test_probe_never_raises_even_when_sockets_fail() -> None:
    from resources.tls import TlsProbeResource

    # the unit-test guard makes every connect raise RuntimeError (not an OSError)
    got = TlsProbeResource(resolve="", use_system_store=False).probe(
        [ProbeTarget("127.0.0.1", 1), ProbeTarget("127.0.0.1", 2)])
    assert [r.error for r in got] == ["probe-error", "probe-error"]
    assert "RuntimeError" in got[0].detail
    bad = TlsProbeResource(resolve="nonsense").probe([ProbeTarget("a.test", 443)])
    assert bad[0].error == "dns-failure" and "host:port=addr:port" in bad[0].detail


def test_a_resolver_that_never_answers_ends_at_the_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import threading

    from resources.tls import TlsProbeResource

    release = threading.Event()
    asked: list[str] = []

    def hung(host: str, *args: object, **kwargs: object) -> list[object]:
        asked.append(host)
        release.wait(30)  # a resolver that does not answer (released when the test ends)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hung)
    try:
        got = TlsProbeResource(resolve="", use_system_store=False).probe(
            [ProbeTarget("slow-dns.example", 443), ProbeTarget("other.example", 8443)],
            timeout_seconds=0.2)
    finally:
        release.set()
    assert sorted(asked) == ["other.example", "slow-dns.example"]
    assert [r.error for r in got] == ["dns-failure", "dns-failure"]
    assert got[0].detail == "slow-dns.example: no answer from the resolver within 0.2s"
    assert got[1].address == "other.example:8443"


def test_a_validity_error_blames_the_leaf_when_its_dates_explain_it(ca: Authority) -> None:
    import dataclasses

    lapsed = "certificate has expired"
    inter = Authority("Lapsed Intermediate", parent=ca, days_left=-3, now=NOW)
    path = (parse_pem(inter.pem), parse_pem(ca.pem))
    good = dataclasses.replace(served(parse_pem(inter.issue(["app.example.test"], 60,
                                                            now=NOW).cert_pem)),
                               validity_error=lapsed, chain=path)
    ev = evaluate(item(), TH, NOW, endpoint=good)
    assert (ev.severity, ev.reasons) == ("ERROR", ["chain-expired"])
    assert lapsed in ev.findings[0].message and "CN=Lapsed Intermediate" in ev.findings[0].message
    assert ev.facts["endpoint_days_left"] == pytest.approx(60)
    assert ev.facts["chain_days_left"] == pytest.approx(-3) and ev.days_left == pytest.approx(-3)
    # the same error with the leaf past its own date: the leaf is to blame, not the chain
    old = dataclasses.replace(served(leaf(ca, -2)), validity_error=lapsed)
    assert evaluate(item(), TH, NOW, endpoint=old).reasons == ["expired"]
    # an untrusted chain is reported as such, whatever its dates, and its days do not count
    bad = dataclasses.replace(good, trusted=False)
    ev = evaluate(item(), TH, NOW, endpoint=bad)
    assert ev.reasons == ["untrusted-chain"] and ev.days_left == pytest.approx(60)


def test_an_intermediate_near_its_end_warns_before_the_leaf_does(ca: Authority) -> None:
    import dataclasses

    for days, reason, severity in ((20, "chain-expiring-warning", "WARN"),
                                   (3, "chain-expiring-critical", "ERROR"),
                                   (200, None, None)):
        inter = Authority("Short Intermediate", parent=ca, days_left=days, now=NOW)
        ep = dataclasses.replace(served(parse_pem(inter.issue(["app.example.test"], 80,
                                                              now=NOW).cert_pem)),
                                 chain=(parse_pem(inter.pem), parse_pem(ca.pem)))
        ev = evaluate(item(), TH, NOW, endpoint=ep)
        assert ev.reasons == ([reason] if reason else []), days
        assert ev.severity == severity
        assert ev.days_left == pytest.approx(min(days, 80))
        assert "CN=Short Intermediate" in ev.facts["chain"]


def test_a_loop_that_breaks_names_its_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    import resources.tls_probe as probe_mod
    from resources.tls import TlsProbeResource

    def broken(self: object, *args: object) -> None:
        raise KeyError("a bug in the loop")

    monkeypatch.setattr(probe_mod._Loop, "run", broken)
    got = TlsProbeResource(resolve="", use_system_store=False).probe(
        [ProbeTarget("a.test", 443), ProbeTarget("b.test", 443)])
    assert [r.error for r in got] == ["probe-error", "probe-error"]
    assert [r.target.host for r in got] == ["a.test", "b.test"]
    assert "KeyError: 'a bug in the loop'" in got[0].detail
