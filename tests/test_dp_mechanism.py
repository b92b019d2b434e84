"""The exponential mechanism on pyomo_ecc markets: exact DP ratios, maximiser limit, closed forms,
payments (eq. 11 against Clarke VCG at epsilon = inf; Huang-Kannan against a two-outcome closed
form), truthfulness, event audit (with a broken mechanism as negative control), ledger, no
underflow and an untouched model."""
import itertools
import math

import numpy as np
import pytest
import pyomo.environ as pyo

import pyomo_ecc as ecc
from pyomo_ecc.mechanisms.exponential import ExponentialMechanism, evaluate, withdrawn
from pyomo_ecc.mechanisms.privacy import (PrivacyBudgetError, PrivacyLedger, PrivacySpec,
                                          Sensitivity, advanced_composition, event_audit)
from pyomo_ecc.errors import InputError
from pyomo_ecc.io.cases import load_case

pytestmark = pytest.mark.component


def line_market(L=10.0, u=3.0, b=1.0):
    """One producer (linear cost b) and one consumer (linear utility u), 0 <= p = d <= L:
    welfare (u - b) x on a segment."""
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=b, p_max=L)
    m.d = ecc.Consumer(bus="A", b=u, d_max=L)
    return m


def seed_market():
    return load_case("seed000_community").build()


def test_one_dimensional_closed_form_mean_and_log_partition():
    # density e^{k x} on [0, L] with k = beta (u - b): E[x] = L/(1 - e^{-kL}) - 1/k and
    # log(Z(beta)/Z(0)) = log(expm1(kL)/(kL))
    L, u, b = 10.0, 3.0, 1.0
    m = line_market(L, u, b)
    eps, delta = 0.6, 20.0                      # beta = 0.015, k = 0.03, kL = 0.3
    mech = ExponentialMechanism(m, eps, delta, mode="continuous", chains=16)
    k = mech.beta * (u - b)
    mean = L / (1 - math.exp(-k * L)) - 1 / k
    rng = np.random.default_rng(0)
    (mx,), (se,) = mech.expect([mech.quantity(m.g.p[0])], rng, n=8000)
    assert abs(mx - mean) < 5 * se
    lz, lz_se = mech.log_partition_ratio(rng, nodes=6, n=4000)
    assert abs(lz - math.log(math.expm1(k * L) / (k * L))) < 5 * lz_se + 1e-6
    # finite mode: the log-partition over the candidates is exact log-sum-exp
    fin = ExponentialMechanism(m, eps, delta, mode="finite", candidates=500, rng=rng)
    sw = fin.welfare(fin.candidates)
    assert fin.log_partition_ratio()[0] == pytest.approx(
        math.log(np.mean(np.exp(mech.beta * sw))), rel=1e-12)


def _corners(spec, name):
    prm = spec.bounds[name]
    keys = list(prm)
    for combo in itertools.product(*[prm[k] for k in keys]):
        yield dict(zip(keys, combo))


def _log_probs_at(mech, blk, values):
    saved = []
    for pname, val in values.items():
        comp = blk.component(pname)
        for k in comp:
            saved.append((comp[k], comp[k].value))
            comp[k].set_value(val)
    try:
        sw = evaluate(mech.current_welfare_parts(), mech.candidates)
    finally:
        for p, v in saved:
            p.set_value(v)
    return mech.log_probabilities(sw)


def test_exact_probabilities_on_neighbouring_profiles_within_e_eps():
    m = seed_market()
    spec = PrivacySpec.for_model(m, {"G1": {"a": (0.001, 0.003), "b": (0.005, 0.01)},
                                     "D6": {"b": (0.1, 0.2)}})
    eps = 1.0
    mech = ExponentialMechanism(m, eps, spec, mode="finite", candidates=400,
                                rng=np.random.default_rng(1))
    def worst(mech):
        out = 0.0
        for name in spec.bounds:
            blk = m.component(name)
            lps = [_log_probs_at(mech, blk, v) for v in _corners(spec, name)]
            for a, b in itertools.combinations(lps, 2):
                out = max(out, float(np.max(np.abs(a - b))))
        return out

    w = worst(mech)
    assert w <= eps + 1e-9
    assert w > 0.25 * eps               # the neighbours do move the distribution
    # negative control: the same mechanism with a quarter of the sensitivity breaks the bound
    broken = ExponentialMechanism(m, eps, Sensitivity(mech.sensitivity.delta / 4, "wrong"),
                                  mode="finite", candidates=400, rng=np.random.default_rng(1))
    assert worst(broken) > eps


