"""Certificate checks on the sandbox: TLS endpoints, cert-manager, IONOS Certificate Manager."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.certificate_assets import build_certificate_assets
from platform_assets.core.certs import CERT_MANAGER_API_VERSION
from platform_assets.core.graph import build_graph
from platform_assets.runs.certificates import Observer, audit
from platform_assets.spec import load_spec
from platform_assets.spec.loader import DEFAULT_SPEC
from platform_assets.spec.models import Certificate, Certificates
from resources.ionos import IonosCloudResource
from resources.kubernetes import KubernetesResource
from resources.tls import TlsProbeResource
from sandbox.tls import Authority, TlsEndpoints, start_tls_endpoints

pytestmark = pytest.mark.integration

SECTION = Certificates(warning_days=30, critical_days=7, renewal_grace="1h", timeout="2s")


def endpoint_item(name: str, host: str, port: int, address: str | None = "127.0.0.1",
                  **kw: Any) -> Certificate:
    ep: dict[str, Any] = {"host": host, "port": port}
    if address and address != host:
        ep["connect_to"] = address
    return Certificate.model_validate({"name": name, "endpoint": ep, **kw})


@pytest.fixture(scope="module")
def own_tls(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """This module's own TLS endpoints (the probe needs no other sandbox service)."""
    eps = start_tls_endpoints(tmp_path_factory.mktemp("tls"))
    yield eps
    eps.stop()


EXPECTED = {
    "valid": (None, []),
    "expiring-warning": ("WARN", ["expiring-warning"]),
    "expiring-critical": ("ERROR", ["expiring-critical"]),
    "expired": ("ERROR", ["expired"]),
    "wrong-hostname": ("ERROR", ["wrong-hostname"]),
    "untrusted": ("ERROR", ["untrusted-chain"]),
    "expired-intermediate": ("ERROR", ["chain-expired"]),
    "garbage": ("ERROR", ["handshake-failed"]),
    "no-certificate": ("ERROR", ["no-certificate"]),
    "stall": ("ERROR", ["handshake-timeout"]),
    "refused": ("ERROR", ["connection-refused"]),
    "dns-failure": ("ERROR", ["dns-failure"]),
}


def test_every_sandbox_endpoint_gets_its_severity_and_reason(own_tls: TlsEndpoints) -> None:
    assert set(own_tls.cases) == set(EXPECTED)
    items = [endpoint_item(n, c.host, c.port, c.address) for n, c in own_tls.cases.items()]
    tls = TlsProbeResource(resolve="", ca_bundle=str(own_tls.ca_bundle), use_system_store=False)
    results = audit(items, SECTION, Observer(tls=tls))
    for name, (severity, reasons) in EXPECTED.items():
        ev = results[name]
        assert (ev.severity, ev.reasons) == (severity, reasons), (name, ev.findings)
    assert results["valid"].days_left == pytest.approx(89, abs=0.1)
    assert results["expiring-warning"].days_left == pytest.approx(20, abs=0.1)
    assert results["expired"].days_left == pytest.approx(-2, abs=0.1)
    assert results["untrusted"].facts["trusted"] is False
    lapsed = results["expired-intermediate"]
    assert lapsed.facts["endpoint_days_left"] == pytest.approx(60, abs=0.1)
    assert lapsed.days_left == pytest.approx(-3, abs=0.1)  # the chain's: it broke 3 days ago
    assert "CN=expired sandbox intermediate" in lapsed.findings[0].message
    # the verified path above the leaf: the sandbox CA, ten years
    assert "CN=platform-ops sandbox CA" in results["valid"].facts["chain"]
    assert results["valid"].facts["chain_days_left"] > 3000


def test_expired_and_wrong_host_are_trusted_not_untrusted(own_tls: TlsEndpoints) -> None:
    tls = TlsProbeResource(resolve="", ca_bundle=str(own_tls.ca_bundle), use_system_store=False)
    from platform_assets.core.certs import ProbeTarget

    names = ("expired", "wrong-hostname", "untrusted", "expired-intermediate", "valid")
    cases = [own_tls.cases[n] for n in names]
    got = tls.probe([ProbeTarget(c.host, c.port, connect_to=c.address) for c in cases])
    assert [r.trusted for r in got] == [True, True, False, True, True]
    assert got[2].trust_error and "issuer" in got[2].trust_error
    # only the dates fail: the leaf's for "expired", the intermediate's for the other
    assert [r.validity_error for r in got] == [
        "certificate has expired", None, None, "certificate has expired", None]


