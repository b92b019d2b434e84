r"""Seed 000 study: the differentially private electricity-carbon-certificate market.

Peng & Han (2025), "Design of Electricity-Carbon-Certificate Coupled Market Mechanism under
Privacy Protection": the operator clears with the exponential mechanism
:math:`\Pr(r) \propto \exp(\varepsilon\,\mathrm{sw}(r)/(2\Delta))` over the feasible set (eqs. 3,
9) and charges :math:`J_i = \mathrm{sw}_{-i}(D_{-i}) - \mathrm{sw}_{-i}(D)` (eq. 11). This module
reproduces the paper's case study on the library's seed 000 cases (``seed000_community``:
Tables 1-2 on a copper plate; ``seed000_coupled``: the same with the carbon cap and the
certificate constraint, eqs. 6-8) with :class:`~pyomo_ecc.mechanisms.exponential.ExponentialMechanism`,
and writes (``pyomo-ecc dp --out DIR``):

=======================================  =======================================================
file                                     content
=======================================  =======================================================
``fig2_welfare_CASE.png``                welfare distribution for ε = 0.1, 0.5, 1, 10, 100 (Fig. 2)
``welfare_CASE.csv``                     its mean, sd and quantiles; finite and continuous mode
``table3_payments_CASE.csv``             eq. 11 payments for ε = 0.1, 0.5, 1 with standard errors
                                         (Table 3 layout), Huang-Kannan payments, plain VCG, and
                                         the paper's Table 3
``fig3_emissions_vs_renewables_CASE``    released outcomes at ε = 0.1 (Fig. 3)
``fig4_emissions_eps0.1_CASE.png``,      emission distributions at ε = 0.1 and 100 (Figs. 4-5)
``fig5_emissions_eps100_CASE.png``
``emissions_CASE.csv``                   emission mean and sd per ε
``truthfulness_CASE.csv``                largest misreport gain under eq. 11 and Huang-Kannan, with
                                         eq. 12's bound and the DP bound
``verdict.csv``                          each number of the paper, ours, and whether it is
                                         reproduced (and why not)
``ledger.csv``                           the privacy ledger of the released outcomes
=======================================  =======================================================

**Assumptions (the paper leaves these open):**

1. *Outcome space.* "Samples drawn at random from the feasible set" (§4.2): the finite mode,
   :math:`K` candidates uniform on the feasible polytope (default :math:`K = 20000`; the
   paper gives no number), one candidate set shared by every ε of a case. The continuous mode
   (hit-and-run on the polytope itself) is reported beside it as a cross-check.
2. *Normalisation, Δ = 1.* The paper scales valuations to [0, 1] without saying how. We divide
   every valuation by one common scale :math:`S`, the largest range of one participant's
   valuation over the feasible set (D6's: 1610.63 yuan on the community), so that each spans at
   most 1 and Δ = 1 in normalised units, i.e. :math:`\beta = \varepsilon/(2S)` per yuan. A
   common scale keeps the welfare maximiser (scaling each valuation by its own range would not).
   :math:`S` comes from the reported coefficients, so the guarantee is with respect to the
   normalised valuations, as in the paper.
3. *Welfare.* Fig. 2 is drawn in yuan (not normalised), from the exact selection probabilities.
4. *Payments.* Eq. 11 with expectations under the mechanism: "without i" is the same mechanism
   (same ε and Δ) on the market with i's variables fixed to 0, its own candidate set drawn
   uniformly from that feasible set; :math:`\mathrm{sw}_{-i}` includes policy costs.
5. *Emissions and renewables.* The community has no emission data: the coupled case's
   assumptions are used for both cases (G1 coal 0.89 t/MWh, G2 gas 0.39 t/MWh, G3 renewable;
   see ``case_library/seed000_coupled.toml``), without a cap on the community and with the
   coupled case's cap (15 t) on the coupled market. One period of one hour.
6. *Fig. 3* shows released outcomes: ``draws`` Gumbel-max selections at ε = 0.1, recorded in the
   ledger (each costs ε; they are a study of the mechanism, not one market's release). The
   payments are recorded too, with ε = ∞: computed from the reports, they are not private
   (the paper's eq. 10 asks for private payments; neither eq. 11 nor Huang-Kannan gives that).

**Reproduction verdict** (``verdict.csv``, computed each run). Shapes reproduce: at ε = 0.1 the
mechanism is almost uniform over the candidates and concentrates on high welfare as ε grows
(Fig. 2); emissions fall as renewable output rises (Fig. 3); the emission distribution is wide
at ε = 0.1 and concentrated at low emissions at ε = 100 (Figs. 4-5). The numbers do not: the
emission mean and sd at ε = 0.1 (181.10 t, 105.24 t) depend on emission factors the paper does
not give. Table 3 is not reproducible by plain VCG *at any scale*: VCG payments are homogeneous
of degree one in the valuations, so a change of money unit multiplies them all by one factor,
and the best such factor leaves most of Table 3 unexplained (``table3_scale_fit`` rows: the
pattern of Table 3, e.g. D6 paying about as much as D4 while D6 sits at its minimum demand, is
not the pattern of VCG on Tables 1-2). Eq. 11 under the near-uniform mechanism of ε ≤ 1 gives
payments in the hundreds of yuan on the community that move little with ε (about 11 % from
ε = 0.1 to 1, Table 3's 0.6 %), but with the producers *paying*: random outcomes that include a
producer serve more demand at a loss, so its presence lowers the others' expected welfare. On
the coupled market (whose cap leaves a small feasible set) every payment is below one yuan.
"""
import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pyomo_ecc.io.cases import load_case
from pyomo_ecc.mechanisms.exponential import ExponentialMechanism, evaluate
from pyomo_ecc.mechanisms.privacy import PrivacyLedger

