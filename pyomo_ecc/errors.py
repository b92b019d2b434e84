"""Exceptions raised by pyomo_ecc.

Every error names the offending item (block, option, bus, constraint) in its message, so a
user never has to read a traceback from inside Pyomo to learn what was wrong.
"""


class EccError(Exception):
    """Base class of every pyomo_ecc error."""


class InputError(EccError, ValueError):
    """Bad input data: a negative capacity, min > max, NaN, unknown bus, malformed case, ..."""


class RetiredNameError(InputError, AttributeError):
    """A name that was renamed: the message gives the new one. It is an ``AttributeError`` too, so
    ``hasattr(block, old_name)`` stays False."""


class ModelError(EccError):
    """A model that cannot be assembled or priced as asked (e.g. no participants)."""


class SolverError(EccError):
    """The solver did not return an optimal solution; the message names the termination."""

    def __init__(self, message, termination=None):
        super().__init__(message)
        self.termination = termination


class InfeasibleMarketError(SolverError):
    """The market has no feasible dispatch.

    ``conflicts`` is a pandas DataFrame (index ``constraint``) with the constraints that had to be
    relaxed to restore feasibility and by how much (``violation``, in the constraint's own
    units), found by an elastic (phase-1) relaxation of the same model.
    """

    def __init__(self, message, conflicts=None):
        super().__init__(message, termination="infeasible")
        self.conflicts = conflicts


class PriceError(EccError):
    """Prices were asked for but the duals are missing or not meaningful."""
