"""Solving an economy in levels: assemble, check the system is square, solve with a nonlinear
solver through :func:`pyomo_ecc.solve`, check Walras' law on the dropped market."""
from pyomo_ecc.errors import ModelError
from pyomo_ecc.solvers import solve as solve_model

#: Ipopt tolerances per unit of economy size (total gross output; tight: benchmark numbers are
#: compared to 1e-9 and better)
IPOPT_TOL = 1e-13


def solve(economy, solver="ipopt", options=None, tee=False, walras_tol=1e-7):
    """Assemble ``economy`` (square-system check included), solve it and check that the dropped
    market clears (Walras' law) to ``walras_tol`` relative to the size of the economy.

    Returns the :class:`pyomo_ecc.SolveResult`. Raises :class:`ModelError` if the dropped market
    does not clear (an inconsistent model: some agent's budget does not balance).
    """
    economy.assemble()
    economy.check_square()      # again: fixing / unfixing / deactivating since may have changed it
    scale = max(1.0, float(economy.bench.Z0.sum()))
    opts = options
    if solver in ("ipopt", "cyipopt") and options is None:
        opts = {"tol": IPOPT_TOL * scale, "constr_viol_tol": IPOPT_TOL * scale}
    res = solve_model(economy, solver=solver, options=opts, tee=tee)
    w = economy.walras_residual()
    if abs(w) > walras_tol * scale:
        raise ModelError(f"economy '{economy.name}': the dropped market {economy._dropped} does not clear "
                         f"(excess supply {w:.3g}); Walras' law fails, so an agent's budget is not balanced")
    return res
