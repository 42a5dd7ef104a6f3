"""Sensors against a temp Git repository and the sandbox Alertmanager, via build_sensor_context."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.core.graph import Graph, build_graph
from platform_assets.core.loading import graph_at_commit, graph_for_run, graph_from_source
from platform_assets.core.remediation import ESCALATION_ALERT
from platform_assets.names import (
    ANNOTATION_RESTARTED_AT,
    FIELD_MANAGER,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    TAG_COMMIT,
    TAG_REMEDIATION_KEY,
)
from platform_assets.spec.loader import SpecError, load_graph, load_spec
from resources.alertmanager import AlertmanagerResource
from resources.git import GitRepositoryResource
from resources.kubernetes import KubernetesResource
from sandbox import http
from sandbox.alertmanager import AlertmanagerService
from sandbox.git import GitRepository, git, seed_repository
from sensors import alertmanager_alerts, git_changes, run_failures
from sensors.ticks import alertmanager_alerts as alert_tick

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "platform"
QUIET = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # Wednesday: no window, no freeze
# The labels the reconciler puts on the wordpress component's objects.
OURS = {LABEL_MANAGED_BY: FIELD_MANAGER, LABEL_COMPONENT: "wordpress"}


@pytest.fixture
def repo(tmp_path: Path) -> GitRepository:
    return seed_repository(tmp_path / "git", EXAMPLE)


@pytest.fixture
def git_resource(repo: GitRepository, tmp_path: Path) -> GitRepositoryResource:
    return GitRepositoryResource(url=repo.url, cache_dir=str(tmp_path / "cache"))


def commit(repo: GitRepository, message: str, edit: Any) -> str:
    edit(repo.clone)
    git(repo.clone, "add", "--all")
    git(repo.clone, "commit", "--quiet", "--no-gpg-sign", "-m", message)
    git(repo.clone, "push", "--quiet", "--force", "origin", "HEAD:main")
    return git(repo.clone, "rev-parse", "HEAD").strip()


def replace_in(rel: str, old: str, new: str) -> Any:
    def edit(root: Path) -> None:
        p = root / rel
        text = p.read_text()
        assert old in text, f"{old!r} not in {rel}"
        p.write_text(text.replace(old, new, 1))
    return edit


def tick(sensor: dg.SensorDefinition, cursor: str | None, resources: dict[str, Any],
         **kwargs: Any) -> Any:
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance,
                                      **kwargs)
        return sensor.evaluate_tick(ctx)


@pytest.fixture
def git_sensor() -> dg.SensorDefinition:
    return git_changes.build(build_graph(load_spec(EXAMPLE / "platform.yaml")))


def test_git_first_tick_sets_a_baseline(git_sensor: dg.SensorDefinition, repo: GitRepository,
                                        git_resource: GitRepositoryResource) -> None:
    out = tick(git_sensor, None, {"git": git_resource})
    assert out.run_requests == []
    assert "first tick" in out.skip_message
    cur = json.loads(out.cursor)
    assert cur["handled"] == cur["applied"] == repo.head()
    again = tick(git_sensor, out.cursor, {"git": git_resource})
    assert "no new commit" in again.skip_message
    assert again.cursor is None or json.loads(again.cursor) == cur


def test_git_commit_requests_only_the_changed_assets(
        git_sensor: dg.SensorDefinition, repo: GitRepository,
        git_resource: GitRepositoryResource) -> None:
    base = tick(git_sensor, None, {"git": git_resource}).cursor
    sha = commit(repo, "wordpress: 2 replicas",
                 replace_in("manifests/wordpress/deployment.yaml", "replicas: 1", "replicas: 2"))
    out = tick(git_sensor, base, {"git": git_resource})
    assert len(out.run_requests) == 1
    req = out.run_requests[0]
    assert req.run_key == sha
    assert req.job_name == "reconcile_platform"
    assert [k.path for k in req.asset_selection] == [["applications", "wordpress"]]
    assert req.tags[TAG_COMMIT] == sha
    assert json.loads(out.cursor)["applied"] == sha

    sha2 = commit(repo, "bump loki", replace_in("platform.yaml", "version: 6.22.0",
                                                "version: 6.23.0"))
    out2 = tick(git_sensor, out.cursor, {"git": git_resource})
    assert [r.run_key for r in out2.run_requests] == [sha2]
    assert [k.path for k in out2.run_requests[0].asset_selection] == [["platform", "loki"]]


def test_git_invalid_spec_is_reported_and_the_fix_proceeds(
        git_sensor: dg.SensorDefinition, repo: GitRepository,
        git_resource: GitRepositoryResource) -> None:
    base = tick(git_sensor, None, {"git": git_resource}).cursor
    good = json.loads(base)["applied"]
    bad = commit(repo, "typo", replace_in("platform.yaml", "node_count: 3", "node_count: three"))
    out = tick(git_sensor, base, {"git": git_resource})
    assert out.run_requests == []
    assert bad[:12] in out.skip_message and "invalid spec" in out.skip_message
    assert "node_count" in out.skip_message and "platform.yaml@" in out.skip_message
    cur = json.loads(out.cursor)
    assert cur["handled"] == bad and cur["applied"] == good
    # The fix also bumps a manifest; the diff is against the last *applied* spec.
    fix = commit(repo, "fix", lambda root: (
        replace_in("platform.yaml", "node_count: three", "node_count: 4")(root),
        replace_in("manifests/wordpress/deployment.yaml", "replicas: 1", "replicas: 2")(root)))
    out2 = tick(git_sensor, out.cursor, {"git": git_resource})
    assert [r.run_key for r in out2.run_requests] == [fix]
    selected = {tuple(k.path) for k in out2.run_requests[0].asset_selection}
    assert selected == {("ionos", "node_pool", "application-pool"), ("applications", "wordpress")}
    assert out2.run_requests[0].tags["platform-ops/base-commit"] == good


def test_git_force_push_compares_with_the_last_applied_spec(
        git_sensor: dg.SensorDefinition, repo: GitRepository,
        git_resource: GitRepositoryResource) -> None:
    base = tick(git_sensor, None, {"git": git_resource}).cursor
    seed = json.loads(base)["applied"]
    first = commit(repo, "loki", replace_in("platform.yaml", "version: 6.22.0", "version: 7.0.0"))
    out = tick(git_sensor, base, {"git": git_resource})
    assert [r.run_key for r in out.run_requests] == [first]
    git(repo.clone, "reset", "--quiet", "--hard", seed)
    rewritten = commit(repo, "alloy instead", replace_in("platform.yaml", "version: 0.10.1",
                                                         "version: 0.11.0"))
    out2 = tick(git_sensor, out.cursor, {"git": git_resource})
    assert [r.run_key for r in out2.run_requests] == [rewritten]
    # Against the applied spec (loki 7.0.0), both loki (reverted) and alloy changed.
    assert {tuple(k.path) for k in out2.run_requests[0].asset_selection} == {
        ("platform", "loki"), ("platform", "alloy")}


def test_git_added_component_updates_the_checkout_and_runs(
        repo: GitRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_WEBSERVER_INTERNAL_URL", raising=False)
    checkout = tmp_path / "checkout"
    res = GitRepositoryResource(url=repo.url, cache_dir=str(tmp_path / "cache"),
                                checkout_dir=str(checkout))
    sensor = git_changes.build(build_graph(load_spec(EXAMPLE / "platform.yaml")))
    base = tick(sensor, None, {"git": res}).cursor

    def add(root: Path) -> None:
        text = (root / "platform.yaml").read_text()
        text = text.replace("\nbackups:", "\n  - name: guestbook\n    namespace: services\n"
                            "    source: {manifests: {path: manifests/guestbook}}\n"
                            # the second commit renames its Namespace object to guestbook
                            "    allow: {namespaces: [guestbook]}\n\nbackups:", 1)
        (root / "platform.yaml").write_text(text)
        (root / "manifests" / "guestbook").mkdir()
        shutil.copy(root / "manifests/wordpress/namespace.yaml",
                    root / "manifests/guestbook/ns.yaml")
    sha = commit(repo, "add guestbook", add)
    out = tick(sensor, base, {"git": res})
    assert [tuple(k.path) for k in out.run_requests[0].asset_selection] == [
        ("applications", "guestbook")]
    assert (checkout / "manifests" / "guestbook" / "ns.yaml").is_file()
    assert "guestbook" in (checkout / "platform.yaml").read_text()
    assert (checkout / ".platform-ops-commit").read_text().strip() == sha
    # Every applied commit replaces the checkout's tree.
    sha2 = commit(repo, "drop guestbook manifests dir contents", replace_in(
        "manifests/guestbook/ns.yaml", "services", "guestbook"))
    out2 = tick(sensor, out.cursor, {"git": res})
    assert [r.run_key for r in out2.run_requests] == [sha2]
    assert (checkout / ".platform-ops-commit").read_text().strip() == sha2
    assert "guestbook" in (checkout / "manifests/guestbook/ns.yaml").read_text()


def code_location(*paths: tuple[str, ...]) -> dg.Definitions:
    """A stand-in code location: one asset (with a check) per key, and reconcile_platform."""
    assets, checks = [], []
    for i, path in enumerate(paths):
        deps = [dg.AssetKey(list(paths[i - 1]))] if i else []

        @dg.asset(key=list(path), deps=deps, name=None)
        def _asset() -> None:
            return None

        @dg.asset_check(asset=dg.AssetKey(list(path)), name="healthy")
        def _check() -> dg.AssetCheckResult:
            return dg.AssetCheckResult(passed=True)

        assets.append(_asset)
        checks.append(_check)
    job = dg.define_asset_job("reconcile_platform", selection=dg.AssetSelection.all())
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=[job])


def test_git_run_includes_the_checks_downstream(git_sensor: dg.SensorDefinition,
                                                repo: GitRepository,
                                                git_resource: GitRepositoryResource) -> None:
    defs = code_location(("platform", "loki"), ("platform", "alloy"))
    base = tick(git_sensor, None, {"git": git_resource}).cursor
    commit(repo, "loki", replace_in("platform.yaml", "version: 6.22.0", "version: 6.23.0"))
    out = tick(git_sensor, base, {"git": git_resource}, definitions=defs)
    req = out.run_requests[0]
    assert [k.path for k in req.asset_selection] == [["platform", "loki"]]
    assert {(tuple(ck.asset_key.path), ck.name) for ck in req.asset_check_keys} == {
        (("platform", "loki"), "healthy"), (("platform", "alloy"), "healthy")}


def test_git_added_component_waits_for_the_code_location_reload(
        git_sensor: dg.SensorDefinition, repo: GitRepository,
        git_resource: GitRepositoryResource, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_WEBSERVER_INTERNAL_URL", raising=False)
    base = tick(git_sensor, None, {"git": git_resource}).cursor
    sha = commit(repo, "add guestbook", replace_in(
        "platform.yaml", "\nbackups:", "\n  - name: guestbook\n    namespace: services\n"
        "    source: {kustomization: {path: ./apps/guestbook}}\n\nbackups:"))
    old = code_location(("platform", "loki"))
    out = tick(git_sensor, base, {"git": git_resource}, definitions=old)
    assert out.run_requests == []
    assert "waiting for the reload" in out.skip_message
    assert "DAGSTER_WEBSERVER_INTERNAL_URL is not set" in out.skip_message
    assert json.loads(out.cursor)["pending"] == sha
    reloaded = code_location(("platform", "loki"), ("applications", "guestbook"))
    out2 = tick(git_sensor, out.cursor, {"git": git_resource}, definitions=reloaded)
    assert [r.run_key for r in out2.run_requests] == [sha]
    assert [k.path for k in out2.run_requests[0].asset_selection] == [
        ["applications", "guestbook"]]
    assert json.loads(out2.cursor)["pending"] is None


def test_git_unreachable_keeps_the_cursor(git_sensor: dg.SensorDefinition,
                                          tmp_path: Path) -> None:
    res = GitRepositoryResource(url=(tmp_path / "missing.git").as_uri(),
                                cache_dir=str(tmp_path / "cache"), timeout_seconds=10)
    cursor = json.dumps({"handled": "a" * 40, "applied": "a" * 40})
    out = tick(git_sensor, cursor, {"git": res})
    assert out.run_requests == []
    assert "Git unreachable" in out.skip_message and "missing.git" in out.skip_message
    assert out.cursor == cursor  # unchanged


def test_graph_at_commit_is_that_commits_spec(repo: GitRepository,
                                              git_resource: GitRepositoryResource) -> None:
    old = repo.head()
    commit(repo, "loki", replace_in("platform.yaml", "version: 6.22.0", "version: 7.0.0"))
    git_resource.fetch()
    graph = graph_at_commit(git_resource, old)
    assert graph.spec.component("loki").source.helm_release.version == "6.22.0"
    assert graph.base_dir is not None
    assert (graph.base_dir / "manifests" / "wordpress" / "deployment.yaml").is_file()
    assert git_resource.changed_paths(old, git_resource.head()) == ["platform.yaml"]
    loaded = load_graph(EXAMPLE / "platform.yaml")
    pinned = graph_for_run({TAG_COMMIT: git_resource.head()}, git_resource, loaded)
    assert pinned.spec.component("loki").source.helm_release.version == "7.0.0"
    assert pinned.base_dir is not None and (pinned.base_dir / "platform.yaml").is_file()
    assert graph_for_run({}, git_resource, loaded) is loaded


def test_commit_tree_and_disk_give_one_graph(repo: GitRepository,
                                             git_resource: GitRepositoryResource) -> None:
    """The sensor's graph (commit in memory) and the run's (commit on disk) agree, manifest
    digests included, and match the working copy's."""
    head = git_resource.fetch()
    in_memory = graph_from_source(git_resource.tree(head), git_resource.spec_path)
    on_disk = graph_at_commit(git_resource, head)
    loaded = load_graph(EXAMPLE / "platform.yaml")
    versions = {k: n.code_version for k, n in on_disk.nodes.items()}
    assert {k: n.code_version for k, n in in_memory.nodes.items()} == versions
    assert {k: n.code_version for k, n in loaded.nodes.items()} == versions
    assert in_memory.base_dir is None


