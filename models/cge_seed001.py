r"""Seed 001 CGE experiment (Table 5): an economy with an electricity sector and eight
emission-trading sectors, run for a baseline and for carbon prices of 55 and 1000 yuan/t with
sector caps at 92 % of base emissions; reports GDP, electricity use and emissions by sector.

The model is the STDCGE structure of :mod:`pyomo_ecc.cge` (Leontief intermediates, Cobb-Douglas
value added, Armington imports, CET exports, household, government, savings = investment, rest
of the world) plus :class:`~pyomo_ecc.cge.ets.EmissionTrading` on the eight ETS sectors, in
price mode with caps: each sector pays :math:`p^c_j = \bar p + \mu_j` per tonne, where
:math:`\bar p` is the given carbon price and :math:`\mu_j \ge 0` the premium that keeps its
emissions within its cap (0 when the cap is slack). Optionally the electricity producer price is
set from an electricity-market run (:class:`~pyomo_ecc.cge.ets.AdministeredPrice`).

**Data are synthetic, not the paper's** (the paper's 2018 input-output table and energy
statistics are not published with it):

* the SAM ``case_library/seed001_cge_sam.csv`` (trillion yuan) is made by
  :func:`make_synthetic_sam`: chosen output levels, cost and sales shares, tax, trade and
  saving rates, balanced by RAS; it is scaled so that GDP = 91.9 trillion yuan and electricity
  absorption = 6.45 trillion yuan (68.45e8 MWh at 942.29 yuan/MWh), the baseline inputs and
  outputs of the seed's Table 5;
* emission intensities (SYNTHETIC) are the seed's Table 5 baseline emissions (1e8 t) divided by
  the synthetic benchmark output of each sector, so the baseline reproduces that column.

Sectors: PAP paper, PET petrochemicals, CHE chemicals, BMT building materials, STL steel, NFM
non-ferrous metals, ELE power generation (the electricity sector), AVI aviation; OTH is the rest
of the economy (not covered).

Units: money in trillion yuan (1e12), emissions in 1e8 t, carbon prices in yuan/t
(``value_scale`` = 1e-4 trillion yuan per yuan/t x 1e8 t), electricity in 1e8 MWh.

Run: :func:`run_experiment` returns the table; :func:`cli` prints it
(``pyomo-ecc cge [CASE] [--electricity-price P|market]``). With ``electricity_price="market"``
the carbon scenarios take the electricity price from the seed-001 three-bus market model
(``[experiment.market]`` of the case: offers raised by the net carbon cost, average-LMP change
passed through to the CGE price).
"""
import sys

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc import cge
from pyomo_ecc.cge.ets import AdministeredPrice, EmissionTrading
from pyomo_ecc.errors import InputError

DEFAULT_CASE = "seed001_cge"
SECTOR_NAMES = {"PAP": "paper", "PET": "petrochemical", "CHE": "chemical", "BMT": "building materials",
                "STL": "steel", "NFM": "non-ferrous metals", "ELE": "power generation", "AVI": "aviation"}


# -- the synthetic SAM ----------------------------------------------------------------------------------
def _ras(prior, rows, cols, iters=5000):
    x = np.array(prior, dtype=float)
    for _ in range(iters):
        x *= (rows / x.sum(1))[:, None]
        x *= (cols / x.sum(0))[None, :]
    return x