def test_without_the_bundle_the_sandbox_chain_is_untrusted(own_tls: TlsEndpoints) -> None:
    case = own_tls.cases["valid"]
    ev = audit([endpoint_item("valid", case.host, case.port)], SECTION,
               Observer(tls=TlsProbeResource(resolve="", ca_bundle="")))["valid"]
    assert ev.reasons == ["untrusted-chain"]
    bad = audit([endpoint_item("valid", case.host, case.port)], SECTION,
                Observer(tls=TlsProbeResource(resolve="", ca_bundle="/nonexistent/ca.pem")))
    assert bad["valid"].reasons == ["ca-bundle-unreadable"]


def test_example_spec_endpoints_resolve_to_the_valid_server(own_tls: TlsEndpoints) -> None:
    spec = load_spec(DEFAULT_SPEC)
    items = [i for i in spec.certificates.items if i.endpoint and not i.cert_manager]
    assert items
    tls = TlsProbeResource(resolve=own_tls.env()["PLATFORM_TLS_RESOLVE"],
                           ca_bundle=str(own_tls.ca_bundle))
    results = audit(items, spec.certificates, Observer(tls=tls))
    assert set(results) == {i.name for i in items}
    for name, ev in results.items():
        assert ev.passed, (name, ev.findings)
        assert ev.facts["endpoint_address"].startswith("127.0.0.1:")


def test_dagster_checks_one_per_certificate_with_days_left(own_tls: TlsEndpoints) -> None:
    spec = load_spec(DEFAULT_SPEC)
    picked = ["valid", "expiring-warning", "expired", "garbage", "stall"]
    items = [endpoint_item(n, c.host, c.port, c.address)
             for n, c in own_tls.cases.items() if n in picked]
    spec = spec.model_copy(update={"certificates": SECTION.model_copy(update={"items": items})})
    (asset,), _ = build_certificate_assets(build_graph(spec))
    tls = TlsProbeResource(resolve="", ca_bundle=str(own_tls.ca_bundle), use_system_store=False)
    result = dg.materialize([asset], resources={"tls": tls})
    assert result.success
    checks = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == set(picked)
    assert checks["valid"].passed
    assert not checks["expiring-warning"].passed
    assert checks["expiring-warning"].severity == dg.AssetCheckSeverity.WARN
    for name in ("expired", "garbage", "stall"):
        assert not checks[name].passed and checks[name].severity == dg.AssetCheckSeverity.ERROR
    meta = checks["expiring-warning"].metadata
    assert meta["days_left"].value == pytest.approx(20, abs=0.1)
    assert meta["reasons"].value == "expiring-warning"
    mats = {m.asset_key.path[-1]: m for m in result.get_asset_materialization_events()}
    assert set(mats) == set(picked)


@pytest.fixture(scope="module")
def k8s(sandbox: Any) -> KubernetesResource:
    # A fresh cluster serves no cert-manager.io API until cert-manager's CRDs are installed
    # (as its chart does), and neither does the sandbox (sandbox/kubernetes/catalogue.py).
    sandbox.admin.install_chart("cert-manager", "v1.16.2", {"crds": {"enabled": True}})
    return KubernetesResource(kubeconfig_path=sandbox.env["KUBECONFIG"], retry_attempts=2)


@pytest.fixture(scope="module")
def namespace(k8s: KubernetesResource) -> str:
    ns = f"certs-{uuid.uuid4().hex[:6]}"
    k8s.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    return ns


def make_certificate(k8s: KubernetesResource, ns: str, name: str, duration: str,
                     hosts: list[str], renew_before: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"secretName": f"{name}-tls", "dnsNames": hosts,
                            "commonName": hosts[0], "duration": duration,
                            "privateKey": {"algorithm": "ECDSA"},
                            "issuerRef": {"name": "sandbox", "kind": "ClusterIssuer"}}
    if renew_before:
        spec["renewBefore"] = renew_before
    k8s.apply({"apiVersion": CERT_MANAGER_API_VERSION, "kind": "Certificate",
               "metadata": {"name": name, "namespace": ns}, "spec": spec})
    return wait_ready(k8s, ns, name)


