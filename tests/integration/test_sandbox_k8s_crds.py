"""Fidelity of the sandbox cluster's CRD lifecycle and of its Flux emulation.

A fresh managed cluster serves no Flux, cert-manager or external-secrets kinds: they arrive with
whatever installs them. Each test names the real behaviour's source.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.kubernetes import catalogue
from tests.integration.test_sandbox_k8s_workloads import RESTRICTED_POD, wait
from tests.integration.test_sandbox_kubernetes import Cluster, _start

pytestmark = pytest.mark.integration


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path, preinstall_crds=False)


def _groups(k8s: Cluster) -> set[str]:
    return {g["name"] for g in k8s.http("GET", "/apis")[1]["groups"]}


def test_a_custom_kind_is_served_only_once_its_crd_is_established(bare: Cluster) -> None:
    """Before its CRD exists a kind's path is a 404 and discovery does not list its group;
    creating the CRD makes it Established (NamesAccepted, Established conditions), lists it in
    discovery and serves the kind.

    Source: https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
    custom-resource-definitions/ ("Create a CustomResourceDefinition": the new namespaced
    RESTful API endpoint, the Established condition) and the API conventions (404 NotFound for
    a path the server does not serve).
    """
    path = "/apis/cert-manager.io/v1/namespaces/default/certificates"
    assert "cert-manager.io" not in _groups(bare)
    assert "snapshot.storage.k8s.io" in _groups(bare)  # IONOS's managed cluster ships these
    code, body = bare.http("GET", path)
    assert code == 404 and body["reason"] == "NotFound"
    code, _ = bare.http("POST", path, {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                                       "metadata": {"name": "c"}, "spec": {"secretName": "s"}})
    assert code == 404

    crd = next(c for c in catalogue.chart_crds("cert-manager", "v1.16.2",
                                               {"crds": {"enabled": True}}) or []
               if c["spec"]["names"]["kind"] == "Certificate")
    code, made = bare.http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                           crd)
    assert code == 201, made

    def established() -> bool:
        got = bare.http("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                        "certificates.cert-manager.io")[1]
        return any(c["type"] == "Established" and c["status"] == "True"
                   for c in (got.get("status") or {}).get("conditions") or [])

    wait(established, "the CRD Established")
    assert "cert-manager.io" in _groups(bare)
    resources = bare.http("GET", "/apis/cert-manager.io/v1")[1]["resources"]
    assert "certificates" in {r["name"] for r in resources}
    code, made = bare.http("POST", path, {"apiVersion": "cert-manager.io/v1",
                                          "kind": "Certificate", "metadata": {"name": "c"},
                                          "spec": {"secretName": "s"}})
    assert code == 201, made
    assert bare.http("GET", "/apis/cert-manager.io/v1/namespaces/default/issuers")[0] == 404


def test_a_chart_version_serves_its_own_api_versions(bare: Cluster) -> None:
    """external-secrets before 0.16 serves ``v1beta1`` (no ``v1``); 0.16.0 added ``v1``. A
    version the cluster does not serve is a 404.

    Source: https://github.com/external-secrets/external-secrets/releases/tag/v0.16.0
    ("promote v1beta1 to v1") and the chart's CRDs (config/crds/bases) of 0.10.x.
    """
    admin = bare.svc.behaviours
    assert admin.handle("POST", "/kubernetes/charts",
                        {"chart": "external-secrets", "version": "0.10.7"})[0] == 200
    assert bare.http("GET", "/apis/external-secrets.io/v1beta1/clustersecretstores")[0] == 200
    assert bare.http("GET", "/apis/external-secrets.io/v1/clustersecretstores")[0] == 404
    assert admin.handle("POST", "/kubernetes/charts",
                        {"chart": "external-secrets", "version": "0.16.2"})[0] == 200
    assert bare.http("GET", "/apis/external-secrets.io/v1/clustersecretstores")[0] == 200
    code, body = admin.handle("POST", "/kubernetes/charts", {"chart": "nope", "version": "1"})
    assert code == 400 and "no chart 'nope'" in body["error"]


def _flux_controller(k8s: Cluster, name: str) -> None:
    labels = {"app": name}
    assert k8s.http("POST", "/apis/apps/v1/namespaces/flux-system/deployments", {
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": RESTRICTED_POD}}})[0] == 201


def _helm_release(k8s: Cluster, ns: str, name: str, chart: str, version: str,
                  values: dict[str, Any]) -> None:
    code, body = k8s.http("POST", f"/apis/helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases", {
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name},
        "spec": {"interval": "1h", "values": values, "chart": {"spec": {
            "chart": chart, "version": version,
            "sourceRef": {"kind": "HelmRepository", "name": "repo",
                          "namespace": "flux-system"}}}}})
    assert code == 201, body


def _conditions(k8s: Cluster, ns: str, name: str) -> dict[str, dict[str, Any]]:
    hr = k8s.http("GET", f"/apis/helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases/{name}")[1]
    return {c["type"]: c for c in (hr.get("status") or {}).get("conditions") or []}


def test_flux_acts_only_once_installed_and_a_helmrelease_brings_its_crds(bare: Cluster) -> None:
    """Flux's kinds exist once its CRDs are installed; a HelmRelease is reconciled only once
    helm-controller runs; installing a chart creates the CRDs that version ships (cert-manager's
    only with ``crds.enabled``), and Ready/Released carry the install's reason and message.

    Source: https://fluxcd.io/flux/components/helm/helmreleases/ ("Conditions": Ready and
    Released with reason InstallSucceeded; "CRDs": install.crds Create by default) and
    https://cert-manager.io/docs/installation/helm/ ("crds.enabled" installs the CRDs).
    """
    assert bare.http("GET", "/apis/helm.toolkit.fluxcd.io/v2/helmreleases")[0] == 404
    bare.svc.install_chart("flux", "2.6.4")
    for ns in ("flux-system", "cert-manager"):
        assert bare.http("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})[0] == 201
    _helm_release(bare, "cert-manager", "cert-manager", "cert-manager", "v1.16.2",
                  {"crds": {"enabled": True}})
    assert not wait_quiet(lambda: _conditions(bare, "cert-manager", "cert-manager"), 1.0)
    assert "cert-manager.io" not in _groups(bare)

    _flux_controller(bare, "helm-controller")
    ready = wait(lambda: _conditions(bare, "cert-manager", "cert-manager").get("Ready"),
                 "the HelmRelease reconciled")
    assert ready["status"] == "True" and ready["reason"] == "InstallSucceeded"
    assert ready["message"] == ("Helm install succeeded for release cert-manager/cert-manager.v1 "
                                "with chart cert-manager@v1.16.2")
    assert ready["observedGeneration"] == 1
    assert _conditions(bare, "cert-manager", "cert-manager")["Released"]["status"] == "True"
    assert {"cert-manager.io", "acme.cert-manager.io"} <= _groups(bare)

    _helm_release(bare, "cert-manager", "no-crds", "cert-manager", "v1.16.2", {})
    bare.http("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
              "orders.acme.cert-manager.io")
    wait(lambda: _conditions(bare, "cert-manager", "no-crds").get("Ready"), "no-crds reconciled")
    assert bare.http("GET", "/apis/acme.cert-manager.io/v1/orders")[0] == 404


def wait_quiet(predicate: Any, seconds: float) -> Any:
    """The predicate's value after ``seconds`` (for asserting that nothing happens)."""
    import time

    time.sleep(seconds)
    return predicate()


