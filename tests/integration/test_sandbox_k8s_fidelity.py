"""Fidelity of the sandbox Kubernetes API to the real server's documented contracts.

Each test names where the real behaviour is documented: the Kubernetes API conventions
(https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md),
the API reference (https://kubernetes.io/docs/reference/), or a client's source.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.kubernetes.api import AdmissionRequest, ApiError
from tests.integration.test_sandbox_kubernetes import Cluster, _dynamic, _start

pytestmark = pytest.mark.integration


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)


def test_admission_mutates_before_validating_plugins_see_the_object(k8s: Cluster) -> None:
    """Mutating admission runs before validating admission, on every write verb, dry runs too.

    Source: https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/
    ("the mutating phase runs first, then the validating phase").
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    seen: list[tuple[str, str, bool]] = []

    def add_label(req: AdmissionRequest) -> None:
        if req.obj is not None and req.rt.kind == "ConfigMap":
            req.obj["metadata"].setdefault("labels", {})["injected"] = "yes"

    def deny_forbidden(req: AdmissionRequest) -> None:
        seen.append((req.operation, req.name, req.dry_run))
        obj = req.obj if req.obj is not None else req.old
        assert obj is not None
        if req.obj is not None:
            assert req.obj["metadata"]["labels"]["injected"] == "yes"
        if (obj.get("data") or {}).get("forbidden"):
            raise ApiError(403, "Forbidden", f'admission webhook "deny.example" denied the '
                           f'request: {req.name} is protected')

    k8s.svc.api.mutating_admission.append(add_label)
    k8s.svc.api.validating_admission.append(deny_forbidden)
    v1 = client.CoreV1Api(k8s.api_client())
    made = v1.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert made.metadata.labels == {"injected": "yes"}
    v1.patch_namespaced_config_map("a", "default", {"data": {"x": "1"}}, dry_run="All")
    with pytest.raises(ApiException) as exc:
        v1.patch_namespaced_config_map("a", "default", {"data": {"forbidden": "1"}})
    assert exc.value.status == 403 and "deny.example" in exc.value.body
    assert ("CREATE", "a", False) in seen and ("UPDATE", "a", True) in seen
    v1.delete_namespaced_config_map("a", "default")
    assert ("DELETE", "a", False) in seen
    assert [c.metadata.name for c in v1.list_namespaced_config_map("default").items] == \
        ["kube-root-ca.crt"]