def test_missing_spec_at_a_commit_names_file_and_commit(
        repo: GitRepository, git_resource: GitRepositoryResource) -> None:
    head = git_resource.fetch()
    with pytest.raises(SpecError, match=rf"nowhere\.yaml@{head[:12]}: cannot read the spec"):
        graph_from_source(git_resource.tree(head), "nowhere.yaml")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def am_clock() -> Clock:
    return Clock(QUIET)


@pytest.fixture
def am(am_clock: Clock) -> Iterator[AlertmanagerResource]:
    server = http.serve(AlertmanagerService(clock=am_clock))
    try:
        yield AlertmanagerResource(url=server.url, timeout_seconds=5)
    finally:
        server.stop()


def example_graph(**remediation: Any) -> Graph:
    spec = load_spec(EXAMPLE / "platform.yaml")
    if remediation:
        rules = [r.model_copy(update=remediation) for r in spec.remediation.rules]
        spec = spec.model_copy(update={"remediation": spec.remediation.model_copy(
            update={"rules": rules})})
    return build_graph(spec)


def fire(am: AlertmanagerResource, name: str, starts: datetime, ends: datetime | None = None,
         **labels: str) -> None:
    alert: dict[str, Any] = {"labels": {"alertname": name, **labels},
                             "startsAt": starts.isoformat()}
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    am.post_alerts([alert])


