"""heap_frozen: what the process held before the block is out of full collections inside it and
collectable again after it, with ``collect=False`` no collections inside it either; a heap someone
else froze is left frozen. kept_to_exit: no collections inside the block, all it built frozen
after it."""

import gc

from platform_assets.heap import heap_frozen, kept_to_exit


def test_frozen_inside_the_block_and_collectable_after() -> None:
    gc.unfreeze()
    held = [{"n": i} for i in range(10)]  # dicts: tracked by the collector
    with heap_frozen():
        assert gc.get_freeze_count() >= len(held)
    assert gc.get_freeze_count() == 0


def test_unfrozen_when_the_block_raises() -> None:
    gc.unfreeze()
    try:
        with heap_frozen():
            raise ValueError("spec error")
    except ValueError:
        pass
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_by_someone_else_stays_frozen() -> None:
    # Frozen objects that other threads release leave the permanent generation, so its count
    # may only fall (an exact count failed under xdist); unfrozen, it would be 0.
    gc.unfreeze()
    gc.freeze()
    before = gc.get_freeze_count()
    try:
        with heap_frozen():
            assert 0 < gc.get_freeze_count() <= before
        assert 0 < gc.get_freeze_count() <= before
    finally:
        gc.unfreeze()


def test_kept_to_exit_collects_nothing_inside_and_freezes_what_it_built() -> None:
    gc.unfreeze()
    try:
        with kept_to_exit():
            assert not gc.isenabled()
            built = [{"n": i} for i in range(10)]
        assert gc.isenabled() and gc.get_freeze_count() >= len(built)
    finally:
        gc.unfreeze()


def test_kept_to_exit_leaves_a_collector_someone_else_turned_off() -> None:
    gc.unfreeze()
    gc.disable()
    try:
        with kept_to_exit():
            pass
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_collect_false_pauses_the_collector_for_the_block_only() -> None:
    gc.unfreeze()
    assert gc.isenabled()
    with heap_frozen(collect=False):
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        with heap_frozen(collect=False):
            assert not gc.isenabled()
        assert not gc.isenabled()  # someone else's choice, left as it was
    finally:
        gc.enable()


def test_collect_false_leaves_what_the_block_built_in_the_oldest_generation() -> None:
    gc.collect()
    with heap_frozen(collect=False):
        built = [[i] for i in range(1000)]  # lists: always tracked
    assert gc.get_count()[0] < len(built)  # not left to the young collections
    assert gc.is_tracked(built[0]) and gc.get_freeze_count() == 0
