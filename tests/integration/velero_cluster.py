"""Velero installed on a sandbox as its Helm chart would install it: the chart's CRDs, the server
Deployment mounting its ``cloud-credentials`` Secret, and the default BackupStorageLocation on a
bucket of the sandbox's S3 (vmware-tanzu/helm-charts ``charts/velero``: ``templates/
deployment.yaml``, ``secret.yaml``, ``backupstoragelocation.yaml``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from resources.kubernetes import KubernetesResource
from resources.object_storage import ObjectStorageResource

CHART_VERSION = "8.1.0"


def sandbox_with_nodes(pool: str = "velero-pool", run_jobs: bool = False) -> Iterator[Any]:
    """A sandbox of its own with two nodes, so the Velero server's pod runs (a module fixture:
    the shared session sandbox keeps no extra nodes); ``run_jobs``: Jobs run as processes."""
    from sandbox.app import start_sandbox

    started = start_sandbox(timeout=120.0, run_jobs=run_jobs)
    try:
        started.admin.add_nodes(pool, 2)
        yield started
    finally:
        started.stop()


def clients(app: Any, bucket: str) -> tuple[KubernetesResource, ObjectStorageResource]:
    """A Kubernetes client of the sandbox and its S3, with ``bucket`` created in region de."""
    kube = KubernetesResource(kubeconfig_path=app.env["KUBECONFIG"], retry_attempts=2,
                              retry_max_wait_seconds=0.2)
    store = ObjectStorageResource(access_key_id=app.env["AWS_ACCESS_KEY_ID"],
                                  secret_access_key=app.env["AWS_SECRET_ACCESS_KEY"],
                                  endpoint_url=app.env["AWS_ENDPOINT_URL_S3"],
                                  default_region="de")
    store.client("de").create_bucket(Bucket=bucket,
                                     CreateBucketConfiguration={"LocationConstraint": "de"})
    return kube, store


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def install_velero(app: Any, kube: KubernetesResource, namespace: str, bucket: str,
                   prefix: str = "velero", region: str = "de", cluster: str | None = None,
                   store: tuple[str, str, str] | None = None) -> None:
    """CRDs, credentials Secret, server Deployment and BSL ``default`` in ``namespace``: on the
    IONOS S3, or with ``store`` (endpoint, key id, secret key) on that S3 store; in the
    existing cluster ``cluster`` when given."""
    env = app.env
    url, key_id, key = store or (env["AWS_ENDPOINT_URL_S3"], env["AWS_ACCESS_KEY_ID"],
                                 env["AWS_SECRET_ACCESS_KEY"])
    app.admin.install_chart("velero", CHART_VERSION, {"upgradeCRDs": True}, cluster=cluster)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    cloud = f"[default]\naws_access_key_id={key_id}\naws_secret_access_key={key}\n"
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "velero", "namespace": namespace}, "stringData": {"cloud": cloud}})
    wait_for(lambda: kube.serves("velero.io/v1", "Backup") is None,
             "the velero.io kinds to be served")
    kube.apply(location("default", namespace, bucket, url, prefix, region, default=True))
    kube.apply(server(namespace))
    wait_for(lambda: int(((kube.get("apps/v1", "Deployment", "velero", namespace) or {})
                          .get("status") or {}).get("availableReplicas") or 0) > 0,
             "the Velero server to be available")


def location(name: str, namespace: str, bucket: str, url: str, prefix: str = "velero",
             region: str = "de", default: bool = False) -> dict[str, Any]:
    return {"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"provider": "aws", "default": default,
                     "objectStorage": {"bucket": bucket, "prefix": prefix},
                     "config": {"region": region, "s3Url": url, "s3ForcePathStyle": "true"}}}


def server(namespace: str) -> dict[str, Any]:
    """The chart's server Deployment (trimmed to what the emulation reads)."""
    labels = {"app.kubernetes.io/name": "velero", "app.kubernetes.io/instance": "velero",
              "name": "velero"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "velero", "namespace": namespace, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"name": "velero"}},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "containers": [{
                             "name": "velero", "image": "velero/velero:v1.16.1",
                             "command": ["/velero"], "args": ["server"],
                             "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                             "env": [{"name": "AWS_SHARED_CREDENTIALS_FILE",
                                      "value": "/credentials/cloud"}],
                             "volumeMounts": [{"name": "cloud-credentials",
                                               "mountPath": "/credentials"}]}],
                         "volumes": [{"name": "cloud-credentials",
                                      "secret": {"secretName": "velero"}}]}}}}
