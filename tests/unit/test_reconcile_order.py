"""The reconcile op's scheduler: dependency order, parallelism, skipping after failures, and the
heap it keeps out of full garbage collections while it runs."""

from __future__ import annotations

import gc
import threading

from platform_assets.core.graph import Node
from platform_assets.runs.reconcile import run_in_order


def node(name: str, *deps: str) -> Node:
    return Node(key=(name,), kind="component", name=name, group="platform",
                deps=tuple((d,) for d in deps), kinds=frozenset(), owners=(), description="",
                code_version="x", section=None)


def test_dependencies_first_and_independent_nodes_in_parallel() -> None:
    nodes = [node("a"), node("b"), node("c", "a", "b"), node("d", "c")]
    # a and b meet at a barrier: it only opens if both run at once (run one after the other,
    # the first waits in vain and fails). No sleeps, no timestamps.
    together = threading.Barrier(2, timeout=60)
    finished: list[str] = []
    seen_before: dict[str, list[str]] = {}
    active, peak, lock = [0], [0], threading.Lock()

    def work(n: Node) -> str:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            seen_before[n.name] = list(finished)
        if n.name in ("a", "b"):
            together.wait()
        with lock:
            active[0] -= 1
            finished.append(n.name)
        return n.name.upper()

    out = list(run_in_order(nodes, work, max_parallel=4))
    assert {n.name: r for n, r, e in out} == {"a": "A", "b": "B", "c": "C", "d": "D"}
    assert all(e is None for _, _, e in out)
    assert sorted(seen_before["c"]) == ["a", "b"]
    assert sorted(seen_before["d"]) == ["a", "b", "c"]
    assert peak[0] == 2  # a and b together, never more


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


def test_the_heap_from_before_the_pass_is_frozen_while_it_runs_and_released_after() -> None:
    frozen_during: list[int] = []

    def work(n: Node) -> str:
        frozen_during.append(gc.get_freeze_count())
        return n.name

    assert gc.get_freeze_count() == 0
    done = list(run_in_order([node("a"), node("b", "a")], work))
    assert [n.name for n, _, err in done if err is None] == ["a", "b"]
    assert all(count > 0 for count in frozen_during) and len(frozen_during) == 2
    assert gc.get_freeze_count() == 0  # unfrozen: garbage from before is collectable again

    def failing(n: Node) -> str:
        raise RuntimeError("boom")

    assert [str(err) for _, _, err in run_in_order([node("c")], failing)] == ["boom"]
    assert gc.get_freeze_count() == 0
