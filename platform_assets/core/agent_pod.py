"""Where the volume agent's pod may run, and why it cannot run: pure decisions over the Pods
and Nodes the Kubernetes API returns (``backups/volume_job.py`` reads them and acts). No
Dagster, no SDKs.

A ReadWriteOnce volume is attached to the node of the pod that uses it, so the agent runs on
that node. While that node is cordoned (``kubectl drain``, an IONOS node pool upgrade or node
replace) or the pod is terminating, the volume is about to move with the pod: the agent waits
for the pod's replacement to land on a schedulable node rather than being pinned to one the
scheduler no longer places pods on.

Sources: ``spec.unschedulable`` and the ``node.kubernetes.io/unschedulable:NoSchedule`` taint
the node lifecycle controller adds for it (kubectl pkg/drain cordon; kube-scheduler's
NodeUnschedulable filter); the ``PodScheduled`` condition the scheduler writes when no node
fits (schedule_one.go ``handleSchedulingFailure``: status False, reason ``Unschedulable``,
message ``0/N nodes are available: ...``); the ``DisruptionTarget`` condition set before a pod
is deleted by the Eviction API (``EvictionByEvictionAPI``), the taint manager
(``DeletionByTaintManager``), preemption (``PreemptionByScheduler``) or the kubelet
(``TerminationByKubelet``) (Kubernetes docs, "Pod disruption conditions"); and the kubelet's
node-pressure eviction, which leaves the pod ``Failed`` with ``status.reason: Evicted``
(Kubernetes docs, "Node-pressure Eviction"; since 1.31 it sets DisruptionTarget too, reason
``TerminationByKubelet``).

The agent's Job fails on DisruptionTarget by its ``podFailurePolicy`` (a FailJob rule): the Job
controller, whose ``batch.kubernetes.io/job-tracking`` finalizer keeps the pod until it has
counted it, records the eviction in the Job's ``FailureTarget`` and ``Failed`` conditions, reason
``PodFailurePolicy``, message "Pod NS/NAME has condition DisruptionTarget matching FailJob rule
at index 0" (kubernetes pkg/controller/job/pod_failure_policy.go ``matchPodFailurePolicy``), so
the run reads it from the Job even when the pod is gone before its next look.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
DISRUPTION = "DisruptionTarget"
POLICY_REASON = "PodFailurePolicy"
# The FailJob messages of matchPodFailurePolicy, for a pod condition and for an exit code.
_CONDITION_RULE = re.compile(r"^Pod (?P<ns>[^/\s]+)/(?P<pod>\S+) has condition (?P<cond>\S+) "
                             r"matching FailJob rule at index \d+$")
_EXIT_RULE = re.compile(r"^Container \S+ for pod (?P<ns>[^/\s]+)/(?P<pod>\S+) failed with exit "
                        r"code -?\d+ matching FailJob rule at index \d+$")
_TERMINAL = ("Succeeded", "Failed")


@dataclass(frozen=True)
class Placement:
    """The node to pin the agent to (None: wherever the scheduler likes), or, in ``moving``,
    why the claim's volume is about to change nodes (empty when settled)."""

    node: str | None
    moving: str = ""


def claim_users(pods: Iterable[Json], claim: str) -> list[Json]:
    """The pods that mount ``claim`` and have not finished (a finished pod holds no volume)."""
    out = []
    for pod in pods:
        spec = pod.get("spec") or {}
        if (pod.get("status") or {}).get("phase") in _TERMINAL:
            continue
        if any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim
               for v in spec.get("volumes") or []):
            out.append(pod)
    return out


def node_unavailable(node: Json | None) -> str:
    """Why no new pod can be placed on ``node`` ("cordoned", "being deleted", "gone"), or ""
    when it takes pods."""
    if node is None:
        return "gone"
    if (node.get("metadata") or {}).get("deletionTimestamp"):
        return "being deleted"
    spec = node.get("spec") or {}
    if spec.get("unschedulable") or any(t.get("key") == UNSCHEDULABLE_TAINT
                                        for t in spec.get("taints") or []):
        return "cordoned (being drained)"
    return ""


def placement(users: Iterable[Json], nodes: Mapping[str, Json | None]) -> Placement:
    """Where the agent must run, from the claim's pods (``claim_users``) and their nodes: the
    node of a live pod on a node that takes pods; no node when nothing uses the claim; else
    (every user terminating, not yet scheduled, or on a cordoned node) ``moving`` says why."""
    moving = []
    for pod in users:
        name = (pod.get("metadata") or {}).get("name", "")
        node = (pod.get("spec") or {}).get("nodeName") or ""
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            moving.append(f"pod {name} that uses it is terminating on node {node or '(none)'}")
        elif not node:
            moving.append(f"pod {name} that uses it is not scheduled yet")
        elif why := node_unavailable(nodes.get(node)):
            moving.append(f"node {node}, where pod {name} uses it, is {why}")
        else:
            return Placement(node)
    return Placement(None, "; ".join(moving))


def unschedulable(pod: Json) -> str | None:
    """The scheduler's message when it found no node for ``pod``, else None."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False" and \
                c.get("reason") == "Unschedulable":
            return str(c.get("message") or "no node fits")
    return None


def disrupted(pod: Json) -> str | None:
    """``reason: message`` when ``pod`` is being, or was, evicted or deleted by the system
    (a drain's eviction, the taint manager, preemption, node pressure), else None."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "DisruptionTarget" and c.get("status") == "True":
            return f"{c.get('reason') or 'DisruptionTarget'}: {c.get('message') or ''}".rstrip()
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        return f"Evicted: {status.get('message') or ''}".rstrip()
    return None


@dataclass(frozen=True)
class PolicyFailure:
    """A Job failed by its ``podFailurePolicy``: the pod and pod condition its FailJob rule
    matched (either empty when the message is not one the Job controller words), and the
    Job condition's message."""

    pod: str
    condition: str
    message: str


def policy_failure(job: Json) -> PolicyFailure | None:
    """The Job's ``FailureTarget`` or ``Failed`` condition (status True) of reason
    ``PodFailurePolicy``, else None."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("FailureTarget", "Failed") and c.get("status") == "True" and \
                c.get("reason") == POLICY_REASON:
            message = str(c.get("message") or "")
            found = _CONDITION_RULE.match(message) or _EXIT_RULE.match(message)
            cond = found.groupdict().get("cond") if found else None
            return PolicyFailure(found["pod"] if found else "", cond or "", message)
    return None


def disruption_rule() -> Json:
    """The agent Job's ``podFailurePolicy``: a pod with DisruptionTarget (an eviction through
    the API, by the taint manager, by preemption or by the kubelet) fails the Job at once, as
    FailJob, so the Job records why; Ignore would run the agent again, which the next run does
    instead, after the drain."""
    return {"rules": [{"action": "FailJob",
                       "onPodConditions": [{"type": DISRUPTION, "status": "True"}]}]}
