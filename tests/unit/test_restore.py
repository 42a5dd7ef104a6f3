"""Restore-drill bodies: server-assigned fields dropped, workloads scaled to zero, Flux objects
suspended, what acts outside the namespace only dry-run, content compared without what the server
assigns (core.restore)."""

from __future__ import annotations

from typing import Any

import pytest

from platform_assets.core.restore import (
    DRILL_NODE_SELECTOR,
    drill_content,
    exposing_service,
    for_drill,
    validated_by_dry_run,
)


def _service() -> dict:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "services", "uid": "u1", "resourceVersion": "7",
                     "labels": {"app": "web"}},
        "spec": {"type": "NodePort", "clusterIP": "10.233.0.17", "clusterIPs": ["10.233.0.17"],
                 "ipFamilies": ["IPv4"], "selector": {"app": "web"},
                 "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080,
                            "nodePort": 31000}]},
        "status": {"loadBalancer": {}},
    }


def test_service_loses_its_allocated_ips_and_node_ports() -> None:
    """A real server refuses an allocated clusterIP in another namespace (422), so the drill must
    not send it: Velero's service restore action drops clusterIP(s) and nodePorts the same way."""
    body = for_drill(_service(), "drill-1")
    assert "clusterIP" not in body["spec"] and "clusterIPs" not in body["spec"]
    assert "nodePort" not in body["spec"]["ports"][0]
    assert body["metadata"] == {"name": "web", "namespace": "drill-1", "labels": {"app": "web"}}
    assert "status" not in body
    assert body["spec"]["selector"] == {"app": "web"}


def test_content_ignores_a_newly_allocated_ip_but_not_a_changed_port() -> None:
    """What came back is compared by content: a new clusterIP is the server's, a port is ours."""
    restored = for_drill(_service(), "drill-1")
    back = {**restored, "spec": {**restored["spec"], "clusterIP": "10.233.0.99",
                                 "clusterIPs": ["10.233.0.99"]}}
    assert drill_content(back) == drill_content(restored)
    changed = {**restored, "spec": {**restored["spec"],
                                    "ports": [{"port": 81, "protocol": "TCP",
                                               "targetPort": 8080}]}}
    assert drill_content(changed) != drill_content(restored)


def test_workloads_come_back_without_running_anything() -> None:
    """Deployments and StatefulSets at zero replicas, DaemonSets selecting no node, Jobs and
    CronJobs suspended: a drill proves the objects restore, it starts no production copy."""
    template = {"spec": {"containers": [{"name": "c", "image": "x"}]}}
    for kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        out = for_drill({"kind": kind, "metadata": {"name": "a"},
                         "spec": {"replicas": 3, "template": template}}, "d")
        assert out["spec"]["replicas"] == 0, kind
    ds = for_drill({"kind": "DaemonSet", "metadata": {"name": "a"},
                    "spec": {"template": {"spec": {"nodeSelector": {"os": "linux"}}}}}, "d")
    assert ds["spec"]["template"]["spec"]["nodeSelector"] == {"os": "linux",
                                                              **DRILL_NODE_SELECTOR}
    for kind in ("Job", "CronJob"):
        assert for_drill({"kind": kind, "metadata": {"name": "a"}, "spec": {}},
                         "d")["spec"]["suspend"] is True


def test_claim_is_not_bound_to_the_original_volume() -> None:
    """A restored claim must get its own volume: volumeName and the binding annotations go."""
    claim = {"kind": "PersistentVolumeClaim",
             "metadata": {"name": "data", "annotations": {"pv.kubernetes.io/bind-completed": "yes",
                                                          "team": "web"}},
             "spec": {"volumeName": "pvc-123", "accessModes": ["ReadWriteOnce"]}}
    out = for_drill(claim, "d")
    assert "volumeName" not in out["spec"]
    assert out["metadata"]["annotations"] == {"team": "web"}
    assert claim["spec"]["volumeName"] == "pvc-123"  # the export itself is not changed


def test_other_kinds_keep_their_shape() -> None:
    """A ConfigMap gains no ``spec``: what is applied must equal what comes back."""
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": {"a": "1"}}
    assert for_drill(cm, "d") == {**cm, "metadata": {"name": "s", "namespace": "d"}}


