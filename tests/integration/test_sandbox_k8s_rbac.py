"""RBAC authorization in the sandbox Kubernetes API, through the kubernetes Python client with a
ServiceAccount's token: what it may do follows its bindings, denials are kube-apiserver's 403s,
and RBAC objects cannot grant more than their writer holds.

Sources (named again at each test):
- [rbac] plugin/pkg/auth/authorizer/rbac/rbac.go and pkg/apis/rbac/v1/evaluation_helpers.go.
- [requestinfo] k8s.io/apiserver pkg/endpoints/request/requestinfo.go.
- [forbidden] k8s.io/apiserver pkg/endpoints/handlers/responsewriters/errors.go and
  apimachinery errors.NewForbidden.
- [bootstrap] plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go (system:discovery for
  system:authenticated).
- [chain] kube-apiserver's handler chain: authentication, then authorization, before routing
  and admission (k8s.io/apiserver pkg/server/config.go DefaultBuildHandlerChain).
- [apply] k8s.io/apiserver pkg/endpoints/handlers/patch.go: an apply that creates is also
  authorized as create.
- [escalation] pkg/registry/rbac/{role,clusterrole,rolebinding}/policybased/storage.go,
  pkg/registry/rbac/validation/rule.go ConfirmNoEscalation.
- [impersonation] k8s.io/apiserver pkg/endpoints/filters/impersonation.go.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError

from sandbox.http import RunningServer, serve
from sandbox.kubernetes import KubernetesService
from sandbox.world import World

pytestmark = pytest.mark.integration

NS = "team"
USER = f"system:serviceaccount:{NS}:worker"
GROUPS = f'["system:serviceaccounts" "system:serviceaccounts:{NS}" "system:authenticated"]'


@dataclass
class Cluster:
    svc: KubernetesService
    server: RunningServer
    admin: client.ApiClient
    worker: client.ApiClient

    @property
    def rbac(self) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self.admin)

    def grant(self, name: str, rules: list[dict[str, Any]], namespace: str | None = NS) -> None:
        """A Role (or ClusterRole) ``name`` with ``rules``, bound to the worker."""
        ref = {"apiGroup": "rbac.authorization.k8s.io", "name": name,
               "kind": "Role" if namespace else "ClusterRole"}
        subject = [{"kind": "ServiceAccount", "name": "worker", "namespace": NS}]
        if namespace:
            self.rbac.create_namespaced_role(namespace, {"metadata": {"name": name},
                                                         "rules": rules})
            self.rbac.create_namespaced_role_binding(namespace, {
                "metadata": {"name": name}, "roleRef": ref, "subjects": subject})
        else:
            self.rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
            self.rbac.create_cluster_role_binding({"metadata": {"name": name}, "roleRef": ref,
                                                   "subjects": subject})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    svc = KubernetesService(World())
    server = serve(svc)
    kubeconfig = Path(tmp_path_factory.mktemp("rbac")) / "kubeconfig"
    kubeconfig.write_text(svc.kubeconfig(server.url))
    admin = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": NS}})
    core.create_namespace({"metadata": {"name": "elsewhere"}})
    core.create_namespaced_service_account(NS, {"metadata": {"name": "worker"}})
    token = core.create_namespaced_service_account_token("worker", NS, {"spec": {}}).status.token
    cfg = client.Configuration()
    cfg.host = server.url
    cfg.api_key = {"authorization": f"Bearer {token}"}
    try:
        yield Cluster(svc, server, admin, client.ApiClient(cfg))
    finally:
        server.stop()


def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(client.ApiException) as info:
        call()
    body = dict(json.loads(info.value.body))
    assert info.value.status == body["code"]
    return body


def test_a_service_account_may_only_discover_until_bound(cluster: Cluster,
                                                         tmp_path: Path) -> None:
    """[bootstrap] discovery works for any authenticated user (a DynamicClient finds kinds);
    [rbac] everything else is refused with the [forbidden] message and details."""
    dyn = DynamicClient(cluster.worker, cache_file=str(tmp_path / "discovery.json"))
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    body = refused(lambda: configmaps.get(namespace=NS))
    assert body["reason"] == "Forbidden" and body["details"] == {"kind": "configmaps"}
    assert body["message"] == (f'configmaps is forbidden: User "{USER}" cannot list resource '
                               f'"configmaps" in API group "" in the namespace "{NS}"')
    body = refused(lambda: client.AppsV1Api(cluster.worker).read_namespaced_deployment(
        "web", NS))
    assert body["message"] == (f'deployments.apps "web" is forbidden: User "{USER}" cannot get '
                               f'resource "deployments" in API group "apps" in the namespace '
                               f'"{NS}"')
    assert body["details"] == {"name": "web", "group": "apps", "kind": "deployments"}


def test_grants_follow_verbs_namespaces_names_and_subresources(cluster: Cluster) -> None:
    """[rbac] a Role grants its verbs in its namespace; resourceNames hold get and patch but
    never create or list [requestinfo]; a subresource needs its own ``res/sub`` rule."""
    cluster.grant("pods", [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch", "create"],
         "resourceNames": ["settings"]}])
    worker, admin = client.CoreV1Api(cluster.worker), client.CoreV1Api(cluster.admin)
    assert worker.list_namespaced_pod(NS).items == []
    assert refused(lambda: worker.list_namespaced_pod("elsewhere"))["code"] == 403
    assert refused(lambda: worker.list_pod_for_all_namespaces())["message"].endswith(
        'cannot list resource "pods" in API group "" at the cluster scope')
    # create carries no name, so a named create grant never applies
    assert refused(lambda: worker.create_namespaced_config_map(
        NS, {"metadata": {"name": "settings"}}))["code"] == 403
    admin.create_namespaced_config_map(NS, {"metadata": {"name": "settings"}})
    admin.create_namespaced_config_map(NS, {"metadata": {"name": "other"}})
    assert worker.read_namespaced_config_map("settings", NS).metadata.name == "settings"
    worker.patch_namespaced_config_map("settings", NS, {"data": {"a": "1"}})
    assert refused(lambda: worker.read_namespaced_config_map("other", NS))["code"] == 403
    # a list with a metadata.name field selector is authorized for that name
    named = worker.list_namespaced_config_map  # needs list on the name: not granted
    assert refused(lambda: named(NS, field_selector="metadata.name=settings"))["code"] == 403
    admin.create_namespaced_pod(NS, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "busybox"}]}})
    body = refused(lambda: worker.read_namespaced_pod_log("p", NS))
    assert body["message"] == (f'pods "p" is forbidden: User "{USER}" cannot get resource '
                               f'"pods/log" in API group "" in the namespace "{NS}"')
    assert refused(lambda: worker.read_namespaced_pod_status("p", NS))["code"] == 403


def test_authorization_comes_before_routing_admission_and_dry_runs(cluster: Cluster) -> None:
    """[chain] an unknown resource is 403, not 404, to who may not ask; a dry run is authorized
    as the write it simulates; a watch as ``watch``."""
    worker = client.CoreV1Api(cluster.worker)
    token = cluster.worker.configuration.api_key["authorization"]
    request = urllib.request.Request(f"{cluster.server.url}/api/v1/namespaces/{NS}/nosuchthings",
                                     headers={"Authorization": token})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 403
    assert json.loads(info.value.read())["message"].startswith(
        "nosuchthings is forbidden: User")
    assert refused(lambda: worker.create_namespaced_secret(
        NS, {"metadata": {"name": "s"}}, dry_run="All"))["code"] == 403
    assert refused(lambda: worker.list_namespaced_secret(NS, watch=True))["message"] == (
        f'secrets is forbidden: User "{USER}" cannot watch resource "secrets" in API group "" '
        f'in the namespace "{NS}"')


def test_an_apply_that_creates_needs_create(cluster: Cluster, tmp_path: Path) -> None:
    """[apply] server-side apply is a PATCH; when it creates the object it is authorized as
    create as well, whose denial carries only the authorizer's reason."""
    cluster.grant("apply-services", [{"apiGroups": [""], "resources": ["services"],
                                      "verbs": ["get", "patch"]}])
    dyn = DynamicClient(cluster.worker, cache_file=str(tmp_path / "discovery.json"))
    services = dyn.resources.get(api_version="v1", kind="Service")
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
           "spec": {"ports": [{"port": 80}]}}
    with pytest.raises(DynamicApiError) as info:
        services.server_side_apply(body=svc, name="web", namespace=NS, field_manager="t")
    assert json.loads(info.value.body)["message"] == 'services "web" is forbidden: '
    client.CoreV1Api(cluster.admin).create_namespaced_service(NS, svc)
    services.server_side_apply(body=svc, name="web", namespace=NS, field_manager="t")


