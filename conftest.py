"""Doctest collection for the library and the reference models (``--doctest-modules``).

A doctest that needs an optional package skips cleanly when the package is missing. What it
needs is read from its own examples (every ``import X`` / ``from X import ...``) and from the
module attribute ``__doctest_requires__`` (a tuple of top-level package names, for examples that
reach an optional package only through the library, e.g. a plot; ``"ipopt"`` names the Ipopt
solver, which also needs PyNumero's ASL library). Doctests are tier ``component``: they build
and solve small markets.
"""
import importlib.util
import re

import pytest
from _pytest.doctest import DoctestItem

_IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][\w]*)", re.MULTILINE)


def doctest_requirements(item):
    """Top-level package names a doctest item needs (its imports and its module's
    ``__doctest_requires__``)."""
    needs = []
    for ex in item.dtest.examples:
        for stmt in ex.source.split(";"):
            needs += _IMPORT.findall(stmt)
    module = item.dtest.globs.get("__doctest_requires__", ())
    needs += list(module)
    return list(dict.fromkeys(needs))


def _ipopt_available():
    import pyomo_ecc as ecc
    try:
        ecc.Solver("ipopt")._interface()
        return True
    except ecc.SolverError:
        return False


def missing_packages(names):
    """The names among ``names`` that cannot be imported (or, for ``"ipopt"``, the solver
    that cannot be used) here."""
    out = []
    for n in names:
        if n == "ipopt":
            found = _ipopt_available()
        else:
            try:
                found = importlib.util.find_spec(n) is not None
            except (ImportError, ValueError):
                found = False
        if not found:
            out.append(n)
    return out


def pytest_collection_modifyitems(config, items):
    for item in items:
        if isinstance(item, DoctestItem):
            item.add_marker(pytest.mark.component)
            missing = missing_packages(doctest_requirements(item))
            if missing:
                item.add_marker(pytest.mark.skip(
                    reason=f"doctest needs the optional package(s) {', '.join(missing)}"))
