"""The package's import graph, read from the source with ``ast`` (every import statement,
module-level or inside a function): no cycle between modules, and no import upwards between the
layers (errors < core < participants / network / policy < pricing < solvers < the rest)."""
import ast
import functools
from pathlib import Path

import networkx as nx
import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]

#: the one cycle left: the solver layer fixes a MILP's integers through what-if changes, and the
#: what-if engine (in core for now) re-solves through the solver layer
KNOWN_CYCLES = {frozenset({"pyomo_ecc.solvers", "pyomo_ecc.core.whatif"})}


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
    # a function-level import counts too (pricing.ranges imports the what-if engine at the top,
    # the CLI imports it inside a function)
    assert g.has_edge("pyomo_ecc.cli", "pyomo_ecc.pricing.ranges")


def test_no_import_cycle_between_modules():
    g = import_graph()
    cycles = [frozenset(c) for c in nx.simple_cycles(g)]
    assert set(cycles) <= KNOWN_CYCLES, sorted(map(sorted, set(cycles) - KNOWN_CYCLES))


@pytest.mark.parametrize("src, dst", [
    ("io", "models"), ("io", "pyomo_ecc"), ("cge", "pyomo_ecc"),
    ("network", "pricing"), ("pricing", "mechanisms"), ("pricing", "io"),
    ("core", "network"), ("core", "participants"), ("core", "policy"), ("core", "models"),
    ("network", "participants"), ("network", "solvers"), ("network", "io"),
    ("participants", "network"), ("participants", "pricing"), ("participants", "solvers"),
    ("policy", "pricing"), ("policy", "network"), ("policy", "solvers"),
])
def test_no_upward_import(src, dst):
    assert upward(import_graph(), src, dst) == []


def test_core_imports_only_core_except_the_whatif_engine():
    """The block base, options, contract, market and standard form depend on nothing above
    them; the what-if engine (which solves and reads prices) is the one exception."""
    g = import_graph()
    bad = sorted((a, b) for a, b in g.edges if layer(a) == "core" and a != "pyomo_ecc.core.whatif"
                 and layer(b) not in ("core", "errors"))
    assert bad == []


def test_only_the_top_level_and_the_command_line_import_the_package_itself():
    g = import_graph()
    users = sorted(a for a, b in g.edges if b == "pyomo_ecc")
    assert set(users) <= {"pyomo_ecc.cli", "pyomo_ecc.simulation.cli"}, users
    assert sorted(a for a, b in g.edges if b == "pyomo_ecc.cli") == []
