"""Load the platform spec from YAML with errors that name the file, the line and the field path.

The loader keeps the line of every YAML node so that a pydantic error location such as
``('platform', 2, 'depends_on', 0)`` becomes ``platform.yaml:41: platform[2].depends_on[0]``.
Cross-references (depends_on, backup and certificate targets, remediation rules, LAN names) and
dependency cycles are checked here, after the models, because they span sections.
"""

from __future__ import annotations

import functools
import os
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from platform_assets.core import safeyaml
from platform_assets.spec.edge import check_edge
from platform_assets.spec.models import (
    INFRASTRUCTURE_OUTPUTS,
    TOOL_METHODS,
    BackupTarget,
    Component,
    InfrastructureInput,
    PlatformSpec,
    split_kind,
)
from platform_assets.spec.source import DirectorySource, SpecSource

if TYPE_CHECKING:
    from platform_assets.core.graph import Graph
    from platform_assets.spec import environments

Loc = tuple[str | int, ...]
Problems = list[tuple[Loc, str]]
# A manifest path (relative to the spec) → what is wrong with it, or None.
PathCheck = Callable[[str], "str | None"]

DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "platform" / "platform.yaml"


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a spec: the file, the line (when known), the field's path and what is
    wrong."""
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(ValueError):
    """The spec is invalid. ``str()`` lists every problem as ``file:line: field.path: message``."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems
        n = len(problems)
        head = f"invalid platform spec ({n} problem{'s' if n != 1 else ''}):"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


