"""Immutable fields of the built-in kinds: the sandbox's API refuses an update that changes one
with kube-apiserver v1.32's 422 Invalid, on every write path (PUT, JSON/merge/strategic patch,
server-side apply, dry runs), leaves the object as it was, and still accepts the updates the
real server allows.

Each test names the kube-apiserver function whose rule it emulates (kubernetes/kubernetes,
release-1.32).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_sandbox_kubernetes import Cluster, _start, claim_user, wait_for

pytestmark = pytest.mark.integration

SELECTOR_IMMUTABLE = (
    'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, '
    "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)


def refused(call: Callable[[], Any]) -> dict[str, Any]:
    """The Status of a write the server must answer with 422 Invalid."""
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as exc:
        call()
    assert exc.value.status == 422, exc.value.body
    status: dict[str, Any] = json.loads(exc.value.body)
    assert status["kind"] == "Status" and status["reason"] == "Invalid"
    return status


def causes(status: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["reason"], c["field"], c["message"]) for c in status["details"]["causes"]]


def _workload(kind: str, name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                     {"name": "c", "image": "nginx:1.27"}]}}, **spec}}
    return body


def test_deployment_selector_is_immutable_on_every_write_path(k8s: Cluster) -> None:
    """A Deployment's ``spec.selector`` may not change: PUT, strategic/merge/JSON patch,
    server-side apply (kubectl and the Python client) and their dry runs are all 422 with the
    apiserver's exact message; the object is unchanged; replicas and template changes pass.

    Source: pkg/registry/apps/deployment/strategy.go ``ValidateUpdate`` ("disallow mutation of
    selector", apimachinery ``ValidateImmutableField``: ``field is immutable``), the message as
    apimachinery ``errors.NewInvalid`` and ``field.Error.ErrorBody`` (``%#v`` of the value)
    build it.
    """
    from kubernetes import client

    apps = client.AppsV1Api(k8s.api_client())
    apps.create_namespaced_deployment("default", _workload("Deployment", "web", {"app": "web"}))
    before = apps.read_namespaced_deployment("web", "default")
    changed = _workload("Deployment", "web", {"app": "web2"})
    expected = f'Deployment.apps "web" is invalid: spec.selector: {SELECTOR_IMMUTABLE}'
    put_body = {**changed, "metadata": {"name": "web"}}
    writes: list[Callable[[], Any]] = [
        lambda: apps.replace_namespaced_deployment("web", "default", put_body),
        lambda: apps.replace_namespaced_deployment("web", "default", put_body, dry_run="All"),
        lambda: apps.patch_namespaced_deployment("web", "default", changed),  # strategic
        lambda: apps.patch_namespaced_deployment(
            "web", "default", [{"op": "replace", "path": "/spec/selector/matchLabels/app",
                                "value": "web2"},
                               {"op": "replace", "path": "/spec/template/metadata/labels/app",
                                "value": "web2"}]),
        lambda: apps.patch_namespaced_deployment("web", "default", changed,
                                                 field_manager="kubectl", dry_run="All"),
    ]
    for write in writes:
        status = refused(write)
        assert status["message"] == expected
        assert status["details"]["name"] == "web" and status["details"]["group"] == "apps"
        assert status["details"]["kind"] == "Deployment"
        assert causes(status) == [("FieldValueInvalid", "spec.selector", SELECTOR_IMMUTABLE)]
    merge = k8s.http("PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
                     {"spec": {"selector": {"matchLabels": {"app": "web2"}},
                               "template": {"metadata": {"labels": {"app": "web2"}}}}},
                     "application/merge-patch+json")
    assert merge[0] == 422 and merge[1]["message"] == expected
    manifest = k8s.tmp / "web2.yaml"
    manifest.write_text(json.dumps(changed))
    proc = k8s.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest),
                       check=False)
    assert proc.returncode != 0
    # kubectl words the Status as ``The <Kind> "<name>" is invalid: <field>: <message>``.
    assert f'The Deployment "web" is invalid: spec.selector: {SELECTOR_IMMUTABLE}' in proc.stderr
    after = apps.read_namespaced_deployment("web", "default")
    assert after.metadata.generation == before.metadata.generation
    assert after.spec == before.spec
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    allowed = _workload("Deployment", "web", {"app": "web"}, replicas=2)
    allowed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    manifest.write_text(json.dumps(allowed))
    k8s.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    now = apps.read_namespaced_deployment("web", "default")
    assert now.spec.replicas == 2 and now.spec.template.spec.containers[0].image == "nginx:1.28"


def test_replicaset_and_daemonset_selectors_are_immutable(k8s: Cluster) -> None:
    """ReplicaSet and DaemonSet selectors may not change either; their templates may.

    Source: pkg/registry/apps/replicaset/strategy.go and pkg/registry/apps/daemonset/strategy.go
    ``ValidateUpdate`` (``ValidateImmutableField`` of ``spec.selector``).
    """
    from kubernetes import client

    apps = client.AppsV1Api(k8s.api_client())
    for kind, create, patch, read in (
            ("ReplicaSet", apps.create_namespaced_replica_set, apps.patch_namespaced_replica_set,
             apps.read_namespaced_replica_set),
            ("DaemonSet", apps.create_namespaced_daemon_set, apps.patch_namespaced_daemon_set,
             apps.read_namespaced_daemon_set)):
        create("default", _workload(kind, "web", {"app": "web"}))
        status = refused(lambda patch=patch, kind=kind: patch(  # type: ignore[misc]
            "web", "default", _workload(kind, "web", {"app": "web2"})))
        assert status["message"] == f'{kind}.apps "web" is invalid: spec.selector: ' \
            f"{SELECTOR_IMMUTABLE}"
        assert read("web", "default").spec.selector.match_labels == {"app": "web"}
        patch("web", "default", {"spec": {"template": {"metadata": {
            "labels": {"app": "web", "tier": "front"}}}}})
        assert read("web", "default").spec.template.metadata.labels["tier"] == "front"


STATEFULSET_FORBIDDEN = (
    "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
    "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
    "'minReadySeconds' are forbidden")


def test_statefulset_spec_is_immutable_but_for_its_listed_fields(k8s: Cluster) -> None:
    """A StatefulSet update may change replicas, ordinals, template, updateStrategy,
    persistentVolumeClaimRetentionPolicy and minReadySeconds; any other spec change
    (volumeClaimTemplates, serviceName, revisionHistoryLimit in v1.32) is Forbidden on ``spec``.

    Source: pkg/apis/apps/validation/validation.go ``ValidateStatefulSetUpdate`` (release-1.32;
    revisionHistoryLimit became mutable only later, kubernetes/kubernetes#130263).
    """
    from kubernetes import client

    apps = client.AppsV1Api(k8s.api_client())
    claim = {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    apps.create_namespaced_stateful_set("default", _workload(
        "StatefulSet", "db", {"app": "db"}, serviceName="db", volumeClaimTemplates=[claim]))
    before = apps.read_namespaced_stateful_set("db", "default")
    bigger = {**claim, "spec": {**claim["spec"], "resources": {"requests": {"storage": "2Gi"}}}}
    for change in ({"spec": {"volumeClaimTemplates": [bigger]}},
                   {"spec": {"serviceName": "other"}},
                   {"spec": {"revisionHistoryLimit": 3}}):
        status = refused(lambda change=change: apps.patch_namespaced_stateful_set(
            "db", "default", change))
        assert status["message"] == f'StatefulSet.apps "db" is invalid: spec: ' \
            f"{STATEFULSET_FORBIDDEN}"
        assert causes(status) == [("FieldValueForbidden", "spec", STATEFULSET_FORBIDDEN)]
    after = apps.read_namespaced_stateful_set("db", "default")
    assert after.metadata.generation == before.metadata.generation
    assert after.spec == before.spec
    apps.patch_namespaced_stateful_set("db", "default", {"spec": {
        "replicas": 2, "minReadySeconds": 5, "updateStrategy": {"type": "OnDelete"},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"},
        "template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.28"}]}}}})
    now = apps.read_namespaced_stateful_set("db", "default")
    assert (now.spec.replicas, now.spec.min_ready_seconds) == (2, 5)
    assert now.spec.template.spec.containers[0].image == "nginx:1.28"


def _job(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "c", "image": "busybox:1.36"}]}}, **spec}}


def test_job_template_selector_completions_and_mode_are_immutable(k8s: Cluster) -> None:
    """A Job's template, selector, completions (NonIndexed) and completionMode may not change;
    a suspended Job that never started may change its pod template's scheduling directives
    (nodeSelector, tolerations, labels, annotations) but not its containers; an Indexed Job's
    completions change only together with parallelism.

    Source: pkg/apis/batch/validation/validation.go ``ValidateJobSpecUpdate``,
    ``validatePodTemplateUpdate`` and ``validateCompletions`` (ElasticIndexedJob, GA in 1.31),
    with pkg/registry/batch/job/strategy.go's AllowMutableSchedulingDirectives (suspended and
    no ``status.startTime``).
    """
    from kubernetes import client

    batch = client.BatchV1Api(k8s.api_client())
    batch.create_namespaced_job("default", _job("run"))
    status = refused(lambda: batch.patch_namespaced_job("run", "default", {"spec": {
        "template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}}))
    assert causes(status) == [("FieldValueInvalid", "spec.template",
                               "Invalid value: core.PodTemplateSpec{...}: field is immutable")]
    status = refused(lambda: batch.patch_namespaced_job("run", "default",
                                                        {"spec": {"completions": 3}}))
    assert status["message"] == 'Job.batch "run" is invalid: spec.completions: ' \
        "Invalid value: 3: field is immutable"
    status = refused(lambda: batch.patch_namespaced_job(
        "run", "default", {"spec": {"completionMode": "Indexed"}}))
    assert ("FieldValueInvalid", "spec.completionMode",
            'Invalid value: "Indexed": field is immutable') in causes(status)
    status = refused(lambda: batch.patch_namespaced_job("run", "default", {"spec": {
        "selector": {"matchLabels": {"app": "other"}}}}))
    # The strategic patch merges into the generated selector, which then no longer matches
    # the template's labels: both errors come in the same Status.
    [selector_error] = [c for c in causes(status) if c[1] == "spec.selector"
                        and c[2].endswith("field is immutable")]
    assert selector_error[2].startswith('Invalid value: v1.LabelSelector{MatchLabels:'
                                        'map[string]string{"app":"other", ')
    assert selector_error[2].endswith("}: field is immutable")
    assert batch.read_namespaced_job("run", "default").spec.completions == 1

    batch.create_namespaced_job("default", _job("held", suspend=True))
    batch.patch_namespaced_job("held", "default", {"spec": {"template": {
        "metadata": {"annotations": {"queue": "a"}},
        "spec": {"nodeSelector": {"disk": "ssd"},
                 "tolerations": [{"key": "batch", "operator": "Exists"}]}}}})
    held = batch.read_namespaced_job("held", "default")
    assert held.spec.template.spec.node_selector == {"disk": "ssd"}
    status = refused(lambda: batch.patch_namespaced_job("held", "default", {"spec": {
        "template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}}}))
    assert [c[1] for c in causes(status)] == ["spec.template"]

    batch.create_namespaced_job("default", _job("indexed", completionMode="Indexed",
                                                completions=2, parallelism=2))
    status = refused(lambda: batch.patch_namespaced_job("indexed", "default",
                                                        {"spec": {"completions": 4}}))
    assert causes(status) == [("FieldValueInvalid", "spec.completions", "Invalid value: 4: can "
                               "only be modified in tandem with spec.parallelism")]
    batch.patch_namespaced_job("indexed", "default", {"spec": {"completions": 4,
                                                               "parallelism": 4}})
    assert batch.read_namespaced_job("indexed", "default").spec.completions == 4


def test_service_cluster_ip_and_load_balancer_class_may_not_change(k8s: Cluster) -> None:
    """A Service's clusterIP may not change once set (an update that omits it keeps it); a
    ClusterIP Service may become ExternalName; a LoadBalancer's loadBalancerClass may not
    change.

    Source: pkg/apis/core/validation/validation.go ``ValidateServiceUpdate``
    (``validateUpgradeDowngradeClusterIPs``, ``validateLoadBalancerClassField``) and
    pkg/registry/core/service/strategy.go ``patchAllocatedValues``.
    """
    from kubernetes import client

    v1 = client.CoreV1Api(k8s.api_client())
    made = v1.create_namespaced_service("default", {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80}]}})
    ip = made.spec.cluster_ip
    other = "10.233.0.99" if ip != "10.233.0.99" else "10.233.0.98"
    status = refused(lambda: v1.patch_namespaced_service("web", "default", {"spec": {
        "clusterIP": other, "clusterIPs": [other]}}))
    assert status["message"] == 'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: ' \
        f'[]string{{"{other}"}}: may not change once set'
    assert status["details"]["group"] == "" and "name" in status["details"]
    replaced = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"},
                                                      "ports": [{"port": 8080}]}}
    assert v1.replace_namespaced_service("web", "default", replaced).spec.cluster_ip == ip
    ext = v1.patch_namespaced_service("web", "default", {"spec": {
        "type": "ExternalName", "externalName": "db.example.com", "clusterIP": "",
        "clusterIPs": None}})
    assert ext.spec.type == "ExternalName"

    v1.create_namespaced_service("default", {"metadata": {"name": "lb"}, "spec": {
        "type": "LoadBalancer", "loadBalancerClass": "example.com/a",
        "selector": {"app": "web"}, "ports": [{"port": 80}]}})
    status = refused(lambda: v1.patch_namespaced_service("lb", "default", {"spec": {
        "loadBalancerClass": "example.com/b"}}))
    assert causes(status) == [("FieldValueInvalid", "spec.loadBalancerClass",
                               'Invalid value: "example.com/b": may not change once set')]


PVC_FORBIDDEN = ("Forbidden: spec is immutable after creation except resources.requests and "
                 "volumeAttributesClassName for bound claims")


def test_pvc_spec_is_immutable_but_a_bound_claim_can_grow(k8s: Cluster) -> None:
    """A PVC's spec is immutable after creation except, once Bound, ``resources.requests`` and
    ``volumeAttributesClassName``; the request may not go down to ``status.capacity``; a
    Pending claim may not even change its request.

    Source: pkg/apis/core/validation/validation.go ``ValidatePersistentVolumeClaimUpdate``
    (release-1.32, RecoverVolumeExpansionFailure beta and on: "field can not be less than
    status.capacity"). The real message ends with a go-cmp diff whose text is deliberately
    unstable, so only its first line is compared.
    """
    from kubernetes import client

    v1 = client.CoreV1Api(k8s.api_client())
    v1.create_namespaced_persistent_volume_claim("default", {"metadata": {"name": "data"},
                                                             "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
        "storageClassName": "ionos-enterprise-ssd"}})
    v1.create_namespaced_pod("default", claim_user("data"))  # WaitForFirstConsumer
    bound = wait_for(lambda: (lambda c: c if c.status.phase == "Bound" else None)(
        v1.read_namespaced_persistent_volume_claim("data", "default")), what="PVC bound")
    for change in ({"spec": {"accessModes": ["ReadWriteMany"]}},
                   {"spec": {"storageClassName": "ionos-enterprise-hdd"}}):
        status = refused(lambda change=change: v1.patch_namespaced_persistent_volume_claim(
            "data", "default", change))
        [(reason, fld, message)] = causes(status)
        assert (reason, fld) == ("FieldValueForbidden", "spec")
        assert message.split("\n")[0] == PVC_FORBIDDEN
        assert status["message"].startswith(
            f'PersistentVolumeClaim "data" is invalid: spec: {PVC_FORBIDDEN}\n')
    status = refused(lambda: v1.patch_namespaced_persistent_volume_claim("data", "default", {
        "spec": {"resources": {"requests": {"storage": "512Mi"}}}}))
    assert causes(status) == [("FieldValueForbidden", "spec.resources.requests.storage",
                               "Forbidden: field can not be less than status.capacity")]
    same = v1.read_namespaced_persistent_volume_claim("data", "default")
    assert same.metadata.resource_version == bound.metadata.resource_version
    grown = v1.patch_namespaced_persistent_volume_claim("data", "default", {
        "spec": {"resources": {"requests": {"storage": "2Gi"}}}})
    assert grown.spec.resources.requests["storage"] == "2Gi"

    # A Longhorn class with no Longhorn manager running: the claim stays Pending.
    client.StorageV1Api(k8s.api_client()).create_storage_class({
        "metadata": {"name": "longhorn"}, "provisioner": "driver.longhorn.io"})
    v1.create_namespaced_persistent_volume_claim("default", {"metadata": {"name": "pending"},
                                                             "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
        "storageClassName": "longhorn"}})
    status = refused(lambda: v1.patch_namespaced_persistent_volume_claim("pending", "default", {
        "spec": {"resources": {"requests": {"storage": "2Gi"}}}}))
    assert [c[1] for c in causes(status)] == ["spec"]


def test_pv_source_and_node_affinity_are_immutable(k8s: Cluster) -> None:
    """A PersistentVolume's volume source and (once set) node affinity may not change; its
    reclaim policy may.

    Source: pkg/apis/core/validation/validation.go ``ValidatePersistentVolumeUpdate``.
    """
    from kubernetes import client

    v1 = client.CoreV1Api(k8s.api_client())
    affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}]}}
    v1.create_persistent_volume({"metadata": {"name": "pv1"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "manual",
        "local": {"path": "/mnt/a"}, "nodeAffinity": affinity}})
    status = refused(lambda: v1.patch_persistent_volume("pv1", {"spec": {
        "local": {"path": "/mnt/b"}}}))
    [(reason, fld, message)] = causes(status)
    assert (reason, fld) == ("FieldValueForbidden", "spec.persistentvolumesource")
    assert message.split("\n")[0] == \
        "Forbidden: spec.persistentvolumesource is immutable after creation"
    other = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-2"]}]}]}}
    status = refused(lambda: v1.patch_persistent_volume("pv1", {"spec": {
        "nodeAffinity": other}}))
    assert causes(status) == [("FieldValueInvalid", "nodeAffinity", "Invalid value: "
                               "core.VolumeNodeAffinity{...}: field is immutable")]
    assert v1.read_persistent_volume("pv1").spec.local.path == "/mnt/a"
    v1.patch_persistent_volume("pv1", {"spec": {"persistentVolumeReclaimPolicy": "Delete"}})
    assert v1.read_persistent_volume("pv1").spec.persistent_volume_reclaim_policy == "Delete"


IMMUTABLE_SET = "Forbidden: field is immutable when `immutable` is set"


def test_immutable_configmaps_and_secrets(k8s: Cluster) -> None:
    """A ConfigMap or Secret with ``immutable: true`` keeps its data and stays immutable (both
    errors at once, aggregated as ``[a, b]``); its labels may change; a Secret's type never
    changes; a mutable ConfigMap's data does.

    Source: pkg/apis/core/validation/validation.go ``ValidateConfigMapUpdate`` and
    ``ValidateSecretUpdate``; apimachinery ``errors.NewInvalid`` (the aggregate's brackets).
    """
    from kubernetes import client

    v1 = client.CoreV1Api(k8s.api_client())
    v1.create_namespaced_config_map("default", {"metadata": {"name": "frozen"},
                                                "data": {"k": "v"}, "immutable": True})
    status = refused(lambda: v1.patch_namespaced_config_map("frozen", "default", {
        "data": {"k": "w"}, "immutable": False}))
    assert status["message"] == (f'ConfigMap "frozen" is invalid: [immutable: {IMMUTABLE_SET}, '
                                 f"data: {IMMUTABLE_SET}]")
    assert causes(status) == [("FieldValueForbidden", "immutable", IMMUTABLE_SET),
                              ("FieldValueForbidden", "data", IMMUTABLE_SET)]
    refused(lambda: v1.patch_namespaced_config_map("frozen", "default", {
        "binaryData": {"b": "AA=="}}))
    assert v1.read_namespaced_config_map("frozen", "default").data == {"k": "v"}
    v1.patch_namespaced_config_map("frozen", "default", {"metadata": {"labels": {"a": "b"}}})
    v1.create_namespaced_config_map("default", {"metadata": {"name": "open"},
                                                "data": {"k": "v"}})
    v1.patch_namespaced_config_map("open", "default", {"data": {"k": "w"}})

    v1.create_namespaced_secret("default", {"metadata": {"name": "s"},
                                            "stringData": {"k": "v"}, "immutable": True})
    status = refused(lambda: v1.patch_namespaced_secret("s", "default", {
        "stringData": {"k": "w"}}))
    assert causes(status) == [("FieldValueForbidden", "data", IMMUTABLE_SET)]
    v1.create_namespaced_secret("default", {"metadata": {"name": "t"},
                                            "stringData": {"k": "v"}})
    status = refused(lambda: v1.patch_namespaced_secret("t", "default", {
        "type": "kubernetes.io/basic-auth"}))
    assert status["message"] == 'Secret "t" is invalid: type: Invalid value: ' \
        '"kubernetes.io/basic-auth": field is immutable'
    assert v1.read_namespaced_secret("t", "default").type == "Opaque"


def test_storage_class_fields_are_forbidden_to_change(k8s: Cluster) -> None:
    """A StorageClass's parameters, provisioner and reclaimPolicy are Forbidden to change and
    its volumeBindingMode is immutable (through kubectl apply too); allowVolumeExpansion and
    labels may change.

    Source: pkg/apis/storage/validation/validation.go ``ValidateStorageClassUpdate``.
    """
    from kubernetes import client

    storage = client.StorageV1Api(k8s.api_client())
    storage.create_storage_class({"metadata": {"name": "fast"}, "provisioner": "example.com/a",
                                  "parameters": {"type": "ssd"}})
    status = refused(lambda: storage.patch_storage_class("fast", {
        "provisioner": "example.com/b", "parameters": {"type": "hdd"}, "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer"}))
    assert causes(status) == [
        ("FieldValueForbidden", "parameters", "Forbidden: updates to parameters are forbidden."),
        ("FieldValueForbidden", "provisioner",
         "Forbidden: updates to provisioner are forbidden."),
        ("FieldValueForbidden", "reclaimPolicy",
         "Forbidden: updates to reclaimPolicy are forbidden."),
        ("FieldValueInvalid", "volumeBindingMode",
         'Invalid value: "WaitForFirstConsumer": field is immutable')]
    manifest = k8s.tmp / "sc.yaml"
    manifest.write_text(json.dumps({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                    "metadata": {"name": "fast"},
                                    "provisioner": "example.com/a",
                                    "parameters": {"type": "nvme"}}))
    proc = k8s.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest),
                       check=False)
    assert proc.returncode != 0
    assert 'The StorageClass "fast" is invalid: parameters: Forbidden: updates to parameters ' \
        "are forbidden." in proc.stderr
    assert storage.read_storage_class("fast").parameters == {"type": "ssd"}
    storage.patch_storage_class("fast", {"allowVolumeExpansion": True,
                                         "metadata": {"labels": {"tier": "fast"}}})
    assert storage.read_storage_class("fast").allow_volume_expansion is True


def test_role_binding_role_ref_cannot_change(k8s: Cluster) -> None:
    """A RoleBinding's or ClusterRoleBinding's roleRef cannot change (kubectl apply says so);
    its subjects can.

    Source: pkg/apis/rbac/validation/validation.go ``ValidateRoleBindingUpdate`` and
    ``ValidateClusterRoleBindingUpdate`` ("cannot change roleRef").
    """
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(k8s.api_client())
    subjects = [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]
    rbac.create_namespaced_role_binding("default", {"metadata": {"name": "rb"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": subjects})
    manifest = k8s.tmp / "rb.yaml"
    manifest.write_text(json.dumps({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "rb", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "edit"}, "subjects": subjects}))
    proc = k8s.kubectl("apply", "-f", str(manifest), check=False)
    assert proc.returncode != 0
    assert ('The RoleBinding "rb" is invalid: roleRef: Invalid value: '
            'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", '
            'Name:"edit"}: cannot change roleRef') in proc.stderr
    assert rbac.read_namespaced_role_binding("rb", "default").role_ref.name == "view"
    rbac.patch_namespaced_role_binding("rb", "default", {"subjects": [
        *subjects, {"kind": "ServiceAccount", "name": "other", "namespace": "default"}]})
    rbac.create_cluster_role_binding({"metadata": {"name": "crb"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": subjects})
    status = refused(lambda: rbac.patch_cluster_role_binding("crb", {"roleRef": {
        "name": "admin"}}))
    assert [c[:2] for c in causes(status)] == [("FieldValueInvalid", "roleRef")]


POD_FORBIDDEN = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)")


def test_pod_spec_updates_are_limited(k8s: Cluster) -> None:
    """A Pod update may change container images, lower or set activeDeadlineSeconds and add
    tolerations; other spec changes are Forbidden, removing a toleration or raising the
    deadline too.

    Source: pkg/apis/core/validation/validation.go ``ValidatePodUpdate`` (release-1.32,
    InPlacePodVerticalScaling off), ``validateOnlyAddedTolerations``.
    """
    from kubernetes import client

    v1 = client.CoreV1Api(k8s.api_client())
    v1.create_namespaced_pod("default", {"metadata": {"name": "p"}, "spec": {
        "activeDeadlineSeconds": 600,
        "tolerations": [{"key": "a", "operator": "Exists"}],
        "containers": [{"name": "c", "image": "nginx:1.27"}]}})
    status = refused(lambda: v1.patch_namespaced_pod("p", "default", {"spec": {"containers": [
        {"name": "c", "env": [{"name": "X", "value": "1"}]}]}}))
    [(reason, fld, message)] = causes(status)
    assert (reason, fld) == ("FieldValueForbidden", "spec")
    assert message.split("\n")[0] == POD_FORBIDDEN
    status = refused(lambda: v1.patch_namespaced_pod("p", "default", {
        "spec": {"activeDeadlineSeconds": 700}}))
    assert causes(status) == [("FieldValueInvalid", "spec.activeDeadlineSeconds",
                               "Invalid value: 700: must be less than or equal to previous "
                               "value")]
    status = refused(lambda: v1.replace_namespaced_pod("p", "default", {
        **v1.api_client.sanitize_for_serialization(v1.read_namespaced_pod("p", "default")),
        "spec": {**v1.api_client.sanitize_for_serialization(
            v1.read_namespaced_pod("p", "default").spec), "tolerations": []}}))
    assert ("FieldValueForbidden", "spec.tolerations", "Forbidden: existing toleration can not "
            "be modified except its tolerationSeconds") in causes(status)
    v1.patch_namespaced_pod("p", "default", {"spec": {
        "activeDeadlineSeconds": 300, "containers": [{"name": "c", "image": "nginx:1.28"}],
        "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]}})
    pod = v1.read_namespaced_pod("p", "default")
    assert pod.spec.containers[0].image == "nginx:1.28"
    assert pod.spec.active_deadline_seconds == 300 and len(pod.spec.tolerations) == 2


def test_smaller_kinds_immutable_fields(k8s: Cluster) -> None:
    """IngressClass ``spec.controller``, EndpointSlice ``addressType``, RuntimeClass
    ``handler``, PriorityClass ``value`` (Forbidden) and ``preemptionPolicy``, and a Node's
    ``providerID`` once set may not change; their other fields may (labels of the Node too).

    Source: pkg/apis/networking/validation ``ValidateIngressClassUpdate``,
    pkg/apis/discovery/validation ``ValidateEndpointSliceUpdate``, pkg/apis/node/validation
    ``ValidateRuntimeClassUpdate``, pkg/apis/scheduling/validation
    ``ValidatePriorityClassUpdate``, pkg/apis/core/validation ``ValidateNodeUpdate``.
    """
    from kubernetes import client

    api = k8s.api_client()
    net = client.NetworkingV1Api(api)
    net.create_ingress_class({"metadata": {"name": "web"},
                              "spec": {"controller": "example.com/a"}})
    status = refused(lambda: net.patch_ingress_class("web", {"spec": {
        "controller": "example.com/b"}}))
    assert status["message"] == 'IngressClass.networking.k8s.io "web" is invalid: ' \
        'spec.controller: Invalid value: "example.com/b": field is immutable'
    net.patch_ingress_class("web", {"metadata": {"annotations": {
        "ingressclass.kubernetes.io/is-default-class": "true"}}})

    disc = client.DiscoveryV1Api(api)
    disc.create_namespaced_endpoint_slice("default", {"metadata": {"name": "s"},
                                                      "addressType": "IPv4", "endpoints": []})
    status = refused(lambda: disc.patch_namespaced_endpoint_slice("s", "default", {
        "addressType": "IPv6"}))
    assert causes(status) == [("FieldValueInvalid", "addressType",
                               'Invalid value: "IPv6": field is immutable')]

    node_api = client.NodeV1Api(api)
    node_api.create_runtime_class({"metadata": {"name": "gvisor"}, "handler": "runsc"})
    status = refused(lambda: node_api.patch_runtime_class("gvisor", {"handler": "kata"}))
    assert causes(status) == [("FieldValueInvalid", "handler",
                               'Invalid value: "kata": field is immutable')]

    sched = client.SchedulingV1Api(api)
    sched.create_priority_class({"metadata": {"name": "high"}, "value": 1000})
    status = refused(lambda: sched.patch_priority_class("high", {
        "value": 2000, "preemptionPolicy": "Never"}))
    assert causes(status) == [
        ("FieldValueForbidden", "value", "Forbidden: may not be changed in an update."),
        ("FieldValueInvalid", "preemptionPolicy", 'Invalid value: "Never": field is immutable')]
    sched.patch_priority_class("high", {"description": "for the database"})
    assert sched.read_priority_class("high").value == 1000

    core = client.CoreV1Api(api)
    node = core.list_node().items[0]
    assert node.spec.provider_id  # the sandbox's nodes are IONOS servers, as the CCM sets them
    status = refused(lambda: core.patch_node(node.metadata.name, {"spec": {
        "providerID": "ionos://another-server"}}))
    assert causes(status) == [("FieldValueForbidden", "spec.providerID", "Forbidden: node "
                               'updates may not change providerID except from "" to valid')]
    core.patch_node(node.metadata.name, {"metadata": {"labels": {"pool": "db"}}})


def test_a_stale_uid_is_a_precondition_and_a_patched_uid_is_invalid(k8s: Cluster) -> None:
    """A PUT whose body carries the uid of an object since deleted and created again under
    the same name is 409 Conflict (the uid is the update's precondition); a patch that changes
    ``metadata.uid`` is 422 (``field is immutable``); a PUT without a uid keeps the stored one.

    Source: k8s.io/apiserver pkg/registry/rest/update.go (``defaultUpdatedObjectInfo
    .Preconditions``), pkg/storage's precondition error (``Precondition failed: UID in
    precondition``), k8s.io/apimachinery/pkg/api/validation/objectmeta.go
    ``ValidateObjectMetaAccessorUpdate``.
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    v1 = client.CoreV1Api(k8s.api_client())
    first = v1.create_namespaced_config_map("default", {"metadata": {"name": "cm"},
                                                        "data": {"k": "1"}})
    v1.delete_namespaced_config_map("cm", "default")
    second = v1.create_namespaced_config_map("default", {"metadata": {"name": "cm"},
                                                         "data": {"k": "2"}})
    with pytest.raises(ApiException) as exc:
        v1.replace_namespaced_config_map("cm", "default", {
            "metadata": {"name": "cm", "uid": first.metadata.uid}, "data": {"k": "3"}})
    status = json.loads(exc.value.body)
    assert exc.value.status == 409 and status["reason"] == "Conflict"
    assert status["message"] == (
        'Operation cannot be fulfilled on configmaps "cm": Precondition failed: UID in '
        f"precondition: {first.metadata.uid}, UID in object meta: {second.metadata.uid}")
    status = refused(lambda: v1.patch_namespaced_config_map("cm", "default", {
        "metadata": {"uid": first.metadata.uid}}))
    assert causes(status) == [("FieldValueInvalid", "metadata.uid",
                               f'Invalid value: "{first.metadata.uid}": field is immutable')]
    assert v1.read_namespaced_config_map("cm", "default").data == {"k": "2"}
    kept = v1.replace_namespaced_config_map("cm", "default", {"metadata": {"name": "cm"},
                                                              "data": {"k": "3"}})
    assert kept.metadata.uid == second.metadata.uid and kept.data == {"k": "3"}
