"""`python -m sandbox up` (env file, readiness, signals, --state-dir) and the admin API."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_KEYS = {
    "IONOS_API_URL", "IONOS_TOKEN", "IONOS_USERNAME", "IONOS_PASSWORD", "IONOS_MARIADB_URL",
    "IONOS_CERTMANAGER_URL", "KUBECONFIG", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "ALERTMANAGER_URL", "PLATFORM_GIT_URL", "PLATFORM_SPEC",
    "SANDBOX_CA_BUNDLE", "SANDBOX_ADMIN_URL", "MARIADB_PASSWORD", "PLATFORM_TLS_RESOLVE",
    "IONOS_DNS_URL", "IONOS_POSTGRES_URL", "POSTGRES_PASSWORD", "IONOS_AUTH_URL",
}
SERVICES = {"ionos", "mariadb", "postgres", "inmemorydb", "registry", "certmanager", "dns",
            "auth", "kubernetes", "s3", "alertmanager", "vault"}


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        parsed = shlex.split(value) if value else [""]
        env[key] = parsed[0] if parsed else ""
    return env


def call(method: str, url: str, body: Any = None, raw: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def answers(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


class UpProcess:
    def __init__(self, tmp_path: Path, *args: str):
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.env_file = tmp_path / "sandbox.env"
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "up", "--env-file", str(self.env_file), *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def wait_ready(self, timeout: float = 120.0) -> tuple[dict[str, str], float]:
        while time.monotonic() - self.started < timeout:
            if self.env_file.exists():
                return read_env_file(self.env_file), time.monotonic() - self.started
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"sandbox exited with {self.proc.returncode}: {err}{out}")
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"sandbox wrote no env file in {timeout}s")

    def terminate(self) -> tuple[int, float, str]:
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("sandbox did not exit within 10 s of SIGTERM")
        return self.proc.returncode, time.monotonic() - sent, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def s3(env: dict[str, str], region: str = "de") -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name=region,
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def test_up_writes_env_file_serves_and_stops_on_sigterm(tmp_path):
    up = UpProcess(tmp_path)
    try:
        env, ready = up.wait_ready()
        print(f"python -m sandbox up: ready in {ready:.2f}s")
        assert REQUIRED_KEYS <= set(env), sorted(REQUIRED_KEYS - set(env))
        # It holds every token and password: its owner's only (issue 15, finding 11).
        assert stat.S_IMODE(up.env_file.stat().st_mode) == 0o600
        assert env["IONOS_API_URL"].endswith("/cloudapi/v6")
        assert env["IONOS_MARIADB_URL"].endswith("/mariadb/v2")
        assert env["IONOS_CERTMANAGER_URL"].endswith("/certmanager")
        for key, value in env.items():
            if value.startswith("http://"):
                assert answers(value) < 500, f"{key}={value} does not answer"
        assert answers(env["SANDBOX_ADMIN_URL"] + "/healthz") == 200
        k8s_url, kube = _kube(Path(env['KUBECONFIG']))
        assert answers(k8s_url + "/version", kube) == 200
        assert Path(env["PLATFORM_SPEC"]).is_file()
        assert Path(env["SANDBOX_CA_BUNDLE"]).is_file()
        assert "BEGIN CERTIFICATE" in Path(env["SANDBOX_CA_BUNDLE"]).read_text()
        assert subprocess.run(["git", "ls-remote", "--exit-code", env["PLATFORM_GIT_URL"],
                               "main"], capture_output=True, timeout=30).returncode == 0
        if env.get("SANDBOX_MARIADB_HOST"):
            with socket.create_connection((env["SANDBOX_MARIADB_HOST"],
                                           int(env["SANDBOX_MARIADB_PORT"])), timeout=2):
                pass
        state_dir = Path(env["SANDBOX_STATE_DIR"])
        assert state_dir.is_dir()
    finally:
        code, took, err = up.terminate()
    print(f"python -m sandbox up: stopped in {took:.2f}s")
    assert code == 0, err
    assert took < 5.0
    assert not up.env_file.exists()
    assert not state_dir.exists(), "the temporary state dir is removed at exit"


def _kube(path: Path) -> tuple[str, dict[str, str]]:
    """The Kubernetes API's URL and the bearer-token header the kubeconfig at ``path`` gives."""
    import yaml

    config = yaml.safe_load(path.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    port = int(server.rsplit(":", 1)[1].split("/")[0])
    token = config["users"][0]["user"]["token"]
    return f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}