def format_loc(loc: Iterable[str | int]) -> str:
    """A pydantic error location as a field path: ``ionos.node_pools[0].cores``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Lines:
    """Maps a field path to the 1-based line of its YAML node."""

    def __init__(self) -> None:
        self.by_loc: dict[Loc, int] = {}

    def line(self, loc: Loc) -> int | None:
        # Fall back to the nearest ancestor that has a line (a missing key → its parent's line).
        for i in range(len(loc), -1, -1):
            if loc[:i] in self.by_loc:
                return self.by_loc[loc[:i]]
        return None


def parse_yaml_with_lines(text: str, file: str) -> tuple[Any, _Lines]:
    """The data of a single-document YAML ``text`` and the line of each field path; the YAML is
    read with the limits of ``core.safeyaml`` (aliases, depth, size, duplicate keys)."""
    lines = _Lines()
    try:
        data = safeyaml.load_one(text, file, lines.by_loc.__setitem__)
    except safeyaml.YamlError as exc:
        raise SpecError([SpecProblem(file, exc.line, "", exc.message)]) from None
    if data is None:
        raise SpecError([SpecProblem(file, 1, "", "the file is empty; expected a mapping "
                                     "with apiVersion, metadata and ionos")])
    return data, lines


def _pydantic_problems(exc: ValidationError, file: str, lines: _Lines) -> list[SpecProblem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key; check the spelling against docs/spec.md"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "literal_error":
            msg = f"{err.get('input')!r} is not allowed: {msg.lower()}"
        elif "type" in err["type"] or err["type"].endswith("_parsing"):
            msg = f"wrong type ({err.get('input')!r}): {msg.lower()}"
        problems.append(SpecProblem(file, lines.line(loc), format_loc(loc), msg))
    return problems


def _validate(data: Any, file: str, lines: _Lines) -> PlatformSpec:
    if not isinstance(data, dict):
        raise SpecError([SpecProblem(file, 1, "", f"expected a mapping at the top level, got "
                                     f"{type(data).__name__}")])
    try:
        return PlatformSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_pydantic_problems(exc, file, lines)) from None


def _spec_fields() -> list[str]:
    return [f.alias or name for name, f in PlatformSpec.model_fields.items()]


def load_specs_text(
    text: str,
    file: str = "<spec>",
    base_dir: Path | None = None,
    path_exists: Callable[[str], bool] | None = None,
    check_path: PathCheck | None = None,
) -> dict[str | None, PlatformSpec]:
    """Parse and validate a spec held in ``text``: its environments, each resolved into a
    complete single-environment spec (``spec.environments``), by name; a spec without
    environments is the one entry ``None``. Arguments as :func:`load_spec_text`.

    Raises:
        SpecError: every problem of the base and of each environment, naming file and line.
    """
    data, lines = parse_yaml_with_lines(text, file)
    base = _validate(data, file, lines)
    if check_path is None and path_exists is None and base_dir is not None:
        check_path = source_path_check(DirectorySource(base_dir), "platform.yaml")
    if not base.environments:
        found = [*_single_problems(data), *check_references(base, path_exists, check_path)]
        if found:
            raise SpecError([SpecProblem(file, lines.line(loc), format_loc(loc), msg)
                             for loc, msg in found])
        return {None: base}
    # Resolving environments: a fleet's spec only (the module is not imported for one without).
    from platform_assets.spec import environments

    if check_path is not None:
        # Environments share the base's manifest directories: each is looked at once.
        check_path = functools.lru_cache(maxsize=None)(check_path)
    resolved, overlay_problems = environments.resolve(data, _spec_fields())
    problems = [SpecProblem(file, lines.line(loc), format_loc(loc), msg)
                for loc, msg in overlay_problems]
    specs: dict[str | None, PlatformSpec] = {}
    # An environment whose overrides are wrong is not validated further (its resolved document
    # would repeat the same problem elsewhere); nor is any when the base itself is wrong.
    bad = {str(loc[1]) if loc[:1] == (environments.ENVIRONMENTS,) and len(loc) > 1 else "*"
           for loc, _ in overlay_problems}
    for env in resolved:
        if env.name in bad or "*" in bad:
            continue
        spec, env_problems = _environment_spec(env, file, lines, path_exists, check_path)
        problems += env_problems
        if spec is not None:
            specs[env.name] = spec
    problems += _same_alert_selector(resolved, specs, file, lines)
    if problems:
        raise SpecError(problems)
    return specs


def _single_problems(data: dict[str, Any]) -> Problems:
    """A spec without environments has exactly one cluster and no promotion."""
    out: Problems = []
    if data.get("promotion") is not None:
        out.append((("promotion",), "promotion needs environments: it names the environment "
                                    "whose checks must pass first"))
    if data.get("ionos") is None and data.get("cluster") is None:
        out.append(((), "no cluster: set ionos (an IONOS managed cluster) or cluster (an "
                        "existing one, by kubeconfig)"))
    elif data.get("ionos") is not None and data.get("cluster") is not None:
        out.append((("cluster",), "set either ionos or cluster, not both"))
    return out


def _environment_spec(env: environments.Resolved, file: str, lines: _Lines,
                      path_exists: Callable[[str], bool] | None,
                      check_path: PathCheck | None
                      ) -> tuple[PlatformSpec | None, list[SpecProblem]]:
    """One environment's spec, or the problems of its resolved document (each named where it
    was written: in the environment's overrides, or in the base it inherits)."""
    problem = _problem_of(env, file, lines)
    try:
        spec = PlatformSpec.model_validate(env.data)
    except ValidationError as exc:
        return None, [problem(p.loc, p.message) for p in _loc_problems(exc)]
    found = check_references(spec, path_exists, check_path)
    return (None if found else spec), [problem(loc, msg) for loc, msg in found]


def _problem_of(env: environments.Resolved, file: str,
                lines: _Lines) -> Callable[[Loc, str], SpecProblem]:
    """A problem at a location of ``env``'s resolved document, named where it was written."""
    def problem(loc: Loc, msg: str) -> SpecProblem:
        src, overridden = env.source_loc(loc)
        where = format_loc(src) if overridden else \
            f"{format_loc(loc)} (environment {env.name})".lstrip()
        return SpecProblem(file, lines.line(src), where, msg)

    return problem


def _same_alert_selector(resolved: list[environments.Resolved],
                         specs: dict[str | None, PlatformSpec], file: str,
                         lines: _Lines) -> list[SpecProblem]:
    """Two environments with remediation rules that select their alerts alike could never tell
    whose an alert is (``core.alert_routing``): a problem, named where the second's selector
    comes from (its ``alert_selector``, or its cluster's name)."""
    from platform_assets.core.alert_routing import alert_selector

    seen: dict[str, str] = {}
    out: list[SpecProblem] = []
    for env in resolved:
        spec = specs.get(env.name)
        if spec is None or not spec.remediation.rules:
            continue
        selector = alert_selector(spec)
        key = repr(sorted(selector.items()))
        if key in seen:
            loc: Loc = (("remediation", "alert_selector") if spec.remediation.alert_selector
                        else ("cluster", "name") if spec.cluster else ("ionos", "cluster", "name"))
            out.append(_problem_of(env, file, lines)(loc, (
                f"alerts could not tell environment {env.name!r} from {seen[key]!r}: both "
                f"select {', '.join(f'{k}={v}' for k, v in selector.items())}; give their "
                "clusters different names or set remediation.alert_selector")))
        seen.setdefault(key, env.name)
    return out


