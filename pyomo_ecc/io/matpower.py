r"""MATPOWER case files (format version 2): reader, tables, networkx graph and a DC market.

:func:`read_matpower` parses ``mpc.baseMVA``, ``mpc.bus``, ``mpc.gen``, ``mpc.branch`` and
``mpc.gencost`` into pandas tables (MATPOWER's column names, lower case; MATPOWER's units: MW,
MVAr, per unit on ``baseMVA``, degrees). :func:`matpower_graph` turns them into a networkx
``MultiDiGraph`` (:mod:`pyomo_ecc.network.graph` attributes) and :func:`build_matpower_market`
into a :class:`~pyomo_ecc.Market` with a :class:`~pyomo_ecc.network.dc.DCNetwork`, one
:class:`~pyomo_ecc.Producer` per in-service generator and the bus demands as fixed loads.

Cost conversion (MATPOWER costs are in $/h of the generator's output in MW, whatever
``baseMVA``; the per-unit base enters only the network susceptances):

* polynomial (model 2), :math:`C(P) = c_2 P^2 + c_1 P + c_0`: ``a`` :math:`= c_2`
  ($/MW²h), ``b`` :math:`= c_1` ($/MWh), ``c`` :math:`= c_0` ($/h, counted in every period);
  degrees above 2 are rejected;
* piecewise linear (model 1) through :math:`(x_k, y_k)`: steps of width
  :math:`x_{k+1}-x_k` at price :math:`(y_{k+1}-y_k)/(x_{k+1}-x_k)`, convex only. As in
  MATPOWER's constrained-cost-variable form (:math:`y \ge y_k + m_k (P - x_k)` for every
  segment :math:`k`), the first and last segments extend to :math:`P_{min}` and
  :math:`P_{max}` when the breakpoints do not reach them. The curve
  starts at :math:`\min(P_{min}, x_1)` (extended down with the first slope); the Producer
  offers the output above that point, which is a fixed injection, and the cost there is the
  market's ``objective_offset`` (an Expression, added to ``obj``) so that objectives compare
  with MATPOWER's.

Not modelled: branch angle-difference limits (``angmin``/``angmax``, which MATPOWER's DC OPF
enforces when they are non-zero and inside ±360°), ``rate_b``/``rate_c`` (ratings are
``rate_a``), start-up and shut-down costs, and the ``bs`` shunt susceptance (no active power
in the DC model).

A generator with :math:`P_{min} < 0` becomes a Producer for the part above :math:`P_{min}`
(:math:`p' = P - P_{min} \in [0, P_{max} - P_{min}]`, its cost re-expanded exactly around
:math:`P_{min}`) plus a fixed injection :math:`P_{min}` at its bus; its output is
``producer.p + pmin_offset``.

Example::

    >>> import pyomo_ecc as ecc
    >>> from pyomo_ecc.io.matpower import load_matpower_case, build_matpower_market
    >>> mpc = load_matpower_case("case14")
    >>> m = build_matpower_market(mpc)
    >>> round(ecc.solve(m).objective, 2)
    7642.59
"""
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from pyomo_ecc.core.config import number_vector
from pyomo_ecc.errors import InputError

BUS_COLS = ["bus_i", "type", "pd", "qd", "gs", "bs", "area", "vm", "va", "base_kv", "zone",
            "vmax", "vmin"]
GEN_COLS = ["bus", "pg", "qg", "qmax", "qmin", "vg", "mbase", "status", "pmax", "pmin", "pc1",
            "pc2", "qc1min", "qc1max", "qc2min", "qc2max", "ramp_agc", "ramp_10", "ramp_30",
            "ramp_q", "apf"]
BRANCH_COLS = ["fbus", "tbus", "r", "x", "b", "rate_a", "rate_b", "rate_c", "ratio", "angle",
               "status", "angmin", "angmax"]
GENCOST_COLS = ["model", "startup", "shutdown", "ncost"]