CASES = ("seed000_community", "seed000_coupled")
EPS_FIG2 = (0.1, 0.5, 1.0, 10.0, 100.0)
EPS_TABLE3 = (0.1, 0.5, 1.0)
#: the paper's Table 3 (yuan; negative: the participant receives)
PAPER_TABLE3 = pd.DataFrame(
    {"G1": [-3230.6, -3222.4, -3226.8], "G2": [-3301.1, -3299.6, -3292.1],
     "G3": [-1842.2, -1840.1, -1838.6], "D4": [2925.6, 2922.3, 2921.6],
     "D5": [2399.6, 2392.0, 2385.1], "D6": [2566.5, 2563.3, 2564.3]},
    index=pd.Index(EPS_TABLE3, name="epsilon"))
PAPER_EMISSIONS = {"mean": 181.10, "sd": 105.24}        # Fig. 4, epsilon = 0.1
#: assumed emission factors (t/MWh) and renewable units (case_library/seed000_coupled.toml)
EMISSION_FACTORS = {"G1": 0.89, "G2": 0.39}
RENEWABLE = ("G3",)


def _tqdm(it, **kw):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return it
    return tqdm(it, **kw)


def _stats(values, w):
    mu = float(w @ values)
    sd = float(np.sqrt(max(w @ (values - mu) ** 2, 0.0)))
    order = np.argsort(values)
    cw = np.cumsum(w[order])
    q = [float(values[order][min(np.searchsorted(cw, p), values.size - 1)]) for p in (0.05, 0.5, 0.95)]
    return mu, sd, q


def _quantities(model, mech):
    em = mech.quantity(sum(f * model.component(g).p[t] for g, f in EMISSION_FACTORS.items()
                           for t in model.T))
    ren = mech.quantity(sum(model.component(g).p[t] for g in RENEWABLE for t in model.T))
    return em, ren