def test_lists_page_with_limit_and_continue(k8s: Cluster) -> None:
    """``limit`` returns at most that many items and a ``continue`` token for the rest; the
    pages share the first page's resourceVersion; ``remainingItemCount`` counts the rest.

    Source: https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks
    """
    from kubernetes import client

    v1 = client.CoreV1Api(k8s.api_client())
    for i in range(7):
        v1.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{i}",
                                                                 "labels": {"page": "yes"}}})
    first = v1.list_namespaced_config_map("default", label_selector="page", limit=3)
    assert [i.metadata.name for i in first.items] == ["cm-0", "cm-1", "cm-2"]
    assert first.metadata.remaining_item_count == 4 and first.metadata._continue
    names = [i.metadata.name for i in first.items]
    token = first.metadata._continue
    while token:
        page = v1.list_namespaced_config_map("default", label_selector="page", limit=3,
                                             _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
    assert names == [f"cm-{i}" for i in range(7)]
    out = k8s.kubectl("get", "configmaps", "-l", "page", "--chunk-size=2", "-o", "name")
    assert out.stdout.split() == [f"configmap/cm-{i}" for i in range(7)]
    code, body = k8s.http("GET", "/api/v1/namespaces/default/configmaps?limit=2&continue=bogus")
    assert code == 400 and body["reason"] == "BadRequest"


def test_dry_run_delete_with_options_in_the_body(k8s: Cluster) -> None:
    """``dryRun: ["All"]`` in a DELETE's DeleteOptions body deletes nothing (kubectl
    ``delete --dry-run=server`` sends it so).

    Source: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/delete-options/
    """
    k8s.http("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "keep"}})
    code, body = k8s.http("DELETE", "/api/v1/namespaces/default/configmaps/keep",
                          {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]})
    assert code == 200 and body["status"] == "Success"
    assert k8s.http("GET", "/api/v1/namespaces/default/configmaps/keep")[0] == 200
    k8s.kubectl("delete", "configmap", "keep", "--dry-run=server")
    assert k8s.http("GET", "/api/v1/namespaces/default/configmaps/keep")[0] == 200
    k8s.kubectl("delete", "configmap", "keep")
    assert k8s.http("GET", "/api/v1/namespaces/default/configmaps/keep")[0] == 404


def test_selector_watch_sees_objects_enter_and_leave(k8s: Cluster) -> None:
    """A watch with a label selector reports an object that stops matching as DELETED and one
    that starts matching as ADDED.

    Source: https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
    and the watch cache's filter (k8s.io/apiserver/pkg/storage/cacher/cache_watcher.go,
    ``convertToWatchEvent``).
    """
    from kubernetes import client, watch

    v1 = client.CoreV1Api(k8s.api_client())
    made = v1.create_namespaced_config_map("default", {"metadata": {"name": "w",
                                                                    "labels": {"tier": "a"}}})
    seen: list[tuple[str, str]] = []
    rv = made.metadata.resource_version

    def relabel(tier: str) -> None:
        v1.patch_namespaced_config_map("w", "default", {"metadata": {"labels": {"tier": tier}}})

    relabel("b")
    relabel("a")
    v1.patch_namespaced_config_map("w", "default", {"data": {"x": "1"}})
    for ev in watch.Watch().stream(v1.list_namespaced_config_map, "default",
                                   label_selector="tier=a", resource_version=rv,
                                   timeout_seconds=1):
        seen.append((ev["type"], ev["object"].metadata.labels["tier"]))
    assert seen == [("DELETED", "b"), ("ADDED", "a"), ("MODIFIED", "a")]


def test_custom_resource_generation_depends_on_the_status_subresource(k8s: Cluster) -> None:
    """With a status subresource a CR's generation changes on everything but metadata and
    status; without one it changes on everything but metadata.

    Source: https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
    """
    for kind, sub in (("Plain", {}), ("Tracked", {"status": {}})):
        plural = kind.lower() + "s"
        crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": f"{plural}.example.com"},
               "spec": {"group": "example.com", "scope": "Namespaced",
                        "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
                        "versions": [{"name": "v1", "served": True, "storage": True,
                                      "subresources": sub, "schema": {"openAPIV3Schema": {
                                          "type": "object",
                                          "x-kubernetes-preserve-unknown-fields": True}}}]}}
        assert k8s.http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                        crd)[0] == 201
        base = f"/apis/example.com/v1/namespaces/default/{plural}"
        k8s.http("POST", base, {"apiVersion": "example.com/v1", "kind": kind,
                                "metadata": {"name": "x"}, "spec": {"a": 1}})
        _, obj = k8s.http("PATCH", f"{base}/x", {"status": {"phase": "Done"}},
                          content_type="application/merge-patch+json")
        _, obj = k8s.http("PATCH", f"{base}/x", {"metadata": {"labels": {"l": "v"}}},
                          content_type="application/merge-patch+json")
        expected = 1 if sub else 2
        assert obj["metadata"]["generation"] == expected, kind
        if not sub:
            assert obj["status"] == {"phase": "Done"}


def test_every_namespace_gets_a_default_service_account_and_the_root_ca(k8s: Cluster) -> None:
    """The serviceaccount controller creates ``default`` and the root-ca-cert-publisher the
    ``kube-root-ca.crt`` ConfigMap (key ``ca.crt``) in every namespace.

    Source: https://kubernetes.io/docs/concepts/security/service-accounts/#default-service-accounts
    and https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#root-ca-certificate-configmap
    """
    from cryptography import x509

    k8s.kubectl("apply", "-f", "-", stdin="apiVersion: v1\nkind: Namespace\n"
                "metadata: {name: team-a}\n")
    sa = k8s.http("GET", "/api/v1/namespaces/team-a/serviceaccounts/default")
    assert sa[0] == 200
    code, cm = k8s.http("GET", "/api/v1/namespaces/team-a/configmaps/kube-root-ca.crt")
    assert code == 200
    cert = x509.load_pem_x509_certificate(cm["data"]["ca.crt"].encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


STANDARD_KINDS = {"endpoints", "endpointslices", "leases", "events", "limitranges",
                  "resourcequotas", "controllerrevisions", "replicasets", "replicationcontrollers",
                  "horizontalpodautoscalers", "priorityclasses", "ingressclasses",
                  "mutatingwebhookconfigurations", "validatingwebhookconfigurations",
                  "podtemplates", "csidrivers"}


def test_discovery_lists_the_standard_kinds_and_prune_works(k8s: Cluster) -> None:
    """Discovery serves the built-in kinds of a v1.32 server, so ``kubectl api-resources`` lists
    them and ``kubectl apply --prune`` (whose default allowlist includes Endpoints, ReplicaSet and
    ReplicationController) runs.

    Source: https://kubernetes.io/docs/reference/kubernetes-api/ (the v1.32 resource list) and
    kubectl's ``pkg/cmd/apply/prune.go`` default prune resources.
    """
    out = k8s.kubectl("api-resources", "-o", "name").stdout.split()
    names = {n.split(".")[0] for n in out}
    assert STANDARD_KINDS <= names, STANDARD_KINDS - names
    manifest = k8s.tmp / "set.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one, labels: {set: p}}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two, labels: {set: p}}\n")
    k8s.kubectl("apply", "-f", str(manifest), "--prune", "-l", "set=p")
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one, labels: {set: p}}\n")
    out = k8s.kubectl("apply", "-f", str(manifest), "--prune", "-l", "set=p").stdout
    assert "configmap/two pruned" in out
    assert k8s.http("GET", "/api/v1/namespaces/default/configmaps/two")[0] == 404


