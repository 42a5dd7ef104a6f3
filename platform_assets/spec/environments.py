"""Environments: one spec, several complete single-environment specs. Pure.

A spec with ``environments:`` is a base plus one overlay per environment, resolved the way a
Kustomize overlay is applied to its base: each environment's mapping is deep-merged onto the base
document (mappings merge key by key, a ``null`` removes a key, anything else replaces), except
``components:``, which patches the base's components by name (``enabled: false`` leaves one out).
Infrastructure is never inherited: each environment names its own ``ionos:`` or an existing
``cluster:``. The merge works on the YAML data before validation, so it is generic over the
spec's sections: a section added to the models is overridable without a change here.

Each resolved document remembers where its values came from (``Origins``), so a validation
problem in it names the line and field path the person wrote, in the overlay or in the base.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Loc = tuple[str | int, ...]
Problems = list[tuple[Loc, str]]

ENVIRONMENTS = "environments"
COMPONENTS = "components"
ENABLED = "enabled"
# Sections that describe one environment's own infrastructure: never taken from the base.
INFRASTRUCTURE = ("ionos", "cluster")
LAYERS = ("platform", "applications")
# Keys of the top level that no environment may set.
NOT_OVERRIDABLE = ("apiVersion", ENVIRONMENTS)


@dataclass
class Resolved:
    """One environment's complete spec document and the origin of its overridden parts."""

    name: str
    data: dict[str, Any]
    # A location in ``data`` -> the location in the file that set it (an overlay's value).
    origins: dict[Loc, Loc] = field(default_factory=dict)

    def source_loc(self, loc: Loc) -> tuple[Loc, bool]:
        """Where the value at ``loc`` was written: (location in the file, from the overlay)."""
        for i in range(len(loc), -1, -1):
            if loc[:i] in self.origins:
                return (*self.origins[loc[:i]], *loc[i:]), True
        return loc, False


def overridable_keys(spec_fields: Iterable[str]) -> set[str]:
    """The keys an environment may set: every top-level section of the spec (``spec_fields``,
    as written in YAML) but ``apiVersion`` and ``environments``, plus ``components``."""
    return (set(spec_fields) - set(NOT_OVERRIDABLE)) | {COMPONENTS}


def resolve(data: Mapping[str, Any], spec_fields: Iterable[str]) -> tuple[list[Resolved],
                                                                             Problems]:
    """Every environment of the spec document ``data`` as a complete document, in the order they
    are written, and the problems of the overlays themselves (unknown keys or components, no
    cluster, a base that holds infrastructure), as (location, message)."""
    envs = data.get(ENVIRONMENTS) or {}
    problems: Problems = [((key,), f"with environments, each environment names its own "
                           f"infrastructure: move {key!r} into environments.<name>")
                          for key in (*INFRASTRUCTURE, "promotion") if data.get(key) is not None]
    allowed = overridable_keys(spec_fields)
    base = {k: v for k, v in data.items() if k != ENVIRONMENTS}
    out: list[Resolved] = []
    for name, overlay in envs.items():
        where: Loc = (ENVIRONMENTS, name)
        if not isinstance(overlay, dict):
            problems.append((where, f"expected a mapping of overrides, got "
                                    f"{type(overlay).__name__}"))
            continue
        env_problems = _overlay_problems(overlay, where, allowed, envs)
        resolved = Resolved(name, copy.deepcopy(base))
        for key, value in overlay.items():
            if key == COMPONENTS or key not in allowed:
                continue
            _merge_key(resolved, resolved.data, key, value, (key,), (*where, key))
        env_problems += _patch_components(resolved, overlay.get(COMPONENTS), where)
        problems += env_problems
        out.append(resolved)
    return out, problems + same_cluster_problems(envs)


def _overlay_problems(overlay: Mapping[str, Any], where: Loc, allowed: set[str],
                      envs: Mapping[str, Any]) -> Problems:
    out: Problems = [((*where, key), f"unknown key; an environment may set "
                                     f"{', '.join(sorted(allowed))}")
                     for key in overlay if key not in allowed]
    if not any(overlay.get(key) is not None for key in INFRASTRUCTURE):
        out.append((where, "the environment has no cluster: set ionos (an IONOS managed "
                           "cluster) or cluster (an existing one, by kubeconfig)"))
    elif all(overlay.get(key) is not None for key in INFRASTRUCTURE):
        out.append(((*where, "cluster"), "set either ionos or cluster, not both: an "
                                        "environment has one cluster"))
    promotion = overlay.get("promotion")
    after = promotion.get("after") if isinstance(promotion, dict) else None
    if isinstance(after, str) and (after not in envs or after == where[-1]):
        out.append(((*where, "promotion", "after"),
                    f"unknown environment {after!r}; expected one of "
                    f"{sorted(set(envs) - {where[-1]})}"))
    return out


