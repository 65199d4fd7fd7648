"""settle_heap: live objects leave the cyclic collector's generations, dead cycles go."""

import gc
import weakref

from kubegate.proxy.runtime import settle_heap


class Node:
    def __init__(self) -> None:
        self.me = self


def test_settle_heap_frees_dead_cycles_and_freezes_the_rest() -> None:
    try:
        dead = Node()
        gone = weakref.ref(dead)
        del dead
        kept = Node()
        settle_heap()
        assert gone() is None  # a replaced snapshot's cycles are collected first
        assert gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        assert kept.me is kept
        dead_again = Node()
        gone_again = weakref.ref(dead_again)
        del dead_again
        settle_heap()  # after a reload: unfreeze, collect, freeze again
        assert gone_again() is None and gc.get_freeze_count() > frozen // 2
    finally:
        gc.unfreeze()
