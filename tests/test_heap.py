"""frozen_heap: the objects that exist on entry are out of the cyclic collector until exit,
and given back on every way out; a user's own frozen objects and a disabled collector are left
alone; a solve (also one that fails) leaves nothing frozen."""
import gc
import weakref

import pytest

import pyomo_ecc as ecc
from pyomo_ecc.core.heap import frozen_heap
from pyomo_ecc.errors import InfeasibleMarketError

pytestmark = pytest.mark.unit


class _Node:
    pass


def _cycle():
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture(autouse=True)
def _clean_gc():
    was = gc.isenabled()
    gc.enable()
    gc.unfreeze()
    yield
    gc.unfreeze()
    if not was:  # pragma: no cover - the suite runs with the collector on
        gc.disable()


def test_existing_objects_are_frozen_inside_and_given_back():
    before = _cycle()           # cyclic garbage that exists on entry
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        gc.collect()
        assert before() is not None        # frozen: not collected inside
        inside = _cycle()                  # made inside: collected as usual
        gc.collect()
        assert inside() is None
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert before() is None                # given back, then collected


def test_given_back_on_an_exception():
    with pytest.raises(RuntimeError):
        with frozen_heap():
            raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


def test_nested_uses_freeze_once():
    with frozen_heap():
        n = gc.get_freeze_count()
        with frozen_heap():
            assert gc.get_freeze_count() == n
        assert gc.get_freeze_count() == n      # the inner exit gave nothing back
    assert gc.get_freeze_count() == 0


def test_a_users_frozen_objects_and_a_disabled_collector_are_left_alone():
    theirs = _cycle()
    gc.freeze()
    with frozen_heap():
        pass
    gc.collect()
    assert theirs() is not None                 # still frozen: not given back by us
    gc.unfreeze()
    gc.collect()
    assert theirs() is None
    gc.disable()
    try:
        with frozen_heap():
            assert gc.get_freeze_count() == 0
        assert not gc.isenabled()
    finally:
        gc.enable()


def _two_bus(load):
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=10.0, p_max=100)
    m.d = ecc.FixedLoad(bus="A", p=load)
    return m


def test_a_solve_leaves_nothing_frozen_also_when_it_fails():
    res = ecc.solve(_two_bus(50))
    assert res.objective == pytest.approx(500.0)
    assert gc.get_freeze_count() == 0
    with pytest.raises(InfeasibleMarketError):
        ecc.solve(_two_bus(150))
    assert gc.get_freeze_count() == 0
