"""What a component's manifests may create: its namespaces and its allowed kinds. Pure.

Whoever can push to the spec branch writes the manifests, and platform-ops applies them with
rights over the whole cluster; so each component is held to what the spec grants it
(``Component.allow``): objects only in ``namespace`` and ``allow.namespaces``, of any namespaced
kind except the RBAC kinds Role and RoleBinding, and the Namespace objects of those namespaces.
Every other cluster-scoped kind (ClusterRole, ClusterRoleBinding, CRDs, webhook configurations,
...) and Role/RoleBinding must be listed in ``allow.kinds``. The spec loader checks the
manifests of a commit before any run is requested; the engine checks again what it is about to
apply, with the API server's own answer on which kinds are cluster-scoped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from platform_assets.core.manifests import CLUSTER_SCOPED_KINDS, Manifest
from platform_assets.spec.models import Component

# Namespaced kinds that grant rights: a RoleBinding can bind cluster-admin in its namespace.
RBAC_KINDS = frozenset({"Role", "RoleBinding"})


@dataclass(frozen=True)
class PolicyProblem:
    """One object a component may not create: where it is and why."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


def allowed_namespaces(comp: Component) -> list[str]:
    """The namespaces the component's objects may be in."""
    return [comp.namespace, *(ns for ns in comp.allow.namespaces if ns != comp.namespace)]


def object_problem(comp: Component, obj: dict[str, Any],
                   cluster_scoped: bool) -> tuple[str, str] | None:
    """(field, message) when ``comp`` may not create ``obj``, else None."""
    kind, meta = str(obj.get("kind")), obj.get("metadata") or {}
    spaces = allowed_namespaces(comp)
    grant = f"component {comp.name!r}"
    if kind == "Namespace" and meta.get("name") in spaces:
        return None
    if (cluster_scoped or kind in RBAC_KINDS) and kind not in comp.allow.kinds:
        what = "is cluster-scoped" if cluster_scoped else "grants rights (RBAC)"
        return ("kind", f"{kind} {what}; {grant} may create it only when its allow.kinds "
                        f"lists {kind!r}")
    namespace = meta.get("namespace")
    if not cluster_scoped and namespace not in spaces:
        return ("metadata.namespace", f"namespace {namespace!r} is not one of {grant}'s "
                                      f"namespaces {spaces}; add it to allow.namespaces")
    return None


def manifest_problems(comp: Component, manifests: Iterable[Manifest],
                      cluster_scoped: Callable[[str, str], bool] | None = None
                      ) -> list[PolicyProblem]:
    """Every manifest ``comp`` may not create (namespaces already defaulted, as
    ``core.manifests.load_directory`` returns them). ``cluster_scoped(apiVersion, kind)``
    defaults to :data:`CLUSTER_SCOPED_KINDS`."""
    scoped = cluster_scoped or (lambda _api, kind: kind in CLUSTER_SCOPED_KINDS)
    out = []
    for m in manifests:
        problem = object_problem(comp, m.obj, scoped(m.api_version, m.kind))
        if problem:
            out.append(PolicyProblem(m.file, m.line, f"{m.kind}/{m.name}: {problem[0]}",
                                     problem[1]))
    return out
