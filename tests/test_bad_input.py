"""The bad-input suite: every public entry point refuses bad input with a pyomo_ecc error whose
message names the offending item (block, option, order, account, agent, cell, key, file, path).

Each case is ``(entry point, id, action, error class, words)``: ``action()`` must raise exactly
that class (or a subclass) and the message must match the regular expression ``words``, which
always contains the name of the offending item. Mutations of mutable Params after build are
covered with the what-if layer, not here.
"""
import math
import re
from collections import Counter

import networkx as nx
import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.analysis.fairness import envy_matrix, fair_allocation
from pyomo_ecc.cge.sam import SAM
from pyomo_ecc.cli import main
from pyomo_ecc.errors import InputError, ModelError, PriceError, SolverError
from pyomo_ecc.io.matpower import build_matpower_market, load_matpower_case, read_matpower
from pyomo_ecc.mechanisms.auction import Order, double_auction
from pyomo_ecc.mechanisms.orderbook import OrderBook
from pyomo_ecc.mechanisms.p2p import P2PNetwork, loss_neutral_settlement
from pyomo_ecc.verify import check_solution

pytestmark = pytest.mark.unit

NAN, INF = float("nan"), float("inf")


# -- builders ---------------------------------------------------------------------------------
def add(block_factory, name="x", market=None, **kw):
    """Add ``block_factory(**kw)`` as ``name`` to a fresh two-period market (or ``market``)."""
    m = market if market is not None else ecc.Market(periods=2)
    m.add_component(name, block_factory(**kw))
    return m


def with_gen(**kw):
    m = ecc.Market(periods=2)
    m.g = ecc.Producer(bus=1, b=10, p_max=100, emission_intensity=0.5)
    m.l = ecc.FixedLoad(bus=1, p=[10, 20])
    for k, v in kw.items():
        m.add_component(k, v)
    return m


def tri(**node_attrs):
    g = nx.Graph()
    g.add_edge(1, 2, x=0.1)
    g.add_edge(2, 3, x=0.1)
    g.add_edge(1, 3, x=0.1, rating=50)
    for n, attrs in node_attrs.items():
        g.nodes[int(n[1:])].update(attrs)
    return g


def edge_graph(**attrs):
    g = nx.Graph()
    g.add_edge(1, 2, **attrs)
    return g


def dc(graph=None, **kw):
    m = ecc.Market()
    m.g1 = ecc.Producer(bus=1, b=10, p_max=200)
    m.d = ecc.FixedLoad(bus=3, p=100)
    m.net = ecc.DCNetwork(graph=tri() if graph is None else graph, **kw)
    return m


def solved():
    m = with_gen()
    ecc.solve(m)
    return m


def p2p(**kw):
    m = ecc.Market(periods=1)
    m.a = ecc.Producer(bus="A", a=0.5, b=10, p_max=10)
    m.c = ecc.Consumer(bus="C", a=-1, b=50, d_max=20)
    m.net = P2PNetwork(**kw)
    return m


MPC = """function mpc = bad
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
 1 3 0 0 0 0 1 1 0 230 1 1.1 0.9;
 2 1 50 0 0 0 1 1 0 230 1 1.1 0.9;
];
mpc.gen = [
 1 0 0 100 -100 1 100 1 200 0;
];
mpc.branch = [
 1 2 0.01 0.1 0 100 100 100 0 0 1 -360 360;
];
mpc.gencost = [
 2 0 0 3 0.01 10 0;
];
"""


def mpc_text(old, new):
    assert old in MPC
    return MPC.replace(old, new, 1)


def sam_frame(**cells):
    """The STDCGE SAM of the case library with some cells replaced (``ROW__COLUMN=value``)."""
    t = SAM.from_csv("stdcge_sam.csv").table.astype(object)
    for k, v in cells.items():
        r, c = k.split("__")
        t.loc[r, c] = v
    return t


SAM_ROLES = SAM.from_csv("stdcge_sam.csv").roles.to_dict()


def _sam_csv_with_text():
    t = sam_frame(BRD__HOH="ten")
    t.insert(0, "role", [SAM_ROLES[a] for a in t.index])
    return t.reset_index().to_csv(index=False)


SAM_CSV_WITH_TEXT = _sam_csv_with_text()


def toml_case(tmp_path_factory, text, name="bad.toml"):
    p = tmp_path_factory.mktemp("cases") / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def cli_error(argv):
    """Run the CLI; a bad invocation returns 1 with one line on stderr: raise it as InputError."""
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    text = err.getvalue().strip()
    if rc != 0:
        assert text.startswith("pyomo-ecc: error:") and "Traceback" not in text
        raise InputError(text)


def replaced_then_solved():
    m = with_gen()
    ecc.solve(m)
    m.g = ecc.Producer(bus=1, b=5, p_max=100)


def deleted_after_solve():
    m = with_gen()
    ecc.solve(m)
    m.del_component("g")


def hook_after_solve():
    m = solved()
    m.add_hook(lambda mk: None)


def config_after_build(option, value):
    m = with_gen()
    setattr(m.g.config, option, value)


def order_book():
    return OrderBook({"A": (0, 1000.0), "B": (10, 0.0)}, opening_price=48)