def make_synthetic_sam(gdp=91.9, electricity_absorption=6.45):
    """The SYNTHETIC seed-001 SAM (trillion yuan), see the module documentation. Deterministic."""
    G = ["PAP", "PET", "CHE", "BMT", "STL", "NFM", "ELE", "AVI", "OTH"]
    Z = dict(PAP=1.6, PET=4.8, CHE=8.5, BMT=6.2, STL=8.4, NFM=5.6, ELE=6.3, AVI=0.9, OTH=150.0)
    tz = dict(PAP=.03, PET=.06, CHE=.03, BMT=.03, STL=.03, NFM=.03, ELE=.02, AVI=.03, OTH=.04)
    msh = dict(PAP=.10, PET=.25, CHE=.12, BMT=.02, STL=.04, NFM=.15, ELE=.005, AVI=.10, OTH=.095)
    esh = dict(PAP=.08, PET=.05, CHE=.10, BMT=.04, STL=.06, NFM=.06, ELE=.008, AVI=.15, OTH=.10)
    tm = dict(PAP=.04, PET=.03, CHE=.05, BMT=.04, STL=.03, NFM=.02, ELE=.01, AVI=.05, OTH=.03)
    s_int = dict(PAP=.80, PET=.85, CHE=.85, BMT=.75, STL=.90, NFM=.90, ELE=.88, AVI=.35, OTH=.45)
    c_int = dict(PAP=.75, PET=.80, CHE=.78, BMT=.72, STL=.80, NFM=.82, ELE=.70, AVI=.70)
    lsh = dict(PAP=.45, PET=.30, CHE=.40, BMT=.45, STL=.40, NFM=.40, ELE=.30, AVI=.45, OTH=.60)
    n = len(G)
    prior = np.full((n, n), 0.3)
    np.fill_diagonal(prior, 3.0)
    prior[:, G.index("OTH")] *= 3
    prior[G.index("OTH"), :] *= 3

    def build(z):
        Zs = pd.Series(z)[G]
        M, E = pd.Series(msh)[G] * Zs, pd.Series(esh)[G] * Zs
        Tz, Tm = pd.Series(tz)[G] * Zs, pd.Series(tm)[G] * M
        Q = Zs + Tz + M + Tm - E
        R = pd.Series(s_int)[G] * Q
        C = pd.Series({j: c_int.get(j, np.nan) * Zs[j] for j in G})
        C["OTH"] = R.sum() - C.drop("OTH").sum()
        X = pd.DataFrame(_ras(prior, R.values, C.values), index=G, columns=G)
        return Zs, M, E, Tz, Tm, Q, R, X, Zs - X.sum(0)

    z = dict(Z)
    for _ in range(6):      # OTH output for the GDP target (GDP is affine in it), ELE for its absorption
        g = []
        for zo in (100.0, 200.0):
            z["OTH"] = zo
            _, _, _, Tz, Tm, _, _, _, VA = build(z)
            g.append(VA.sum() + Tz.sum() + Tm.sum())
        z["OTH"] = 100.0 + (gdp - g[0]) * 100.0 / (g[1] - g[0])
        Zs, M, E, Tz, Tm, Q, R, X, VA = build(z)
        z["ELE"] *= electricity_absorption / Q["ELE"]
    LAB = pd.Series(lsh)[G] * VA
    CAP = VA - LAB
    FD = Q - R
    FF = VA.sum()
    Td = 0.07 * FF
    T = Tz.sum() + Tm.sum() + Td
    Sg, Sf = 0.12 * T, M.sum() - E.sum()
    Ct = 0.52 * FD.sum()
    Gt = T - Sg
    Sp = FF - Ct - Td
    It = Sp + Sg + Sf
    P = pd.DataFrame(1.0, index=G, columns=["HOH", "GOV", "INV"])
    P["GOV"] = 0.02
    P.loc["OTH", "GOV"] = 1.0
    P["INV"] = 0.3
    P.loc[["BMT", "STL", "OTH"], "INV"] = [1.5, 1.5, 0.8]
    P.loc["PAP", "HOH"] = 0.8
    Fm = _ras(P.values, FD.values, np.array([Ct, Gt, It]))
    acc = G + ["CAP", "LAB", "IDT", "TRF", "HOH", "GOV", "INV", "EXT"]
    S = pd.DataFrame(0.0, index=acc, columns=acc)
    S.loc[G, G] = X.values
    S.loc[G, ["HOH", "GOV", "INV"]] = Fm
    S.loc[G, "EXT"] = E.values
    S.loc["CAP", G], S.loc["LAB", G] = CAP.values, LAB.values
    S.loc["IDT", G], S.loc["TRF", G] = Tz.values, Tm.values
    S.loc["EXT", G] = M.values
    S.loc["HOH", ["CAP", "LAB"]] = [CAP.sum(), LAB.sum()]
    S.loc["GOV", ["IDT", "TRF", "HOH"]] = [Tz.sum(), Tm.sum(), Td]
    S.loc["INV", ["HOH", "GOV", "EXT"]] = [Sp, Sg, Sf]
    # close the balance exactly (RAS converges to ~1e-12): household consumption clears each
    # good's row, private saving the household's column; the investment account then balances
    S = S.round(12)
    for i in G:
        S.loc[i, "HOH"] += S[i].sum() - S.loc[i].sum()
    S.loc["INV", "HOH"] += S.loc["HOH"].sum() - S["HOH"].sum()
    S = S.round(12)
    roles = {g: "good" for g in G}
    roles.update(CAP="factor", LAB="factor", IDT="production_tax", TRF="import_tariff", HOH="household",
                 GOV="government", INV="investment", EXT="rest_of_world")
    return cge.SAM(S, roles, name="seed001_cge_sam")