@dataclass
class MatpowerCase:
    """A parsed MATPOWER case: ``base_mva`` and the ``bus``, ``gen``, ``branch``, ``gencost``
    tables (``gencost`` None when the file has none). ``gen`` and ``branch`` rows are numbered
    from 1 as in MATPOWER (index ``gen`` / ``branch``); ``bus`` is indexed by ``bus_i``."""

    name: str
    base_mva: float
    bus: pd.DataFrame
    gen: pd.DataFrame
    branch: pd.DataFrame
    gencost: pd.DataFrame = None


_MATRIX = re.compile(r"mpc\.(\w+)\s*=\s*\[(.*?)\]\s*;?", re.S)
_SCALAR = re.compile(r"mpc\.(\w+)\s*=\s*([-+0-9.eE]+)\s*;")


def _strip_comments(text):
    out = []
    for line in text.splitlines():
        k = line.find("%")
        out.append(line if k < 0 else line[:k])
    return "\n".join(out)


def _matrix(body, name, where):
    rows = []
    for k, raw in enumerate(re.split(r"[;\n]", body)):
        raw = raw.strip().strip(",")
        if not raw:
            continue
        try:
            rows.append([float(v) for v in re.split(r"[\s,]+", raw) if v])
        except ValueError:
            raise InputError(f"MATPOWER case '{where}': mpc.{name}: row {len(rows) + 1} is not "
                             f"numeric: {raw[:60]!r}") from None
        nan = [j for j, v in enumerate(rows[-1]) if math.isnan(v)]
        if nan:
            raise InputError(f"MATPOWER case '{where}': mpc.{name}: row {len(rows)}, column "
                             f"{nan[0] + 1} is NaN")
    widths = {len(r) for r in rows}
    if name != "gencost" and len(widths) > 1:
        raise InputError(f"MATPOWER case '{where}': mpc.{name}: rows have different lengths {sorted(widths)}")
    return rows


def _frame(rows, cols, name, where, min_cols):
    if not rows:
        raise InputError(f"MATPOWER case '{where}': mpc.{name} is empty")
    n = len(rows[0])
    if n < min_cols:
        raise InputError(f"MATPOWER case '{where}': mpc.{name} has {n} columns, needs at least {min_cols}")
    names = cols[:n] + [f"col{k}" for k in range(len(cols), n)]
    return pd.DataFrame(np.array(rows), columns=names)


def read_matpower(source, name=None):
    """Parse a MATPOWER version 2 case from a path or from the file's text."""
    p = Path(str(source)) if not str(source).lstrip().startswith(("function", "%", "mpc")) else None
    if p is not None and p.is_file():
        text, where = p.read_text(encoding="utf-8", errors="replace"), p.name
    elif p is not None and "\n" not in str(source):
        raise InputError(f"MATPOWER case file '{source}' not found")
    else:
        text, where = str(source), name or "<text>"
    text = _strip_comments(text)
    scalars = {m.group(1): float(m.group(2)) for m in _SCALAR.finditer(text)}
    version = re.search(r"mpc\.version\s*=\s*'(\w+)'", text)
    if version is not None and version.group(1) != "2":
        raise InputError(f"MATPOWER case '{where}': format version {version.group(1)!r}; only "
                         f"version 2 is supported")
    mats = {m.group(1): _matrix(m.group(2), m.group(1), where) for m in _MATRIX.finditer(text)}
    for key in ("bus", "gen", "branch"):
        if key not in mats:
            raise InputError(f"MATPOWER case '{where}': missing mpc.{key}")
    if "baseMVA" not in scalars:
        raise InputError(f"MATPOWER case '{where}': missing mpc.baseMVA")
    bus = _frame(mats["bus"], BUS_COLS, "bus", where, 13)
    bus["bus_i"] = bus["bus_i"].astype(int)
    bus["type"] = bus["type"].astype(int)
    if bus["bus_i"].duplicated().any():
        raise InputError(f"MATPOWER case '{where}': duplicate bus number "
                         f"{int(bus['bus_i'][bus['bus_i'].duplicated()].iloc[0])}")
    bus = bus.set_index("bus_i")
    gen = _frame(mats["gen"], GEN_COLS, "gen", where, 10)
    gen["bus"] = gen["bus"].astype(int)
    gen.index = pd.RangeIndex(1, len(gen) + 1, name="gen")
    branch = _frame(mats["branch"], BRANCH_COLS, "branch", where, 11)
    branch[["fbus", "tbus"]] = branch[["fbus", "tbus"]].astype(int)
    branch.index = pd.RangeIndex(1, len(branch) + 1, name="branch")
    for tbl, cols, what in ((gen, ["bus"], "gen"), (branch, ["fbus", "tbus"], "branch")):
        for c in cols:
            bad = ~tbl[c].isin(bus.index)
            if bad.any():
                raise InputError(f"MATPOWER case '{where}': {what} {int(tbl.index[bad][0])} refers to "
                                 f"unknown bus {int(tbl[c][bad].iloc[0])}")
    gencost = None
    if "gencost" in mats:
        rows = mats["gencost"]
        if not rows:
            raise InputError(f"MATPOWER case '{where}': mpc.gencost is empty ({len(gen)} generators "
                             f"need a cost row each)")
        width = max(len(r) for r in rows)
        rows = [r + [math.nan] * (width - len(r)) for r in rows]
        gencost = pd.DataFrame(np.array(rows), columns=GENCOST_COLS + [f"p{k}" for k in range(width - 4)])
        gencost.index = pd.RangeIndex(1, len(gencost) + 1, name="gen")
        if len(gencost) < len(gen):
            raise InputError(f"MATPOWER case '{where}': mpc.gencost has {len(gencost)} rows for "
                             f"{len(gen)} generators")
    return MatpowerCase(name or Path(where).stem, scalars["baseMVA"], bus, gen, branch, gencost)