def test_a_workload_without_spec_is_still_scaled_to_zero() -> None:
    """An exported Deployment with no ``spec`` (the server defaults replicas to 1) must not
    start a pod in the drill."""
    out = for_drill({"kind": "Deployment", "metadata": {"name": "a"}}, "d")
    assert out["spec"]["replicas"] == 0
    ds = for_drill({"kind": "DaemonSet", "metadata": {"name": "a"}, "spec": {}}, "d")
    assert ds["spec"]["template"]["spec"]["nodeSelector"] == DRILL_NODE_SELECTOR


def test_only_server_annotations_leave_no_empty_annotations() -> None:
    """A claim annotated only by the server comes back with no ``annotations`` at all (an empty
    map would be a difference from what the server returns)."""
    claim = {"kind": "PersistentVolumeClaim",
             "metadata": {"name": "data",
                          "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
             "spec": {"accessModes": ["ReadWriteOnce"]}}
    assert "annotations" not in for_drill(claim, "d")["metadata"]


def test_content_leaves_out_metadata_and_type_fields() -> None:
    """The restored copy lives in another namespace under the same kind: only the content
    counts, so metadata, apiVersion and kind are not compared."""
    a = for_drill(_service(), "drill-1")
    b = {**for_drill(_service(), "drill-2"), "apiVersion": "v2", "kind": "Other"}
    assert drill_content(a) == drill_content(b)
    assert set(drill_content(a)) == {"spec"}


def test_a_job_loses_the_selector_and_labels_made_from_its_uid() -> None:
    uid = "0f6c2f0e-5d4a-4b8e-9a57-1c1d2e3f4a5b"
    exported = {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "migrate", "namespace": "shop", "uid": uid},
                "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
                         "template": {"metadata": {"labels": {
                             "app": "migrate", "controller-uid": uid, "job-name": "migrate",
                             "batch.kubernetes.io/controller-uid": uid,
                             "batch.kubernetes.io/job-name": "migrate"}},
                             "spec": {"restartPolicy": "Never", "containers": []}}}}
    body = for_drill(exported, "drill")
    assert "selector" not in body["spec"] and body["spec"]["suspend"] is True
    assert body["spec"]["template"]["metadata"]["labels"] == {
        "app": "migrate", "job-name": "migrate", "batch.kubernetes.io/job-name": "migrate"}
    # What the server gives the restored Job (a selector from its new uid) is not a difference.
    new = "11111111-2222-4333-8444-555555555555"
    restored = for_drill(exported, "drill") | {"metadata": {"name": "migrate", "uid": new}}
    restored["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": new}}
    restored["spec"]["template"]["metadata"]["labels"].update(
        {"controller-uid": new, "batch.kubernetes.io/controller-uid": new})
    assert drill_content(restored) == drill_content(body)
    # A manual selector is the user's and stays.
    manual = {**exported, "spec": {**exported["spec"], "manualSelector": True}}
    assert for_drill(manual, "drill")["spec"]["selector"] == exported["spec"]["selector"]


def test_a_drill_only_dry_runs_what_would_run_once_created() -> None:
    """A bare Pod has no replicas, suspend or selector to hold it: it is validated by dry run;
    workloads a drill makes inert, and plain objects, are restored."""
    assert validated_by_dry_run(for_drill({"apiVersion": "v1", "kind": "Pod",
                                           "metadata": {"name": "p"}, "spec": {}}, "d"))
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ConfigMap"):
        assert not validated_by_dry_run({"kind": kind, "metadata": {"name": "a"}})


def test_a_replication_controller_comes_back_at_zero_replicas_with_its_selector() -> None:
    """A ReplicationController runs ``replicas`` pods as a ReplicaSet does (its replicas default
    to 1 when absent: pkg/apis/core/v1 defaults), so a drill sends 0; its selector, a plain map
    the server defaulted from the template, is content and goes back unchanged."""
    exported = {"apiVersion": "v1", "kind": "ReplicationController",
                "metadata": {"name": "legacy", "namespace": "shop", "uid": "u1",
                             "resourceVersion": "9", "generation": 2,
                             "labels": {"app": "legacy"}},
                "spec": {"replicas": 3, "selector": {"app": "legacy"},
                         "template": {"metadata": {"labels": {"app": "legacy"}},
                                      "spec": {"containers": [{"name": "c", "image": "x"}]}}},
                "status": {"replicas": 3, "readyReplicas": 3}}
    body = for_drill(exported, "drill-legacy")
    assert body["spec"]["replicas"] == 0
    assert body["spec"]["selector"] == {"app": "legacy"}
    assert body["metadata"] == {"name": "legacy", "namespace": "drill-legacy",
                                "labels": {"app": "legacy"}}
    assert "status" not in body and not validated_by_dry_run(body)
    no_count = {**exported, "spec": {k: v for k, v in exported["spec"].items()
                                     if k != "replicas"}}
    assert for_drill(no_count, "d")["spec"]["replicas"] == 0


