"""Reading manifest directories: multi-document YAML files, with file:line in errors. Pure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(ValueError):
    """A manifest file is not valid YAML or not a Kubernetes object."""


@dataclass(frozen=True)
class Manifest:
    obj: dict[str, Any]
    file: str
    line: int

    @property
    def api_version(self) -> str:
        return str(self.obj["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        ns = self.obj.get("metadata", {}).get("namespace")
        return str(ns) if ns else None


def manifest_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)


def directory_digest(directory: Path) -> str:
    """A digest of every manifest file's name and content (missing directory: empty digest)."""
    h = hashlib.sha256()
    if directory.is_dir():
        for p in manifest_files(directory):
            h.update(str(p.relative_to(directory)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def parse_manifests(text: str, file: str) -> list[Manifest]:
    """Every object in a (multi-document) YAML text; ``List`` kinds are flattened."""
    out: list[Manifest] = []
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            obj = loader.construct_document(node)
            if obj is None:
                continue
            if not isinstance(obj, dict):
                raise ManifestError(f"{file}:{line}: expected a Kubernetes object (a mapping), "
                                    f"got {type(obj).__name__}")
            items = obj.get("items") if str(obj.get("kind", "")).endswith("List") else [obj]
            for item in items or []:
                missing = [k for k in ("apiVersion", "kind") if not item.get(k)]
                if missing or not (item.get("metadata") or {}).get("name"):
                    what = ", ".join(missing + ([] if (item.get("metadata") or {}).get("name")
                                                else ["metadata.name"]))
                    raise ManifestError(f"{file}:{line}: object is missing {what}")
                out.append(Manifest(item, file, line))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ManifestError(f"{file}:{mark.line + 1 if mark else '?'}: YAML syntax error: "
                            f"{exc.problem or exc}") from None
    finally:
        loader.dispose()
    return out


def load_directory(directory: Path, default_namespace: str | None = None) -> list[Manifest]:
    """All manifests under ``directory``; namespaced objects without a namespace get the default."""
    if not directory.is_dir():
        raise ManifestError(f"{directory}: manifest directory does not exist")
    out: list[Manifest] = []
    for p in manifest_files(directory):
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{p}: cannot read the manifest: {exc}") from None
        out.extend(parse_manifests(text, str(p)))
    if default_namespace:
        out = [_with_namespace(m, default_namespace) for m in out]
    return out


CLUSTER_SCOPED_KINDS = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ClusterIssuer",
    "ClusterSecretStore", "StorageClass", "PersistentVolume", "VolumeSnapshotClass",
    "VolumeSnapshotContent", "PriorityClass", "Node", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
})


def _with_namespace(m: Manifest, ns: str) -> Manifest:
    if m.kind in CLUSTER_SCOPED_KINDS or m.namespace:
        return m
    obj = {**m.obj, "metadata": {**m.obj["metadata"], "namespace": ns}}
    return Manifest(obj, m.file, m.line)
