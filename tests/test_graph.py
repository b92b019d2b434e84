"""networkx graphs -> bus / branch tables, and their validation errors."""
import math

import networkx as nx
import numpy as np
import pytest

from pyomo_ecc.errors import InputError
from pyomo_ecc.network.graph import (check_islands, graph_to_tables, incidence, islands,
                                     reference_buses, tables_to_graph)

pytestmark = pytest.mark.unit


def triangle(cls=nx.Graph):
    G = cls()
    G.add_node(1, ref=True)
    G.add_node(2, load=50.0)
    G.add_node(3, load=[10.0, 20.0])
    G.add_edge(1, 2, x=0.1, r=0.01, rating=100)
    G.add_edge(2, 3, x=0.2)
    G.add_edge(1, 3, x=0.3, tap=0, shift=5.0, rating=0)
    return G


def test_tables_defaults_and_conventions():
    buses, branches = graph_to_tables(triangle())
    assert list(buses.index) == [1, 2, 3] and buses.index.name == "bus"
    assert buses.at[2, "load"] == 50.0 and buses.at[3, "load"] == (10.0, 20.0)
    assert buses["ref"].tolist() == [True, False, False]
    assert list(branches.index) == ["1-2", "1-3", "2-3"]
    assert branches.at["1-2", "r"] == 0.01 and branches.at["2-3", "r"] == 0.0  # default r
    assert branches.at["1-3", "tap"] == 1.0  # MATPOWER: tap 0 means 1
    assert branches.at["1-3", "shift"] == 5.0
    assert math.isinf(branches.at["1-3", "rating"]) and math.isinf(branches.at["2-3", "rating"])
    assert branches.at["1-2", "rating"] == 100.0
    assert buses.attrs["base_mva"] == 100.0


def test_digraph_direction_and_extra_attributes():
    G = nx.DiGraph(base_mva=10.0)
    G.add_edge("b", "a", x=0.5, circuit="north", rating=7)
    G.nodes["a"]["zone"] = "Z1"
    buses, branches = graph_to_tables(G)
    assert (branches.iloc[0]["from_bus"], branches.iloc[0]["to_bus"]) == ("b", "a")
    assert branches.iloc[0]["circuit"] == "north"
    assert buses.at["a", "zone"] == "Z1"
    assert buses.attrs["base_mva"] == 10.0


@pytest.mark.parametrize("cls", [nx.MultiGraph, nx.MultiDiGraph])
def test_parallel_lines_are_separate_branches(cls):
    G = cls()
    G.add_edge(1, 2, x=0.1, rating=40)
    G.add_edge(1, 2, x=0.2, rating=30)
    G.add_edge(1, 2, x=0.4, name="third")
    _, branches = graph_to_tables(G)
    assert list(branches.index) == ["1-2-0", "1-2-1", "third"]
    assert branches["key"].tolist() == [0, 1, 2]
    assert branches["x"].tolist() == [0.1, 0.2, 0.4]


def test_missing_reactance_names_the_edge():
    G = nx.MultiGraph()
    G.add_edge("A", "B", x=0.1)
    G.add_edge("A", "B", r=0.1)
    msg = r"edge \('A', 'B', key=1\): missing required attribute\(s\) \['x'\]"
    with pytest.raises(InputError, match=msg):
        graph_to_tables(G)
    # a formulation may require more attributes (LinDistFlow: r and x)
    G2 = nx.Graph()
    G2.add_edge(1, 2, x=0.1)
    with pytest.raises(InputError, match=r"edge \(1, 2\): missing required attribute\(s\) \['r'\]"):
        graph_to_tables(G2, required=("r", "x"))


@pytest.mark.parametrize("x", [0.0, -0.1])
def test_non_positive_reactance_is_rejected(x):
    G = nx.Graph()
    G.add_edge(1, 2, x=0.1)
    G.add_edge(2, 3, x=x)
    with pytest.raises(InputError, match=r"edge \(2, 3\).*reactance"):
        graph_to_tables(G)


def test_negative_reactance_only_when_allowed():
    G = nx.Graph()
    G.add_edge(1, 2, x=-0.05)
    _, br = graph_to_tables(G, allow_negative_x=True)
    assert br.at["1-2", "x"] == -0.05
    G.add_edge(2, 3, x=0.0)
    with pytest.raises(InputError, match=r"edge \(2, 3\)"):
        graph_to_tables(G, allow_negative_x=True)


