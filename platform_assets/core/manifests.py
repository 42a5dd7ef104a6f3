"""Reading manifest directories: multi-document YAML files, with file:line in errors. Pure."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_assets.core import safeyaml
from platform_assets.core.diff import copied
from platform_assets.spec.source import MANIFEST_SUFFIXES


class ManifestError(ValueError):
    """A manifest file is not valid YAML or not a Kubernetes object."""


@dataclass(frozen=True)
class Manifest:
    """One object read from a manifest file, with the file and line it starts at (for errors)."""
    obj: dict[str, Any]
    file: str
    line: int

    @property
    def api_version(self) -> str:
        """The object's ``apiVersion``."""
        return str(self.obj["apiVersion"])

    @property
    def kind(self) -> str:
        """The object's ``kind``."""
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        """The object's ``metadata.name``."""
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        """The object's ``metadata.namespace``, None when it has none."""
        ns = self.obj.get("metadata", {}).get("namespace")
        return str(ns) if ns else None


def manifest_files(directory: Path) -> list[Path]:
    """Every manifest file under ``directory``, in path order.

    Raises:
        ManifestError: a file or directory under it is a symbolic link (a link could make a
            commit read files from anywhere on the host, so none is followed).
    """
    out: list[Path] = []
    pending = [directory]
    while pending:
        where = pending.pop()
        for entry in os.scandir(where):
            path = Path(entry.path)
            if entry.is_symlink():
                raise ManifestError(f"{path}: is a symbolic link; manifest directories may hold "
                                    "only plain files and directories")
            if entry.is_dir():
                pending.append(path)
            elif entry.is_file() and path.suffix in MANIFEST_SUFFIXES:
                out.append(path)
    return sorted(out)


