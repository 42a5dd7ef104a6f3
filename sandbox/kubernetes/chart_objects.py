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
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from sandbox.kubernetes.chart_volumes import _get


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


CHART_OBJECTS: dict[str, Callable[[str, str, dict[str, Any]], list[dict[str, Any]]]] = {
    "velero": velero,
}


def objects(chart: str, release: str, namespace: str,
            values: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects a release of ``chart`` creates that the sandbox acts on (none for others)."""
    make = CHART_OBJECTS.get(chart)
    return make(release, namespace, values) if make else []