# -- the cases --------------------------------------------------------------------------------
P, C, F, S, K = ecc.Producer, ecc.Consumer, ecc.FixedLoad, ecc.Storage, ecc.Prosumer
CASES = [
    # participants
    ("participants", "p_max string", lambda: add(P, bus=1, b=1, p_max="100"), InputError, r"Producer 'x'.*p_max.*'100'"),
    ("participants", "p_max True", lambda: add(P, bus=1, b=1, p_max=True), InputError, r"Producer 'x'.*p_max.*boolean True"),
    ("participants", "p_max negative", lambda: add(P, bus=1, b=1, p_max=-5), InputError, r"Producer 'x'.*p_max.*>= 0"),
    ("participants", "p_max NaN", lambda: add(P, bus=1, b=1, p_max=NAN), InputError, r"Producer 'x'.*p_max.*finite"),
    ("participants", "p_max inf", lambda: add(P, bus=1, b=1, p_max=INF), InputError, r"Producer 'x'.*p_max.*finite"),
    ("participants", "p_max string entry", lambda: add(P, bus=1, b=1, p_max=[1, "2"]), InputError, r"Producer 'x'.*p_max.*entry 1"),
    ("participants", "p_max wrong length", lambda: add(P, bus=1, b=1, p_max=[1, 2, 3]), InputError, r"Producer 'x'.*p_max.*3 values.*2 periods"),
    ("participants", "p_max mapping", lambda: add(P, bus=1, b=1, p_max={0: 1}), InputError, r"Producer 'x'.*p_max.*mapping"),
    ("participants", "p_min > p_max", lambda: add(P, bus=1, b=1, p_max=5, p_min=10), InputError, r"Producer 'x'.*p_min = 10.*exceeds p_max"),
    ("participants", "b string", lambda: add(P, bus=1, b="10", p_max=1), InputError, r"Producer 'x'.*option 'b'.*'10'"),
    ("participants", "a NaN", lambda: add(P, bus=1, a=NAN, b=1, p_max=1), InputError, r"Producer 'x'.*option 'a'"),
    ("participants", "no bus", lambda: add(P, b=1, p_max=1), InputError, r"Producer 'x'.*'bus' is required"),
    ("participants", "bus float", lambda: add(P, bus=1.5, b=1, p_max=1), InputError, r"Producer 'x'.*bus.*1\.5"),
    ("participants", "bus bool", lambda: add(P, bus=True, b=1, p_max=1), InputError, r"Producer 'x'.*bus.*True"),
    ("participants", "unknown option", lambda: add(P, bus=1, b=1, p_max=1, pmax=2), InputError, r"Producer 'x'.*unknown option.*pmax"),
    ("participants", "no capacity", lambda: add(P, bus=1, b=1), InputError, r"Producer 'x'.*'p_max' is required"),
    ("participants", "steps zero width", lambda: add(P, bus=1, steps=[(0, 5)]), InputError, r"Producer 'x'.*steps.*segment 0"),
    ("participants", "steps string price", lambda: add(P, bus=1, steps=[(5, "5")]), InputError, r"Producer 'x'.*steps.*segment 0"),
    ("participants", "steps triple", lambda: add(P, bus=1, steps=[(5, 5, 5)]), InputError, r"Producer 'x'.*steps.*segment 0"),
    ("participants", "steps empty", lambda: add(P, bus=1, steps=[]), InputError, r"Producer 'x'.*steps"),
    ("participants", "commitment string", lambda: add(P, bus=1, b=1, p_max=1, commitment="no"), InputError, r"Producer 'x'.*commitment.*'no'"),
    ("participants", "emission intensity negative", lambda: add(P, bus=1, b=1, p_max=1, emission_intensity=-1), InputError, r"Producer 'x'.*emission_intensity"),
    ("participants", "certificate rate string", lambda: add(P, bus=1, b=1, p_max=1, certificate_rate="1"), InputError, r"Producer 'x'.*certificate_rate"),
    ("participants", "consumer d_max negative", lambda: add(C, bus=1, b=50, d_max=-1), InputError, r"Consumer 'x'.*d_max"),
    ("participants", "consumer d_min string", lambda: add(C, bus=1, b=50, d_max=1, d_min="0"), InputError, r"Consumer 'x'.*d_min"),
    ("participants", "load NaN", lambda: add(F, bus=1, p=NAN), InputError, r"FixedLoad 'x'.*option 'p'"),
    ("participants", "load string", lambda: add(F, bus=1, p="50"), InputError, r"FixedLoad 'x'.*option 'p'"),
    ("participants", "load wrong length", lambda: add(F, bus=1, p=[1, 2, 3]), InputError, r"FixedLoad 'x'.*'p'.*3 values"),
    ("participants", "storage efficiency > 1", lambda: add(S, bus=1, e_max=10, p_ch_max=1, p_dis_max=1, eta_ch=1.5), InputError, r"Storage 'x'.*eta_ch.*\(0, 1\]"),
    ("participants", "storage e_max string", lambda: add(S, bus=1, e_max="10", p_ch_max=1, p_dis_max=1), InputError, r"Storage 'x'.*e_max"),
    ("participants", "storage terminal", lambda: add(S, bus=1, e_max=10, p_ch_max=1, p_dis_max=1, terminal="end"), InputError, r"Storage 'x'.*terminal"),
    ("participants", "prosumer eta zero", lambda: add(K, bus=1, p_max=1, eta=0), InputError, r"Prosumer 'x'.*eta"),
    ("participants", "prosumer demand negative", lambda: add(K, bus=1, p_max=1, demand=-1), InputError, r"Prosumer 'x'.*demand"),
    ("participants", "flexible load energy NaN", lambda: add(ecc.FlexibleLoad, bus=1, energy=NAN, d_max=5), InputError, r"FlexibleLoad 'x'.*energy"),
    ("participants", "reserved name obj", lambda: add(P, name="obj", bus=1, b=1, p_max=1), InputError, r"Producer 'obj'.*reserved"),
    ("participants", "outside a market", lambda: setattr(pyo.ConcreteModel(), "g", P(bus=1, b=1, p_max=1)), ModelError, r"Producer 'g'.*inside a Market"),
    # market
    ("market", "periods zero", lambda: ecc.Market(periods=0), InputError, r"Market.*periods.*at least one"),
    ("market", "periods bool", lambda: ecc.Market(periods=True), InputError, r"Market.*periods.*True"),
    ("market", "periods duplicate labels", lambda: ecc.Market(periods=["a", "a"]), InputError, r"Market.*periods.*unique"),
    ("market", "dt negative", lambda: ecc.Market(dt=-1), InputError, r"Market.*dt.*> 0"),
    ("market", "dt string", lambda: ecc.Market(dt="1"), InputError, r"Market.*dt"),
    ("market", "dt wrong length", lambda: ecc.Market(periods=2, dt=[1, 1, 1]), InputError, r"Market.*dt has 3 values"),
    ("market", "power unit", lambda: ecc.Market(power_unit="MWh"), InputError, r"Market.*power_unit.*MWh"),
    ("market", "empty market", lambda: ecc.solve(ecc.Market()), ModelError, r"market 'market' is empty"),
    ("market", "unknown option", lambda: ecc.Market(horizon=3), InputError, r"Market.*unknown option.*horizon"),
    ("market", "hook not callable", lambda: with_gen().add_hook(3), InputError, r"market 'market'.*hook.*3"),
    # networks
    ("networks", "graph not a graph", lambda: dc(graph={1: 2}), InputError, r"DCNetwork 'net'.*graph.*networkx"),
    ("networks", "no graph", lambda: add(ecc.DCNetwork, name="net", market=with_gen()), InputError, r"DCNetwork 'net'.*'graph'"),
    ("networks", "formulation", lambda: dc(formulation="acopf"), InputError, r"DCNetwork 'net'.*formulation.*acopf"),
    ("networks", "convention", lambda: dc(convention="pandapower"), InputError, r"DCNetwork 'net'.*convention"),
    ("networks", "slack", lambda: dc(slack="dist"), InputError, r"DCNetwork 'net'.*slack.*dist"),
    ("networks", "slack weights without distributed slack", lambda: dc(slack_weights={1: 1.0}), InputError, r"DCNetwork 'net'.*slack_weights"),
    ("networks", "slack weight negative", lambda: dc(slack="distributed", slack_weights={1: -1.0}), InputError, r"DCNetwork 'net'.*slack weights.*finite and >= 0"),
    ("networks", "line_limits string", lambda: dc(line_limits="yes"), InputError, r"DCNetwork 'net'.*line_limits.*'yes'"),
    ("networks", "reactance missing", lambda: dc(graph=edge_graph()), InputError, r"DCNetwork 'net'.*\bx\b"),
    ("networks", "reactance negative", lambda: dc(graph=edge_graph(x=-0.1)), InputError, r"DCNetwork 'net'.*x"),
    ("networks", "reactance string", lambda: dc(graph=edge_graph(x="0.1")), InputError, r"DCNetwork 'net'.*x"),
    ("networks", "rating NaN", lambda: dc(graph=edge_graph(x=0.1, rating=NAN)), InputError, r"DCNetwork 'net'.*rating"),
    ("networks", "bus load string", lambda: dc(graph=tri(n3={"load": "5"})), InputError, r"DCNetwork 'net'.*(bus 3|load)"),
    ("networks", "unknown bus of a participant", lambda: ecc.solve(dc(graph=edge_graph(x=0.1))), InputError, r"FixedLoad 'd'.*unknown bus 3"),
    ("networks", "second network", lambda: add(ecc.CopperPlate, name="net2", market=dc()), InputError, r"already has a network \('net'\).*'net2'"),
    ("networks", "unknown reference bus", lambda: dc(ref_bus=9), InputError, r"DCNetwork 'net'.*9"),
    ("networks", "lindistflow base_mva string", lambda: add(ecc.LinDistFlow, name="net", market=with_gen(), graph=edge_graph(r=0.1, x=0.1), ref_bus=1, base_mva="1"), InputError, r"LinDistFlow 'net'.*base_mva"),
    ("networks", "lindistflow q_root_free string", lambda: add(ecc.LinDistFlow, name="net", market=with_gen(), graph=edge_graph(r=0.1, x=0.1), ref_bus=1, base_mva=1, q_root_free="no"), InputError, r"LinDistFlow 'net'.*q_root_free"),
    # policies
    ("policies", "carbon cap negative", lambda: with_gen(cap=ecc.CarbonCap(cap=-1)), InputError, r"CarbonCap 'cap'.*cap.*>= 0"),
    ("policies", "carbon cap string", lambda: with_gen(cap=ecc.CarbonCap(cap="50")), InputError, r"CarbonCap 'cap'.*cap"),
    ("policies", "carbon cost NaN", lambda: with_gen(tax=ecc.CarbonCost(price=NAN)), InputError, r"CarbonCost 'tax'.*price"),
    ("policies", "quota alpha > 1", lambda: with_gen(rps=ecc.CertificateQuota(alpha=1.5)), InputError, r"CertificateQuota 'rps'.*alpha"),
    ("policies", "quota alpha string", lambda: with_gen(rps=ecc.CertificateQuota(alpha="0.2")), InputError, r"CertificateQuota 'rps'.*alpha"),
    ("policies", "unknown participant", lambda: ecc.solve(with_gen(cap=ecc.CarbonCap(cap=1, participants=["nobody"]))), (InputError, ModelError), r"CarbonCap 'cap'.*nobody"),
    ("policies", "participant names not strings", lambda: with_gen(cap=ecc.CarbonCap(cap=1, participants=[1])), InputError, r"CarbonCap 'cap'.*participants"),
    ("policies", "unknown period", lambda: ecc.solve(with_gen(cap=ecc.CarbonCap(cap=1, periods=[7]))), (InputError, ModelError), r"CarbonCap 'cap'.*7"),
    # case files
    ("case files", "unknown case", lambda: ecc.load_case("matpower_case6"), InputError, r"unknown case 'matpower_case6'.*matpower_case5"),
    ("case files", "missing toml file", lambda: ecc.load_case("no/such/case.toml"), InputError, r"case file 'no/such/case.toml' does not exist"),
    ("case files", "not TOML", lambda tp: ecc.load_case(toml_case(tp, "[case\ntitle=")), InputError, r"case file '.*bad.toml': not valid TOML"),
    ("case files", "no [case] table", lambda tp: ecc.load_case(toml_case(tp, "[[producer]]\nname='g'\n")), InputError, r"case file '.*bad.toml': missing the \[case\] table"),
    ("case files", "unknown section", lambda tp: ecc.load_case(toml_case(tp, "[case]\n[generators]\n")), InputError, r"unknown section\(s\) \['generators'\]"),
    ("case files", "unknown [case] key", lambda tp: ecc.load_case(toml_case(tp, "[case]\nhorizon=3\n")), InputError, r"unknown key\(s\) \['horizon'\] in \[case\]"),
    ("case files", "duplicate participant", lambda tp: ecc.load_case(toml_case(tp, "[case]\n[[producer]]\nname='g'\n[[load]]\nname='g'\n")), InputError, r"duplicate participant name 'g'"),
    ("case files", "participant without name", lambda tp: ecc.load_case(toml_case(tp, "[case]\n[[producer]]\nbus=1\n")).build(), InputError, r"\[\[producer\]\] entry 0 needs a 'name'"),
    ("case files", "bad option value", lambda tp: ecc.load_case(toml_case(tp, "[case]\n[[producer]]\nname='g'\nbus=1\nb=1\np_max='100'\n")).build(), InputError, r"Producer 'g'.*p_max.*'100'"),
    ("case files", "unknown model", lambda tp: ecc.load_case(toml_case(tp, "[case]\nmodel='acopf'\n")).build(), InputError, r"unknown model 'acopf'"),
    # MATPOWER
    ("MATPOWER", "file not found", lambda: read_matpower("no_such_case.m"), InputError, r"MATPOWER case file 'no_such_case.m' not found"),
    ("MATPOWER", "library file not found", lambda: load_matpower_case("case6"), InputError, r"no MATPOWER file 'case6.m'"),
    ("MATPOWER", "version 1", lambda: read_matpower(mpc_text("'2'", "'1'")), InputError, r"MATPOWER case.*version '1'"),
    ("MATPOWER", "missing baseMVA", lambda: read_matpower(mpc_text("mpc.baseMVA = 100;", "")), InputError, r"missing mpc.baseMVA"),
    ("MATPOWER", "missing branch", lambda: read_matpower(mpc_text("mpc.branch", "mpc.lines")), InputError, r"missing mpc.branch"),
    ("MATPOWER", "non-numeric cell", lambda: read_matpower(mpc_text(" 2 1 50 0", " 2 1 fifty 0")), InputError, r"mpc.bus: row 2 is not numeric"),
    ("MATPOWER", "NaN cell", lambda: read_matpower(mpc_text(" 2 1 50 0", " 2 1 NaN 0")), InputError, r"mpc.bus: row 2, column 3 is NaN"),
    ("MATPOWER", "ragged rows", lambda: read_matpower(mpc_text(" 2 1 50 0 0 0 1 1 0 230 1 1.1 0.9;", " 2 1 50 0 0 0 1 1 0 230 1 1.1;")), InputError, r"mpc.bus: rows have different lengths"),
    ("MATPOWER", "duplicate bus", lambda: read_matpower(mpc_text(" 2 1 50", " 1 1 50")), InputError, r"duplicate bus number 1"),
    ("MATPOWER", "gen at unknown bus", lambda: read_matpower(mpc_text(" 1 0 0 100 -100", " 7 0 0 100 -100")), InputError, r"gen 1 refers to unknown bus 7"),
    ("MATPOWER", "branch to unknown bus", lambda: read_matpower(mpc_text(" 1 2 0.01", " 1 9 0.01")), InputError, r"branch 1 refers to unknown bus 9"),
    ("MATPOWER", "too few gencost rows", lambda: read_matpower(mpc_text(" 2 0 0 3 0.01 10 0;", "")), InputError, r"(gencost|empty)"),
    ("MATPOWER", "load profile string", lambda: build_matpower_market(read_matpower(MPC), periods=1, load_profile=["0.8"]), InputError, r"load_profile\[0\].*'0.8'"),
    ("MATPOWER", "load profile length", lambda: build_matpower_market(read_matpower(MPC), periods=2, load_profile=[0.8]), InputError, r"load_profile has 1 values for 2 periods"),
    ("MATPOWER", "loads option", lambda: build_matpower_market(read_matpower(MPC), loads="buses"), InputError, r"loads must be 'participants' or 'network', got 'buses'"),
    # pandapower
    ("pandapower", "a dict", lambda: _from_pandapower({"bus": []}), InputError, r"from_pandapower expects a pandapower net.*got dict"),
    ("pandapower", "a graph", lambda: _from_pandapower(nx.Graph()), InputError, r"from_pandapower expects a pandapower net.*got Graph"),
    ("pandapower", "no costs", lambda: _from_pandapower(_pp_net_without_costs()), InputError, r"no poly_cost or pwl_cost"),
    ("pandapower", "name not a string", lambda: _from_pandapower(_pp_case4(), name=4), InputError, r"name must be a string, got 4"),
    # auctions
    ("auctions", "bid string", lambda: double_auction(bids=["12"], asks=[5]), InputError, r"bid 0: price.*'12'"),
    ("auctions", "bids a string", lambda: double_auction(bids="12", asks=[5]), InputError, r"bids: expected a list of orders, got '12'"),
    ("auctions", "bids a number", lambda: double_auction(bids=12, asks=[5]), InputError, r"bids: expected a list"),
    ("auctions", "ask bool", lambda: double_auction(bids=[12], asks=[True]), InputError, r"ask 0: price.*boolean"),
    ("auctions", "bid NaN", lambda: double_auction(bids=[NAN], asks=[5]), InputError, r"bid 0: price.*finite"),
    ("auctions", "ask inf", lambda: double_auction(bids=[12], asks=[INF]), InputError, r"ask 0: price.*finite"),
    ("auctions", "quantity string", lambda: double_auction(bids=[(12, "1")], asks=[5]), InputError, r"bid 0: quantity.*'1'"),
    ("auctions", "quantity zero", lambda: double_auction(bids=[(12, 0)], asks=[5]), InputError, r"bid 'bid0': quantity must be > 0"),
    ("auctions", "one-element tuple", lambda: double_auction(bids=[(12,)], asks=[5]), InputError, r"bid 0: expected a price, \(price, quantity\)"),
    ("auctions", "dict without price", lambda: double_auction(bids=[12], asks=[{"quantity": 2}]), InputError, r"ask 0: the key 'price' is missing"),
    ("auctions", "dict price string", lambda: double_auction(bids=[{"name": "b1", "price": "12"}], asks=[5]), InputError, r"bid 'b1': price.*'12'"),
    ("auctions", "dict unknown key", lambda: double_auction(bids=[12], asks=[{"name": "s1", "price": 5, "qty": 2}]), InputError, r"ask 's1': unknown key\(s\) \['qty'\]"),
    ("auctions", "Order with string price", lambda: double_auction(bids=[Order("b1", "bid", "12")], asks=[5]), InputError, r"bid 'b1': price.*'12'"),
    ("auctions", "Order on the wrong side", lambda: double_auction(bids=[Order("s1", "ask", 5.0)], asks=[5]), InputError, r"order 's1' has side 'ask'"),
    ("auctions", "duplicate names", lambda: double_auction(bids=[{"name": "o", "price": 9}], asks=[{"name": "o", "price": 5}]), InputError, r"duplicate order name\(s\) \['o'\]"),
    ("auctions", "price rule", lambda: double_auction(bids=[12], asks=[5], price_rule="average"), InputError, r"unknown price_rule 'average'"),
    ("auctions", "tie break", lambda: double_auction(bids=[12], asks=[5], tie_break="coin"), InputError, r"unknown tie_break 'coin'"),
    ("auctions", "random without generator", lambda: double_auction(bids=[12], asks=[5], tie_break="random", rng=42), InputError, r"tie_break='random' needs rng=numpy.random.Generator"),
    ("auctions", "k out of range", lambda: double_auction(bids=[12], asks=[5], price_rule="k", k=1.5), InputError, r"k in \[0, 1\], got 1.5"),
    ("auctions", "k string", lambda: double_auction(bids=[12], asks=[5], price_rule="k", k="0.5"), InputError, r"k: expected a number.*'0.5'"),
    ("auctions", "divisible string", lambda: double_auction(bids=[12], asks=[5], divisible="no"), InputError, r"divisible must be True or False, got 'no'"),
    ("auctions", "unit order fractional", lambda: double_auction(bids=[(12, 1.5)], asks=[5], divisible=False), InputError, r"bid 'bid0': unit orders need an integer quantity"),
    # order book
    ("order book", "price string", lambda: order_book().submit("A", "buy", "48", 1), InputError, r"order 0 of 'A' \(buy\): price.*'48'"),
    ("order book", "quantity bool", lambda: order_book().submit("A", "buy", 48, True), InputError, r"order 0 of 'A' \(buy\): quantity.*boolean"),
    ("order book", "quantity None", lambda: order_book().submit("B", "sell", 48, None), InputError, r"order 0 of 'B' \(sell\): quantity.*None"),
    ("order book", "opening price string", lambda: OrderBook({"A": (1, 1)}, opening_price="48"), InputError, r"opening_price.*'48'"),
    ("order book", "opening price zero", lambda: OrderBook({"A": (1, 1)}, opening_price=0), InputError, r"opening_price must be > 0"),
    ("order book", "band", lambda: OrderBook({"A": (1, 1)}, band=1.5), InputError, r"band must be in \[0, 1\)"),
    ("order book", "mode", lambda: OrderBook({"A": (1, 1)}, mode="batch"), InputError, r"mode must be one of.*'batch'"),
    ("order book", "tie break", lambda: OrderBook({"A": (1, 1)}, tie_break="fifo"), InputError, r"tie_break must be one of.*'fifo'"),
    ("order book", "no accounts", lambda: OrderBook({}), InputError, r"at least one account"),
    ("order book", "allowances string", lambda: OrderBook({"A": ("1", 2)}), InputError, r"account 'A': allowances.*'1'"),
    ("order book", "cash NaN", lambda: OrderBook({"A": (1, NAN)}), InputError, r"account 'A': cash.*finite"),
    ("order book", "cash negative", lambda: OrderBook({"A": (1, -5)}), InputError, r"account 'A': cash must be >= 0"),
    ("order book", "account not a pair", lambda: OrderBook({"A": 5}), InputError, r"account 'A': expected \(allowances, cash\), got 5"),
    ("order book", "account unknown key", lambda: OrderBook({"A": {"cash": 1, "money": 2}}), InputError, r"account 'A': unknown key\(s\) \['money'\]"),
    ("order book", "frame without cash", lambda: OrderBook(pd.DataFrame({"allowances": [1]}, index=["A"])), InputError, r"missing \['cash'\]"),
    # P2P
    ("P2P", "network charge string", lambda: p2p(network_charge="1"), InputError, r"P2PNetwork 'net'.*network_charge.*'1'"),
    ("P2P", "network charge negative", lambda: p2p(network_charge=-1), InputError, r"P2PNetwork 'net'.*network_charge.*>= 0"),
    ("P2P", "trade_max NaN", lambda: p2p(trade_max=NAN), InputError, r"P2PNetwork 'net'.*trade_max"),
    ("P2P", "community string", lambda: p2p(community="yes"), InputError, r"P2PNetwork 'net'.*community.*'yes'"),
    ("P2P", "pairs a string", lambda: p2p(pairs="ac"), InputError, r"P2PNetwork 'net'.*pairs.*'ac'"),
    ("P2P", "pair with itself", lambda: p2p(pairs=[("a", "a")]), InputError, r"P2PNetwork 'net'.*pairs.*entry 0.*itself"),
    ("P2P", "preference value string", lambda: p2p(preferences=[("a", "c", "1")]), InputError, r"P2PNetwork 'net'.*preferences.*entry 0"),
    ("P2P", "distances not triples", lambda: p2p(distances=[("a", "c")]), InputError, r"P2PNetwork 'net'.*distances.*entry 0"),
    ("P2P", "settlement q string", lambda: loss_neutral_settlement(pd.DataFrame({"seller": ["A"], "buyer": ["B"], "p_trade": ["5"]}), pd.Series({"A": 1.0, "B": 1.0})), InputError, r"trade 0: quantity p_trade.*'5'"),
    ("P2P", "settlement q zero", lambda: loss_neutral_settlement(pd.DataFrame({"seller": ["A"], "buyer": ["B"], "p_trade": [0.0]}), pd.Series({"A": 1.0, "B": 1.0})), InputError, r"trade 0: quantity p_trade must be > 0"),
    ("P2P", "settlement missing column", lambda: loss_neutral_settlement(pd.DataFrame({"seller": ["A"], "p_trade": [1.0]}), pd.Series({"A": 1.0})), InputError, r"trades need a column 'buyer'"),
    ("P2P", "settlement unknown bus", lambda: loss_neutral_settlement(pd.DataFrame({"seller": ["A"], "buyer": ["Z"], "p_trade": [1.0]}), pd.Series({"A": 1.0})), InputError, r"no marginal loss factor for bus 'Z'"),
    ("P2P", "settlement mlf a dict", lambda: loss_neutral_settlement(pd.DataFrame({"seller": ["A"], "buyer": ["B"], "p_trade": [1.0]}), {"A": 1.0}), InputError, r"mlf: expected a pandas Series"),
    # fairness
    ("fairness", "total an array", lambda: fair_allocation(np.array([10, 20]), [1, 2], objective="welfare"), InputError, r"total: expected a number, got array"),
    ("fairness", "total string", lambda: fair_allocation("10", [1, 2], objective="welfare"), InputError, r"total.*'10'"),
    ("fairness", "total negative", lambda: fair_allocation(-1, [1, 2], objective="welfare"), InputError, r"total must be >= 0"),
    ("fairness", "weights 2-D", lambda: fair_allocation(10, np.array([[1, 2]]), objective="welfare"), InputError, r"weights: expected a flat list.*\(1, 2\)"),
    ("fairness", "weight string", lambda: fair_allocation(10, [1, "2"], objective="welfare"), InputError, r"weights\['agent1'\].*'2'"),
    ("fairness", "weight negative, named agent", lambda: fair_allocation(10, [1, -2], names=["ann", "bob"], objective="welfare"), InputError, r"weights\['bob'\] must be > 0"),
    ("fairness", "weights empty", lambda: fair_allocation(10, [], objective="welfare"), InputError, r"weights: expected one weight per agent"),
    ("fairness", "x_max length", lambda: fair_allocation(10, [1, 2], x_max=[1], objective="welfare"), InputError, r"x_max: expected 2 values"),
    ("fairness", "base NaN", lambda: fair_allocation(10, [1, 2], base=[0, NAN], objective="welfare"), InputError, r"base\['agent1'\].*finite"),
    ("fairness", "names length", lambda: fair_allocation(10, [1, 2], names=["ann"], objective="welfare"), InputError, r"names: expected 2 distinct agent names"),
    ("fairness", "objective", lambda: fair_allocation(10, [1, 2], objective="utilitarian"), InputError, r"unknown objective 'utilitarian'"),
    ("fairness", "envy: utility not callable", lambda: envy_matrix([lambda x: x, 3], [1, 2]), InputError, r"utilities\[1\] is not a function"),
    ("fairness", "envy: payment string", lambda: envy_matrix([lambda x: x, lambda x: x], [1, 2], payments=[0, "1"]), InputError, r"payments\['agent1'\].*'1'"),
    # SAM / CGE
    ("SAM/CGE", "not a frame", lambda: SAM([[1]], SAM_ROLES), InputError, r"SAM 'sam': table must be a pandas DataFrame"),
    ("SAM/CGE", "string cell", lambda: SAM(sam_frame(BRD__HOH="10"), SAM_ROLES), InputError, r"SAM 'sam'.*\('BRD', 'HOH'\).*'10'"),
    ("SAM/CGE", "bool cell", lambda: SAM(sam_frame(LAB__BRD=True), SAM_ROLES), InputError, r"SAM 'sam'.*\('LAB', 'BRD'\).*boolean"),
    ("SAM/CGE", "negative cell", lambda: SAM(sam_frame(HOH__LAB=-10.0), SAM_ROLES), InputError, r"SAM 'sam'.*\('HOH', 'LAB'\): must be >= 0"),
    ("SAM/CGE", "infinite cell", lambda: SAM(sam_frame(BRD__HOH=INF), SAM_ROLES), InputError, r"SAM 'sam'.*\('BRD', 'HOH'\).*finite"),
    ("SAM/CGE", "account without role", lambda: SAM(sam_frame(), {k: v for k, v in SAM_ROLES.items() if k != "HOH"}), InputError, r"SAM 'sam': accounts without a role: \['HOH'\]"),
    ("SAM/CGE", "unknown role", lambda: SAM(sam_frame(), {**SAM_ROLES, "HOH": "family"}), InputError, r"SAM 'sam': unknown role\(s\) \{'HOH': 'family'\}"),
    ("SAM/CGE", "rows and columns differ", lambda: SAM(sam_frame().rename(columns={"HOH": "home"}), SAM_ROLES), InputError, r"SAM 'sam': rows and columns.*'HOH'"),
    ("SAM/CGE", "unbalanced", lambda: SAM(sam_frame(BRD__HOH=999.0), SAM_ROLES).check_balance(), InputError, r"SAM 'sam' is not balanced:\n  (BRD|HOH)"),
    ("SAM/CGE", "scale factor string", lambda: SAM(sam_frame(), SAM_ROLES).scale("2"), InputError, r"SAM 'sam': scale factor.*'2'"),
    ("SAM/CGE", "scale factor zero", lambda: SAM(sam_frame(), SAM_ROLES).scale(0), InputError, r"SAM 'sam': scale factor must be positive"),
    ("SAM/CGE", "unknown account cell", lambda: SAM(sam_frame(), SAM_ROLES).cell("BRD", "firm"), InputError, r"SAM 'sam': unknown account 'firm'"),
    ("SAM/CGE", "csv not found", lambda: SAM.from_csv("no_such_sam.csv"), InputError, r"SAM file 'no_such_sam.csv' not found"),
    ("SAM/CGE", "csv text cell", lambda tp: SAM.from_csv(toml_case(tp, SAM_CSV_WITH_TEXT, "sam.csv")), InputError, r"\('BRD', 'HOH'\).*'ten'"),
    # CLI
    ("CLI", "unknown case", lambda: cli_error(["run", "no_such_case"]), InputError, r"unknown case 'no_such_case'"),
    ("CLI", "unknown solver", lambda: cli_error(["run", "matpower_case5", "--solver", "hihgs"]), InputError, r"unknown solver 'hihgs'.*did you mean 'highs'"),
    ("CLI", "--out is a file", lambda tp: cli_error(["run", "matpower_case5", "--out", toml_case(tp, "x", "file.txt")]), InputError, r"--out '.*file.txt' is a file, not a directory"),
    ("CLI", "--plot folder missing", lambda: cli_error(["run", "matpower_case5", "--plot", "no/such/dir/m.png"]), InputError, r"--plot 'no/such/dir/m.png': the folder 'no/such/dir' does not exist"),
    ("CLI", "--plot format", lambda: cli_error(["run", "matpower_case5", "--plot", "merit.txt"]), InputError, r"--plot 'merit.txt': give a file name ending in"),
    ("CLI", "CGE case with --out", lambda tp: cli_error(["run", "seed001_cge", "--out", str(tp.mktemp("o"))]), InputError, r"'seed001_cge' is a CGE case: run it with `pyomo-ecc cge seed001_cge`"),
    ("CLI", "cge electricity price", lambda: cli_error(["cge", "--electricity-price", "cheap"]), InputError, r"--electricity-price: a number or 'market', got 'cheap'"),
    # mutations after build (registry, config, hooks; mutable Params are the what-if layer's)
    ("mutations after build", "participant replaced after solve", replaced_then_solved, ModelError, r"'g' is in its balance and objective and cannot be removed or replaced"),
    ("mutations after build", "participant deleted after solve", deleted_after_solve, ModelError, r"'g' is in its balance and objective"),
    ("mutations after build", "hook after solve", hook_after_solve, ModelError, r"market 'market' is already assembled.*hook '<lambda>' would never run"),
    ("mutations after build", "config p_max after build", lambda: config_after_build("p_max", 10), ModelError, r"Producer 'g': option 'p_max' was used when the block was built.*g.p_max\[0\] = value"),
    ("mutations after build", "config bus after build", lambda: config_after_build("bus", 2), ModelError, r"Producer 'g': option 'bus' was used.*build a new block"),
    ("mutations after build", "config item after build", lambda: with_gen().g.config.__setitem__("b", 3), ModelError, r"Producer 'g': option 'b' was used"),
    ("mutations after build", "market periods after build", lambda: setattr(with_gen().config, "periods", 3), ModelError, r"Market 'market': option 'periods' was used"),
    ("mutations after build", "network formulation after build", lambda: setattr(dc().net.config, "formulation", "ptdf"), ModelError, r"DCNetwork 'net': option 'formulation' was used"),
    ("mutations after build", "participant added after solve", lambda: setattr(solved(), "h", P(bus=1, b=1, p_max=1)), ModelError, r"already assembled.*'h' would be left out"),
    # solver names and options
    ("solvers", "unknown solver, close name", lambda: ecc.solve(with_gen(), solver="hihgs"), SolverError, r"unknown solver 'hihgs'.*did you mean 'highs'.*Available on this machine: highs"),
    ("solvers", "unknown solver", lambda: ecc.Solver("simplex"), SolverError, r"unknown solver 'simplex'"),
    ("solvers", "solver not a string", lambda: ecc.Solver(3), SolverError, r"solver is named by a string.*3"),
    ("solvers", "options not a mapping", lambda: ecc.Solver("highs", options=["presolve"]), SolverError, r"solver options must be a mapping.*\['presolve'\]"),
    ("solvers", "unknown HiGHS option", lambda: ecc.solve(with_gen(), options={"presolver": "off"}), SolverError, r"HiGHS rejected option presolver='off'"),
    ("solvers", "bad HiGHS option value", lambda: ecc.solve(with_gen(), options={"time_limit": "long"}), SolverError, r"HiGHS rejected option time_limit='long'"),
    ("solvers", "tee string", lambda: ecc.Solver("highs", tee="yes"), SolverError, r"tee must be True or False, got 'yes'"),
    ("solvers", "verify tolerance", lambda: ecc.Solver("highs", verify_tol=0), SolverError, r"verify_tol must be a finite number > 0"),
    ("solvers", "integer variables with Ipopt", lambda: ecc.solve(with_gen(u=P(bus=1, b=1, p_max=1, commitment=True)), solver="ipopt"), SolverError, r"Ipopt cannot solve model 'market'.*integer.*u.on"),
    ("solvers", "QP with appsi_highs", lambda: ecc.solve(with_gen(q=P(bus=1, a=0.1, b=1, p_max=5)), solver="appsi_highs"), SolverError, r"appsi_highs cannot solve model 'market': its objective is quadratic.*solver='highs'"),
    ("solvers", "unknown Ipopt option", lambda: ecc.solve(with_gen(), solver="ipopt", options={"no_such_option": 1}), SolverError, r"Ipopt rejected option no_such_option=1"),
    # prices and results
    ("prices and results", "unknown price name", lambda: ecc.price_frame(solved(), "lpm"), PriceError, r"price called 'lpm'; did you mean 'lmp'\? Declared prices: lmp"),
    ("prices and results", "price name not a string", lambda: ecc.price_frame(solved(), 3), PriceError, r"price is named by a string.*3"),
    ("prices and results", "prices before solve", lambda: ecc.prices(with_gen()), PriceError, r"market 'market' has not been solved: call pyomo_ecc.solve\(model\) first"),
    ("prices and results", "dispatch before solve", lambda: ecc.dispatch(with_gen()), PriceError, r"market 'market' has not been solved"),
    ("prices and results", "welfare before solve", lambda: ecc.welfare(with_gen()), PriceError, r"market 'market' has not been solved"),
    ("prices and results", "surplus before solve", lambda: ecc.surplus(with_gen()), PriceError, r"market 'market' has not been solved"),
    ("prices and results", "prices of a dict", lambda: ecc.prices({"g": 1}), ModelError, r"expected a Pyomo model or block.*got dict"),
    ("solvers", "solve a dict", lambda: ecc.solve({"g": 1}), ModelError, r"expected a Pyomo model or block.*got dict"),
    ("prices and results", "no market", lambda: ecc.prices(pyo.ConcreteModel(name="plain")), ModelError, r"'plain' contains no Market block"),
]


