"""The objects that exist before a compile or a solve are left out of Python's cyclic garbage
collection while it runs.

A compile or a solve allocates many short-lived objects. Each allocation burst triggers
CPython's generational collector, and every full collection walks the whole heap, which holds
the model built before the call. On case2869pegase (one period) those walks were a third of
the time of :func:`pyomo_ecc.solve`. :func:`frozen_heap` moves the objects that already exist
into CPython's permanent generation (:func:`gc.freeze`) for the duration of the call and gives
them back afterwards (:func:`gc.unfreeze`). Objects created during the call are collected as
usual, and nothing is owed afterwards: the next full collection costs what it would have cost
anyway (``benchmarks/scaling.py`` measures both).

The heap is left alone when the collector is disabled or when someone else froze objects
(for example a server that freezes its heap before forking): their frozen objects stay frozen.
"""
import contextlib
import gc


@contextlib.contextmanager
def frozen_heap():
    """Exclude the objects that exist on entry from the cyclic collector until exit.

    Nested uses are free: only the outermost one freezes and unfreezes.
    """
    own = gc.isenabled() and gc.get_freeze_count() == 0
    if own:
        gc.freeze()
    try:
        yield
    finally:
        if own:
            gc.unfreeze()