def scale_fit(computed, paper):
    r"""Best common factor :math:`k^\star = \arg\min_k \|k J - T\|` and the relative residual
    :math:`\|k^\star J - T\| / \|T\|` (1 means the pattern of J explains nothing of T)."""
    J = np.asarray(computed, float)
    T = np.asarray(paper, float)
    k = float(J @ T / (J @ J)) if J @ J > 0 else 0.0
    return k, float(np.linalg.norm(k * J - T) / np.linalg.norm(T))


def study_case(case_name, candidates=20000, draws=2000, seed=0, continuous=True, n_mcmc=4000,
               ledger=None, progress=True, misreports=10):
    """Everything of one case (module doc) as frames, with the candidate set and weights."""
    from pyomo_ecc.mechanisms.vcg import vcg_payments as clarke_payments
    from pyomo_ecc.solvers import solve

    rng = np.random.default_rng(seed)
    model = load_case(case_name).build()
    base = ExponentialMechanism(model, EPS_FIG2[0], "seed", mode="finite", candidates=candidates,
                                rng=rng)
    X = base.candidates
    sens = base.sensitivity
    sw = base.welfare(X)
    em_parts, ren_parts = _quantities(model, base)
    em, ren = evaluate(em_parts, X), evaluate(ren_parts, X)
    mechs = {e: ExponentialMechanism(model, e, sens, mode="finite", candidates=X) for e in EPS_FIG2}
    weights = {e: np.exp(m.log_probabilities()) for e, m in mechs.items()}
    rows, erows = [], []
    for e in EPS_FIG2:
        mu, sd, q = _stats(sw, weights[e])
        rows.append((e, "finite", mu, sd, *q, float(weights[e].max())))
        emu, esd, _ = _stats(em, weights[e])
        erows.append((e, "finite", emu, esd, float(weights[e] @ ren)))
    if continuous:
        for e in _tqdm(EPS_FIG2, desc=f"{case_name}: continuous mode", disable=not progress):
            mc = ExponentialMechanism(model, e, sens, mode="continuous", chains=8)
            d = mc.sample(n_mcmc, np.random.default_rng(seed + 1))
            w = np.full(len(d.x), 1.0 / len(d.x))
            v = d.frame["welfare"].to_numpy()
            mu, sd, q = _stats(v, w)
            rows.append((e, "continuous", mu, sd, *q, float(d.diagnostics["rhat"].max())))
            ev = evaluate(em_parts, d.x)
            erows.append((e, "continuous", float(ev.mean()), float(ev.std()),
                          float(evaluate(ren_parts, d.x).mean())))
    welfare = pd.DataFrame(rows, columns=["epsilon", "mode", "mean", "sd", "p05", "median", "p95",
                                          "max_probability_or_rhat"]).set_index(["epsilon", "mode"])
    emissions = pd.DataFrame(erows, columns=["epsilon", "mode", "emissions_mean", "emissions_sd",
                                             "renewables_mean"]).set_index(["epsilon", "mode"])
    # Table 3: eq. 11, Huang-Kannan, plain VCG
    pay_rows = []
    for e in _tqdm(EPS_TABLE3, desc=f"{case_name}: payments", disable=not progress):
        m = ExponentialMechanism(model, e, sens, mode="finite", candidates=X)
        v = m.vcg_payments(np.random.default_rng(seed + 2))
        hk = m.hk_payments()
        if ledger is not None:      # payments are functions of the reports: epsilon = inf
            m.release_payments(v, ledger, what=f"{case_name}: eq. 11 payments, eps = {e:g}")
            m.release_payments(hk, ledger, what=f"{case_name}: Huang-Kannan payments, eps = {e:g}")
        for name in v.index:
            pay_rows.append((e, name, v.loc[name, "payment"], v.loc[name, "se"],
                             hk.loc[name, "payment"], PAPER_TABLE3.loc[e, name]
                             if name in PAPER_TABLE3.columns else np.nan))
    table3 = pd.DataFrame(pay_rows, columns=["epsilon", "participant", "dp_vcg_eq11", "se_eq11",
                                             "huang_kannan", "paper_table3"]).set_index(
        ["epsilon", "participant"])
    # approximate truthfulness (eq. 12): misreports of (a, b) by factors in [0.5, 2]
    tr_rows = []
    mis_rng = np.random.default_rng(seed + 4)
    for e in EPS_TABLE3:
        m = ExponentialMechanism(model, e, sens, mode="finite", candidates=X)
        for name in PAPER_TABLE3.columns:
            blk = model.component(name)
            mis = [{p: float(blk.component(p).value * mis_rng.uniform(0.5, 2.0)) for p in ("a", "b")}
                   for _ in range(misreports)]
            for rule in ("vcg", "hk"):
                g = m.misreport_gain(name, mis, rule=rule)
                tr_rows.append((e, name, rule, g.attrs["max_gain"], g.attrs["eq12_bound"],
                                g.attrs["dp_bound"]))
    truth = pd.DataFrame(tr_rows, columns=["epsilon", "participant", "rule", "max_gain",
                                           "eq12_bound", "dp_bound"]).set_index(
        ["epsilon", "participant", "rule"])
    ref = load_case(case_name).build()
    solve(ref)
    vcg = clarke_payments(ref)["payment"]
    table3 = table3.join(vcg.rename("plain_vcg"), on="participant")
    # released outcomes at eps = 0.1 (Fig. 3), charged to the ledger
    if ledger is not None:
        mechs[0.1].release(draws, np.random.default_rng(seed + 3), ledger,
                           what=f"{case_name}: Fig. 3 outcomes")
        ledger.releases[-1].content += " (study of the mechanism)"
    idx = mechs[0.1].sample_indices(draws, np.random.default_rng(seed + 3))
    released = pd.DataFrame({"emissions": em[idx], "renewables": ren[idx], "welfare": sw[idx]},
                            index=pd.RangeIndex(draws, name="draw"))
    return {"model": model, "candidates": X, "welfare_values": sw, "weights": weights,
            "emission_values": em, "renewable_values": ren, "welfare": welfare,
            "emissions": emissions, "table3": table3, "released": released, "truthfulness": truth,
            "sensitivity": sens, "statement": base.statement()}


