"""Where a spec is read from: a tree of files holding the spec and its manifest directories.

A directory on disk is a :class:`DirectorySource`; the tree of a Git commit comes from the Git
resource (``GitRepositoryResource.tree``). Both are read through :class:`SpecSource`, so the spec,
the manifest paths it references and their digests are checked the same way wherever they live.
Pure: no Dagster, no SDKs.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Protocol

# The files of a manifest directory that hold manifests (others are left alone).
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class SpecSource(Protocol):
    """A tree of files: paths are relative to its root and use ``/``."""

    @property
    def root(self) -> Path | None:
        """The directory the files are in on disk (absolute), or None when not on disk."""

    def describe(self, path: str) -> str:
        """How error messages name the file at ``path`` (e.g. ``platform.yaml@1a2b3c4d5e6f``)."""

    def read_bytes(self, path: str) -> bytes:
        """The content of the file at ``path``.

        Raises:
            OSError: it cannot be read (FileNotFoundError when there is no such file).
        """

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a directory of the tree."""

    def list_tree(self, directory: str) -> list[str]:
        """Every file under ``directory``, recursively, as root-relative paths ([] if none);
        symbolic links are not followed nor listed."""

    def first_link(self, directory: str) -> str | None:
        """A symbolic link at ``directory``, on the way to it from the root, or under it (the
        root-relative path of the first one found), or None."""


class DirectorySource:
    """A directory on disk as a :class:`SpecSource`; errors name files by the path given."""

    def __init__(self, root: str | Path, label: str | None = None) -> None:
        self._given = Path(root)
        self._root = self._given.resolve()
        self._label = label

    @property
    def root(self) -> Path:
        return self._root

    def describe(self, path: str) -> str:
        return f"{path}@{self._label}" if self._label else str(self._given / path)

    def read_bytes(self, path: str) -> bytes:
        return (self._root / path).read_bytes()

    def is_dir(self, path: str) -> bool:
        return (self._root / path).is_dir()

    def list_tree(self, directory: str) -> list[str]:
        """Every file under ``directory`` (relative paths, sorted), symbolic links listed but not
        followed."""
        top = posixpath.normpath(directory)
        out: list[str] = []
        # os.scandir, not Path.rglob: a graph digests every manifest directory when it loads,
        # and the entries' types come with the listing. Links are not followed: the loader
        # refuses them (first_link), so a commit cannot point a manifest at a host file.
        pending = [("" if top == "." else top + "/", self._root / directory)]
        while pending:
            prefix, where = pending.pop()
            try:
                entries = list(os.scandir(where))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((f"{prefix}{entry.name}/", Path(entry.path)))
                elif entry.is_file(follow_symlinks=False):
                    out.append(prefix + entry.name)
        return out

    def first_link(self, directory: str) -> str | None:
        """The first symbolic link at or under ``directory``, or None: the loader refuses manifests
        reached through a link."""
        top = posixpath.normpath(directory)
        parts = [] if top == "." else top.split("/")
        for i in range(1, len(parts) + 1):
            rel = "/".join(parts[:i])
            if (self._root / rel).is_symlink():
                return rel
        pending = [(top, self._root / directory)]
        while pending:
            rel, where = pending.pop()
            try:
                entries = list(os.scandir(where))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                path = entry.name if rel == "." else f"{rel}/{entry.name}"
                if entry.is_symlink():
                    return path
                if entry.is_dir(follow_symlinks=False):
                    pending.append((path, Path(entry.path)))
        return None
