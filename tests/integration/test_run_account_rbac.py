"""The run's ServiceAccount holding only the RBAC derived from the example spec
(``render_rbac(platform/platform.yaml)``, what deploy/manifests/rbac.yaml ships) reconciles the
example, backs up and restore-drills its cluster resources, and runs step Jobs as
k8s_job_executor does, on the sandbox, which authorizes as kube-apiserver's RBAC does
(sandbox/kubernetes/rbac.py); outside its grant it is refused with kube-apiserver's 403
(k8s.io/apiserver responsewriters.forbiddenMessage wrapped by apimachinery
errors.NewForbidden)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.backup_assets import build_backup_assets
from platform_assets.core.graph import build_graph
from platform_assets.core.rbac import render_rbac
from platform_assets.names import FIELD_MANAGER, LABEL_MANAGED_BY
from platform_assets.spec import load_spec
from resources.kubernetes import KubernetesResource
from resources.object_storage import ObjectStorageResource
from tests.integration.run_account import RUNNER, install, runner_kubeconfig
from tests.integration.test_reconcile import (
    EXAMPLE,
    failures,
    instance_at,
    make_defs,
    run,
    writes,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("reconcile")]

PARTITION = "2026-11-20"


def denial(call: Any) -> dict[str, Any]:
    import json

    with pytest.raises(Exception) as info:
        call()
    return dict(json.loads(getattr(info.value, "body", None) or "{}"))


def _remediate(runner: KubernetesResource) -> None:
    """The example's remediations (restart_rollout, expand_pvc, renew_certificate), as the
    alert sensor would launch them, on the objects their rules name."""
    from jobs import certificates, remediation

    graph = build_graph(load_spec(EXAMPLE))
    jobs = {j.name: j for j in [*remediation.build(graph), *certificates.build(graph)]}
    for job, config in (
            ("restart_rollout", remediation.run_config_for(
                remediation.WorkloadConfig(namespace="services", name="wordpress"))),
            ("expand_pvc", remediation.run_config_for(remediation.ExpandConfig(
                namespace="services", name="wordpress-data", expand_by="10Gi"))),
            ("renew_certificate", certificates.run_config_for("services", "wordpress-tls"))):
        result = jobs[job].execute_in_process(run_config=config, raise_on_error=False,
                                              resources={"kubernetes": runner})
        assert result.success, (job, [str(e.step_failure_data.error)
                                      for e in result.get_step_failure_events()])


def _secrets_read_by_name_only(runner: KubernetesResource, denials: list[str]) -> None:
    """The reconcile and detect_drift converged reading the wired Secrets of ``services`` by
    name: the run account may not list that namespace's Secrets (a list returns every Secret's
    data) nor those of the cluster, and tried neither (it asked, with an access review), while
    the Secrets it wrote are there, ours."""
    assert not [m for m in denials if '"secrets"' in m], denials
    body = denial(lambda: runner.list("v1", "Secret", "services"))
    assert (body["reason"], body["code"]) == ("Forbidden", 403)
    assert body["message"] == (f'secrets is forbidden: User "{RUNNER}" cannot list resource '
                               '"secrets" in API group "" in the namespace "services"')
    for name in ("samcloud-registry", "wordpress-cache-auth"):
        secret = runner.get("v1", "Secret", name, "services")
        assert secret and secret["metadata"]["labels"][LABEL_MANAGED_BY] == FIELD_MANAGER


def test_the_run_account_reconciles_backs_up_and_drills_with_only_its_derived_rbac(
        sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path) -> None:
    """Deploy time as the admin (the derived RBAC and admission policies), then the runs as
    the ServiceAccount: the reconcile converges, a second one writes nothing and detect_drift
    passes, reading Secrets by name (the account may not list them where they are written), the
    remediations run, the cluster-resources backup and its restore drill pass; the account
    was refused nothing but what the product asks and tolerates, and is refused a Secret of
    another namespace."""
    sandbox.reset()
    env = sandbox_env
    admin = KubernetesResource(kubeconfig_path=env["KUBECONFIG"], retry_attempts=2,
                               retry_max_wait_seconds=0.2)
    install(admin, render_rbac(EXAMPLE))
    runner = KubernetesResource(
        kubeconfig_path=str(runner_kubeconfig(env["KUBECONFIG"], tmp_path / "runner")),
        retry_attempts=8, retry_max_wait_seconds=0.2)
    authorizer = sandbox.app.services["kubernetes"].authorizer
    authorizer.denials.clear()

    defs = make_defs(EXAMPLE, env, kubernetes=runner)
    with instance_at(tmp_path / "home") as instance:
        first = run(defs, instance)
        assert first.success, (failures(first), list(authorizer.denials))
        sandbox.reset_counts()
        second = run(defs, instance)
        assert second.success, (failures(second), list(authorizer.denials))
        assert writes(sandbox.requests()) == {}, sandbox.requests()
        drift = run(defs, instance, job="detect_drift")
        assert drift.success, (failures(drift), list(authorizer.denials))
    _secrets_read_by_name_only(runner, list(authorizer.denials))
    _remediate(runner)

    spec = load_spec(EXAMPLE)
    assets, checks = build_backup_assets(build_graph(spec))
    key = dg.AssetKey(["backups", "cluster-resources"])
    store = ObjectStorageResource(
        access_key_id=env["AWS_ACCESS_KEY_ID"], secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=env["AWS_ENDPOINT_URL_S3"], default_region="de", retry_attempts=2,
        retry_max_wait_seconds=0.2)
    result = dg.materialize(
        [next(a for a in assets if a.key == key),
         *(c for c in checks if next(iter(c.check_keys)).asset_key == key)],
        partition_key=PARTITION, raise_on_error=False, instance=dg.DagsterInstance.ephemeral(),
        resources={"object_storage": store, "kubernetes": runner})
    assert result.success, [str(e.step_failure_data.error) for e in
                            result.get_step_failure_events()]
    drill = {e.check_name: e for e in result.get_asset_check_evaluations()}["restore_drill"]
    assert drill.passed, (drill.metadata, list(authorizer.denials))
    assert drill.metadata["restored_objects"].value > 0

    # Refused and tolerated by design, nothing else: the export's lists of discovered kinds
    # beyond the derived export kinds (reported as not exported). The reconcile asked whether
    # it may list Secrets across namespaces rather than being refused the list.
    assert spec.backups is not None
    exported = {f'in the namespace "{ns}"' for t in spec.backups.targets
                if t.kind == "resources" for ns in t.namespaces}
    for message in authorizer.denials:
        assert "cannot list resource" in message, message
        assert any(message.endswith(where) for where in exported), message
    body = denial(lambda: runner.get("v1", "Secret", "bootstrap-token", "kube-system"))
    assert body["reason"] == "Forbidden" and body["code"] == 403
    assert body["message"] == (f'secrets "bootstrap-token" is forbidden: User "{RUNNER}" cannot '
                               'get resource "secrets" in API group "" in the namespace '
                               '"kube-system"')
    body = denial(lambda: runner.list("v1", "Secret"))
    assert body["message"] == (f'secrets is forbidden: User "{RUNNER}" cannot list resource '
                               '"secrets" in API group "" at the cluster scope')


def test_the_run_account_runs_step_jobs_as_k8s_job_executor_does(tmp_path: Path) -> None:
    """In the job namespace the run account does what dagster-k8s's k8s_job_executor does for
    each step (DagsterKubernetesClient: create the Job, poll its status subresource, list its
    pods, read their logs, delete Job and pods) with only the derived RBAC; it may not start a
    Job where the spec gives it none."""
    from dagster_k8s.client import DagsterKubernetesClient
    from kubernetes import client, config

    from platform_assets.names import RUN_NAMESPACE
    from sandbox.http import serve
    from sandbox.kubernetes import KubernetesService
    from sandbox.world import World

    svc = KubernetesService(World())
    server = serve(svc)
    svc.add_nodes()
    svc.start_controllers()
    try:
        (tmp_path / "admin").write_text(svc.kubeconfig(server.url))
        install(KubernetesResource(kubeconfig_path=str(tmp_path / "admin"), retry_attempts=1),
                render_rbac(EXAMPLE))
        api = config.new_client_from_config(
            config_file=str(runner_kubeconfig(tmp_path / "admin", tmp_path / "runner")))
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        k8s = DagsterKubernetesClient.production_client(batch_api_override=batch,
                                                        core_api_override=core)
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "dagster-step-0123", "labels": {"dagster/op": "x"}},
               "spec": {"backoffLimit": 0, "template": {"spec": {
                   "restartPolicy": "Never", "serviceAccountName": "platform-ops-runner",
                   "containers": [{"name": "dagster", "image": "registry.example/run:1"}]}}}}
        k8s.create_namespaced_job_with_retries(body=job, namespace=RUN_NAMESPACE)
        k8s.wait_for_job_success("dagster-step-0123", RUN_NAMESPACE, wait_timeout=30,
                                 wait_time_between_attempts=0.1)
        assert k8s.get_job_status("dagster-step-0123", RUN_NAMESPACE).succeeded == 1
        pods = k8s.get_pod_names_in_job("dagster-step-0123", RUN_NAMESPACE)
        assert len(pods) == 1
        k8s.retrieve_pod_logs(pods[0], RUN_NAMESPACE)
        assert k8s.delete_job("dagster-step-0123", RUN_NAMESPACE)
        body = denial(lambda: batch.create_namespaced_job("security", job))
        assert body["message"] == (f'jobs.batch is forbidden: User "{RUNNER}" cannot create '
                                   'resource "jobs" in API group "batch" in the namespace '
                                   '"security"')
    finally:
        server.stop()
        svc.stop()