def test_state_dir_keeps_s3_and_git_across_a_restart(tmp_path):
    state = tmp_path / "state"
    up = UpProcess(tmp_path, "--state-dir", str(state))
    try:
        env, _ = up.wait_ready()
        client = s3(env, "eu-central-3")
        client.create_bucket(Bucket="kept-bucket",
                             CreateBucketConfiguration={"LocationConstraint": "eu-central-3"})
        client.put_bucket_versioning(Bucket="kept-bucket",
                                     VersioningConfiguration={"Status": "Enabled"})
        client.put_object(Bucket="kept-bucket", Key="backups/a.txt", Body=b"v1",
                          Metadata={"snapshot": "s1"})
        client.put_object(Bucket="kept-bucket", Key="backups/a.txt", Body=b"v2")
        head = subprocess.run(["git", "ls-remote", env["PLATFORM_GIT_URL"], "main"],
                              capture_output=True, text=True, timeout=30).stdout.split()[0]
    finally:
        code, _, err = up.terminate()
    assert code == 0, err
    assert state.is_dir()

    again = UpProcess(tmp_path, "--state-dir", str(state))
    try:
        env2, _ = again.wait_ready()
        client = s3(env2, "eu-central-3")
        assert client.get_bucket_location(Bucket="kept-bucket")["LocationConstraint"] == (
            "eu-central-3")
        assert client.get_bucket_versioning(Bucket="kept-bucket")["Status"] == "Enabled"
        got = client.get_object(Bucket="kept-bucket", Key="backups/a.txt")
        assert got["Body"].read() == b"v2"
        versions = client.list_object_versions(Bucket="kept-bucket")["Versions"]
        assert len(versions) == 2
        head2 = subprocess.run(["git", "ls-remote", env2["PLATFORM_GIT_URL"], "main"],
                               capture_output=True, text=True, timeout=30).stdout.split()[0]
        assert head2 == head
    finally:
        code, _, err = again.terminate()
    assert code == 0, err