def test_epsilon_inf_and_zero_sensitivity_give_the_maximiser():
    m = seed_market()
    ref = seed_market()
    ecc.solve(ref)
    best = np.array([ref.G1.p[0].value, ref.G2.p[0].value, ref.G3.p[0].value,
                     ref.D4.d[0].value, ref.D5.d[0].value, ref.D6.d[0].value])
    for mech in (ExponentialMechanism(m, math.inf, "seed"),
                 ExponentialMechanism(m, 1.0, 0.0)):
        d = mech.sample(3, np.random.default_rng(0))
        assert np.allclose(d.x, best[None, :], atol=1e-5)
    fin = ExponentialMechanism(m, math.inf, "seed", mode="finite", candidates=300,
                               rng=np.random.default_rng(2))
    sw = fin.welfare(fin.candidates)
    d = fin.sample(5, np.random.default_rng(3))
    assert np.allclose(d.frame["welfare"], sw.max())


def test_dp_vcg_at_epsilon_inf_equals_clarke_vcg():
    from pyomo_ecc.mechanisms.vcg import vcg_payments as clarke_payments
    m = seed_market()
    mech = ExponentialMechanism(m, math.inf, "seed")
    pay = mech.vcg_payments(np.random.default_rng(0))
    ref = seed_market()
    ecc.solve(ref)
    clarke = clarke_payments(ref)
    assert np.allclose(pay["payment"], clarke["payment"].loc[pay.index], atol=1e-6)
    assert np.allclose(pay["se"], 0.0)


def test_huang_kannan_two_outcome_closed_form_and_truthfulness():
    # two candidates x1, x2; with s = sw_{-i} + v_i the free-energy gap is
    # G = (log(e^{b s1} + e^{b s2}) - log(e^{b w1} + e^{b w2}))/b and p_i = E_pi[v_i] - G
    m = line_market(10.0, 3.0, 1.0)
    mech = ExponentialMechanism(m, 2.0, 5.0, mode="finite", candidates=2,
                                rng=np.random.default_rng(0))
    mech.candidates = np.array([[2.0, 2.0], [7.0, 7.0]])     # p = d on the segment
    beta = mech.beta
    v = np.array([-1.0 * 2, -1.0 * 7])          # producer g: v = -b p
    w = np.array([3.0 * 2, 3.0 * 7])            # the consumer's utility
    s = v + w
    pi1 = 1 / (1 + math.exp(beta * (s[1] - s[0])))
    G = (math.log(math.exp(beta * s[0]) + math.exp(beta * s[1]))
         - math.log(math.exp(beta * w[0]) + math.exp(beta * w[1]))) / beta
    pay = mech.hk_payments()
    assert pay.loc["g", "payment"] == pytest.approx(pi1 * v[0] + (1 - pi1) * v[1] - G, rel=1e-12)
    assert pay.loc["g", "utility"] == pytest.approx(G, rel=1e-12)
    # no profitable misreport: random reports of the producer's price
    rng = np.random.default_rng(1)
    mis = [{"b": float(x)} for x in rng.uniform(-5, 8, 25)]
    gains = mech.misreport_gain("g", mis, rule="hk")
    assert gains.attrs["max_gain"] <= 1e-10


def test_truthfulness_on_the_seed_community():
    m = seed_market()
    spec = PrivacySpec.relative(m, 0.5, 2.0, params=["a", "b"])
    mech = ExponentialMechanism(m, 1.0, spec, mode="finite", candidates=300,
                                rng=np.random.default_rng(4))
    rng = np.random.default_rng(5)
    for name in ("G1", "D4"):
        lo_hi = spec.bounds[name]
        mis = [{k: float(rng.uniform(*lo_hi[k])) for k in lo_hi} for _ in range(12)]
        hk = mech.misreport_gain(name, mis, rule="hk")
        assert hk.attrs["max_gain"] <= 1e-9
        vcg = mech.misreport_gain(name, mis, rule="vcg")
        # eq. 11 is only approximately truthful: any gain stays within tanh(eps/2) * range(sw)
        assert vcg.attrs["max_gain"] <= vcg.attrs["dp_bound"] + 1e-9