def am_tick(graph: Graph, am: AlertmanagerResource, cursor: str | None, now: datetime,
            instance: dg.DagsterInstance | None = None,
            definitions: dg.Definitions | None = None) -> tuple[Any, str | None]:
    ctx = dg.build_sensor_context(cursor=cursor, instance=instance, definitions=definitions)
    result = alert_tick.evaluate(ctx, am, graph, now=now)
    return result, ctx.cursor


def test_alert_becomes_a_run_with_fingerprint_run_key(am: AlertmanagerResource) -> None:
    graph = example_graph()
    fire(am, "KubeDeploymentReplicasMismatch", QUIET, namespace="services",
         deployment="wordpress")
    fire(am, "Unrelated", QUIET)
    live = {a["labels"]["alertname"]: a for a in am.active_alerts()}
    out, cursor = am_tick(graph, am, None, QUIET)
    assert isinstance(out, list) and len(out) == 1
    req = out[0]
    alert = live["KubeDeploymentReplicasMismatch"]
    assert req.run_key == f"{alert['fingerprint']}:{alert['startsAt']}"
    assert req.job_name == "restart_rollout"
    assert req.run_config["ops"]["restart_workload"]["config"] == {
        "namespace": "services", "name": "wordpress", "kind": "Deployment", "owner_labels": []}
    assert req.tags[TAG_REMEDIATION_KEY] == req.run_key
    # Next tick: same alert instance, nothing new.
    again, cursor2 = am_tick(graph, am, cursor, QUIET + timedelta(seconds=30))
    assert isinstance(again, dg.SkipReason)