def verdict(results):
    """One row per number of the paper: ours, and whether (and why not) it is reproduced."""
    rows = []
    for case, r in results.items():
        w = r["welfare"].xs("finite", level="mode")
        uniform = 1.0 / len(r["candidates"])
        rows.append((case, "Fig. 2: near-uniform at eps = 0.1",
                     "almost uniform", f"max probability {w.loc[0.1, 'max_probability_or_rhat']:.3g} "
                     f"vs uniform {uniform:.3g}",
                     "yes" if w.loc[0.1, "max_probability_or_rhat"] < 2 * uniform else "no",
                     "shape of the distribution (the paper's welfare axis has no stated unit)"))
        rows.append((case, "Fig. 2: welfare rises with eps", "rises",
                     ", ".join(f"{e:g}: {w.loc[e, 'mean']:.4g}" for e in EPS_FIG2),
                     "yes" if np.all(np.diff(w["mean"].to_numpy()) > 0) else "no", ""))
        rel = r["released"]
        corr = float(np.corrcoef(rel["emissions"], rel["renewables"])[0, 1])
        rows.append((case, "Fig. 3: emissions fall as renewables rise (eps = 0.1)", "negative",
                     f"correlation {corr:.3f}", "yes" if corr < 0 else "no",
                     "assumed emission factors and renewable unit"))
        em = r["emissions"].xs("finite", level="mode")
        for key, col in (("mean", "emissions_mean"), ("sd", "emissions_sd")):
            ours = float(em.loc[0.1, col])
            rows.append((case, f"Fig. 4: emission {key} at eps = 0.1 (t)", PAPER_EMISSIONS[key],
                         f"{ours:.2f}", "no" if abs(ours / PAPER_EMISSIONS[key] - 1) > 0.05 else "yes",
                         "depends on emission factors, the thermal/renewable split and caps the "
                         "paper does not give (ours: case_library/seed000_coupled.toml)"))
        rows.append((case, "Figs. 4-5: lower, narrower emissions at eps = 100", "lower and narrower",
                     f"mean {em.loc[0.1, 'emissions_mean']:.2f} -> {em.loc[100.0, 'emissions_mean']:.2f} t,"
                     f" sd {em.loc[0.1, 'emissions_sd']:.2f} -> {em.loc[100.0, 'emissions_sd']:.2f} t",
                     "yes" if em.loc[100.0, "emissions_sd"] < em.loc[0.1, "emissions_sd"]
                     and em.loc[100.0, "emissions_mean"] < em.loc[0.1, "emissions_mean"] else "no",
                     "with the coupled case's binding 15 t cap the emission range is narrow"))
        t3 = r["table3"]
        for e in EPS_TABLE3:
            sub = t3.xs(e, level="epsilon").loc[list(PAPER_TABLE3.columns)]
            for label, col in (("plain VCG", "plain_vcg"), ("eq. 11", "dp_vcg_eq11")):
                k, res = scale_fit(sub[col], sub["paper_table3"])
                rows.append((case, f"Table 3 at eps = {e:g} by {label}, best common scale",
                             "Table 3", f"scale {k:.4g}, relative residual {res:.2f}",
                             "yes" if res < 0.05 else "no",
                             "VCG payments scale with the money unit as one factor; the residual "
                             "is what no factor explains" if label == "plain VCG" else
                             "eq. 11 under a near-uniform mechanism: producers pay (their random "
                             "outcomes lower the others' expected welfare)"))
        ratio = t3.xs(EPS_TABLE3[0], level="epsilon")["dp_vcg_eq11"]
        last = t3.xs(EPS_TABLE3[-1], level="epsilon")["dp_vcg_eq11"]
        change = float(np.max(np.abs(last - ratio) / np.maximum(np.abs(ratio), 1e-12)))
        paper = PAPER_TABLE3.to_numpy()
        paper_change = float(np.max(np.abs(paper[-1] - paper[0]) / np.abs(paper[0])))
        rows.append((case, "Table 3: payments barely change for eps in [0.1, 1]",
                     f"largest relative change {paper_change:.1%}",
                     f"largest relative change {change:.1%}",
                     "yes" if change < 2 * paper_change else "no",
                     "the same direction: eps <= 1 is nearly uniform under Delta = S"))
    return pd.DataFrame(rows, columns=["case", "item", "paper", "ours", "reproduced",
                                       "note"]).set_index(["case", "item"])


