"""The Git sensor with hostile commits: unsigned or untrusted signatures, bombs, links, RBAC."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.core.graph import build_graph
from platform_assets.spec.loader import load_spec
from resources.git import GitRepositoryResource
from sandbox.git import GitRepository, git, seed_repository
from sensors import git_changes

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "platform"
HOSTILE = ROOT / "tests" / "fixtures" / "hostile"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepository:
    return seed_repository(tmp_path / "git", EXAMPLE)


@pytest.fixture
def sensor() -> dg.SensorDefinition:
    return git_changes.build(build_graph(load_spec(EXAMPLE / "platform.yaml")))


def tick(sensor: dg.SensorDefinition, cursor: str | None, git_res: GitRepositoryResource) -> Any:
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(cursor=cursor, resources={"git": git_res},
                                      instance=instance)
        return sensor.evaluate_tick(ctx)


def commit(repo: GitRepository, message: str, edit: Any, *sign: str) -> str:
    edit(repo.clone)
    git(repo.clone, "add", "--all")
    git(repo.clone, *sign, "commit", "--quiet", *(["-S"] if sign else ["--no-gpg-sign"]),
        "-m", message)
    git(repo.clone, "push", "--quiet", "--force", "origin", "HEAD:main")
    return git(repo.clone, "rev-parse", "HEAD").strip()


def bump_loki(version: str) -> Any:
    def edit(root: Path) -> None:
        p = root / "platform.yaml"
        text, n = re.subn(r"(chart: loki\n\s+version: )\S+", rf"\g<1>{version}", p.read_text())
        assert n == 1
        p.write_text(text)
    return edit


def ssh_key(tmp_path: Path, name: str) -> tuple[Path, str]:
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                   check=True)
    return key, (tmp_path / f"{name}.pub").read_text().strip()


def signed_with(key: Path) -> tuple[str, ...]:
    return ("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}")


def test_only_commits_signed_by_a_trusted_key_are_applied(
        tmp_path: Path, repo: GitRepository, sensor: dg.SensorDefinition) -> None:
    trusted, trusted_pub = ssh_key(tmp_path, "release")
    stranger, _ = ssh_key(tmp_path, "stranger")
    signers = tmp_path / "allowed_signers"
    signers.write_text(f'release@platform-ops.invalid namespaces="git" {trusted_pub}\n')
    res = GitRepositoryResource(url=repo.url, cache_dir=str(tmp_path / "cache"),
                                allowed_signers=str(signers))
    first = commit(repo, "signed baseline", bump_loki("6.22.1"), *signed_with(trusted))
    base = tick(sensor, None, res)
    assert json.loads(base.cursor)["applied"] == first

    unsigned = commit(repo, "unsigned", bump_loki("6.23.0"))
    out = tick(sensor, base.cursor, res)
    assert out.run_requests == []
    assert f"commit {unsigned[:12]} is not trusted: it is not signed" in out.skip_message
    cur = json.loads(out.cursor)
    assert cur["handled"] == unsigned and cur["applied"] == first  # not retried, not applied

    forged = commit(repo, "signed by a stranger", bump_loki("6.23.1"), *signed_with(stranger))
    out = tick(sensor, out.cursor, res)
    assert out.run_requests == []
    assert f"commit {forged[:12]} is not trusted: its signature is not from a trusted key" \
        in out.skip_message

    good = commit(repo, "signed release", bump_loki("6.24.0"), *signed_with(trusted))
    out = tick(sensor, out.cursor, res)
    assert [r.run_key for r in out.run_requests] == [good]
    assert [k.path for k in out.run_requests[0].asset_selection] == [["platform", "loki"]]


def test_a_missing_signers_file_trusts_nothing(tmp_path: Path, repo: GitRepository,
                                               sensor: dg.SensorDefinition) -> None:
    res = GitRepositoryResource(url=repo.url, cache_dir=str(tmp_path / "cache"),
                                allowed_signers=str(tmp_path / "nowhere"))
    base = tick(sensor, None, res)
    assert "the head is not trusted" in base.skip_message
    commit(repo, "bump", bump_loki("6.23.0"))
    out = tick(sensor, base.cursor, res)
    assert out.run_requests == [] and "allowed signers file" in out.skip_message


def _write(rel: str, text: str) -> Any:
    def edit(root: Path) -> None:
        (root / rel).write_text(text)
    return edit


def _link(rel: str, target: str) -> Any:
    def edit(root: Path) -> None:
        (root / rel).symlink_to(target)
    return edit


@pytest.mark.parametrize(("edit", "expected"), [
    (_write("platform.yaml", (HOSTILE / "alias-bomb.yaml").read_text()),
     "aliases expand to more than"),
    (_write("platform.yaml", "[" * 200_000), "nesting deeper than 100 levels"),
    (_link("manifests/wordpress/passwd.yaml", "/etc/passwd"),
     "symbolic link at 'manifests/wordpress/passwd.yaml'"),
    (_write("manifests/wordpress/rbac.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
            "metadata: {name: pwned}\nroleRef: {apiGroup: rbac.authorization.k8s.io, "
            "kind: ClusterRole, name: cluster-admin}\n"
            "subjects: [{kind: ServiceAccount, name: default, namespace: services}]\n"),
     "ClusterRoleBinding/pwned: kind: ClusterRoleBinding is cluster-scoped"),
    (_write("manifests/wordpress/dup.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nmetadata: {name: b}\n"),
     "duplicate key 'metadata'"),
])
def test_hostile_commit_is_skipped_with_a_reason_and_never_run(
        tmp_path: Path, repo: GitRepository, sensor: dg.SensorDefinition, edit: Any,
        expected: str) -> None:
    res = GitRepositoryResource(url=repo.url, cache_dir=str(tmp_path / "cache"))
    base = tick(sensor, None, res)
    bad = commit(repo, "hostile", edit)
    out = tick(sensor, base.cursor, res)
    assert out.run_requests == []
    assert f"commit {bad[:12]} has an invalid spec" in out.skip_message
    assert expected in out.skip_message
    assert json.loads(out.cursor)["handled"] == bad