def test_event_audit_accepts_the_mechanism_and_rejects_a_broken_one():
    # producer price b private in [0, 1], 0 <= p <= 10: Delta = 10
    m = line_market(10.0, 3.0, 0.5)
    spec = PrivacySpec.for_model(m, {"g": {"b": (0.0, 1.0)}})
    eps = 1.0
    good = ExponentialMechanism(m, eps, spec, mode="finite", candidates=60,
                                rng=np.random.default_rng(6))
    assert good.sensitivity.delta == pytest.approx(10.0)
    broken = ExponentialMechanism(m, eps, Sensitivity(good.sensitivity.delta / 4, "wrong"),
                                  mode="finite", candidates=60, rng=np.random.default_rng(6))
    res = {}
    for label, mech in (("good", good), ("broken", broken)):
        def run(b_value, n, rng, mech=mech):
            m.g.b = b_value
            try:
                idx = mech.sample_indices(n, rng, mech.current_welfare_parts())
            finally:
                m.g.b = 0.5
            return mech.candidates[idx, 0]
        res[label] = event_audit(lambda n, r: run(0.0, n, r), lambda n, r: run(1.0, n, r), eps,
                                 np.random.default_rng(7), n_select=20000, n_test=100000)
    assert res["good"]["p_value"] > 1e-6, res["good"]
    assert res["broken"]["p_value"] < 1e-6, res["broken"]
    assert res["broken"]["epsilon_lower"] > eps


def test_no_underflow_at_welfare_one_million():
    m = line_market(10.0, 1e5 + 1.0, 1.0)          # welfare up to 1e6
    for mode in ("finite", "continuous"):
        mech = ExponentialMechanism(m, 10.0, 1.0, mode=mode, candidates=50,
                                    rng=np.random.default_rng(8))
        d = mech.sample(200, np.random.default_rng(9))
        assert np.all(np.isfinite(d.x))
        assert d.frame["welfare"].max() > 9e5
        if mode == "finite":
            lp = mech.log_probabilities()
            assert np.all(np.isfinite(lp) | (lp == -np.inf))
            assert math.isclose(np.exp(lp).sum(), 1.0, rel_tol=1e-12)
            sw = mech.welfare(mech.candidates)
            k = int(np.argmax(sw))
            j = int(np.argsort(sw)[-2])
            assert lp[k] - lp[j] == pytest.approx(mech.beta * (sw[k] - sw[j]), rel=1e-9)


def _state(model):
    vals = [(v.name, v.value, v.fixed) for v in model.component_data_objects(pyo.Var, descend_into=True)]
    prms = [(c[k].name, c[k].value) for c in model.component_objects(pyo.Param, descend_into=True)
            if c.mutable for k in c]
    act = [(b.name, b.active) for b in model.component_data_objects(pyo.Block, descend_into=True)]
    cons = [(c.name, c.active) for c in model.component_data_objects(pyo.Constraint, descend_into=True)]
    return vals, prms, act, cons


def test_model_identical_after_sampling_and_payments():
    m = seed_market()
    ecc.solve(m)
    before = _state(m)
    duals = {c.name: m.dual[c] for c in m.dual}
    for mode in ("finite", "continuous"):
        mech = ExponentialMechanism(m, 1.0, "seed", mode=mode, candidates=100,
                                    rng=np.random.default_rng(10))
        mech.sample(50, np.random.default_rng(11))
        mech.vcg_payments(np.random.default_rng(12), n=200, participants=["G1", "D6"])
        mech.maximiser()
        assert _state(m) == before
        assert {c.name: m.dual[c] for c in m.dual} == duals


def test_withdrawn_restores_and_sensitivity_closed_forms():
    m = seed_market()
    with withdrawn(m, m.G2):
        assert not m.G2.active and m.G2.p[0].fixed
    assert m.G2.active and not m.G2.p[0].fixed
    # G1's price b in [0.005, 0.01] and p1 <= 500 reachable: Delta = 0.005 * 500
    spec = PrivacySpec.for_model(m, {"G1": {"b": (0.005, 0.01)}})
    mech = ExponentialMechanism(m, 1.0, spec)
    assert mech.sensitivity.delta == pytest.approx(2.5, rel=1e-9)
    spec = PrivacySpec.for_model(m, {"G1": {"a": (0.001, 0.002)}})
    assert ExponentialMechanism(m, 1.0, spec).sensitivity.delta == pytest.approx(0.001 * 500**2)
    # seed normalisation: the widest valuation range is D6's, U(10) - U(500)
    U = lambda d: -0.0067 * d * d + 0.13 * d - 0.3     # noqa: E731
    seed = ExponentialMechanism(m, 1.0, "seed").sensitivity
    assert seed.delta == pytest.approx(U(10) - U(500), rel=1e-9)
    assert seed.data_dependent


