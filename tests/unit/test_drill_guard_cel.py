"""The shipped ValidatingAdmissionPolicy (``deploy/manifests/drill-guard.yaml``) evaluated with a
real CEL implementation (cel-python), the way the API server applies one (Kubernetes docs,
"Validating Admission Policy", kubernetes.io/docs/reference/access-authn-authz/
validating-admission-policy/): a request in scope of ``matchConstraints`` (namespace selector,
resource rules with operations) is checked only when every ``matchConditions`` expression is
true, and it is denied with the message of each ``validations`` expression that is false; the
variables are ``object``, ``oldObject`` and ``request`` (with ``kind`` and ``userInfo``).

So a run that restores a drill cannot start production copies, whatever the bucket held: the
policy, not only our drill code, keeps restored workloads inert. The expressions use standard
CEL only (``in``, ``has``, indexing), which cel-python evaluates as cel-go does. The sandbox
enforces the same policies on its API server (tests/integration/test_run_account_policies.py)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

from platform_assets.names import RUN_NAMESPACE, RUN_SERVICE_ACCOUNT

ROOT = Path(__file__).resolve().parents[2]
GUARD = ROOT / "deploy" / "manifests" / "drill-guard.yaml"
RUNNER = f"system:serviceaccount:{RUN_NAMESPACE}:{RUN_SERVICE_ACCOUNT}"
DRILL_NS = {"platform-ops/restore-drill": "true"}
GROUP_OF = {"Deployment": "apps", "StatefulSet": "apps", "ReplicaSet": "apps",
            "DaemonSet": "apps", "Job": "batch", "CronJob": "batch", "ConfigMap": "", "Pod": "",
            "ReplicationController": "", "Widget": "example.com", "Endpoints": "",
            "HelmRelease": "helm.toolkit.fluxcd.io", "Kustomization": "kustomize.toolkit.fluxcd.io",
            "GitRepository": "source.toolkit.fluxcd.io",
            "HelmRepository": "source.toolkit.fluxcd.io",
            "OCIRepository": "source.toolkit.fluxcd.io",
            "Certificate": "cert-manager.io", "Issuer": "cert-manager.io",
            "ExternalSecret": "external-secrets.io", "SecretStore": "external-secrets.io",
            "Service": "", "Ingress": "networking.k8s.io",
            "NetworkPolicy": "networking.k8s.io", "Gateway": "gateway.networking.k8s.io",
            "HTTPRoute": "gateway.networking.k8s.io", "GRPCRoute": "gateway.networking.k8s.io",
            "TLSRoute": "gateway.networking.k8s.io", "TCPRoute": "gateway.networking.k8s.io"}
PLURAL = {"Endpoints": "endpoints", "Ingress": "ingresses", "NetworkPolicy": "networkpolicies",
          "GitRepository": "gitrepositories",
          "HelmRepository": "helmrepositories", "OCIRepository": "ocirepositories"}


def _policy() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(GUARD.read_text()) if d]
    (policy,) = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"]
    (binding,) = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    return dict(policy["spec"])


@functools.cache
def _program(expression: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(expression))


def _true(expression: str, variables: dict[str, Any]) -> bool:
    return bool(_program(expression).evaluate(
        {k: celpy.json_to_cel(v) for k, v in variables.items()}))


def _in_scope(spec: dict[str, Any], kind: str, operation: str, ns_labels: dict[str, str]) -> bool:
    match = spec["matchConstraints"]
    wanted = match.get("namespaceSelector", {}).get("matchLabels", {})
    if any(ns_labels.get(k) != v for k, v in wanted.items()):
        return False
    resource = PLURAL.get(kind, kind.lower() + "s")
    return any(GROUP_OF[kind] in rule["apiGroups"]
               and (resource in rule["resources"] or "*" in rule["resources"])
               and operation in rule["operations"] for rule in match["resourceRules"])


def admit(obj: dict[str, Any], user: str = RUNNER, operation: str = "CREATE",
          ns_labels: dict[str, str] | None = None, dry_run: bool = False,
          policy: dict[str, Any] | None = None) -> list[str]:
    """The messages the API server would deny the request with ([] when admitted), by the
    shipped policy or ``policy`` (a ValidatingAdmissionPolicy's spec)."""
    spec = policy or _policy()
    kind = obj["kind"]
    if not _in_scope(spec, kind, operation, DRILL_NS if ns_labels is None else ns_labels):
        return []
    variables = {"object": obj, "oldObject": None,
                 "request": {"kind": {"group": GROUP_OF[kind], "version": "v1", "kind": kind},
                             "operation": operation, "userInfo": {"username": user},
                             "namespace": "drill-x", "dryRun": dry_run}}
    if not all(_true(c["expression"], variables) for c in spec.get("matchConditions", [])):
        return []
    return [v["message"] for v in spec["validations"] if not _true(v["expression"], variables)]


def workload(kind: str, **spec: Any) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "x", "image": "x:1"}]}}
    return {"apiVersion": f"{GROUP_OF[kind]}/v1", "kind": kind,
            "metadata": {"name": "x", "namespace": "drill-x"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template, **spec}}


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "ReplicaSet",
                                  "ReplicationController"])
