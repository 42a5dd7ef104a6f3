"""Conformance of the sandbox Kubernetes API with kubectl, the Python client and raw HTTP."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.http import RunningServer, serve
from sandbox.kubernetes import KubernetesService
from sandbox.world import World
from tests.conftest import missing_service

pytestmark = pytest.mark.integration

KUBECTL = "/usr/bin/kubectl"


@dataclass
class Cluster:
    svc: KubernetesService
    server: RunningServer
    kubeconfig: Path
    tmp: Path

    @property
    def url(self) -> str:
        return self.server.url

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60,
                stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        if not Path(KUBECTL).exists():
            missing_service(f"{KUBECTL} is not installed on this machine: apt-get install kubectl")
        cmd = [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir",
               str(self.tmp / "kcache"), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.svc.world.kubernetes_token}"}

    def http(self, method: str, path: str, body: Any = None,
             content_type: str = "application/json") -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else (
            json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": content_type, **self.auth})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


def _start(tmp_path: Path, **kwargs: Any) -> Iterator[Cluster]:
    # These tests exercise the API with Flux's, cert-manager's and external-secrets' kinds, so
    # they start with those installed; test_sandbox_k8s_crds.py covers a cluster without them.
    kwargs.setdefault("preinstall_crds", True)
    svc = KubernetesService(World(), **kwargs)
    server = serve(svc)
    svc.add_nodes()  # pods run only on nodes, as in a real cluster
    svc.start_controllers()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(svc.kubeconfig(server.url))
    try:
        yield Cluster(svc, server, kubeconfig, tmp_path)
    finally:
        svc.stop()
        server.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)


def claim_user(claim: str, name: str | None = None) -> dict[str, Any]:
    """A Pod that mounts ``claim``: the first consumer a claim of a WaitForFirstConsumer class
    (IONOS's, K3s's local-path) waits for before it is provisioned and bound."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name or f"{claim}-user"},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36",
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data",
                                  "persistentVolumeClaim": {"claimName": claim}}]}}


def wait_for(predicate: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: demo, namespace: demo, labels: {app: web}}
data: {a: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, namespace: demo}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  duration: 720h
  issuerRef: {name: letsencrypt, kind: ClusterIssuer}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: demo}