def wait_ready(k8s: KubernetesResource, ns: str, name: str, revision: int = 0,
               timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        obj = k8s.get(CERT_MANAGER_API_VERSION, "Certificate", name, ns) or {}
        status = obj.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or [])
        if ready and int(status.get("revision") or 0) > revision:
            return obj
        if time.monotonic() > deadline:
            pytest.fail(f"Certificate {ns}/{name} not Ready (revision > {revision}) after "
                        f"{timeout}s: {status}")
        time.sleep(0.2)


def secret_pem(k8s: KubernetesResource, ns: str, name: str) -> tuple[bytes, bytes, bytes]:
    sec = k8s.get("v1", "Secret", name, ns)
    assert sec is not None
    data = sec["data"]
    return (base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"]),
            base64.b64decode(data["ca.crt"]))


def cm_item(name: str, ns: str, **kw: Any) -> Certificate:
    return Certificate.model_validate({"name": name, "hostname": f"{name}.sandbox.test",
                                       "cert_manager": {"namespace": ns, "name": name}, **kw})


def test_cert_manager_certificates(sandbox: Any, k8s: KubernetesResource, namespace: str,
                                   tmp_path: Path) -> None:
    ns = namespace
    make_certificate(k8s, ns, "fresh", "2160h", ["fresh.sandbox.test"])
    # 20 days left but renewal scheduled at 10 days: cert-manager's normal schedule, no wolf
    make_certificate(k8s, ns, "short", "480h", ["short.sandbox.test"], renew_before="240h")
    make_certificate(k8s, ns, "tiny", "72h", ["tiny.sandbox.test"], renew_before="24h")
    broken = make_certificate(k8s, ns, "broken", "2160h", ["broken.sandbox.test"])
    k8s.patch_merge("v1", "Secret", broken["spec"]["secretName"], ns,
                    {"data": {"tls.crt": base64.b64encode(b"not a certificate").decode()}})
    items = [cm_item("fresh", ns), cm_item("short", ns), cm_item("tiny", ns),
             cm_item("broken", ns), cm_item("missing", ns),
             cm_item("wronghost", ns, hostname="other.sandbox.test")]
    make_certificate(k8s, ns, "wronghost", "2160h", ["wronghost.sandbox.test"])
    got = audit(items, SECTION, Observer(kubernetes=k8s))
    assert got["fresh"].passed and got["fresh"].days_left == pytest.approx(90, abs=0.1)
    assert got["short"].passed and got["short"].facts["renewal_state"] == "scheduled"
    assert got["short"].days_left == pytest.approx(20, abs=0.1) and got["short"].notes
    assert (got["tiny"].severity, got["tiny"].reasons) == ("ERROR", ["expiring-critical"])
    assert (got["broken"].severity, got["broken"].reasons) == ("ERROR", ["malformed-secret"])
    assert got["missing"].reasons == ["cert-manager-not-found"]
    assert got["wronghost"].reasons == ["wrong-hostname"]

    # cert-manager stopped renewing: later than renewalTime + grace, many days still left
    fresh = k8s.get(CERT_MANAGER_API_VERSION, "Certificate", "fresh", ns) or {}
    renewal = datetime.fromisoformat(fresh["status"]["renewalTime"].replace("Z", "+00:00"))
    later = audit([items[0]], SECTION, Observer(kubernetes=k8s),
                  now=renewal + timedelta(hours=2))["fresh"]
    # (past the renewal window the 30-day warning counts again: 29.9 days are left)
    assert set(later.reasons) == {"overdue-for-renewal", "expiring-warning"}
    assert later.severity == "WARN" and later.days_left is not None and later.days_left > 29
    # inside the normal renewal window the same 29.9 days are no warning
    inside = audit([items[0]], SECTION, Observer(kubernetes=k8s),
                   now=renewal + timedelta(minutes=30))["fresh"]
    assert inside.passed, inside.findings