def load_matpower_case(name):
    """Read a MATPOWER file shipped in the case library (``"case14"`` or ``"case14.m"``)."""
    fname = name if name.endswith(".m") else f"{name}.m"
    lib = resources.files("pyomo_ecc.case_library")
    f = lib.joinpath(fname)
    if not f.is_file():
        raise InputError(f"no MATPOWER file {fname!r} in the case library")
    return read_matpower(f.read_text(encoding="utf-8"), name=Path(fname).stem)


def matpower_graph(mpc, rating="rate_a"):
    """A networkx ``MultiDiGraph`` of the case: buses (load ``pd``, ``gs``, ``type``), in-service
    branches (r, x, b, tap, shift, rating from column ``rating``; 0 = unlimited), named by
    their MATPOWER row number. Out-of-service buses (type 4) and branches are left out."""
    import networkx as nx
    G = nx.MultiDiGraph()
    G.graph["base_mva"] = float(mpc.base_mva)
    bus = mpc.bus
    for b, typ, pd_, qd, gs, bs in zip(bus.index, bus["type"], bus["pd"], bus["qd"], bus["gs"], bus["bs"]):
        if typ == 4:
            continue
        G.add_node(int(b), load=float(pd_), q_load=float(qd), gs=float(gs), bs=float(bs),
                   type=int(typ), ref=bool(typ == 3))
    br = mpc.branch
    lim = br[rating] if rating in br else pd.Series(0.0, index=br.index)
    cols = zip(br.index, br["fbus"], br["tbus"], br["r"], br["x"], br["b"], br["ratio"], br["angle"],
               br["status"], lim)
    for k, f, t, r, x, b, ratio, angle, status, rate in cols:
        f, t = int(f), int(t)
        if status <= 0 or f not in G or t not in G:
            continue
        G.add_edge(f, t, name=int(k), r=float(r), x=float(x), b=float(b), tap=float(ratio),
                   shift=float(angle), rating=None if rate <= 0 else float(rate))
    return G


