"""Generate ``protobuf.json``, how the kinds kubectl's typed generators send as protobuf are laid
out on the wire, from the Go types of k8s.io/api and k8s.io/apimachinery (v0.32, kubectl
1.32's): each struct field's ``protobuf:"<wire>,<number>,<opt|rep>,name=..."`` tag gives its
number, its ``json`` tag its JSON name and ``omitempty``/``inline``, its Go type whether it is a
pointer (so a zero it carries was set), a list, a map or another struct.

Run after changing ``ROOTS`` or the Kubernetes version, with git checkouts of
github.com/kubernetes/api and github.com/kubernetes/apimachinery (tags ``v0.32.x``):
``.venv/bin/python -m sandbox.kubernetes.gen_protobuf API_REPO APIMACHINERY_REPO TAG``.
Not imported at run time; nothing of those repositories is kept but the table.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

OUT = Path(__file__).with_name("protobuf.json")

# What kubectl 1.32 sends as protobuf: its typed generators (``kubectl create configmap``,
# ``secret``, ``deployment``, ``job``, ``cronjob``, ``service``, ``quota``, ``priorityclass``,
# ``poddisruptionbudget``, ``role``..., ``ingress``, ``namespace``, ``serviceaccount``,
# ``token``), Pods (the same client, e.g. ``kubectl debug``), ``kubectl drain``'s Eviction and
# ``kubectl autoscale``'s autoscaling/v1 HorizontalPodAutoscaler.
ROOTS = {
    "v1/ConfigMap": "core/v1.ConfigMap", "v1/Secret": "core/v1.Secret",
    "v1/Namespace": "core/v1.Namespace", "v1/ServiceAccount": "core/v1.ServiceAccount",
    "v1/Service": "core/v1.Service", "v1/ResourceQuota": "core/v1.ResourceQuota",
    "v1/Pod": "core/v1.Pod", "apps/v1/Deployment": "apps/v1.Deployment",
    "batch/v1/Job": "batch/v1.Job", "batch/v1/CronJob": "batch/v1.CronJob",
    "scheduling.k8s.io/v1/PriorityClass": "scheduling/v1.PriorityClass",
    "policy/v1/PodDisruptionBudget": "policy/v1.PodDisruptionBudget",
    "policy/v1/Eviction": "policy/v1.Eviction",
    "autoscaling/v1/HorizontalPodAutoscaler": "autoscaling/v1.HorizontalPodAutoscaler",
    "rbac.authorization.k8s.io/v1/Role": "rbac/v1.Role",
    "rbac.authorization.k8s.io/v1/ClusterRole": "rbac/v1.ClusterRole",
    "rbac.authorization.k8s.io/v1/RoleBinding": "rbac/v1.RoleBinding",
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "rbac/v1.ClusterRoleBinding",
    "networking.k8s.io/v1/Ingress": "networking/v1.Ingress",
    "authentication.k8s.io/v1/TokenRequest": "authentication/v1.TokenRequest",
    # ``kubectl auth can-i``
    "authorization.k8s.io/v1/SelfSubjectAccessReview":
        "authorization/v1.SelfSubjectAccessReview",
    "authorization.k8s.io/v1/SubjectAccessReview": "authorization/v1.SubjectAccessReview",
}
API, MACHINERY = "k8s.io/api/", "k8s.io/apimachinery/"
# Types with their own wire and JSON forms (apimachinery's hand-written marshalling).
SPECIAL = {
    "pkg/apis/meta/v1.Time": "time", "pkg/apis/meta/v1.MicroTime": "time",
    "pkg/apis/meta/v1.Duration": "duration", "pkg/apis/meta/v1.FieldsV1": "rawjson",
    "pkg/runtime.RawExtension": "rawjson", "pkg/api/resource.Quantity": "quantity",
    "pkg/util/intstr.IntOrString": "intorstr",
}
SCALARS = {"string": "string", "bool": "bool", "int32": "int", "int64": "int", "int": "int",
           "uint32": "int", "uint64": "int", "float64": "float", "float32": "float"}
_FIELD = re.compile(r"^\s*(?:(?P<name>\w+)\s+)?(?P<type>[^\s`]+)\s+`(?P<tags>[^`]*)`")
_TYPE = re.compile(r"^type\s+(?P<name>\w+)\s+(?P<rest>.+)$")
_IMPORT = re.compile(r'^\s*(?:(?P<alias>\w+)\s+)?"(?P<path>[^"]+)"')


@dataclass
class Package:
    structs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # (type, tags)
    named: dict[str, str] = field(default_factory=dict)  # name -> underlying type
    imports: dict[str, dict[str, str]] = field(default_factory=dict)  # struct -> alias -> path


class Source:
    def __init__(self, api: Path, machinery: Path, tag: str) -> None:
        self.repos = {API: api, MACHINERY: machinery}
        self.tag = tag
        self.packages: dict[str, Package] = {}

    def _git(self, repo: Path, *args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True,
                              capture_output=True, text=True).stdout

    def package(self, path: str) -> Package:
        """A Go package (``k8s.io/api/core/v1``) parsed from its non-generated files."""
        if path in self.packages:
            return self.packages[path]
        prefix = next(p for p in self.repos if path.startswith(p))
        repo, rel = self.repos[prefix], path[len(prefix):]
        pkg = Package()
        for name in self._git(repo, "ls-tree", "--name-only", f"{self.tag}:{rel}").split():
            if not name.endswith(".go") or name.endswith("_test.go") or \
                    name.startswith(("zz_", "generated")):
                continue
            _parse(self._git(repo, "show", f"{self.tag}:{rel}/{name}"), pkg)
        self.packages[path] = pkg
        return pkg


def _imports(lines: Iterator[str]) -> dict[str, str]:
    """An ``import (...)`` block's aliases (the path's last element when not given)."""
    out: dict[str, str] = {}
    for line in lines:
        if line.startswith(")"):
            break
        m = _IMPORT.match(line)
        if m:
            out[m["alias"] or m["path"].rsplit("/", 1)[-1]] = m["path"]
    return out


def _struct_fields(lines: Iterator[str]) -> list[tuple[str, str]]:
    """A struct's (Go type, tags) of the fields with a protobuf tag, to its closing brace."""
    fields = []
    for line in lines:
        if line.startswith("}"):
            break
        f = _FIELD.match(line)
        if f and not line.lstrip().startswith("//") and 'protobuf:"' in f["tags"]:
            fields.append((f["type"], f["tags"]))
    return fields


