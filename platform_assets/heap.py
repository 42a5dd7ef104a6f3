"""Keeping a process's long-lived objects out of the garbage collector's full collections while
a burst of new long-lived objects is built. Stdlib only: the code location imports it before
anything else of its own."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def heap_frozen(collect: bool = True) -> Iterator[None]:
    """Keep what the process holds already out of full collections while the block runs.

    Building many long-lived objects (a reconcile pass's lists of the cluster and desired
    objects; the code location's spec models and definitions) sets off collections of the oldest
    generation, each of which walks the whole heap, though nothing held before the block can
    become garbage because of it: a fifth of a no-op reconcile's CPU at 5,000 objects
    (benchmarks/bench_reconcile.py), one or two full walks of Dagster's objects while a fleet's
    code location loads (benchmarks/bench_fleet.py). Afterwards everything is collectable again
    (``unfreeze``), so garbage from before the block is not kept for good. When something else
    froze the heap already, it is left as that code wants it.

    ``collect=False`` is for the code location's load, whose modules, spec models and
    definitions all live as long as the process: the collector is paused for the block, and what
    the block built joins the oldest generation with what was there before, as if it had
    survived the young collections (it would have: collecting the young generations every few
    hundred allocations walked it again and again to find next to no garbage, about 25 ms of the
    load; benchmarks/bench_reconcile.py ``--only load``). Its garbage goes at the next full
    collection (unlike ``kept_to_exit``, nothing stays frozen). A collector someone else
    disabled stays disabled."""
    froze = not gc.get_freeze_count()
    paused = not collect and gc.isenabled()
    if froze:
        gc.freeze()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if froze:
            if paused:
                gc.freeze()  # the block's objects too: unfreeze puts all in the oldest generation
            gc.unfreeze()
        if paused:
            gc.enable()


@contextmanager
def kept_to_exit() -> Iterator[None]:
    """No collections while the block builds what a short-lived process keeps until it exits
    (an SDK's modules and client); afterwards all of it is frozen out of later collections,
    for good. For the start of a process that runs one command (the volume agent's), never
    inside a longer-lived one: the freeze is not undone.

    Such a start leaves some 80,000 objects the collector tracks, hardly any of them garbage, and
    the collector walked them again and again: over a hundred young collections, ten of the middle
    generation and two full ones (in the night's first request, and as the interpreter exits),
    a fifth of the agent's CPU on an unchanged night, whose start is most of its time. Kept
    frozen to the end, they are skipped by that last collection too (undoing the freeze before
    exit cost as much again).
    When the collector is off or frozen already, it is left as that code wants it."""
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