def test_served_versus_secret_and_renew_job(sandbox: Any, k8s: KubernetesResource,
                                            namespace: str, tmp_path: Path) -> None:
    ns = namespace
    host = "served.sandbox.test"
    make_certificate(k8s, ns, "served", "2160h", [host])
    crt, key, ca = secret_pem(k8s, ns, "served-tls")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca)
    eps = start_tls_endpoints(tmp_path / "tls")
    try:
        case = eps.serve_pem("served", host, crt, key)
        item = Certificate.model_validate({
            "name": "served", "cert_manager": {"namespace": ns, "name": "served"},
            "endpoint": {"host": host, "port": case.port, "connect_to": "127.0.0.1"}})
        tls = TlsProbeResource(resolve="", ca_bundle=str(bundle), use_system_store=False)
        observer = Observer(tls=tls, kubernetes=k8s)
        first = audit([item], SECTION, observer)["served"]
        assert first.passed, first.findings
        assert first.facts["trusted"] is True

        # renew through the job, as the alert sensor or a person in the UI launches it
        from jobs.certificates import build, run_config_for
        from platform_assets.names import RENEW_CERTIFICATE_JOB

        graph = build_graph(load_spec(DEFAULT_SPEC))
        job = next(j for j in build(graph) if j.name == RENEW_CERTIFICATE_JOB)
        before = (k8s.get(CERT_MANAGER_API_VERSION, "Certificate", "served", ns) or {})
        revision = int(before["status"]["revision"])
        result = job.execute_in_process(run_config=run_config_for(ns, "served"),
                                        resources={"kubernetes": k8s})
        assert result.success
        assert result.output_for_node("trigger_certificate_renewal").startswith(
            "Manually triggered issuance")
        wait_ready(k8s, ns, "served", revision=revision)
        new_crt, _, _ = secret_pem(k8s, ns, "served-tls")
        assert new_crt != crt

        # the Secret is renewed, the endpoint still serves the old one
        after = audit([item], SECTION, observer)["served"]
        assert after.reasons == ["secret-differs-from-served"] and after.severity == "WARN"
    finally:
        eps.stop()


