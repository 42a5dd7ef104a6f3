"""Volume data for the sandbox cluster: every PersistentVolume's filesystem is a directory.

The contract it mirrors (Kubernetes docs, "Persistent Volumes" and "Volumes"): a PVC binds to a
PV; a pod that names the claim in ``spec.volumes[].persistentVolumeClaim.claimName`` sees the
PV's filesystem at each container's ``volumeMounts[].mountPath``; a PV with reclaim policy
``Delete`` loses its data when the claim goes. Here the PV's filesystem is
``<volumes dir>/<pv name>/``, created when the PV is provisioned and removed with it.

The sandbox runs a ``run_jobs`` container as a local process and cannot mount: instead, each
``mountPath`` (and anything under it) in the container's command, args and env values is
rewritten to the PV's directory, as if the path were mounted. ``readOnly`` is not enforced.

Node-pressure eviction (Kubernetes docs, "Node-pressure Eviction"): the kubelet stops the pod's
containers and sets ``status.phase: Failed``, ``status.reason: Evicted``, a message naming the
resource and the DisruptionTarget condition (``TerminationByKubelet``, the same message;
pkg/kubelet/eviction/eviction_manager.go); ``evict`` (``controllers.Controllers.evict``) does
that to one pod.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from pathlib import Path
from typing import Any


class VolumeData:
    """The directories behind the cluster's PersistentVolumes."""

    def __init__(self, root: Path | None):
        self.root = root if root is not None else Path(tempfile.mkdtemp(prefix="sandbox-pv-"))
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, pv_name: str) -> Path:
        """The PV's filesystem (created on first use)."""
        if not pv_name or "/" in pv_name or pv_name.startswith("."):
            raise ValueError(f"not a PersistentVolume name: {pv_name!r}")
        path = self.root / pv_name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def remove(self, pv_name: str) -> None:
        """The PV was deleted (reclaim ``Delete``): its data goes too."""
        if pv_name and "/" not in pv_name and not pv_name.startswith("."):
            shutil.rmtree(self.root / pv_name, ignore_errors=True)

    def reset(self) -> None:
        """Forget every volume's data (the cluster is reset)."""
        for child in self.root.iterdir():
            shutil.rmtree(child, ignore_errors=True)


def mounts(pod: dict[str, Any], container: dict[str, Any],
           pv_of_claim: Any, data: VolumeData) -> list[tuple[str, str]]:
    """(mountPath, host directory) of each PVC the container mounts, longest path first."""
    claims = {v.get("name"): (v.get("persistentVolumeClaim") or {}).get("claimName")
              for v in (pod.get("spec") or {}).get("volumes") or []}
    out = []
    for m in container.get("volumeMounts") or []:
        claim = claims.get(m.get("name"))
        pv = pv_of_claim(claim) if claim else None
        if pv and m.get("mountPath"):
            out.append((str(m["mountPath"]).rstrip("/") or "/", str(data.path(pv))))
    return sorted(out, key=lambda p: -len(p[0]))


def rewrite(value: str, table: list[tuple[str, str]]) -> str:
    """``value`` with a leading mount path replaced by its directory."""
    for mount, host in table:
        if value == mount or value.startswith(mount + "/"):
            return host + value[len(mount):]
    return value


def write_files(data: VolumeData, pv_name: str, files: dict[str, str]) -> int:
    """Write ``files`` (relative path → base64 content) into a PV, as the application would."""
    root = data.path(pv_name).resolve()
    for rel, content in files.items():
        target = (root / rel).resolve()
        if not str(target).startswith(str(root) + "/"):
            raise ValueError(f"path {rel!r} leaves the volume")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(content))
    return len(files)