spec: {interval: 10m, path: ./apps, prune: true, sourceRef: {kind: GitRepository, name: platform}}
"""


# A ConfigMap for ``create -f`` (JSON); ``kubectl create configmap`` sends protobuf, covered by
# test_sandbox_k8s_protobuf.py.
CM = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\n"
      "data: {{x: '1'}}\n")


def _rvs(c: Cluster) -> dict[str, str]:
    out = json.loads(c.kubectl("get", "cm,deploy,cert,ks", "-n", "demo", "-o", "json").stdout)
    return {f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"]
            for i in out["items"]}


def _settled(c: Cluster) -> dict[str, str]:
    """Resource versions once the controllers stopped writing."""
    def stable() -> dict[str, str] | None:
        first = _rvs(c)
        time.sleep(0.4)
        return first if _rvs(c) == first else None
    return wait_for(stable, what="controllers to settle")


def test_kubectl_version_and_api_resources(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["minor"] == "32"
    out = cluster.kubectl("api-resources").stdout
    for kind, short in [("Certificate", "cert,certs"), ("Kustomization", "ks"),
                        ("HelmRelease", "hr"), ("VolumeSnapshot", "vs"), ("ExternalSecret", "es"),
                        ("Deployment", "deploy"), ("PersistentVolumeClaim", "pvc"),
                        ("ClusterIssuer", "ciss"), ("GitRepository", "gitrepo")]:
        line = next((ln for ln in out.splitlines() if ln.rstrip().endswith(f" {kind}")), None)
        assert line is not None, f"{kind} missing from api-resources:\n{out}"
        assert short in line.split()


def test_kubectl_server_side_apply_is_idempotent(cluster: Cluster) -> None:
    base = cluster.tmp / "base.yaml"
    base.write_text(BASE)
    out = cluster.kubectl("apply", "--server-side", "-f", str(base)).stdout
    assert out.count("serverside-applied") == 5, out
    before = _settled(cluster)
    cluster.kubectl("apply", "--server-side", "-f", str(base))
    assert _rvs(cluster) == before


def test_kubectl_conflict_and_force(cluster: Cluster) -> None:
    base = cluster.tmp / "base.yaml"
    base.write_text(BASE)
    cluster.kubectl("apply", "--server-side", "-f", str(base))
    cm2 = cluster.tmp / "cm2.yaml"
    cm2.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: demo, namespace: demo}\n"
                   "data: {a: '2'}\n")
    proc = cluster.kubectl("apply", "--server-side", "--field-manager=other", "-f", str(cm2),
                           check=False)
    assert proc.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl"' in proc.stderr
    cluster.kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts",
                    "-f", str(cm2))
    cm = yaml.safe_load(cluster.kubectl("get", "cm", "demo", "-n", "demo", "-o", "yaml",
                                        "--show-managed-fields").stdout)
    assert cm["data"]["a"] == "2"
    owners = {m["manager"]: m["fieldsV1"] for m in cm["metadata"]["managedFields"]}
    assert owners["other"] == {"f:data": {"f:a": {}}}
    assert "f:data" not in owners["kubectl"]


def test_kubectl_diff_server_side(cluster: Cluster) -> None:
    base = cluster.tmp / "base.yaml"
    base.write_text(BASE)
    cluster.kubectl("apply", "--server-side", "-f", str(base))
    before = _settled(cluster)
    assert cluster.kubectl("diff", "--server-side", "-f", str(base), check=False).returncode == 0
    changed = cluster.tmp / "changed.yaml"
    changed.write_text(BASE.replace('a: "1"', 'a: "9"'))
    proc = cluster.kubectl("diff", "--server-side", "-f", str(changed), check=False)
    assert proc.returncode == 1, proc.stderr
    assert '+  a: "9"' in proc.stdout
    assert _rvs(cluster) == before


def test_kubectl_get_with_selectors(cluster: Cluster) -> None:
    base = cluster.tmp / "base.yaml"
    base.write_text(BASE)
    cluster.kubectl("apply", "--server-side", "-f", str(base))
    cluster.kubectl("create", "-f", "-", stdin=CM.format(name="other", ns="demo"))
    names = cluster.kubectl("get", "cm", "-n", "demo", "-l", "app in (web)", "-o", "name").stdout
    assert names.split() == ["configmap/demo"]
    names = cluster.kubectl("get", "cm", "-n", "demo", "-l", "!app", "-o", "name").stdout
    assert names.split() == ["configmap/kube-root-ca.crt", "configmap/other"]
    names = cluster.kubectl("get", "cm", "-A", "--field-selector", "metadata.name=other",
                            "-o", "name").stdout
    assert names.split() == ["configmap/other"]
    assert "web-tls" in cluster.kubectl("get", "certs", "-n", "demo").stdout
    assert "apps" in cluster.kubectl("get", "ks", "-A").stdout
    proc = cluster.kubectl("get", "cm", "-n", "demo", "--field-selector", "data.x=1",
                           check=False)
    assert proc.returncode == 1 and "field label not supported" in proc.stderr


def test_kubectl_patch_scale_and_strategic_on_cr(cluster: Cluster) -> None:
    base = cluster.tmp / "base.yaml"
    base.write_text(BASE)
    cluster.kubectl("apply", "--server-side", "-f", str(base))
    cluster.kubectl("patch", "cm", "demo", "-n", "demo", "--type=merge",
                    "-p", '{"data":{"b":"2"}}')
    data = json.loads(cluster.kubectl("get", "cm", "demo", "-n", "demo", "-o", "json").stdout)
    assert data["data"] == {"a": "1", "b": "2"}
    cluster.kubectl("patch", "cm", "demo", "-n", "demo", "--type=json",
                    "-p", '[{"op":"remove","path":"/data/b"}]')
    data = json.loads(cluster.kubectl("get", "cm", "demo", "-n", "demo", "-o", "json").stdout)
    assert data["data"] == {"a": "1"}
    proc = cluster.kubectl("patch", "certificate", "web-tls", "-n", "demo", "--type=strategic",
                           "-p", "{}", check=False)
    assert proc.returncode == 1 and "unknown format" in proc.stderr
    gen = json.loads(cluster.kubectl("get", "deploy", "web", "-n", "demo", "-o",
                                     "json").stdout)["metadata"]["generation"]
    assert "scaled" in cluster.kubectl("scale", "deploy", "web", "-n", "demo",
                                       "--replicas=3").stdout
    dep = json.loads(cluster.kubectl("get", "deploy", "web", "-n", "demo", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 3 and dep["metadata"]["generation"] == gen + 1
    wait_for(lambda: json.loads(cluster.kubectl("get", "deploy", "web", "-n", "demo", "-o",
                                                "json").stdout)["status"].get(
        "readyReplicas") == 3, what="3 ready replicas")


def test_kubectl_wait_for_certificate_ready(cluster: Cluster) -> None:
    base = cluster.tmp / "base.yaml"
    base.write_text(BASE)
    cluster.kubectl("apply", "--server-side", "-f", str(base))
    out = cluster.kubectl("wait", "--for=condition=Ready", "certificate/web-tls", "-n", "demo",
                          "--timeout=10s").stdout
    assert "condition met" in out


def test_kubectl_delete_waits_for_finalizer(cluster: Cluster) -> None:
    cluster.kubectl("create", "-f", "-", stdin=CM.format(name="held", ns="default"))
    cluster.kubectl("patch", "cm", "held", "--type=merge",
                    "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')
    result: dict[str, subprocess.CompletedProcess[str]] = {}
    thread = threading.Thread(target=lambda: result.update(
        p=cluster.kubectl("delete", "cm", "held", "--timeout=20s", check=False)))
    thread.start()
    held = wait_for(lambda: json.loads(cluster.kubectl("get", "cm", "held", "-o", "json").stdout)
                    if json.loads(cluster.kubectl("get", "cm", "held", "-o", "json").stdout)[
                        "metadata"].get("deletionTimestamp") else None,
                    what="deletionTimestamp")
    assert held["metadata"]["finalizers"] == ["example.com/hold"]
    time.sleep(0.5)
    assert thread.is_alive(), "kubectl delete returned while the finalizer was still set"
    cluster.kubectl("patch", "cm", "held", "--type=merge", "-p",
                    '{"metadata":{"finalizers":null}}')
    thread.join(timeout=20)
    assert result["p"].returncode == 0, result["p"].stderr
    proc = cluster.kubectl("get", "cm", "held", check=False)
    assert proc.returncode == 1 and "NotFound" in proc.stderr


def test_typed_client_conflicts_and_selectors(cluster: Cluster) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    v1 = client.CoreV1Api(cluster.api_client())
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg", labels={"tier": "a"}),
                              data={"k": "v"})
    created = v1.create_namespaced_config_map("default", body)
    assert created.metadata.uid and created.metadata.generation is None
    with pytest.raises(ApiException) as exc:
        v1.create_namespaced_config_map("default", body)
    assert exc.value.status == 409
    assert json.loads(exc.value.body)["reason"] == "AlreadyExists"
    stale = created.metadata.resource_version
    created.data = {"k": "v2"}
    updated = v1.replace_namespaced_config_map("cfg", "default", created)
    assert int(updated.metadata.resource_version) > int(stale)
    created.metadata.resource_version = stale
    with pytest.raises(ApiException) as exc:
        v1.replace_namespaced_config_map("cfg", "default", created)
    assert exc.value.status == 409 and json.loads(exc.value.body)["reason"] == "Conflict"
    assert v1.list_namespaced_config_map("default",
                                         field_selector="metadata.name=nothing").items == []
    assert [c.metadata.name for c in v1.list_namespaced_config_map(
        "default", label_selector="tier in (a,b)").items] == ["cfg"]
    with pytest.raises(ApiException) as exc:
        v1.create_namespaced_config_map("missing", body)
    assert exc.value.status == 404
    assert json.loads(exc.value.body)["message"] == 'namespaces "missing" not found'
    secret = v1.create_namespaced_secret("default", client.V1Secret(
        metadata=client.V1ObjectMeta(name="s"), string_data={"password": "hunter2"}))
    assert secret.string_data is None
    assert base64.b64decode(secret.data["password"]) == b"hunter2"


def _dynamic(c: Cluster) -> Any:
    from kubernetes.dynamic import DynamicClient

    return DynamicClient(c.api_client(), cache_file=str(c.tmp / "discovery.json"))


def test_dynamic_server_side_apply_round_trip(cluster: Cluster) -> None:
    from kubernetes.dynamic.exceptions import ConflictError, DynamicApiError

    dyn = _dynamic(cluster)
    certs = dyn.resources.get(api_version="cert-manager.io/v1", kind="Certificate")
    body = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "c", "namespace": "default"},
            "spec": {"secretName": "c-tls", "dnsNames": ["a.example.com"],
                     "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}}
    first = certs.server_side_apply(body=body, name="c", namespace="default",
                                    field_manager="platform")
    assert first.metadata.uid and first.metadata.generation == 1
    assert [m.manager for m in first.metadata.managedFields] == ["platform"]
    wait_for(lambda: (certs.get(name="c", namespace="default").status or {}).get("revision"),
             what="certificate issued")
    current = certs.get(name="c", namespace="default")
    again = certs.server_side_apply(body=body, name="c", namespace="default",
                                    field_manager="platform")
    assert again.metadata.resourceVersion == current.metadata.resourceVersion
    other = json.loads(json.dumps(body))
    other["spec"]["dnsNames"] = ["b.example.com"]
    with pytest.raises(ConflictError) as exc:
        certs.server_side_apply(body=other, name="c", namespace="default", field_manager="other")
    causes = json.loads(exc.value.body)["details"]["causes"]
    assert causes == [{"reason": "FieldManagerConflict", "message": 'conflict with "platform"',
                       "field": ".spec.dnsNames"}]
    forced = certs.server_side_apply(body=other, name="c", namespace="default",
                                     field_manager="other", force_conflicts=True)
    assert forced.spec.dnsNames == ["b.example.com"] and forced.metadata.generation == 2
    status_body = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                   "metadata": {"name": "c", "namespace": "default"},
                   "status": {"conditions": [{"type": "Issuing", "status": "True",
                                              "reason": "ManuallyTriggered", "message": "x"}]}}
    st = certs.status.server_side_apply(body=status_body, name="c", namespace="default",
                                        field_manager="cmctl", force_conflicts=True)
    assert st.metadata.generation == 2
    with pytest.raises(DynamicApiError) as exc2:
        certs.patch(body={"metadata": {"labels": {"x": "y"}}}, name="c", namespace="default")
    assert exc2.value.status == 415
    patched = certs.patch(body={"metadata": {"labels": {"x": "y"}}}, name="c",
                          namespace="default", content_type="application/merge-patch+json")
    assert patched.to_dict()["metadata"]["labels"] == {"x": "y"}


def test_watch_stream_and_expired(cluster: Cluster) -> None:
    from kubernetes import client, watch
    from kubernetes.client.rest import ApiException

    v1 = client.CoreV1Api(cluster.api_client())
    v1.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="w"), data={"a": "1"}))
    rv = v1.list_namespaced_config_map("default").metadata.resource_version

    def patch_later() -> None:
        time.sleep(0.3)
        v1.patch_namespaced_config_map("w", "default", {"data": {"a": "2"}})

    threading.Thread(target=patch_later).start()
    events = []
    for ev in watch.Watch().stream(v1.list_namespaced_config_map, "default",
                                   resource_version=rv, timeout_seconds=5):
        events.append((ev["type"], ev["object"].metadata.name, ev["object"].data))
        break
    assert events == [("MODIFIED", "w", {"a": "2"})]
    cluster.svc.store.history_limit = 5
    for i in range(10):
        v1.patch_namespaced_config_map("w", "default", {"data": {"a": str(i)}})
    with pytest.raises(ApiException) as exc:
        for _ in watch.Watch().stream(v1.list_namespaced_config_map, "default",
                                      resource_version=rv, timeout_seconds=5):
            pass
    assert exc.value.status == 410


def test_bad_input_answers_status_bodies(cluster: Cluster) -> None:
    code, body = cluster.http("POST", "/api/v1/namespaces/default/configmaps", b"{not json")
    assert code == 400 and body["reason"] == "BadRequest" and body["kind"] == "Status"
    code, body = cluster.http("GET", "/apis/example.com/v1/namespaces/default/widgets")
    assert code == 404 and body["message"] == "the server could not find the requested resource"
    code, body = cluster.http("POST", "/api/v1/namespaces/default/configmaps",
                              b"name: x", content_type="text/plain")
    assert code == 415 and body["reason"] == "UnsupportedMediaType"
    apply_body = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "x", "namespace": "default"}}
    code, body = cluster.http("PATCH", "/api/v1/namespaces/default/configmaps/x", apply_body,
                              content_type="application/apply-patch+yaml")
    assert code == 422 and "fieldManager: Required value" in body["message"]
    code, body = cluster.http("GET", "/api/v1/namespaces/default/configmaps/none")
    assert code == 404 and body["details"] == {"name": "none", "group": "", "kind": "configmaps"}
    code, body = cluster.http("POST", "/api/v1/namespaces/default/configmaps",
                              {"metadata": {"name": "Bad_Name"}})
    assert code == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    code, body = cluster.http("POST", "/api/v1/namespaces/default/configmaps",
                              {"metadata": {"name": 5}})
    assert code == 400 and "metadata.name of type string" in body["message"]
    code, body = cluster.http("POST", "/api/v1/namespaces", {"metadata": {"name": 7}})
    assert code == 400 and body["reason"] == "BadRequest"
    assert cluster.http("GET", "/api/v1/namespaces")[0] == 200
    code, body = cluster.http("PATCH", "/api/v1/namespaces/default/configmaps/x?force=true",
                              {"data": {}}, content_type="application/merge-patch+json")
    assert code == 422 and "force" in body["message"]
    code, body = cluster.http("GET", "/api/v1/configmaps?labelSelector=a+in+(b")
    assert code == 400
    code, body = cluster.http("POST", "/api/v1/namespaces/default/configmaps",
                              {"metadata": {"name": "j"}})
    code, body = cluster.http("PATCH", "/api/v1/namespaces/default/configmaps/j",
                              [{"op": "test", "path": "/data/a", "value": "b"}],
                              content_type="application/json-patch+json")
    assert code == 422


def test_dry_run_and_no_op_writes(cluster: Cluster) -> None:
    code, cm = cluster.http("POST", "/api/v1/namespaces/default/configmaps",
                            {"metadata": {"name": "d"}, "data": {"a": "1"}})
    assert code == 201
    path = "/api/v1/namespaces/default/configmaps/d"
    code, dry = cluster.http("PATCH", path + "?dryRun=All", {"data": {"a": "2"}},
                             content_type="application/merge-patch+json")
    assert code == 200 and dry["data"] == {"a": "2"}
    code, live = cluster.http("GET", path)
    assert live["data"] == {"a": "1"}
    assert live["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]
    code, same = cluster.http("PUT", path, live)
    assert same["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    code, _ = cluster.http("POST", "/api/v1/namespaces/default/configmaps?dryRun=All",
                           {"metadata": {"name": "never"}})
    assert code == 201 and cluster.http("GET", path.replace("/d", "/never"))[0] == 404


def test_status_subresource_isolation_and_generation(cluster: Cluster) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "i"}]}}},
           "status": {"replicas": 99}}
    code, created = cluster.http("POST", base, dep)
    # The client's status is dropped; a built-in's status struct is never omitted, so a new
    # Deployment reads ``status: {}`` (k8s.io/api/apps/v1 types.go: Status is not a pointer).
    assert code == 201 and created["status"] == {} and created["metadata"]["generation"] == 1
    code, obj = cluster.http("PATCH", base + "/app/status", {"status": {"replicas": 7}},
                             content_type="application/merge-patch+json")
    assert obj["status"]["replicas"] == 7 and obj["metadata"]["generation"] == 1
    code, obj = cluster.http("PATCH", base + "/app", {"metadata": {"labels": {"x": "y"}}},
                             content_type="application/merge-patch+json")
    assert obj["metadata"]["generation"] == 1
    code, obj = cluster.http("PATCH", base + "/app", {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "j"}]}}}, "status": {"replicas": 1}},
        content_type="application/strategic-merge-patch+json")
    assert obj["metadata"]["generation"] == 2
    assert [(c["name"], c["image"]) for c in obj["spec"]["template"]["spec"]["containers"]] == \
        [("c", "j")]
    wait_for(lambda: cluster.http("GET", base + "/app")[1]["status"].get(
        "observedGeneration") == 2, what="observedGeneration 2")


def test_pvc_binds_to_provisioned_volume(cluster: Cluster) -> None:
    calls: list[tuple[str, int]] = []

    def provision(name: str, size_gb: int) -> str:
        calls.append((name, size_gb))
        return "vol-1234"

    cluster.svc.world.provision_volume = provision
    pvc = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                  "resources": {"requests": {"storage": "10Gi"}},
                                                  "storageClassName": "ionos-enterprise-ssd"}}
    cluster.http("POST", "/api/v1/namespaces/default/persistentvolumeclaims", pvc)
    cluster.http("POST", "/api/v1/namespaces/default/pods", claim_user("data"))
    bound = wait_for(lambda: (lambda o: o if (o.get("status") or {}).get("phase") == "Bound"
                              else None)(cluster.http(
                                  "GET", "/api/v1/namespaces/default/persistentvolumeclaims/data"
                              )[1]), what="PVC bound")
    assert bound["status"]["capacity"] == {"storage": "10Gi"}
    pv = cluster.http("GET", f"/api/v1/persistentvolumes/{bound['spec']['volumeName']}")[1]
    assert pv["spec"]["csi"] == {"driver": "cloud.ionos.com", "volumeHandle": "vol-1234",
                                 "fsType": "ext4"}
    assert calls == [(bound["spec"]["volumeName"], 10)]
    snap = {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "s1"}, "spec": {"source": {"persistentVolumeClaimName": "data"}}}
    cluster.http("POST", "/apis/snapshot.storage.k8s.io/v1/namespaces/default/volumesnapshots",
                 snap)
    vs = wait_for(lambda: (lambda o: o if (o.get("status") or {}).get("readyToUse") else None)(
        cluster.http("GET", "/apis/snapshot.storage.k8s.io/v1/namespaces/default/"
                            "volumesnapshots/s1")[1]), what="snapshot ready")
    assert vs["status"]["restoreSize"] == "10Gi"
    content = cluster.http("GET", "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/"
                           + vs["status"]["boundVolumeSnapshotContentName"])[1]
    assert content["spec"]["source"] == {"volumeHandle": "vol-1234"}


def test_certificate_secret_is_real_and_renews(cluster: Cluster) -> None:
    from cryptography import x509

    cert = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "site"},
            "spec": {"secretName": "site-tls", "dnsNames": ["site.example.com"],
                     "duration": "2160h", "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}}
    path = "/apis/cert-manager.io/v1/namespaces/default/certificates"
    cluster.http("POST", path, cert)
    ready = wait_for(lambda: (lambda o: o if (o.get("status") or {}).get("revision") else None)(
        cluster.http("GET", path + "/site")[1]), what="certificate ready")
    secret = cluster.http("GET", "/api/v1/namespaces/default/secrets/site-tls")[1]
    assert secret["type"] == "kubernetes.io/tls"
    leaf = x509.load_pem_x509_certificates(base64.b64decode(secret["data"]["tls.crt"]))[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["site.example.com"]
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime.total_seconds() == 2160 * 3600
    st = ready["status"]
    assert st["notAfter"] == leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert st["renewalTime"] < st["notAfter"]
    conds = [c for c in st["conditions"] if c["type"] == "Ready"]
    assert conds[0]["status"] == "True" and conds[0]["observedGeneration"] == 1
    st["conditions"].append({"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
                             "message": "Certificate re-issuance manually triggered"})
    code, _ = cluster.http("PATCH", path + "/site/status", {"status": st},
                           content_type="application/merge-patch+json")
    assert code == 200
    renewed = wait_for(lambda: (lambda o: o if o["status"].get("revision") == 2 else None)(
        cluster.http("GET", path + "/site")[1]), what="re-issued certificate")
    assert not [c for c in renewed["status"]["conditions"] if c["type"] == "Issuing"]
    new_secret = cluster.http("GET", "/api/v1/namespaces/default/secrets/site-tls")[1]
    assert new_secret["data"]["tls.crt"] != secret["data"]["tls.crt"]


def test_flux_reconcile_request_is_handled(cluster: Cluster) -> None:
    path = "/apis/helm.toolkit.fluxcd.io/v2/namespaces/default/helmreleases"
    cluster.http("POST", path, {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                                "metadata": {"name": "app"},
                                "spec": {"interval": "5m", "chart": {"spec": {
                                    "chart": "app", "version": "1.2.3"}}}})
    wait_for(lambda: (cluster.http("GET", path + "/app")[1].get("status") or {}).get(
        "observedGeneration") == 1, what="HelmRelease ready")
    stamp = "2026-01-01T00:00:00.123456789Z"
    _, obj = cluster.http("PATCH", path + "/app", {"metadata": {"annotations": {
        "reconcile.fluxcd.io/requestedAt": stamp}}}, content_type="application/merge-patch+json")
    assert obj["metadata"]["generation"] == 1
    done = wait_for(lambda: (lambda o: o if o["status"].get("lastHandledReconcileAt") == stamp
                             else None)(cluster.http("GET", path + "/app")[1]),
                    what="lastHandledReconcileAt")
    assert done["status"]["lastAttemptedRevision"] == "1.2.3"


def test_external_secret_writes_target_secret(cluster: Cluster) -> None:
    cluster.http("POST", "/apis/external-secrets.io/v1/clustersecretstores", {
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
        "metadata": {"name": "fake"},
        "spec": {"provider": {"fake": {"data": [{"key": "db", "value": '{"pw":"s3cret"}'}]}}}})
    cluster.http("POST", "/apis/external-secrets.io/v1/namespaces/default/externalsecrets", {
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "db"},
        "spec": {"secretStoreRef": {"name": "fake", "kind": "ClusterSecretStore"},
                 "target": {"name": "db-creds"},
                 "data": [{"secretKey": "password", "remoteRef": {"key": "db",
                                                                  "property": "pw"}}]}})
    secret = wait_for(lambda: (lambda r: r[1] if r[0] == 200 else None)(
        cluster.http("GET", "/api/v1/namespaces/default/secrets/db-creds")), what="secret")
    assert base64.b64decode(secret["data"]["password"]) == b"s3cret"


def test_job_completes_and_orphans_pod_on_delete(cluster: Cluster) -> None:
    from kubernetes import client

    batch = client.BatchV1Api(cluster.api_client())
    v1 = client.CoreV1Api(cluster.api_client())
    job = client.V1Job(metadata=client.V1ObjectMeta(name="dagster-run-1"), spec=client.V1JobSpec(
        backoff_limit=0, template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[client.V1Container(name="dagster", image="img", args=["true"])]))))
    batch.create_namespaced_job("default", job)
    # status is unset until the job controller's first pass writes it
    wait_for(lambda: getattr(batch.read_namespaced_job_status("dagster-run-1", "default").status,
                             "succeeded", None), what="job succeeded")
    pods = v1.list_namespaced_pod("default", label_selector="job-name=dagster-run-1").items
    assert len(pods) == 1 and pods[0].status.phase == "Succeeded"
    assert pods[0].status.container_statuses[0].state.terminated.exit_code == 0
    # batch/v1 orphans by default: the Job keeps the orphan finalizer until the garbage
    # collector has removed the pod's ownerReference (pkg/registry/batch/job/strategy.go).
    batch.delete_namespaced_job("dagster-run-1", "default")
    pod = wait_for(lambda: (p := v1.read_namespaced_pod(pods[0].metadata.name, "default"))
                   .metadata.owner_references is None and p, what="pod orphaned")
    wait_for(lambda: not batch.list_namespaced_job("default").items, what="job removed")
    v1.delete_namespaced_pod(pod.metadata.name, "default")


@pytest.fixture
def job_runner(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path, run_jobs=True)


def test_run_jobs_executes_the_container_command(job_runner: Cluster) -> None:
    """The command runs; each failed pod counts against ``backoffLimit`` (here 1: one retry)
    and the Job fails once the count exceeds it (job_controller.go syncJob,
    BackoffLimitExceeded)."""
    c = job_runner
    code, _ = c.http("POST", "/apis/batch/v1/namespaces/default/jobs", {
        "metadata": {"name": "echo"},
        "spec": {"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": "python",
            "command": [sys.executable, "-c"],
            "args": ["import os,sys; print('hello', os.environ['GREETING']); sys.exit(3)"],
            "env": [{"name": "GREETING", "value": "world"}]}]}}}})
    assert code == 201
    job = wait_for(lambda: (lambda o: o if any(x["type"] == "Failed" for x in (
        o.get("status") or {}).get("conditions") or []) else None)(
        c.http("GET", "/apis/batch/v1/namespaces/default/jobs/echo/status")[1]),
        what="job failed", timeout=20)
    assert [(x["type"], x["reason"]) for x in job["status"]["conditions"]] == [
        ("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded")]
    assert job["status"]["failed"] == 2
    pods = c.http("GET", "/api/v1/namespaces/default/pods?labelSelector=job-name%3Decho")[1]
    assert len(pods["items"]) == 2
    pod = pods["items"][0]
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3
    req = urllib.request.Request(
        f"{c.url}/api/v1/namespaces/default/pods/{pod['metadata']['name']}/log", headers=c.auth)
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.read().decode() == "hello world\n"


def test_nodes_from_pools_and_restart_keeps_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    world = World()
    svc = KubernetesService(world, state_dir=state, preinstall_crds=True)
    assert world.set_pool_nodes is not None
    world.set_pool_nodes("pool-a", [{"name": "n1", "labels": {"role": "x"}, "k8sVersion": "1.31.2"},
                                    {"name": "n2", "labels": {}, "k8sVersion": "1.31.2"}])
    world.set_pool_nodes("pool-a", [{"name": "n2", "labels": {}, "k8sVersion": "1.32.1"}])
    nodes = svc.store.select(("", "nodes"))
    assert [n["metadata"]["name"] for n in nodes] == ["n2"]
    assert nodes[0]["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.1"
    assert nodes[0]["status"]["conditions"][0]["type"] == "Ready"
    svc.stop()
    again = KubernetesService(World(), state_dir=state)
    assert [n["metadata"]["name"] for n in again.store.select(("", "nodes"))] == ["n2"]
    assert again.store.rv == svc.store.rv
    assert again.registry.get("cert-manager.io", "v1", "certificates") is not None


def test_crd_created_through_the_api_is_served(cluster: Cluster) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                              "shortNames": ["wd"]},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
    code, _ = cluster.http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert code == 201
    out = cluster.kubectl("api-resources", "--api-group=example.com").stdout
    assert "widgets" in out and "wd" in out
    code, obj = cluster.http("POST", "/apis/example.com/v1/namespaces/default/widgets",
                             {"apiVersion": "example.com/v1", "kind": "Widget",
                              "metadata": {"name": "w1"}, "spec": {"size": 1}})
    assert code == 201 and obj["metadata"]["generation"] == 1


def test_injected_fault_is_a_status_with_retry_after(cluster: Cluster) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from sandbox.http import FAULTS, FaultConfig

    v1 = client.CoreV1Api(cluster.api_client())
    # 500, not 429: urllib3 itself sleeps and retries on 429/503 with a Retry-After.
    FAULTS.set("kubernetes", FaultConfig(error_rate=1.0, statuses=[500], retry_after=2,
                                         path_contains="/configmaps"))
    try:
        with pytest.raises(ApiException) as exc:
            v1.list_namespaced_config_map("default")
    finally:
        FAULTS.set("kubernetes", None)
    assert exc.value.status == 500 and exc.value.headers["Retry-After"] == "2"
    body = json.loads(exc.value.body)
    assert body["kind"] == "Status" and body["reason"] == "InternalError"
    assert body["details"]["retryAfterSeconds"] == 2
    names = [c.metadata.name for c in v1.list_namespaced_config_map("default").items]
    assert names == ["kube-root-ca.crt"]


def test_controller_delay_is_honoured(tmp_path: Path) -> None:
    for c in _start(tmp_path, controller_delay=0.6):
        start = time.monotonic()
        c.http("POST", "/apis/apps/v1/namespaces/default/deployments", {
            "metadata": {"name": "slow"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}}})

        def ready(cl: Cluster = c) -> bool:
            status = cl.http("GET", "/apis/apps/v1/namespaces/default/deployments/slow")[1].get(
                "status") or {}
            return status.get("readyReplicas") == 1

        assert not ready()
        wait_for(ready, what="deployment ready after the delay")
        assert time.monotonic() - start >= 0.6


def test_dagster_k8s_client_waits_reads_logs_and_deletes(cluster: Cluster) -> None:
    from dagster_k8s.client import DagsterKubernetesClient, WaitForPodState
    from kubernetes import client

    api = cluster.api_client()
    dk = DagsterKubernetesClient.production_client(
        batch_api_override=client.BatchV1Api(api), core_api_override=client.CoreV1Api(api))
    code, _ = cluster.http("POST", "/apis/batch/v1/namespaces/default/jobs", {
        "metadata": {"name": "dagster-step-abc",
                     "labels": {"app.kubernetes.io/component": "step_worker"}},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "dagster", "image": "img", "args": ["dagster", "api", "execute_step"]}]}}}})
    assert code == 201
    dk.wait_for_job_success("dagster-step-abc", "default", wait_timeout=20,
                            wait_time_between_attempts=0.1)
    pods = dk.get_pod_names_in_job("dagster-step-abc", "default")
    assert len(pods) == 1 and pods[0].startswith("dagster-step-abc-")
    dk.wait_for_pod(pods[0], "default", wait_for_state=WaitForPodState.Terminated,
                    wait_timeout=20, wait_time_between_attempts=0.1)
    assert "exited with code 0" in dk.retrieve_pod_logs(pods[0], "default")
    assert dk.delete_job("dagster-step-abc", "default") is True
    assert client.CoreV1Api(api).list_namespaced_pod("default").items == []


def test_namespace_termination(cluster: Cluster) -> None:
    cluster.http("POST", "/api/v1/namespaces", {"metadata": {"name": "gone"}})
    cluster.http("POST", "/api/v1/namespaces/gone/configmaps", {"metadata": {"name": "c"}})
    code, ns = cluster.http("DELETE", "/api/v1/namespaces/gone")
    assert code == 200 and ns["status"]["phase"] == "Terminating"
    code, body = cluster.http("POST", "/api/v1/namespaces/gone/configmaps",
                              {"metadata": {"name": "d"}})
    assert code in (403, 404)
    wait_for(lambda: cluster.http("GET", "/api/v1/namespaces/gone")[0] == 404,
             what="namespace removed")
    assert cluster.http("GET", "/api/v1/namespaces/gone/configmaps/c")[0] == 404


def test_reset_returns_to_a_fresh_cluster(cluster: Cluster) -> None:
    cluster.http("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "x"}})
    cluster.http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
                 "names": {"plural": "gadgets", "kind": "Gadget"},
                 "versions": [{"name": "v1", "served": True, "storage": True}]}})
    assert cluster.http("GET", "/apis/example.com/v1/gadgets")[0] == 200
    rv = cluster.svc.store.rv
    cluster.svc.reset()
    assert cluster.http("GET", "/api/v1/namespaces/default/configmaps/x")[0] == 404
    assert cluster.http("GET", "/apis/example.com/v1/gadgets")[0] == 404
    assert cluster.http("GET", "/apis/cert-manager.io/v1/certificates")[0] == 200
    assert cluster.http("GET", "/api/v1/namespaces/kube-system")[0] == 200
    assert cluster.svc.store.rv > rv