def write_synthetic_sam(path):
    """Write :func:`make_synthetic_sam` as a case-library CSV (``account, role, ...``)."""
    sam = make_synthetic_sam()
    out = sam.table.copy()
    out.insert(0, "role", sam.roles)
    out.to_csv(path, float_format="%.12f")


# -- the model ----------------------------------------------------------------------------------------------
def _settings(case):
    data = case.data
    s, e = dict(data.get("sam", {})), dict(data.get("experiment", {}))
    for key in ("file",):
        if key not in s:
            raise InputError(f"case '{case.name}': [sam] needs '{key}'")
    for key in ("base_emissions", "value_scale", "cap_share", "carbon_prices", "electricity_good",
                "electricity_base_price"):
        if key not in e:
            raise InputError(f"case '{case.name}': [experiment] needs '{key}'")
    return s, e


def build_cge_seed001(case):
    """The seed-001 economy of ``case`` at its baseline (carbon price 0, caps not binding),
    assembled (``pyomo_ecc.solve(m, "ipopt")`` solves it), not yet solved. The ETS block is
    ``m.ets``; the electricity price block ``m.ele_price`` is
    released (price endogenous) until :func:`set_electricity_price` sets it."""
    s, e = _settings(case)
    sam = cge.SAM.from_csv(s["file"])
    m = cge.Economy(name=case.name, sam=sam, numeraire=s.get("numeraire", "cpi"))
    m.prod = cge.Production()
    m.arm = cge.Armington(sigma=s.get("armington_sigma", 2.0))
    m.cet = cge.Transformation(psi=s.get("cet_psi", 2.0))
    m.hoh = cge.Household()
    m.gov = cge.Government()
    m.inv = cge.Investment()
    m.row = cge.RestOfWorld()
    base = {k: float(v) for k, v in e["base_emissions"].items()}
    m.ets = EmissionTrading(base_emissions=base, mode="price", price=0.0,
                            cap={j: 1e6 * v for j, v in base.items()},
                            free_allocation=e.get("free_allocation", 0.0),
                            recycling=e.get("recycling", "government"), value_scale=float(e["value_scale"]))
    m.ele_price = AdministeredPrice(good=e["electricity_good"], ratio=1.0)
    release_electricity_price(m)
    m._seed001 = e
    return m.assemble()


def release_electricity_price(m):
    """Let the CGE determine the electricity price (the wedge is fixed at 0)."""
    m.ele_price.wedge.fix(0.0)
    m.ele_price.eq_price.deactivate()


def set_electricity_price(m, price):
    """Set the electricity producer price (yuan/MWh, e.g. from a market-model run) relative to
    the benchmark price of the case (``electricity_base_price``).

    With its price set, electricity output is whatever is demanded at that price, so the power
    sector's own cap cannot also be enforced (price, quantity and the split of the margin between
    carbon premium and price wedge would be over-determined): the power sector then pays the
    given carbon price only, its cap is lifted (:func:`set_scenario` after this call restores
    it, so call this one last)."""
    if not price > 0:
        raise InputError(f"electricity price must be positive, got {price!r}")
    g = m._seed001["electricity_good"]
    if g in m.ets.J:
        m.ets.cap[g] = 1e6 * pyo.value(m.ets.em0[g])
    m.ele_price.ratio = float(price) / float(m._seed001["electricity_base_price"])
    m.ele_price.wedge.unfix()
    m.ele_price.eq_price.activate()