def test_action_mapping_for_each_job(am: AlertmanagerResource) -> None:
    graph = example_graph()
    fire(am, "PlatformBackupMissed", QUIET, backup="wordpress-content")
    fire(am, "CertificateExpiringSoon", QUIET, certificate="wildcard-samcloud-online")
    fire(am, "KubePersistentVolumeFillingUp", QUIET, namespace="services",
         persistentvolumeclaim="wordpress-data")
    fire(am, "PlatformDriftDetected", QUIET, component="loki")
    out, _ = am_tick(graph, am, None, QUIET)
    by_job = {r.job_name: r for r in out}
    assert set(by_job) == {"snapshot_platform", "renew_certificate", "expand_pvc",
                           "reconcile_platform"}
    assert by_job["snapshot_platform"].partition_key == "2026-11-17"
    assert [k.path for k in by_job["snapshot_platform"].asset_selection] == [
        ["backups", "wordpress-content"]]
    assert by_job["renew_certificate"].tags["platform-ops/certificate"] == \
        "wildcard-samcloud-online"
    assert by_job["expand_pvc"].run_config["ops"]["expand_volume_claim"]["config"] == {
        "namespace": "services", "name": "wordpress-data", "expand_by": "10Gi",
        "owner_labels": [OURS], "wait_timeout_seconds": 600.0}
    assert [k.path for k in by_job["reconcile_platform"].asset_selection] == [["platform", "loki"]]


def test_twenty_pvc_alerts_under_a_one_per_day_rule_give_one_expansion(
        am: AlertmanagerResource) -> None:
    """Issue 15: 20 alerts naming 20 PVCs under the 1-per-24h rule gave 20 expansions."""
    for i in range(20):
        fire(am, "KubePersistentVolumeFillingUp", QUIET - timedelta(seconds=20 - i),
             namespace="services", persistentvolumeclaim=f"data-{i}")
    out, _ = am_tick(example_graph(cooldown="0s"), am, None, QUIET)
    assert isinstance(out, list)
    assert [r.job_name for r in out] == ["expand_pvc"]
    escalated = am.active_alerts(filters=[f'alertname="{ESCALATION_ALERT}"'])
    assert len(escalated) == 1
    assert "under rule pvc-filling-up" in escalated[0]["annotations"]["description"]


def test_alert_labels_cannot_choose_objects_outside_the_rule(am: AlertmanagerResource) -> None:
    """Issue 15: a ``deployment`` label overrode a restart rule's fixed target, and
    ``expand_pvc`` took any namespace from the labels."""
    fire(am, "KubeDeploymentReplicasMismatch", QUIET, namespace="services",
         deployment="coredns", daemonset="kube-proxy")
    fire(am, "KubePersistentVolumeFillingUp", QUIET, namespace="dagster",
         persistentvolumeclaim="postgresql-data")
    out, _ = am_tick(example_graph(), am, None, QUIET)
    assert isinstance(out, list)
    (restart,) = out
    assert restart.run_config["ops"]["restart_workload"]["config"] == {
        "namespace": "services", "name": "wordpress", "kind": "Deployment", "owner_labels": []}


def test_bad_partition_label_is_escalated_not_launched(am: AlertmanagerResource) -> None:
    fire(am, "PlatformBackupMissed", QUIET, backup="wordpress-content", partition="2031-01-01")
    out, _ = am_tick(example_graph(), am, None, QUIET)
    assert isinstance(out, dg.SkipReason) and "1 escalated" in out.skip_message
    escalated = am.active_alerts(filters=[f'alertname="{ESCALATION_ALERT}"'])
    assert "not a daily partition" in escalated[0]["annotations"]["description"]