def directory_digest(directory: Path) -> str:
    """A digest of every manifest file's name and content (missing directory: empty digest)."""
    h = hashlib.sha256()
    if directory.is_dir():
        for p in manifest_files(directory):
            h.update(str(p.relative_to(directory)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _objects(doc: safeyaml.Document, file: str) -> list[Manifest]:
    obj = doc.data
    where = f"{file}:{doc.line}"
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: expected a Kubernetes object (a mapping), "
                            f"got {type(obj).__name__}")
    items = obj.get("items") if str(obj.get("kind", "")).endswith("List") else [obj]
    if not isinstance(items, list | None):
        raise ManifestError(f"{where}: items: expected a list of objects")
    out = []
    for i, item in enumerate(items or []):
        field = f"items[{i}]" if item is not obj else "object"
        if not isinstance(item, dict):
            raise ManifestError(f"{where}: {field}: expected a mapping")
        meta = item.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise ManifestError(f"{where}: {field}.metadata: expected a mapping")
        missing = [k for k in ("apiVersion", "kind") if not _text(item.get(k))]
        if not _text((meta or {}).get("name")):
            missing.append("metadata.name")
        if missing:
            raise ManifestError(f"{where}: object is missing {', '.join(missing)}")
        namespace = meta.get("namespace") if meta else None
        if namespace is not None and not isinstance(namespace, str):
            raise ManifestError(f"{where}: {field}.metadata.namespace: expected a string")
        out.append(Manifest(item, file, doc.line))
    return out


# Parsed files by name and content digest. A run reads every manifest twice (its reconcile and
# its drift checks, each with an engine of its own), and parsing YAML within safeyaml's limits
# is most of a no-op reconcile's CPU; the same bytes always parse the same, so an edited file
# (new digest) is parsed again. Bounded by the size of the files it holds (a platform's
# manifests are a few megabytes; parsed, about ten times that), the oldest out first.
_PARSED: dict[tuple[str, bool, bytes], tuple[int, tuple[Manifest, ...]]] = {}
_PARSED_MAX_BYTES = 16 * 1024 * 1024
_parsed_size = [0]  # bytes of the files in _PARSED
_parsed_lock = threading.Lock()


def forget_parsed() -> None:
    """Empty the parse cache: the next reads parse anew, as a run's first reads in a new
    process do (benchmarks measure that)."""
    with _parsed_lock:
        _PARSED.clear()
        _parsed_size[0] = 0


def parse_manifests(text: str | bytes, file: str) -> list[Manifest]:
    """Every object in a (multi-document) YAML text; ``List`` kinds are flattened. The YAML is
    read with the limits of ``core.safeyaml``. The objects are the caller's own (a copy of what
    an earlier call with the same file and content parsed).

    Raises:
        ManifestError: malformed YAML, over a limit, or not Kubernetes objects (file:line).
    """
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    key = (file, isinstance(text, bytes), hashlib.sha256(data).digest())
    hit = _PARSED.get(key)
    parsed = hit[1] if hit is not None else tuple(_parse(text, file))
    if hit is None and len(data) <= _PARSED_MAX_BYTES:
        with _parsed_lock:
            while _PARSED and _parsed_size[0] + len(data) > _PARSED_MAX_BYTES:
                _parsed_size[0] -= _PARSED.pop(next(iter(_PARSED)))[0]
            if key not in _PARSED:
                _PARSED[key] = (len(data), parsed)
                _parsed_size[0] += len(data)
    return [Manifest(copied(m.obj), m.file, m.line) for m in parsed]


def _parse(text: str | bytes, file: str) -> list[Manifest]:
    try:
        docs = safeyaml.load_all(text, file)
    except safeyaml.YamlError as exc:
        raise ManifestError(str(exc)) from None
    return [m for doc in docs if doc.data is not None for m in _objects(doc, file)]


def load_directory(directory: Path, default_namespace: str | None = None) -> list[Manifest]:
    """All manifests under ``directory``; namespaced objects without a namespace get the default."""
    if directory.is_symlink() or not directory.is_dir():
        raise ManifestError(f"{directory}: manifest directory does not exist (or is a link)")
    out: list[Manifest] = []
    for p in manifest_files(directory):
        try:
            if p.stat().st_size > safeyaml.MAX_BYTES:
                raise ManifestError(f"{p}: over the limit of {safeyaml.MAX_BYTES} bytes for one "
                                    "manifest file")
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{p}: cannot read the manifest: {exc}") from None
        out.extend(parse_manifests(text, str(p)))
    if default_namespace:
        out = [with_namespace(m, default_namespace) for m in out]
    return out


# Kinds without a namespace (Kubernetes API reference, plus the cluster-scoped CRDs of the tools
# the platform runs: cert-manager, External Secrets, Gateway API, Kyverno). The engine also asks
# the API server's discovery at apply time, so a kind missing here is still refused when it
# turns out cluster-scoped (core.manifest_policy).
CLUSTER_SCOPED_KINDS = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ClusterIssuer",
    "ClusterSecretStore", "StorageClass", "PersistentVolume", "VolumeSnapshotClass",
    "VolumeSnapshotContent", "PriorityClass", "Node", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "APIService", "CertificateSigningRequest",
    "ClusterTrustBundle", "CSIDriver", "CSINode", "VolumeAttachment", "FlowSchema",
    "PriorityLevelConfiguration", "IngressClass", "RuntimeClass", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding", "ClusterExternalSecret", "GatewayClass", "ClusterPolicy",
    "ClusterPolicyReport", "ComponentStatus",
})

# Kinds the run reads only by name, never by listing a namespace: a list returns every object's
# data, and RBAC cannot limit a list to names, so the right to list Secrets where a component
# writes one would be the right to read every Secret there. The engine GETs each Secret the
# spec or the inventory names (``core.component_plan.observe_names``) and ``core.rbac`` grants
# them by name. Other kinds hold no credentials by design (ConfigMaps, ExternalSecrets and
# SecretStores only reference them).
READ_BY_NAME_KINDS = frozenset({"Secret"})


def with_namespace(m: Manifest, ns: str) -> Manifest:
    """``m`` in namespace ``ns`` unless it has one or its kind is cluster-scoped."""
    if m.kind in CLUSTER_SCOPED_KINDS or m.namespace:
        return m
    obj = {**m.obj, "metadata": {**m.obj["metadata"], "namespace": ns}}
    return Manifest(obj, m.file, m.line)