def _deployment(**spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
             "resources": {"requests": {"cpu": 0.5, "memory": "1024Mi"},
                           "limits": {"cpu": "1000m", "memory": "1Gi"}}}]}}}
    spec.update(spec_overrides)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": spec}


def test_field_validation_strict_warn_and_ignore(k8s: Cluster) -> None:
    """Unknown fields are dropped; ``fieldValidation=Strict`` rejects them with a BadRequest
    naming each, ``Warn`` (the default) answers a ``Warning`` header, ``Ignore`` is silent;
    kubectl (``--validate=strict``, its default) sends Strict.

    Source: https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation
    """
    base = "/apis/apps/v1/namespaces/default/deployments"
    body = _deployment(replicaz=3)
    code, status = k8s.http("POST", base + "?fieldValidation=Strict", body)
    assert code == 400 and status["reason"] == "BadRequest"
    assert 'unknown field "spec.replicaz"' in status["message"]
    req = urllib.request.Request(k8s.url + base + "?fieldValidation=Warn", method="POST",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **k8s.auth})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201
        assert 'unknown field \\"spec.replicaz\\"' in resp.headers["Warning"] or \
            'unknown field "spec.replicaz"' in resp.headers["Warning"]
        stored = json.loads(resp.read())
    assert "replicaz" not in stored["spec"]
    manifest = k8s.tmp / "d.yaml"
    manifest.write_text(json.dumps({**_deployment(replicaz=3),
                                    "metadata": {"name": "strict"}}))
    proc = k8s.kubectl("apply", "--server-side", "-f", str(manifest), check=False)
    assert proc.returncode != 0 and ".spec.replicaz: field not declared in schema" in \
        proc.stderr
    proc = k8s.kubectl("apply", "--server-side", "--validate=false", "-f", str(manifest))
    assert "serverside-applied" in proc.stdout


