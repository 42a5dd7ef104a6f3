"""GitRepositoryResource: the platform's Git repository, through the ``git`` command line.

The resource keeps a bare mirror of one branch in a local cache directory and answers questions
about commits from it: the branch head, ancestry, the paths two commits differ in, a file or tree
at a commit. Every call is a ``git`` subprocess with a timeout; the cost of a call depends on the
commits asked about, never on the length of the history. Any URL ``git fetch`` understands works
(``file://``, ``https://``, ``ssh://``); credentials in a URL are never logged.

The resource answers in bytes and trees, never in specs or graphs: ``core.loading`` builds the
graph of a commit from :meth:`GitRepositoryResource.tree` (in memory, for the sensor) or from
:meth:`GitRepositoryResource.materialize` (on disk, for the run that applies the commit).
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

MARKER = ".platform-ops-commit"
KEEP_TREES = 20
_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


class GitUnavailable(RuntimeError):
    """The repository cannot be reached or read; the message names the URL (redacted)."""


def redact(text: str) -> str:
    """``text`` with any ``user:password@`` of a URL replaced."""
    return _CREDENTIALS.sub("***@", text)


class GitRepositoryResource(dg.ConfigurableResource):
    """The Git repository holding the platform spec (default URL: ``$PLATFORM_GIT_URL``)."""

    url: str | None = None
    branch: str = "main"
    spec_path: str = "platform.yaml"
    cache_dir: str | None = None
    timeout_seconds: float = 60.0
    checkout_dir: str | None = None

    def resolved_url(self) -> str:
        url = self.url or os.environ.get("PLATFORM_GIT_URL")
        if not url:
            raise GitUnavailable("no Git URL: set PLATFORM_GIT_URL or the git resource's url")
        return url

    def cache_root(self) -> Path:
        base = self.cache_dir or os.environ.get("PLATFORM_GIT_CACHE") or os.path.join(
            os.environ.get("DAGSTER_HOME") or tempfile.gettempdir(), "platform-ops-git")
        return Path(base)

    def mirror_path(self) -> Path:
        digest = hashlib.sha256(f"{self.resolved_url()}#{self.branch}".encode()).hexdigest()[:16]
        return self.cache_root() / f"mirror-{digest}.git"

    def _git(self, *args: str, cwd: Path | None = None, binary: bool = False,
             check: bool = True) -> Any:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_ASKPASS": "true", "LC_ALL": "C"}
        cmd = ["git", *args]
        where = cwd or self.mirror_path()
        try:
            done = subprocess.run(cmd, cwd=where, env=env, capture_output=True,
                                  timeout=self.timeout_seconds, check=False)
        except FileNotFoundError as exc:
            if not where.is_dir():
                raise GitUnavailable(f"no local mirror at {where} yet: fetch first") from exc
            raise GitUnavailable("the git command line tool is not on PATH") from exc
        except subprocess.TimeoutExpired as exc:
            raise GitUnavailable(redact(f"git {' '.join(args[:2])} timed out after "
                                        f"{self.timeout_seconds:.0f}s")) from exc
        if check and done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip().splitlines()
            raise GitUnavailable(redact(f"git {' '.join(args[:3])} failed: "
                                        f"{err[-1] if err else 'exit ' + str(done.returncode)}"))
        if not check:
            return done
        return done.stdout if binary else done.stdout.decode(errors="replace")

    def fetch(self) -> str:
        """Update the local mirror of the branch and return its head SHA.

        Raises:
            GitUnavailable: the repository or branch cannot be reached.
        """
        mirror = self.mirror_path()
        url = self.resolved_url()
        if not (mirror / "HEAD").exists():
            mirror.mkdir(parents=True, exist_ok=True)
            self._git("init", "--quiet", "--bare", cwd=mirror)
        ref = f"refs/heads/{self.branch}"
        try:
            self._git("fetch", "--quiet", "--no-tags", "--force", url, f"+{ref}:{ref}")
        except GitUnavailable as exc:
            raise GitUnavailable(redact(f"cannot fetch {self.branch} from {url}: {exc}")) from None
        return self.head()

    def head(self) -> str:
        """The SHA the mirrored branch points at (after the last :meth:`fetch`)."""
        return str(self._git("rev-parse", "--verify", f"refs/heads/{self.branch}^{{commit}}")
                   ).strip()

    def has_commit(self, sha: str) -> bool:
        """Whether the mirror holds commit ``sha``."""
        if not _SHA.match(sha or "") or not (self.mirror_path() / "HEAD").exists():
            return False
        done = self._git("cat-file", "-e", f"{sha}^{{commit}}", check=False)
        return bool(done.returncode == 0)

    def is_ancestor(self, old: str, new: str) -> bool:
        """Whether ``old`` is an ancestor of (or equal to) ``new``; False when either is missing."""
        if not (_SHA.match(old or "") and _SHA.match(new or "")):
            return False
        # Exit 0: ancestor; 1: not; 128: a commit is missing (e.g. gone after a force-push).
        done = self._git("merge-base", "--is-ancestor", old, new, check=False)
        return bool(done.returncode == 0)

    def commits_between(self, old: str | None, new: str, limit: int = 1000) -> list[str]:
        """Commits reachable from ``new`` but not ``old``, newest first, at most ``limit``."""
        rng = [f"{old}..{new}"] if old else [new]
        out = str(self._git("rev-list", f"--max-count={limit}", *rng))
        return out.split()

    def changed_paths(self, old: str, new: str) -> list[str]:
        """Repository-relative paths that differ between two commits."""
        out = str(self._git("diff", "--name-only", "--no-renames", "-z", old, new))
        return [p for p in out.split("\0") if p]

    def tree(self, sha: str) -> CommitTree:
        """Every file of commit ``sha``, read into memory with one ``git archive``.

        Raises:
            GitUnavailable: the commit is not in the mirror.
        """
        if not self.has_commit(sha):
            raise GitUnavailable(f"commit {sha} is not in the mirror")
        data = self._git("archive", "--format=tar", sha, binary=True)
        files: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None:
                    files[member.name] = handle.read()
        return CommitTree(sha, files)

    def materialize(self, sha: str, dest: Path | None = None) -> Path:
        """Write the tree of ``sha`` into ``dest`` (default: a per-commit cache directory).

        The directory is replaced whole (extracted next to it, then renamed), and a marker file
        records the commit, so a reader never sees half a tree; the per-commit cache keeps the
        newest :data:`KEEP_TREES` trees.
        """
        full = str(self._git("rev-parse", "--verify", f"{sha}^{{commit}}")).strip()
        target = dest or self.cache_root() / "trees" / full
        marker = target / MARKER
        if marker.is_file() and marker.read_text().strip() == full:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{full[:12]}-", dir=target.parent))
        try:
            data = self._git("archive", "--format=tar", full, binary=True)
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(tmp, filter="data")
            (tmp / MARKER).write_text(full + "\n")
            if marker.is_file() and marker.read_text().strip() == full:
                return target  # another process finished the same tree meanwhile
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if dest is None:
            self._prune_trees(target.parent)
        return target

    @staticmethod
    def _prune_trees(trees: Path) -> None:
        done = sorted((p for p in trees.iterdir() if (p / MARKER).is_file()),
                      key=lambda p: p.stat().st_mtime, reverse=True)
        for old in done[KEEP_TREES:]:
            shutil.rmtree(old, ignore_errors=True)

    def update_checkout(self, sha: str) -> Path | None:
        """Point the working copy the code location loads its spec from at ``sha``.

        Only when ``checkout_dir`` (or ``$PLATFORM_GIT_CHECKOUT``) is set: the tree is written
        there with ``git archive``, replacing the directory whole (no branch is moved). Returns the
        directory, or None when no checkout is configured.
        """
        where = self.checkout_dir or os.environ.get("PLATFORM_GIT_CHECKOUT")
        if not where:
            return None
        if (Path(where) / ".git").exists():
            raise GitUnavailable(f"checkout_dir {where} is a git working copy; it would be "
                                 "replaced whole: point it at a directory of its own")
        return self.materialize(sha, Path(where))


@dataclass(frozen=True)
class CommitTree:
    """The files of one commit, in memory; paths are repository-relative and use ``/``.

    Errors name a file as ``path@<commit>``; nothing of it is on disk (``root`` is None).
    """

    sha: str
    files: dict[str, bytes]

    @property
    def root(self) -> Path | None:
        return None

    def describe(self, path: str) -> str:
        return f"{path}@{self.sha[:12]}"

    def read_bytes(self, path: str) -> bytes:
        """The file's content. Raises FileNotFoundError when the commit has no such file."""
        try:
            return self.files[posixpath.normpath(path)]
        except KeyError:
            raise FileNotFoundError(2, "no such file at this commit", path) from None

    def is_dir(self, path: str) -> bool:
        prefix = self._prefix(path)
        return any(f.startswith(prefix) for f in self.files)

    def list_tree(self, directory: str) -> list[str]:
        prefix = self._prefix(directory)
        return sorted(f for f in self.files if f.startswith(prefix))

    @staticmethod
    def _prefix(directory: str) -> str:
        norm = posixpath.normpath(directory)
        return "" if norm == "." else norm.rstrip("/") + "/"