def set_scenario(m, carbon_price, cap_share=None):
    """Carbon price (yuan/t) and caps as a share of base emissions (``None``: no binding caps)."""
    if carbon_price < 0:
        raise InputError(f"carbon price must be non-negative, got {carbon_price}")
    m.ets.price = float(carbon_price)
    for j in m.ets.J:
        base = pyo.value(m.ets.em0[j])
        m.ets.cap[j] = base * (1e6 if cap_share is None else float(cap_share))


def indicators(m):
    """GDP, electricity use and emissions of a solved seed-001 economy (a Series)."""
    e = m._seed001
    g = e["electricity_good"]
    mwh = 1e12 / float(e["electricity_base_price"]) / 1e8        # 1e8 MWh per trillion yuan
    rows = {"GDP (trillion yuan)": m.gdp(real=True),
            "electricity use (1e8 MWh)": pyo.value(m.arm.q[g]) * mwh,
            "total emissions (1e8 t)": sum(pyo.value(m.ets.em[j]) for j in m.ets.J)}
    for j in m.ets.J:
        rows[f"{SECTOR_NAMES.get(j, j)} emissions (1e8 t)"] = pyo.value(m.ets.em[j])
    for j in m.ets.J:
        p = pyo.value(m.ets.pco2[j])
        rows[f"{SECTOR_NAMES.get(j, j)} carbon price paid (yuan/t)"] = 0.0 if abs(p) < 1e-9 else p
    s = pd.Series(rows)
    s.index.name = "variable"
    return s


def run_experiment(case_name=DEFAULT_CASE, electricity_price=None, solver="ipopt"):
    """Table 5: baseline, carbon price 55 and 1000 yuan/t with caps at ``cap_share`` (92 %) of base
    emissions. ``electricity_price``: ``None`` (endogenous), yuan/MWh for the carbon scenarios
    (a number, or a dict scenario label -> price), or ``"market"``: from runs of the case's
    electricity-market model with the carbon cost in the offers (:func:`market_electricity_prices`).

    Returns a DataFrame indexed ``variable`` with one column per scenario.
    """
    from pyomo_ecc.io.cases import load_case
    case = load_case(case_name)
    if isinstance(electricity_price, str):
        if electricity_price != "market":
            raise InputError(f"electricity_price must be None, a number, a dict or 'market', got "
                             f"{electricity_price!r}")
        electricity_price = market_electricity_prices(case_name)
    m = build_cge_seed001(case)
    e = m._seed001
    cols = {}
    cge.solve(m, solver=solver)
    cols["baseline"] = indicators(m)
    for p in e["carbon_prices"]:
        label = f"carbon price {p:g}"
        set_scenario(m, p, e["cap_share"])
        price = electricity_price.get(label) if isinstance(electricity_price, dict) else electricity_price
        if price is None:
            release_electricity_price(m)
        else:
            set_electricity_price(m, price)
            label += f", electricity {price:g} yuan/MWh"
        cge.solve(m, solver=solver)
        cols[label] = indicators(m)
    df = pd.DataFrame(cols)
    df.columns.name = "scenario"
    return df


def electricity_price_from_market(model, weights=None):
    """Average LMP (currency/MWh) of a solved electricity market, weighted by ``weights``
    (a Series indexed (bus, t), e.g. loads) or unweighted."""
    from pyomo_ecc.pricing.prices import prices
    return _average_price(prices(model)["lmp"], weights)


def _average_price(lmp, weights):
    if weights is None:
        return float(lmp.mean())
    w = weights.reindex(lmp.index)
    if w.isna().any() or not (w >= 0).all() or w.sum() <= 0:
        raise InputError("electricity_price_from_market: weights must be non-negative, indexed like the "
                         "prices (bus, t) and not all zero")
    return float((lmp * w).sum() / w.sum())