def _from_pandapower(net, **kw):
    from pyomo_ecc.io.pandapower_io import from_pandapower
    return from_pandapower(net, **kw)


def _pp_case4():
    pn = pytest.importorskip("pandapower.networks")
    return pn.case4gs()


def _pp_net_without_costs():
    pp = pytest.importorskip("pandapower")
    net = pp.create_empty_network()
    b1, b2 = pp.create_bus(net, 110), pp.create_bus(net, 110)
    pp.create_ext_grid(net, b1)
    pp.create_load(net, b2, p_mw=10)
    pp.create_line(net, b1, b2, 1.0, "149-AL1/24-ST1A 110.0")
    return net


def _needs_ipopt(case):
    return "Ipopt" in case[1] or any("ipopt" in str(c) for c in case[2].__code__.co_consts)


@pytest.mark.parametrize("entry, name, action, error, words", CASES,
                         ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_bad_input_is_refused_naming_the_item(entry, name, action, error, words, tmp_path_factory):
    if "Ipopt" in name:
        from conftest import ipopt_available
        if not ipopt_available():
            pytest.skip("Ipopt not available")
    args = (tmp_path_factory,) if action.__code__.co_argcount == 1 else ()
    with pytest.raises(error) as info:
        action(*args)
    msg = str(info.value)
    assert re.search(words, msg, flags=re.S), f"message does not name the item: {msg!r}"
    assert "Traceback" not in msg


def test_the_suite_is_large_and_covers_every_entry_point():
    counts = Counter(c[0] for c in CASES)
    assert sum(counts.values()) >= 120
    assert set(counts) == {"participants", "market", "networks", "policies", "case files",
                           "MATPOWER", "pandapower", "auctions", "order book", "P2P", "fairness",
                           "SAM/CGE", "CLI", "mutations after build", "solvers",
                           "prices and results"}
    assert len({(c[0], c[1]) for c in CASES}) == len(CASES)   # every case has its own name


def test_one_clean_error_without_pyomos_construction_log(caplog):
    """Pyomo logs "Constructing component ... failed" for any error in a rule; ours already
    names the item, so the log record is dropped (only for pyomo_ecc's own errors)."""
    m = ecc.Market()
    with caplog.at_level("ERROR", logger="pyomo"):
        with pytest.raises(InputError, match="Producer 'g'"):
            m.g = ecc.Producer(bus=1, b=1, p_max=True)
    assert not [r for r in caplog.records if "Constructing component" in r.getMessage()]
    with caplog.at_level("ERROR", logger="pyomo"):   # someone else's error keeps Pyomo's log
        with pytest.raises(ZeroDivisionError):
            m.x = pyo.Param(initialize=lambda m: 1 / 0)
    assert [r for r in caplog.records if "Constructing component" in r.getMessage()]


def test_unsolved_check_solution_reports_the_unset_constraints():
    m = with_gen()
    m.assemble()
    for v in m.component_data_objects(pyo.Var):
        v.value = None
    report = check_solution(m)
    assert math.isinf(report["violation"].max())
    assert any("eq_p_balance" in n for n in report.index)