def test_privacy_spec_refuses_bad_declarations():
    m = seed_market()
    with pytest.raises(InputError, match="unknown participant 'G9'"):
        PrivacySpec.for_model(m, {"G9": {"b": (0, 1)}})
    with pytest.raises(InputError, match="does not enter G1's bid_cost"):
        PrivacySpec.for_model(m, {"G1": {"p_max": (0, 600)}})
    with pytest.raises(InputError, match="outside its public range"):
        PrivacySpec.for_model(m, {"G1": {"b": (0.01, 0.02)}})


def test_ledger_composes_and_refuses_over_budget_release():
    led = PrivacyLedger(budget={"G1": 1.0, "D4": 3.0})
    led.charge("allocation", 0.4, ["G1", "D4"])
    led.charge("statistics", 0.5, ["G1", "D4"])
    assert led.spent().loc["G1", "epsilon"] == pytest.approx(0.9)
    with pytest.raises(PrivacyBudgetError, match=r"'G1' would spend epsilon = 1\.2 of its budget 1 \(over by 0\.2\)"):
        led.charge("more", 0.3, ["G1", "D4"])
    assert len(led.releases) == 2                       # a refused release is not recorded
    with pytest.raises(PrivacyBudgetError, match="over by inf"):
        led.charge("payments", math.inf, ["D4"])
    # advanced composition: 100 releases of 0.01 cost less than 1.0
    adv = PrivacyLedger(composition="advanced", delta_prime=1e-6)
    for _ in range(100):
        adv.charge("draw", 0.01, ["G1"])
    e = adv.spent().loc["G1", "epsilon"]
    assert e == pytest.approx(advanced_composition(0.01, 100, 1e-6)) and e < 1.0
    assert adv.spent().loc["G1", "delta"] == pytest.approx(1e-6)
    # the mechanism's release goes through the ledger
    m = seed_market()
    mech = ExponentialMechanism(m, 0.5, "seed", mode="finite", candidates=50,
                                rng=np.random.default_rng(0))
    led = PrivacyLedger(budget=1.0)
    mech.release(2, np.random.default_rng(1), led)
    with pytest.raises(PrivacyBudgetError, match="over by 0.5"):
        mech.release(1, np.random.default_rng(1), led)
    pay = mech.hk_payments()
    with pytest.raises(PrivacyBudgetError, match="would spend epsilon = inf"):
        mech.release_payments(pay, led)
    open_ledger = PrivacyLedger()                  # no budget: recorded, composed to inf
    mech.release_payments(pay, open_ledger)
    assert math.isinf(open_ledger.spent().loc["G1", "epsilon"])


def test_continuous_huang_kannan_and_eq11_match_one_dimensional_closed_forms():
    # segment 0 <= p = d <= L; producer g (v = -b x), consumer d (utility u x). With
    # Z(k) = expm1(k L)/k: F(sw) - F(sw_-g) = (log Z(beta (u - b)) - log Z(beta u))/beta and
    # E[x] = L/(1 - e^{-kL}) - 1/k; without g the feasible set is the point x = 0.
    L, u, b = 10.0, 3.0, 1.0
    m = line_market(L, u, b)
    mech = ExponentialMechanism(m, 0.6, 20.0, mode="continuous", chains=16)
    beta = mech.beta

    def logZ(k):
        return math.log(math.expm1(k * L) / k)

    def mean(k):
        return L / (1 - math.exp(-k * L)) - 1 / k
    k1 = beta * (u - b)
    gap = (logZ(k1) - logZ(beta * u)) / beta
    rng = np.random.default_rng(20)
    hk = mech.hk_payments(rng, n=4000, nodes=6, participants=["g"])
    assert abs(hk.loc["g", "free_energy_gap"] - gap) < 5 * hk.loc["g", "se"] + 1e-6
    assert abs(hk.loc["g", "payment"] - (-b * mean(k1) - gap)) < 5 * hk.loc["g", "se"] + 1e-6
    # eq. 11: J_g = E_{without g}[u x] - E[u x] = 0 - u E[x]
    vcg = mech.vcg_payments(rng, n=8000, participants=["g"])
    assert abs(vcg.loc["g", "payment"] + u * mean(k1)) < 5 * vcg.loc["g", "se"]


@pytest.mark.parametrize("mode", ["finite", "continuous"])
def test_mechanism_reproducible_bit_for_bit(mode):
    m = seed_market()

    def draw():
        mech = ExponentialMechanism(m, 10.0, "seed", mode=mode, candidates=200,
                                    rng=np.random.default_rng(30), chains=4)
        return mech.sample(100, np.random.default_rng(31)).x
    assert np.array_equal(draw(), draw())