def market_average_lmps(market_case, carbon_prices, intensity=None, allocation=None, solver="highs"):
    """Load-weighted average LMP of the electricity-market case ``market_case`` (a Case) at each
    carbon price, with every producer's offer raised by its net carbon cost per MWh,
    ``carbon_price * (intensity - allocation)`` (seed eq. 21); weights: the ``[[bus]]`` loads.
    The market is built once; each carbon price is a what-if on its offers
    (:mod:`pyomo_ecc.whatif`). Returns ``{carbon_price: average LMP}``."""
    from pyomo_ecc.whatif import SetParam, WhatIf
    intensity, allocation = intensity or {}, allocation or {}
    model = market_case.build()
    offers = {}
    for prod in market_case.data.get("producer", []):
        name = prod.get("name")
        if "b" not in prod:
            raise InputError(f"case '{market_case.name}': producer {name!r} has no linear cost 'b' to "
                             f"add the carbon cost to")
        net = float(intensity.get(name, 0.0)) - float(allocation.get(name, 0.0))
        offers[name] = (model.find_component(name).b, float(prod["b"]), net)
    engine = WhatIf(model, solver=solver)
    periods = market_case.meta.get("periods")
    weights = None
    if market_case.data.get("bus") and isinstance(periods, list):
        rows = {(b["id"], t): float(v) for b in market_case.data["bus"]
                for t, v in zip(periods, b.get("load", []))}
        weights = pd.Series(rows)
        weights.index.names = ["bus", "t"]
    out = {}
    for p in carbon_prices:
        res = engine.run([SetParam(prm, b + p * net) for prm, b, net in offers.values()], prices=["lmp"])
        if not res.ok:
            raise InputError(f"case '{market_case.name}' at carbon price {p}: {res.status} ({res.reason})")
        out[p] = _average_price(res.prices["lmp"], weights)
    return out


def market_average_lmp(market_case, carbon_price=0.0, intensity=None, allocation=None, solver="highs"):
    """:func:`market_average_lmps` at one carbon price."""
    return market_average_lmps(market_case, [carbon_price], intensity, allocation, solver)[carbon_price]


def market_electricity_prices(case_name=DEFAULT_CASE, solver="highs"):
    """Electricity price (yuan/MWh) of each carbon scenario of the CGE case from its market case
    (``[experiment.market]``): base price + (average LMP at the carbon price - average LMP at 0).
    Returns ``{scenario label: price}``."""
    from pyomo_ecc.io.cases import load_case
    case = load_case(case_name)
    e = case.data.get("experiment", {})
    mk = e.get("market")
    if not mk or "case" not in mk:
        raise InputError(f"case '{case.name}': no [experiment.market] table with a market 'case'")
    market_case = load_case(mk["case"])
    avg = market_average_lmps(market_case, [0.0] + list(e["carbon_prices"]), mk.get("intensity"),
                              mk.get("allocation"), solver)
    return {f"carbon price {p:g}": float(e["electricity_base_price"]) + avg[p] - avg[0.0]
            for p in e["carbon_prices"]}


def report_cge_seed001(m):
    """Tables for a solved seed-001 economy: indicators and the ETS table."""
    return {"seed 001 CGE indicators (synthetic data)": indicators(m).to_frame("value"),
            "ETS sectors": m.ets.table()}


def print_experiment(out=None, **kw):
    """Run :func:`run_experiment` and print the Table-5-like table."""
    out = sys.stdout if out is None else out
    df = run_experiment(**kw)
    out.write("Seed 001 CGE experiment (Table 5 layout; SYNTHETIC SAM and emission intensities, "
              "see pyomo_ecc.models.cge_seed001)\n")
    with pd.option_context("display.width", 200, "display.max_columns", 10, "display.max_rows", 60):
        out.write(df.round(3).to_string() + "\n")
    return df


def cli(argv=None, out=None):
    """``pyomo-ecc cge [CASE] [--electricity-price P] [--solver NAME]``: print the Table-5-like table."""
    out = sys.stdout if out is None else out
    import argparse
    p = argparse.ArgumentParser(prog="pyomo-ecc cge", description="seed 001 CGE experiment (Table 5)")
    p.add_argument("case", nargs="?", default=DEFAULT_CASE)
    p.add_argument("--electricity-price", default=None,
                   help="electricity price (yuan/MWh) in the carbon scenarios, or 'market' to take it "
                        "from the case's electricity-market model")
    p.add_argument("--solver", default="ipopt")
    a = p.parse_args(argv)
    price = a.electricity_price
    if price is not None and price != "market":
        try:
            price = float(price)
        except ValueError:
            raise InputError(f"--electricity-price: a number or 'market', got {price!r}") from None
    return print_experiment(out=out, case_name=a.case, electricity_price=price, solver=a.solver)
