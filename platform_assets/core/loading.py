"""From a spec source to the asset graph: the one way a graph is built from files. Pure.

:func:`graph_from_source` reads the spec from a :class:`~platform_assets.spec.source.SpecSource`
(a directory on disk, or a Git commit's tree), validates it (manifest paths must exist in the same
tree), digests each manifest directory into its component's code version, and sets the graph's
``base_dir`` when the files are on disk. The loader (``spec.loader.load_graph``), the Git sensor,
the runs a commit triggers and the CLI all build their graph here.

A run requested by the ``git_changes`` sensor carries the commit it applies as a tag;
:func:`commit_of_run` reads it and :func:`graph_at_commit` loads that commit's tree from disk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from platform_assets.core.graph import Graph, build_graph
from platform_assets.names import TAG_COMMIT
from platform_assets.spec.loader import (
    SpecError,
    SpecProblem,
    load_specs_from,
    pick_environment,
)
from platform_assets.spec.models import PlatformSpec
from platform_assets.spec.source import MANIFEST_SUFFIXES, DirectorySource, SpecSource

_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def manifest_digest(source: SpecSource, directory: str) -> str:
    """A digest of every manifest file's name (relative to ``directory``) and content.

    Files are taken in path order, part by part (as ``sorted`` orders ``Path``s), so a directory
    on disk and the same tree in Git digest alike. A missing directory digests as empty.
    """
    prefix = "" if directory in ("", ".") else directory.rstrip("/") + "/"
    files = sorted((f[len(prefix):] for f in source.list_tree(directory)
                    if f.startswith(prefix) and f.endswith(MANIFEST_SUFFIXES)),
                   key=lambda rel: rel.split("/"))
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode() + b"\0" + _read(source, prefix + rel) + b"\0")
    return h.hexdigest()[:12]


def _read(source: SpecSource, path: str) -> bytes:
    try:
        return source.read_bytes(path)
    except OSError as exc:
        raise SpecError([SpecProblem(source.describe(path), None, "",
                                     f"cannot read the manifest: {exc.strerror or exc}")]
                        ) from None


def manifest_problems_in(source: SpecSource, spec_path: str,
                         spec: PlatformSpec) -> list[SpecProblem]:
    """Every manifest of ``spec`` in ``source`` that is malformed or that its component may not
    create (``core.manifest_policy``), as spec problems naming the manifest's file and line."""
    # Parsing and judging manifests: the Git sensor and ``validate``, not the code location's load.
    from platform_assets.core.manifest_policy import manifest_problems
    from platform_assets.core.manifests import ManifestError, parse_manifests, with_namespace

    spec_dir = posixpath.dirname(spec_path)
    out: list[SpecProblem] = []
    for comp in spec.components:
        if not comp.source.manifests:
            continue
        directory = posixpath.normpath(posixpath.join(spec_dir, comp.source.manifests.path))
        for path in sorted(source.list_tree(directory)):
            if not path.endswith(MANIFEST_SUFFIXES):
                continue
            label = source.describe(path)
            try:
                found = parse_manifests(_read(source, path), label)
            except ManifestError as exc:
                out.append(SpecProblem(label, None, "", str(exc).removeprefix(label + ":")
                                       .strip()))
                continue
            found = [with_namespace(m, comp.namespace) for m in found]
            out += [SpecProblem(p.file, p.line, p.field, p.message)
                    for p in manifest_problems(comp, found)]
    return out


def graph_from_source(source: SpecSource, spec_path: str,
                      check_manifests: bool = False, environment: str | None = None) -> Graph:
    """The asset graph of the spec at ``spec_path`` in ``source`` (of ``environment``, when the
    spec has environments).

    Manifest paths in the spec are relative to the spec file's directory; each manifest
    component's code version covers its files, and ``base_dir`` is that directory on disk (None
    when the source is not on disk). With ``check_manifests`` (the Git sensor, ``validate``),
    every manifest is also read and held to its component's allow-list before the graph is
    returned; the code location skips that to load fast, and the engine checks at apply.

    Raises:
        SpecError: the spec cannot be read or is invalid (every problem names file and line),
            or has no such environment.
    """
    specs = load_specs_from(source, spec_path)
    spec = pick_environment(specs, environment, source.describe(spec_path))
    return _graph(source, spec_path, spec, environment, check_manifests, {})


def graphs_from_source(source: SpecSource, spec_path: str,
                       check_manifests: bool = False) -> list[Graph]:
    """One graph per environment of the spec at ``spec_path`` in ``source``, in the order they
    are written (a spec without environments: one graph, its keys unprefixed)."""
    specs = load_specs_from(source, spec_path)
    digests: dict[str, str] = {}  # environments share their base's manifest directories
    return [_graph(source, spec_path, spec, env, check_manifests, digests)
            for env, spec in specs.items()]


def _graph(source: SpecSource, spec_path: str, spec: PlatformSpec, environment: str | None,
           check_manifests: bool, digests: dict[str, str]) -> Graph:
    spec_dir = posixpath.dirname(spec_path)

    def in_tree(path: str) -> str:
        return posixpath.normpath(posixpath.join(spec_dir, path))

    if check_manifests and (problems := manifest_problems_in(source, spec_path, spec)):
        raise SpecError(problems)
    def digest(path: str) -> str:
        if path not in digests:
            digests[path] = manifest_digest(source, in_tree(path))
        return digests[path]

    graph = build_graph(spec, manifest_digest=digest, environment=environment)
    base_dir = source.root / spec_dir if source.root is not None else None
    return dataclasses.replace(graph, base_dir=base_dir)


class CommitTrees(Protocol):
    """What :func:`graph_at_commit` needs of a Git repository (``resources.git`` offers it)."""

    @property
    def spec_path(self) -> str:
        """The spec file's path inside the repository."""

    def has_commit(self, sha: str) -> bool:
        """Whether the local copy holds commit ``sha``."""

    def fetch(self) -> str:
        """Update the local copy of the branch; returns its head."""

    def materialize(self, sha: str) -> Path:
        """The tree of commit ``sha``, written to a directory on disk."""


def commit_of_run(tags: Mapping[str, str]) -> str | None:
    """The commit a run must apply (its ``platform-ops/commit`` tag), if any."""
    sha = tags.get(TAG_COMMIT)
    return sha if sha and _SHA.match(sha) else None


def graph_at_commit(repo: CommitTrees, sha: str, environment: str | None = None) -> Graph:
    """The graph of the spec at commit ``sha``, read from its tree written to disk (once per
    commit), so a run applies exactly what that commit holds, whatever the working copy holds.

    Raises:
        SpecError: the spec at that commit is invalid.
        Whatever ``repo`` raises when the commit cannot be fetched (``GitUnavailable``).
    """
    if not repo.has_commit(sha):
        repo.fetch()
    source = DirectorySource(repo.materialize(sha), label=sha[:12])
    return graph_from_source(source, repo.spec_path, environment=environment)


def graph_for_run(tags: Mapping[str, str], repo: CommitTrees | None, graph: Graph) -> Graph:
    """The graph a run applies: for a run tagged ``platform-ops/commit`` (requested by
    ``git_changes``), the graph at that commit; otherwise ``graph`` itself."""
    sha = commit_of_run(tags)
    if sha is None or repo is None:
        return graph
    return graph_at_commit(repo, sha, graph.environment)
