"""Simulated controllers, so the emulator behaves like a cluster: workloads become available,
PVCs bind to IONOS-backed volumes, Jobs run Pods, cert-manager issues real certificates from a
sandbox CA, snapshots become ready, Flux objects reconcile, Argo CD Applications sync,
external secrets sync.

Each controller reconciles an object once it has been unchanged for ``delay`` seconds; they run on
one background thread and write like controllers do (status writes under their own manager name,
skipped when the object changed meanwhile).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes import storage
from sandbox.kubernetes.api import ApiError, now_rfc3339, random_suffix
from sandbox.kubernetes.chart_objects import LONGHORN_CSI
from sandbox.kubernetes.disruption import DisruptionController
from sandbox.kubernetes.gc import GarbageCollector
from sandbox.kubernetes.job_controller import JobController
from sandbox.kubernetes.jobs import TRACKING_FINALIZER
from sandbox.kubernetes.nodelifecycle import NodeLifecycle
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.protection import StorageProtection
from sandbox.kubernetes.registry import ResourceType
from sandbox.kubernetes.resize import VolumeResizer
from sandbox.kubernetes.volumes import mounts, rewrite
from sandbox.kubernetes.workloads import Workloads

if TYPE_CHECKING:
    from sandbox.kubernetes.service import KubernetesService

CSI_DRIVER = storage.IONOS_PROVISIONER
EXIT_CODE_ANNOTATION = "sandbox.platform-ops/exit-code"
NAMESPACE_GRACE = 0.5
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_QUANTITY_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGTPE]i?|[kmgtpe]|)$")
_FACTORS = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
            "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
            "Ei": 2**60, "m": 10**-3}


def parse_duration(text: str) -> float:
    """Go duration (``2160h``, ``720h0m0s``, ``90m``) in seconds; ValueError when malformed."""
    text = str(text).strip()
    if not text or _DURATION_RE.sub("", text):
        raise ValueError(f"invalid duration {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in _DURATION_RE.findall(text))


def parse_quantity(text: str) -> int:
    """A Kubernetes quantity (``10Gi``, ``500M``) in bytes; ValueError when malformed."""
    m = _QUANTITY_RE.match(str(text).strip())
    if not m:
        raise ValueError(f"invalid quantity {text!r}")
    return int(float(m.group(1)) * _FACTORS[m.group(2)])


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(conditions: list[dict[str, Any]], ctype: str, status: str, reason: str,
                  message: str, generation: int | None = None, **extra: Any) -> None:
    """Upsert a condition keyed by type; lastTransitionTime changes only when status flips."""
    old = next((c for c in conditions if c.get("type") == ctype), None)
    cond: dict[str, Any] = {"type": ctype, "status": status, "reason": reason,
                            "message": message, **extra}
    if generation is not None:
        cond["observedGeneration"] = generation
    if old is not None and old.get("status") == status:
        cond["lastTransitionTime"] = old.get("lastTransitionTime") or now_rfc3339()
        conditions[conditions.index(old)] = cond
    else:
        cond["lastTransitionTime"] = now_rfc3339()
        if old is not None:
            conditions[conditions.index(old)] = cond
        else:
            conditions.append(cond)


def get_condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


class SandboxCA:
    """A CA generated once per service that signs the certificates cert-manager issues."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "platform-ops sandbox CA")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            # Key identifiers: a bundle that trusts the CAs of several runs (same subject) still
            # lets OpenSSL pick the right issuer.
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str | None, dns_names: list[str], not_before: dt.datetime,
              not_after: dt.datetime, algorithm: str = "RSA") -> tuple[bytes, bytes]:
        """(certificate PEM, private key PEM) for the names, signed by this CA."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key: Any
        if algorithm.upper() == "ECDSA":
            key = ec.generate_private_key(ec.SECP256R1())
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name(attrs))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
        )
        if dns_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(d) for d in dns_names]),
                critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


class Controllers:
    def __init__(self, svc: KubernetesService, delay: float = 0.0, run_jobs: bool = False):
        self.svc = svc
        self.api = svc.api
        self.store = svc.store
        self.delay = delay
        self.run_jobs = run_jobs
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sandbox-k8s-controllers",
                                        daemon=True)
        self._ca: SandboxCA | None = None
        self._procs: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self._exits: dict[tuple[str, str], int] = {}
        self._pv_failures: dict[str, float] = {}
        self._stopping: set[tuple[str, str]] = set()  # pods whose process was sent SIGTERM
        self.errors: dict[str, str] = {}  # last failure of each controller, for debugging
        self._listener = lambda ev: self._kick.set()
        self.workloads = Workloads(self)
        self.disruption = DisruptionController(self.workloads)
        self.jobs = JobController(self)
        self.gc = GarbageCollector(svc.api)
        self.node_lifecycle = NodeLifecycle(svc.api)
        self.protection = StorageProtection(svc.api)
        self.resizer = VolumeResizer(self)
        from sandbox.kubernetes.velero import Velero

        self.velero = Velero(self)
        from sandbox.kubernetes.longhorn import Longhorn

        self.longhorn = Longhorn(self)

    @property
    def ca(self) -> SandboxCA:
        if self._ca is None:
            self._ca = SandboxCA()
        return self._ca

    def start(self) -> None:
        self._announce_existing()
        self.store.listeners.append(self._listener)
        self.api.on_removed.append(self._on_removed)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        self._thread.join(timeout=5)
        if self._listener in self.store.listeners:
            self.store.listeners.remove(self._listener)
        if self._on_removed in self.api.on_removed:
            self.api.on_removed.remove(self._on_removed)
        self.forget_processes()

    def forget_processes(self) -> None:
        """Stop the local processes of ``run_jobs`` pods (the state is being reset)."""
        for proc in list(self._procs.values()):
            if proc.poll() is None:
                proc.terminate()
        self._procs.clear()
        self._exits.clear()
        self.velero.reset()
        self.longhorn.reset()

    def _loop(self) -> None:
        tick = 0.25 if self.delay <= 0 else min(0.25, max(self.delay / 2, 0.02))
        while not self._stop.is_set():
            self._kick.wait(tick)
            self._kick.clear()
            if self._stop.is_set():
                return
            self.reconcile_once()
            try:
                self.svc.save_if_dirty()
            except OSError:
                pass

    def _rt(self, group: str, plural: str) -> ResourceType | None:
        return self.api.registry.by_gk(group, plural)

    def _due(self, rt: ResourceType, obj: dict[str, Any]) -> bool:
        if self.delay <= 0:
            return True
        meta = obj["metadata"]
        touched = self.store.touched.get((rt.gk, (meta.get("namespace") or "", meta["name"])), 0)
        return time.monotonic() - touched >= self.delay

    def _each(self, group: str, plural: str) -> list[tuple[ResourceType, dict[str, Any]]]:
        rt = self._rt(group, plural)
        if rt is None:
            return []
        return [(rt, o) for o in self.store.select(rt.gk)
                if not o["metadata"].get("deletionTimestamp") and self._due(rt, o)]

    def _status(self, rt: ResourceType, obj: dict[str, Any], status: dict[str, Any],
                manager: str) -> dict[str, Any] | None:
        if (obj.get("status") or {}) == status:
            return obj
        return self.api.write_status(rt, obj, status, manager)

    def reconcile_once(self) -> None:
        steps = (self.gc.reconcile, self.node_lifecycle.reconcile, self.protection.reconcile,
                 self._namespaces,
                 self._released_volumes, self._pvcs, self.resizer.reconcile,
                 self.workloads.reconcile,
                 self.disruption.reconcile, self.jobs.reconcile,
                 self._pods, self._terminating_pods, self._pod_gc, self._issuers,
                 self._certificates,
                 self._snapshots, self._flux, self._argocd, self._secret_stores,
                 self._external_secrets, self.velero.reconcile, self.longhorn.reconcile)
        for step in steps:
            try:
                step()
            except ApiError:
                continue
            except Exception as exc:  # noqa: BLE001 - one controller's bug must not stop others
                self.errors[step.__name__] = repr(exc)

    def _on_removed(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """A removed volume's files go; a removed pod's local process stops."""
        if rt.gk == ("", "persistentvolumes"):
            self.svc.volume_data.remove(obj["metadata"]["name"])
        if rt.gk == ("", "pods"):
            proc = self._procs.get((obj["metadata"]["namespace"], obj["metadata"]["name"]))
            if proc is not None and proc.poll() is None:
                proc.terminate()

    def _namespaces(self) -> None:
        rt = self._rt("", "namespaces")
        if rt is None:
            return
        for ns in self.store.select(rt.gk):
            if (ns.get("status") or {}).get("phase") != "Terminating":
                continue
            # Like the real namespace controller, leave clients a moment to delete the contents
            # themselves (``kubectl delete -f`` with the namespace first).
            touched = self.store.touched.get((rt.gk, ("", ns["metadata"]["name"])), 0)
            if time.monotonic() - touched >= max(self.delay, NAMESPACE_GRACE):
                self.api.finish_namespace(ns)

    def _released_volumes(self) -> None:
        """pv_controller syncVolume: a volume whose claim (by uid) is gone is Released; one
        with reclaim Delete is then deleted by its provisioner (deleteVolumeOperation), and
        goes once pv-protection sees it is no longer Bound."""
        rt = self._rt("", "persistentvolumes")
        assert rt is not None
        # Volumes being deleted too: pv-protection waits for this controller to release them.
        for pv in self.store.select(rt.gk):
            if not self._due(rt, pv):
                continue
            spec = pv.get("spec") or {}
            ref = spec.get("claimRef") or {}
            if not ref.get("uid"):
                continue  # unbound, or pre-bound to a claim not created yet
            claim = self.store.get(("", "persistentvolumeclaims"), ref.get("namespace") or "",
                                   ref.get("name") or "")
            if claim is not None and claim["metadata"]["uid"] == ref["uid"]:
                continue
            if (pv.get("status") or {}).get("phase") != "Released":
                pv = self.api.write_status(rt, pv, {"phase": "Released"},
                                           "persistentvolume-controller") or pv
            if spec.get("persistentVolumeReclaimPolicy") == "Delete" and \
                    not pv["metadata"].get("deletionTimestamp"):
                self.api.delete(rt, "", pv["metadata"]["name"], {})

    def _pvcs(self) -> None:
        pvrt = self._rt("", "persistentvolumes")
        assert pvrt is not None
        classes = {c["metadata"]["name"]: c for c in self.store.select(storage.CLASSES_GK)}
        pods = self.store.select(("", "pods"))
        for rt, pvc in self._each("", "persistentvolumeclaims"):
            if (pvc.get("status") or {}).get("phase") == "Bound":
                continue
            spec = pvc.get("spec") or {}
            size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
            try:
                size_bytes = parse_quantity(size)
            except ValueError:
                continue
            decision = storage.decide(pvc, size_bytes, classes, self.store.select(pvrt.gk),
                                      pods)
            if isinstance(decision, storage.Wait):
                self._claim_pending(rt, pvc, decision.event)
            elif isinstance(decision, storage.AssignClass):
                new = clone(pvc)
                new["spec"]["storageClassName"] = decision.name
                self.api.write_object(rt, pvc, new, "persistentvolume-controller")
            elif isinstance(decision, storage.BindTo):
                self._bind_claim(rt, pvc, decision.pv)
            else:
                pvc = self._hand_to_provisioner(rt, pvc, decision.provisioner)
                if decision.provisioner in (CSI_DRIVER, LONGHORN_CSI,
                                            storage.LOCAL_PATH_PROVISIONER):
                    self._provision(rt, pvc, size, size_bytes, decision.provisioner)
                else:  # no such driver runs in the sandbox: the claim waits for it
                    self._claim_pending(rt, pvc, None)

    def _hand_to_provisioner(self, rt: ResourceType, pvc: dict[str, Any],
                             provisioner: str) -> dict[str, Any]:
        """pv_controller provisionClaimOperationExternal: every class's provisioner here is a
        CSI driver's external-provisioner, which acts only on claims naming it, so the PV
        controller names it first (setClaimProvisioner: ``volume.kubernetes.io/storage-
        provisioner`` and the deprecated ``volume.beta.kubernetes.io/storage-provisioner``,
        written once) and records a Normal ``ExternalProvisioning`` event on each pass."""
        annotations = (pvc["metadata"].get("annotations") or {})
        if annotations.get(storage.STORAGE_PROVISIONER) != provisioner:
            new = clone(pvc)
            names = new["metadata"].setdefault("annotations", {})
            for key in (storage.STORAGE_PROVISIONER, storage.BETA_STORAGE_PROVISIONER):
                names[key] = provisioner
            pvc = self.api.write_object(rt, pvc, new, "persistentvolume-controller")
        self.workloads.event(pvc, "Normal", "ExternalProvisioning", (
            "Waiting for a volume to be created either by the external provisioner "
            f"'{provisioner}' or manually by the system administrator. If volume creation is "
            "delayed, please verify that the provisioner is running and correctly registered."),
            "persistentvolume-controller")
        return pvc

    def _claim_pending(self, rt: ResourceType, pvc: dict[str, Any],
                       event: tuple[str, str, str] | None) -> None:
        """Leave the claim Pending (status written once) with the controller's event."""
        if event is not None:
            self.workloads.event(pvc, *event, "persistentvolume-controller")
        if (pvc.get("status") or {}).get("phase") != "Pending":
            self.api.write_status(rt, pvc, {"phase": "Pending"}, "persistentvolume-controller")

    def _provision(self, rt: ResourceType, pvc: dict[str, Any], size: str, size_bytes: int,
                   driver: str) -> None:
        """The CSI driver's external-provisioner: create the PV (IONOS or Longhorn), bind."""
        pvrt = self._rt("", "persistentvolumes")
        assert pvrt is not None
        pv_name = f"pvc-{pvc['metadata']['uid']}"
        if self._pv_failures.get(pv_name, 0) > time.monotonic():
            return
        if driver == LONGHORN_CSI and not self.longhorn.provision(pv_name, size_bytes):
            return  # no Longhorn manager runs: the claim stays Pending
        self.svc.volume_data.path(pv_name)
        hook = self.svc.world.provision_volume if driver == CSI_DRIVER else None
        try:
            handle = hook(pv_name, max(1, -(-size_bytes // 2**30))) if hook else (
                pv_name if driver != CSI_DRIVER else str(uuid.uuid4()))
        except Exception:  # noqa: BLE001 - the IONOS side failed: retry later
            self._pv_failures[pv_name] = time.monotonic() + 2.0
            return
        pv = self.api.write_object(pvrt, None, _provisioned_pv(pvc, pv_name, size, driver,
                                                               handle),
                                   "persistentvolume-controller")
        self.api.write_status(pvrt, pv, {"phase": "Bound"}, "persistentvolume-controller")
        self._bind_claim(rt, pvc, pv_name)

    def _bind_claim(self, rt: ResourceType, pvc: dict[str, Any], pv_name: str) -> None:
        """pv_controller bind(): the PV's claimRef and phase, the claim's volumeName,
        annotations (the storage-provisioner ones were written before provisioning,
        ``_hand_to_provisioner``) and status (the PV's capacity)."""
        pvrt = self._rt("", "persistentvolumes")
        assert pvrt is not None
        meta, spec = pvc["metadata"], pvc.get("spec") or {}
        pv = self.store.get(pvrt.gk, "", pv_name)
        if pv is None:
            return
        self.svc.volume_data.path(pv_name)
        ref = {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
               "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}
        # bindVolumeToClaim: a volume pre-bound by name gets the claim's uid too (the PV
        # controller then tells a removed claim from a new one of the same name).
        if ((pv.get("spec") or {}).get("claimRef") or {}).get("uid") != meta["uid"]:
            new_pv = clone(pv)
            new_pv.setdefault("spec", {})["claimRef"] = ref
            pv = self.api.write_object(pvrt, pv, new_pv, "persistentvolume-controller")
        if (pv.get("status") or {}).get("phase") != "Bound":
            self.api.write_status(pvrt, pv, {"phase": "Bound"}, "persistentvolume-controller")
        if spec.get("volumeName") != pv_name or \
                "pv.kubernetes.io/bind-completed" not in (meta.get("annotations") or {}):
            new = clone(pvc)
            new["spec"]["volumeName"] = pv_name
            annotations = new["metadata"].setdefault("annotations", {})
            annotations["pv.kubernetes.io/bind-completed"] = "yes"
            if spec.get("volumeName") != pv_name:
                annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
            pvc = self.api.write_object(rt, pvc, new, "persistentvolume-controller")
        capacity = ((pv.get("spec") or {}).get("capacity") or {}).get("storage") or \
            ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        self.api.write_status(rt, pvc, {
            "phase": "Bound", "accessModes": (pv.get("spec") or {}).get("accessModes")
            or spec.get("accessModes") or ["ReadWriteOnce"],
            "capacity": {"storage": capacity}}, "persistentvolume-controller")

    def _snapshots(self) -> None:
        crt = self._rt("snapshot.storage.k8s.io", "volumesnapshotcontents")
        if crt is None:
            return
        for rt, vs in self._each("snapshot.storage.k8s.io", "volumesnapshots"):
            status = vs.get("status") or {}
            if status.get("readyToUse"):
                continue
            meta, spec = vs["metadata"], vs.get("spec") or {}
            claim = (spec.get("source") or {}).get("persistentVolumeClaimName")
            pvc = self.store.get(("", "persistentvolumeclaims"), meta["namespace"], claim or "")
            pv_name = ((pvc or {}).get("spec") or {}).get("volumeName")
            pv = self.store.get(("", "persistentvolumes"), "", pv_name) if pv_name else None
            if pv is None:
                why = (f'failed to get input parameters to create snapshot {meta["name"]}: '
                       f'"the PVC {claim} is not yet bound to a PV, will not attempt to take a '
                       'snapshot"') if pvc else f'persistentvolumeclaim "{claim}" not found'
                err = {"readyToUse": False, "error": {"message": why, "time": now_rfc3339()}}
                if (status.get("error") or {}).get("message") != why:
                    self._status(rt, vs, err, "snapshot-controller")
                continue
            class_name = spec.get("volumeSnapshotClassName") or ""
            vclass = self.store.get(("snapshot.storage.k8s.io", "volumesnapshotclasses"), "",
                                    class_name) or {}
            size = ((pvc or {}).get("status") or {}).get("capacity", {}).get("storage", "1Gi")
            content_name = f"snapcontent-{meta['uid']}"
            content = self.store.get(crt.gk, "", content_name)
            created = dt.datetime.now(dt.UTC)
            if content is None:
                content = self.api.write_object(crt, None, {
                    "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
                    "metadata": {"name": content_name},
                    "spec": {"deletionPolicy": vclass.get("deletionPolicy", "Delete"),
                             "driver": CSI_DRIVER,
                             "source": {"volumeHandle": pv["spec"]["csi"]["volumeHandle"]},
                             "volumeSnapshotClassName": class_name,
                             "volumeSnapshotRef": {
                                 "apiVersion": "snapshot.storage.k8s.io/v1",
                                 "kind": "VolumeSnapshot", "name": meta["name"],
                                 "namespace": meta["namespace"], "uid": meta["uid"]}},
                }, "snapshot-controller")
                self.api.write_status(crt, content, {
                    "creationTime": int(created.timestamp() * 1e9), "readyToUse": True,
                    "restoreSize": parse_quantity(size), "driver": CSI_DRIVER,
                    "snapshotHandle": str(uuid.uuid4())}, "csi-snapshotter")
            self._status(rt, vs, {"boundVolumeSnapshotContentName": content_name,
                                  "creationTime": rfc3339(created), "readyToUse": True,
                                  "restoreSize": size}, "snapshot-controller")

    def _create_job_pod(self, prt: ResourceType, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        template = clone((job.get("spec") or {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        labels = {**(tmeta.get("labels") or {}), "job-name": meta["name"],
                  "batch.kubernetes.io/job-name": meta["name"], "controller-uid": meta["uid"],
                  "batch.kubernetes.io/controller-uid": meta["uid"]}
        annotations = dict(tmeta.get("annotations") or {})
        if EXIT_CODE_ANNOTATION in (meta.get("annotations") or {}):
            annotations[EXIT_CODE_ANNOTATION] = meta["annotations"][EXIT_CODE_ANNOTATION]
        pod_meta: dict[str, Any] = {
            "name": f"{meta['name']}-{random_suffix()}", "namespace": meta["namespace"],
            "labels": labels, "finalizers": [TRACKING_FINALIZER],
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                 "uid": meta["uid"], "controller": True,
                                 "blockOwnerDeletion": True}]}
        if annotations:
            pod_meta["annotations"] = annotations
        spec = template.get("spec") or {}
        spec.setdefault("restartPolicy", "Never")
        self.api.write_object(prt, None, {"apiVersion": "v1", "kind": "Pod",
                                          "metadata": pod_meta, "spec": spec}, "job-controller")

    def start_pod(self, rt: ResourceType, pod: dict[str, Any],
                  problem: tuple[str, str] | None) -> None:
        """The kubelet on a bound pod: its containers start (no image is pulled), or they wait
        with the reason the scheduler's volume and config checks found."""
        if not self._due(rt, pod):
            return
        if problem is not None:
            reason, message = problem
            waiting = ({"waiting": {"reason": "ContainerCreating"}}
                       if reason == "FailedAttachVolume"
                       else {"waiting": {"reason": reason, "message": message}})
            self._status(rt, pod, self._pod_status(pod, "Pending", waiting), "kubelet")
            source = "attachdetach-controller" if reason == "FailedAttachVolume" else "kubelet"
            event_reason = reason if reason == "FailedAttachVolume" else "Failed"
            text = message if reason == "FailedAttachVolume" else f"Error: {message}"
            self.workloads.event(pod, "Warning", event_reason, text, source)
            return
        spec = pod.get("spec") or {}
        new = self._pod_status(pod, "Running", {"running": {"startedAt": now_rfc3339()}})
        self._status(rt, pod, new, "kubelet")
        if spec.get("restartPolicy", "Always") != "Always" and self.run_jobs:
            self._start_process(pod)

    def _pods(self) -> None:
        """Pods that run to completion (restartPolicy Never/OnFailure) finish."""
        for rt, pod in self._each("", "pods"):
            meta, spec = pod["metadata"], pod.get("spec") or {}
            status = pod.get("status") or {}
            key = (meta["namespace"], meta["name"])
            containers = spec.get("containers") or []
            if status.get("phase") != "Running" or spec.get("restartPolicy",
                                                            "Always") == "Always":
                continue
            if self.run_jobs:
                if key in self._procs and key not in self._exits:
                    continue
                code = self._exits.pop(key, None)
                self._procs.pop(key, None)
                if code is None:
                    if key not in self._procs:
                        self._start_process(pod)
                    continue
            else:
                code = _simulated_exit(pod)
                if not containers:
                    code = 0
                log = self.store.logs.get(key, "")
                if not log:
                    with self.store.lock:
                        self.store.logs[key] = (
                            f"sandbox: simulated run of {(containers or [{}])[0].get('image')} "
                            f"exited with code {code}\n")
            started = (((status.get("containerStatuses") or [{}])[0].get("state") or {})
                       .get("running") or {}).get("startedAt") or now_rfc3339()
            term = {"terminated": {"exitCode": code,
                                   "reason": "Completed" if code == 0 else "Error",
                                   "message": "", "startedAt": started,
                                   "finishedAt": now_rfc3339()}}
            self._status(rt, pod, self._pod_status(
                pod, "Succeeded" if code == 0 else "Failed", term), "kubelet")

    def _terminating_pods(self) -> None:
        """The kubelet on a pod deleted gracefully (deletionGracePeriodSeconds above 0): it
        stops the containers, writes their terminated state and a terminal phase
        (kubelet_pods.go getPhase: Failed unless every container exited 0), then deletes the
        pod with gracePeriodSeconds 0 and its uid as precondition (status_manager.go
        canBeDeleted), which removes it unless finalizers hold it.

        Simulated containers have no process and stop at SIGTERM, so the pod goes on the
        kubelet's first look (after the controller delay), not after the grace period; a
        ``run_jobs`` process gets SIGTERM, then SIGKILL once deletionTimestamp (the end of the
        grace period, wall clock) has passed. A pod deleted at once (period 0) that a
        finalizer keeps (a Job's ``batch.kubernetes.io/job-tracking``) is stopped the same
        way and gets its terminal phase, which is what the Job controller waits for."""
        rt = self._rt("", "pods")
        assert rt is not None
        now = dt.datetime.now(dt.UTC)
        for pod in self.store.select(rt.gk):
            meta, spec = pod["metadata"], pod.get("spec") or {}
            held = (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            if not (meta.get("deletionTimestamp") and spec.get("nodeName") and self._due(rt, pod)
                    and (meta.get("deletionGracePeriodSeconds") or held)):
                continue
            key = (meta["namespace"], meta["name"])
            proc = self._procs.get(key)
            if proc is not None and proc.poll() is None:
                if key not in self._stopping:
                    self._stopping.add(key)
                    proc.terminate()
                if now < _parse_time(meta["deletionTimestamp"]):
                    continue
                proc.kill()
                proc.wait(timeout=5)
            self._stopping.discard(key)
            self._procs.pop(key, None)
            code = self._exits.pop(key, None)
            if proc is not None:
                code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
            elif code is None:
                code = 143  # a process without a SIGTERM handler: 128 + 15
            old = pod.get("status") or {}
            started = (((old.get("containerStatuses") or [{}])[0].get("state") or {})
                       .get("running") or {}).get("startedAt") or now_rfc3339()
            term = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0
                                   else "Error", "startedAt": started,
                                   "finishedAt": now_rfc3339()}}
            phase = "Succeeded" if code == 0 else "Failed"
            if old.get("phase") not in ("Succeeded", "Failed"):
                pod = self._status(rt, pod, self._pod_status(pod, phase, term), "kubelet") or pod
            self.api.delete(rt, meta["namespace"], meta["name"], {
                "gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})

    def _pod_gc(self) -> None:
        """PodGC's ``gcUnscheduledTerminating`` (pkg/controller/podgc/gc_controller.go,
        ``markFailedAndDeletePod``): a pod being deleted that no node ever ran is marked
        Failed, then deleted with period 0 (a finalizer may keep it). The real controller looks
        every 20 s; the sandbox's at once."""
        rt = self._rt("", "pods")
        assert rt is not None
        for pod in self.store.select(rt.gk):
            meta, status = pod["metadata"], pod.get("status") or {}
            if not meta.get("deletionTimestamp") or (pod.get("spec") or {}).get("nodeName") \
                    or status.get("phase") in ("Succeeded", "Failed"):
                continue
            if self.api.write_status(rt, pod, {**clone(status), "phase": "Failed"},
                                     "pod-garbage-collector") is not None:
                self.api.delete(rt, meta["namespace"], meta["name"],
                                {"gracePeriodSeconds": 0})

    def _pod_status(self, pod: dict[str, Any], phase: str,
                    state: dict[str, Any]) -> dict[str, Any]:
        old = pod.get("status") or {}
        conds = clone(old.get("conditions") or [])
        running = phase == "Running"
        started = running or phase in ("Succeeded", "Failed")
        set_condition(conds, "PodReadyToStartContainers", "True" if started else "False",
                      "", "")
        set_condition(conds, "Initialized", "True", "", "")
        ready = "True" if running else "False"
        why = "" if running else ("PodCompleted" if phase in ("Succeeded", "Failed")
                                  else "ContainersNotReady")
        containers = (pod.get("spec") or {}).get("containers") or []
        msg = "" if running or why == "PodCompleted" else (
            "containers with unready status: [" + " ".join(str(c.get("name", ""))
                                                         for c in containers) + "]")
        set_condition(conds, "ContainersReady", ready, why, msg)
        set_condition(conds, "Ready", ready, why, msg)
        set_condition(conds, "PodScheduled", "True", "", "")
        for c in conds:  # the kubelet omits empty reasons and messages
            for k in ("reason", "message"):
                if not c.get(k):
                    c.pop(k, None)
        statuses = []
        for c in containers:
            statuses.append({"name": c.get("name", ""), "image": c.get("image", ""),
                             "imageID": f"sandbox://{c.get('image', '')}" if started else "",
                             "ready": running, "started": running, "restartCount": 0,
                             "state": state} | (
                {"containerID": f"containerd://{_hash(c)[:32]}"} if started else {}))
        node = self.store.get(("", "nodes"), "", (pod.get("spec") or {}).get("nodeName") or "")
        host_ip = next((a.get("address") for a in ((node or {}).get("status") or {}).get(
            "addresses") or [] if a.get("type") == "InternalIP"), "10.7.222.10")
        n = int(_hash(pod["metadata"].get("uid", ""))[:6], 16) % (64 * 256 - 2) + 1
        pod_ip = f"10.233.{64 + n // 256}.{n % 256}"
        return {"phase": phase, "conditions": conds, "containerStatuses": statuses,
                "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": pod_ip,
                "podIPs": [{"ip": pod_ip}],
                "startTime": old.get("startTime") or now_rfc3339(),
                "qosClass": qos_class(pod)}

    def _start_process(self, pod: dict[str, Any]) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        container = containers[0]
        argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        if not argv:
            self.store.logs[key] = ("sandbox: the container has no command or args; the sandbox "
                                    "cannot run an image's entrypoint\n")
            self._exits[key] = 1
            return
        table = mounts(pod, container, self._pv_of_claim(pod), self.svc.volume_data)
        argv = [rewrite(a, table) for a in argv]
        env = dict(os.environ)
        env.update({k: rewrite(v, table) for k, v in self._container_env(pod, container).items()})
        env["HOSTNAME"] = pod["metadata"]["name"]
        # The image's tools are this interpreter's (``dagster`` in the venv), even when the
        # sandbox was started as ``.venv/bin/python`` without an activated venv.
        bindir = os.path.dirname(sys.executable)
        if bindir not in env.get("PATH", "").split(os.pathsep):
            env["PATH"] = os.pathsep.join(p for p in (bindir, env.get("PATH", "")) if p)
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env,
                                    cwd=container.get("workingDir") or None)
        except OSError as exc:
            self.store.logs[key] = f"sandbox: cannot start {argv[0]!r}: {exc}\n"
            self._exits[key] = 127
            return
        self._procs[key] = proc
        threading.Thread(target=self._collect, args=(key, proc), daemon=True,
                         name=f"sandbox-pod-{key[1]}").start()

    def _pv_of_claim(self, pod: dict[str, Any]) -> Any:
        ns = pod["metadata"]["namespace"]

        def pv(claim: str) -> str | None:
            pvc = self.store.get(("", "persistentvolumeclaims"), ns, claim) or {}
            return (pvc.get("spec") or {}).get("volumeName")

        return pv

    def evict(self, namespace: str, name: str, message: str) -> dict[str, Any]:
        """The kubelet evicts a pod under node pressure: its process stops, the pod is Failed
        with reason Evicted (Kubernetes docs, "Node-pressure Eviction") and the DisruptionTarget
        condition, reason TerminationByKubelet, with the eviction's message
        (pkg/kubelet/eviction/eviction_manager.go ``synchronize``; PodDisruptionConditions is GA
        in 1.31)."""
        rt = self._rt("", "pods")
        assert rt is not None
        pod = self.api.get(rt, namespace, name)
        proc = self._procs.pop((namespace, name), None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
        self._exits.pop((namespace, name), None)
        status = clone(pod.get("status") or {})
        status.update(phase="Failed", reason="Evicted", message=message)
        status["conditions"] = [c for c in status.get("conditions") or []
                                if c.get("type") != "DisruptionTarget"] + [{
            "type": "DisruptionTarget", "status": "True", "lastTransitionTime": now_rfc3339(),
            "reason": "TerminationByKubelet", "message": message}]
        for c in status.get("containerStatuses") or []:
            c.update(ready=False, started=False, state={"terminated": {
                "exitCode": 137, "reason": "Error", "finishedAt": now_rfc3339()}})
        return self.api.write_status(rt, pod, status, "kubelet") or pod

    def _collect(self, key: tuple[str, str], proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            with self.store.lock:
                self.store.logs[key] = self.store.logs.get(key, "") + raw.decode(
                    "utf-8", errors="replace")
        code = proc.wait()
        if self._procs.get(key) is proc:  # an evicted pod's process is no longer ours
            self._exits[key] = code
        self._kick.set()

    def _container_env(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        """A container's environment as the kubelet builds it: ``envFrom`` first, then
        ``env`` (later entries win); keys missing from a referenced object are left out."""
        out: dict[str, str] = {}
        for src in container.get("envFrom") or []:
            for kind, ref in (("configmap", src.get("configMapRef")),
                              ("secret", src.get("secretRef"))):
                if ref:
                    data = self._env_source(pod, kind, ref.get("name", ""))
                    out.update({f"{src.get('prefix', '')}{k}": _env_decode(kind, v)
                                for k, v in data.items()})
        for e in container.get("env") or []:
            name = e.get("name")
            value = self._env_value(pod, e) if name else None
            if value is not None:
                out[name] = value
        return out

    def _env_source(self, pod: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
        """The data of the ConfigMap or Secret ``name`` in the pod's namespace, as stored."""
        gk = ("", "secrets" if kind == "secret" else "configmaps")
        obj = self.store.get(gk, pod["metadata"]["namespace"], name) or {}
        return dict(obj.get("data") or {})

    def _env_value(self, pod: dict[str, Any], e: dict[str, Any]) -> str | None:
        if "value" in e:
            return str(e["value"])
        vf = e.get("valueFrom") or {}
        for kind, field in (("secret", "secretKeyRef"), ("configmap", "configMapKeyRef")):
            ref = vf.get(field)
            if ref:
                data = self._env_source(pod, kind, ref.get("name", ""))
                key = ref.get("key", "")
                return _env_decode(kind, data[key]) if key in data else None
        if vf.get("fieldRef"):
            meta = pod["metadata"]
            return {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"],
                    "spec.nodeName": (pod.get("spec") or {}).get("nodeName", ""),
                    "status.podIP": "10.233.64.10"}.get(vf["fieldRef"].get("fieldPath", ""))
        return None

    def _issuers(self) -> None:
        for plural in ("clusterissuers", "issuers"):
            for rt, obj in self._each("cert-manager.io", plural):
                spec = obj.get("spec") or {}
                gen = obj["metadata"].get("generation", 1)
                old = obj.get("status") or {}
                conds = clone(old.get("conditions") or [])
                if "acme" in spec:
                    set_condition(conds, "Ready", "True", "ACMEAccountRegistered",
                                  "The ACME account was registered with the ACME server", gen)
                    status: dict[str, Any] = {
                        "conditions": conds,
                        "acme": {"uri": "https://acme.sandbox.invalid/acct/1",
                                 "lastRegisteredEmail": spec["acme"].get("email", "")}}
                elif "ca" in spec:
                    set_condition(conds, "Ready", "True", "KeyPairVerified",
                                  "Signing CA verified", gen)
                    status = {"conditions": conds}
                else:
                    set_condition(conds, "Ready", "True", "IsReady", "", gen)
                    status = {"conditions": conds}
                self._status(rt, obj, status, "cert-manager-issuers")

    def _certificates(self) -> None:
        srt = self._rt("", "secrets")
        assert srt is not None
        now = dt.datetime.now(dt.UTC)
        for rt, cert in self._each("cert-manager.io", "certificates"):
            meta, spec = cert["metadata"], cert.get("spec") or {}
            status = cert.get("status") or {}
            gen = meta.get("generation", 1)
            ready = get_condition(cert, "Ready")
            issuing = get_condition(cert, "Issuing")
            secret_name = spec.get("secretName")
            if not secret_name:
                continue
            secret = self.store.get(srt.gk, meta["namespace"], secret_name)
            renewal = status.get("renewalTime")
            due = (ready is None or ready.get("status") != "True"
                   or ready.get("observedGeneration") != gen or secret is None
                   or (issuing is not None and issuing.get("status") == "True")
                   or (renewal is not None and _parse_time(renewal) <= now))
            if not due:
                continue
            try:
                duration = parse_duration(spec.get("duration") or "2160h")
                renew_before = parse_duration(spec["renewBefore"]) if spec.get(
                    "renewBefore") else duration / 3
            except ValueError as exc:
                conds = clone(status.get("conditions") or [])
                set_condition(conds, "Ready", "False", "InvalidSpec", str(exc), gen)
                self._status(rt, cert, {**status, "conditions": conds}, "cert-manager-certificates")
                continue
            not_before = now.replace(microsecond=0)
            not_after = not_before + dt.timedelta(seconds=duration)
            renewal_time = not_after - dt.timedelta(seconds=renew_before)
            algorithm = (spec.get("privateKey") or {}).get("algorithm") or "RSA"
            dns = [str(d) for d in spec.get("dnsNames") or []]
            crt_pem, key_pem = self.ca.issue(spec.get("commonName"), dns, not_before, not_after,
                                             algorithm)
            self._write_tls_secret(srt, cert, secret, crt_pem, key_pem)
            self._announce(self._served_names(cert), crt_pem + self.ca.pem, key_pem, self.ca.pem)
            conds = [c for c in clone(status.get("conditions") or [])
                     if c.get("type") != "Issuing"]
            set_condition(conds, "Ready", "True", "Ready",
                          "Certificate is up to date and has not expired", gen)
            new_status = {"conditions": conds, "notBefore": rfc3339(not_before),
                          "notAfter": rfc3339(not_after), "renewalTime": rfc3339(renewal_time),
                          "revision": int(status.get("revision") or 0) + 1}
            self.api.write_status(rt, cert, new_status, "cert-manager-certificates")

    def _write_tls_secret(self, srt: ResourceType, cert: dict[str, Any],
                          old: dict[str, Any] | None, crt_pem: bytes, key_pem: bytes) -> None:
        import base64

        meta, spec = cert["metadata"], cert.get("spec") or {}
        issuer = spec.get("issuerRef") or {}
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        data = {"tls.crt": b64(crt_pem + self.ca.pem), "tls.key": b64(key_pem),
                "ca.crt": b64(self.ca.pem)}
        annotations = {"cert-manager.io/certificate-name": meta["name"],
                       "cert-manager.io/issuer-name": issuer.get("name", ""),
                       "cert-manager.io/issuer-kind": issuer.get("kind", "Issuer"),
                       "cert-manager.io/issuer-group": issuer.get("group", "cert-manager.io"),
                       "cert-manager.io/common-name": spec.get("commonName") or "",
                       "cert-manager.io/alt-names": ",".join(spec.get("dnsNames") or [])}
        if old is None:
            self.api.write_object(srt, None, {
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": spec["secretName"], "namespace": meta["namespace"],
                             "annotations": annotations,
                             "labels": {"controller.cert-manager.io/fao": "true"}},
                "data": data}, "cert-manager-certificates")
            return
        new = clone(old)
        new["data"] = {**(new.get("data") or {}), **data}
        new["metadata"].setdefault("annotations", {}).update(annotations)
        self.api.write_object(srt, old, new, "cert-manager-certificates")

    def _served_names(self, cert: dict[str, Any]) -> list[str]:
        """The certificate's names an ingress would serve it for: a host an Ingress routes
        with another TLS Secret is served with that Secret, not this one."""
        ns = cert["metadata"]["namespace"]
        secret = (cert.get("spec") or {}).get("secretName")
        claimed: set[str] = set()
        for ing in self.store.select(("networking.k8s.io", "ingresses")):
            for tls in (ing.get("spec") or {}).get("tls") or []:
                if (ing["metadata"]["namespace"], tls.get("secretName")) != (ns, secret):
                    claimed.update(str(h) for h in tls.get("hosts") or [])
        return [n for n in _cert_names(cert.get("spec") or {}) if n not in claimed]

    def _announce(self, names: list[str], crt_pem: bytes, key_pem: bytes,
                  ca_pem: bytes) -> None:
        """Tell the world (the TLS endpoints, like an ingress) about a new TLS Secret."""
        hook = self.svc.world.on_tls_secret
        if hook is None or not names:
            return
        try:
            hook(names, crt_pem.decode(), key_pem.decode(), ca_pem.decode())
        except Exception as exc:  # noqa: BLE001 - the Secret is written; serving is best effort
            self.errors["on_tls_secret"] = repr(exc)

    def _announce_existing(self) -> None:
        """Announce the Secrets of Ready Certificates restored from state (what an ingress
        starting up would load)."""
        import base64

        srt = self._rt("", "secrets")
        crt = self._rt("cert-manager.io", "certificates")
        if srt is None or crt is None or self.svc.world.on_tls_secret is None:
            return
        for cert in self.store.select(crt.gk):
            ready = get_condition(cert, "Ready")
            spec = cert.get("spec") or {}
            if ready is None or ready.get("status") != "True" or not spec.get("secretName"):
                continue
            secret = self.store.get(srt.gk, cert["metadata"].get("namespace") or "",
                                    spec["secretName"])
            data = (secret or {}).get("data") or {}
            try:
                pems = [base64.b64decode(data[k]) for k in ("tls.crt", "tls.key", "ca.crt")]
            except (KeyError, ValueError):
                continue
            self._announce(self._served_names(cert), *pems)

    def _flux(self) -> None:
        from sandbox.kubernetes.flux import Flux

        Flux(self).reconcile()

    def _argocd(self) -> None:
        from sandbox.kubernetes.argocd import ArgoCD

        ArgoCD(self).reconcile()

    def _secret_stores(self) -> None:
        for plural in ("secretstores", "clustersecretstores"):
            for rt, obj in self._each("external-secrets.io", plural):
                conds = clone((obj.get("status") or {}).get("conditions") or [])
                set_condition(conds, "Ready", "True", "Valid", "store validated")
                self._status(rt, obj, {"conditions": conds, "capabilities": "ReadWrite"},
                             "external-secrets")

    def _external_secrets(self) -> None:
        srt = self._rt("", "secrets")
        assert srt is not None
        for rt, es in self._each("external-secrets.io", "externalsecrets"):
            meta, spec = es["metadata"], es.get("spec") or {}
            status = es.get("status") or {}
            gen = meta.get("generation", 1)
            target = (spec.get("target") or {}).get("name") or meta["name"]
            secret = self.store.get(srt.gk, meta["namespace"], target)
            ready = get_condition(es, "Ready")
            if (ready is not None and ready.get("status") == "True" and secret is not None
                    and status.get("syncedResourceVersion", "").startswith(f"{gen}-")):
                continue
            ref = spec.get("secretStoreRef") or {}
            store_kind = ref.get("kind") or "SecretStore"
            store = (self.store.get(("external-secrets.io", "clustersecretstores"), "",
                                    ref.get("name", "")) if store_kind == "ClusterSecretStore"
                     else self.store.get(("external-secrets.io", "secretstores"),
                                         meta["namespace"], ref.get("name", "")))
            conds = clone(status.get("conditions") or [])
            if store is None:
                msg = f'could not get {store_kind} "{ref.get("name", "")}"'
                set_condition(conds, "Ready", "False", "SecretSyncedError", msg)
                self._status(rt, es, {**status, "conditions": conds}, "external-secrets")
                continue
            data = _external_data(spec, (store.get("spec") or {}).get("provider") or {})
            self._write_synced_secret(srt, es, secret, target, data)
            set_condition(conds, "Ready", "True", "SecretSynced", "secret synced")
            self._status(rt, es, {"conditions": conds, "refreshTime": now_rfc3339(),
                                  "syncedResourceVersion": f"{gen}-{_hash(data)[:32]}",
                                  "binding": {"name": target}}, "external-secrets")

    def _write_synced_secret(self, srt: ResourceType, es: dict[str, Any],
                             old: dict[str, Any] | None, target: str,
                             data: dict[str, str]) -> None:
        import base64

        meta = es["metadata"]
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        if old is None:
            self.api.write_object(srt, None, {
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": target, "namespace": meta["namespace"],
                             "labels": {"reconcile.external-secrets.io/managed": "true"},
                             "ownerReferences": [{
                                 "apiVersion": es["apiVersion"], "kind": "ExternalSecret",
                                 "name": meta["name"], "uid": meta["uid"], "controller": True,
                                 "blockOwnerDeletion": True}]},
                "data": encoded}, "external-secrets")
            return
        new = clone(old)
        new["data"] = encoded
        self.api.write_object(srt, old, new, "external-secrets")


def _external_data(spec: dict[str, Any], provider: dict[str, Any]) -> dict[str, str]:
    """The secret data an ExternalSecret resolves to: values from a ``fake`` provider's table,
    else deterministic placeholders (the sandbox has no real secret backend)."""
    fake = {str(d.get("key")): d for d in (provider.get("fake") or {}).get("data") or []
            if isinstance(d, dict)}

    def resolve(key: str, prop: str | None) -> str:
        entry = fake.get(key)
        raw = str(entry.get("value", "")) if entry else f"sandbox-secret-{_hash(key)[:12]}"
        if prop:
            try:
                parsed = json.loads(raw)
                if isinstance(parsed, dict) and prop in parsed:
                    return str(parsed[prop])
            except ValueError:
                pass
            return f"{raw}-{prop}" if not entry else raw
        return raw

    out: dict[str, str] = {}
    for item in spec.get("dataFrom") or []:
        key = ((item or {}).get("extract") or {}).get("key")
        if key:
            try:
                parsed = json.loads(resolve(str(key), None))
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                out.update({str(k): str(v) for k, v in parsed.items()})
    for item in spec.get("data") or []:
        remote = (item or {}).get("remoteRef") or {}
        if item.get("secretKey") and remote.get("key"):
            out[str(item["secretKey"])] = resolve(str(remote["key"]), remote.get("property"))
    return out


def _cert_names(spec: dict[str, Any]) -> list[str]:
    """A Certificate's DNS names (its common name first when set)."""
    names = [str(spec["commonName"])] if spec.get("commonName") else []
    names += [str(d) for d in spec.get("dnsNames") or []]
    return list(dict.fromkeys(names))


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort (pkg/apis/core/helper/qos)."""
    from sandbox.kubernetes.workloads import _q

    containers = [c for k in ("initContainers", "containers")
                  for c in (pod.get("spec") or {}).get(k) or []]
    some = False
    guaranteed = bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        some = some or any(_q(v) > 0 for v in (*req.values(), *lim.values()))
        for r in ("cpu", "memory"):
            if r not in lim or _q(req.get(r, lim[r])) != _q(lim[r]):
                guaranteed = False
    return "Guaranteed" if guaranteed else ("Burstable" if some else "BestEffort")


def _simulated_exit(pod: dict[str, Any]) -> int:
    value = (pod["metadata"].get("annotations") or {}).get(EXIT_CODE_ANNOTATION, "0")
    try:
        return int(value)
    except ValueError:
        return 1


def _hash(value: Any, algo: str = "sha256") -> str:
    return hashlib.new(algo, json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _parse_time(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return dt.datetime.now(dt.UTC)


def _env_decode(kind: str, value: Any) -> str:
    """A Secret's data is base64 (the API's wire form); a ConfigMap's is text."""
    import base64

    return base64.b64decode(value).decode() if kind == "secret" else str(value)


def _provisioned_pv(pvc: dict[str, Any], pv_name: str, size: str, driver: str,
                    handle: str) -> dict[str, Any]:
    """The PV a CSI driver's external-provisioner creates for ``pvc`` (reclaim Delete)."""
    meta, spec = pvc["metadata"], pvc.get("spec") or {}
    node = storage.selected_node(pvc)
    # local-path-provisioner's volume is a directory on the selected node, so its PV is tied to
    # that node (rancher/local-path-provisioner provisioner.go: nodeAffinity on the hostname).
    affinity = {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}} \
        if driver == storage.LOCAL_PATH_PROVISIONER and node else {}
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name,
                         "annotations": {"pv.kubernetes.io/provisioned-by": driver}},
            "spec": {**affinity, "capacity": {"storage": size},
                     "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete",
                     "storageClassName": spec.get("storageClassName") or "",
                     "volumeMode": spec.get("volumeMode") or "Filesystem",
                     "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                  "namespace": meta["namespace"], "name": meta["name"],
                                  "uid": meta["uid"]},
                     "csi": {"driver": driver, "volumeHandle": handle, "fsType": "ext4"}}}