@dataclass(frozen=True)
class _LocProblem:
    loc: Loc
    message: str


def _loc_problems(exc: ValidationError) -> list[_LocProblem]:
    """The pydantic problems of ``exc`` by location, with the loader's messages."""
    marker = _Lines()
    out = []
    for p, err in zip(_pydantic_problems(exc, "", marker), exc.errors(include_url=False),
                      strict=True):
        loc = tuple(x for x in err["loc"]
                    if not (isinstance(x, str) and x.startswith("function-")))
        out.append(_LocProblem(loc, p.message))
    return out


def load_spec_text(
    text: str,
    file: str = "<spec>",
    base_dir: Path | None = None,
    path_exists: Callable[[str], bool] | None = None,
    check_path: PathCheck | None = None,
    environment: str | None = None,
) -> PlatformSpec:
    """Parse and validate a spec held in ``text``.

    Args:
        text: the YAML.
        file: the name used in error messages.
        base_dir: directory that manifest paths are relative to (checked to exist when given).
        path_exists: alternative existence check for manifest paths (e.g. inside a Git tree).
        check_path: what is wrong with a manifest path, or None (replaces the two above).
        environment: which environment's spec, for a spec with environments.
    """
    specs = load_specs_text(text, file, base_dir, path_exists, check_path)
    return pick_environment(specs, environment, file)


def pick_environment(specs: dict[str | None, PlatformSpec], environment: str | None,
                     file: str) -> PlatformSpec:
    """The spec of ``environment`` among ``specs`` (``None``: the spec has no environments)."""
    if environment in specs:
        return specs[environment]
    names = sorted(k for k in specs if k is not None)
    what = (f"the spec has environments ({', '.join(names)}): name one" if environment is None
            else f"unknown environment {environment!r}; expected one of {names}" if names
            else f"the spec has no environments; {environment!r} is not one")
    raise SpecError([SpecProblem(file, None, "environments", what)])


def spec_path_from_env() -> Path:
    """``$PLATFORM_SPEC``, or the shipped example spec when it is unset."""
    return Path(os.environ.get("PLATFORM_SPEC") or DEFAULT_SPEC)