def test_flapping_alert_is_bounded_by_budget_and_escalates(am: AlertmanagerResource,
                                                           am_clock: Clock) -> None:
    """Fired 100 times in 10 minutes (resolved in between): at most budget.max remediations."""
    for cooldown, expected in (("15m", 1), ("0s", 3)):
        graph = example_graph(cooldown=cooldown)
        budget = graph.spec.remediation.rules[0].budget.max
        cursor, remediations = None, 0
        for i in range(100):
            now = QUIET + timedelta(seconds=6 * i)
            am_clock.now = now
            fire(am, "KubeDeploymentReplicasMismatch", now, namespace="services")
            out, cursor = am_tick(graph, am, cursor, now)
            remediations += len(out) if isinstance(out, list) else 0
            fire(am, "KubeDeploymentReplicasMismatch", now, now + timedelta(seconds=1),
                 namespace="services")  # resolved before the next firing
            am_clock.now = now + timedelta(seconds=3)
        assert remediations == expected <= budget
        escalated = [a for a in am.active_alerts() if a["labels"]["alertname"] ==
                     ESCALATION_ALERT]
        assert len(escalated) == (1 if expected == budget else 0)
        if escalated:
            assert escalated[0]["labels"]["target"] == "wordpress"
            assert "budget spent" in escalated[0]["annotations"]["description"]


def test_freeze_holds_and_dry_run_reports(am: AlertmanagerResource, am_clock: Clock) -> None:
    frozen = datetime(2026, 12, 23, 12, 0, tzinfo=UTC)
    am_clock.now = frozen
    fire(am, "KubeDeploymentReplicasMismatch", frozen, namespace="services")
    out, _ = am_tick(example_graph(), am, None, frozen)
    assert isinstance(out, dg.SkipReason) and "freeze year-end" in out.skip_message
    am_clock.now = QUIET
    fire(am, "KubeDeploymentReplicasMismatch", QUIET, namespace="services", pod="p2")
    spec = load_spec(EXAMPLE / "platform.yaml")
    dry = build_graph(spec.model_copy(update={"remediation": spec.remediation.model_copy(
        update={"dry_run": True})}))
    out, _ = am_tick(dry, am, None, QUIET)
    assert isinstance(out, dg.SkipReason)
    assert "dry run: would launch restart_rollout" in out.skip_message


def test_malformed_alerts_are_named_and_skipped(am: AlertmanagerResource) -> None:
    class WithGarbage(AlertmanagerResource):
        def active_alerts(self, filters: list[str] | None = None,
                          receiver: str | None = None) -> list[dict[str, Any]]:
            return [{"labels": {"alertname": "Mangled"}, "fingerprint": "0bad"},
                    *super().active_alerts(filters, receiver)]

    fire(am, "PlatformDriftDetected", QUIET, component="loki")
    garbage = WithGarbage(url=am.url)
    ctx = dg.build_sensor_context()
    out = alert_tick.evaluate(ctx, garbage, example_graph(), now=QUIET)
    assert isinstance(out, list) and len(out) == 1
    ctx2 = dg.build_sensor_context(cursor=ctx.cursor)
    out2 = alert_tick.evaluate(ctx2, garbage, example_graph(), now=QUIET)
    assert isinstance(out2, dg.SkipReason)
    assert "1 malformed" in out2.skip_message
    assert "Mangled (fingerprint 0bad)" in out2.skip_message


def test_alertmanager_unreachable_keeps_the_cursor(tmp_path: Path) -> None:
    server = http.serve(AlertmanagerService())
    url = server.url
    server.stop()
    res = AlertmanagerResource(url=url, timeout_seconds=2, retry_attempts=1)
    sensor = alertmanager_alerts.build(example_graph())
    cursor = '{"seen": {"abc:2026-11-18T12:00:00Z": 1}}'
    out = tick(sensor, cursor, {"alertmanager": res})
    assert out.run_requests == []
    assert "Alertmanager unreachable" in out.skip_message and url in out.skip_message
    assert out.cursor == cursor


def test_bearer_auth_from_an_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "am-secret-token-123"
    monkeypatch.setenv("TEST_ALERTMANAGER_TOKEN", token)
    server = http.serve(AlertmanagerService(authorization=f"Bearer {token}", clock=lambda: QUIET))
    try:
        sensor = alertmanager_alerts.build(example_graph())
        good = AlertmanagerResource(url=server.url,
                                    bearer_token=dg.EnvVar("TEST_ALERTMANAGER_TOKEN"))
        good_env = {"alertmanager": good}
        with dg.instance_for_test() as instance:
            ctx = dg.build_sensor_context(resources=good_env, instance=instance)
            ctx.resources.alertmanager.post_alerts([{"labels": {"alertname": "Noise"}}])
        out = tick(sensor, None, good_env)
        assert "1 active alert" in out.skip_message
        bad = AlertmanagerResource(url=server.url, bearer_token="wrong-token-456")
        out = tick(sensor, None, {"alertmanager": bad})
        assert "401" in out.skip_message and "cursor unchanged" in out.skip_message
        assert "wrong-token-456" not in out.skip_message and token not in out.skip_message
    finally:
        server.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KubernetesResource]:
    """A Kubernetes API of its own (the sandbox's) holding services/wordpress and its claim."""
    from sandbox.kubernetes import KubernetesService
    from sandbox.world import World

    svc = KubernetesService(World())
    # The PV controller binds the claim, as on a real cluster: a Pending claim's spec is
    # immutable (ValidatePersistentVolumeClaimUpdate), so expand_pvc needs a Bound one. Its
    # class binds WaitForFirstConsumer, so the wordpress pod that mounts it (as the example's
    # Deployment does) is scheduled on a node first.
    svc.add_nodes()
    svc.start_controllers()
    server = http.serve(svc)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(svc.kubeconfig(server.url))
    kube = KubernetesResource(kubeconfig_path=str(kubeconfig))
    labels = {"app": "wordpress"}
    for obj in (
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "services"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "wordpress", "namespace": "services"},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{"name": "wordpress",
                                                        "image": "wordpress:6"}],
                                        "volumes": [{"name": "content",
                                                     "persistentVolumeClaim": {
                                                         "claimName": "wordpress-data"}}]}}}},
        # Applied by the reconciler, so it carries our labels (core/desired.py).
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": "wordpress-data", "namespace": "services", "labels": OURS},
         "spec": {"accessModes": ["ReadWriteOnce"],
                  "resources": {"requests": {"storage": "10Gi"}}}},
    ):
        kube.apply(obj)
    deadline = time.monotonic() + 30
    while (kube.get("v1", "PersistentVolumeClaim", "wordpress-data", "services") or {}).get(
            "status", {}).get("phase") != "Bound":
        assert time.monotonic() < deadline, "the claim wordpress-data was never Bound"
        time.sleep(0.05)
    try:
        yield kube
    finally:
        svc.stop()
        server.stop()