def test_a_restored_workload_with_replicas_is_denied(kind: str) -> None:
    assert admit(workload(kind, replicas=2)) == [
        "workloads restored by a drill must have 0 replicas"]
    assert admit(workload(kind, replicas=0)) == []
    # Update too: scaling a restored copy up is refused as well.
    assert admit(workload(kind, replicas=1), operation="UPDATE") != []


def test_jobs_must_be_suspended_and_daemonsets_must_select_no_node() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
           "spec": {"template": {"spec": {"containers": [], "restartPolicy": "Never"}}}}
    assert admit(job) == ["Jobs and CronJobs restored by a drill must be suspended"]
    assert admit({**job, "spec": {**job["spec"], "suspend": True}}) == []
    daemon = workload("DaemonSet")
    assert admit(daemon) == ["DaemonSets restored by a drill must select no node"]
    daemon["spec"]["template"]["spec"]["nodeSelector"] = {
        "platform-ops.io/restore-drill": "no-node-has-this"}
    assert admit(daemon) == []
    daemon["spec"]["template"]["spec"]["nodeSelector"] = {
        "platform-ops.io/restore-drill": "some-node"}
    assert admit(daemon) != []


def test_only_the_run_account_in_drill_namespaces_is_constrained() -> None:
    running = workload("Deployment", replicas=3)
    assert admit(running, user="system:serviceaccount:flux-system:helm-controller") == []
    assert admit(running, ns_labels={"kubernetes.io/metadata.name": "services"}) == []
    assert admit({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                  "data": {}}) == []


def test_a_pod_is_admitted_only_as_a_dry_run() -> None:
    """A Pod has nothing that holds it: the drill only dry-runs one, which admission still
    sees (AdmissionRequest.dryRun, CEL ``request.dryRun``)."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "drill-x"},
           "spec": {"containers": [{"name": "x", "image": "x:1"}]}}
    assert admit(pod) == ["Pods are never created by a drill, only validated by dry run"]
    assert admit(pod, dry_run=True) == []


def test_kinds_include_kinds_adds_are_admitted_only_as_dry_runs() -> None:
    """The guard of a spec whose resources target adds kinds (include_kinds): their objects are
    admitted in a drill namespace only as dry runs, matched on group and kind; the built-in
    workloads' rules are unchanged by it."""
    from platform_assets.core.rbac import derive_rbac, drill_guard, load_component_manifests
    from platform_assets.spec.loader import load_spec_text

    example = ROOT / "platform" / "platform.yaml"
    old = "      include_secrets: false\n"
    text = example.read_text().replace(old, old + "      include_kinds: [example.com/v1/Widget, "
                                       "v1/Endpoints]\n")
    spec = load_spec_text(text, str(example), base_dir=example.parent)
    plan = derive_rbac(spec, load_component_manifests(spec, example.parent))
    (policy,) = [o["spec"] for o in drill_guard(plan) if o["kind"] == "ValidatingAdmissionPolicy"]
    message = ("objects of the kinds include_kinds adds are never created by a drill, only "
               "validated by dry run")
    for api, kind in (("example.com/v1", "Widget"), ("v1", "Endpoints")):
        obj = {"apiVersion": api, "kind": kind, "metadata": {"name": "w", "namespace": "drill-x"}}
        assert admit(obj, policy=policy) == [message], kind
        assert admit(obj, policy=policy, dry_run=True) == []
    assert admit(workload("Deployment", replicas=0), policy=policy) == []
    assert admit(workload("Deployment", replicas=1), policy=policy) == [
        "workloads restored by a drill must have 0 replicas"]


FLUX_DENIED = "Flux objects restored by a drill must be suspended (spec.suspend: true)"


@pytest.mark.parametrize("kind", ["HelmRelease", "Kustomization", "GitRepository",
                                  "HelmRepository", "OCIRepository"])