def write_figures(results, out):
    import matplotlib
    matplotlib.use("Agg")   # files, no window
    import matplotlib.pyplot as plt
    from pyomo_ecc.mechanisms import dp_plots
    files = []
    for case, r in results.items():
        ax = dp_plots.welfare_distribution(r["welfare_values"], r["weights"], unit="(yuan)")
        ax.set_title(f"Fig. 2 - welfare distribution ({case})")
        files.append(out / f"fig2_welfare_{case}.png")
        ax.figure.savefig(files[-1], dpi=110, bbox_inches="tight")
        plt.close(ax.figure)
        rel = r["released"]
        ax = dp_plots.emissions_vs_renewables(rel["emissions"], rel["renewables"])
        ax.set_title(f"Fig. 3 - released outcomes at ε = 0.1 ({case})")
        files.append(out / f"fig3_emissions_vs_renewables_{case}.png")
        ax.figure.savefig(files[-1], dpi=110, bbox_inches="tight")
        plt.close(ax.figure)
        for fig, e in (("fig4", 0.1), ("fig5", 100.0)):
            ax = dp_plots.emission_histogram(r["emission_values"], r["weights"][e],
                                             title=f"Fig. {fig[-1]} - emissions at ε = {e:g} ({case})")
            files.append(out / f"{fig}_emissions_eps{e:g}_{case}.png")
            ax.figure.savefig(files[-1], dpi=110, bbox_inches="tight")
            plt.close(ax.figure)
        t3 = r["table3"]["dp_vcg_eq11"].unstack("epsilon")
        t3.columns = [f"ε = {c:g}" for c in t3.columns]
        ax = dp_plots.payments_by_epsilon(t3.loc[list(PAPER_TABLE3.columns)], unit="(yuan)")
        ax.set_title(f"Eq. 11 payments ({case})")
        files.append(out / f"table3_payments_{case}.png")
        ax.figure.savefig(files[-1], dpi=110, bbox_inches="tight")
        plt.close(ax.figure)
    return files