def _parse(text: str, pkg: Package) -> None:
    imports: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("import ("):
            imports = _imports(lines)
            continue
        m = _TYPE.match(line)
        if not m:
            continue
        pkg.imports[m["name"]] = imports
        if m["rest"].replace(" ", "") == "struct{}":
            pkg.structs[m["name"]] = []
        elif m["rest"].startswith("struct {"):
            pkg.structs[m["name"]] = _struct_fields(lines)
        elif not m["rest"].startswith(("struct", "interface", "=")):
            pkg.named[m["name"]] = m["rest"].split("//")[0].strip()


def _tag(tags: str, key: str) -> str:
    m = re.search(rf'{key}:"([^"]*)"', tags)
    return m.group(1) if m else ""


class Generator:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.messages: dict[str, list[list[object]]] = {}

    def kind(self, typ: str, pkg_path: str, imports: dict[str, str]) -> tuple[str, str]:
        """(kind, flags) of a Go type: a scalar, a special type or a message's name."""
        flags = ""
        if typ.startswith("*"):
            flags, typ = "p", typ[1:]
        if typ == "[]byte":
            return "bytes", flags
        if typ.startswith("[]"):
            kind, inner = self.kind(typ[2:], pkg_path, imports)
            return kind, flags + "r" + inner
        if typ.startswith("map["):
            kind, inner = self.kind(typ[typ.index("]") + 1:], pkg_path, imports)
            return kind, flags + "m" + inner
        if typ in SCALARS:
            return SCALARS[typ], flags
        if "." in typ:
            alias, typ = typ.split(".", 1)
            pkg_path = imports[alias]
        qualified = f"{pkg_path.removeprefix(MACHINERY)}.{typ}"
        if qualified in SPECIAL:
            return SPECIAL[qualified], flags
        pkg = self.source.package(pkg_path)
        if typ in pkg.structs:
            return self.message(pkg_path, typ), flags
        underlying = pkg.named.get(typ)
        if underlying is None:
            raise KeyError(f"{pkg_path}.{typ}: not a struct nor a named type")
        kind, inner = self.kind(underlying, pkg_path, pkg.imports.get(typ) or imports)
        if inner.startswith("r"):  # a named list is a message of ``repeated ... items = 1``
            inner = "w" + inner[1:]
        return kind, flags + inner

    def message(self, pkg_path: str, name: str) -> str:
        key = f"{pkg_path.removeprefix(API).removeprefix(MACHINERY)}.{name}"
        if key in self.messages:
            return key
        self.messages[key] = fields = []
        pkg = self.source.package(pkg_path)
        for typ, tags in pkg.structs[name]:
            proto = _tag(tags, "protobuf").split(",")
            number = int(proto[1])
            json_tag = _tag(tags, "json").split(",")
            kind, flags = self.kind(typ, pkg_path, pkg.imports[name])
            if "inline" in json_tag[1:] or json_tag[0] == "":
                flags += "i"
            if "omitempty" not in json_tag[1:]:
                flags += "k"
            fields.append([number, json_tag[0], kind, flags])
        return key


def main(api: str, machinery: str, tag: str) -> None:
    gen = Generator(Source(Path(api), Path(machinery), tag))
    kinds = {}
    for gvk, root in ROOTS.items():
        path, name = root.rsplit(".", 1)
        kinds[gvk] = gen.message(API + path, name)
    OUT.write_text(json.dumps({"source": f"k8s.io/api and k8s.io/apimachinery {tag}",
                               "kinds": kinds, "messages": dict(sorted(gen.messages.items()))},
                              indent=0, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
