"""Git: a local bare repository seeded with the example platform spec, and a working clone.

The seed commit copies ``platform/platform.yaml`` and ``platform/manifests/`` to the repository
root (so ``spec_path: platform.yaml`` holds) and is made on ``main`` with a fixed author and
date, so its SHA is the same on every machine. With a state directory an existing repository is
kept as it is, so commits made during a demo survive a restart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BRANCH = "main"
AUTHOR_NAME = "Platform Sandbox"
AUTHOR_EMAIL = "sandbox@platform-ops.invalid"
SEED_DATE = "2026-11-01T00:00:00+00:00"
SEED_MESSAGE = "Seed the example platform spec"


def default_source() -> Path:
    """The example spec shipped with the project: ``<repo>/platform``."""
    return Path(__file__).resolve().parents[1] / "platform"


@dataclass(frozen=True)
class GitRepository:
    bare: Path
    clone: Path

    @property
    def url(self) -> str:
        return self.bare.resolve().as_uri()

    @property
    def spec_path(self) -> Path:
        return self.clone / "platform.yaml"

    def head(self) -> str:
        """The SHA ``main`` points at in the bare repository."""
        return git(self.bare, "rev-parse", BRANCH).strip()


class GitError(RuntimeError):
    pass


def git(cwd: Path, *args: str, date: str | None = None) -> str:
    """Run ``git`` in ``cwd`` isolated from the user's configuration; return its stdout."""
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": AUTHOR_NAME, "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
        "GIT_COMMITTER_NAME": AUTHOR_NAME, "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
    }
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=60)
    except FileNotFoundError as exc:
        raise GitError("the sandbox needs the git command line tool on PATH") from exc
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)} in {cwd} failed: {done.stderr.strip()}")
    return done.stdout


def seed_repository(workdir: Path, source: Path | None = None) -> GitRepository:
    """Create (or keep) ``workdir/platform.git`` and its clone ``workdir/platform``."""
    source = source or default_source()
    repo = GitRepository(bare=workdir / "platform.git", clone=workdir / "platform")
    workdir.mkdir(parents=True, exist_ok=True)
    if not (repo.bare / "HEAD").exists():
        if not (source / "platform.yaml").is_file():
            raise GitError(f"{source}/platform.yaml: the example spec to seed the repo is missing")
        if repo.clone.exists():
            shutil.rmtree(repo.clone)
        repo.bare.mkdir(parents=True, exist_ok=True)
        git(repo.bare, "init", "--quiet", "--bare", "--initial-branch", BRANCH)
        repo.clone.mkdir(parents=True)
        git(repo.clone, "init", "--quiet", "--initial-branch", BRANCH)
        shutil.copy2(source / "platform.yaml", repo.clone / "platform.yaml")
        if (source / "manifests").is_dir():
            shutil.copytree(source / "manifests", repo.clone / "manifests")
        git(repo.clone, "add", "--all")
        git(repo.clone, "commit", "--quiet", "--no-gpg-sign", "-m", SEED_MESSAGE, date=SEED_DATE)
        git(repo.clone, "remote", "add", "origin", repo.url)
        git(repo.clone, "push", "--quiet", "--set-upstream", "origin", f"{BRANCH}:{BRANCH}")
    elif not (repo.clone / ".git").exists():
        git(workdir, "clone", "--quiet", "--branch", BRANCH, repo.url, str(repo.clone))
    else:
        return repo
    # Commits made in the clone (by hand or by tests) get the sandbox's author.
    with (repo.clone / ".git" / "config").open("a") as config:
        config.write(f"[user]\n\tname = {AUTHOR_NAME}\n\temail = {AUTHOR_EMAIL}\n")
    return repo
