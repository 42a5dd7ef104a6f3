"""Load the platform spec from YAML with errors that name the file, the line and the field path.

The loader keeps the line of every YAML node so that a pydantic error location such as
``('platform', 2, 'depends_on', 0)`` becomes ``platform.yaml:41: platform[2].depends_on[0]``.
Cross-references (depends_on, backup and certificate targets, remediation rules, LAN names) and
dependency cycles are checked here, after the models, because they span sections.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from platform_assets.spec.models import PlatformSpec
from platform_assets.spec.source import DirectorySource, SpecSource

if TYPE_CHECKING:
    from platform_assets.core.graph import Graph

Loc = tuple[str | int, ...]

DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "platform" / "platform.yaml"


@dataclass(frozen=True)
class SpecProblem:
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


# libyaml's parser when PyYAML has it (the wheels do): the pure-Python one was most of the time
# the code location took to load a large spec. Both give the nodes' lines and the same errors.
_Loader = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader


def _construct(node: yaml.Node, loc: Loc, lines: _Lines,
               loader: yaml.SafeLoader | yaml.CSafeLoader) -> Any:
    lines.by_loc[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                raise SpecError([SpecProblem("", key_node.start_mark.line + 1,
                                             format_loc((*loc, key)), "duplicate key")])
            out[key] = _construct(value_node, (*loc, key), lines, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*loc, i), lines, loader) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_yaml_with_lines(text: str, file: str) -> tuple[Any, _Lines]:
    lines = _Lines()
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError([SpecProblem(file, 1, "", "the file is empty; expected a mapping "
                                         "with apiVersion, metadata and ionos")])
        data = _construct(node, (), lines, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        msg = " ".join(s for s in (exc.context, exc.problem) if s) or str(exc)
        raise SpecError([SpecProblem(file, line, "", f"YAML syntax error: {msg}")]) from None
    except SpecError as exc:
        raise SpecError(
            [SpecProblem(file, p.line, p.path, p.message) for p in exc.problems]
        ) from None
    finally:
        loader.dispose()
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


def load_spec_text(
    text: str,
    file: str = "<spec>",
    base_dir: Path | None = None,
    path_exists: Callable[[str], bool] | None = None,
) -> PlatformSpec:
    """Parse and validate a spec held in ``text``.

    Args:
        text: the YAML.
        file: the name used in error messages.
        base_dir: directory that manifest paths are relative to (checked to exist when given).
        path_exists: alternative existence check for manifest paths (e.g. inside a Git tree).
    """
    data, lines = parse_yaml_with_lines(text, file)
    if not isinstance(data, dict):
        raise SpecError([SpecProblem(file, 1, "", f"expected a mapping at the top level, got "
                                     f"{type(data).__name__}")])
    try:
        spec = PlatformSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_pydantic_problems(exc, file, lines)) from None
    if path_exists is None and base_dir is not None:
        root = base_dir

        def path_exists(rel: str) -> bool:
            return (root / rel).is_dir()

    problems = [
        SpecProblem(file, lines.line(loc), format_loc(loc), msg)
        for loc, msg in check_references(spec, path_exists)
    ]
    if problems:
        raise SpecError(problems)
    return spec


def spec_path_from_env() -> Path:
    return Path(os.environ.get("PLATFORM_SPEC") or DEFAULT_SPEC)


def load_spec_from(source: SpecSource, spec_path: str) -> PlatformSpec:
    """Read and validate the spec at ``spec_path`` in ``source``; manifest paths (relative to the
    spec file) must be directories of the same source.

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
    spec_dir = posixpath.dirname(spec_path)
    return load_spec_text(text, label, path_exists=lambda rel: source.is_dir(
        posixpath.normpath(posixpath.join(spec_dir, rel))))


def _on_disk(path: str | os.PathLike[str] | None) -> tuple[DirectorySource, str]:
    p = Path(path) if path is not None else spec_path_from_env()
    return DirectorySource(p.parent), p.name


def load_spec(path: str | os.PathLike[str] | None = None) -> PlatformSpec:
    """Load the spec at ``path`` (default ``$PLATFORM_SPEC``, else the shipped example)."""
    return load_spec_from(*_on_disk(path))


def spec_base_dir(path: str | os.PathLike[str] | None = None) -> Path:
    return (Path(path) if path is not None else spec_path_from_env()).resolve().parent


def load_graph(path: str | os.PathLike[str] | None = None) -> Graph:
    """The asset graph of the spec at ``path`` (default ``$PLATFORM_SPEC``), without Dagster:
    ``core.loading.graph_from_source`` on the spec's directory."""
    from platform_assets.core.loading import graph_from_source

    return graph_from_source(*_on_disk(path))