def test_renew_job_refuses_unknown_certificates(sandbox: Any, k8s: KubernetesResource,
                                                namespace: str) -> None:
    from jobs.certificates import build, run_config_for
    from platform_assets.names import RENEW_CERTIFICATE_JOB

    jobs = build(build_graph(load_spec(DEFAULT_SPEC)))
    job = next(j for j in jobs if j.name == RENEW_CERTIFICATE_JOB)
    result = job.execute_in_process(run_config=run_config_for(namespace, "nope"),
                                    resources={"kubernetes": k8s}, raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("trigger_certificate_renewal")
    assert failure is not None and f"Certificate {namespace}/nope does not exist" in str(
        failure.error)


def test_ionos_certificate_manager(sandbox: Any) -> None:
    import ionoscloud_cert_manager as cm

    env = sandbox.env
    ionos = IonosCloudResource(certmanager_url=env["IONOS_CERTMANAGER_URL"],
                               token=env["IONOS_TOKEN"], retry_attempts=2)
    ca = Authority("ionos test CA")
    api = cm.CertificateApi(ionos.certmanager_client())
    tag = uuid.uuid4().hex[:6]
    for name, days, host in ((f"good-{tag}", 80, "www.example.test"),
                             (f"old-{tag}", -3, "www.example.test"),
                             (f"soon-{tag}", 5, "www.example.test")):
        issued = ca.issue([host], days)
        api.certificates_post(cm.CertificateCreate(properties=cm.Certificate(
            name=name, certificate=issued.cert_pem.decode(),
            certificate_chain=ca.pem.decode(), private_key=issued.key_pem.decode())))
    items = [Certificate.model_validate({"name": n, "hostname": "www.example.test",
                                         "ionos": {"name": f"{n}-{tag}"}})
             for n in ("good", "old", "soon", "absent")]
    got = audit(items, SECTION, Observer(ionos=ionos))
    assert got["good"].passed and got["good"].days_left == pytest.approx(80, abs=0.1)
    assert (got["old"].severity, got["old"].reasons) == ("ERROR", ["expired"])
    assert got["soon"].reasons == ["expiring-critical"]
    assert got["absent"].reasons == ["ionos-not-found"]

    # the API failing is one named failure per IONOS certificate, never a crash
    down = IonosCloudResource(certmanager_url="http://127.0.0.1:1", token="x", retry_attempts=1)
    failed = audit(items[:1], SECTION, Observer(ionos=down))
    assert failed["good"].reasons == ["ionos-unavailable"]


def test_one_broken_vantage_point_hides_nothing(sandbox: Any, own_tls: TlsEndpoints,
                                                namespace: str) -> None:
    bad_k8s = KubernetesResource(kubeconfig_path="/nonexistent/kubeconfig", retry_attempts=1)
    valid = own_tls.cases["valid"]
    items = [cm_item("x", namespace),
             endpoint_item("ok", valid.host, valid.port)]
    tls = TlsProbeResource(resolve="", ca_bundle=str(own_tls.ca_bundle))
    got = audit(items, SECTION, Observer(tls=tls, kubernetes=bad_k8s))
    assert got["x"].reasons == ["cert-manager-unavailable"]
    assert got["ok"].passed


def test_renew_job_from_the_alert_sensors_tag(sandbox: Any, k8s: KubernetesResource,
                                              namespace: str) -> None:
    from jobs.certificates import build
    from platform_assets.names import RENEW_CERTIFICATE_JOB, TAG_CERTIFICATE

    make_certificate(k8s, namespace, "tagged", "2160h", ["tagged.sandbox.test"])
    revision = int((k8s.get(CERT_MANAGER_API_VERSION, "Certificate", "tagged", namespace)
                    or {})["status"]["revision"])
    spec = load_spec(DEFAULT_SPEC)
    item = cm_item("tagged-cert", namespace).model_copy(
        update={"cert_manager": cm_item("tagged", namespace).cert_manager})
    spec = spec.model_copy(update={"certificates": SECTION.model_copy(update={"items": [item]})})
    job = next(j for j in build(build_graph(spec)) if j.name == RENEW_CERTIFICATE_JOB)
    result = job.execute_in_process(resources={"kubernetes": k8s},
                                    tags={TAG_CERTIFICATE: "tagged-cert"})
    assert result.success
    wait_ready(k8s, namespace, "tagged", revision=revision)


def test_concurrency_bound_seen_from_the_servers(tmp_path: Path) -> None:
    from platform_assets.core.certs import ProbeTarget
    from sandbox.tls import make_many

    # Each server answers its ClientHello 1 s late, so every handshake the probe starts is
    # still waiting on the server side when the next ones arrive (even on a loaded machine):
    # the gauge's peak is the number the probe had in flight at once.
    eps = make_many(8, tmp_path / "tls", latency=1.0)
    try:
        tls = TlsProbeResource(resolve="", ca_bundle=str(eps.ca_bundle), use_system_store=False)
        targets = [ProbeTarget(c.host, c.port, connect_to=c.address) for c in eps.cases.values()]
        for bound, n, expect in ((4, 8, 4), (1, 2, 1), (32, 8, 8)):
            eps.settings.gauge.reset()
            got = tls.probe(targets[:n], concurrency=bound)
            assert [r.error for r in got] == [None] * n, (bound, got)
            assert all(r.trusted for r in got)
            assert eps.settings.gauge.peak == expect, bound
        assert [r.leaf.dns_names for r in got if r.leaf] == [(t.host,) for t in targets]
    finally:
        eps.stop()


def test_next_address_after_a_refused_one(own_tls: TlsEndpoints,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from platform_assets.core.certs import ProbeTarget

    valid = own_tls.cases["valid"]
    refused = own_tls.cases["refused"]

    def two(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[Any, ...]]:
        assert host == "dual.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", refused.port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", valid.port))]

    monkeypatch.setattr(socket, "getaddrinfo", two)
    tls = TlsProbeResource(resolve="", ca_bundle=str(own_tls.ca_bundle), use_system_store=False)
    (ok,) = tls.probe([ProbeTarget("dual.example", 443, sni=valid.host)])
    assert ok.error is None and ok.trusted and ok.leaf is not None
    assert valid.host in ok.leaf.dns_names

    def only_refused(host: str, port: int, *a: object, **k: object) -> list[tuple[Any, ...]]:
        return two(host, port)[:1]

    monkeypatch.setattr(socket, "getaddrinfo", only_refused)
    (bad,) = tls.probe([ProbeTarget("dual.example", 443, sni=valid.host)])
    assert bad.error == "connection-refused"
