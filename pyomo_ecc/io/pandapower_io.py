"""pandapower networks in (``interop`` extra): a pandapower net -> the MATPOWER-style tables of
:mod:`pyomo_ecc.io.matpower` -> a DC market.

pandapower's own converter (``to_ppc``, in OPF mode) does the element -> bus/branch/gen
conversion (lines, transformers with taps and phase shifts, impedances, ext_grids, gens,
controllable sgens, shunts, poly_cost / pwl_cost), so the market sees exactly the branch
model pandapower's ``rundcopp`` solves. Bus labels are pandapower bus indices (the first one
where buses are fused by closed bus-bus switches), so LMPs compare directly with
``net.res_bus.lam_p``.

Branch ratings are pandapower's (``max_i_ka``, ``max_loading_percent`` ... as ``RATE_A`` in
MVA): pandapower's ``rundcopp`` enforces them, so does the market.

Example::

    >>> import pandapower.networks as pn, pyomo_ecc as ecc
    >>> from pyomo_ecc.io.pandapower_io import from_pandapower
    >>> m = from_pandapower(pn.case14())
    >>> round(ecc.solve(m).objective, 2)
    7642.59
"""
import numpy as np
import pandas as pd

from pyomo_ecc.errors import InputError
from pyomo_ecc.io.matpower import (BRANCH_COLS, BUS_COLS, GEN_COLS, GENCOST_COLS, MatpowerCase,
                                   build_matpower_market)


def pandapower_case(net, name=None):
    """The :class:`~pyomo_ecc.io.matpower.MatpowerCase` of a pandapower net (OPF data included)."""
    try:
        from pandapower.converter.pypower.to_ppc import to_ppc
    except ImportError as e:  # pragma: no cover
        raise InputError("pandapower is not installed: pip install pyomo_ecc[interop]") from e
    try:
        from pandapower.auxiliary import pandapowerNet
    except ImportError:  # pragma: no cover
        pandapowerNet = None
    if pandapowerNet is not None and not isinstance(net, pandapowerNet):
        raise InputError(f"from_pandapower expects a pandapower net (pandapower.auxiliary."
                         f"pandapowerNet, e.g. pandapower.networks.case14()), got "
                         f"{type(net).__name__}")
    missing = [t for t in ("bus", "line", "gen", "ext_grid", "poly_cost", "pwl_cost")
               if not isinstance(net.get(t) if hasattr(net, "get") else None, pd.DataFrame)]
    if missing:
        raise InputError(f"the pandapower net lacks the table(s) {missing}")
    if name is not None and not isinstance(name, str):
        raise InputError(f"name must be a string, got {name!r}")
    if net.poly_cost.empty and net.pwl_cost.empty:
        raise InputError("the pandapower net has no poly_cost or pwl_cost: no offers to clear")
    ppc = to_ppc(net, init="flat", mode="opf", calculate_voltage_angles=True)
    lookup = np.asarray(net._pd2ppc_lookups["bus"])
    nb = ppc["bus"].shape[0]
    label = {}
    for pd_bus in net.bus.index:
        k = int(lookup[pd_bus]) if pd_bus < len(lookup) else -1
        if 0 <= k < nb and k not in label:
            label[k] = int(pd_bus)
    if len(label) != nb:
        raise InputError("could not map every internal pandapower bus back to a net.bus index")
    relabel = np.vectorize(lambda k: label[int(k)])
    bus = pd.DataFrame(ppc["bus"][:, :13], columns=BUS_COLS)
    bus["bus_i"] = relabel(bus["bus_i"]).astype(int)
    bus["type"] = bus["type"].astype(int)
    bus = bus.set_index("bus_i")
    gen = pd.DataFrame(ppc["gen"][:, :21], columns=GEN_COLS)
    gen["bus"] = relabel(gen["bus"]).astype(int)
    gen.index = pd.RangeIndex(1, len(gen) + 1, name="gen")
    branch = pd.DataFrame(ppc["branch"][:, :13].real, columns=BRANCH_COLS)
    branch["fbus"] = relabel(branch["fbus"]).astype(int)
    branch["tbus"] = relabel(branch["tbus"]).astype(int)
    branch.index = pd.RangeIndex(1, len(branch) + 1, name="branch")
    gc = ppc["gencost"]
    gencost = pd.DataFrame(gc, columns=GENCOST_COLS + [f"p{k}" for k in range(gc.shape[1] - 4)])
    gencost.index = pd.RangeIndex(1, len(gencost) + 1, name="gen")
    return MatpowerCase(name or (net.name or "pandapower"), float(ppc["baseMVA"]), bus, gen,
                        branch, gencost)


def from_pandapower(net, name=None, **options):
    """A DC market of a pandapower net; ``options`` as for
    :func:`~pyomo_ecc.io.matpower.build_matpower_market` (periods, load_profile, formulation,
    convention, line_limits, loads, slack)."""
    return build_matpower_market(pandapower_case(net, name), **options)
