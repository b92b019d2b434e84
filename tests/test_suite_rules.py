"""The suite's own rules: one tier marker per test, doctests that skip without optional packages."""
import importlib.util
from pathlib import Path

import pytest

from conftest import TIERS, ipopt_available, tier_problem

pytestmark = pytest.mark.unit


def _root_conftest():
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_root_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tier_rule_names_the_test_and_its_markers():
    assert tier_problem("t.py::a", ["unit", "parametrize"]) is None
    assert tier_problem("t.py::a", ["unit", "unit"]) is None      # module mark and decorator alike
    msg = tier_problem("t.py::a", ["parametrize"])
    assert "t.py::a" in msg and "no tier marker" in msg and all(t in msg for t in TIERS)
    msg = tier_problem("t.py::b", ["component", "unit"])
    assert "t.py::b" in msg and "2 tier markers (component, unit)" in msg


def test_every_collected_test_has_exactly_one_tier(request):
    here = Path(__file__).resolve().parent
    bad = []
    for item in request.session.items:
        if here in Path(str(item.path)).resolve().parents:
            problem = tier_problem(item.nodeid, [m.name for m in item.iter_markers()])
            if problem:
                bad.append(problem)
    assert bad == []


def test_doctest_requirements_are_read_from_the_examples():
    root = _root_conftest()

    class Example:
        def __init__(self, source):
            self.source = source

    class Test:
        examples = [Example("import pandapower.networks as pn, pyomo_ecc as ecc\n"),
                    Example("x = 1; from scipy import sparse\n"), Example("print(2)\n")]
        globs = {"__doctest_requires__": ("matplotlib",)}

    class Item:
        dtest = Test()

    assert root.doctest_requirements(Item()) == ["pandapower", "scipy", "matplotlib"]
    assert root.missing_packages(["scipy", "no_such_package_xyz"]) == ["no_such_package_xyz"]
    # "ipopt" names the solver (its interface must load), not only a package
    assert (root.missing_packages(["ipopt"]) == []) == ipopt_available()
