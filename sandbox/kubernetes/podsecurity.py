"""PodSecurity admission (the built-in ``PodSecurity`` plugin) for Pods, from namespace labels.

Source: https://kubernetes.io/docs/concepts/security/pod-security-standards/ (the checks of the
``baseline`` and ``restricted`` levels) and https://kubernetes.io/docs/concepts/security/
pod-security-admission/ (the ``pod-security.kubernetes.io/enforce`` label and its
``enforce-version``); messages as k8s.io/pod-security-admission/policy/check_*.go words them
(``violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "x"
must set securityContext.allowPrivilegeEscalation=false), ...``), one entry per failed check,
in the order of the check IDs.

Only ``enforce`` is applied (``warn`` and ``audit`` would add warnings, not denials), and only
to Pods, as in a real cluster: a Deployment whose template violates the level is stored, and its
ReplicaSet's pod creates are the ones denied. Not checked: Windows hostProcess, AppArmor
annotations, SELinux options and ``/proc`` mount types beyond their defaults, sysctls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ENFORCE = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"
LEVELS = ("privileged", "baseline", "restricted")
# Capabilities the baseline level allows adding (policy/check_capabilities_baseline.go).
BASELINE_CAPS = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
                           "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
                           "SYS_CHROOT"})
RESTRICTED_VOLUMES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret")

Pod = dict[str, Any]
Check = Callable[[Pod], str | None]


def _containers(pod: Pod) -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    out: list[dict[str, Any]] = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        out += [c for c in spec.get(key) or [] if isinstance(c, dict)]
    return out


def _sc(c: dict[str, Any]) -> dict[str, Any]:
    return c.get("securityContext") or {}


def _pod_sc(pod: Pod) -> dict[str, Any]:
    return (pod.get("spec") or {}).get("securityContext") or {}


def _names(cs: list[dict[str, Any]]) -> str:
    word = "container" if len(cs) == 1 else "containers"
    return f'{word} {", ".join(chr(34) + str(c.get("name", "")) + chr(34) for c in cs)}'


def _allow_privilege_escalation(pod: Pod) -> str | None:
    bad = [c for c in _containers(pod) if _sc(c).get("allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return (f"allowPrivilegeEscalation != false ({_names(bad)} must set "
            "securityContext.allowPrivilegeEscalation=false)")


def _capabilities_baseline(pod: Pod) -> str | None:
    added: list[str] = []
    bad: list[dict[str, Any]] = []
    for c in _containers(pod):
        extra = [a for a in (_sc(c).get("capabilities") or {}).get("add") or []
                 if a not in BASELINE_CAPS]
        if extra:
            bad.append(c)
            added += [a for a in extra if a not in added]
    if not bad:
        return None
    caps = ", ".join(f'"{a}"' for a in added)
    return f"non-default capabilities ({_names(bad)} must not include {caps} in " \
           "securityContext.capabilities.add)"


def _capabilities_restricted(pod: Pod) -> str | None:
    no_drop: list[dict[str, Any]] = []
    adds: list[dict[str, Any]] = []
    added: list[str] = []
    for c in _containers(pod):
        caps = _sc(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            no_drop.append(c)
        extra = [a for a in caps.get("add") or [] if a != "NET_BIND_SERVICE"]
        if extra:
            adds.append(c)
            added += [a for a in extra if a not in added]
    parts = []
    if no_drop:
        parts.append(f'{_names(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adds:
        caps_text = ", ".join(f'"{a}"' for a in added)
        parts.append(f"{_names(adds)} must not include {caps_text} in "
                     "securityContext.capabilities.add")
    return f"unrestricted capabilities ({'; '.join(parts)})" if parts else None


def _host_namespaces(pod: Pod) -> str | None:
    spec = pod.get("spec") or {}
    used = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return f"host namespaces ({', '.join(used)})" if used else None


def _host_path_volumes(pod: Pod) -> str | None:
    vols = [str(v.get("name", "")) for v in (pod.get("spec") or {}).get("volumes") or []
            if isinstance(v, dict) and "hostPath" in v]
    if not vols:
        return None
    word = "volume" if len(vols) == 1 else "volumes"
    return f'hostPath volumes ({word} {", ".join(chr(34) + v + chr(34) for v in vols)})'


def _host_ports(pod: Pod) -> str | None:
    bad = []
    ports: list[str] = []
    for c in _containers(pod):
        used = [str(p.get("hostPort")) for p in c.get("ports") or []
                if isinstance(p, dict) and p.get("hostPort")]
        if used:
            bad.append(c)
            ports += used
    if not bad:
        return None
    word = "hostPort" if len(ports) == 1 else "hostPorts"
    return f"hostPort ({_names(bad)} uses {word} {', '.join(ports)})"


def _privileged(pod: Pod) -> str | None:
    bad = [c for c in _containers(pod) if _sc(c).get("privileged")]
    return (f"privileged ({_names(bad)} must not set securityContext.privileged=true)"
            if bad else None)


def _restricted_volumes(pod: Pod) -> str | None:
    bad: list[tuple[str, str]] = []
    for v in (pod.get("spec") or {}).get("volumes") or []:
        if not isinstance(v, dict):
            continue
        kinds = [k for k in v if k != "name"]
        for k in kinds:
            if k not in RESTRICTED_VOLUMES:
                bad.append((str(v.get("name", "")), k))
    if not bad:
        return None
    names = ", ".join(f'"{n}"' for n, _ in bad)
    types = ", ".join(dict.fromkeys(f'"{t}"' for _, t in bad))
    word = "volume" if len(bad) == 1 else "volumes"
    verb = "uses" if len(bad) == 1 else "use"
    tword = "type" if len(set(t for _, t in bad)) == 1 else "types"
    return f"restricted volume types ({word} {names} {verb} restricted volume {tword} {types})"


def _run_as_non_root(pod: Pod) -> str | None:
    pod_value = _pod_sc(pod).get("runAsNonRoot")
    if pod_value is False:
        return ("runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)")
    explicit_false = [c for c in _containers(pod) if _sc(c).get("runAsNonRoot") is False]
    if explicit_false:
        return (f"runAsNonRoot != true ({_names(explicit_false)} must not set "
                "securityContext.runAsNonRoot=false)")
    if pod_value is True:
        return None
    unset = [c for c in _containers(pod) if _sc(c).get("runAsNonRoot") is not True]
    if not unset:
        return None
    return (f"runAsNonRoot != true (pod or {_names(unset)} must set "
            "securityContext.runAsNonRoot=true)")


def _run_as_user(pod: Pod) -> str | None:
    if _pod_sc(pod).get("runAsUser") == 0:
        return "runAsUser=0 (pod must not set runAsUser=0)"
    bad = [c for c in _containers(pod) if _sc(c).get("runAsUser") == 0]
    return f"runAsUser=0 ({_names(bad)} must not set runAsUser=0)" if bad else None


def _seccomp_type(sc: dict[str, Any]) -> str | None:
    return (sc.get("seccompProfile") or {}).get("type")


def _seccomp_baseline(pod: Pod) -> str | None:
    if _seccomp_type(_pod_sc(pod)) == "Unconfined":
        return 'seccompProfile (pod must not set securityContext.seccompProfile.type to ' \
               '"Unconfined")'
    bad = [c for c in _containers(pod) if _seccomp_type(_sc(c)) == "Unconfined"]
    return (f'seccompProfile ({_names(bad)} must not set securityContext.seccompProfile.type '
            'to "Unconfined")' if bad else None)


def _seccomp_restricted(pod: Pod) -> str | None:
    allowed = ("RuntimeDefault", "Localhost")
    pod_type = _seccomp_type(_pod_sc(pod))
    if pod_type is not None and pod_type not in allowed:
        return (f'seccompProfile (pod must not set securityContext.seccompProfile.type to '
                f'"{pod_type}")')
    bad_set = [c for c in _containers(pod)
               if _seccomp_type(_sc(c)) is not None and _seccomp_type(_sc(c)) not in allowed]
    if bad_set:
        return (f'seccompProfile ({_names(bad_set)} must not set '
                f'securityContext.seccompProfile.type to "{_seccomp_type(_sc(bad_set[0]))}")')
    if pod_type is not None:
        return None
    unset = [c for c in _containers(pod) if _seccomp_type(_sc(c)) is None]
    if not unset:
        return None
    return (f'seccompProfile (pod or {_names(unset)} must set '
            'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')


# Check IDs in sorted order, as the policy evaluator reports them; each level includes the
# baseline checks (restricted replaces seccompProfile_baseline and capabilities_baseline by
# their stricter versions, which report the same fields).
BASELINE: tuple[tuple[str, Check], ...] = (
    ("capabilities_baseline", _capabilities_baseline),
    ("hostNamespaces", _host_namespaces),
    ("hostPathVolumes", _host_path_volumes),
    ("hostPorts", _host_ports),
    ("privileged", _privileged),
    ("seccompProfile_baseline", _seccomp_baseline),
)
RESTRICTED: tuple[tuple[str, Check], ...] = tuple(sorted(
    [c for c in BASELINE if c[0] not in ("capabilities_baseline", "seccompProfile_baseline",
                                         "hostPathVolumes")]
    + [("allowPrivilegeEscalation", _allow_privilege_escalation),
       ("capabilities_restricted", _capabilities_restricted),
       ("restrictedVolumes", _restricted_volumes),
       ("runAsNonRoot", _run_as_non_root),
       ("runAsUser", _run_as_user),
       ("seccompProfile_restricted", _seccomp_restricted)], key=lambda c: c[0].lower()))


def level_of(ns_labels: dict[str, Any]) -> tuple[str, str]:
    """The namespace's enforced level and version (``privileged``/``latest`` when unlabelled;
    an unknown level is treated as restricted, as the admission plugin does)."""
    level = str(ns_labels.get(ENFORCE) or "privileged")
    version = str(ns_labels.get(ENFORCE_VERSION) or "latest")
    return (level if level in LEVELS else "restricted"), version


def violations(level: str, pod: Pod) -> list[str]:
    checks = {"baseline": BASELINE, "restricted": RESTRICTED}.get(level, ())
    return [msg for _, check in checks if (msg := check(pod)) is not None]


def denial(pod_name: str, level: str, version: str, found: list[str]) -> str:
    """The Forbidden message kube-apiserver answers."""
    return (f'pods "{pod_name}" is forbidden: violates PodSecurity "{level}:{version}": '
            + ", ".join(found))


class PodSecurityAdmission:
    """The validating admission plugin: a Pod created in a namespace whose ``enforce`` level it
    violates is denied with 403 Forbidden."""

    def __init__(self, namespace_labels: Callable[[str], dict[str, Any] | None]):
        self.namespace_labels = namespace_labels

    def __call__(self, req: Any) -> None:
        from sandbox.kubernetes.api import ApiError

        if req.rt.gk != ("", "pods") or req.operation != "CREATE" or req.subresource \
                or req.obj is None:
            return
        level, version = level_of(self.namespace_labels(req.namespace) or {})
        found = violations(level, req.obj)
        if found:
            raise ApiError(403, "Forbidden", denial(req.name, level, version, found),
                           {"name": req.name, "kind": "pods"})