def test_remediation_jobs_act_on_the_cluster_then_the_checks_run(
        am: AlertmanagerResource, cluster: KubernetesResource) -> None:
    """The sensor's run requests, executed by the real remediation jobs against a Kubernetes
    API; after the restart succeeds, the next tick asks for the target's checks."""
    from jobs import remediation

    graph = example_graph()

    @dg.asset(key=["applications", "wordpress"])
    def wordpress() -> None:
        return None

    @dg.asset_check(asset=wordpress)
    def healthy() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    reconcile = dg.define_asset_job("reconcile_platform", selection=[wordpress])
    defs = dg.Definitions(assets=[wordpress], asset_checks=[healthy],
                          jobs=[*remediation.build(graph), reconcile],
                          resources={"kubernetes": cluster})
    fire(am, "KubeDeploymentReplicasMismatch", QUIET, namespace="services",
         deployment="wordpress")
    fire(am, "KubePersistentVolumeFillingUp", QUIET, namespace="services",
         persistentvolumeclaim="wordpress-data")
    with dg.instance_for_test() as instance:
        out, cursor = am_tick(graph, am, None, QUIET, instance, defs)
        assert isinstance(out, list)
        by_job = {r.job_name: r for r in out}
        assert set(by_job) == {"restart_rollout", "expand_pvc"}
        waiting, cursor = am_tick(graph, am, cursor, QUIET, instance, defs)
        assert isinstance(waiting, dg.SkipReason)  # the runs have not happened yet
        for name, req in by_job.items():
            result = defs.resolve_job_def(name).execute_in_process(
                run_config=req.run_config, instance=instance, tags=req.tags)
            assert result.success, name

        deployment = cluster.get("apps/v1", "Deployment", "wordpress", "services")
        assert deployment is not None
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        restarted = annotations[ANNOTATION_RESTARTED_AT]
        assert datetime.strptime(restarted, "%Y-%m-%dT%H:%M:%SZ")
        claim = cluster.get("v1", "PersistentVolumeClaim", "wordpress-data", "services")
        assert claim is not None
        assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
        # The run waited for the resize: the wordpress pod mounts the claim, so the kubelet
        # grew the filesystem (sandbox/kubernetes/resize.py).
        assert claim["status"]["capacity"]["storage"] == "20Gi"

        verify, cursor = am_tick(graph, am, cursor, QUIET, instance, defs)
        # Both targets are in the wordpress namespace: each remediation verifies its checks.
        assert isinstance(verify, list)
        assert {v.run_key for v in verify} == {f"verify:{r.run_key}" for r in out}
        for v in verify:
            assert v.job_name == "reconcile_platform"
            assert [ck.name for ck in v.asset_check_keys] == ["healthy"]
            assert v.asset_selection == []
        assert json.loads(cursor)["pending_verify"] == {}