def load_specs_from(source: SpecSource, spec_path: str) -> dict[str | None, PlatformSpec]:
    """Read and validate the spec at ``spec_path`` in ``source``: each environment's spec by
    name (``None``: the spec has no environments); manifest paths (relative to the spec file)
    must be directories of the same source.

    Raises:
        SpecError: the spec cannot be read or is invalid; every problem names file and line.
    """
    label = source.describe(spec_path)
    try:
        data = source.read_bytes(spec_path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SpecError([SpecProblem(label, None, "", f"cannot read the spec: {reason}")]
                        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([SpecProblem(label, None, "", f"cannot read the spec: not UTF-8 text "
                                     f"(byte {exc.start}: {exc.reason})")]) from None
    return load_specs_text(text, label, check_path=source_path_check(source, spec_path))


def load_spec_from(source: SpecSource, spec_path: str,
                   environment: str | None = None) -> PlatformSpec:
    """The spec of ``environment`` (None: a spec without environments) at ``spec_path`` in
    ``source``, as :func:`load_specs_from` reads it.

    Raises:
        SpecError: the spec cannot be read or is invalid, or has no such environment.
    """
    return pick_environment(load_specs_from(source, spec_path), environment,
                            source.describe(spec_path))


def source_path_check(source: SpecSource, spec_path: str) -> PathCheck:
    """What is wrong with a manifest directory (relative to the spec at ``spec_path``) in
    ``source``: missing, or holding a symbolic link (never followed: a link in a commit could
    point at any file of the host)."""
    spec_dir = posixpath.dirname(spec_path)

    def check(rel: str) -> str | None:
        where = posixpath.normpath(posixpath.join(spec_dir, rel))
        try:
            link = source.first_link(where)
            is_dir = source.is_dir(where)
        except OSError as exc:  # a name too long, a directory we may not read, ...
            return f"manifest directory {rel!r} cannot be read: {exc.strerror or exc}"
        if link is not None:
            return (f"manifest directory {rel!r} has a symbolic link at {link!r}; links are "
                    "refused: commit the files themselves")
        if not is_dir:
            return f"manifest directory {rel!r} does not exist"
        return None

    return check


def _on_disk(path: str | os.PathLike[str] | None) -> tuple[DirectorySource, str]:
    p = Path(path) if path is not None else spec_path_from_env()
    return DirectorySource(p.parent), p.name


def load_spec(path: str | os.PathLike[str] | None = None) -> PlatformSpec:
    """Load the spec at ``path`` (default ``$PLATFORM_SPEC``, else the shipped example)."""
    return load_spec_from(*_on_disk(path))


def spec_base_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The directory manifest paths are relative to: the spec file's, resolved."""
    return (Path(path) if path is not None else spec_path_from_env()).resolve().parent


def load_graph(path: str | os.PathLike[str] | None = None,
               environment: str | None = None) -> Graph:
    """The asset graph of the spec at ``path`` (default ``$PLATFORM_SPEC``), without Dagster:
    ``core.loading.graph_from_source`` on the spec's directory; of ``environment`` when the
    spec has environments."""
    from platform_assets.core.loading import graph_from_source

    return graph_from_source(*_on_disk(path), environment=environment)


def load_graphs(path: str | os.PathLike[str] | None = None) -> list[Graph]:
    """One graph per environment of the spec at ``path`` (default ``$PLATFORM_SPEC``), in the
    order they are written; a spec without environments has one, unprefixed."""
    from platform_assets.core.loading import graphs_from_source

    return graphs_from_source(*_on_disk(path))


def _dupes(items: list[Any], loc: Loc, what: str) -> Problems:
    out: Problems = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.name in seen:
            out.append(((*loc, i, "name"), f"duplicate {what} name {item.name!r}"))
        seen.add(item.name)
    return out


def _layered(spec: PlatformSpec) -> list[tuple[str, int, Component]]:
    return [("platform", i, c) for i, c in enumerate(spec.platform)] + [
        ("applications", i, c) for i, c in enumerate(spec.applications)]


def _check_ionos(spec: PlatformSpec) -> Problems:
    ionos = spec.ionos
    if ionos is None:
        return []
    out = (_dupes(ionos.lans, ("ionos", "lans"), "LAN")
           + _dupes(ionos.node_pools, ("ionos", "node_pools"), "node pool")
           + _dupes(ionos.buckets, ("ionos", "buckets"), "bucket")
           + _dupes(ionos.postgres, ("ionos", "postgres"), "PostgreSQL cluster")
           + _dupes(ionos.inmemorydb, ("ionos", "inmemorydb"), "in-memory database")
           + _dupes(ionos.registries, ("ionos", "registries"), "container registry"))
    for i, reg in enumerate(ionos.registries):
        out += _dupes(reg.tokens, ("ionos", "registries", i, "tokens"), "token")
    lan_names = {lan.name for lan in ionos.lans}
    out += [(("ionos", "node_pools", i, "lans", j),
             f"unknown LAN {lan!r}; expected one of {sorted(lan_names)}")
            for i, pool in enumerate(ionos.node_pools) for j, lan in enumerate(pool.lans)
            if lan not in lan_names]
    if ionos.mariadb and ionos.mariadb.lan not in lan_names:
        out.append((("ionos", "mariadb", "lan"),
                    f"unknown LAN {ionos.mariadb.lan!r}; expected one of {sorted(lan_names)}"))
    out += [(("ionos", "postgres", i, "lan"),
             f"unknown LAN {pg.lan!r}; expected one of {sorted(lan_names)}")
            for i, pg in enumerate(ionos.postgres) if pg.lan not in lan_names]
    out += [(("ionos", "inmemorydb", i, "lan"),
             f"unknown LAN {mem.lan!r}; expected one of {sorted(lan_names)}")
            for i, mem in enumerate(ionos.inmemorydb) if mem.lan not in lan_names]
    return out


def _check_component_names(spec: PlatformSpec) -> Problems:
    """Names are unique across both layers because they become asset keys."""
    out: Problems = []
    seen: dict[str, Loc] = {}
    for layer, i, c in _layered(spec):
        if c.name in seen:
            out.append(((layer, i, "name"), f"duplicate component name {c.name!r} (also at "
                         f"{format_loc(seen[c.name])})"))
        seen.setdefault(c.name, (layer, i, "name"))
    return out


def _check_dependencies(spec: PlatformSpec) -> Problems:
    out: Problems = []
    names = {c.name for c in spec.components}
    for layer, i, c in _layered(spec):
        for j, dep in enumerate(c.depends_on):
            if dep not in names:
                out.append(((layer, i, "depends_on", j),
                            f"unknown component {dep!r}; expected one of {sorted(names)}"))
            elif layer == "platform" and spec.layer_of(dep) == "applications":
                out.append(((layer, i, "depends_on", j),
                            f"platform component {c.name!r} cannot depend on application {dep!r}"))
    cycle = find_cycle({c.name: list(c.depends_on) for c in spec.components})
    if cycle:
        layer, i, _ = next(x for x in _layered(spec) if x[2].name == cycle[0])
        out.append(((layer, i, "depends_on"), "dependency cycle: " + " -> ".join(cycle)))
    return out


def _check_absent(spec: PlatformSpec) -> Problems:
    """An absent component only prunes: a field about applying or checking its objects, or a
    component that still depends on it, is a mistake to report, not to ignore."""
    out: Problems = []
    absent = {c.name for c in spec.components if c.absent}
    for layer, i, c in _layered(spec):
        loc = (layer, i)
        if not c.absent:
            out += [((*loc, "depends_on", j), f"component {dep!r} is absent (absent: true): "
                     f"drop it from depends_on, or component {c.name!r} loses what it needs")
                    for j, dep in enumerate(c.depends_on) if dep in absent]
            continue
        why = "makes no sense with absent: true (the reconcile only deletes the component)"
        if not c.prune:
            out.append(((*loc, "prune"), f"prune: false {why}; remove it, or remove absent"))
        if c.drift == "observe":
            out.append(((*loc, "drift"), f"drift: observe never writes, so it cannot delete; "
                        f"{why}: remove it, or remove absent"))
        for name, value in (("health", c.health), ("ignore_differences", c.ignore_differences),
                            ("allow_replace", c.allow_replace)):
            if value:
                out.append(((*loc, name), f"{name} {why}: remove it"))
    return out + [(where, f"component {name!r} is absent (absent: true): nothing of it is "
                          "left to act on; remove this reference")
                  for where, name in _component_references(spec) if name in absent]


def _component_references(spec: PlatformSpec) -> list[tuple[Loc, str]]:
    """Where a section outside the components names one: what acts on its objects."""
    refs: list[tuple[Loc, str]] = [
        (("remediation", "rules", i, "component"), r.component)
        for i, r in enumerate(spec.remediation.rules) if r.component]
    for i, t in enumerate(spec.backups.targets if spec.backups else []):
        if t.protects:
            refs.append((("backups", "targets", i, "protects"), t.protects))
        for field, tool in (("velero", t.velero), ("longhorn", t.longhorn)):
            if tool is not None and tool.component:
                refs.append((("backups", "targets", i, field, "component"), tool.component))
    for i, lb in enumerate(spec.ionos.load_balancers if spec.ionos else []):
        if lb.fronts is not None:
            refs.append((("ionos", "load_balancers", i, "fronts", "component"),
                         lb.fronts.component))
    return refs


def _output_assets(spec: PlatformSpec) -> set[str]:
    """The infrastructure assets a component may read outputs of, as ``inputs`` names them."""
    ionos = spec.ionos
    return ({"mariadb"} if spec.mariadb else set()) | {
        f"postgres/{pg.name}" for pg in (ionos.postgres if ionos else [])} | {
        f"inmemorydb/{mem.name}" for mem in (ionos.inmemorydb if ionos else [])} | {
        f"ip_block/{b.name}" for b in (ionos.ip_blocks if ionos else [])} | {
        f"registry/{reg.name}" for reg in (ionos.registries if ionos else [])}


def _check_pull_secret(w: InfrastructureInput, loc: Loc, spec: PlatformSpec) -> Problems:
    """A registry input names one of the registry's tokens for its image pull Secret, whose
    only key is ``.dockerconfigjson`` (what Kubernetes requires of that Secret type)."""
    if w.kind != "registry":
        return [((*loc, "token"), "only registry inputs name a token")] if w.token else []
    if "dockerconfigjson" not in w.keys:
        return [((*loc, "token"), "a token is only used by the dockerconfigjson output")] \
            if w.token else []
    reg = next(r for r in spec.ionos_infra.registries if r.name == w.name)
    tokens = sorted(t.name for t in reg.tokens)
    if w.token is None:
        return [((*loc, "token"), f"the dockerconfigjson output needs the token whose "
                                  f"credentials it holds; expected one of {tokens}")]
    if w.token not in tokens:
        return [((*loc, "token"), f"registry {reg.name} has no token {w.token!r}; expected one "
                                  f"of {tokens}")]
    if w.keys != {"dockerconfigjson": ".dockerconfigjson"}:
        return [((*loc, "keys"), "an image pull Secret holds exactly one key: write "
                                 "{dockerconfigjson: .dockerconfigjson} (type "
                                 "kubernetes.io/dockerconfigjson)")]
    return []


def _check_wiring(w: InfrastructureInput, loc: Loc, known: set[str]) -> Problems:
    if w.asset not in known:
        return [((*loc, "asset"), f"unknown infrastructure asset {w.asset!r}; expected one of "
                                  f"{sorted(known)}")]
    plain, secret = INFRASTRUCTURE_OUTPUTS[w.kind]
    out: Problems = []
    for output in w.keys:
        if output not in plain + secret:
            out.append(((*loc, "keys", output), f"{w.asset} has no output {output!r}; expected "
                                                f"one of {sorted(plain + secret)}"))
        elif output in secret and w.secret is None:
            out.append(((*loc, "keys", output), f"{output!r} is a secret: write it into a "
                                                "Secret (secret: <name>), never a ConfigMap"))
    return out


def _check_inputs(spec: PlatformSpec) -> Problems:
    known = _output_assets(spec)
    out: Problems = [((layer, i, "inputs", "mariadb"),
                      "the MariaDB outputs need ionos.mariadb in the spec")
                     for layer, i, c in _layered(spec)
                     if c.inputs.mariadb and not spec.mariadb]
    for layer, i, c in _layered(spec):
        targets: dict[tuple[str, str], int] = {}
        for j, w in enumerate(c.inputs.infrastructure):
            loc = (layer, i, "inputs", "infrastructure", j)
            out += _check_wiring(w, loc, known)
            if w.asset in known:
                out += _check_pull_secret(w, loc, spec)
            if w.target in targets:
                out.append(((*loc, w.target[0].lower().replace("configmap", "config_map")),
                            f"{w.target[0]} {w.target[1]} is written by inputs.infrastructure"
                            f"[{targets[w.target]}] already; one input per object"))
            targets.setdefault(w.target, j)
            if c.inputs.mariadb and w.target == ("ConfigMap", c.inputs.mariadb.config_map):
                out.append(((*loc, "config_map"), f"ConfigMap {w.target[1]} is written by "
                                                  "inputs.mariadb already; one input per object"))
    return out


def _place_problem(spec: PlatformSpec, loc: Loc, bucket: str | None,
                   store: str | None) -> Problems:
    """What is wrong with a ``bucket``/``store`` reference of ``backups`` (at ``loc``)."""
    if store is not None:
        stores = sorted(s.name for s in spec.object_stores)
        if spec.object_store(store) is None:
            return [((*loc, "store"), f"unknown object store {store!r}; expected one of "
                                      f"{stores} (object_stores)")]
        return []
    if spec.ionos is None:
        return [((*loc, "bucket"), f"{bucket!r} would be an ionos.buckets bucket, and this "
                                   "environment has no ionos (its cluster is an existing one): "
                                   "declare the bucket under object_stores and name it with "
                                   "store")]
    buckets = sorted(x.name for x in spec.buckets)
    if bucket not in buckets:
        return [((*loc, "bucket"), f"unknown bucket {bucket!r}; expected one of {buckets}")]
    return []


def _place_of(spec: PlatformSpec, dr: bool) -> tuple[str, str | None]:
    """Which S3 service and region a backup place is in: IONOS's, or a store's endpoint."""
    bk = spec.backups
    assert bk is not None
    place = bk.cross_region_copy if dr and bk.cross_region_copy else bk
    store = spec.object_store(place.store)
    where = (store.endpoint or f"${store.endpoint_env}") if store else "ionos"
    return where, spec.backup_bucket(dr)[1]


def _check_bucket_refs(spec: PlatformSpec) -> Problems:
    b = spec.backups
    assert b is not None
    loc: Loc = ("backups",)
    out = _place_problem(spec, loc, b.bucket, b.store)
    copy = b.cross_region_copy
    if copy is None:
        return out
    copy_problems = _place_problem(spec, (*loc, "cross_region_copy"), copy.bucket, copy.store)
    if out or copy_problems:
        return out + copy_problems
    if _place_of(spec, False) == _place_of(spec, True):
        field = "store" if copy.store else "bucket"
        return [((*loc, "cross_region_copy", field),
                 f"{field} {copy.store or copy.bucket!r} is in the same region as "
                 f"{spec.backup_bucket()[0]!r}; a cross-region copy needs another region")]
    return []


def _check_backups(spec: PlatformSpec) -> Problems:
    b = spec.backups
    if b is None:
        return _dupes(spec.object_stores, ("object_stores",), "object store")
    out = (_dupes(spec.object_stores, ("object_stores",), "object store")
           + _check_bucket_refs(spec) + _dupes(b.targets, ("backups", "targets"), "backup target"))
    protectable = {c.name for c in spec.components} | {"mariadb"}
    for i, t in enumerate(b.targets):
        if t.kind == "postgres":
            out += _check_postgres_target(spec, t, i)
            continue
        if t.protects is not None and t.protects not in protectable:
            out.append((("backups", "targets", i, "protects"),
                        f"unknown component {t.protects!r}; expected one of "
                        f"{sorted(protectable)}"))
        if t.kind == "database" and not spec.mariadb:
            out.append((("backups", "targets", i, "kind"),
                        "a database target needs ionos.mariadb in the spec"))
        if t.method in TOOL_METHODS:
            out += _check_tool_target(spec, t, i)
        out += _check_included_kinds(t, i)
        if t.kind == "volume" and t.method == "ionos-snapshot" and spec.ionos is None:
            out.append((("backups", "targets", i, "method"),
                        "an IONOS snapshot needs an IONOS cluster, and this environment's is an "
                        "existing one: use method files, csi-snapshot or longhorn"))
    return out


def _check_included_kinds(t: BackupTarget, i: int) -> Problems:
    """``include_kinds`` only on a target that exports the namespaces itself, each kind once and
    namespaced (a cluster-scoped kind has no objects in a namespace to export)."""
    loc = ("backups", "targets", i, "include_kinds")
    if not t.include_kinds:
        return []
    if t.kind != "resources" or t.method == "velero":
        why = ("Velero backs up every kind of the namespaces itself" if t.method == "velero"
               else f"a {t.kind} target exports no namespace")
        return [(loc, f"include_kinds is for resources targets: {why}")]
    # Imported only here: loading the code location of a spec without include_kinds stays
    # free of the manifest reader.
    from platform_assets.core.manifests import CLUSTER_SCOPED_KINDS

    out: Problems = []
    seen: set[str] = set()
    for j, value in enumerate(t.include_kinds):
        kind = split_kind(value)[1]
        if kind in CLUSTER_SCOPED_KINDS:
            out.append(((*loc, j), f"{value} is cluster-scoped: a resources backup exports "
                                   "the objects of namespaces"))
        elif value in seen:
            out.append(((*loc, j), f"{value} is listed twice"))
        seen.add(value)
    return out


def _check_tool_target(spec: PlatformSpec, t: BackupTarget, i: int) -> Problems:
    """A ``method: velero`` or ``method: longhorn`` target needs the component that installs
    the tool (named in its settings, or the only helm_release of the chart)."""
    from platform_assets.core.graph import tool_component_of

    if tool_component_of(spec, t) is not None:
        return []
    tool = t.method
    charts = sorted(c.name for c in spec.components
                    if c.source.helm_release and c.source.helm_release.chart == tool)
    settings = getattr(t, tool)
    named = settings.component if settings else None
    if named:
        return [(("backups", "targets", i, tool, "component"),
                 f"unknown component {named!r}; expected the component that installs "
                 f"{tool.capitalize()} (one of {sorted(c.name for c in spec.components)})")]
    why = (f"method {tool} needs {tool.capitalize()} installed by the spec: add a platform "
           f"component with source.helm_release.chart {tool} (or name yours in "
           f"{tool}.component)" if not charts else
           f"several components install {tool.capitalize()} ({', '.join(charts)}): say which "
           f"in {tool}.component")
    return [(("backups", "targets", i, "method"), why)]


def _check_postgres_target(spec: PlatformSpec, t: BackupTarget, i: int) -> Problems:
    from platform_assets.core.graph import postgres_cluster_of

    if postgres_cluster_of(spec, t) is not None:
        return []
    names = sorted(f"postgres/{pg.name}" for pg in (spec.ionos.postgres if spec.ionos else []))
    if t.protects:
        return [(("backups", "targets", i, "protects"), f"unknown PostgreSQL cluster "
                 f"{t.protects!r}; expected one of {names}")]
    why = ("a postgres target needs ionos.postgres in the spec" if not names else
           f"several PostgreSQL clusters: say which with protects (one of {names})")
    return [(("backups", "targets", i, "kind"), why)]


def _check_certificates(spec: PlatformSpec) -> Problems:
    names = {c.name for c in spec.components}
    return _dupes(spec.certificates.items, ("certificates", "items"), "certificate") + [
        (("certificates", "items", i, "component"),
         f"unknown component {cert.component!r}; expected one of {sorted(names)}")
        for i, cert in enumerate(spec.certificates.items)
        if cert.component and cert.component not in names]


def _check_remediation(spec: PlatformSpec) -> Problems:
    out = _dupes(spec.remediation.rules, ("remediation", "rules"), "remediation rule")
    names = {c.name for c in spec.components}
    targets = names | {"cluster", "mariadb"}
    targets |= {t.name for t in (spec.backups.targets if spec.backups else [])}
    targets |= {c.name for c in spec.certificates.items}
    for i, rule in enumerate(spec.remediation.rules):
        if rule.target and rule.target not in targets:
            out.append((("remediation", "rules", i, "target"),
                        f"unknown asset {rule.target!r}; expected one of {sorted(targets)}"))
        if rule.component and rule.component not in names:
            out.append((("remediation", "rules", i, "component"),
                        f"unknown component {rule.component!r}; expected one of "
                        f"{sorted(names)}"))
        if rule.action == "expand_pvc" and not rule.expand_by:
            out.append((("remediation", "rules", i, "expand_by"),
                        "an expand_pvc rule needs expand_by, e.g. 10Gi"))
    return out


def _check_calendar(spec: PlatformSpec) -> Problems:
    cal = spec.change_calendar
    return (_dupes(cal.maintenance_windows, ("change_calendar", "maintenance_windows"),
                   "maintenance window")
            + _dupes(cal.freezes, ("change_calendar", "freezes"), "freeze"))


# Every check that spans sections, in the order its problems are reported.
REFERENCE_CHECKS: tuple[Callable[[PlatformSpec], Problems], ...] = (
    _check_ionos, _check_component_names, _check_dependencies, _check_absent, _check_inputs,
    _check_backups, _check_certificates, _check_remediation, _check_calendar, check_edge,
)


def check_manifest_paths(spec: PlatformSpec, check_path: PathCheck) -> Problems:
    """What ``check_path`` finds wrong with each component's manifest directory."""
    out: Problems = []
    for layer, i, c in _layered(spec):
        problem = check_path(c.source.manifests.path) if c.source.manifests else None
        if problem:
            out.append(((layer, i, "source", "manifests", "path"), problem))
    return out


def check_references(
    spec: PlatformSpec, path_exists: Callable[[str], bool] | None = None,
    check_path: PathCheck | None = None,
) -> Problems:
    """Problems that span sections, as (field path, message). Pure.

    Args:
        spec: the validated models.
        path_exists: whether a manifest directory (relative to the spec) exists.
        check_path: what is wrong with a manifest directory, or None (replaces ``path_exists``).
    """
    if check_path is None and path_exists is not None:
        exists = path_exists

        def check_path(rel: str) -> str | None:
            return None if exists(rel) else f"manifest directory {rel!r} does not exist"

    out = [problem for check in REFERENCE_CHECKS for problem in check(spec)]
    return out + (check_manifest_paths(spec, check_path) if check_path else [])


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as [a, b, ..., a], or None. Pure, deterministic."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, []):
            if m not in graph:
                continue
            if state.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