def test_wrong_types_are_rejected_with_a_status(k8s: Cluster) -> None:
    """A value of the wrong JSON type does not decode: 400 BadRequest, a Status naming the
    field and the Go type, nothing stored.

    Source: https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation
    ("the decoding of the request fails") and k8s.io/apimachinery's json serializer errors.
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    apps = client.AppsV1Api(k8s.api_client())
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment("default", _deployment(replicas="three"))
    body = json.loads(exc.value.body)
    assert exc.value.status == 400 and body["kind"] == "Status"
    assert "spec.replicas of type int32" in body["message"]
    assert apps.list_namespaced_deployment("default").items == []


def test_label_values_and_selector_must_match_the_template(k8s: Cluster) -> None:
    """Label values are at most 63 characters of ``[A-Za-z0-9_.-]`` starting and ending
    alphanumeric; a Deployment's selector must select its pod template's labels: 422 Invalid
    with causes.

    Source: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set
    and https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#selector
    """
    base = "/apis/apps/v1/namespaces/default/deployments"
    bad_label = _deployment()
    bad_label["metadata"]["labels"] = {"tier": "front end!"}
    code, status = k8s.http("POST", base, bad_label)
    assert code == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "metadata.labels"
    mismatch = _deployment(selector={"matchLabels": {"app": "other"}})
    code, status = k8s.http("POST", base, mismatch)
    assert code == 422 and "`selector` does not match template `labels`" in status["message"]
    assert status["details"]["causes"][0]["field"] == "spec.template.metadata.labels"


def test_defaults_and_canonical_quantities(k8s: Cluster) -> None:
    """The server defaults a Deployment (replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit
    10, progressDeadlineSeconds 600), its pod template (restartPolicy, dnsPolicy,
    terminationGracePeriodSeconds, container terminationMessagePath, imagePullPolicy, port
    protocol TCP) and stores quantities in canonical form; re-applying the same manifest changes
    nothing (same generation and spec).

    Source: k8s.io/kubernetes pkg/apis/apps/v1/defaults.go, pkg/apis/core/v1/defaults.go and
    https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
    """
    dyn = _dynamic(k8s)
    res = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    first = res.server_side_apply(body=_deployment(), name="web", namespace="default",
                                  field_manager="fidelity").to_dict()
    spec = first["spec"]
    assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) \
        == (1, 10, 600)
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": "25%", "maxUnavailable": "25%"}}
    pod = spec["template"]["spec"]
    assert (pod["restartPolicy"], pod["dnsPolicy"], pod["terminationGracePeriodSeconds"]) == \
        ("Always", "ClusterFirst", 30)
    container = pod["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"},
                                      "limits": {"cpu": "1", "memory": "1Gi"}}
    again = res.server_side_apply(body=_deployment(), name="web", namespace="default",
                                  field_manager="fidelity").to_dict()
    assert again["metadata"]["generation"] == 1 and again["spec"] == first["spec"]
    owned = json.dumps(first["metadata"]["managedFields"][0]["fieldsV1"])
    assert "f:revisionHistoryLimit" not in owned  # defaults are not the applier's fields


def test_service_cluster_ip_is_allocated_and_a_taken_one_is_refused(k8s: Cluster) -> None:
    """A Service gets a clusterIP from the service range and ports default to TCP with
    targetPort = port; asking for an IP another Service holds (e.g. re-creating an exported
    Service in another namespace) is 422 "provided IP is already allocated".

    Source: https://kubernetes.io/docs/concepts/services-networking/cluster-ip-allocation/
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    v1 = client.CoreV1Api(k8s.api_client())
    svc = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"},
                                                  "ports": [{"port": 80}]}}
    made = v1.create_namespaced_service("default", svc)
    ip = made.spec.cluster_ip
    assert ip and made.spec.cluster_ips == [ip] and made.spec.type == "ClusterIP"
    assert (made.spec.ports[0].protocol, made.spec.ports[0].target_port) == ("TCP", 80)
    v1.create_namespace({"metadata": {"name": "scratch"}})
    with pytest.raises(ApiException) as exc:
        v1.create_namespaced_service("scratch", {**svc, "spec": {**svc["spec"],
                                                                 "clusterIP": ip}})
    body = json.loads(exc.value.body)
    assert exc.value.status == 422 and "provided IP is already allocated" in body["message"]
    assert v1.create_namespaced_service("scratch", svc).spec.cluster_ip != ip


def test_openapi_documents_serve_schemas_for_kubectl_explain(k8s: Cluster) -> None:
    """``/openapi/v3/apis/<group>/<version>`` carries each kind's schema with
    ``x-kubernetes-group-version-kind``, so ``kubectl explain`` describes fields; ``/openapi/v2``
    serves the Swagger 2.0 definitions as JSON.

    Source: https://kubernetes.io/docs/concepts/overview/kubernetes-api/#openapi-interface-definition
    """
    out = k8s.kubectl("explain", "deployment.spec.replicas").stdout
    assert "replicas" in out and "Number of desired pods" in out
    out = k8s.kubectl("explain", "pods.spec.containers.resources").stdout
    assert "limits" in out and "requests" in out
    code, doc = k8s.http("GET", "/openapi/v2")
    assert code == 200 and doc["swagger"] == "2.0"
    assert any(d.get("x-kubernetes-group-version-kind") == [
        {"group": "apps", "version": "v1", "kind": "Deployment"}]
        for d in doc["definitions"].values())


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "required": ["size"], "properties": {
                                   "size": {"type": "integer", "minimum": 1},
                                   "color": {"type": "string", "enum": ["red", "blue"]},
                                   "extra": {"type": "object",
                                             "x-kubernetes-preserve-unknown-fields": True}}},
                               "status": {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


def test_custom_resources_are_validated_and_pruned_by_their_crd_schema(k8s: Cluster) -> None:
    """A custom resource is checked against its version's ``openAPIV3Schema``: wrong types,
    enum, required and minimum are 422 Invalid with causes; unknown fields are pruned (kept
    under ``x-kubernetes-preserve-unknown-fields``), and rejected with ``fieldValidation=Strict``;
    ``kubectl explain`` reads the schema.

    Source: https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation
    and #field-pruning
    """
    assert k8s.http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                    WIDGET_CRD)[0] == 201
    base = "/apis/example.com/v1/namespaces/default/widgets"

    def widget(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name},
                "spec": spec}

    code, status = k8s.http("POST", base, widget("a", {"size": "big", "color": "green"}))
    assert code == 422 and status["reason"] == "Invalid"
    fields = {c["field"]: c["message"] for c in status["details"]["causes"]}
    assert "must be of type integer" in fields["spec.size"]
    assert "supported values" in fields["spec.color"]
    code, status = k8s.http("POST", base, widget("a", {"size": 0}))
    assert code == 422 and "greater than or equal to 1" in status["message"]
    code, status = k8s.http("POST", base, widget("a", {}))
    assert code == 422 and status["details"]["causes"][0]["field"] == "spec.size"
    code, status = k8s.http("POST", base + "?fieldValidation=Strict",
                            widget("a", {"size": 1, "shape": "round"}))
    assert code == 400 and 'unknown field "spec.shape"' in status["message"]
    code, made = k8s.http("POST", base, widget("a", {"size": 1, "shape": "round",
                                                     "extra": {"any": ["thing"]}}))
    assert code == 201 and made["spec"] == {"size": 1, "extra": {"any": ["thing"]}}
    assert "size" in k8s.kubectl("explain", "widgets.spec").stdout