def generator_offers(mpc):
    """One row per in-service generator (index ``gen``): ``bus``, ``pmin``, ``pmax`` (MW) and
    the offer as Producer options: ``a``, ``b``, ``c`` or ``steps`` plus ``offset`` ($/h not
    representable by the steps, see the module doc)."""
    if mpc.gencost is None:
        raise InputError(f"MATPOWER case '{mpc.name}' has no mpc.gencost: no offers")
    rows = []
    btype = mpc.bus["type"].to_dict()
    costs = mpc.gencost.to_numpy(float)
    for g, gbus, status, pmin, pmax in zip(mpc.gen.index, mpc.gen["bus"], mpc.gen["status"],
                                           mpc.gen["pmin"], mpc.gen["pmax"]):
        if status <= 0 or btype[int(gbus)] == 4:
            continue
        cost = costs[g - 1]
        model, n = int(cost[0]), int(cost[3])
        vals = [float(v) for v in cost[4:4 + (2 * n if model == 1 else n)]]
        if len(vals) < (2 * n if model == 1 else n):
            vals.append(math.nan)
        if any(math.isnan(v) for v in vals):
            raise InputError(f"MATPOWER case '{mpc.name}': gencost row {g} has fewer than its {n} "
                             f"declared cost terms")
        pmin, pmax = float(pmin), float(pmax)
        if pmin > pmax:
            raise InputError(f"MATPOWER case '{mpc.name}': generator {g} has Pmin {pmin} > Pmax {pmax}")
        entry = {"gen": g, "bus": int(gbus), "pmin": pmin, "pmax": pmax, "a": None,
                 "b": None, "c": None, "steps": None, "offset": 0.0}
        if model == 2:
            if n > 3:
                raise InputError(f"MATPOWER case '{mpc.name}': generator {g} has a polynomial cost "
                                 f"of degree {n - 1}; only degree <= 2 (convex quadratic) is supported")
            c2, c1, c0 = ([0.0] * (3 - n) + vals) if n else (0.0, 0.0, 0.0)
            entry.update(a=c2, b=c1, c=c0)
        elif model == 1:
            xs, ys = vals[0::2], vals[1::2]
            if n < 2:
                raise InputError(f"MATPOWER case '{mpc.name}': generator {g}: a piecewise-linear "
                                 f"cost needs at least 2 points, got {n}")
            if any(x1 <= x0 for x0, x1 in zip(xs, xs[1:])):
                raise InputError(f"MATPOWER case '{mpc.name}': generator {g}: piecewise-linear cost "
                                 f"breakpoints must increase, got {xs}")
            slopes = [(y1 - y0) / (x1 - x0) for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:])]
            widths = [x1 - x0 for x0, x1 in zip(xs, xs[1:])]
            lo = min(pmin, xs[0])
            if xs[0] > lo:  # extend the first segment down to the lower limit
                widths[0] += xs[0] - lo
            if pmax > xs[-1]:  # and the last one up to the upper limit (MATPOWER's CCV form)
                widths[-1] += pmax - xs[-1]
            entry["steps"] = list(zip(widths, slopes))
            entry["offset"] = ys[0] - slopes[0] * (xs[0] - lo)
            entry["curve_start"] = lo
        else:
            raise InputError(f"MATPOWER case '{mpc.name}': generator {g}: unknown cost model {model}")
        rows.append(entry)
    return pd.DataFrame(rows).set_index("gen")


