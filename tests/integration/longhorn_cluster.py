"""Longhorn installed on a sandbox as its Helm chart would install it: the chart's CRDs, the
manager DaemonSet, the backup target's credential Secret and the ``default`` BackupTarget on a
bucket of the sandbox's S3 (longhorn/charts ``chart/templates/daemonset-sa.yaml``,
``default-setting.yaml``: ``defaultSettings.backupTarget`` and
``backupTargetCredentialSecret``)."""

from __future__ import annotations

from typing import Any

from resources.kubernetes import KubernetesResource
from tests.integration.velero_cluster import wait_for

CHART_VERSION = "1.7.2"


def install_longhorn(app: Any, kube: KubernetesResource, namespace: str, bucket: str,
                     path: str = "longhorn", region: str = "de", cluster: str | None = None,
                     store: tuple[str, str, str] | None = None) -> None:
    """CRDs, credential Secret, manager DaemonSet and BackupTarget ``default``: on the IONOS
    S3, or with ``store`` (endpoint, key id, secret key) on that S3 store; in the existing
    cluster ``cluster`` when given."""
    env = app.env
    url, key_id, key = store or (env["AWS_ENDPOINT_URL_S3"], env["AWS_ACCESS_KEY_ID"],
                                 env["AWS_SECRET_ACCESS_KEY"])
    app.admin.install_chart("longhorn", CHART_VERSION, {}, cluster=cluster)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "longhorn-s3", "namespace": namespace}, "stringData": {
        "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": key, "AWS_ENDPOINTS": url}})
    wait_for(lambda: kube.serves("longhorn.io/v1beta2", "Backup") is None,
             "the longhorn.io kinds to be served")
    kube.apply(target("default", namespace, f"s3://{bucket}@{region}/{path}"))
    kube.apply(manager(namespace))
    wait_for(lambda: int(((kube.get("apps/v1", "DaemonSet", "longhorn-manager", namespace)
                           or {}).get("status") or {}).get("numberAvailable") or 0) > 0,
             "the Longhorn manager to be available")


def target(name: str, namespace: str, url: str, secret: str = "longhorn-s3") -> dict[str, Any]:
    return {"apiVersion": "longhorn.io/v1beta2", "kind": "BackupTarget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"backupTargetURL": url, "credentialSecret": secret,
                     "pollInterval": "300s"}}


def manager(namespace: str) -> dict[str, Any]:
    """The chart's manager DaemonSet (trimmed to what the emulation reads)."""
    labels = {"app": "longhorn-manager"}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "longhorn-manager", "namespace": namespace, "labels": labels},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "containers": [{
                             "name": "longhorn-manager",
                             "image": "longhornio/longhorn-manager:v1.7.2",
                             "command": ["longhorn-manager", "daemon"],
                             "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}]}}}}
