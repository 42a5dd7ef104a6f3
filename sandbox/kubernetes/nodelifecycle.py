"""The node lifecycle controller's tainting of cordoned nodes.

With TaintNodesByCondition, kube-controller-manager's node lifecycle controller keeps a Node's
``node.kubernetes.io/unschedulable:NoSchedule`` taint in step with ``spec.unschedulable``
(pkg/controller/nodelifecycle/node_lifecycle_controller.go ``doNoScheduleTaintingPass``,
``UnschedulableTaintTemplate``): it adds the taint to a cordoned node and removes it from an
uncordoned one, asynchronously, after the write that cordoned it. Taints compare by key and
effect (taints.TaintSetDiff); an added one gets ``timeAdded`` (controller_utils.go
``SwapNodeControllerTaint``). The condition taints of the same pass (``not-ready``,
``memory-pressure``, ...) are left out: the sandbox's nodes stay Ready without pressure, and the
scheduler emulation takes a NotReady node as tainted ``not-ready`` (workloads.untolerated_taint).
"""

from __future__ import annotations

from typing import Any

from sandbox.kubernetes.api import ApiServer, now_rfc3339
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.workloads import UNSCHEDULABLE_TAINT

# The field manager of kube-controller-manager's writes (its user agent's first segment).
MANAGER = "kube-controller-manager"


def _is_unschedulable_taint(taint: Any) -> bool:
    return isinstance(taint, dict) and taint.get("key") == UNSCHEDULABLE_TAINT["key"] and \
        taint.get("effect") == UNSCHEDULABLE_TAINT["effect"]


def swapped_taints(node: dict[str, Any], now: str) -> list[dict[str, Any]] | None:
    """The node's taints after the pass, or None when they already agree with
    ``spec.unschedulable``."""
    spec = node.get("spec") or {}
    taints = list(spec.get("taints") or [])
    tainted = any(_is_unschedulable_taint(t) for t in taints)
    if bool(spec.get("unschedulable")) == tainted:
        return None
    if tainted:
        return [t for t in taints if not _is_unschedulable_taint(t)]
    return [*taints, {**UNSCHEDULABLE_TAINT, "timeAdded": now}]


class NodeLifecycle:
    """Runs ``doNoScheduleTaintingPass`` over the nodes, from the controllers' loop."""

    def __init__(self, api: ApiServer):
        self.api = api

    def reconcile(self) -> None:
        rt = self.api.registry.by_gk("", "nodes")
        if rt is None:
            return
        with self.api.store.lock:
            for node in self.api.store.select(rt.gk):
                taints = swapped_taints(node, now_rfc3339())
                if taints is None or node["metadata"].get("deletionTimestamp"):
                    continue
                new = clone(node)
                if taints:
                    new["spec"]["taints"] = taints
                else:
                    # An emptied list is omitted (NodeSpec.Taints is omitempty).
                    new["spec"].pop("taints", None)
                self.api.write_object(rt, node, new, MANAGER)
