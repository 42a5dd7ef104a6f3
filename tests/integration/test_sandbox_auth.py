"""The sandbox's credentials: 401s as the real servers send them, --run-jobs only with auth, and
files of credentials readable by their owner only (issue 15, finding 11)."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.app import write_private
from sandbox.http import RunningServer, serve
from sandbox.ionos import IonosCloudService
from sandbox.kubernetes import KubernetesService
from sandbox.world import World
from tests.conftest import missing_service

pytestmark = pytest.mark.integration

# kube-apiserver's answer when no authenticator accepts the request (anonymous auth off):
# k8s.io/apiserver pkg/endpoints/handlers/responsewriters.UnauthorizedNegotiated writes
# metav1.Status{Status: Failure, Code: 401, Reason: Unauthorized, Message: "Unauthorized"}.
K8S_UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def http(url: str, method: str = "GET", body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[tuple[KubernetesService, RunningServer]]:
    svc = KubernetesService(World(), run_jobs=True)
    server = serve(svc)
    svc.add_nodes()  # pods run only on nodes, as in a real cluster
    svc.start_controllers()
    try:
        yield svc, server
    finally:
        svc.stop()
        server.stop()


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": "Basic c2FuZGJveDpzYW5kYm94"},
    {"Authorization": "Bearer"},
], ids=["missing", "wrong", "basic", "empty"])
def test_kubernetes_answers_401_without_the_token(runner, headers) -> None:
    svc, server = runner
    for path in ("/version", "/api/v1/namespaces", "/apis/apps/v1/deployments"):
        assert http(server.url + path, headers=headers) == (401, K8S_UNAUTHORIZED), path
    good = {"Authorization": f"Bearer {svc.world.kubernetes_token}"}
    assert http(server.url + "/api/v1/namespaces/default", headers=good)[0] == 200


def test_kubernetes_client_with_a_wrong_token_gets_401(runner, tmp_path) -> None:
    """The real client surfaces the 401 as ApiException(status=401, reason=Unauthorized)."""
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    svc, server = runner
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(svc.kubeconfig(server.url).replace(svc.world.kubernetes_token,
                                                             "not-the-token"))
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    with pytest.raises(ApiException) as err:
        api.list_namespace()
    assert err.value.status == 401
    assert json.loads(err.value.body) == K8S_UNAUTHORIZED


def test_kubectl_sends_the_token_over_tls_and_a_wrong_one_is_refused(runner, tmp_path) -> None:
    """client-go sends a kubeconfig's credentials only over TLS, so the kubeconfig is HTTPS with
    the sandbox's CA; a wrong token is "You must be logged in to the server (Unauthorized)"."""
    kubectl = Path("/usr/bin/kubectl")
    if not kubectl.exists():
        missing_service(f"{kubectl} is not installed on this machine")
    import subprocess

    svc, server = runner
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text(svc.kubeconfig(server.url))
    bad.write_text(good.read_text().replace(svc.world.kubernetes_token, "not-the-token"))
    assert "server: https://127.0.0.1:" in good.read_text()

    def run(config: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(kubectl), "--kubeconfig", str(config), "--cache-dir",
                               str(tmp_path / "cache"), "get", "namespace", "default",
                               "-o", "name"], capture_output=True, text=True, timeout=60)

    ok = run(good)
    assert ok.returncode == 0 and ok.stdout.strip() == "namespace/default", ok.stderr
    refused = run(bad)
    assert refused.returncode != 0 and "Unauthorized" in refused.stderr


def test_an_unauthenticated_pod_post_runs_nothing_on_the_host(runner, tmp_path) -> None:
    svc, server = runner
    marker = tmp_path / "ran"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "attack"},
           "spec": {"restartPolicy": "Never", "containers": [{
               "name": "main", "image": "python", "command": [sys.executable, "-c"],
               "args": [f"open({str(marker)!r}, 'w').write('ran')"]}]}}
    code, body = http(server.url + "/api/v1/namespaces/default/pods", "POST", pod,
                      {"Authorization": "Bearer guessed"})
    assert (code, body) == (401, K8S_UNAUTHORIZED)
    good = {"Authorization": f"Bearer {svc.world.kubernetes_token}"}
    assert http(server.url + "/api/v1/namespaces/default/pods/attack", headers=good)[0] == 404
    # The same Pod with the token does run: the marker proves the runner is live.
    assert http(server.url + "/api/v1/namespaces/default/pods", "POST", pod, good)[0] == 201
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "ran"