def test_roles_grant_only_what_their_writer_holds(cluster: Cluster) -> None:
    """[escalation] a Role needs its writer to hold every rule, or ``escalate``; a binding needs
    the referenced role's rules, or ``bind``; the admin (system:masters) is exempt."""
    cluster.grant("rbac-writer", [
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
         "verbs": ["create", "update", "patch", "get"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        namespace="elsewhere")
    worker = client.RbacAuthorizationV1Api(cluster.worker)
    secrets = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
    body = refused(lambda: worker.create_namespaced_role("elsewhere", {
        "metadata": {"name": "secrets"}, "rules": [secrets]}))
    assert body["message"] == (
        f'roles.rbac.authorization.k8s.io "secrets" is forbidden: user "{USER}" '
        f"(groups={GROUPS}) is attempting to grant RBAC permissions not currently held:\n"
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}')
    worker.create_namespaced_role("elsewhere", {"metadata": {"name": "read"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})
    subject = [{"kind": "User", "name": "bob"}]
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role"}
    worker.create_namespaced_role_binding("elsewhere", {
        "metadata": {"name": "bob-read"}, "roleRef": {**ref, "name": "read"},
        "subjects": subject})
    cluster.rbac.create_namespaced_role("elsewhere", {"metadata": {"name": "secrets"},
                                                      "rules": [secrets]})
    body = refused(lambda: worker.create_namespaced_role_binding("elsewhere", {
        "metadata": {"name": "bob-secrets"}, "roleRef": {**ref, "name": "secrets"},
        "subjects": subject}))
    assert body["message"].startswith(
        'rolebindings.rbac.authorization.k8s.io "bob-secrets" is forbidden: user')
    assert refused(lambda: worker.create_namespaced_role_binding("elsewhere", {
        "metadata": {"name": "bob-none"}, "roleRef": {**ref, "name": "none"},
        "subjects": subject}))["message"] == 'roles.rbac.authorization.k8s.io "none" not found'
    cluster.grant("binder", [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
                              "verbs": ["bind"], "resourceNames": ["secrets"]},
                             {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
                              "verbs": ["escalate"]}], namespace="elsewhere")
    worker.create_namespaced_role_binding("elsewhere", {
        "metadata": {"name": "bob-secrets"}, "roleRef": {**ref, "name": "secrets"},
        "subjects": subject})
    worker.create_namespaced_role("elsewhere", {"metadata": {"name": "more"}, "rules": [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})


def test_an_aggregation_rule_needs_cluster_admin(cluster: Cluster) -> None:
    """[escalation] clusterrole storage.go: setting an aggregationRule needs cluster-admin's
    authority, whatever the rules (the rules are not aggregated: docs/sandbox.md)."""
    cluster.grant("clusterrole-writer", [{"apiGroups": ["rbac.authorization.k8s.io"],
                                          "resources": ["clusterroles"], "verbs": ["create"]}],
                  namespace=None)
    body = refused(lambda: client.RbacAuthorizationV1Api(cluster.worker).create_cluster_role({
        "metadata": {"name": "agg"}, "rules": [],
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}))
    assert body["message"] == ('clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must '
                               "have cluster-admin privileges to use the aggregationRule")
    cluster.rbac.create_cluster_role({"metadata": {"name": "agg"}, "rules": [],
                                      "aggregationRule": {"clusterRoleSelectors": [
                                          {"matchLabels": {"a": "b"}}]}})


def raw(cluster: Cluster, path: str, client_: client.ApiClient,
        headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """(status, Status body) of a GET with extra headers, as ``client_``."""
    keys = client_.configuration.api_key  # a kubeconfig's token, or the one set by hand
    auth = keys.get("BearerToken") or keys["authorization"]
    auth = auth if auth.startswith("Bearer ") else f"Bearer {auth}"
    request = urllib.request.Request(f"{cluster.server.url}{path}",
                                     headers={"Authorization": auth, **headers})
    try:
        with urllib.request.urlopen(request) as resp:
            return resp.status, dict(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        return exc.code, dict(json.loads(exc.read()))


def test_impersonation_needs_the_impersonate_verb(cluster: Cluster) -> None:
    """[impersonation] k8s.io/apiserver filters/impersonation.go: acting as another user needs
    ``impersonate`` on it (the admin has it), and the request is then that user's, RBAC
    included; a ServiceAccount may not impersonate without a grant; a group without a user is
    an error."""
    secrets = f"/api/v1/namespaces/{NS}/secrets"
    status, body = raw(cluster, secrets, cluster.admin, {"Impersonate-User": USER})
    assert (status, body["message"]) == (403, (
        f'secrets is forbidden: User "{USER}" cannot list resource "secrets" in API group "" in '
        f'the namespace "{NS}"'))
    status, body = raw(cluster, secrets, cluster.worker, {"Impersonate-User": "bob"})
    assert (status, body["message"]) == (403, (
        f'users "bob" is forbidden: User "{USER}" cannot impersonate resource "users" in API '
        'group "" at the cluster scope'))
    status, body = raw(cluster, secrets, cluster.worker,
                       {"Impersonate-User": "system:serviceaccount:elsewhere:default"})
    assert body["message"].startswith('serviceaccounts "default" is forbidden: User')
    assert body["message"].endswith('in the namespace "elsewhere"')
    assert raw(cluster, secrets, cluster.admin, {"Impersonate-Group": "x"})[0] == 500
    status, _ = raw(cluster, secrets, cluster.admin,
                    {"Impersonate-User": "bob", "Impersonate-Group": "system:masters"})
    assert status == 200