def test_kinds_include_kinds_adds_are_only_dry_run() -> None:
    """What a target's include_kinds adds is validated by dry run, matched on group and kind
    (the version is the preferred one discovery gave); the same kind name in another group is
    not."""
    added = frozenset({("example.com", "Widget"), ("", "Endpoints")})
    assert validated_by_dry_run({"apiVersion": "example.com/v1beta1", "kind": "Widget"}, added)
    assert validated_by_dry_run({"apiVersion": "v1", "kind": "Endpoints"}, added)
    assert not validated_by_dry_run({"apiVersion": "other.io/v1", "kind": "Widget"}, added)
    assert not validated_by_dry_run({"apiVersion": "v1", "kind": "ReplicationController"},
                                    added)


FLUX_OBJECTS = [
    {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
     "metadata": {"name": "shop", "namespace": "shop", "finalizers": ["finalizers.fluxcd.io"]},
     "spec": {"interval": "10m", "targetNamespace": "kube-system", "serviceAccountName": "x",
              "kubeConfig": {"secretRef": {"name": "other-cluster"}},
              "chart": {"spec": {"chart": "shop", "sourceRef": {
                  "kind": "HelmRepository", "name": "charts", "namespace": "flux-system"}}}},
     "status": {"lastAttemptedRevision": "1.0.0"}},
    {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
     "metadata": {"name": "apps", "namespace": "shop"},
     "spec": {"interval": "5m", "path": "./clusters/prod", "prune": True,
              "targetNamespace": "kube-system", "suspend": False,
              "sourceRef": {"kind": "GitRepository", "name": "fleet",
                            "namespace": "flux-system"}}},
    {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
     "metadata": {"name": "fleet", "namespace": "shop"},
     "spec": {"interval": "1m", "url": "https://git.example.com/fleet", "ref": {"branch": "main"}}},
    {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
     "metadata": {"name": "charts", "namespace": "shop"},
     "spec": {"interval": "1h", "url": "https://charts.example.com"}},
    {"apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "OCIRepository",
     "metadata": {"name": "oci", "namespace": "shop"}},
]


@pytest.mark.parametrize("exported", FLUX_OBJECTS, ids=lambda o: o["kind"])
def test_a_drill_restores_flux_objects_suspended_and_otherwise_unchanged(
        exported: dict[str, Any]) -> None:
    """Flux's controllers (cluster-admin) reconcile a HelmRelease or Kustomization wherever it
    points; a suspended object they do not reconcile at all (helm-controller api/v2,
    kustomize-controller api/v1, source-controller api/v1 ``spec.suspend``), so a drill
    restores every Flux object suspended (one that said ``suspend: false`` too), with the rest
    of its spec as exported, and creates it (it is not only dry-run)."""
    body = for_drill(exported, "drill-shop")
    assert body["spec"]["suspend"] is True
    rest = {k: v for k, v in body["spec"].items() if k != "suspend"}
    assert rest == {k: v for k, v in (exported.get("spec") or {}).items() if k != "suspend"}
    assert body["metadata"] == {"name": exported["metadata"]["name"], "namespace": "drill-shop"}
    assert "status" not in body and not validated_by_dry_run(body)
    assert exported.get("spec", {}).get("suspend") is not True  # the export is not changed


def test_kinds_of_the_same_name_outside_flux_are_not_given_suspend() -> None:
    other = {"apiVersion": "example.com/v1", "kind": "HelmRelease", "metadata": {"name": "x"},
             "spec": {"chart": "x"}}
    assert for_drill(other, "d")["spec"] == {"chart": "x"}