def test_flux_objects_are_admitted_only_suspended(kind: str) -> None:
    """Flux's controllers run with cluster-admin and reconcile a HelmRelease or Kustomization
    into any namespace (``targetNamespace``) or cluster (``kubeConfig``): in a drill namespace
    the run may create or update a Flux object, of any kind of Flux's groups, only suspended
    (or as a dry run, which stores nothing)."""
    obj = {"apiVersion": f"{GROUP_OF[kind]}/v1", "kind": kind,
           "metadata": {"name": "x", "namespace": "drill-x"},
           "spec": {"interval": "5m", "targetNamespace": "kube-system"}}
    assert admit(obj) == [FLUX_DENIED]
    assert admit({**obj, "spec": {**obj["spec"], "suspend": False}}) == [FLUX_DENIED]
    assert admit({k: v for k, v in obj.items() if k != "spec"}) == [FLUX_DENIED]
    suspended = {**obj, "spec": {**obj["spec"], "suspend": True}}
    assert admit(suspended) == []
    # Resuming a restored one is an update, and refused as well.
    assert admit(obj, operation="UPDATE") == [FLUX_DENIED]
    assert admit(obj, dry_run=True) == []
    # Flux's own controllers, and other namespaces, are not the guard's business.
    assert admit(obj, user="system:serviceaccount:flux-system:helm-controller") == []
    assert admit(obj, ns_labels={"kubernetes.io/metadata.name": "shop"}) == []


@pytest.mark.parametrize("kind", ["Certificate", "Issuer", "ExternalSecret", "SecretStore"])
def test_kinds_whose_controllers_act_outside_are_admitted_only_as_dry_runs(kind: str) -> None:
    """cert-manager would order a certificate for the real domain, External Secrets would read
    the provider: in a drill namespace these are admitted only as dry runs."""
    obj = {"apiVersion": f"{GROUP_OF[kind]}/v1", "kind": kind,
           "metadata": {"name": "x", "namespace": "drill-x"}, "spec": {}}
    assert admit(obj) == ["Certificates, Issuers, ExternalSecrets and SecretStores are never "
                          "created by a drill, only validated by dry run (their controllers act "
                          "outside the namespace)"]
    assert admit(obj, dry_run=True) == []


ROUTING_DENIED = ("Ingresses and Gateway API objects are never created by a drill, only validated "
                  "by dry run (the cluster's ingress and gateway controllers would serve their "
                  "hosts)")


@pytest.mark.parametrize("kind", ["Ingress", "Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute",
                                  "TCPRoute"])
def test_ingresses_and_gateway_routes_are_admitted_only_as_dry_runs(kind: str) -> None:
    """The ingress controller would serve production's hosts from the drill namespace (and
    cert-manager's ingress-shim order their certificates): created or updated only as dry
    runs; a NetworkPolicy of the same group is not concerned."""
    obj = {"apiVersion": f"{GROUP_OF[kind]}/v1", "kind": kind,
           "metadata": {"name": "x", "namespace": "drill-x",
                        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}},
           "spec": {"rules": [{"host": "shop.example.com"}]}}
    assert admit(obj) == [ROUTING_DENIED]
    assert admit(obj, operation="UPDATE") == [ROUTING_DENIED]
    assert admit(obj, dry_run=True) == []
    assert admit(obj, ns_labels={"kubernetes.io/metadata.name": "shop"}) == []
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "x", "namespace": "drill-x"}, "spec": {"podSelector": {}}}
    assert admit(policy) == []


SERVICE_DENIED = ("Services of type LoadBalancer or NodePort, or with externalIPs, are never "
                  "created by a drill, only validated by dry run (they reach outside the cluster)")


def service(**spec: Any) -> dict[str, Any]:
    """A Service as validating admission sees it: defaulted (``type`` ClusterIP when absent,
    pkg/apis/core/v1 SetDefaults_Service)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "drill-x"},
            "spec": {"type": "ClusterIP", "ports": [{"port": 80}], **spec}}


@pytest.mark.parametrize("spec", [{"type": "LoadBalancer"}, {"type": "NodePort"},
                                  {"externalIPs": ["203.0.113.7"]}])
def test_services_reaching_outside_are_admitted_only_as_dry_runs(spec: dict[str, Any]) -> None:
    """A LoadBalancer Service gets a public load balancer from the cloud controller, a NodePort
    one a port on every node, externalIPs kube-proxy's capture of those addresses: in a drill
    namespace only dry runs, on create and on update (a ClusterIP one turned LoadBalancer)."""
    assert admit(service(**spec)) == [SERVICE_DENIED]
    assert admit(service(**spec), operation="UPDATE") == [SERVICE_DENIED]
    assert admit(service(**spec), dry_run=True) == []
    assert admit(service(**spec), user="system:serviceaccount:shop:deployer") == []


@pytest.mark.parametrize("spec", [{}, {"externalIPs": []},
                                  {"type": "ExternalName", "externalName": "db.example.com"}])
def test_cluster_internal_services_are_admitted(spec: dict[str, Any]) -> None:
    assert admit(service(**spec)) == []
    assert admit({k: v for k, v in service().items() if k != "spec"}) == []
