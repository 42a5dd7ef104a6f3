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

import errno
import hashlib
import io
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resources.config import GitRepositoryConfig

if TYPE_CHECKING:  # tarfile is imported where a commit is read, not when the code location loads
    import tarfile

MARKER = ".platform-ops-commit"
KEEP_TREES = 20
# A commit is untrusted input: its tree is read whole into memory (the sensor) or onto disk (a
# run), so both are capped; a file over the per-file cap is listed but cannot be read.
MAX_TREE_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_TREE_FILES = 20_000
_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


class GitUnavailable(RuntimeError):
    """The repository cannot be reached or read; the message names the URL (redacted)."""


class TreeTooLarge(GitUnavailable):
    """A commit's tree is over :data:`MAX_TREE_BYTES` or :data:`MAX_TREE_FILES`."""


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float,
         max_bytes: int | None) -> subprocess.CompletedProcess[bytes]:
    """``subprocess.run`` that stops reading, and kills git, past ``max_bytes`` of output."""
    if max_bytes is None:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, timeout=timeout,
                              check=False)
    with tempfile.TemporaryFile() as err, subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err) as proc:
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, expire)
        timer.start()
        chunks: list[bytes] = []
        size = 0
        try:
            stdout = proc.stdout
            while stdout is not None and size <= max_bytes and (chunk := stdout.read(1 << 16)):
                chunks.append(chunk)
                size += len(chunk)
            if size > max_bytes:
                proc.kill()
        finally:
            timer.cancel()
        proc.wait()
        if timed_out.is_set():
            raise subprocess.TimeoutExpired(cmd, timeout)
        if size > max_bytes:
            raise TreeTooLarge(f"git {' '.join(cmd[1:3])}: output over the limit of {max_bytes} "
                               "bytes")
        err.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, b"".join(chunks), err.read())


def redact(text: str) -> str:
    """``text`` with any ``user:password@`` of a URL replaced."""
    return _CREDENTIALS.sub("***@", text)


class GitRepositoryResource(GitRepositoryConfig):
    """The Git repository holding the platform spec (default URL: ``$PLATFORM_GIT_URL``)."""

    def open(self) -> GitRepositoryResource:
        """This resource (its config's ``open()``, already open)."""
        return self

    def resolved_url(self) -> str:
        """The configured URL or ``$PLATFORM_GIT_URL``."""
        url = self.url or os.environ.get("PLATFORM_GIT_URL")
        if not url:
            raise GitUnavailable("no Git URL: set PLATFORM_GIT_URL or the git resource's url")
        return url

    def signers_file(self) -> str | None:
        """The SSH ``allowed_signers`` file commits must be signed against (the resource's
        ``allowed_signers``, else ``$PLATFORM_GIT_ALLOWED_SIGNERS``); None: signatures are not
        required."""
        return self.allowed_signers or os.environ.get("PLATFORM_GIT_ALLOWED_SIGNERS") or None

    def untrusted_reason(self, sha: str) -> str | None:
        """Why commit ``sha`` may not be applied, or None when it may.

        With an allowed-signers file configured, a commit must carry an SSH signature that
        ``git verify-commit`` checks good against that file (``ssh-keygen -Y verify``); an
        unsigned commit, an OpenPGP signature or a key not in the file is refused. Without one,
        every commit may be applied.
        """
        signers = self.signers_file()
        if signers is None:
            return None
        if not Path(signers).is_file():
            return (f"the allowed signers file {signers} does not exist, so no commit can be "
                    "trusted; fix PLATFORM_GIT_ALLOWED_SIGNERS")
        done = self._git("-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit",
                         "--raw", sha, check=False)
        said = done.stderr.decode(errors="replace").strip()
        if done.returncode == 0 and 'Good "git" signature for ' in said:
            return None
        lines = said.splitlines()
        if not lines or "no signature found" in said:
            return "it is not signed"
        if done.returncode == 0:
            return "it is signed with OpenPGP; only SSH signatures from the allowed signers count"
        return f"its signature is not from a trusted key ({redact(lines[-1])[:200]})"

    def cache_root(self) -> Path:
        """The directory that holds the repository's local clones."""
        base = self.cache_dir or os.environ.get("PLATFORM_GIT_CACHE") or os.path.join(
            os.environ.get("DAGSTER_HOME") or tempfile.gettempdir(), "platform-ops-git")
        return Path(base)

    def mirror_path(self) -> Path:
        """The bare mirror for this URL and branch under the cache root (one per pair)."""
        digest = hashlib.sha256(f"{self.resolved_url()}#{self.branch}".encode()).hexdigest()[:16]
        return self.cache_root() / f"mirror-{digest}.git"

    def _git(self, *args: str, cwd: Path | None = None, binary: bool = False,
             check: bool = True, max_bytes: int | None = None) -> Any:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_ASKPASS": "true", "LC_ALL": "C"}
        cmd = ["git", *args]
        where = cwd or self.mirror_path()
        try:
            done = _run(cmd, where, env, self.timeout_seconds, max_bytes)
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

    def ancestors(self, sha: str, limit: int) -> list[str]:
        """``sha`` and its first-parent ancestors, newest first, at most ``limit``."""
        out = str(self._git("rev-list", "--first-parent", f"--max-count={int(limit)}", sha))
        return out.split()

    def is_ancestor(self, old: str, new: str) -> bool:
        """Whether ``old`` is an ancestor of (or equal to) ``new``; False when either is missing."""
        if not (_SHA.match(old or "") and _SHA.match(new or "")):
            return False
        # Exit 0: ancestor; 1: not; 128: a commit is missing (e.g. gone after a force-push).
        done = self._git("merge-base", "--is-ancestor", old, new, check=False)
        return bool(done.returncode == 0)

    def changed_paths(self, old: str, new: str) -> list[str]:
        """Repository-relative paths that differ between two commits."""
        out = str(self._git("diff", "--name-only", "--no-renames", "-z", old, new))
        return [p for p in out.split("\0") if p]

    def tree(self, sha: str) -> CommitTree:
        """Every file of commit ``sha``, read into memory with one ``git archive``.

        The commit is untrusted: the archive is capped at :data:`MAX_TREE_BYTES` and
        :data:`MAX_TREE_FILES` (over it, the tree holds no files and says why), a file over
        :data:`MAX_FILE_BYTES` is not read, and symbolic links (mode 120000) are recorded as
        links, never resolved.

        Raises:
            GitUnavailable: the commit is not in the mirror.
        """
        if not self.has_commit(sha):
            raise GitUnavailable(f"commit {sha} is not in the mirror")
        try:
            data = self._git("archive", "--format=tar", sha, binary=True,
                             max_bytes=MAX_TREE_BYTES)
        except TreeTooLarge:
            return CommitTree(sha, {}, problem=f"the commit's tree is over {MAX_TREE_BYTES} "
                                               "bytes, the limit for a spec repository")
        return _read_tar(sha, data)

    def materialize(self, sha: str, dest: Path | None = None) -> Path:
        """Write the tree of ``sha`` into ``dest`` (default: a per-commit cache directory).

        The directory is replaced whole (extracted next to it, then renamed), and a marker file
        records the commit, so a reader never sees half a tree; the per-commit cache keeps the
        newest :data:`KEEP_TREES` trees.
        """
        import tarfile

        full = str(self._git("rev-parse", "--verify", f"{sha}^{{commit}}")).strip()
        target = dest or self.cache_root() / "trees" / full
        marker = target / MARKER
        if marker.is_file() and marker.read_text().strip() == full:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{full[:12]}-", dir=target.parent))
        try:
            data = self._git("archive", "--format=tar", full, binary=True,
                             max_bytes=MAX_TREE_BYTES)
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(tmp, filter=_files_only)
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