@pytest.mark.parametrize("api, kind", [
    ("cert-manager.io/v1", "Certificate"), ("cert-manager.io/v1", "Issuer"),
    ("external-secrets.io/v1", "ExternalSecret"), ("external-secrets.io/v1", "SecretStore")])
def test_kinds_whose_controllers_act_outside_the_namespace_are_only_dry_run(
        api: str, kind: str) -> None:
    """cert-manager issues for a Certificate (an ACME order for the real domain) and registers
    an Issuer's account; the External Secrets Operator reads a store's provider and copies its
    secrets: none has a suspend, so a drill only validates them by dry run. The same kind name
    in another group is restored."""
    obj = {"apiVersion": api, "kind": kind, "metadata": {"name": "a"}, "spec": {}}
    assert validated_by_dry_run(for_drill(obj, "d"))
    assert not validated_by_dry_run({**obj, "apiVersion": "example.com/v1"})


@pytest.mark.parametrize("api, kind", [
    ("networking.k8s.io/v1", "Ingress"), ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"), ("gateway.networking.k8s.io/v1", "GRPCRoute"),
    ("gateway.networking.k8s.io/v1alpha2", "TLSRoute"),
    ("gateway.networking.k8s.io/v1alpha2", "TCPRoute"),
    ("gateway.networking.k8s.io/v1alpha2", "UDPRoute"),
    ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant")])
def test_what_routes_traffic_from_outside_is_only_dry_run(api: str, kind: str) -> None:
    """The ingress controller would serve an Ingress's hosts (production's names, merged with
    production's rules of the same host) and cert-manager's ingress-shim order a certificate for
    it; a Gateway's controller does the same for the Gateway API's objects. Any version; the
    same kind name in another group is restored. The body is otherwise as exported."""
    obj = {"apiVersion": api, "kind": kind,
           "metadata": {"name": "shop", "namespace": "shop",
                        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}},
           "spec": {"rules": [{"host": "shop.example.com"}]}}
    body = for_drill(obj, "drill-shop")
    assert validated_by_dry_run(body)
    assert body["spec"] == obj["spec"]
    assert body["metadata"]["annotations"] == obj["metadata"]["annotations"]
    assert not validated_by_dry_run({**obj, "apiVersion": "example.com/v1"})


def _service_of(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}}


@pytest.mark.parametrize("spec", [
    {"type": "LoadBalancer", "loadBalancerIP": "203.0.113.7"},
    {"type": "NodePort"},
    {"type": "ClusterIP", "externalIPs": ["203.0.113.7"]}], ids=["lb", "nodeport", "externalip"])
def test_a_service_reaching_outside_the_cluster_is_only_dry_run(spec: dict[str, Any]) -> None:
    """A LoadBalancer Service gets a real IONOS load balancer with a public IP (maybe
    production's, ``loadBalancerIP``), a NodePort one a port on every node, externalIPs have
    kube-proxy take those addresses' traffic: a drill sends them only as a dry run, with
    their type and the rest of their spec as exported (the allocated fields aside)."""
    exported = _service_of(**spec, clusterIP="10.0.0.9",
                           ports=[{"port": 80, "nodePort": 30080}])
    body = for_drill(exported, "drill-shop")
    assert exposing_service(body) and validated_by_dry_run(body)
    assert body["spec"] == {**_service_of(**spec)["spec"], "ports": [{"port": 80}]}


@pytest.mark.parametrize("spec", [{}, {"type": "ClusterIP"}, {"type": "ExternalName",
                                                              "externalName": "db.example.com"},
                                  {"type": "ClusterIP", "externalIPs": []}])
def test_a_cluster_internal_service_is_restored(spec: dict[str, Any]) -> None:
    """A Service without type is a ClusterIP one (the API server's default): restored, as are
    ExternalName ones (a DNS name inside the cluster) and one of an empty externalIPs list. A
    kind named Service in another group is not the core one."""
    body = for_drill(_service_of(**spec), "drill-shop")
    assert not exposing_service(body) and not validated_by_dry_run(body)
    other = {**_service_of(type="LoadBalancer"), "apiVersion": "example.com/v1"}
    assert not exposing_service(other) and not validated_by_dry_run(other)
    assert not exposing_service({"apiVersion": "v1", "kind": "Service", "metadata": {}})
