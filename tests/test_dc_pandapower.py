"""DC-OPF validation against the published numbers and against pandapower's ``rundcopp``
(interop extra; the networks ship with pandapower)."""
import warnings

import numpy as np
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.pricing.components import lmp_components

pp = pytest.importorskip("pandapower")
pn = pytest.importorskip("pandapower.networks")
from pandapower.toolbox import reindex_buses  # noqa: E402
from pyomo_ecc.io.pandapower_io import from_pandapower  # noqa: E402

pytestmark = pytest.mark.integration


def _net(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(pn, name)()


@pytest.mark.parametrize("case, objective, lmp", [
    # VALIDATION.md: MATPOWER case14 / case39 / case118 with the quadratic costs shipped in
    # pandapower.networks: DC-OPF objective ($/h) and uniform LMP ($/MWh). The case118 figure
    # is MATPOWER's own case118.m (reproduced to 0.005 in test_matpower.py); pandapower's copy
    # of the case gives 125947.8727 in its own rundcopp as here, hence abs=0.01.
    ("case14", 7642.59, 39.016),
    ("case39", 41263.94, 13.517),
    ("case118", 125947.88, 39.381),
])
def test_published_objectives_and_uniform_lmps(case, objective, lmp):
    m = from_pandapower(_net(case))
    assert ecc.solve(m).objective == pytest.approx(objective, abs=0.01)
    prices = ecc.prices(m).lmp
    assert prices.min() == pytest.approx(lmp, abs=5e-4)
    assert prices.max() - prices.min() < 1e-6  # no binding line limit


def _compare_with_rundcopp(net, formulation="btheta"):
    m = from_pandapower(net, formulation=formulation)
    obj = ecc.solve(m).objective
    lmp = ecc.prices(m).lmp.xs(0, level="t")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.rundcopp(net)
    lam = net.res_bus.lam_p
    assert obj == pytest.approx(net.res_cost, rel=1e-8)
    np.testing.assert_allclose(lmp.reindex(lam.index).to_numpy(), lam.to_numpy(), atol=1e-6)
    comp = lmp_components(m)
    np.testing.assert_allclose(comp.energy + comp.congestion, comp.lmp, atol=1e-6)
    return lam


@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_lmps_equal_rundcopp_on_congested_case5(formulation):
    lam = _compare_with_rundcopp(_net("case5"), formulation)
    assert lam.max() - lam.min() > 20  # natively congested (PJM 5-bus)


def test_lmps_equal_rundcopp_on_case14_made_congested():
    net = _net("case14")
    net.line.loc[0, "max_i_ka"] = 0.3  # line 1-2 rated at about 70 MVA instead of 9900
    lam = _compare_with_rundcopp(net)
    assert lam.max() - lam.min() > 10


def test_bus_labels_are_pandapower_indices_when_not_contiguous():
    # pandapower's internal (ppc) buses are numbered 0..n-1; the market must label them back
    # with net.bus indices (here 10, 20, ...), so LMPs line up with res_bus.lam_p by index
    net = _net("case5")
    reindex_buses(net, {b: 10 * (b + 1) for b in net.bus.index[::-1]})
    lam = _compare_with_rundcopp(net)
    assert sorted(lam.index) == [10, 20, 30, 40, 50]
    assert lam.max() - lam.min() > 20