def check_references(
    spec: PlatformSpec, path_exists: Callable[[str], bool] | None = None
) -> list[tuple[Loc, str]]:
    """Problems that span sections, as (field path, message). Pure."""
    out: list[tuple[Loc, str]] = []

    def dupes(items: list[Any], loc: Loc, what: str) -> None:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.name in seen:
                out.append(((*loc, i, "name"), f"duplicate {what} name {item.name!r}"))
            seen.add(item.name)

    ionos = spec.ionos
    dupes(ionos.lans, ("ionos", "lans"), "LAN")
    dupes(ionos.node_pools, ("ionos", "node_pools"), "node pool")
    dupes(ionos.buckets, ("ionos", "buckets"), "bucket")
    lan_names = {lan.name for lan in ionos.lans}
    for i, pool in enumerate(ionos.node_pools):
        for j, lan in enumerate(pool.lans):
            if lan not in lan_names:
                out.append(((("ionos", "node_pools", i, "lans", j)),
                            f"unknown LAN {lan!r}; expected one of {sorted(lan_names)}"))
    if ionos.mariadb and ionos.mariadb.lan not in lan_names:
        out.append((("ionos", "mariadb", "lan"),
                    f"unknown LAN {ionos.mariadb.lan!r}; expected one of {sorted(lan_names)}"))

    # Components: names are unique across both layers because they become asset keys.
    all_components = [("platform", i, c) for i, c in enumerate(spec.platform)] + [
        ("applications", i, c) for i, c in enumerate(spec.applications)
    ]
    seen: dict[str, Loc] = {}
    for layer, i, c in all_components:
        if c.name in seen:
            out.append(((layer, i, "name"), f"duplicate component name {c.name!r} (also at "
                         f"{format_loc(seen[c.name])})"))
        seen.setdefault(c.name, (layer, i, "name"))
    names = set(seen)
    for layer, i, c in all_components:
        for j, dep in enumerate(c.depends_on):
            if dep not in names:
                out.append(((layer, i, "depends_on", j),
                            f"unknown component {dep!r}; expected one of {sorted(names)}"))
            elif layer == "platform" and spec.layer_of(dep) == "applications":
                out.append(((layer, i, "depends_on", j),
                            f"platform component {c.name!r} cannot depend on application {dep!r}"))
        if c.source.manifests and path_exists and not path_exists(c.source.manifests.path):
            out.append(((layer, i, "source", "manifests", "path"),
                        f"manifest directory {c.source.manifests.path!r} does not exist"))
    cycle = find_cycle({c.name: list(c.depends_on) for _, _, c in all_components})
    if cycle:
        layer, i, _ = next(x for x in all_components if x[2].name == cycle[0])
        out.append(((layer, i, "depends_on"), "dependency cycle: " + " -> ".join(cycle)))

    bucket_names = {b.name for b in ionos.buckets}
    if spec.backups:
        b = spec.backups
        if b.bucket not in bucket_names:
            out.append((("backups", "bucket"),
                        f"unknown bucket {b.bucket!r}; expected one of {sorted(bucket_names)}"))
        if b.cross_region_copy:
            cb = b.cross_region_copy.bucket
            if cb not in bucket_names:
                out.append((("backups", "cross_region_copy", "bucket"),
                            f"unknown bucket {cb!r}; expected one of {sorted(bucket_names)}"))
            elif (b.bucket in bucket_names
                  and _bucket(spec, cb).region == _bucket(spec, b.bucket).region):
                out.append((("backups", "cross_region_copy", "bucket"),
                            f"bucket {cb!r} is in the same region as {b.bucket!r}; a cross-region "
                            "copy needs another region"))
        dupes(b.targets, ("backups", "targets"), "backup target")
        protectable = names | {"mariadb"}
        for i, t in enumerate(b.targets):
            if t.protects is not None and t.protects not in protectable:
                out.append((("backups", "targets", i, "protects"),
                            f"unknown component {t.protects!r}; expected one of "
                            f"{sorted(protectable)}"))
            if t.kind == "database" and not ionos.mariadb:
                out.append((("backups", "targets", i, "kind"),
                            "a database target needs ionos.mariadb in the spec"))

    dupes(spec.certificates.items, ("certificates", "items"), "certificate")
    for i, cert in enumerate(spec.certificates.items):
        if cert.component and cert.component not in names:
            out.append((("certificates", "items", i, "component"),
                        f"unknown component {cert.component!r}; expected one of {sorted(names)}"))

    dupes(spec.remediation.rules, ("remediation", "rules"), "remediation rule")
    targets = names | {"cluster", "mariadb"} | {t.name for t in (spec.backups.targets
                                                                  if spec.backups else [])}
    targets |= {c.name for c in spec.certificates.items}
    for i, rule in enumerate(spec.remediation.rules):
        if rule.target and rule.target not in targets:
            out.append((("remediation", "rules", i, "target"),
                        f"unknown asset {rule.target!r}; expected one of {sorted(targets)}"))
        if rule.action == "expand_pvc" and not rule.expand_by:
            out.append((("remediation", "rules", i, "expand_by"),
                        "an expand_pvc rule needs expand_by, e.g. 10Gi"))
    dupes(spec.change_calendar.maintenance_windows, ("change_calendar", "maintenance_windows"),
          "maintenance window")
    dupes(spec.change_calendar.freezes, ("change_calendar", "freezes"), "freeze")
    return out


def _bucket(spec: PlatformSpec, name: str) -> Any:
    return next(b for b in spec.ionos.buckets if b.name == name)


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
