"""The reconcile op's scheduler: dependency order, parallelism, and skipping after failures."""

from __future__ import annotations

import threading
import time

from platform_assets.core.graph import Node
from platform_assets.reconcile_assets import run_in_order


def node(name: str, *deps: str) -> Node:
    return Node(key=(name,), kind="component", name=name, group="platform",
                deps=tuple((d,) for d in deps), kinds=frozenset(), owners=(), description="",
                code_version="x", section=None)


def test_dependencies_first_and_independent_nodes_in_parallel() -> None:
    nodes = [node("a"), node("b"), node("c", "a", "b"), node("d", "c")]
    started: dict[str, float] = {}
    finished: dict[str, float] = {}
    active, peak, lock = [0], [0], threading.Lock()

    def work(n: Node) -> str:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        started[n.name] = time.monotonic()
        time.sleep(0.05)
        finished[n.name] = time.monotonic()
        with lock:
            active[0] -= 1
        return n.name.upper()

    out = list(run_in_order(nodes, work, max_parallel=4))
    assert {n.name: r for n, r, e in out} == {"a": "A", "b": "B", "c": "C", "d": "D"}
    assert all(e is None for _, _, e in out)
    assert started["c"] >= max(finished["a"], finished["b"])
    assert started["d"] >= finished["c"]
    assert peak[0] == 2  # a and b together


def test_failure_skips_dependents_but_not_independent_nodes() -> None:
    nodes = [node("a"), node("b", "a"), node("c", "b"), node("x")]
    ran: list[str] = []

    def work(n: Node) -> None:
        ran.append(n.name)
        if n.name == "a":
            raise RuntimeError("a: HTTP 503")

    out = {n.name: e for n, _, e in run_in_order(nodes, work)}
    assert sorted(ran) == ["a", "x"]
    assert str(out["a"]) == "a: HTTP 503" and out["x"] is None
    assert "b: not run: a failed" in str(out["b"]) and "c: not run: b failed" in str(out["c"])


def test_dependencies_outside_the_selection_do_not_block() -> None:
    out = list(run_in_order([node("c", "a")], lambda n: 1))
    assert [(n.name, r, e) for n, r, e in out] == [("c", 1, None)]
