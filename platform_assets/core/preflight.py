"""Preflight of a component: the API versions and CRDs it needs, and who installs them. Pure.

A component that applies custom resources (a HelmRelease, a Certificate, an ExternalSecret)
needs their CustomResourceDefinition served in that version before its first write. When the
server does not serve one, the error names the component, the kind, the version asked for,
the versions served and the component of the spec that should install it: one whose manifests
hold the CRD, else one whose Helm chart or name matches the API group (cert-manager for
``cert-manager.io``, Flux for ``*.toolkit.fluxcd.io``, Argo CD for ``argoproj.io``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from platform_assets.core.ports import Json
from platform_assets.spec.models import Component, PlatformSpec

Kind = tuple[str, str]  # apiVersion, kind


def needed_kinds(objects: Iterable[Json]) -> list[Kind]:
    """The (apiVersion, kind) pairs ``objects`` use, less the CRDs among them define (those
    are applied first, in the same run)."""
    own = {(str(o.get("spec", {}).get("group")), str(o.get("spec", {}).get("names", {})
                                                     .get("kind")))
           for o in objects if o.get("kind") == "CustomResourceDefinition"}
    kinds = {(str(o["apiVersion"]), str(o["kind"])) for o in objects}
    return sorted(k for k in kinds if (k[0].rpartition("/")[0], k[1]) not in own)


def _defines(objects: Iterable[Json], group: str, kind: str) -> bool:
    return any(o.get("kind") == "CustomResourceDefinition"
               and (o.get("spec") or {}).get("group") == group
               and ((o.get("spec") or {}).get("names") or {}).get("kind") == kind
               for o in objects)


def _hint(comp: Component, group: str) -> bool:
    hr = comp.source.helm_release
    names = {comp.name, hr.chart if hr else ""} - {""}
    if group.endswith("toolkit.fluxcd.io"):
        return any("flux" in n for n in names)
    if group == "argoproj.io":  # the argo-cd chart, or a component named argocd
        return any(n.replace("-", "").startswith("argocd") for n in names)
    first = group.split(".")[0]
    return any(n == first or n.startswith(first) or first.startswith(n) for n in names)


def installer(spec: PlatformSpec, manifests: Callable[[Component], list[Json]],
              api_version: str, kind: str, asking: str) -> str:
    """Which component of the spec should install ``kind``'s CRD (words for an error)."""
    group = api_version.rpartition("/")[0]
    others = [c for c in spec.components if c.name != asking]
    for comp in others:
        if comp.source.manifests and _defines(manifests(comp), group, kind):
            return f"component {comp.name} installs it (its manifests hold the CRD)"
    for comp in others:
        if _hint(comp, group):
            return f"component {comp.name} should install it; depend on it (depends_on)"
    if group == "argoproj.io":
        return ("Argo CD is not installed in the cluster and no component of the spec installs "
                "it; add one (e.g. the argo-cd Helm chart) and depend on it (depends_on)")
    return f"no component of the spec installs the {group} CRDs; add one that does"


def missing_api_message(component: str, why: str, install: str) -> str:
    """The error for a component whose kind or API version the cluster does not serve: why, and
    which component would install it."""
    return f"component {component}: {why}; {install}"