@pytest.mark.parametrize(("job", "config", "message"), [
    ("restart_rollout", {"restart_workload": {"namespace": "services", "name": "ghost"}},
     "cannot restart Deployment services/ghost: it does not exist"),
    ("restart_rollout", {"restart_workload": {"namespace": "services", "name": "wordpress",
                                              "kind": "ReplicaSet"}},
     "kind must be Deployment, StatefulSet or DaemonSet"),
    ("expand_pvc", {"expand_volume_claim": {"namespace": "services", "name": "ghost",
                                            "expand_by": "10Gi"}},
     "cannot expand PersistentVolumeClaim services/ghost: it does not exist"),
])
def test_remediation_jobs_fail_naming_what_is_wrong(
        cluster: KubernetesResource, job: str, config: dict[str, Any], message: str) -> None:
    from jobs import remediation

    jobs = {j.name: j for j in remediation.build(example_graph())}
    defs = dg.Definitions(jobs=list(jobs.values()), resources={"kubernetes": cluster})
    (op, op_config), = config.items()
    result = defs.resolve_job_def(job).execute_in_process(
        run_config={"ops": {op: {"config": op_config}}}, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert message in str(failure.step_failure_data.error)


def test_expand_pvc_refuses_a_claim_without_the_components_labels(
        cluster: KubernetesResource) -> None:
    """A PVC in the component's namespace that the component does not own (another team's, or
    one the alert sender planted) is not expanded."""
    from jobs import remediation

    cluster.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "someone-elses", "namespace": "services"},
                   "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}})
    defs = dg.Definitions(jobs=remediation.build(example_graph()),
                          resources={"kubernetes": cluster})
    config = {"namespace": "services", "name": "someone-elses", "expand_by": "10Gi",
              "owner_labels": [OURS]}
    result = defs.resolve_job_def("expand_pvc").execute_in_process(
        run_config={"ops": {"expand_volume_claim": {"config": config}}}, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "refusing to expand PersistentVolumeClaim services/someone-elses" in \
        str(failure.step_failure_data.error)
    claim = cluster.get("v1", "PersistentVolumeClaim", "someone-elses", "services")
    assert claim is not None and claim["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_expand_pvc_refuses_before_any_write_what_the_api_server_would_refuse(
        cluster: KubernetesResource) -> None:
    """The PersistentVolumeClaimResize admission plugin grows only a Bound claim of a class
    with ``allowVolumeExpansion: true``; expand_pvc checks that first and fails naming the
    claim, its phase and class and why (was: the server's raw 422 for a Pending claim), with
    the claim unchanged."""
    from jobs import remediation

    cluster.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                   "metadata": {"name": "fixed"}, "provisioner": "cloud.ionos.com"})
    # IONOS's class binds WaitForFirstConsumer: with no Pod using it the claim stays Pending.
    for name, cls in (("pending-data", "ionos-enterprise-hdd"), ("fixed-data", "fixed")):
        cluster.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                       "metadata": {"name": name, "namespace": "services", "labels": OURS},
                       "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                                "resources": {"requests": {"storage": "1Gi"}}}})

    deadline = time.monotonic() + 30
    while (cluster.get("v1", "PersistentVolumeClaim", "fixed-data", "services") or {}).get(
            "status", {}).get("phase") != "Bound":
        assert time.monotonic() < deadline, "the claim fixed-data was never Bound"
        time.sleep(0.05)
    defs = dg.Definitions(jobs=remediation.build(example_graph()),
                          resources={"kubernetes": cluster})
    for name, why in (
            ("pending-data", "(phase Pending, StorageClass ionos-enterprise-hdd): it is "
                             "Pending, not Bound"),
            ("fixed-data", "(phase Bound, StorageClass fixed): its StorageClass fixed does not "
                           "set allowVolumeExpansion: true")):
        before = cluster.get("v1", "PersistentVolumeClaim", name, "services")
        assert before is not None
        config = {"namespace": "services", "name": name, "expand_by": "10Gi",
                  "owner_labels": [OURS]}
        result = defs.resolve_job_def("expand_pvc").execute_in_process(
            run_config={"ops": {"expand_volume_claim": {"config": config}}},
            raise_on_error=False)
        assert not result.success
        (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert f"cannot expand PersistentVolumeClaim services/{name} {why}" in \
            str(failure.step_failure_data.error)
        after = cluster.get("v1", "PersistentVolumeClaim", name, "services")
        assert after is not None and after["metadata"]["resourceVersion"] == \
            before["metadata"]["resourceVersion"]


def _expand(cluster: KubernetesResource, expand_by: str = "10Gi", timeout: float = 600.0,
            **execute: Any) -> dg.ExecuteInProcessResult:
    from jobs import remediation

    defs = dg.Definitions(jobs=remediation.build(example_graph()),
                          resources={"kubernetes": cluster})
    config = {"namespace": "services", "name": "wordpress-data", "expand_by": expand_by,
              "owner_labels": [OURS], "wait_timeout_seconds": timeout}
    return defs.resolve_job_def("expand_pvc").execute_in_process(
        run_config={"ops": {"expand_volume_claim": {"config": config}}}, raise_on_error=False,
        **execute)


def _failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error
    assert error is not None and error.cls_name == "Failure"  # a failure, not a crash
    prefix = "dagster._core.definitions.events.Failure: "
    assert error.message.startswith(prefix)
    return error.message.removeprefix(prefix).rstrip("\n")


def _scale_wordpress(cluster: KubernetesResource, replicas: int) -> None:
    """With 0 replicas no pod mounts wordpress-data: the kubelet cannot grow its filesystem."""
    cluster.patch_merge("apps/v1", "Deployment", "wordpress", "services",
                        {"spec": {"replicas": replicas}})
    deadline = time.monotonic() + 30
    while len([p for p in cluster.list("v1", "Pod", "services")
               if (p.get("status") or {}).get("phase") == "Running"]) != replicas:
        assert time.monotonic() < deadline, f"wordpress never had {replicas} running pods"
        time.sleep(0.05)


def _claim(cluster: KubernetesResource) -> dict[str, Any]:
    claim = cluster.get("v1", "PersistentVolumeClaim", "wordpress-data", "services")
    assert claim is not None
    return claim


def test_expand_pvc_waits_for_the_filesystem_and_a_rerun_never_grows_twice(
        cluster: KubernetesResource) -> None:
    """The volume grows (the PV's capacity) but its filesystem only while a pod that mounts it
    runs (kubelet NodeExpandVolume; FileSystemResizePending meanwhile): with none, the run
    fails after its wait naming the condition and what to do. A rerun (a second alert, or the
    run retried) finds the request already at the target and waits for that resize instead of
    growing again; once wordpress runs, it succeeds with status.capacity at the target."""
    _scale_wordpress(cluster, 0)
    # The resizer reaches FileSystemResizePending in a few controller passes (well under 3 s).
    message = _failure(_expand(cluster, timeout=3))
    assert message.startswith("PersistentVolumeClaim services/wordpress-data did not grow to "
                              "20Gi within 3 s (wait_timeout_seconds): status.capacity is "
                              "10Gi, not 20Gi (")
    assert "FileSystemResizePending" in message
    assert message.endswith("and none does: restart or start a pod that mounts it")
    claim = _claim(cluster)
    assert (claim["spec"]["resources"]["requests"]["storage"],
            claim["status"]["capacity"]["storage"]) == ("20Gi", "10Gi")

    assert "did not grow to 20Gi" in _failure(_expand(cluster, timeout=0.5))
    assert _claim(cluster)["spec"]["resources"]["requests"]["storage"] == "20Gi"

    # A third run, left waiting; wordpress starts while it waits and the kubelet finishes.
    results: list[dg.ExecuteInProcessResult] = []
    with dg.instance_for_test() as instance:
        run_id = str(uuid.uuid4())
        waiting = threading.Thread(target=lambda: results.append(
            _expand(cluster, instance=instance, run_id=run_id)))
        waiting.start()
        deadline = time.monotonic() + 60
        while not any("waiting for that resize" in (e.user_message or "")
                      for e in instance.all_logs(run_id)):
            assert waiting.is_alive() and time.monotonic() < deadline, \
                "the third run never started waiting"
            time.sleep(0.05)
        _scale_wordpress(cluster, 1)
        waiting.join(timeout=60)
    (result,) = results
    assert result.success
    out = result.output_for_node("expand_volume_claim")
    assert (out["from"], out["to"], out["grown_by_this_run"]) == ("10Gi", "20Gi", False)
    claim = _claim(cluster)
    assert (claim["spec"]["resources"]["requests"]["storage"],
            claim["status"]["capacity"]["storage"]) == ("20Gi", "20Gi")
    assert not claim["status"].get("conditions")


def test_expand_pvc_refuses_to_grow_a_claim_while_another_resize_is_in_progress(
        cluster: KubernetesResource) -> None:
    """Someone else's resize (the request raised to 15Gi by hand) is still waiting for the
    node: expand_pvc neither stacks 10Gi on the request nor on the capacity; it fails naming
    the claim and the sizes under way, and writes nothing."""
    _scale_wordpress(cluster, 0)
    cluster.patch_merge("v1", "PersistentVolumeClaim", "wordpress-data", "services",
                        {"spec": {"resources": {"requests": {"storage": "15Gi"}}}})
    deadline = time.monotonic() + 30
    while (_claim(cluster)["status"].get("allocatedResourceStatuses") or {}).get(
            "storage") != "NodeResizePending":
        assert time.monotonic() < deadline, "the resizer never grew wordpress-data's volume"
        time.sleep(0.05)
    before = _claim(cluster)["metadata"]["resourceVersion"]
    assert _failure(_expand(cluster)) == (
        "cannot expand PersistentVolumeClaim services/wordpress-data: a resize is already in "
        "progress (spec.resources.requests.storage 15Gi, status.capacity 10Gi, "
        "status.allocatedResources 15Gi, FileSystemResizePending, NodeResizePending); growing "
        "it again by 10Gi now would stack on it: let it finish (status.capacity reaching the "
        "request), then expand again if the volume still fills up")
    assert _claim(cluster)["metadata"]["resourceVersion"] == before


def test_run_failure_posts_an_alert_with_failed_and_downstream_assets(
        am: AlertmanagerResource) -> None:
    graph = example_graph()

    @dg.asset(key=["ionos", "node_pool", "application-pool"])
    def pool() -> None:
        raise RuntimeError("node pool request FAILED")

    job = dg.define_asset_job("reconcile_platform", selection=[pool])
    defs = dg.Definitions(assets=[pool], jobs=[job])
    sensor = run_failures.build(graph)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("reconcile_platform").execute_in_process(
            instance=instance, raise_on_error=False)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        ctx = dg.build_run_status_sensor_context(
            sensor_name="run_failures", dagster_event=failure, dagster_instance=instance,
            dagster_run=run, resources={"alertmanager": am}).for_run_failure()
        sensor(ctx)
    posted = [a for a in am.active_alerts() if a["labels"]["alertname"] == "PlatformRunFailed"]
    assert len(posted) == 1
    alert = posted[0]
    assert alert["labels"]["job"] == "reconcile_platform"
    assert alert["labels"]["run_id"] == result.run_id
    assert alert["annotations"]["failed_assets"] == "ionos/node_pool/application-pool"
    assert "applications/wordpress" in alert["annotations"]["downstream_assets"]


def test_alert_sensor_targets_every_remediation_job_it_is_given() -> None:
    from jobs import build_jobs
    from resources import build_resources
    from sensors import build_sensors

    graph = example_graph()
    jobs = build_jobs(graph)
    defs = dg.Definitions(jobs=jobs, sensors=build_sensors(graph, jobs),
                          resources=build_resources(graph))
    targets = {t.job_name for t in defs.resolve_sensor_def("alertmanager_alerts").targets}
    assert {"reconcile_platform", "restart_rollout", "expand_pvc", "renew_certificate",
            "snapshot_platform"} <= targets


def test_sensors_resolve_in_the_definitions() -> None:
    from platform_assets.definitions import defs

    names = {s.name for s in defs.sensors or []}
    assert {"git_changes", "alertmanager_alerts", "run_failures"} <= names