def build_matpower_market(mpc, periods=1, load_profile=None, formulation="btheta",
                          convention="matpower", line_limits=True, loads="participants",
                          slack="ref", name=None, dt=1.0, generators="blocks"):
    """A DC market of a :class:`MatpowerCase` (see the module doc).

    ``load_profile``: one multiplier per period applied to every bus demand (default 1).
    ``loads``: ``"participants"`` (a :class:`~pyomo_ecc.FixedLoad` per bus with demand,
    named ``load_<bus>``) or ``"network"`` (bus loads in the graph, faster for large cases).
    ``generators``: ``"blocks"`` (a Producer per generator, named ``gen_<k>`` for MATPOWER row
    k) or ``"fleet"`` (the polynomial-cost generators as the units ``gen_<k>`` of one
    :class:`~pyomo_ecc.ProducerFleet` ``m.gens``, much faster to build for large cases;
    piecewise-linear ones stay Producers ``gen_<k>``). Each generator's ``pmin_offset`` (its
    output is ``p + pmin_offset``) is an attribute of its block or unit. Returns the
    (unassembled) market; ``m.net`` is the network.
    """
    import pyomo.environ as pyo

    from pyomo_ecc.core.market import Market
    from pyomo_ecc.network.dc import DCNetwork
    from pyomo_ecc.participants.load import FixedLoad
    from pyomo_ecc.participants.producer import Producer

    if generators not in ("blocks", "fleet"):
        raise InputError(f"generators must be 'blocks' or 'fleet', got {generators!r}")
    if loads not in ("participants", "network"):
        raise InputError(f"loads must be 'participants' or 'network', got {loads!r}")
    if isinstance(periods, bool) or not isinstance(periods, (int, list, tuple, range)):
        raise InputError(f"periods: expected a number of periods or a list of labels, got {periods!r}")
    nper = periods if isinstance(periods, int) else len(periods)
    prof = ([1.0] * nper if load_profile is None
            else list(number_vector(load_profile, "load_profile", minimum=0.0)))
    if len(prof) != nper:
        raise InputError(f"load_profile has {len(prof)} values for {nper} periods")
    G = matpower_graph(mpc)
    offers = generator_offers(mpc)
    fixed = {b: 0.0 for b in G.nodes}  # fixed injections of negative-Pmin generators
    records = offers.to_dict("index")
    for g, o in records.items():
        if o["pmin"] < 0 and o["steps"] is None:
            fixed[o["bus"]] += o["pmin"]
    m = Market(name=name or mpc.name, periods=periods, dt=dt, power_unit="MW")
    m._matpower_offers = offers
    offset = 0.0
    fleet = []   # (unit label, options, pmin offset) of the fleet's units
    for g, o in records.items():
        opts = {"bus": int(o["bus"])}
        pmin, pmax = o["pmin"], o["pmax"]
        if o["steps"] is not None:
            lo = o["curve_start"]
            steps = [(w, s) for w, s in o["steps"]]
            fixed[o["bus"]] += lo  # the Producer offers P - lo
            total = sum(w for w, _ in steps)
            opts.update(steps=steps, p_min=max(pmin - lo, 0.0), p_max=min(pmax - lo, total))
            offset += o["offset"]
        else:
            a, b, c = o["a"], o["b"], o["c"]
            shift = min(pmin, 0.0)
            # C(P) with P = p' + shift, p' >= 0
            opts.update(a=a, b=b + 2 * a * shift, c=a * shift ** 2 + b * shift + c,
                        p_min=pmin - shift, p_max=pmax - shift)
            if generators == "fleet":
                fleet.append((f"gen_{g}", opts, shift))
                continue
        m.add_component(f"gen_{g}", Producer(**opts))
        getattr(m, f"gen_{g}").pmin_offset = min(pmin, 0.0) if o["steps"] is None else o["curve_start"]
    if fleet:
        from pyomo_ecc.participants.fleet import ProducerFleet
        table = pd.DataFrame([o for _, o, _ in fleet],
                             index=pd.Index([u for u, _, _ in fleet], name="unit"))
        m.gens = ProducerFleet(units=table)
        for (label, _, shift), unit in zip(fleet, m.gens.units()):
            unit.pmin_offset = shift
    for n in G.nodes:
        base = G.nodes[n]["load"]
        series = [base * f - fixed[n] for f in prof]
        if loads == "network":
            G.nodes[n]["load"] = series if nper > 1 else series[0]
        else:
            G.nodes[n]["load"] = 0.0
            if any(abs(v) > 0 for v in series):
                m.add_component(f"load_{n}", FixedLoad(bus=n, p=series if nper > 1 else series[0]))
    m.objective_offset = pyo.Expression(expr=offset * sum(m.dt[t] for t in m.T),
                                        doc="constant cost of piecewise-linear offers at their "
                                            "lowest output ($)")
    if offset != 0.0:
        m.add_cost(m.objective_offset)
    m.net = DCNetwork(graph=G, formulation=formulation, convention=convention,
                      line_limits=line_limits, slack=slack, allow_negative_x=True)
    return m

