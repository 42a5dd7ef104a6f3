"""reconcile_platform and detect_drift on the sandbox: convergence, zero writes, drift, faults."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from jobs import reconcile as reconcile_jobs
from platform_assets.names import RECONCILE_OP
from platform_assets.reconcile_assets import build_reconcile_assets
from platform_assets.spec.loader import load_graph
from resources.git import GitRepositoryResource
from resources.ionos import IonosCloudResource
from resources.kubernetes import KubernetesResource
from resources.object_storage import ObjectStorageResource

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("reconcile")]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "platform" / "platform.yaml"
READS = ("GET", "HEAD", "OPTIONS", "REVIEW")  # an access review writes nothing


def make_defs(spec_path: Path | str, env: dict[str, str], git_url: str | None = None,
              kubernetes: KubernetesResource | None = None) -> dg.Definitions:
    """The reconcile assets, checks and jobs of a spec, with resources fast enough for tests;
    ``kubernetes`` instead of the admin kubeconfig the IONOS API gives for the cluster."""
    graph = load_graph(spec_path)
    assets, checks = build_reconcile_assets(graph)
    ionos = IonosCloudResource(
        token=env["IONOS_TOKEN"], api_url=env["IONOS_API_URL"],
        mariadb_url=env["IONOS_MARIADB_URL"], certmanager_url=env["IONOS_CERTMANAGER_URL"],
        poll_interval_seconds=0.05, retry_attempts=8, retry_max_wait_seconds=0.2)
    return dg.Definitions(
        assets=assets, asset_checks=checks, jobs=reconcile_jobs.build(graph),
        resources={
            "ionos": ionos,
            "kubernetes": kubernetes or KubernetesResource(
                from_ionos_cluster=True, cluster_name=graph.spec.ionos.cluster.name, ionos=ionos,
                retry_attempts=8, retry_max_wait_seconds=0.2),
            "object_storage": ObjectStorageResource(
                access_key_id=env["AWS_ACCESS_KEY_ID"],
                secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                endpoint_url=env["AWS_ENDPOINT_URL_S3"], retry_attempts=8,
                retry_max_wait_seconds=0.2),
            "git": GitRepositoryResource(url=git_url or env["PLATFORM_GIT_URL"]),
        })


def instance_at(path: Path) -> Any:
    """A test instance whose SQLite storage lives under ``path`` (searched after a run)."""
    path.mkdir(parents=True, exist_ok=True)
    return dg.instance_for_test(temp_dir=str(path))


def run(defs: dg.Definitions, instance: Any, job: str = "reconcile_platform",
        run_config: dict[str, Any] | None = None) -> Any:
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, run_config=run_config or {}, raise_on_error=False)


def writes(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    return {svc: n for svc, per in counts.items()
            if (n := sum(v for m, v in per.items() if m not in READS))}


def materialized(result: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for ev in result.get_asset_materialization_events():
        mat = ev.step_materialization_data.materialization
        out["/".join(mat.asset_key.path)] = {k: getattr(v, "value", v)
                                             for k, v in mat.metadata.items()}
    return out


def failures(result: Any) -> dict[str, str]:
    return {ev.step_key: ev.event_specific_data.error.message
            for ev in result.all_events if ev.event_type_value == "STEP_FAILURE"}


def spec_copy(tmp_path: Path, edit: Any) -> Path:
    """A copy of the example platform directory with ``edit(spec_dict, dir)`` applied."""
    target = tmp_path / "platform"
    shutil.copytree(ROOT / "platform", target)
    path = target / "platform.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data, target)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def must(obj: dict[str, Any] | None) -> dict[str, Any]:
    assert obj is not None
    return obj


def kube(env: dict[str, str], manager: str = "someone-else") -> KubernetesResource:
    return KubernetesResource(kubeconfig_path=env["KUBECONFIG"], field_manager=manager)


def ionos_client(env: dict[str, str]) -> IonosCloudResource:
    return IonosCloudResource(token=env["IONOS_TOKEN"], api_url=env["IONOS_API_URL"],
                              mariadb_url=env["IONOS_MARIADB_URL"])


def assert_no_duplicates(env: dict[str, str]) -> None:
    ionos = ionos_client(env)
    dcs = [d for d in ionos.to_json(ionos.api("DataCentersApi").datacenters_get(depth=1))["items"]
           if d["properties"]["name"] == "k8s-production"]
    assert len(dcs) == 1
    assert len(ionos.list_lans(dcs[0]["id"])) == 2  # k8s-private and edge-public
    assert [b["properties"]["name"] for b in ionos.list_ip_blocks()] == ["ingress"]
    assert [n["properties"]["name"] for n in ionos.list_nlbs(dcs[0]["id"])] == ["ingress"]
    clusters = ionos.list_k8s_clusters()
    assert [c["properties"]["name"] for c in clusters] == ["ionos-k8s"]
    assert [p["properties"]["name"] for p in ionos.list_node_pools(clusters[0]["id"])] == [
        "application-pool"]
    assert [m["properties"]["name"] for m in ionos.list_mariadb_clusters()] == ["wordpress-db"]
    assert [m["properties"]["name"] for m in ionos.list_inmemorydb_clusters()] == [
        "wordpress-cache"]
    assert [r["properties"]["name"] for r in ionos.list_registries()] == ["samcloud"]


@pytest.fixture
def fresh(sandbox: Any, sandbox_env: dict[str, str]) -> dict[str, str]:
    """An empty sandbox cloud (this module's tests each start from nothing)."""
    sandbox.reset()
    sandbox.reset_counts()
    return sandbox_env


def test_from_empty_cloud_then_second_run_makes_zero_writes(sandbox: Any, fresh: dict[str, str],
                                                             tmp_path: Path) -> None:
    defs = make_defs(EXAMPLE, fresh)
    with instance_at(tmp_path / "home") as instance:
        first = run(defs, instance)
        assert first.success, failures(first)
        meta = materialized(first)
        assert meta["ionos/datacenter"]["summary"] == "1 to create"
        assert meta["ionos/cluster"]["k8s_version"] == "1.32.6"
        assert meta["applications/wordpress"]["health"] == (
            "Deployment/wordpress=ok, PersistentVolumeClaim/wordpress-data=ok")
        assert "| create |" in meta["applications/wordpress"]["plan"]
        assert writes(sandbox.requests())["kubernetes"] >= 10

        sandbox.reset_counts()
        second = run(defs, instance)
        assert second.success, failures(second)
        counts = sandbox.requests()
        assert writes(counts) == {}, counts
        assert counts["kubernetes"]["GET"] > 0 and counts["ionos"]["GET"] > 0
        again = materialized(second)
        assert all(m["summary"] == "no changes" and m["writes"] == 0
                   for m in again.values()), {k: (m["summary"], m["writes"])
                                              for k, m in again.items()
                                              if m["summary"] != "no changes" or m["writes"]}

        drift = run(defs, instance, job="detect_drift")
        assert drift.success
        checks = drift.get_asset_check_evaluations()
        # 20 drift checks before the network edge, + the public LAN, the IP block, the load
        # balancer and the DNS zone, + the Redis cache, + the container registry.
        assert len(checks) == 26 and all(c.passed for c in checks), [
            (c.asset_key, c.metadata.get("plan")) for c in checks if not c.passed]
    assert_no_duplicates(fresh)


def test_dry_run_plans_without_writing(sandbox: Any, fresh: dict[str, str],
                                       tmp_path: Path) -> None:
    defs = make_defs(EXAMPLE, fresh)
    with instance_at(tmp_path / "home") as instance:
        result = run(defs, instance, run_config={"dry_run": True})
        assert result.success, failures(result)
        assert writes(sandbox.requests()) == {}
        meta = materialized(result)
        assert meta["ionos/datacenter"]["dry_run"] is True
        # Its objects, the MariaDB and Redis ConfigMaps, the Redis Secret, the registry's pull
        # Secret and the inventory.
        assert meta["applications/wordpress"]["summary"] == "14 to create"
        assert "apps/v1 Deployment services/wordpress" in meta["applications/wordpress"]["plan"]


def test_drift_enforce_corrects_and_warn_only_reports(sandbox: Any, fresh: dict[str, str],
                                                      tmp_path: Path) -> None:
    defs = make_defs(EXAMPLE, fresh)
    with instance_at(tmp_path / "home") as instance:
        assert run(defs, instance).success
        k = kube(fresh)
        k.patch_merge("apps/v1", "Deployment", "wordpress", "services", {"spec": {"replicas": 5}})
        k.patch_merge("helm.toolkit.fluxcd.io/v2", "HelmRelease", "trivy-operator", "security",
                      {"spec": {"values": {"serviceMonitor": {"enabled": False}}}})

        sandbox.reset_counts()
        drift = run(defs, instance, job="detect_drift")
        assert writes(sandbox.requests()) == {}
        failed = {"/".join(c.asset_key.path): c for c in drift.get_asset_check_evaluations()
                  if not c.passed}
        assert set(failed) == {"applications/wordpress", "platform/trivy-operator"}
        assert failed["applications/wordpress"].severity == dg.AssetCheckSeverity.ERROR
        assert failed["platform/trivy-operator"].severity == dg.AssetCheckSeverity.WARN
        assert "spec.replicas: 5 -> 1" in failed["applications/wordpress"].metadata["plan"].value

        sandbox.reset_counts()
        fixed = run(defs, instance)
        assert fixed.success, failures(fixed)
        assert writes(sandbox.requests()) == {"kubernetes": 1}
        assert must(k.get("apps/v1", "Deployment", "wordpress", "services"))["spec"][
            "replicas"] == 1
        trivy = must(k.get("helm.toolkit.fluxcd.io/v2", "HelmRelease", "trivy-operator",
                           "security"))
        assert trivy["spec"]["values"]["serviceMonitor"]["enabled"] is False
        assert "drift mode warn" in materialized(fixed)["platform/trivy-operator"]["plan"]


def _drop_service_no_windows(data: dict[str, Any], base: Path) -> None:
    data["change_calendar"] = {"maintenance_windows": [], "freezes": []}
    path = base / "manifests" / "wordpress" / "deployment.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] != "Service"]
    path.write_text(yaml.safe_dump_all(docs))


def test_prune_waits_for_a_window_unless_forced(sandbox: Any, fresh: dict[str, str],
                                                tmp_path: Path) -> None:
    changed = spec_copy(tmp_path, _drop_service_no_windows)
    with instance_at(tmp_path / "home") as instance:
        assert run(make_defs(EXAMPLE, fresh), instance).success
        defs = make_defs(changed, fresh)
        k = kube(fresh)
        deferred = run(defs, instance)
        assert deferred.success, failures(deferred)
        plan = materialized(deferred)["applications/wordpress"]["plan"]
        assert "deferred (delete)" in plan and "v1 Service services/wordpress" in plan
        assert k.get("v1", "Service", "wordpress", "services") is not None

        forced = run(defs, instance, run_config={"force": True})
        assert forced.success, failures(forced)
        assert materialized(forced)["applications/wordpress"]["pruned"] == 1
        assert k.get("v1", "Service", "wordpress", "services") is None
        sandbox.reset_counts()
        assert run(defs, instance).success
        assert writes(sandbox.requests()) == {}


def test_immutable_change_fails_unless_replace_allowed(sandbox: Any, fresh: dict[str, str],
                                                       tmp_path: Path) -> None:
    def amd(data: dict[str, Any], _base: Path) -> None:
        data["ionos"]["node_pools"][0]["cpu_family"] = "AMD_OPTERON"

    def amd_allowed(data: dict[str, Any], base: Path) -> None:
        amd(data, base)
        data["ionos"]["node_pools"][0]["allow_replace"] = True

    with instance_at(tmp_path / "home") as instance:
        assert run(make_defs(EXAMPLE, fresh), instance).success
        planned = _cli(["plan", "--spec", str(spec_copy(tmp_path / "p", amd))], fresh)
        assert planned.returncode == 1, planned.stdout + planned.stderr
        assert "BLOCKED:" in planned.stdout and "allow_replace" in planned.stderr
        blocked = run(make_defs(spec_copy(tmp_path / "a", amd), fresh), instance)
        assert not blocked.success
        message = failures(blocked)[RECONCILE_OP]
        assert "node pool application-pool" in message and "allow_replace" in message
        assert "cpuFamily" in message
        # Nothing downstream ran against the pool that was not replaced.
        assert not any(k.startswith(("platform/", "applications/"))
                       for k in materialized(blocked))

        ionos = ionos_client(fresh)
        cid = must(ionos.find_k8s_cluster("ionos-k8s"))["id"]
        before = ionos.list_node_pools(cid)[0]["id"]
        replaced = run(make_defs(spec_copy(tmp_path / "b", amd_allowed), fresh), instance,
                       run_config={"force": True})
        assert replaced.success, failures(replaced)
        pools = ionos.list_node_pools(cid)
        assert len(pools) == 1 and pools[0]["id"] != before
        assert pools[0]["properties"]["cpuFamily"] == "AMD_OPTERON"


def test_version_upgrade_is_deferred_outside_a_window(sandbox: Any, fresh: dict[str, str],
                                                      tmp_path: Path) -> None:
    def upgrade(data: dict[str, Any], _base: Path) -> None:
        data["ionos"]["cluster"]["k8s_version"] = "1.33.2"
        data["change_calendar"] = {"maintenance_windows": [], "freezes": []}

    with instance_at(tmp_path / "home") as instance:
        assert run(make_defs(EXAMPLE, fresh), instance).success
        defs = make_defs(spec_copy(tmp_path, upgrade), fresh)
        sandbox.reset_counts()
        deferred = run(defs, instance, run_config={"dry_run": False})
        assert deferred.success, failures(deferred)
        meta = materialized(deferred)["ionos/cluster"]
        assert meta["deferred"] == 1 and meta["k8s_version"] == "1.32.6"
        assert "ionos" not in writes(sandbox.requests())
        forced = run(defs, instance, run_config={"force": True})
        assert forced.success, failures(forced)
        assert materialized(forced)["ionos/cluster"]["k8s_version"] == "1.33.2"


def test_faults_and_latency_still_converge_without_duplicates(
        sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    for service in ("ionos", "mariadb", "kubernetes", "s3", "dns"):
        sandbox.set_fault(service, error_rate=0.2, statuses=[429, 503], retry_after=0,
                          latency_ms=10, drop_rate=0.03)
    defs = make_defs(EXAMPLE, fresh)
    with instance_at(tmp_path / "home") as instance:
        result = run(defs, instance)
        assert result.success, failures(result)
        sandbox.clear_faults()
        assert_no_duplicates(fresh)
        sandbox.reset_counts()
        again = run(defs, instance)
        assert again.success and writes(sandbox.requests()) == {}


def test_api_that_keeps_failing_ends_the_asset_with_a_named_error(
        sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    sandbox.set_fault("ionos", error_rate=1.0, statuses=[503], retry_after=0)
    defs = make_defs(EXAMPLE, fresh)
    with instance_at(tmp_path / "home") as instance:
        result = run(defs, instance)
    sandbox.clear_faults()
    assert not result.success
    message = failures(result)[RECONCILE_OP]
    assert "ionos/datacenter: RetriesExhausted: GET /datacenters failed after 8 attempts" in message
    assert "applications/wordpress: not run" in message
    done = materialized(result)
    assert not any(k.startswith(("ionos/", "platform/", "applications/")) for k in done)
    assert "s3/bucket/samcloud-platform-backups" in done  # independent of IONOS


KILL_SCRIPT = textwrap.dedent("""
    import sys
    import dagster as dg
    from tests.integration.test_reconcile import make_defs, run
    import os
    env = dict(os.environ)
    with dg.DagsterInstance.get() as instance:
        result = run(make_defs(sys.argv[1], env), instance)
    sys.exit(0 if result.success else 3)
""")


@pytest.mark.slow
@pytest.mark.parametrize("service,after", [("ionos", 2), ("kubernetes", 12)])
def test_killed_run_then_rerun_converges(sandbox: Any, fresh: dict[str, str], tmp_path: Path,
                                         service: str, after: int) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, **fresh, "DAGSTER_HOME": str(home), "PYTHONPATH": str(ROOT)}
    log = tmp_path / "killed_run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(EXAMPLE)], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)

    def child_output() -> str:
        return log.read_text(errors="replace")[-8000:]

    deadline = time.monotonic() + 120
    try:
        while writes(sandbox.requests()).get(service, 0) < after:
            assert proc.poll() is None, (
                f"the run ended (exit {proc.returncode}) before it could be killed; its "
                f"output:\n{child_output()}")
            assert time.monotonic() < deadline, (
                f"the run made too few writes; its output:\n{child_output()}")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, child_output()
    defs = make_defs(EXAMPLE, fresh)
    with instance_at(tmp_path / "rerun") as instance:
        rerun = run(defs, instance)
        assert rerun.success, failures(rerun)
        assert_no_duplicates(fresh)
        sandbox.reset_counts()
        assert run(defs, instance).success
        assert writes(sandbox.requests()) == {}
        drift = run(defs, instance, job="detect_drift")
        assert all(c.passed for c in drift.get_asset_check_evaluations())


def test_no_credential_reaches_the_instance_storage(sandbox: Any, fresh: dict[str, str],
                                                    tmp_path: Path) -> None:
    home = tmp_path / "home"
    defs = make_defs(EXAMPLE, fresh)
    with instance_at(home) as instance:
        assert run(defs, instance).success
        assert run(defs, instance, job="detect_drift").success
    kubeconfig = yaml.safe_load(Path(fresh["KUBECONFIG"]).read_text())
    kube_tokens = [u["user"].get("token") for u in kubeconfig.get("users", [])
                   if u["user"].get("token")]
    secrets = [fresh["IONOS_TOKEN"], fresh["AWS_SECRET_ACCESS_KEY"], fresh["MARIADB_PASSWORD"],
               *kube_tokens]
    assert all(len(s) >= 8 for s in secrets)
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files), "expected the SQLite event log"
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"a credential leaked into {path}"


def test_ionos_maintenance_upgrade_is_recorded_not_reverted(sandbox: Any, fresh: dict[str, str],
                                                            tmp_path: Path) -> None:
    defs = make_defs(EXAMPLE, fresh)
    with instance_at(tmp_path / "home") as instance:
        assert run(defs, instance).success
        # IONOS upgrades the cluster in its maintenance window (here: straight through the API).
        ionos = ionos_client(fresh)
        cluster = must(ionos.find_k8s_cluster("ionos-k8s"))
        props = {k: cluster["properties"][k] for k in ("name", "maintenanceWindow",
                                                       "apiSubnetAllowList")}
        ionos.update_k8s_cluster(cluster["id"], {**props, "k8sVersion": "1.33.2"})
        sandbox.reset_counts()
        result = run(defs, instance)
        assert result.success, failures(result)
        assert "ionos" not in writes(sandbox.requests())  # never "downgraded" back
        meta = materialized(result)["ionos/cluster"]
        assert meta["k8s_version"] == "1.33.2" and "newer than the spec" in meta["notes"]
        observations = [ev.asset_observation_data.asset_observation
                        for ev in result.all_events if ev.event_type_value == "ASSET_OBSERVATION"]
        assert len(observations) == 1
        obs = observations[0]
        assert obs.asset_key == dg.AssetKey(["ionos", "cluster"])
        assert obs.metadata["k8s_version_before"].value == "1.32.6"
        assert obs.metadata["k8s_version"].value == "1.33.2"


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "platform_assets", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def test_plan_command_exit_codes(sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    empty = _cli(["plan", "--spec", str(EXAMPLE)], fresh)
    assert empty.returncode == 2, empty.stderr
    assert "  + ionos/datacenter/k8s-production" in empty.stdout
    assert "  + apps/v1 Deployment services/wordpress" in empty.stdout
    assert "Plan: " in empty.stdout and " to create" in empty.stdout
    # The console script, as CI calls it for tools and pull-request comments.
    script = Path(sys.executable).with_name("platform-ops")
    as_json = subprocess.run([str(script), "plan", "--spec", str(EXAMPLE), "--format", "json"],
                             env={**os.environ, **fresh}, capture_output=True, text=True,
                             timeout=300)
    assert as_json.returncode == 2, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["status"] == "changes" and report["exit_code"] == 2
    assert f"Plan: {report['totals']['create']} to create" in empty.stdout
    created = {c["address"] for a in report["assets"] for c in a["changes"]
               if c["action"] == "create"}
    assert {"ionos/datacenter/k8s-production", "apps/v1 Deployment services/wordpress"} <= created
    assert writes(sandbox.requests()) == {}

    with instance_at(tmp_path / "home") as instance:
        assert run(make_defs(EXAMPLE, fresh), instance).success
    clean = _cli(["plan", "--spec", str(EXAMPLE)], fresh)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No changes." in clean.stdout
    comment = _cli(["plan", "--spec", str(EXAMPLE), "--format", "markdown"], fresh)
    assert comment.returncode == 0, comment.stderr
    assert comment.stdout.startswith("<!-- platform-ops plan -->\n### platform-ops plan: ")
    assert "**No changes.**" in comment.stdout

    def bad(data: dict[str, Any], _base: Path) -> None:
        data["platform"][0]["depends_on"] = ["does-not-exist"]

    broken = _cli(["plan", "--spec", str(spec_copy(tmp_path, bad))], fresh)
    assert broken.returncode == 1
    assert "does-not-exist" in broken.stderr and "Traceback" not in broken.stderr


def test_unowned_ionos_resources_are_reported_as_orphans(sandbox: Any, fresh: dict[str, str],
                                                         tmp_path: Path) -> None:
    defs = make_defs(EXAMPLE, fresh)
    with instance_at(tmp_path / "home") as instance:
        assert run(defs, instance).success
        ionos = ionos_client(fresh)
        dc = must(ionos.find_datacenter("k8s-production"))
        ionos.create_lan(dc["id"], {"name": "hand-made", "public": True})
        drift = run(defs, instance, job="detect_drift")
        failed = {"/".join(c.asset_key.path): c for c in drift.get_asset_check_evaluations()
                  if not c.passed}
        assert set(failed) == {"ionos/datacenter"}
        check = failed["ionos/datacenter"]
        assert check.metadata["orphan_count"].value == 1
        assert "ionos/lan/hand-made" in check.metadata["orphans"].value
        sandbox.reset_counts()
        assert run(defs, instance).success  # orphans are reported, never deleted
        assert writes(sandbox.requests()) == {}


def test_a_commit_tagged_run_applies_the_spec_at_that_commit(
        sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    """Runs the git sensor requests carry the commit: they apply that commit's spec, not the
    working copy's."""
    import boto3

    from platform_assets.names import TAG_COMMIT

    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "platform", repo)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "example"], check=True)
    spec = yaml.safe_load((repo / "platform.yaml").read_text())
    bucket = spec["ionos"]["buckets"][0]
    assert bucket["versioning"] is True
    bucket["versioning"] = False
    (repo / "platform.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    subprocess.run([*git, "commit", "-q", "-am", "suspend versioning"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                         text=True).stdout.strip()

    defs = make_defs(EXAMPLE, fresh, git_url=f"file://{repo}")
    key = dg.AssetKey(["s3", "bucket", bucket["name"]])
    job = defs.resolve_job_def("reconcile_platform")
    s3 = boto3.client("s3", endpoint_url=fresh["AWS_ENDPOINT_URL_S3"],
                      region_name=bucket["region"],
                      aws_access_key_id=fresh["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=fresh["AWS_SECRET_ACCESS_KEY"])
    with instance_at(tmp_path / "home") as instance:
        loaded = job.execute_in_process(instance=instance, asset_selection=[key],
                                        raise_on_error=False)
        assert loaded.success, failures(loaded)
        assert s3.get_bucket_versioning(Bucket=bucket["name"])["Status"] == "Enabled"
        pinned = job.execute_in_process(instance=instance, asset_selection=[key],
                                        tags={TAG_COMMIT: sha}, raise_on_error=False)
        assert pinned.success, failures(pinned)
        assert "versioning" in materialized(pinned)["/".join(key.path)]["plan"]
        assert s3.get_bucket_versioning(Bucket=bucket["name"])["Status"] == "Suspended"