def test_a_create_is_validated_and_admitted_before_its_name_is_found_taken(k8s: Cluster) -> None:
    """A POST runs mutating admission (NamespaceLifecycle first), the strategy's validation,
    validating admission, and only then the storage's create: an invalid body under a taken
    name is 422 Invalid, a denied one the plugin's error, a valid one 409 AlreadyExists (dry runs
    too); a missing namespace is 404 before the body is validated; a name taken by an object
    being deleted is 409 ``object is being deleted: ...``.

    Source: kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/endpoints/handlers/create.go
    (mutating admission, then ``r.Create``) and pkg/registry/generic/registry/store.go
    ``create`` (``rest.BeforeCreate``, then ``createValidation``, then ``e.Storage.Create``,
    whose AlreadyExists gets the ``object is being deleted: `` prefix when the stored object has
    a deletionTimestamp); pkg/admission/plugin/namespace/lifecycle/admission.go (``Admit``).
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    v1 = client.CoreV1Api(k8s.api_client())

    def create_error(body: dict[str, Any], ns: str = "default", **kw: Any) -> tuple[int, Any]:
        with pytest.raises(ApiException) as exc:
            v1.create_namespaced_config_map(ns, body, **kw)
        return exc.value.status, json.loads(exc.value.body)

    v1.create_namespaced_config_map("default", {"metadata": {"name": "taken"}})
    invalid = {"metadata": {"name": "taken", "labels": {"tier": "front end!"}}}
    for kw in ({}, {"dry_run": "All"}):
        code, status = create_error(invalid, **kw)
        assert (code, status["reason"]) == (422, "Invalid"), status
        assert status["details"]["causes"][0]["field"] == "metadata.labels"
        code, status = create_error({"metadata": {"name": "taken"}}, **kw)
        assert (code, status["reason"], status["message"]) == (
            409, "AlreadyExists", 'configmaps "taken" already exists')
    code, status = create_error(invalid, ns="nowhere")
    assert (code, status["reason"], status["message"]) == (
        404, "NotFound", 'namespaces "nowhere" not found')

    def deny(req: AdmissionRequest) -> None:
        if req.obj is not None and (req.obj.get("data") or {}).get("forbidden"):
            raise ApiError(403, "Forbidden", 'admission webhook "deny.example" denied the '
                           "request")

    def fix_label(req: AdmissionRequest) -> None:
        labels = (req.obj or {}).get("metadata", {}).get("labels") or {}
        if labels.get("tier") == "front end!":
            labels["tier"] = "frontend"

    k8s.svc.api.validating_admission.append(deny)
    code, status = create_error({"metadata": {"name": "taken"}, "data": {"forbidden": "1"}})
    assert code == 403 and "deny.example" in status["message"]
    # Validation sees the object as mutating admission left it.
    k8s.svc.api.mutating_admission.append(fix_label)
    code, status = create_error(invalid)
    assert code == 409 and status["reason"] == "AlreadyExists"

    proc = k8s.kubectl("create", "configmap", "taken", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == \
        'error: failed to create configmap: configmaps "taken" already exists'
    made = v1.create_namespaced_config_map("default", {"metadata": {"generateName": "gen-"}})
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == 9

    v1.patch_namespaced_config_map("taken", "default",
                                   {"metadata": {"finalizers": ["example.com/hold"]}})
    v1.delete_namespaced_config_map("taken", "default")
    code, status = create_error({"metadata": {"name": "taken"}})
    assert (code, status["message"]) == (
        409, 'object is being deleted: configmaps "taken" already exists')


def test_a_custom_resource_create_under_a_taken_name_is_validated_first(k8s: Cluster) -> None:
    """The CRD's schema validation is the strategy's Validate, so it too answers before the
    storage's AlreadyExists.

    Source: kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/registry/generic/registry/
    store.go ``create``; apiextensions-apiserver pkg/registry/customresource/strategy.go
    ``Validate``.
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    assert k8s.http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                    WIDGET_CRD)[0] == 201
    api = client.CustomObjectsApi(k8s.api_client())

    def widget(size: Any) -> dict[str, Any]:
        return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                "spec": {"size": size}}

    create = lambda body: api.create_namespaced_custom_object(  # noqa: E731
        "example.com", "v1", "default", "widgets", body)
    create(widget(1))
    for body, code in ((widget(0), 422), (widget(2), 409)):
        with pytest.raises(ApiException) as exc:
            create(body)
        assert exc.value.status == code, exc.value.body


