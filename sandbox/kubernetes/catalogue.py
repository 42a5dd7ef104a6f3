"""The CustomResourceDefinitions that charts and installs bring, by chart and version range.

A fresh managed cluster serves none of them (IONOS's managed Kubernetes ships the CSI snapshot
CRDs with its CSI driver, the one set the sandbox starts with). They arrive with whatever
installs them: Flux's from Flux's own install manifests (or ``install("flux", ...)``), a
chart's from a HelmRelease of that chart, each serving the API versions of the version
installed. Sources: each project's CRDs at the version boundaries named below (Flux
``manifests/crds`` of fluxcd/flux2 v2.6; cert-manager ``deploy/crds``; external-secrets
``config/crds/bases``: ``v1`` added in 0.16.0; prometheus-operator ``example/prometheus-operator-
crd``; traefik-helm-chart ``traefik/crds``; trivy-operator ``deploy/helm/crds``; velero
``config/crd``; longhorn ``deploy/longhorn.yaml``; argo-cd ``manifests/crds``). Schemas are
open (``x-kubernetes-preserve-unknown-fields``): the kinds are served, the real validation of
their fields is not emulated, but for the CEL validation rules (``x-kubernetes-validations``)
of the upstream CRDs, kept in ``UPSTREAM_RULES`` with the fields they read. Of the versions
above only Flux's carry rules (cert-manager v1.16, external-secrets 0.10/0.16, Velero 1.14,
Longhorn 1.7, Argo CD 2.x, kube-prometheus-stack 66 and trivy-operator have none); the Gateway
API CRDs the traefik chart brings (v1.2.1, 58 rules that read defaulted fields throughout their
schemas) keep an open schema.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sandbox.kubernetes.registry import CrdSpec, crd_object


def _crds(gv: str, kinds: str, namespaced: bool = True, cats: str = "") -> list[CrdSpec]:
    """``kinds`` is ``Kind:plural:shortnames`` separated by spaces; ``gv`` may list several
    versions, the first one stored (``external-secrets.io/v1beta1,v1alpha1``)."""
    group, _, versions = gv.rpartition("/")
    out = []
    for entry in kinds.split():
        kind, plural, *short = entry.split(":")
        out.append(CrdSpec(group, tuple(versions.split(",")), kind, plural, namespaced,
                           tuple(s for s in (short[0] if short else "").split(",") if s), True,
                           tuple(c for c in cats.split(",") if c)))
    return out


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for p in str(text).lstrip("v").split("-")[0].split("."):
        parts.append(int(p) if p.isdigit() else 0)
    return tuple(parts)


@dataclass(frozen=True)
class ChartCrds:
    """The CRDs a chart installs from ``since`` (inclusive) to ``until`` (exclusive), and the
    values switch that turns them on (``None``: always, from the chart's ``crds/`` directory)."""

    chart: str
    since: str
    until: str | None
    crds: tuple[CrdSpec, ...]
    switch: tuple[tuple[str, ...], ...] | None = None
    default_on: bool = True

    def covers(self, version: str) -> bool:
        v = _version(version)
        return _version(self.since) <= v and (self.until is None or v < _version(self.until))

    def enabled(self, values: dict[str, Any]) -> bool:
        if self.switch is None:
            return True
        for path in self.switch:
            node: Any = values
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None:
                return bool(node)
        return self.default_on


_FLUX = (
    _crds("source.toolkit.fluxcd.io/v1", "GitRepository:gitrepositories:gitrepo "
          "HelmRepository:helmrepositories:helmrepo HelmChart:helmcharts:hc "
          "Bucket:buckets OCIRepository:ocirepositories:ocirepo")
    + _crds("kustomize.toolkit.fluxcd.io/v1", "Kustomization:kustomizations:ks")
    + _crds("helm.toolkit.fluxcd.io/v2", "HelmRelease:helmreleases:hr")
    + _crds("notification.toolkit.fluxcd.io/v1beta3", "Alert:alerts Provider:providers")
    + _crds("notification.toolkit.fluxcd.io/v1", "Receiver:receivers"))
_CERT_MANAGER = (
    _crds("cert-manager.io/v1", "Certificate:certificates:cert,certs "
          "CertificateRequest:certificaterequests:cr,crs Issuer:issuers", cats="cert-manager")
    + _crds("cert-manager.io/v1", "ClusterIssuer:clusterissuers:ciss", False, "cert-manager")
    + _crds("acme.cert-manager.io/v1", "Order:orders Challenge:challenges", cats="cert-manager"))


def _external_secrets(versions: str) -> list[CrdSpec]:
    return (_crds(f"external-secrets.io/{versions}", "ExternalSecret:externalsecrets:es "
                  "SecretStore:secretstores:ss", cats="external-secrets")
            + _crds(f"external-secrets.io/{versions}", "ClusterSecretStore:clustersecretstores:css "
                    "ClusterExternalSecret:clusterexternalsecrets:ces", False, "external-secrets")
            + _crds("external-secrets.io/v1alpha1", "PushSecret:pushsecrets",
                    cats="external-secrets"))



def _velero(gv: str, kinds: str) -> tuple[CrdSpec, ...]:
    """``Kind:plural:short:status`` entries; ``status`` 0 where Velero's CRD has no status
    subresource (vmware-tanzu/velero ``config/crd/v1/bases``: Backup, Restore,
    DownloadRequest, ServerStatusRequest and VolumeSnapshotLocation write status with the
    object)."""
    group, _, version = gv.rpartition("/")
    out = []
    for entry in kinds.split():
        kind, plural, short, status = entry.split(":")
        out.append(CrdSpec(group, (version,), kind, plural, True,
                           tuple(s for s in short.split(",") if s), status == "1"))
    return tuple(out)


_VELERO = _velero("velero.io/v1", "Backup:backups::0 Restore:restores::0 Schedule:schedules::1 "
                  "BackupStorageLocation:backupstoragelocations:bsl:1 "
                  "VolumeSnapshotLocation:volumesnapshotlocations:vsl:0 "
                  "PodVolumeBackup:podvolumebackups::1 PodVolumeRestore:podvolumerestores::1 "
                  "BackupRepository:backuprepositories::1 "
                  "DeleteBackupRequest:deletebackuprequests::1 "
                  "DownloadRequest:downloadrequests::0 "
                  "ServerStatusRequest:serverstatusrequests:ssr:0")
_VELERO_DATA_MOVER = _velero("velero.io/v2alpha1", "DataUpload:datauploads::1 "
                             "DataDownload:datadownloads::1")

CATALOGUE: tuple[ChartCrds, ...] = (
    ChartCrds("flux", "2.0.0", None, tuple(_FLUX)),
    # cert-manager's chart templates its CRDs only when asked (crds.enabled since 1.15, the
    # older installCRDs before).
    ChartCrds("cert-manager", "1.0.0", None, tuple(_CERT_MANAGER),
              (("crds", "enabled"), ("installCRDs",)), default_on=False),
    ChartCrds("external-secrets", "0.5.0", "0.16.0", tuple(_external_secrets("v1beta1,v1alpha1")),
              (("installCRDs",),)),
    ChartCrds("external-secrets", "0.16.0", None, tuple(_external_secrets("v1,v1beta1")),
              (("installCRDs",),)),
    ChartCrds("kube-prometheus-stack", "40.0.0", None, tuple(
        _crds("monitoring.coreos.com/v1", "ServiceMonitor:servicemonitors:smon "
              "PodMonitor:podmonitors:pmon PrometheusRule:prometheusrules:promrule "
              "Prometheus:prometheuses:prom Alertmanager:alertmanagers:am Probe:probes:prb "
              "ThanosRuler:thanosrulers:ruler")
        + _crds("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig:alertmanagerconfigs:amcfg "
                "ScrapeConfig:scrapeconfigs:scfg PrometheusAgent:prometheusagents:promagent")),
        (("crds", "enabled"),)),
    ChartCrds("traefik", "28.0.0", None, tuple(
        _crds("traefik.io/v1alpha1", "IngressRoute:ingressroutes IngressRouteTCP:ingressroutetcps "
              "IngressRouteUDP:ingressrouteudps Middleware:middlewares "
              "MiddlewareTCP:middlewaretcps TLSOption:tlsoptions TLSStore:tlsstores "
              "TraefikService:traefikservices ServersTransport:serverstransports "
              "ServersTransportTCP:serverstransporttcps")
        + _crds("gateway.networking.k8s.io/v1", "Gateway:gateways:gtw HTTPRoute:httproutes "
                "GRPCRoute:grpcroutes")
        + _crds("gateway.networking.k8s.io/v1", "GatewayClass:gatewayclasses:gc", False)
        + _crds("gateway.networking.k8s.io/v1beta1", "ReferenceGrant:referencegrants:refgrant"))),
    ChartCrds("trivy-operator", "0.10.0", None, tuple(
        _crds("aquasecurity.github.io/v1alpha1", "VulnerabilityReport:vulnerabilityreports:vuln,"
              "vulns ConfigAuditReport:configauditreports:configaudit "
              "ExposedSecretReport:exposedsecretreports:exposedsecret "
              "RbacAssessmentReport:rbacassessmentreports:rbacassessment "
              "InfraAssessmentReport:infraassessmentreports:infraassessment "
              "SbomReport:sbomreports:sbom")
        + _crds("aquasecurity.github.io/v1alpha1", "ClusterRbacAssessmentReport:"
                "clusterrbacassessmentreports:clusterrbacassessment ClusterComplianceReport:"
                "clustercompliancereports:compliance ClusterSbomReport:clustersbomreports:"
                "clustersbom", False)),
        (("crds", "install"),)),
    # Velero 1.11 (chart 5.0) and from 1.12 (chart 5.1) the data mover's v2alpha1 kinds.
    ChartCrds("velero", "5.0.0", "5.1.0", _VELERO, (("upgradeCRDs",),)),
    ChartCrds("velero", "5.1.0", None, _VELERO + _VELERO_DATA_MOVER, (("upgradeCRDs",),)),
    ChartCrds("longhorn", "1.4.0", None, tuple(
        _crds("longhorn.io/v1beta2", "Volume:volumes:lhv Engine:engines:lhe "
              "Replica:replicas:lhr Setting:settings:lhs Node:nodes:lhn "
              "BackupTarget:backuptargets:lhbt Backup:backups:lhb "
              "BackupVolume:backupvolumes:lhbv Snapshot:snapshots:lhsnap "
              "RecurringJob:recurringjobs:lhrj EngineImage:engineimages:lhei "
              "InstanceManager:instancemanagers:lhim ShareManager:sharemanagers:lhsm"))),
    # Loki and Alloy install no CRDs (they use monitoring.coreos.com when asked to).
    ChartCrds("loki", "0.0.0", None, ()),
    ChartCrds("alloy", "0.0.0", None, ()),
)

# Argo CD's CRDs (argoproj/argo-cd ``manifests/crds``): Application and AppProject have no
# status subresource (the controller writes status with the object), ApplicationSet has one.
_ARGOCD = (
    CrdSpec("argoproj.io", ("v1alpha1",), "Application", "applications", True, ("app", "apps"),
            False, (), (("Sync Status", "string", ".status.sync.status", 0),
                        ("Health Status", "string", ".status.health.status", 0),
                        ("Revision", "string", ".status.sync.revision", 10),
                        ("Project", "string", ".spec.project", 10))),
    CrdSpec("argoproj.io", ("v1alpha1",), "AppProject", "appprojects", True,
            ("appproj", "appprojs"), False),
    CrdSpec("argoproj.io", ("v1alpha1",), "ApplicationSet", "applicationsets", True,
            ("appset", "appsets"), True))
CATALOGUE = (*CATALOGUE,
             # argo-helm's argo-cd chart (5.x: Argo CD 2.x) installs them unless crds.install
             # is false.
             ChartCrds("argo-cd", "5.0.0", None, _ARGOCD, (("crds", "install"),)))

# What IONOS's managed Kubernetes serves from the start (its CSI driver's snapshot support).
MANAGED_CLUSTER = tuple(
    _crds("snapshot.storage.k8s.io/v1", "VolumeSnapshot:volumesnapshots:vs")
    + _crds("snapshot.storage.k8s.io/v1", "VolumeSnapshotContent:volumesnapshotcontents:vsc,vscs "
            "VolumeSnapshotClass:volumesnapshotclasses:vsclass,vsclasses", False))
# ``--preinstall-crds``: the sandbox's earlier fixed set, for scripts that relied on it.
PREINSTALLED = ("flux", "2.6.4"), ("cert-manager", "v1.16.2"), ("external-secrets", "0.16.2")


def _open(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
            **({"properties": properties} if properties else {})}


def _spec_rules(spec: dict[str, Any], *rules: tuple[str, str]) -> dict[str, Any]:
    """An open root whose ``spec`` declares ``spec``'s fields and carries ``rules`` as
    (message, rule)."""
    spec = {**spec, "x-kubernetes-validations": [{"message": m, "rule": r} for m, r in rules]}
    return _open(spec=spec)


_COMMIT_STATUS_TYPES = ("'github', 'gitlab', 'gitea', 'bitbucketserver', 'bitbucket', "
                        "'azuredevops'")
# (group, version, kind) -> openAPIV3Schema: the upstream CRD's rules, verbatim, with the fields
# they read and those fields' own constraints (enum, default, required); the rest stays open.
UPSTREAM_RULES: dict[tuple[str, str, str], dict[str, Any]] = {
    # fluxcd/helm-controller v1.3.0 (Flux v2.6.4) config/crd/bases/
    # helm.toolkit.fluxcd.io_helmreleases.yaml, version v2.
    ("helm.toolkit.fluxcd.io", "v2", "HelmRelease"): _spec_rules(
        _open(chart=_open(), chartRef=_open()),
        ("either chart or chartRef must be set",
         "(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))")),
    # fluxcd/source-controller v1.6.2 (Flux v2.6.4) config/crd/bases/
    # source.toolkit.fluxcd.io_buckets.yaml, version v1.
    ("source.toolkit.fluxcd.io", "v1", "Bucket"): _spec_rules(
        _open(provider={"type": "string", "default": "generic",
                        "enum": ["generic", "aws", "gcp", "azure"]},
              sts={**_open(provider={"type": "string", "enum": ["aws", "ldap"]},
                           endpoint={"type": "string", "pattern": "^(http|https)://.*$"},
                           secretRef=_open(), certSecretRef=_open()),
                   "required": ["endpoint", "provider"]}),
        ("STS configuration is only supported for the 'aws' and 'generic' Bucket providers",
         "self.provider == 'aws' || self.provider == 'generic' || !has(self.sts)"),
        ("'aws' is the only supported STS provider for the 'aws' Bucket provider",
         "self.provider != 'aws' || !has(self.sts) || self.sts.provider == 'aws'"),
        ("'ldap' is the only supported STS provider for the 'generic' Bucket provider",
         "self.provider != 'generic' || !has(self.sts) || self.sts.provider == 'ldap'"),
        ("spec.sts.secretRef is not required for the 'aws' STS provider",
         "!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.secretRef)"),
        ("spec.sts.certSecretRef is not required for the 'aws' STS provider",
         "!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.certSecretRef)")),
    # fluxcd/notification-controller v1.6.0 (Flux v2.6.4) config/crd/bases/
    # notification.toolkit.fluxcd.io_providers.yaml, version v1beta3.
    ("notification.toolkit.fluxcd.io", "v1beta3", "Provider"): _spec_rules(
        {**_open(type={"type": "string", "enum": [
            "slack", "discord", "msteams", "rocket", "generic", "generic-hmac", "github",
            "gitlab", "gitea", "bitbucketserver", "bitbucket", "azuredevops", "googlechat",
            "googlepubsub", "webex", "sentry", "azureeventhub", "telegram", "lark", "matrix",
            "opsgenie", "alertmanager", "grafana", "githubdispatch", "pagerduty", "datadog",
            "nats"]}, commitStatusExpr={"type": "string"}), "required": ["type"]},
        (f"spec.commitStatusExpr is only supported for the {_COMMIT_STATUS_TYPES} provider "
         "types", "self.type == 'github' || self.type == 'gitlab' || self.type == 'gitea' || "
         "self.type == 'bitbucketserver' || self.type == 'bitbucket' || self.type == "
         "'azuredevops' || !has(self.commitStatusExpr)")),
}


def with_upstream_rules(crd: dict[str, Any]) -> dict[str, Any]:
    """A catalogue CRD with its upstream rules (``UPSTREAM_RULES``) in its versions' schemas."""
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    for v in crd["spec"]["versions"]:
        rules = UPSTREAM_RULES.get((group, v["name"], kind))
        if rules is not None:
            v["schema"] = {"openAPIV3Schema": copy.deepcopy(rules)}
    return crd


def known(chart: str) -> bool:
    return any(c.chart == chart for c in CATALOGUE)


def chart_crds(chart: str, version: str, values: dict[str, Any] | None = None
               ) -> list[dict[str, Any]] | None:
    """The CRD manifests a chart version installs with these values; None for a chart the
    catalogue does not know (the sandbox then installs none)."""
    entries = [c for c in CATALOGUE if c.chart == chart and c.covers(version)]
    if not entries:
        return None
    out = []
    for entry in entries:
        if not entry.enabled(values or {}):
            continue
        for spec in entry.crds:
            crd = with_upstream_rules(crd_object(spec))
            if spec.kind == "VolumeSnapshotClass":
                for v in crd["spec"]["versions"]:
                    v.pop("subresources", None)
            out.append(crd)
    return out


def managed_cluster_crds() -> list[dict[str, Any]]:
    out = []
    for spec in MANAGED_CLUSTER:
        crd = crd_object(spec)
        if spec.kind == "VolumeSnapshotClass":  # no status subresource (csi snapshotter)
            for v in crd["spec"]["versions"]:
                v.pop("subresources", None)
        out.append(crd)
    return out