@pytest.mark.parametrize("args, message", [
    ([], "the following arguments are required: COMMAND"),
    (["up"], "--env-file"),
    (["up", "--env-file", "x.env", "--delay", "-1"], "must be zero or more seconds"),
    (["up", "--env-file", "x.env", "--delay", "soon"], "not a number of seconds"),
    (["down"], "invalid choice"),
])
def test_bad_command_line_is_a_usage_error(args, message):
    done = subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_state_dir_that_is_a_file_is_refused(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    done = subprocess.run([sys.executable, "-m", "sandbox", "up", "--env-file",
                           str(tmp_path / "x.env"), "--state-dir", str(not_a_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "is not a directory" in done.stderr


@pytest.mark.parametrize("env_file, message", [
    ("{file}/x.env", "Not a directory"),
    ("{dir}", "Is a directory"),
])
def test_env_file_that_cannot_be_written_is_refused(tmp_path, env_file, message):
    (tmp_path / "file").write_text("")
    path = env_file.format(file=tmp_path / "file", dir=tmp_path)
    done = subprocess.run([sys.executable, "-m", "sandbox", "up", "--env-file", path],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"--env-file {path}: {message}" in done.stderr
    assert "Traceback" not in done.stderr


def test_requests_are_counted_per_service_and_method(sandbox):
    sandbox.reset_counts()
    before = sandbox.requests()
    assert SERVICES <= set(before)
    assert all(count == 0 for service in SERVICES for count in before[service].values())
    k8s_url, kube = _kube(Path(sandbox.env['KUBECONFIG']))
    for _ in range(3):
        assert answers(k8s_url + "/version", kube) == 200
    answers(sandbox.env["IONOS_API_URL"] + "/datacenters")
    answers(sandbox.env["IONOS_MARIADB_URL"] + "/clusters")
    answers(sandbox.env["IONOS_MARIADB_URL"] + "/clusters")
    answers(sandbox.env["IONOS_CERTMANAGER_URL"] + "/certificates")
    after = sandbox.requests()
    assert after["kubernetes"]["GET"] == 3
    assert after["ionos"]["GET"] == 1
    assert after["mariadb"]["GET"] == 2
    assert after["certmanager"]["GET"] == 1
    assert after["s3"]["GET"] == 0
    status, _ = call("POST", sandbox.admin_url + "/requests/reset")
    assert status == 200
    assert sandbox.requests()["kubernetes"]["GET"] == 0


@pytest.mark.parametrize("body, message", [
    ({"service": "nope", "error_rate": 0.5}, "'service' must be one of"),
    ({"error_rate": 0.5}, "'service' must be one of"),
    ({"service": "s3", "error_rate": 2}, "between 0 and 1"),
    ({"service": "s3", "error_rate": "often"}, "error_rate must be a number"),
    ({"service": "s3", "statuses": [404]}, "statuses must be among"),
    ({"service": "s3", "statuses": []}, "non-empty list"),
    ({"service": "s3", "retry_after": 1.5}, "retry_after must be a non-negative integer"),
    ({"service": "s3", "latency_ms": -5}, "latency_ms must not be negative"),
    ({"service": "s3", "latency_ms": float("inf")}, "latency_ms must be a number"),
    ({"service": "s3", "latency_ms": float("nan")}, "latency_ms must be a number"),
    ({"service": "s3", "times": 0}, "times must be a positive integer"),
    ({"service": "s3", "error_rte": 0.1}, "unknown fault fields ['error_rte']"),
    ([1, 2], "body must be a JSON object"),
])
def test_bad_fault_is_a_400_saying_why(sandbox, body, message):
    status, answer = call("POST", sandbox.admin_url + "/faults", body)
    assert status == 400
    assert message in answer["error"]
    assert call("GET", sandbox.admin_url + "/faults") == (200, {})


def test_fault_that_is_not_json_is_a_400(sandbox):
    status, answer = call("POST", sandbox.admin_url + "/faults", raw=b"{error_rate: 1")
    assert status == 400
    assert "not JSON" in answer["error"]


def test_faults_inject_errors_latency_and_drops(sandbox):
    k8s_url, kube = _kube(Path(sandbox.env['KUBECONFIG']))
    try:
        sandbox.set_fault("kubernetes", error_rate=1.0, statuses=[429], retry_after=2, times=1)
        faults = call("GET", sandbox.admin_url + "/faults")[1]
        assert faults["kubernetes"]["statuses"] == [429]
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(k8s_url + "/version", timeout=5)
        assert err.value.code == 429
        assert err.value.headers["Retry-After"] == "2"
        assert answers(k8s_url + "/version", kube) == 200, "times=1: the fault cleared itself"

        sandbox.set_fault("kubernetes", latency_ms=300)
        started = time.monotonic()
        assert answers(k8s_url + "/version", kube) == 200
        assert time.monotonic() - started >= 0.3

        sandbox.set_fault("kubernetes", drop_rate=1.0)
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(k8s_url + "/version", timeout=5)
    finally:
        status, _ = call("DELETE", sandbox.admin_url + "/faults")
    assert status == 200
    assert call("GET", sandbox.admin_url + "/faults") == (200, {})
    assert answers(k8s_url + "/version", kube) == 200


def test_reset_clears_state_and_counts(sandbox):
    client = s3(sandbox.env)
    client.create_bucket(Bucket="reset-me", CreateBucketConfiguration={"LocationConstraint": "de"})
    k8s_url, kube = _kube(Path(sandbox.env['KUBECONFIG']))
    created, _ = call("POST", k8s_url + "/api/v1/namespaces",
                      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "reset-me"}},
                      headers=kube)
    assert created == 201
    status, answer = call("POST", sandbox.admin_url + "/reset")
    assert status == 200
    assert answer["reset"] == {name: "reset" for name in [*SERVICES, "git"]}
    assert "reset-me" not in [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert call("GET", k8s_url + "/api/v1/namespaces/reset-me", headers=kube)[0] == 404
    assert call("GET", k8s_url + "/api/v1/namespaces/default", headers=kube)[0] == 200
    counts = sandbox.requests()
    assert counts["s3"]["GET"] == 1  # the list_buckets above, after the reset
    assert counts["s3"]["PUT"] == 0
    assert counts["kubernetes"]["GET"] == 2
    assert Path(sandbox.env["PLATFORM_SPEC"]).is_file()


def test_admin_api_unknown_paths_and_methods(sandbox):
    assert call("GET", sandbox.admin_url + "/nope")[0] == 404
    assert call("PUT", sandbox.admin_url + "/requests")[0] == 405
    assert call("GET", sandbox.admin_url + "/healthz") == (
        200, {"status": "ok", "services": sorted(SERVICES, key=[
            "ionos", "mariadb", "postgres", "inmemorydb", "registry", "certmanager", "dns",
            "auth", "kubernetes", "s3", "alertmanager", "vault"].index)})


def test_env_file_is_sourceable_by_a_shell(tmp_path):
    from sandbox.app import Sandbox

    box = Sandbox(state_dir=tmp_path)
    box.env = {"PLAIN": "http://127.0.0.1:1/x", "EMPTY": "", "SPACED": "a b'c"}
    target = tmp_path / "out.env"
    box.write_env_file(target)
    shown = subprocess.run(["sh", "-c", f'. "{target}"; printf "%s|%s|%s" "$PLAIN" "$EMPTY" '
                                        '"$SPACED"'], capture_output=True, text=True, timeout=10)
    assert shown.stdout == "http://127.0.0.1:1/x||a b'c"
    assert read_env_file(target) == box.env
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_certificate_manager_holds_the_tls_endpoints_certificates(sandbox):
    import ionoscloud_cert_manager as cm

    config = cm.Configuration(host=sandbox.env["IONOS_CERTMANAGER_URL"],
                              token=sandbox.env["IONOS_TOKEN"])
    items = cm.CertificateApi(cm.ApiClient(config)).certificates_get().items
    by_name = {item.properties.name: item for item in items}
    assert {"sandbox-valid", "sandbox-expired", "sandbox-expiring-critical"} <= set(by_name)
    assert by_name["sandbox-expired"].metadata.expired is True
    assert by_name["sandbox-valid"].metadata.expired is False


def test_unreadable_s3_snapshot_is_a_clear_error(tmp_path):
    state = tmp_path / "state"
    (state / "s3").mkdir(parents=True)
    (state / "s3" / "snapshot.json").write_text("{not json")
    done = subprocess.run([sys.executable, "-m", "sandbox", "up", "--env-file",
                           str(tmp_path / "x.env"), "--state-dir", str(state)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "snapshot.json: not a valid S3 snapshot" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.env").exists()


@pytest.mark.parametrize("content", ["{not json", "[]", '{"objects": 5}'])
def test_unreadable_kubernetes_state_is_a_clear_error(tmp_path, content):
    state = tmp_path / "state"
    (state / "kubernetes").mkdir(parents=True)
    (state / "kubernetes" / "kubernetes.json").write_text(content)
    done = subprocess.run([sys.executable, "-m", "sandbox", "up", "--env-file",
                           str(tmp_path / "x.env"), "--state-dir", str(state)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "kubernetes.json is unreadable" in done.stderr
    assert "Traceback" not in done.stderr


def test_one_service_fault_is_cleared_alone(sandbox):
    sandbox.set_fault("s3", latency_ms=1)
    sandbox.set_fault("alertmanager", latency_ms=1)
    try:
        status, faults = call("DELETE", sandbox.admin_url + "/faults/s3")
        assert status == 200
        assert set(faults) == {"alertmanager"}
        assert call("DELETE", sandbox.admin_url + "/faults/nope")[0] == 404
    finally:
        sandbox.clear_faults()
