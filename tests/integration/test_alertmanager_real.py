"""The real Alertmanager (Debian package) against our resource, sensor and sandbox service."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from jobs import build_jobs
from platform_assets.certificate_assets import build_certificate_assets
from platform_assets.core.check_alerts import CHECK_FAILED_ALERT
from platform_assets.core.graph import build_graph
from platform_assets.core.remediation import ESCALATION_ALERT
from platform_assets.spec.loader import load_spec
from platform_assets.spec.models import Certificate
from resources.alertmanager import AlertmanagerResource
from resources.tls import TlsProbeResource
from sandbox import http
from sandbox.alertmanager import AlertmanagerService, fingerprint
from sandbox.tls import start_tls_endpoints
from sensors import alertmanager_alerts, failed_checks
from tests.conftest import missing_service

pytestmark = pytest.mark.integration

BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
EXAMPLE = Path(__file__).resolve().parents[2] / "platform" / "platform.yaml"
CONFIG = """\
route:
  receiver: default
  group_wait: 1s
receivers:
  - name: default
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def real_am(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(BINARY).is_file():
        missing_service(f"{BINARY} is missing: apt-get install prometheus-alertmanager")
    tmp = tmp_path_factory.mktemp("alertmanager")
    (tmp / "alertmanager.yml").write_text(CONFIG)
    port = free_port()
    proc = subprocess.Popen(
        [BINARY, f"--config.file={tmp / 'alertmanager.yml'}", f"--storage.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=(tmp / "log.txt").open("w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"alertmanager did not start: {(tmp / 'log.txt').read_text()[-500:]}")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def sandbox_am() -> Iterator[str]:
    server = http.serve(AlertmanagerService())
    try:
        yield server.url
    finally:
        server.stop()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def post_raw(url: str, body: Any) -> int:
    req = urllib.request.Request(url + "/api/v2/alerts", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_status_says_clustering_is_disabled(real_am: str, sandbox_am: str) -> None:
    for url in (real_am, sandbox_am):
        status = AlertmanagerResource(url=url).status()
        assert status["cluster"]["status"] == "disabled"
        assert {"cluster", "config", "uptime", "versionInfo"} <= set(status)


def test_alert_round_trip_has_the_same_shape_and_fingerprint(real_am: str,
                                                             sandbox_am: str) -> None:
    labels = {"alertname": "ShapeCheck", "namespace": "services", "severity": "warning"}
    seen = {}
    for url in (real_am, sandbox_am):
        am = AlertmanagerResource(url=url)
        am.post_alerts([{"labels": labels, "annotations": {"summary": "x"},
                         "startsAt": now().isoformat()}])
        got = [a for a in am.active_alerts(filters=['alertname="ShapeCheck"'])]
        assert len(got) == 1
        seen[url] = got[0]
    real, ours = seen[real_am], seen[sandbox_am]
    assert set(real) == set(ours)
    assert set(real["status"]) == set(ours["status"])
    assert real["fingerprint"] == ours["fingerprint"] == fingerprint(labels)
    assert real["receivers"] == ours["receivers"] == [{"name": "default"}]
    assert real["status"]["state"] == ours["status"]["state"] == "active"


@pytest.mark.parametrize("body, status", [
    ([{"annotations": {"a": "b"}}], 422),
    ({"labels": {"a": "b"}}, 400),
    ([{"labels": {"a": "b"}, "startsAt": "not a time"}], 400),
    ([{"labels": {}}], 400),
    ([{"labels": {"a b": "c"}}], 400),
    ([{"labels": {"a": "b"}, "startsAt": "2026-11-22T05:00:00Z",
       "endsAt": "2026-11-22T04:00:00Z"}], 400),
])
def test_malformed_posts_are_rejected_by_both(real_am: str, sandbox_am: str, body: Any,
                                              status: int) -> None:
    assert post_raw(real_am, body) == post_raw(sandbox_am, body) == status


def get_status(url: str, path: str) -> int:
    try:
        with urllib.request.urlopen(url + path, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.parametrize("path, status", [
    ("/api/v2/alerts?filter=bad", 400),
    ('/api/v2/alerts?filter=alertname%3D%22x%22', 200),
    ("/api/v2/silence/not-a-uuid", 422),
    ("/api/v2/silence/3fa85f64-5717-4562-b3fc-2c963f66afa6", 404),
])
def test_get_errors_match(real_am: str, sandbox_am: str, path: str, status: int) -> None:
    assert get_status(real_am, path) == get_status(sandbox_am, path) == status


def test_resolved_alerts_disappear_from_both(real_am: str, sandbox_am: str) -> None:
    t = now()
    for url in (real_am, sandbox_am):
        am = AlertmanagerResource(url=url)
        am.post_alerts([{"labels": {"alertname": "Gone"},
                         "startsAt": (t - timedelta(minutes=2)).isoformat(),
                         "endsAt": (t - timedelta(minutes=1)).isoformat()}])
        assert am.active_alerts(filters=['alertname="Gone"']) == []


def silence(url: str, alertname: str) -> str:
    body = {"matchers": [{"name": "alertname", "value": alertname, "isRegex": False}],
            "startsAt": now().isoformat(), "endsAt": (now() + timedelta(hours=1)).isoformat(),
            "createdBy": "tests", "comment": "testing"}
    req = urllib.request.Request(url + "/api/v2/silences", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return str(json.loads(resp.read())["silenceID"])


def test_silenced_alerts_are_not_remediated(real_am: str, sandbox_am: str) -> None:
    for url in (real_am, sandbox_am):
        am = AlertmanagerResource(url=url)
        sid = silence(url, "PlatformDriftDetected")
        am.post_alerts([{"labels": {"alertname": "PlatformDriftDetected", "component": "loki"},
                         "startsAt": now().isoformat()}])
        assert am.active_alerts(filters=['alertname="PlatformDriftDetected"']) == []
        req = urllib.request.Request(f"{url}/api/v2/silence/{sid}", method="DELETE")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
        assert len(am.active_alerts(filters=['alertname="PlatformDriftDetected"'])) == 1


def test_sensor_against_the_real_alertmanager(real_am: str) -> None:
    """A rule-matching alert becomes one run; a spent budget posts the escalation alert."""
    spec = load_spec(EXAMPLE)
    rules = [r.model_copy(update={"cooldown": "0s"}) for r in spec.remediation.rules]
    graph = build_graph(spec.model_copy(update={"remediation": spec.remediation.model_copy(
        update={"rules": rules})}))
    budget = graph.spec.remediation.rules[0].budget.max
    am = AlertmanagerResource(url=real_am)
    sensor = alertmanager_alerts.build(graph, build_jobs(graph))
    cursor, run_keys = None, []
    base = now() - timedelta(hours=1)
    for i in range(budget + 2):
        # A new instance of the same alert each time: it starts after the previous one ended
        # (both in the past), so Alertmanager does not merge them into one. No sleeping.
        start = base + timedelta(minutes=2 * i)
        am.post_alerts([{"labels": {"alertname": "KubeDeploymentReplicasMismatch",
                                    "namespace": "services", "deployment": "wordpress"},
                         "startsAt": start.isoformat()}])
        live = [a for a in am.active_alerts(
            filters=['alertname="KubeDeploymentReplicasMismatch"'])]
        assert len(live) == 1
        with dg.instance_for_test() as instance:
            ctx = dg.build_sensor_context(cursor=cursor, resources={"alertmanager": am},
                                          instance=instance)
            out = sensor.evaluate_tick(ctx)
        cursor = out.cursor
        restarts = [r for r in out.run_requests if r.job_name == "restart_rollout"]
        run_keys += [r.run_key for r in restarts]
        if restarts:
            assert restarts[0].run_key == f"{live[0]['fingerprint']}:{live[0]['startsAt']}"
        am.post_alerts([{"labels": live[0]["labels"], "startsAt": live[0]["startsAt"],
                         "endsAt": (start + timedelta(minutes=1)).isoformat()}])
    assert len(run_keys) == budget and len(set(run_keys)) == budget
    escalated = am.active_alerts(filters=[f'alertname="{ESCALATION_ALERT}"'])
    assert len(escalated) == 1
    assert escalated[0]["labels"]["target"] == "wordpress"


def test_a_failing_certificate_is_one_alert_that_resolves_when_it_passes(
        real_am: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """failed_checks: the certificate check fails in two runs (one alert, same fingerprint),
    then passes (the alert resolves), against the real Alertmanager and TLS servers."""
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "https://dagster.example")
    tls_servers = start_tls_endpoints(tmp_path / "tls")
    tls = TlsProbeResource(resolve="", ca_bundle=str(tls_servers.ca_bundle),
                           use_system_store=False)
    am = AlertmanagerResource(url=real_am)
    spec = load_spec(EXAMPLE)
    only_web = ['asset="certificates/web"', f'alertname="{CHECK_FAILED_ALERT}"']

    def served_by(case: str) -> tuple[dg.Definitions, Any]:
        c = tls_servers.cases[case]
        item = Certificate.model_validate({"name": "web", "endpoint": {
            "host": c.host, "port": c.port, "connect_to": c.address}})
        graph = build_graph(spec.model_copy(update={"certificates": spec.certificates.model_copy(
            update={"items": [item]})}))
        (asset,), _ = build_certificate_assets(graph)
        return dg.Definitions(assets=[asset], sensors=[failed_checks.build(graph)],
                              resources={"tls": tls, "alertmanager": am}), asset

    def audit_then_tick(case: str, instance: Any, cursor: str | None) -> tuple[bool, str | None]:
        defs, asset = served_by(case)
        result = dg.materialize([asset], instance=instance, resources={"tls": tls})
        (evaluation,) = result.get_asset_check_evaluations()
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                      resources={"alertmanager": am})
        out = defs.resolve_sensor_def("failed_checks").evaluate_tick(ctx)
        assert out.run_requests == []
        return evaluation.passed, out.cursor

    try:
        with dg.instance_for_test() as instance:
            cursor = None
            fingerprints = set()
            for _hour in range(2):
                passed, cursor = audit_then_tick("expired", instance, cursor)
                assert not passed
                live = am.active_alerts(filters=only_web)
                assert len(live) == 1, live
                fingerprints.add(live[0]["fingerprint"])
            assert len(fingerprints) == 1
            labels = live[0]["labels"]
            assert labels == {"alertname": CHECK_FAILED_ALERT, "asset": "certificates/web",
                              "check": "valid", "severity": "critical",
                              "environment": "production", "owner": labels["owner"]}
            assert labels["owner"] == ",".join(sorted(spec.metadata.owners))
            run_ids = {r.run_id for r in instance.get_runs()}
            assert live[0]["generatorURL"] in {f"https://dagster.example/runs/{r}"
                                               for r in run_ids}
            assert "expired" in live[0]["annotations"]["description"]

            passed, cursor = audit_then_tick("valid", instance, cursor)
            assert passed
            assert am.active_alerts(filters=only_web) == []
            assert am.active_alerts(filters=[f'alertname="{CHECK_FAILED_ALERT}"']) == []
    finally:
        tls_servers.stop()


def _start(tmp: Path, web_config: str) -> tuple[subprocess.Popen[bytes], int]:
    (tmp / "alertmanager.yml").write_text(CONFIG)
    (tmp / "web.yml").write_text(web_config)
    port = free_port()
    proc = subprocess.Popen(
        [BINARY, f"--config.file={tmp / 'alertmanager.yml'}", f"--storage.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
         f"--web.config.file={tmp / 'web.yml'}"],
        stdout=subprocess.DEVNULL, stderr=(tmp / "log.txt").open("w"))
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"alertmanager did not start: {(tmp / 'log.txt').read_text()[-500:]}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def secured_am(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The real Alertmanager behind its own web config: TLS with a certificate from a private
    CA, and Basic auth (bcrypt hash, as prometheus/exporter-toolkit's web config requires)."""
    import warnings

    from sandbox.tls import Authority

    if not Path(BINARY).is_file():
        missing_service(f"{BINARY} is missing: apt-get install prometheus-alertmanager")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # the standard library's bcrypt ($2b$, libxcrypt); removed in 3.13

        hashed = crypt.crypt(AM_PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH))
    tmp = tmp_path_factory.mktemp("alertmanager-secured")
    ca = Authority("alertmanager test CA")
    leaf = ca.issue(["127.0.0.1"], days_left=30)
    (tmp / "ca.pem").write_bytes(ca.pem)
    (tmp / "tls.crt").write_bytes(leaf.cert_pem)
    (tmp / "tls.key").write_bytes(leaf.key_pem)
    web = (f"tls_server_config:\n  cert_file: {tmp / 'tls.crt'}\n  key_file: {tmp / 'tls.key'}\n"
           f"basic_auth_users:\n  {AM_USER}: '{hashed}'\n")
    proc, port = _start(tmp, web)
    try:
        yield f"https://127.0.0.1:{port}", tmp / "ca.pem"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


AM_USER = "platform-ops"
AM_PASSWORD = "am-basic-secret-789"


def test_credentials_and_ca_from_the_environment_reach_the_real_alertmanager(
        secured_am: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: ALERTMANAGER_PASSWORD was provisioned but never read (401 from a secured
    Alertmanager), and there was no way to verify its certificate."""
    url, ca = secured_am
    monkeypatch.setenv("ALERTMANAGER_URL", url)
    monkeypatch.setenv("ALERTMANAGER_USERNAME", AM_USER)
    monkeypatch.setenv("ALERTMANAGER_PASSWORD", AM_PASSWORD)
    monkeypatch.setenv("ALERTMANAGER_CA_FILE", str(ca))
    am = AlertmanagerResource()  # as sensor_resources builds it: everything from the env
    am.post_alerts([{"labels": {"alertname": "SecuredNoise"}, "startsAt": now().isoformat()}])
    assert [a["labels"]["alertname"] for a in am.active_alerts(
        filters=['alertname="SecuredNoise"'])] == ["SecuredNoise"]


def test_a_secured_alertmanager_refuses_wrong_credentials_and_unverified_tls(
        secured_am: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from resources.alertmanager import AlertmanagerUnavailable

    url, ca = secured_am
    for key in ("ALERTMANAGER_USERNAME", "ALERTMANAGER_PASSWORD", "ALERTMANAGER_TOKEN",
                "ALERTMANAGER_CA_FILE"):
        monkeypatch.delenv(key, raising=False)
    wrong = AlertmanagerResource(url=url, username=AM_USER, password="wrong-pass-000",
                                 ca_file=str(ca), retry_attempts=1)
    with pytest.raises(AlertmanagerUnavailable) as err:
        wrong.active_alerts()
    assert "401" in str(err.value) and "wrong-pass-000" not in str(err.value)
    # Without the CA the server's certificate does not verify: nothing is sent.
    unverified = AlertmanagerResource(url=url, username=AM_USER, password=AM_PASSWORD,
                                      retry_attempts=1)
    with pytest.raises(AlertmanagerUnavailable) as err:
        unverified.active_alerts()
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) and AM_PASSWORD not in str(err.value)


def test_bearer_and_basic_from_the_environment_against_the_sandbox(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    basic = "Basic " + base64.b64encode(f"{AM_USER}:{AM_PASSWORD}".encode()).decode()
    for header, env in ((basic, {"ALERTMANAGER_USERNAME": AM_USER,
                                 "ALERTMANAGER_PASSWORD": AM_PASSWORD}),
                        ("Bearer tok-123", {"ALERTMANAGER_TOKEN": "tok-123"})):
        server = http.serve(AlertmanagerService(authorization=header))
        try:
            for key in ("ALERTMANAGER_USERNAME", "ALERTMANAGER_PASSWORD", "ALERTMANAGER_TOKEN"):
                monkeypatch.delenv(key, raising=False)
            from resources.alertmanager import AlertmanagerUnavailable

            with pytest.raises(AlertmanagerUnavailable, match="401"):
                AlertmanagerResource(url=server.url, retry_attempts=1).active_alerts()
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            assert AlertmanagerResource(url=server.url).active_alerts() == []
        finally:
            server.stop()