def test_a_dry_run_delete_held_by_finalizers_answers_the_marked_object(k8s: Cluster) -> None:
    """A DELETE of an object with pending finalizers answers the object with deletionTimestamp
    and deletionGracePeriodSeconds 0 set, not a Status; a dry run answers the same object and
    stores nothing. Without finalizers a dry run answers the Status and keeps the object.

    Source: kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/registry/generic/registry/
    store.go ``Delete`` (``updateForGracefulDeletionAndFinalizers`` runs its GuaranteedUpdate
    with the request's dryRun and returns the updated ``out`` with ``deleteImmediately`` false
    while finalizers are pending; ``markAsDeleting``), ``finalizeDelete`` for the Status.
    """
    from kubernetes import client

    v1 = client.CoreV1Api(k8s.api_client())
    v1.create_namespaced_config_map("default", {"metadata": {
        "name": "held", "finalizers": ["example.com/hold"]}})
    before = k8s.http("GET", "/api/v1/namespaces/default/configmaps/held")[1]
    code, body = k8s.http("DELETE", "/api/v1/namespaces/default/configmaps/held?dryRun=All")
    assert code == 200 and body["kind"] == "ConfigMap", body
    assert body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["deletionGracePeriodSeconds"] == 0
    assert body["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert k8s.http("GET", "/api/v1/namespaces/default/configmaps/held")[1] == before
    proc = k8s.kubectl("delete", "configmap", "held", "--dry-run=server")
    assert proc.stdout.strip() == 'configmap "held" deleted (server dry run)'
    assert k8s.http("GET", "/api/v1/namespaces/default/configmaps/held")[1] == before

    # The real delete answers the same shape, and stores it.
    code, body = k8s.http("DELETE", "/api/v1/namespaces/default/configmaps/held")
    assert code == 200 and body["kind"] == "ConfigMap" and body["metadata"]["deletionTimestamp"]
    assert k8s.http("GET", "/api/v1/namespaces/default/configmaps/held")[1][
        "metadata"]["deletionTimestamp"] == body["metadata"]["deletionTimestamp"]

    # Propagation's finalizer holds it too: foreground deletion on a dry run.
    v1.create_namespaced_config_map("default", {"metadata": {"name": "plain"}})
    code, body = k8s.http("DELETE", "/api/v1/namespaces/default/configmaps/plain",
                          {"dryRun": ["All"], "propagationPolicy": "Foreground"})
    assert code == 200 and body["metadata"]["finalizers"] == ["foregroundDeletion"], body
    assert "finalizers" not in k8s.http(
        "GET", "/api/v1/namespaces/default/configmaps/plain")[1]["metadata"]
    code, body = k8s.http("DELETE", "/api/v1/namespaces/default/configmaps/plain?dryRun=All")
    assert code == 200 and body["kind"] == "Status" and body["status"] == "Success"
    assert k8s.http("GET", "/api/v1/namespaces/default/configmaps/plain")[0] == 200
