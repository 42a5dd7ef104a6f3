"""K8sRunLauncher on the sandbox Kubernetes API: the Job it creates; a run executed end to end."""

from __future__ import annotations

import base64
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs.k8s_tags import K8S_JOB_TAGS, k8s_tags
from platform_assets.names import JOB_SECRETS, TAG_K8S_CONFIG

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JOB_NAMESPACE = "dagster"
SERVICE_ACCOUNT = "platform-ops-runner"
IMAGE = "platform-ops:test"
ENV_SECRET = "platform-ops-env"

# A job the run worker can import from a file: it proves the env it got from the launcher
# (a plain variable and one from the Secret) and writes a marker the test reads back.
JOB_MODULE = textwrap.dedent('''
    import os
    from pathlib import Path

    import dagster as dg


    @dg.op
    def read_env() -> str:
        assert os.environ["PLATFORM_EXECUTOR"] == "in_process", os.environ.get("PLATFORM_EXECUTOR")
        return os.environ["IONOS_TOKEN"]


    @dg.op
    def write_marker(token: str) -> None:
        Path(os.environ["MARKER_FILE"]).write_text(f"token={token} pod={os.environ['HOSTNAME']}")


    @dg.job
    def launched_job():
        write_marker(read_env())
''')


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The sandbox Kubernetes API with its Job controller running containers locally."""
    # The "container" runs as a local process: ``dagster`` from this venv, like the image's.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    from sandbox.http import serve
    from sandbox.kubernetes import KubernetesService
    from sandbox.world import World

    svc = KubernetesService(World(), state_dir=None, controller_delay=0.0, run_jobs=True)
    svc.add_nodes()  # pods run only on nodes, as in a real cluster
    svc.start_controllers()
    server = serve(svc)
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(svc.kubeconfig(server.url))
    try:
        yield svc, str(kubeconfig)
    finally:
        svc.stop()
        server.stop()


def _clients(kubeconfig: str) -> tuple[Any, Any]:
    import kubernetes

    api = kubernetes.config.new_client_from_config(kubeconfig)
    return kubernetes.client.CoreV1Api(api), kubernetes.client.BatchV1Api(api)


def _prepare_namespace(core: Any) -> None:
    from kubernetes import client

    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=JOB_NAMESPACE)))
    core.create_namespaced_service_account(
        JOB_NAMESPACE, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=SERVICE_ACCOUNT)))
    core.create_namespaced_secret(JOB_NAMESPACE, client.V1Secret(
        metadata=client.V1ObjectMeta(name=ENV_SECRET),
        data={"IONOS_TOKEN": base64.b64encode(b"sandbox-token-123").decode()}))
    # The reconcile job's own Secret (deploy/manifests/secrets.yaml fills it in production): a
    # pod whose envFrom Secret is missing never starts, on a real cluster and in the sandbox.
    core.create_namespaced_secret(JOB_NAMESPACE, client.V1Secret(
        metadata=client.V1ObjectMeta(name=JOB_SECRETS["reconcile_platform"]), data={}))
    core.create_namespaced_config_map(JOB_NAMESPACE, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="dagster-instance"),
        data={"dagster.yaml": "# mounted at DAGSTER_HOME in a real cluster\n"}))


def _launcher_config(kubeconfig: str, dagster_home: Path, marker: Path) -> dict[str, Any]:
    return {
        "module": "dagster_k8s.launcher",
        "class": "K8sRunLauncher",
        "config": {
            "load_incluster_config": False,
            "kubeconfig_file": kubeconfig,
            "job_namespace": JOB_NAMESPACE,
            "service_account_name": SERVICE_ACCOUNT,
            "instance_config_map": "dagster-instance",
            "dagster_home": str(dagster_home),
            "job_image": IMAGE,
            "image_pull_policy": "IfNotPresent",
            "env_vars": ["PLATFORM_EXECUTOR=in_process", f"MARKER_FILE={marker}"],
            "env_secrets": [ENV_SECRET],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                          "limits": {"memory": "128Mi"}},
            "fail_pod_on_run_failure": True,
        },
    }


def _launch(instance: Any, job_file: Path, tags: dict[str, str]) -> Any:
    from dagster._core.definitions.reconstruct import ReconstructableJob

    recon = ReconstructableJob.for_file(str(job_file), "launched_job")
    run = instance.create_run_for_job(job_def=recon.get_definition(),
                                      job_code_origin=recon.get_python_origin(), tags=tags)
    # The launcher ignores the workspace; the run worker loads the job from its code origin.
    instance.launch_run(run.run_id, workspace=None)
    return run


def test_launch_creates_the_job_we_expect_and_the_run_succeeds(
        cluster: tuple[Any, str], tmp_path: Path) -> None:
    import dagster as dg
    from dagster._core.test_utils import instance_for_test

    _svc, kubeconfig = cluster
    core, batch = _clients(kubeconfig)
    _prepare_namespace(core)
    home = tmp_path / "dagster_home"
    home.mkdir()
    marker = tmp_path / "marker.txt"
    job_file = tmp_path / "launched.py"
    job_file.write_text(JOB_MODULE)
    tags = k8s_tags("reconcile_platform")

    with instance_for_test(temp_dir=str(home),
                           overrides={"run_launcher": _launcher_config(kubeconfig, home,
                                                                       marker)}) as instance:
        run = _launch(instance, job_file, tags)
        job_name = f"dagster-run-{run.run_id}"

        job = batch.read_namespaced_job(job_name, JOB_NAMESPACE)
        assert job.metadata.labels["dagster/run-id"] == run.run_id
        assert job.metadata.labels["dagster/job"] == "launched_job"
        assert job.spec.backoff_limit == 0
        expected = K8S_JOB_TAGS["reconcile_platform"][TAG_K8S_CONFIG]
        assert job.spec.active_deadline_seconds == \
            expected["job_spec_config"]["active_deadline_seconds"]
        pod = job.spec.template.spec
        assert pod.service_account_name == SERVICE_ACCOUNT
        assert pod.restart_policy == "Never"
        assert pod.security_context.run_as_non_root is True
        assert pod.security_context.run_as_user == 10001
        (container,) = pod.containers
        assert container.image == IMAGE
        # The entry point is the image's ``dagster`` (the Dockerfile puts the venv on PATH).
        assert container.args[:3] == ["dagster", "api", "execute_run"]
        assert container.command is None
        env = {e.name: e.value for e in container.env}
        assert env["DAGSTER_HOME"] == str(home)
        assert env["PLATFORM_EXECUTOR"] == "in_process"
        assert env["DAGSTER_RUN_JOB_NAME"] == "launched_job"
        # The launcher's env Secret plus the one Secret this job uses, from its
        # dagster-k8s/config tag (names.JOB_SECRETS: each job's pods get only theirs).
        assert {ref.secret_ref.name for ref in container.env_from if ref.secret_ref} == \
            {ENV_SECRET, JOB_SECRETS["reconcile_platform"]}
        assert "IONOS_TOKEN" not in env  # the secret's value never enters the Job spec
        # The job's dagster-k8s/config tag wins over the launcher's defaults.
        res = expected["container_config"]["resources"]
        assert container.resources.requests == res["requests"]
        assert container.resources.limits == res["limits"]
        # The run worker finds the instance (storage, launcher) through the ref in its args.
        assert "InstanceRef" in container.args[3]

        # The sandbox's Job controller runs the container's args locally against the same
        # on-disk instance: the distributed path end to end.
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline:
            status = instance.get_run_by_id(run.run_id).status
            if status.value in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(0.5)
        logs = ""
        pods = core.list_namespaced_pod(JOB_NAMESPACE, label_selector=f"job-name={job_name}")
        if pods.items:
            logs = core.read_namespaced_pod_log(pods.items[0].metadata.name, JOB_NAMESPACE)
        assert status == dg.DagsterRunStatus.SUCCESS, f"run ended {status}; pod log:\n{logs}"
        assert marker.read_text().startswith("token=sandbox-token-123 pod=dagster-run-")

        # The Job reports success too, and the launcher's health check reads it back.
        for _ in range(100):
            job = batch.read_namespaced_job_status(job_name, JOB_NAMESPACE)
            if job.status.succeeded:
                break
            time.sleep(0.1)
        assert job.status.succeeded == 1
        health = instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run.run_id))
        assert health.status.value == "SUCCESS", health.msg


def test_a_failing_run_fails_its_job(cluster: tuple[Any, str], tmp_path: Path) -> None:
    import dagster as dg
    from dagster._core.test_utils import instance_for_test
    from kubernetes import client

    _svc, kubeconfig = cluster
    core, batch = _clients(kubeconfig)
    _prepare_namespace(core)
    home = tmp_path / "dagster_home"
    home.mkdir()
    job_file = tmp_path / "launched.py"
    # No IONOS_TOKEN in the Secret: the first op fails, so must the run and its Job.
    job_file.write_text(JOB_MODULE)
    # The Secret stays (the kubelet would not start a container whose envFrom Secret is
    # missing: CreateContainerConfigError), without the token.
    core.replace_namespaced_secret(ENV_SECRET, JOB_NAMESPACE, client.V1Secret(
        metadata=client.V1ObjectMeta(name=ENV_SECRET), data={}))
    with instance_for_test(temp_dir=str(home), overrides={
            "run_launcher": _launcher_config(kubeconfig, home, tmp_path / "m")}) as instance:
        run = _launch(instance, job_file, {})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = instance.get_run_by_id(run.run_id).status
            if status.value in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(0.5)
        assert status == dg.DagsterRunStatus.FAILURE
        for _ in range(100):
            job = batch.read_namespaced_job_status(f"dagster-run-{run.run_id}", JOB_NAMESPACE)
            if job.status.failed:
                break
            time.sleep(0.1)
        assert job.status.failed == 1
        assert not (tmp_path / "m").exists()
