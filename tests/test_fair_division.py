"""Fair division of several divisible goods: fairpy's published examples, closed forms, envy,
and sharing a community's PV among prosumers."""
import numpy as np
import pandas as pd
import pytest

from pyomo_ecc.analysis.fair_division import allocate, envy, share_community
from pyomo_ecc.errors import InputError

from conftest import requires_ipopt

# fairpy (erelsgl/fairpy), fairpy/items/max_welfare.py doctests: valuations -> allocation matrix
FAIRPY = [
    ("utilitarian", [[3], [5]], [[0], [1]]),            # max_sum_allocation, single item
    ("utilitarian", [[3, 3], [1, 1]], [[1, 1], [0, 0]]),  # two identical items
    ("utilitarian", [[3, 2], [1, 4]], [[1, 0], [0, 1]]),  # two different items
    pytest.param("nash", [[3], [5]], [[0.5], [0.5]], marks=requires_ipopt),  # max_product_allocation
    pytest.param("nash", [[3, 2], [1, 4]], [[1, 0], [0, 1]], marks=requires_ipopt),
    ("leximin", [[3], [5]], [[0.625], [0.375]]),          # max_minimum_allocation
    ("leximin", [[4, 2], [1, 4]], [[1, 0], [0, 1]]),
    ("leximin", [[4, 2], [1, 3]], [[0.8, 0], [0.2, 1]]),
]


@pytest.mark.component
@pytest.mark.parametrize("objective, v, expected", FAIRPY)
def test_fairpy_max_welfare_examples(objective, v, expected):
    a = allocate(v, objective)
    assert a.x.to_numpy() == pytest.approx(np.array(expected, dtype=float), abs=1e-4)


@requires_ipopt
@pytest.mark.component
def test_fairpy_two_identical_items_utilities():
    # fairpy: max-product of [[3,3],[1,1]] gives each agent half of each item (utilities 3, 1);
    # the optimum's utilities are unique, the matrix is not
    assert allocate([[3, 3], [1, 1]], "nash").utilities.tolist() == pytest.approx([3, 1], abs=1e-5)
    # max-min: agent totals 0.5 and 1.5 (utilities 1.5, 1.5)
    a = allocate([[3, 3], [1, 1]], "leximin")
    assert a.x.sum(axis=1).tolist() == pytest.approx([0.5, 1.5], abs=1e-6)


@pytest.mark.component
def test_cvxpy_leximin_readme_example():
    # cvxpy_leximin README: Alice values (5, 3, 0, 0), George (2, 4, 9, 0) -> utilities (8, 9),
    # Alice gets resources 0 and 1
    a = allocate(pd.DataFrame([[5, 3, 0, 0], [2, 4, 9, 0]], index=["Alice", "George"]), "leximin")
    assert a.utilities.tolist() == pytest.approx([8, 9], abs=1e-5)
    assert a.x.loc["Alice"].iloc[:2].tolist() == pytest.approx([1, 1], abs=1e-5)


@pytest.mark.component
def test_closed_forms_single_good():
    v = [[2.0], [5.0], [10.0]]
    # utilitarian: all to the highest value
    assert allocate(v, "utilitarian").x["good0"].tolist() == pytest.approx([0, 0, 1])
    # leximin: equal utilities, x_i proportional to 1/v_i, U = 1 / sum(1/v_j)
    a = allocate(v, "leximin")
    u = 1 / (1 / 2 + 1 / 5 + 1 / 10)
    assert a.utilities.tolist() == pytest.approx([u, u, u], rel=1e-6)
    assert a.x["good0"].tolist() == pytest.approx([u / 2, u / 5, u / 10], rel=1e-6)


@requires_ipopt
@pytest.mark.component
def test_nash_closed_form_and_envy_freeness():
    # one good: Nash shares are the entitlements w_i / sum(w), whatever the values
    a = allocate([[2.0], [5.0], [10.0]], "nash", weights=[1, 2, 1])
    assert a.x["good0"].tolist() == pytest.approx([0.25, 0.5, 0.25], abs=1e-5)
    # equal-weight Nash = competitive equilibrium from equal incomes: envy-free (random cases)
    rng = np.random.default_rng(11)
    for _ in range(3):
        v = rng.uniform(0, 10, size=(3, 4))
        a = allocate(v, "nash")
        assert a.envy_free, a.envy
    # the utilitarian optimum of the same kind of instance usually is not
    assert not allocate([[3], [5]], "utilitarian").envy_free


@pytest.mark.unit
def test_envy_matrix_by_hand():
    E = envy([[4, 2], [1, 3]], np.array([[1.0, 0.0], [0.0, 1.0]]))
    # agent0: own 4, would get 2 from agent1's bundle -> -2; agent1: own 3, agent0's bundle 1
    assert E.to_numpy().tolist() == [[0, -2], [-2, 0]]
    assert E.attrs["envy_free"]
    E = envy([[4, 2], [1, 3]], np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert E.loc["agent0", "agent1"] == 2 and not E.attrs["envy_free"]


@pytest.mark.unit
def test_bad_input_names_the_item():
    with pytest.raises(InputError, match="agent 'agent1' values good 'good0'"):
        allocate([[1], [-2]], "utilitarian")
    with pytest.raises(InputError, match="unknown objective"):
        allocate([[1]], "rawlsian")


@pytest.mark.component
def test_sharing_community_pv_water_filling():
    # one hour of 10 kWh PV, demands 2, 5 and 8 kWh, every kWh worth the same (tariff - export
    # price = 0.2): leximin fills everyone up to a common level L with 2 + 2L = 10 -> 2, 4, 4
    demand = pd.DataFrame({"h12": [2.0, 5.0, 8.0]}, index=["a", "b", "c"])
    pv = pd.Series({"h12": 10.0})
    a = share_community(pv, demand, 0.2, objective="leximin")
    assert a.x["h12"].tolist() == pytest.approx([2, 4, 4], abs=1e-5)
    # utilitarian with different savings: the highest-tariff prosumers first, up to demand
    a = share_community(pv, demand, [0.1, 0.3, 0.2], objective="utilitarian")
    assert a.x["h12"].tolist() == pytest.approx([0, 5, 5], abs=1e-9)
    # two hours, surplus PV in the second one is left over (exported)
    demand = pd.DataFrame({"h12": [2.0, 5.0, 8.0], "h13": [1.0, 1.0, 1.0]}, index=["a", "b", "c"])
    a = share_community(pd.Series({"h12": 10.0, "h13": 6.0}), demand, 0.2, objective="leximin")
    assert a.x["h13"].tolist() == pytest.approx([1, 1, 1], abs=1e-6)


@requires_ipopt
@pytest.mark.component
def test_sharing_community_pv_nash_equals_water_filling():
    demand = pd.DataFrame({"h12": [2.0, 5.0, 8.0]}, index=["a", "b", "c"])
    a = share_community(pd.Series({"h12": 10.0}), demand, 0.2, objective="nash")
    assert a.x["h12"].tolist() == pytest.approx([2, 4, 4], abs=1e-4)
