"""The server's GC tuning freezes start-up objects and raises the gen-0 threshold."""

from __future__ import annotations

import gc

from hotline.runtime import GEN0_THRESHOLD, tune_gc


def test_tune_gc_freezes_start_up_objects_and_raises_gen0():
    start_up = [{"n": i} for i in range(1000)]          # objects alive at the end of start-up
    before = gc.get_threshold()
    try:
        previous = tune_gc()
        assert previous == before
        assert gc.get_threshold() == (GEN0_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() >= len(start_up)
        assert not any(obj is start_up for obj in gc.get_objects())   # frozen: out of the collector's view
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert any(obj is start_up for obj in gc.get_objects())
