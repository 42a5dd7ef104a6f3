"""Access reviews in the sandbox Kubernetes API: SelfSubjectAccessReview (what ``kubectl auth
can-i`` sends, as protobuf) and SubjectAccessReview, answered by the RBAC authorizer that
decides every request, with kube-apiserver's statuses and validation errors.

Sources (named again at each test):
- [ssar] pkg/registry/authorization/selfsubjectaccessreview/rest.go: the user is the requester
  (after impersonation), status.allowed/denied/reason, nothing stored.
- [sar] pkg/registry/authorization/subjectaccessreview/rest.go and
  pkg/registry/authorization/util/helpers.go AuthorizationAttributesFrom: the user exactly as
  spec.user/groups give it.
- [validation] pkg/apis/authorization/validation/validation.go, apimachinery errors.NewInvalid.
- [reason] plugin/pkg/auth/authorizer/rbac/rbac.go (``RBAC: allowed by %s``) and
  pkg/registry/rbac/validation/rule.go (the binding describers).
- [bootstrap] plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go: system:basic-user may
  create selfsubjectaccessreviews; nothing grants subjectaccessreviews to a ServiceAccount.
- [can-i] kubectl auth can-i (k8s.io/kubectl pkg/cmd/auth/cani.go): ``yes`` exits 0, ``no``
  exits 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from sandbox.http import RunningServer, serve
from sandbox.kubernetes import KubernetesService
from sandbox.world import World
from tests.conftest import missing_service

pytestmark = pytest.mark.integration

KUBECTL = "/usr/bin/kubectl"
NS = "team"
WORKER = f"system:serviceaccount:{NS}:worker"
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
ALLOWED_BY_ROLE = ('RBAC: allowed by RoleBinding "read-secrets/team" of Role "read-secrets" to '
                   'ServiceAccount "worker/team"')


@dataclass
class Cluster:
    svc: KubernetesService
    server: RunningServer
    admin_config: Path
    worker_config: Path
    worker_token: str
    tmp: Path

    def kubectl(self, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
        if not os.path.exists(KUBECTL):
            missing_service(f"{KUBECTL} is not installed on this machine: apt-get install kubectl")
        return subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir",
                               str(self.tmp / "kcache"), *args],
                              capture_output=True, text=True, timeout=60)

    def post(self, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
        token = token or self.svc.world.kubernetes_token
        req = urllib.request.Request(
            self.server.url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = Path(tmp_path_factory.mktemp("reviews"))
    svc = KubernetesService(World())
    server = serve(svc)
    admin_config = tmp / "admin"
    admin_config.write_text(svc.kubeconfig(server.url))
    admin = config.new_client_from_config(config_file=str(admin_config))
    core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    core.create_namespace({"metadata": {"name": NS}})
    core.create_namespaced_service_account(NS, {"metadata": {"name": "worker"}})
    rbac.create_namespaced_role(NS, {"metadata": {"name": "read-secrets"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(NS, {
        "metadata": {"name": "read-secrets"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "read-secrets"},
        "subjects": [{"kind": "ServiceAccount", "name": "worker"}]})
    token = core.create_namespaced_service_account_token("worker", NS, {"spec": {}}).status.token
    kubeconfig = yaml.safe_load(admin_config.read_text())
    for user in kubeconfig["users"]:
        user["user"] = {"token": token}
    worker_config = tmp / "worker"
    worker_config.write_text(yaml.safe_dump(kubeconfig))
    try:
        yield Cluster(svc, server, admin_config, worker_config, token, tmp)
    finally:
        server.stop()


def test_kubectl_auth_can_i_answers_from_the_bindings(cluster: Cluster) -> None:
    """[can-i] the real kubectl (its review sent as protobuf) is told what [ssar] RBAC allows
    the requester: the worker may list Secrets in its namespace only, the admin everywhere, and
    the admin impersonating the worker is answered for the worker; no answer is a denial."""
    cluster.svc.authorizer.denials.clear()
    cases = [
        (cluster.worker_config, ["list", "secrets", "-n", NS], "yes", 0),
        (cluster.worker_config, ["list", "secrets", "-A"], "no", 1),
        (cluster.worker_config, ["get", "secrets/x", "-n", "default"], "no", 1),
        (cluster.worker_config, ["create", "selfsubjectaccessreviews"], "yes", 0),
        (cluster.admin_config, ["list", "secrets", "-A"], "yes", 0),
        (cluster.admin_config, ["list", "secrets", "-A", "--as", WORKER], "no", 1),
        (cluster.admin_config, ["list", "secrets", "-n", NS, "--as", WORKER], "yes", 0),
    ]
    for kubeconfig, args, answer, code in cases:
        proc = cluster.kubectl(kubeconfig, "auth", "can-i", *args)
        assert (proc.stdout.strip(), proc.returncode) == (answer, code), (args, proc.stderr)
    assert list(cluster.svc.authorizer.denials) == []


def test_a_self_review_reports_the_decision_and_the_granting_binding(cluster: Cluster) -> None:
    """[ssar] through the typed Python client (JSON): allowed with the [reason] naming the
    binding; not allowed with neither denied nor reason (RBAC has no opinion, it never denies);
    non-resource paths by [bootstrap] system:discovery; an empty version matches every version
    (helpers.go matchAllVersionIfEmpty)."""
    cfg = client.Configuration()
    cfg.host = cluster.server.url
    cfg.verify_ssl = False
    cfg.api_key = {"authorization": f"Bearer {cluster.worker_token}"}
    api = client.AuthorizationV1Api(client.ApiClient(cfg))

    def ask(**attrs: Any) -> Any:
        spec = client.V1SelfSubjectAccessReviewSpec(**attrs)
        return api.create_self_subject_access_review(
            client.V1SelfSubjectAccessReview(spec=spec)).status

    status = ask(resource_attributes=client.V1ResourceAttributes(
        verb="list", resource="secrets", namespace=NS))
    assert (status.allowed, status.denied, status.reason) == (True, None, ALLOWED_BY_ROLE)
    status = ask(resource_attributes=client.V1ResourceAttributes(verb="list", resource="secrets"))
    assert (status.allowed, status.denied, status.reason) == (False, None, None)
    status = ask(non_resource_attributes=client.V1NonResourceAttributes(path="/apis",
                                                                        verb="get"))
    assert status.allowed and status.reason == (
        'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole '
        '"system:discovery" to Group "system:authenticated"')
    assert not ask(non_resource_attributes=client.V1NonResourceAttributes(
        path="/metrics", verb="get")).allowed


def test_reviews_are_validated_as_kube_apiserver_does(cluster: Cluster) -> None:
    """[validation] exactly one of resourceAttributes and nonResourceAttributes; metadata must
    be empty; the 422 names the kind with its group and an empty name."""
    both = {"resourceAttributes": {"verb": "get", "resource": "pods"},
            "nonResourceAttributes": {"path": "/api", "verb": "get"}}
    code, body = cluster.post(SSAR, {"spec": both}, cluster.worker_token)
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.nonResourceAttributes: '
        'Invalid value: authorization.NonResourceAttributes{Path:"/api", Verb:"get"}: cannot be '
        "specified in combination with resourceAttributes")
    assert body["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.nonResourceAttributes",
        "message": 'Invalid value: authorization.NonResourceAttributes{Path:"/api", '
                   'Verb:"get"}: cannot be specified in combination with resourceAttributes'}]
    code, body = cluster.post(SSAR, {"spec": {}}, cluster.worker_token)
    assert code == 422 and body["message"] == (
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: '
        'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must '
        "be specified")
    code, body = cluster.post(SSAR, {"metadata": {"name": "x"}, "spec": {
        "resourceAttributes": {"verb": "get", "resource": "pods"}}}, cluster.worker_token)
    assert code == 422 and body["details"]["causes"][0]["field"] == "metadata"
    assert body["details"]["causes"][0]["message"].endswith(": must be empty")


def test_a_subject_review_needs_create_and_checks_the_user_as_given(cluster: Cluster) -> None:
    """[sar] [bootstrap] the worker may not create one (the 403 of any refused request); the
    admin asks for the worker with its groups (allowed by its RoleBinding) and for a bare user
    name, who gets no system:authenticated and so not even discovery; user or group required
    [validation]. Nothing is stored: the collection is create-only (405 on GET)."""
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": WORKER, "groups": ["system:serviceaccounts",
                                                  f"system:serviceaccounts:{NS}",
                                                  "system:authenticated"],
                       "resourceAttributes": {"verb": "list", "resource": "secrets",
                                              "namespace": NS}}}
    code, body = cluster.post(SAR, review, cluster.worker_token)
    assert (code, body["message"]) == (403, (
        f'subjectaccessreviews.authorization.k8s.io is forbidden: User "{WORKER}" cannot create '
        'resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster '
        'scope'))
    code, body = cluster.post(SAR, review)
    assert code == 201 and body["status"] == {"allowed": True, "reason": ALLOWED_BY_ROLE}
    assert body["spec"] == review["spec"]
    bare = {"spec": {"user": "someone", "nonResourceAttributes": {"path": "/apis",
                                                                  "verb": "get"}}}
    code, body = cluster.post(SAR, bare)
    assert code == 201 and body["status"] == {"allowed": False}
    code, body = cluster.post(SAR, {"spec": {"nonResourceAttributes": {"path": "/apis",
                                                                       "verb": "get"}}})
    assert code == 422 and body["message"] == (
        'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": '
        "at least one of user or group must be specified")
    req = urllib.request.Request(cluster.server.url + SSAR, method="GET", headers={
        "Authorization": f"Bearer {cluster.svc.world.kubernetes_token}"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 405
