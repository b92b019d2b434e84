"""The DC market models of the case library: seed 001 three-bus day and MATPOWER cases, run
through the CLI and checked against an independent LP."""
import io

import numpy as np
import pytest
from scipy.optimize import linprog

import pyomo_ecc as ecc
from pyomo_ecc.cli import run
from pyomo_ecc.errors import InputError
from pyomo_ecc.io.cases import load_case
from pyomo_ecc.pricing.components import lmp_components

pytestmark = pytest.mark.integration

# Seed 001, sec. 3.1 and Tables 1-2 (loads of hours 1 and 9, units: bus, MW, yuan/MWh)
UNITS = {"G1": (2, 360, 355), "G2": (1, 600, 301), "G3": (3, 1000, 256), "G4": (3, 390, 397),
         "G5": (2, 640, 299), "G6": (1, 1200, 216)}
LIMITS = {(1, 2): 600.0, (1, 3): 400.0, (2, 3): 500.0}


def scipy_three_bus(loads):
    """Independent DC-OPF of the three-bus system (equal reactances, as the case assumes):
    PTDF form with bus 1 as reference, solved by scipy's linprog; returns (cost, LMPs)."""
    names = list(UNITS)
    # PTDF for equal reactances, reference bus 1: rows 1-2, 1-3, 2-3; columns buses 1, 2, 3
    H = np.array([[0, -2 / 3, -1 / 3], [0, -1 / 3, -2 / 3], [0, 1 / 3, -1 / 3]])
    C = np.zeros((3, len(names)))
    for j, n in enumerate(names):
        C[UNITS[n][0] - 1, j] = 1
    L = np.asarray(loads)
    F = np.array(list(LIMITS.values()))
    A_ub = np.vstack([H @ C, -H @ C])
    b_ub = np.concatenate([F + H @ L, F - H @ L])
    r = linprog([UNITS[n][2] for n in names], A_ub=A_ub, b_ub=b_ub,
                A_eq=np.ones((1, len(names))), b_eq=[L.sum()],
                bounds=[(0, UNITS[n][1]) for n in names], method="highs")
    assert r.status == 0
    # scipy's marginals are d cost / d rhs; the rhs hold +H L (upper rows), -H L (lower rows)
    # and sum(L), so LMP_n = d cost / d L_n = lam + sum_l H_ln (mu_up_l - mu_lo_l)
    mu = r.ineqlin.marginals
    lam = r.eqlin.marginals[0]
    lmp = lam + H.T @ (mu[:3] - mu[3:])
    return r.fun, lmp


def test_seed001_runs_from_the_cli_and_prints_24_hour_lmps():
    out = io.StringIO()
    m = run("seed001_3bus", out=out)
    text = out.getvalue()
    assert "LMP [yuan/MWh] by period (rows) and bus (columns)" in text
    lmp = ecc.prices(m).lmp.unstack("bus")
    assert lmp.shape == (24, 3)
    case = load_case("seed001_3bus")
    loads = {b["id"]: b["load"] for b in case.data["bus"]}
    for k, t in enumerate(m.T):
        cost, want = scipy_three_bus([loads[1][k], loads[2][k], loads[3][k]])
        got = lmp.loc[t, [1, 2, 3]].to_numpy()
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=f"hour {t}")
    # hour 1: line 1-2 is full (G6 at bus 1 cannot reach bus 2): prices separate
    assert lmp.loc[1].tolist() == pytest.approx([216.0, 299.0, 256.0])
    flows = m.network.flows().p_flow
    assert flows.loc[("1-2", 1)] == pytest.approx(600.0)
    c = lmp_components(m)
    np.testing.assert_allclose(c.energy + c.congestion, c.lmp, atol=1e-6)


def test_seed001_total_cost_matches_independent_lp():
    case = load_case("seed001_3bus")
    m = case.build()
    res = ecc.solve(m)
    loads = {b["id"]: b["load"] for b in case.data["bus"]}
    var_cost = sum(scipy_three_bus([loads[1][k], loads[2][k], loads[3][k]])[0] for k in range(24))
    fixed = 24 * sum(p["c"] for p in case.data["producer"])  # fixed cost per hour, Table 2
    assert res.objective == pytest.approx(var_cost + fixed, rel=1e-9)


def test_matpower_case_runs_from_the_cli():
    out = io.StringIO()
    m = run("matpower_case5", out=out)
    assert "congestion component" in out.getvalue()
    assert ecc.solve(m).objective == pytest.approx(17479.897, abs=1e-3)  # MATPOWER rundcopf


def test_dc_market_case_errors(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[case]\nmodel = "dc_market"\n[network]\ntype = "dc"\n'
                 '[[bus]]\nid = 1\n[[line]]\nfrom = 1\nto = 2\nx = 0.1\n')
    with pytest.raises(InputError, match=r"\[\[line\]\] entry 0: 'to' bus 2 is not a \[\[bus\]\]"):
        load_case(str(p)).build()
    p.write_text('[case]\nmodel = "dc_market"\n[network]\ntype = "dc"\nspeed = 1\n')
    with pytest.raises(InputError, match=r"\[network\]: unknown key\(s\) \['speed'\]"):
        load_case(str(p)).build()


def test_dc_market_distributed_slack_weights_from_toml(tmp_path):
    # TOML table keys are strings: {1 = 1.0, ...} must reach the integer buses 1, 2, 3.
    # Three buses, equal reactances, 50 MW on 1-3, G1 10 $/MWh at bus 1, G3 30 $/MWh at bus 3,
    # 100 MW at bus 3: LMPs (10, 20, 30) (closed form in test_dc.py); with weights 1:1:2 the
    # energy component is the weighted mean (10 + 20 + 2 * 30) / 4 = 22.5
    p = tmp_path / "w.toml"
    p.write_text(
        '[case]\nmodel = "dc_market"\nperiods = 1\n'
        '[network]\ntype = "dc"\nslack = "distributed"\nslack_weights = {1 = 1.0, 2 = 1.0, 3 = 2.0}\n'
        '[[bus]]\nid = 1\n[[bus]]\nid = 2\n[[bus]]\nid = 3\nload = 100.0\n'
        '[[line]]\nfrom = 1\nto = 2\nx = 0.1\n[[line]]\nfrom = 2\nto = 3\nx = 0.1\n'
        '[[line]]\nfrom = 1\nto = 3\nx = 0.1\nrating = 50.0\n'
        '[[producer]]\nname = "G1"\nbus = 1\np_max = 200.0\nb = 10.0\n'
        '[[producer]]\nname = "G3"\nbus = 3\np_max = 200.0\nb = 30.0\n')
    m = load_case(str(p)).build()
    ecc.solve(m)
    assert m.network.slack_weights().to_dict() == pytest.approx({1: 0.25, 2: 0.25, 3: 0.5})
    c = lmp_components(m)
    assert c.lmp.tolist() == pytest.approx([10.0, 20.0, 30.0])
    assert c.energy.tolist() == pytest.approx([22.5] * 3)