def _merge_key(resolved: Resolved, target: dict[str, Any], key: str, value: Any,
               loc: Loc, src: Loc) -> None:
    """Merge ``value`` into ``target[key]`` as an overlay does, recording each origin."""
    if value is None:
        target.pop(key, None)
        resolved.origins[loc] = src
        return
    current = target.get(key)
    if isinstance(value, dict) and isinstance(current, dict):
        for k, v in value.items():
            _merge_key(resolved, current, k, v, (*loc, k), (*src, k))
        return
    target[key] = copy.deepcopy(value)
    resolved.origins[loc] = src


def _patch_components(resolved: Resolved, patches: Any, where: Loc) -> Problems:
    """Apply ``components: {name: patch}`` to the base's components, by name."""
    if patches is None:
        return []
    src: Loc = (*where, COMPONENTS)
    if not isinstance(patches, dict):
        return [(src, f"expected a mapping of component name to overrides, got "
                      f"{type(patches).__name__}")]
    index = {c.get("name"): (layer, i) for layer in LAYERS
             for i, c in enumerate(resolved.data.get(layer) or []) if isinstance(c, dict)}
    problems: Problems = []
    removed: list[str] = []
    for name, patch in patches.items():
        if name not in index:
            problems.append(((*src, name), f"unknown component {name!r}; expected one of "
                                           f"{sorted(n for n in index if isinstance(n, str))}"))
            continue
        if not isinstance(patch, dict):
            problems.append(((*src, name), f"expected a mapping of overrides, got "
                                           f"{type(patch).__name__}"))
            continue
        layer, i = index[name]
        enabled = patch.get(ENABLED, True)
        if not isinstance(enabled, bool):
            problems.append(((*src, name, ENABLED), f"wrong type ({enabled!r}): expected "
                                                    "true or false"))
        elif not enabled:
            removed.append(name)
            continue
        comp = resolved.data[layer][i]
        for key, value in patch.items():
            if key == ENABLED:
                continue
            if key == "name":
                problems.append(((*src, name, key), "a component's name cannot be overridden"))
                continue
            _merge_key(resolved, comp, key, value, (layer, i, key), (*src, name, key))
    return problems + _remove(resolved, removed, src)


def _remove(resolved: Resolved, names: list[str], src: Loc) -> Problems:
    """Leave the disabled components out; a component left in that needs one is a problem."""
    if not names:
        return []
    gone = set(names)
    problems: Problems = []
    for layer in LAYERS:
        comps = resolved.data.get(layer) or []
        for c in comps:
            if not isinstance(c, dict) or c.get("name") in gone:
                continue
            needs = [d for d in c.get("depends_on") or [] if d in gone]
            if needs:
                problems.append(((*src, needs[0], ENABLED),
                                 f"{c.get('name')!r} depends on {needs[0]!r}: disable it too, "
                                 "or keep this one"))
        kept = [i for i, c in enumerate(comps)
                if not (isinstance(c, dict) and c.get("name") in gone)]
        if layer in resolved.data:
            resolved.data[layer] = [comps[i] for i in kept]
        # The components after a removed one moved up: their origins follow them.
        moved = {old: new for new, old in enumerate(kept)}
        resolved.origins = {
            ((layer, moved[loc[1]], *loc[2:]) if loc[0] == layer and loc[1] in moved else loc): s
            for loc, s in resolved.origins.items()
            if not (loc[0] == layer and loc[1] not in moved)}
    return problems


def cluster_identity(overlay: Mapping[str, Any]) -> tuple[str, ...] | None:
    """What identifies an environment's cluster: the kubeconfig variable and context of an
    existing cluster, or the IONOS location, datacenter and cluster names."""
    existing = overlay.get("cluster")
    if isinstance(existing, dict):
        return ("kubeconfig", str(existing.get("kubeconfig_env")), str(existing.get("context")))
    ionos = overlay.get("ionos")
    if isinstance(ionos, dict):
        dc, cl = (part if isinstance(part := ionos.get(k), dict) else {}
                  for k in ("datacenter", "cluster"))
        return ("ionos", str(dc.get("location")), str(dc.get("name")), str(cl.get("name")))
    return None


def same_cluster_problems(envs: Mapping[str, Any]) -> Problems:
    """Two environments on one cluster would reconcile each other's objects: a problem."""
    seen: dict[tuple[str, ...], str] = {}
    out: Problems = []
    for name, overlay in envs.items():
        ident = cluster_identity(overlay) if isinstance(overlay, dict) else None
        if ident is None:
            continue
        if ident in seen:
            key = "cluster" if ident[0] == "kubeconfig" else "ionos"
            out.append(((ENVIRONMENTS, name, key),
                        f"the same cluster as environment {seen[ident]!r}; each environment "
                        "needs a cluster of its own"))
        seen.setdefault(ident, name)
    return out