@pytest.mark.parametrize("attrs, msg", [
    ({"x": "big"}, r"attribute 'x': expected a number, got 'big'"),
    ({"x": 0.1, "rating": -5}, r"rating must be >= 0"),
    ({"x": 0.1, "tap": -1.0}, r"tap ratio must be > 0"),
    ({"x": float("nan")}, r"attribute 'x': value is NaN"),
])
def test_bad_edge_values(attrs, msg):
    G = nx.Graph()
    G.add_edge(7, 8, **attrs)
    with pytest.raises(InputError, match=msg):
        graph_to_tables(G)


def test_bad_bus_load_names_the_bus():
    G = nx.Graph()
    G.add_node("X", load="lots")
    G.add_edge("X", "Y", x=0.1)
    with pytest.raises(InputError, match=r"bus 'X': attribute 'load'"):
        graph_to_tables(G)


def test_self_loop_and_empty_graph():
    G = nx.Graph()
    G.add_edge(1, 1, x=0.1)
    with pytest.raises(InputError, match=r"edge \(1, 1\): a branch cannot connect a bus to itself"):
        graph_to_tables(G)
    with pytest.raises(InputError, match="no buses"):
        graph_to_tables(nx.Graph())
    with pytest.raises(InputError, match="networkx"):
        graph_to_tables({"a": 1})


def test_out_of_service_elements_are_dropped():
    G = triangle()
    G.edges[2, 3]["in_service"] = False
    G.add_node(4, type=4)  # MATPOWER isolated bus
    G.add_edge(3, 4, x=0.1)
    buses, branches = graph_to_tables(G)
    assert list(buses.index) == [1, 2, 3]
    assert list(branches.index) == ["1-2", "1-3"]


def test_islands_need_a_reference_bus():
    G = triangle()
    G.add_edge(10, 11, x=0.1)
    G.add_node(12)
    buses, branches = graph_to_tables(G)
    assert islands(buses, branches) == [[1, 2, 3], [10, 11], [12]]
    with pytest.raises(InputError, match=r"island 1 \(buses \[10, 11\]\) has no reference bus"):
        check_islands(buses, branches)
    assert reference_buses(buses, branches, ref=[1, 11, 12]) == [1, 11, 12]
    with pytest.raises(InputError, match=r"island 0 has 2 reference buses \[1, 2\]"):
        reference_buses(buses, branches, ref=[1, 2, 11, 12])
    with pytest.raises(InputError, match=r"reference bus\(es\) \[99\] not in the network"):
        reference_buses(buses, branches, ref=99)


def test_single_island_without_flag_takes_first_bus():
    G = nx.Graph()
    G.add_edge("s", "t", x=0.1)
    assert reference_buses(*graph_to_tables(G)) == ["s"]


def test_incidence_matches_networkx_oriented_incidence():
    G = triangle(nx.DiGraph)
    buses, branches = graph_to_tables(G)
    A = incidence(buses, branches).toarray()
    # networkx: -1 at the tail (from), +1 at the head (to), nodes x edges
    N = nx.incidence_matrix(G, nodelist=list(buses.index),
                            edgelist=list(zip(branches.from_bus, branches.to_bus)),
                            oriented=True).toarray()
    np.testing.assert_array_equal(A, -N.T)


def test_round_trip_through_tables():
    buses, branches = graph_to_tables(triangle(nx.MultiDiGraph))
    b2, br2 = graph_to_tables(tables_to_graph(buses, branches))
    assert list(b2.index) == list(buses.index)
    assert list(br2.index) == list(branches.index)
    for col in ("from_bus", "to_bus", "r", "x", "tap", "shift", "rating"):
        assert br2[col].tolist() == branches[col].tolist()


def test_matpower_bus_type_3_marks_the_reference_bus():
    G = nx.Graph()
    G.add_node(1)
    G.add_node(2, type=3)
    G.add_edge(1, 2, x=0.1)
    G.add_edge(3, 4, x=0.1)
    G.nodes[4]["ref"] = True
    buses, branches = graph_to_tables(G)
    assert buses["ref"].tolist() == [False, True, False, True]
    assert reference_buses(buses, branches) == [2, 4]


def test_out_of_service_branches_kept_in_the_table_do_not_connect_islands():
    G = nx.Graph()
    G.add_edge(1, 2, x=0.1)
    G.add_edge(2, 3, x=0.1, in_service=False)
    buses, branches = graph_to_tables(G, drop_out_of_service=False)
    assert list(branches.index) == ["1-2", "2-3"]
    assert islands(buses, branches) == [[1, 2], [3]]
    with pytest.raises(InputError, match=r"island 1 \(buses \[3\]\) has no reference bus"):
        check_islands(buses, branches, ref=1)