def _files_only(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's ``data`` filter, and no links at all: a link in a commit is never written."""
    import tarfile

    if member.issym() or member.islnk():
        return None
    return tarfile.data_filter(member, dest)


def _read_tar(sha: str, data: bytes) -> CommitTree:
    import tarfile

    files: dict[str, bytes] = {}
    links: set[str] = set()
    oversized: set[str] = set()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for count, member in enumerate(tar):
            if count >= MAX_TREE_FILES:
                return CommitTree(sha, {}, problem=f"the commit has more than {MAX_TREE_FILES} "
                                                   "files, the limit for a spec repository")
            if member.issym() or member.islnk():
                links.add(member.name)
            elif member.isfile() and member.size > MAX_FILE_BYTES:
                oversized.add(member.name)
            elif member.isfile() and (handle := tar.extractfile(member)) is not None:
                files[member.name] = handle.read()
    return CommitTree(sha, files, frozenset(links), frozenset(oversized))


@dataclass(frozen=True)
class CommitTree:
    """The files of one commit, in memory; paths are repository-relative and use ``/``.

    Errors name a file as ``path@<commit>``; nothing of it is on disk (``root`` is None).
    """

    sha: str
    files: dict[str, bytes]
    links: frozenset[str] = frozenset()
    oversized: frozenset[str] = frozenset()
    problem: str | None = None

    @property
    def root(self) -> Path | None:
        """None: the tree is read from a commit, not from disk."""
        return None

    def describe(self, path: str) -> str:
        """``path@<commit>``, where a file of this tree is, for messages."""
        return f"{path}@{self.sha[:12]}"

    def read_bytes(self, path: str) -> bytes:
        """The file's content.

        Raises:
            FileNotFoundError: the commit has no such file.
            OSError: the file is a link, over :data:`MAX_FILE_BYTES`, or the tree was too large.
        """
        norm = posixpath.normpath(path)
        if self.problem:
            raise OSError(errno.EFBIG, self.problem, path)
        if norm in self.links:
            raise OSError(errno.ELOOP, "a symbolic link in the commit; links are refused", path)
        if norm in self.oversized:
            raise OSError(errno.EFBIG, f"over the limit of {MAX_FILE_BYTES} bytes for one file",
                          path)
        try:
            return self.files[norm]
        except KeyError:
            raise FileNotFoundError(2, "no such file at this commit", path) from None

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a directory of the commit."""
        prefix = self._prefix(path)
        return any(f.startswith(prefix) for f in self.files)

    def list_tree(self, directory: str) -> list[str]:
        """Every file of the commit under ``directory``, sorted."""
        prefix = self._prefix(directory)
        return sorted(f for f in self.files if f.startswith(prefix))

    def first_link(self, directory: str) -> str | None:
        """A link at ``directory``, on its way from the root, or under it; else None."""
        norm = posixpath.normpath(directory)
        prefix = self._prefix(directory)
        return next((link for link in sorted(self.links)
                     if link == norm or link.startswith(prefix) or norm.startswith(link + "/")),
                    None)

    @staticmethod
    def _prefix(directory: str) -> str:
        norm = posixpath.normpath(directory)
        return "" if norm == "." else norm.rstrip("/") + "/"