def test_a_chart_that_refuses_its_values_fails_like_helm_and_stalls(bare: Cluster) -> None:
    """Loki 6.x without ``loki.schemaConfig`` fails at install with the chart's own message;
    with no remediation retries the HelmRelease is Stalled. A ServiceMonitor asked for before
    the monitoring CRDs exist fails with Helm's "resource mapping not found".

    Source: grafana/loki chart templates/validate.yaml ("You must provide a schema_config for
    Loki"), https://fluxcd.io/flux/components/helm/helmreleases/#conditions (Ready=False
    InstallFailed, Stalled RetriesExceeded) and helm's "ensure CRDs are installed first".
    """
    bare.svc.install_chart("flux", "2.6.4")
    for ns in ("flux-system", "observability", "cert-manager"):
        assert bare.http("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})[0] == 201
    _flux_controller(bare, "helm-controller")
    _helm_release(bare, "observability", "loki", "loki", "6.22.0",
                  {"deploymentMode": "SingleBinary"})
    _helm_release(bare, "cert-manager", "cert-manager", "cert-manager", "v1.16.2",
                  {"crds": {"enabled": True},
                   "prometheus": {"servicemonitor": {"enabled": True}}})
    conds = wait(lambda: (c := _conditions(bare, "observability", "loki")).get("Stalled") and c,
                 "loki stalled")
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "InstallFailed"
    assert conds["Ready"]["message"].startswith(
        "Helm install failed for release observability/loki with chart loki@6.22.0: execution "
        "error at (loki/templates/validate.yaml:40:4): You must provide a schema_config for Loki")
    assert conds["Stalled"]["reason"] == "RetriesExceeded"
    assert conds["Stalled"]["message"] == "Failed to install after 1 attempt(s)"
    cm = wait(lambda: _conditions(bare, "cert-manager", "cert-manager").get("Ready"), "cm")
    assert cm["status"] == "False"
    assert ('no matches for kind "ServiceMonitor" in version "monitoring.coreos.com/v1"\n'
            "ensure CRDs are installed first") in cm["message"]
    assert "cert-manager.io" not in _groups(bare)  # a failed install creates nothing


def test_gitrepository_needs_its_ssh_secret(bare: Cluster) -> None:
    """A GitRepository with a ``secretRef`` whose Secret is missing is not Ready; once the
    Secret exists the next reconcile stores an artifact.

    Source: https://fluxcd.io/flux/components/source/gitrepositories/ ("Secret reference",
    the FetchFailed condition and the ArtifactInStorage condition).
    """
    bare.svc.install_chart("flux", "2.6.4")
    assert bare.http("POST", "/api/v1/namespaces", {"metadata": {"name": "flux-system"}})[0] == 201
    _flux_controller(bare, "source-controller")
    base = "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories"
    assert bare.http("POST", base, {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "platform"},
        "spec": {"interval": "1h", "url": "ssh://git@github.com/example/repo.git",
                 "ref": {"branch": "main"}, "secretRef": {"name": "flux-system"}}})[0] == 201

    def ready() -> dict[str, Any] | None:
        got = bare.http("GET", f"{base}/platform")[1]
        return next((c for c in (got.get("status") or {}).get("conditions") or []
                     if c["type"] == "Ready"), None)

    cond = wait(ready, "a Ready condition")
    assert cond["status"] == "False" and "secrets \"flux-system\" not found" in cond["message"]
    secret = {"metadata": {"name": "flux-system"},
              "stringData": {"identity": "key", "known_hosts": "github.com ssh-ed25519 AAAA"}}
    assert bare.http("POST", "/api/v1/namespaces/flux-system/secrets", secret)[0] == 201
    cond = wait(lambda: (c := ready()) and c["status"] == "True" and c, "Ready after the Secret")
    assert cond["message"].startswith("stored artifact for revision 'main@sha1:")
    status = bare.http("GET", f"{base}/platform")[1]["status"]
    assert json.dumps(status["artifact"]).count("gitrepository/flux-system/platform/") == 2
