"""What a Git commit changed in the asset graph. Pure: no Dagster, no git, no network.

An asset changed between two specs when the hash of its spec section differs (the same hash the
graph uses as ``code_version``) or when a file under the manifest directory its component
references changed. Assets only in the new spec were added, assets only in the old one removed;
either means the graph's shape changed and the code location must be reloaded.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from platform_assets.core.graph import Graph, build_graph
from platform_assets.names import RECONCILE_GROUPS
from platform_assets.spec.loader import load_spec_text
from platform_assets.spec.models import Component

Key = tuple[str, ...]


@dataclass(frozen=True)
class SpecChange:
    """The difference between the applied spec and the spec at a new commit."""

    changed: frozenset[Key]
    added: frozenset[Key]
    removed: frozenset[Key]
    downstream: frozenset[Key] = field(default_factory=frozenset)
    reconcile_keys: frozenset[Key] = field(default_factory=frozenset)

    @property
    def shape_changed(self) -> bool:
        """Components (or other assets) were added or removed: the graph itself changed."""
        return bool(self.added or self.removed)

    @property
    def selection(self) -> list[Key]:
        """The reconcile assets to run: changed or added ones, in a stable order."""
        return sorted(self.reconcile_keys)


def spec_dir(spec_path: str) -> str:
    """The directory of the spec file inside the repository ('' for the root)."""
    return posixpath.dirname(posixpath.normpath(spec_path).lstrip("/"))


def repo_path(spec_path: str, rel: str) -> str:
    """A path relative to the spec file, as a path relative to the repository root."""
    joined = posixpath.normpath(posixpath.join(spec_dir(spec_path), rel))
    return "" if joined == "." else joined


def manifest_dirs(graph: Graph, spec_path: str) -> dict[Key, str]:
    """Repository-relative manifest directory of every manifests-sourced component."""
    out: dict[Key, str] = {}
    for node in graph.by_kind("component"):
        src = node.section.source.manifests if isinstance(node.section, Component) else None
        if src is not None:
            out[node.key] = repo_path(spec_path, src.path)
    return out


def _under(path: str, directory: str) -> bool:
    # manifest directories are normalized and strictly below the spec's (the loader refuses
    # ".", "..", absolute paths and trailing slashes never survive repo_path)
    return path == directory or path.startswith(directory + "/")


def diff_graphs(
    old: Graph | None, new: Graph, changed_paths: Iterable[str], spec_path: str
) -> SpecChange:
    """What changed from ``old`` (None: nothing known, so everything counts) to ``new``.

    Args:
        old: the graph of the last applied spec, or None.
        new: the graph of the spec at the new commit.
        changed_paths: repository-relative paths that differ between the two commits.
        spec_path: the spec file's path inside the repository.
    """
    paths = [p.strip("/") for p in changed_paths]
    if old is None:
        changed = set(new.nodes)
        added: set[Key] = set()
        removed: set[Key] = set()
    else:
        added = set(new.nodes) - set(old.nodes)
        removed = set(old.nodes) - set(new.nodes)
        changed = {k for k, n in new.nodes.items()
                   if k in old.nodes and old.nodes[k].code_version != n.code_version}
        old_dirs = manifest_dirs(old, spec_path)
        for key, directory in manifest_dirs(new, spec_path).items():
            if any(_under(p, directory) for p in paths) or (
                    key in old_dirs and old_dirs[key] != directory):
                changed.add(key)
        changed |= added
    downstream = new.downstream(changed)
    reconcile = {k for k in changed if new.nodes[k].group in RECONCILE_GROUPS}
    return SpecChange(frozenset(changed), frozenset(added), frozenset(removed),
                      frozenset(downstream), frozenset(reconcile))


def diff_spec_texts(
    old_text: str | None,
    new_text: str,
    changed_paths: Iterable[str],
    spec_path: str = "platform.yaml",
    old_path_exists: Callable[[str], bool] | None = None,
    new_path_exists: Callable[[str], bool] | None = None,
    file_label: str = "platform.yaml",
) -> SpecChange:
    """Load both spec texts and diff their graphs.

    Raises:
        SpecError: the new spec is invalid (the old one, if invalid, counts as unknown).
    """
    new = build_graph(load_spec_text(new_text, file_label, path_exists=new_path_exists))
    old: Graph | None = None
    if old_text is not None:
        try:
            old = build_graph(load_spec_text(old_text, file_label, path_exists=old_path_exists))
        except ValueError:
            old = None
    return diff_graphs(old, new, changed_paths, spec_path)


def dirs_of_files(files: Iterable[str]) -> set[str]:
    """Every directory (and ancestor) of repository-relative file paths, for ``path_exists``."""
    out: set[str] = set()
    for f in files:
        d = posixpath.dirname(f)
        while d and d not in out:
            out.add(d)
            d = posixpath.dirname(d)
    return out


def path_checker(spec_path: str, directories: set[str]) -> Callable[[str], bool]:
    """A loader ``path_exists`` for manifest paths (relative to the spec) in a known tree."""
    return lambda rel: repo_path(spec_path, rel) in directories
