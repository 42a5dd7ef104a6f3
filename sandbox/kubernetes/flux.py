"""Flux's controllers, emulated: they act only once Flux is installed in the cluster.

Flux's kinds are served only after its CRDs exist (catalogue.py), and each kind is reconciled
only while its controller's Deployment in ``flux-system`` (``source-controller``,
``kustomize-controller``, ``helm-controller``) has an available replica, as in a cluster where
Flux was installed by applying its manifests. ``--preinstall-crds`` takes them as running.

Status as the controllers write it (fluxcd/pkg/apis/meta conditions; helm-controller
``api/v2`` and ``internal/reconcile``): ``Ready`` with the reason and message of the last
attempt, ``Released`` for a HelmRelease, ``Reconciling``/``Stalled``, ``observedGeneration``,
``lastHandledReconcileAt`` echoing ``reconcile.fluxcd.io/requestedAt``. A HelmRelease installs
the CRDs its chart version brings (unless ``spec.install.crds: Skip``); a chart that refuses
its values fails like ``helm install`` would: ``Ready=False``/``InstallFailed``, and with no
remediation retries left ``Stalled=True``/``RetriesExceeded`` ("Failed to install after 1
attempt(s)"). Emulated value checks: Loki 6.x without ``loki.schemaConfig`` (templates/
validate.yaml), and values that render another project's kinds (a ServiceMonitor) before
their CRDs exist ("resource mapping not found ... ensure CRDs are installed first"). Charts are
not rendered: no workloads appear for a HelmRelease, except the workloads with volumes of
``chart_volumes.py`` and the objects of ``chart_objects.py`` (Velero's server, Secret and
storage locations; Longhorn's manager, driver deployer, UI, StorageClass and default
BackupTarget).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes import catalogue
from sandbox.kubernetes.api import now_rfc3339
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.registry import ResourceType

if TYPE_CHECKING:
    from sandbox.kubernetes.controllers import Controllers

FLUX_NAMESPACE = "flux-system"
CONTROLLER_OF = {"GitRepository": "source-controller", "HelmRepository": "source-controller",
                 "OCIRepository": "source-controller", "Bucket": "source-controller",
                 "HelmChart": "source-controller", "Kustomization": "kustomize-controller",
                 "HelmRelease": "helm-controller"}
KINDS = (("source.toolkit.fluxcd.io", "gitrepositories"),
         ("source.toolkit.fluxcd.io", "helmrepositories"),
         ("kustomize.toolkit.fluxcd.io", "kustomizations"),
         ("helm.toolkit.fluxcd.io", "helmreleases"))
LOKI_SCHEMA = ("execution error at (loki/templates/validate.yaml:40:4): You must provide a "
               "schema_config for Loki, one is not provided as this will be individual for "
               "every Loki cluster. See https://grafana.com/docs/loki/latest/operations/storage/"
               "schema/ for schema information. For quick testing (with no persistence) add "
               "`--set loki.useTestSchema=true`")


def _hash(value: Any, algo: str = "sha256") -> str:
    return hashlib.new(algo, json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _cond(conds: list[dict[str, Any]], ctype: str, status: str, reason: str, message: str,
          gen: int) -> None:
    from sandbox.kubernetes.controllers import set_condition

    set_condition(conds, ctype, status, reason, message, gen)


# Values that make a chart render objects of another project's kinds (whose CRDs must exist).
NEEDS: dict[str, tuple[tuple[tuple[str, ...], str, str], ...]] = {
    "cert-manager": ((("prometheus", "servicemonitor", "enabled"), "monitoring.coreos.com/v1",
                      "ServiceMonitor"),),
    "trivy-operator": ((("serviceMonitor", "enabled"), "monitoring.coreos.com/v1",
                        "ServiceMonitor"),),
}


def _lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def missing_kinds(chart: str, values: dict[str, Any],
                  served: Any) -> list[tuple[str, str]]:
    """The (apiVersion, kind) the values make the chart render that the cluster does not serve
    (``served(api_version, kind)`` answers whether it does)."""
    return [(gv, kind) for path, gv, kind in NEEDS.get(chart, ())
            if _lookup(values, path) and not served(gv, kind)]


def chart_refusal(chart: str, version: str, values: dict[str, Any]) -> str | None:
    """Why ``helm install`` of the chart fails with these values (the checks emulated)."""
    if chart == "loki" and catalogue._version(version) >= (6,):
        loki = values.get("loki") if isinstance(values.get("loki"), dict) else {}
        if not (loki or {}).get("schemaConfig") and not (loki or {}).get("useTestSchema"):
            return LOKI_SCHEMA
    return None


class Flux:
    def __init__(self, ctl: Controllers):
        self.ctl = ctl
        self.api = ctl.api
        self.store = ctl.store
        self.svc = ctl.svc

    def installed(self, controller: str) -> bool:
        if self.svc.preinstall_crds:
            return True
        dep = self.store.get(("apps", "deployments"), FLUX_NAMESPACE, controller) or {}
        return int((dep.get("status") or {}).get("availableReplicas") or 0) > 0

    def reconcile(self) -> None:
        for group, plural in KINDS:
            for rt, obj in self.ctl._each(group, plural):
                if self.installed(CONTROLLER_OF.get(rt.kind, "")):
                    self.one(rt, obj)

    def one(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        status = obj.get("status") or {}
        gen = meta.get("generation", 1)
        requested = (meta.get("annotations") or {}).get("reconcile.fluxcd.io/requestedAt")
        if spec.get("suspend"):
            return
        ready: dict[str, Any] = next((c for c in status.get("conditions") or []
                                      if c.get("type") == "Ready"), {})
        stalled = any(c.get("type") == "Stalled" and c.get("status") == "True"
                      for c in status.get("conditions") or [])
        # Done when this generation is Ready (or has stalled) and no reconcile was requested;
        # a failure that can heal (a missing Secret, a source not ready yet) is retried.
        settled = ready.get("status") == "True" or stalled
        if status.get("observedGeneration") == gen and settled and \
                (requested is None or status.get("lastHandledReconcileAt") == requested):
            return
        new = clone(status)
        conds = [c for c in new.get("conditions") or []
                 if c.get("type") not in ("Reconciling", "Stalled")]
        handler = {"GitRepository": self._git, "HelmRepository": self._helm_repo,
                   "Kustomization": self._kustomization,
                   "HelmRelease": self._helm_release}[rt.kind]
        ok, reason, message = handler(obj, new, conds, gen)
        _cond(conds, "Ready", "True" if ok else "False", reason, message, gen)
        new["conditions"] = conds
        new["observedGeneration"] = gen
        if requested is not None:
            new["lastHandledReconcileAt"] = requested
        self.ctl._status(rt, obj, new, CONTROLLER_OF[rt.kind])

    def _git(self, obj: dict[str, Any], new: dict[str, Any], conds: list[dict[str, Any]],
             gen: int) -> tuple[bool, str, str]:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        ref = spec.get("ref") or {}
        secret = (spec.get("secretRef") or {}).get("name")
        if secret and self.store.get(("", "secrets"), meta["namespace"], secret) is None:
            message = (f"failed to get secret '{meta['namespace']}/{secret}': secrets "
                       f'"{secret}" not found')
            _cond(conds, "FetchFailed", "True", "AuthenticationFailed", message, gen)
            return False, "AuthenticationFailed", message
        conds[:] = [c for c in conds if c.get("type") != "FetchFailed"]
        branch = ref.get("branch") or "main"
        revision = f"{branch}@sha1:{_hash([spec.get('url'), ref], 'sha1')}"
        new["artifact"] = {"revision": revision, "digest": f"sha256:{_hash(revision)}",
                           "path": f"gitrepository/{meta['namespace']}/{meta['name']}/"
                                   f"{revision.split(':')[-1]}.tar.gz",
                           "url": "http://source-controller.flux-system.svc.cluster.local./"
                                  f"gitrepository/{meta['namespace']}/{meta['name']}/"
                                  f"{revision.split(':')[-1]}.tar.gz",
                           "lastUpdateTime": now_rfc3339()}
        _cond(conds, "ArtifactInStorage", "True", "Succeeded",
              f"stored artifact for revision '{revision}'", gen)
        return True, "Succeeded", f"stored artifact for revision '{revision}'"

    def _helm_repo(self, obj: dict[str, Any], new: dict[str, Any], conds: list[dict[str, Any]],
                   gen: int) -> tuple[bool, str, str]:
        spec = obj.get("spec") or {}
        if spec.get("type") == "oci":
            # OCI HelmRepositories have no artifact and no Ready condition to speak of.
            return True, "Succeeded", "Helm repository is Ready"
        revision = f"sha256:{_hash(spec.get('url'))}"
        new["artifact"] = {"revision": revision, "digest": revision,
                           "lastUpdateTime": now_rfc3339()}
        _cond(conds, "ArtifactInStorage", "True", "Succeeded",
              f"stored artifact: revision '{revision}'", gen)
        return True, "Succeeded", f"stored artifact: revision '{revision}'"

    def _kustomization(self, obj: dict[str, Any], new: dict[str, Any],
                       conds: list[dict[str, Any]], gen: int) -> tuple[bool, str, str]:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        src = spec.get("sourceRef") or {}
        src_ns = src.get("namespace") or meta["namespace"]
        src_obj = self.store.get(("source.toolkit.fluxcd.io", "gitrepositories"), src_ns,
                                 src.get("name", ""))
        artifact = ((src_obj or {}).get("status") or {}).get("artifact")
        if not artifact:
            message = ("Source artifact not found, retrying in 30s" if src_obj else
                       f"GitRepository.source.toolkit.fluxcd.io \"{src.get('name', '')}\" "
                       "not found")
            return False, "ArtifactFailed", message
        revision = artifact["revision"]
        new.update(lastAppliedRevision=revision, lastAttemptedRevision=revision)
        _cond(conds, "Healthy", "True", "Succeeded", "Health check passed", gen)
        return True, "ReconciliationSucceeded", f"Applied revision: {revision}"

    def _helm_release(self, obj: dict[str, Any], new: dict[str, Any],
                      conds: list[dict[str, Any]], gen: int) -> tuple[bool, str, str]:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        status = obj.get("status") or {}
        chart = ((spec.get("chart") or {}).get("spec") or {})
        name = str(chart.get("chart") or meta["name"])
        version = str(chart.get("version") or "1.0.0").lstrip("*") or "1.0.0"
        values = spec.get("values") if isinstance(spec.get("values"), dict) else {}
        release = f"{spec.get('targetNamespace') or meta['namespace']}/" \
                  f"{spec.get('releaseName') or meta['name']}"
        first = not any(h.get("status") == "deployed" for h in status.get("history") or [])
        action = "install" if first else "upgrade"
        new["lastAttemptedRevision"] = version
        new["lastAttemptedGeneration"] = gen
        new["lastAttemptedReleaseAction"] = action
        refusal = chart_refusal(name, version, values or {})
        missing = missing_kinds(name, values or {},
                                lambda gv, kind: self.api.registry.by_kind(gv, kind) is not None)
        if refusal is None and missing:
            gv, kind = missing[0]
            refusal = ("unable to build kubernetes objects from release manifest: resource "
                       f'mapping not found for name: "{spec.get("releaseName") or meta["name"]}" '
                       f'namespace: "{spec.get("targetNamespace") or meta["namespace"]}" from "": '
                       f'no matches for kind "{kind}" in version "{gv}"\n'
                       "ensure CRDs are installed first")
        if refusal is not None:
            reason = "InstallFailed" if first else "UpgradeFailed"
            message = (f"Helm {action} failed for release {release} with chart "
                       f"{name}@{version}: {refusal}")
            _cond(conds, "Released", "False", reason, message, gen)
            new["failures"] = int(status.get("failures") or 0) + 1
            new["installFailures" if first else "upgradeFailures"] = 1
            _cond(conds, "Stalled", "True", "RetriesExceeded",
                  f"Failed to {action} after 1 attempt(s)", gen)
            return False, reason, message
        crds_policy = ((spec.get("install") if first else spec.get("upgrade")) or {}).get(
            "crds") or ("Create" if first else "Skip")
        if crds_policy != "Skip" and catalogue.known(name):
            crds = catalogue.chart_crds(name, version, values)
            if crds:
                self.svc.install_crds(crds, "helm-controller")
        self._chart_claims(name, str(spec.get("releaseName") or meta["name"]),
                           str(spec.get("targetNamespace") or meta["namespace"]), values or {})
        new.pop("failures", None)
        new.pop("installFailures", None)
        new.pop("upgradeFailures", None)
        history = list(status.get("history") or [])
        new["history"] = [{"chartName": name, "chartVersion": version, "status": "deployed",
                           "name": spec.get("releaseName") or meta["name"],
                           "namespace": spec.get("targetNamespace") or meta["namespace"],
                           "version": len(history) + 1,
                           "digest": f"sha256:{_hash([name, version, values])}"}] + [
            {**h, "status": "superseded"} for h in history[:4]]
        reason = "InstallSucceeded" if first else "UpgradeSucceeded"
        message = (f"Helm {action} succeeded for release {release}.v{len(history) + 1} with "
                   f"chart {name}@{version}")
        _cond(conds, "Released", "True", reason, message, gen)
        return True, reason, message

    def _chart_claims(self, chart: str, release: str, namespace: str,
                      values: dict[str, Any]) -> None:
        """The claims the release's workloads would create (``chart_volumes.py``) and the
        objects of charts whose controllers the sandbox runs (``chart_objects.py``)."""
        from sandbox.kubernetes.chart_objects import objects
        from sandbox.kubernetes.chart_volumes import claims

        if self.svc.store.get(("", "namespaces"), "", namespace) is None:
            return
        made = [(c, "helm-controller") for c in claims(chart, release, namespace, values)]
        made += [(o, "helm-controller") for o in objects(chart, release, namespace, values)]
        for obj, manager in made:
            rt = self.api.registry.by_kind(obj["apiVersion"], obj["kind"])
            if rt is not None and self.svc.store.get(rt.gk, namespace if rt.namespaced else "",
                                                     obj["metadata"]["name"]) is None:
                self.api.write_object(rt, None, obj, manager)
