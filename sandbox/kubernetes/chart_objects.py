"""The objects a chart's templates would create that the sandbox's controllers act on, for the
charts whose controllers it emulates (``flux.py`` renders no chart otherwise).

Velero (vmware-tanzu/helm-charts ``charts/velero/templates``): ``deployment.yaml`` (the server
Deployment ``<fullname>``, labels ``app.kubernetes.io/name: velero`` and ``instance``, the
``cloud-credentials`` volume of the ``velero.secretName`` Secret mounted at ``/credentials``
with ``AWS_SHARED_CREDENTIALS_FILE=/credentials/cloud`` when ``credentials.useSecret``),
``secret.yaml`` (``credentials.secretContents`` unless ``existingSecret``) and
``backupstoragelocation.yaml`` (one per ``configuration.backupStorageLocation`` entry when
``backupsEnabled``); ``_helpers.tpl`` (fullname: the release name when it contains ``velero``,
else ``<release>-velero``; the Secret: ``existingSecret``, else ``credentials.name``, else the
fullname).

Longhorn (longhorn/longhorn ``chart/templates`` of chart 1.7.2): ``daemonset-sa.yaml`` (the
DaemonSet ``longhorn-manager``, label ``app: longhorn-manager``, image
``longhornio/longhorn-manager:<image.longhorn.manager.tag>``, command ``longhorn-manager -d
daemon``), ``deployment-driver.yaml`` (``longhorn-driver-deployer``, one replica),
``deployment-ui.yaml`` (``longhorn-ui``, ``longhornUI.replicas`` default 2) and
``storageclass.yaml`` (the StorageClass ``longhorn`` of provisioner ``driver.longhorn.io``,
``persistence.defaultClass`` as its default-class annotation, ``defaultClassReplicaCount``,
``reclaimPolicy``, ``defaultFsType``, ``defaultDataLocality``; the chart ships it in the
ConfigMap ``longhorn-storageclass`` and the manager applies it at start, here it appears at
once). The ``default`` BackupTarget is the manager's too (longhorn-manager
``controller/setting_controller.go``: from the ``backup-target``,
``backup-target-credential-secret`` and ``backupstore-poll-interval`` settings, which the chart's
``default-setting.yaml`` takes from ``defaultSettings``; 1.8 moved them to
``defaultBackupStore``). CRDs come from the catalogue; services, RBAC, webhooks and the CSI
plugin's own DaemonSet are not created.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from sandbox.kubernetes.chart_volumes import _get

LONGHORN_CSI = "driver.longhorn.io"


def _flag(values: dict[str, Any], default: bool, *path: str) -> bool:
    value = _get(values, *path)
    return default if value is None else bool(value)


def velero(release: str, namespace: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    full = release if "velero" in release else f"{release}-velero"
    labels = {"app.kubernetes.io/name": "velero", "app.kubernetes.io/instance": release}
    use_secret = _flag(values, True, "credentials", "useSecret")
    secret = _get(values, "credentials", "existingSecret") or _get(
        values, "credentials", "name") or full
    image = _get(values, "image") or {}
    container: dict[str, Any] = {
        "name": "velero", "image": f"{image.get('repository') or 'velero/velero'}:"
                                   f"{image.get('tag') or 'v1.16.1'}",
        "command": ["/velero"], "args": ["server"],
        "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}}}
    pod: dict[str, Any] = {"containers": [container]}
    out: list[dict[str, Any]] = []
    if use_secret:
        container["env"] = [{"name": "AWS_SHARED_CREDENTIALS_FILE",
                             "value": "/credentials/cloud"}]
        container["volumeMounts"] = [{"name": "cloud-credentials", "mountPath": "/credentials"}]
        pod["volumes"] = [{"name": "cloud-credentials", "secret": {"secretName": secret}}]
        contents = _get(values, "credentials", "secretContents") or {}
        if not _get(values, "credentials", "existingSecret") and isinstance(contents, dict):
            out.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                        "metadata": {"name": secret, "namespace": namespace, "labels": labels},
                        "data": {str(k): base64.b64encode(str(v).encode()).decode()
                                 for k, v in contents.items()}})
    out.append({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": full, "namespace": namespace, "labels": labels},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": pod}}})
    locations = _get(values, "configuration", "backupStorageLocation")
    if _flag(values, True, "backupsEnabled") and isinstance(locations, list):
        out += [_location(loc, namespace, labels) for loc in locations if isinstance(loc, dict)]
    return out


def _location(loc: dict[str, Any], namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    storage = {"bucket": str(loc.get("bucket") or "")}
    if loc.get("prefix"):
        storage["prefix"] = str(loc["prefix"])
    spec: dict[str, Any] = {"provider": loc.get("provider"),
                            "accessMode": loc.get("accessMode") or "ReadWrite",
                            "objectStorage": storage}
    if loc.get("default"):
        spec["default"] = True
    if isinstance(loc.get("config"), dict):
        spec["config"] = {str(k): str(v).lower() if isinstance(v, bool) else str(v)
                          for k, v in loc["config"].items()}
    if isinstance(loc.get("credential"), dict) and loc["credential"]:
        spec["credential"] = dict(loc["credential"])
    return {"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": loc.get("name") or "default", "namespace": namespace,
                         "labels": labels},
            "spec": spec}


def longhorn(release: str, namespace: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Longhorn's manager DaemonSet, driver deployer and UI, the StorageClass and the default
    BackupTarget the manager creates from the chart's settings."""
    tag = str(_get(values, "image", "longhorn", "manager", "tag") or "v1.7.2")
    labels = {"app.kubernetes.io/name": "longhorn", "app.kubernetes.io/instance": release}
    out = [_longhorn_workload("DaemonSet", "longhorn-manager", namespace, labels, None,
                              f"longhornio/longhorn-manager:{tag}",
                              ["longhorn-manager", "-d", "daemon"]),
           _longhorn_workload("Deployment", "longhorn-driver-deployer", namespace, labels, 1,
                              f"longhornio/longhorn-manager:{tag}",
                              ["longhorn-manager", "-d", "deploy-driver"]),
           _longhorn_workload("Deployment", "longhorn-ui", namespace, labels,
                              int(_get(values, "longhornUI", "replicas") or 2),
                              f"longhornio/longhorn-ui:{tag}", None),
           _longhorn_storage_class(values)]
    store = _get(values, "defaultBackupStore") or _get(values, "defaultSettings") or {}
    if isinstance(store, dict) and store.get("backupTarget"):
        poll = str(store.get("backupstorePollInterval") or 300)
        out.append({"apiVersion": "longhorn.io/v1beta2", "kind": "BackupTarget",
                    "metadata": {"name": "default", "namespace": namespace},
                    "spec": {"backupTargetURL": str(store["backupTarget"]),
                             "credentialSecret": str(
                                 store.get("backupTargetCredentialSecret") or ""),
                             "pollInterval": f"{poll}s"}})
    return out