def run(out_dir=None, cases=CASES, candidates=20000, draws=2000, seed=0, continuous=True,
        figures=True, out=None, progress=True):
    """Run the study (module doc); print the tables; with ``out_dir`` write files. Returns
    ``(results, verdict_frame, ledger)``."""
    out = sys.stdout if out is None else out
    ledger = PrivacyLedger()
    results = {c: study_case(c, candidates, draws, seed, continuous, ledger=ledger,
                             progress=progress) for c in cases}
    ver = verdict(results)

    def show(title, df):
        out.write(f"\n{title}\n")
        with pd.option_context("display.max_rows", 200, "display.max_columns", 20,
                               "display.width", 200, "display.max_colwidth", 70):
            out.write(df.to_string() + "\n")

    for case, r in results.items():
        out.write(f"\n== {case} ==\n{r['statement']}\n")
        show("welfare distribution (yuan) by epsilon (Fig. 2)", r["welfare"])
        show("emissions (t) and renewable output (MWh) by epsilon (Figs. 3-5)", r["emissions"])
        show("payments (yuan; negative: receives) - Table 3 layout", r["table3"].round(4))
        show("approximate truthfulness: largest gain of a misreport of (a, b) by factors in "
             "[0.5, 2], beside eq. 12's bound (eps * Delta, yuan) and the DP bound "
             "tanh(eps/2) * range(sw)", r["truthfulness"])
    show("reproduction verdict", ver)
    show("privacy ledger (composed per participant)", ledger.spent())
    if out_dir is not None:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        for case, r in results.items():
            r["welfare"].to_csv(d / f"welfare_{case}.csv")
            r["emissions"].to_csv(d / f"emissions_{case}.csv")
            r["table3"].to_csv(d / f"table3_payments_{case}.csv")
            r["truthfulness"].to_csv(d / f"truthfulness_{case}.csv")
            r["released"].to_csv(d / f"released_eps0.1_{case}.csv")
        ver.to_csv(d / "verdict.csv")
        ledger.frame().to_csv(d / "ledger.csv")
        files = write_figures(results, d) if figures else []
        out.write(f"\nwrote tables and {len(files)} figures to {d}\n")
    return results, ver, ledger


def cli(argv=None):
    p = argparse.ArgumentParser(prog="pyomo-ecc dp", description="seed 000 DP market study")
    p.add_argument("--out", default=None, help="directory for the figures and tables")
    p.add_argument("--candidates", type=int, default=20000, help="finite-mode candidates K")
    p.add_argument("--draws", type=int, default=2000, help="released outcomes for Fig. 3")
    p.add_argument("--seed", type=int, default=0, help="seed of numpy's default_rng")
    p.add_argument("--case", action="append", choices=CASES, help="only this case (repeatable)")
    p.add_argument("--no-continuous", action="store_true", help="skip the continuous-mode cross-check")
    a = p.parse_args(argv)
    run(a.out, tuple(a.case) if a.case else CASES, a.candidates, a.draws, a.seed,
        not a.no_continuous)
    return 0