def test_run_jobs_refuses_to_start_without_a_token() -> None:
    with pytest.raises(ValueError, match="run_jobs needs authentication"):
        KubernetesService(World(kubernetes_token=""), run_jobs=True)


def test_every_world_has_its_own_random_token() -> None:
    tokens = {World().kubernetes_token for _ in range(5)}
    assert len(tokens) == 5 and all(len(t) >= 24 for t in tokens)


def test_files_with_credentials_are_private_even_under_a_loose_umask(tmp_path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "sub" / "creds.env"
        write_private(path, "TOKEN=x\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        path.chmod(0o644)  # an existing, looser file is tightened when rewritten
        write_private(path, "TOKEN=y\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == "TOKEN=y\n"
    finally:
        os.umask(old)
    assert [p.name for p in path.parent.iterdir()] == ["creds.env"], "no temporary file left"


def test_sandbox_env_file_and_kubeconfig_are_mode_0600(sandbox, tmp_path) -> None:
    env_file = tmp_path / "sandbox.env"
    sandbox.app.write_env_file(env_file)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "IONOS_TOKEN=" in env_file.read_text()
    kubeconfig = Path(sandbox.env["KUBECONFIG"])
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600


# IONOS answers a failed authentication with its usual error body; the Cloud API's code for
# "unauthorized" is "315" in the API's error-code table (the SDKs only parse the shape).
@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": "Basic d3Jvbmc6d3Jvbmc="},
], ids=["missing", "wrong-bearer", "wrong-basic"])
def test_ionos_cloud_answers_401_with_its_error_body(headers) -> None:
    svc = IonosCloudService(World(), "the-token", "user@example.invalid", "the-password")
    server = serve(svc)
    try:
        code, body = http(server.url + "/cloudapi/v6/datacenters", headers=headers)
    finally:
        server.stop()
    assert code == 401
    assert body["httpStatus"] == 401
    assert [set(m) for m in body["messages"]] == [{"errorCode", "message"}]
    assert body["messages"][0]["errorCode"] == "315"


def test_ionos_sdks_see_401_for_a_wrong_token(sandbox) -> None:
    """ionoscloud raises ApiException(status=401); the pydantic DBaaS and Certificate Manager
    SDKs raise UnauthorizedException with the body parsed."""
    import ionoscloud
    import ionoscloud_cert_manager
    import ionoscloud_dbaas_mariadb

    env = sandbox.env
    cloud = ionoscloud.ApiClient(ionoscloud.Configuration(host=env["IONOS_API_URL"],
                                                          token="wrong"))
    with pytest.raises(ionoscloud.ApiException) as err:
        ionoscloud.DataCentersApi(cloud).datacenters_get()
    assert err.value.status == 401
    assert json.loads(err.value.body)["httpStatus"] == 401
    basic = ionoscloud.ApiClient(ionoscloud.Configuration(
        host=env["IONOS_API_URL"], username=env["IONOS_USERNAME"], password="wrong"))
    with pytest.raises(ionoscloud.ApiException) as err:
        ionoscloud.DataCentersApi(basic).datacenters_get()
    assert err.value.status == 401

    maria = ionoscloud_dbaas_mariadb.ApiClient(ionoscloud_dbaas_mariadb.Configuration(
        host=env["IONOS_MARIADB_URL"], token="wrong"))
    with pytest.raises(ionoscloud_dbaas_mariadb.exceptions.UnauthorizedException):
        ionoscloud_dbaas_mariadb.ClustersApi(maria).clusters_get()
    certs = ionoscloud_cert_manager.ApiClient(ionoscloud_cert_manager.Configuration(
        host=env["IONOS_CERTMANAGER_URL"], token="wrong"))
    with pytest.raises(ionoscloud_cert_manager.exceptions.UnauthorizedException):
        ionoscloud_cert_manager.CertificateApi(certs).certificates_get()
