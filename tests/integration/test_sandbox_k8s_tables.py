"""``kubectl get`` prints the server's columns: the sandbox answers
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` with a ``meta.k8s.io/v1`` Table.

Sources: https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables
(the Accept header, ``includeObject``, 406 when no offered type is served); the columns of
kubernetes ``pkg/printers/internalversion/printers.go`` (Pods: Name Ready Status Restarts Age,
priority 1: IP Node Nominated Node Readiness Gates; Deployments: Name Ready Up-to-date Available
Age, priority 1: Containers Images Selector); custom resources from ``additionalPrinterColumns``
(https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
custom-resource-definitions/#additional-printer-columns: priority > 0 only with ``-o wide``);
the default ``Name``/``Created At`` of apiserver ``pkg/registry/rest/table.go`` (what
``kubectl get crd`` prints).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_sandbox_k8s_workloads import RESTRICTED_POD, wait
from tests.integration.test_sandbox_kubernetes import Cluster, _start

pytestmark = pytest.mark.integration

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)


def _header(out: str) -> list[str]:
    return out.splitlines()[0].split()


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()[1:]]


def _deployment(k8s: Cluster) -> None:
    labels = {"app": "web"}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": RESTRICTED_POD}}}
    code, made = k8s.http("POST", "/apis/apps/v1/namespaces/default/deployments", body)
    assert code == 201, made
    wait(lambda: (k8s.http("GET", "/apis/apps/v1/namespaces/default/deployments/web")[1]
                  .get("status") or {}).get("availableReplicas") == 2, "the rollout")


def _raw(k8s: Cluster, path: str, accept: str) -> tuple[int, Any]:
    req = urllib.request.Request(k8s.url + path, headers={"Accept": accept, **k8s.auth})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_kubectl_get_prints_the_built_in_columns(k8s: Cluster) -> None:
    _deployment(k8s)
    out = k8s.kubectl("get", "deployments").stdout
    assert _header(out) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    (row,) = _rows(out)
    assert row[:4] == ["web", "2/2", "2", "2"] and row[4].endswith("s")
    wide = k8s.kubectl("get", "deployments", "-o", "wide").stdout
    assert _header(wide)[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert _rows(wide)[0][5:] == ["app", "example/app:1", "app=web"]

    pods = k8s.kubectl("get", "pods").stdout
    assert _header(pods) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [r[1:4] for r in _rows(pods)] == [["1/1", "Running", "0"]] * 2
    wide = k8s.kubectl("get", "pods", "-o", "wide").stdout
    assert " ".join(_header(wide)[5:]) == "IP NODE NOMINATED NODE READINESS GATES"
    node = k8s.http("GET", "/api/v1/namespaces/default/pods")[1]["items"][0]["spec"]["nodeName"]
    assert node in wide

    cms = k8s.kubectl("get", "configmaps").stdout
    assert _header(cms) == ["NAME", "DATA", "AGE"]
    assert ["kube-root-ca.crt", "1"] == _rows(cms)[0][:2]
    assert _header(k8s.kubectl("get", "namespaces").stdout) == ["NAME", "STATUS", "AGE"]
    nodes = k8s.kubectl("get", "nodes").stdout
    assert _header(nodes) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert _rows(nodes)[0][1] == "Ready"


def test_custom_resources_print_their_printer_columns_and_others_the_default(
        k8s: Cluster) -> None:
    k8s.svc.install_chart("argo-cd", "7.7.11")
    assert k8s.http("POST", "/api/v1/namespaces", {"metadata": {"name": "argocd"}})[0] == 201
    code, _ = k8s.http("POST", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "guestbook"},
        "spec": {"project": "default", "source": {"repoURL": "https://example.com/r.git",
                                                  "path": "guestbook"},
                 "destination": {"server": "https://kubernetes.default.svc",
                                 "namespace": "default"}},
        "status": {"sync": {"status": "OutOfSync", "revision": "abc123"},
                   "health": {"status": "Missing"}}})
    assert code == 201
    out = k8s.kubectl("get", "applications", "-n", "argocd").stdout
    assert _header(out) == ["NAME", "SYNC", "STATUS", "HEALTH", "STATUS"]
    assert _rows(out) == [["guestbook", "OutOfSync", "Missing"]]
    wide = k8s.kubectl("get", "applications", "-n", "argocd", "-o", "wide").stdout
    assert _header(wide)[5:] == ["REVISION", "PROJECT"]
    assert _rows(wide)[0][3:] == ["abc123", "default"]

    # No additionalPrinterColumns: Name and Age (apiextensions-apiserver's default column).
    code, _ = k8s.http("POST", "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "team"}, "spec": {"sourceRepos": ["*"]}})
    assert code == 201
    projects = k8s.kubectl("get", "appprojects", "-n", "argocd").stdout
    assert _header(projects) == ["NAME", "AGE"]
    assert _rows(projects)[0][0] == "team" and _rows(projects)[0][1].endswith("s")
    crds = k8s.kubectl("get", "crd").stdout
    assert _header(crds) == ["NAME", "CREATED", "AT"]
    assert any(r[0] == "applications.argoproj.io" and r[1].endswith("Z") for r in _rows(crds))


def test_the_table_media_type_and_include_object(k8s: Cluster) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    code, table = _raw(k8s, path, f"{TABLE},application/json")
    assert code == 200 and table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert table["metadata"]["resourceVersion"]
    row = table["rows"][0]
    assert row["object"]["kind"] == "PartialObjectMetadata"  # includeObject=Metadata default
    assert row["object"]["metadata"]["name"] == row["cells"][0]
    _, none = _raw(k8s, path + "?includeObject=None", TABLE)
    assert "object" not in none["rows"][0]
    _, full = _raw(k8s, path + "/kube-root-ca.crt?includeObject=Object", TABLE)
    assert full["rows"][0]["object"]["data"]["ca.crt"].startswith("-----BEGIN")
    assert _raw(k8s, path, "application/json")[1]["kind"] == "ConfigMapList"
    code, status = _raw(k8s, path, "application/json;as=Table;v=v2;g=meta.k8s.io")
    assert code == 406 and status["reason"] == "NotAcceptable"


def test_more_built_in_kinds_print_their_own_columns(k8s: Cluster) -> None:
    """Jobs (Status, Completions, Duration), Events (LAST SEEN first, the name only with
    -o wide), StorageClasses (the default one named "<name> (default)"), Leases (Holder):
    printers.go printJob, printEvent, printStorageClass, printLease."""
    code, _ = k8s.http("POST", "/apis/batch/v1/namespaces/default/jobs", {
        "metadata": {"name": "once"},
        "spec": {"template": {"spec": {**RESTRICTED_POD, "restartPolicy": "Never"}}}})
    assert code == 201
    wait(lambda: "Complete" in k8s.kubectl("get", "jobs").stdout, "the Job complete")
    jobs = k8s.kubectl("get", "jobs").stdout
    assert _header(jobs) == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert _rows(jobs)[0][:3] == ["once", "Complete", "1/1"]

    events = k8s.kubectl("get", "events").stdout
    assert _header(events)[:6] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any(r[2] == "Scheduled" and r[3].startswith("pod/once-") for r in _rows(events))

    assert k8s.http("POST", "/apis/storage.k8s.io/v1/storageclasses", {
        "metadata": {"name": "fast", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "cloud.ionos.com"})[0] == 201
    classes = k8s.kubectl("get", "storageclass").stdout
    assert _header(classes) == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE",
                                "ALLOWVOLUMEEXPANSION", "AGE"]
    assert _rows(classes)[0][:6] == ["fast", "(default)", "cloud.ionos.com", "Delete",
                                     "Immediate", "false"]
    assert k8s.http("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", {
        "metadata": {"name": "leader"}, "spec": {"holderIdentity": "pod-a"}})[0] == 201
    leases = k8s.kubectl("get", "leases").stdout
    assert _header(leases) == ["NAME", "HOLDER", "AGE"]
    assert _rows(leases)[0][:2] == ["leader", "pod-a"]


def test_admission_policies_print_their_columns(k8s: Cluster) -> None:
    """ValidatingAdmissionPolicy (Validations, ParamKind) and its binding (PolicyName,
    ParamRef), ``<unset>`` without params: printers.go printValidatingAdmissionPolicy and
    printValidatingAdmissionPolicyBinding."""
    group = "/apis/admissionregistration.k8s.io/v1"
    rules = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
              "resources": ["configmaps"]}]
    assert k8s.http("POST", f"{group}/validatingadmissionpolicies", {
        "metadata": {"name": "small"},
        "spec": {"matchConstraints": {"resourceRules": rules},
                 "validations": [{"expression": "true"}, {"expression": "1 == 1"}]}})[0] == 201
    assert k8s.http("POST", f"{group}/validatingadmissionpolicybindings", {
        "metadata": {"name": "small-everywhere"},
        "spec": {"policyName": "small", "validationActions": ["Warn", "Audit"]}})[0] == 201
    policies = k8s.kubectl("get", "validatingadmissionpolicies").stdout
    assert _header(policies) == ["NAME", "VALIDATIONS", "PARAMKIND", "AGE"]
    assert _rows(policies)[0][:3] == ["small", "2", "<unset>"]
    bindings = k8s.kubectl("get", "validatingadmissionpolicybindings").stdout
    assert _header(bindings) == ["NAME", "POLICYNAME", "PARAMREF", "AGE"]
    assert _rows(bindings)[0][:3] == ["small-everywhere", "small", "<unset>"]
