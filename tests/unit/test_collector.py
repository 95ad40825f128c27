"""The worker's garbage-collector settings (:mod:`workers.runtime.collector`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from workers.runtime import collector
from workers.runtime.settings import Settings


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tune_freezes_what_is_alive_and_sets_the_young_threshold(restored: None) -> None:
    """Start-up objects leave the collector's sight; the older generations keep theirs."""
    older = gc.get_threshold()[1:]
    gc.unfreeze()
    collector.tune(12_345)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (12_345, *older)


def test_zero_leaves_the_collector_alone(restored: None) -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    collector.tune(0)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_cyclic_garbage_is_still_collected_after_tuning(restored: None) -> None:
    """Raising the threshold delays cyclic garbage, it does not keep it."""
    import weakref

    collector.tune(50_000)

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    del a, b
    assert ref() is not None  # a cycle: reference counting alone cannot free it
    gc.collect()
    assert ref() is None


def test_the_setting_defaults_to_a_raised_threshold_and_refuses_negatives() -> None:
    assert Settings().gc_first_generation_threshold == 50_000
    with pytest.raises(ValueError, match="gc_first_generation_threshold"):
        Settings(gc_first_generation_threshold=-1)
