"""The package's import graph, read from the source with ``ast`` (every import statement,
module-level or inside a function): no cycle between modules, no cycle between packages, and no
import upwards between the layers (errors < core < participants / network / policy < pricing <
solvers < whatif < the rest)."""
import ast
import functools
from pathlib import Path

import networkx as nx
import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


def _modules():
    mods = {}
    for f in (ROOT / "pyomo_ecc").rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    for f in (ROOT / "models").rglob("*.py"):        # installed as pyomo_ecc.models
        parts = ["pyomo_ecc", "models"] + list(f.relative_to(ROOT / "models").with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


def _resolve(name, mods):
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


@functools.lru_cache(maxsize=1)
def import_graph():
    """Directed graph module -> module it imports (``pyomo_ecc.*`` only)."""
    mods = _modules()
    g = nx.DiGraph()
    for mod, path in mods.items():
        g.add_node(mod)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                t = _resolve(t, mods)
                if t is not None and t != mod:
                    g.add_edge(mod, t)
    return g


def layer(mod):
    """``pyomo_ecc.network.dc`` -> ``network``; top-level modules by name; ``pyomo_ecc`` itself."""
    parts = mod.split(".")
    return "pyomo_ecc" if len(parts) == 1 else parts[1]


def upward(g, src, dst, exempt=()):
    """The imports from modules of layer ``src`` into layer ``dst``."""
    return sorted((a, b) for a, b in g.edges
                  if layer(a) == src and layer(b) == dst and a not in exempt)


def test_the_graph_is_read():
    g = import_graph()
    assert g.number_of_nodes() > 80
    assert g.has_edge("pyomo_ecc.network.dc", "pyomo_ecc.core.contract")
    assert g.has_edge("pyomo_ecc.pricing.components", "pyomo_ecc.core.contract")
    # a function-level import counts too (analysis.price_ranges imports the what-if engine at the top,
    # the CLI imports it inside a function)
    assert g.has_edge("pyomo_ecc.cli", "pyomo_ecc.analysis.price_ranges")


def test_no_import_cycle_between_modules():
    assert list(nx.simple_cycles(import_graph())) == []


def package_graph(g):
    """Layer -> layer it imports (``core``, ``network``, ..., and each top-level module)."""
    p = nx.DiGraph()
    p.add_edges_from((layer(a), layer(b)) for a, b in g.edges if layer(a) != layer(b))
    return p


def test_no_import_cycle_between_packages():
    p = package_graph(import_graph())
    assert p.has_edge("whatif", "solvers") and p.has_edge("solvers", "core")
    assert list(nx.simple_cycles(p)) == []


def test_a_cycle_is_seen():
    """The checks above can fail: the solver layer importing the what-if engine is a cycle."""
    g = import_graph().copy()
    g.add_edge("pyomo_ecc.solvers", "pyomo_ecc.whatif")
    assert list(nx.simple_cycles(g)) and list(nx.simple_cycles(package_graph(g)))


@pytest.mark.parametrize("src, dst", [
    ("io", "models"), ("io", "pyomo_ecc"), ("cge", "pyomo_ecc"),
    ("network", "pricing"), ("pricing", "mechanisms"), ("pricing", "io"),
    ("core", "network"), ("core", "participants"), ("core", "policy"), ("core", "models"),
    ("network", "participants"), ("network", "solvers"), ("network", "io"),
    ("participants", "network"), ("participants", "pricing"), ("participants", "solvers"),
    ("policy", "pricing"), ("policy", "network"), ("policy", "solvers"),
    ("pricing", "solvers"), ("pricing", "whatif"), ("solvers", "whatif"), ("core", "whatif"),
    ("core", "solvers"), ("verify", "solvers"),
])
def test_no_upward_import(src, dst):
    assert upward(import_graph(), src, dst) == []


def test_core_imports_only_core_except_the_whatif_engine():
    """The block base, options, contract, market and standard form depend on nothing above
    them; the what-if engine (which solves and reads prices) is the one exception."""
    g = import_graph()
    bad = sorted((a, b) for a, b in g.edges if layer(a) == "core" and a != "pyomo_ecc.whatif"
                 and layer(b) not in ("core", "errors"))
    assert bad == []


def test_only_the_top_level_and_the_command_line_import_the_package_itself():
    g = import_graph()
    users = sorted(a for a, b in g.edges if b == "pyomo_ecc")
    assert set(users) <= {"pyomo_ecc.cli", "pyomo_ecc.simulation.cli"}, users
    assert sorted(a for a, b in g.edges if b == "pyomo_ecc.cli") == []