def _longhorn_workload(kind: str, name: str, namespace: str, labels: dict[str, str],
                       replicas: int | None, image: str,
                       command: list[str] | None) -> dict[str, Any]:
    selector = {"app": name}
    container: dict[str, Any] = {"name": name, "image": image,
                                 "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}
    if command:
        container["command"] = command
    spec: dict[str, Any] = {"selector": {"matchLabels": selector},
                            "template": {"metadata": {"labels": selector},
                                         "spec": {"containers": [container]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "labels": {**labels, **selector}},
            "spec": spec}


def _longhorn_storage_class(values: dict[str, Any]) -> dict[str, Any]:
    params = {"numberOfReplicas": str(_get(values, "persistence", "defaultClassReplicaCount")
                                      or 3),
              "staleReplicaTimeout": "30", "fromBackup": "",
              "fsType": str(_get(values, "persistence", "defaultFsType") or "ext4"),
              "dataLocality": str(_get(values, "persistence", "defaultDataLocality")
                                  or "disabled")}
    default = _flag(values, True, "persistence", "defaultClass")
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "longhorn", "annotations": {
                "storageclass.kubernetes.io/is-default-class": str(default).lower()}},
            "provisioner": LONGHORN_CSI, "allowVolumeExpansion": True,
            "reclaimPolicy": str(_get(values, "persistence", "reclaimPolicy") or "Delete"),
            "volumeBindingMode": "Immediate", "parameters": params}


CHART_OBJECTS: dict[str, Callable[[str, str, dict[str, Any]], list[dict[str, Any]]]] = {
    "velero": velero,
    "longhorn": longhorn,
}


def objects(chart: str, release: str, namespace: str,
            values: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects a release of ``chart`` creates that the sandbox acts on (none for others)."""
    make = CHART_OBJECTS.get(chart)
    return make(release, namespace, values) if make else []
