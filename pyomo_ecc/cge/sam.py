r"""The social accounting matrix (SAM): a square pandas table with a role for every account.

Cell :math:`S_{u,v}` is the payment *received* by row account :math:`u` from column account
:math:`v` (rows are receipts, columns are expenditures). A SAM is balanced when every account's
row total equals its column total:

.. math::

    \sum_v S_{u,v} = \sum_v S_{v,u} \qquad \forall u .

Account roles (one per account) tell the calibration what each account is:

=====================  =========================================================================
role                   account
=====================  =========================================================================
``good``               a good and the activity producing it (one activity per good)
``factor``             a primary factor (labour, capital); its column pays the household
``production_tax``     indirect tax on output (row: paid by activities)
``import_tariff``      tariff on imports (row: paid by goods)
``household``          the representative household
``government``         the government (row ``government`` / column ``household``: direct tax)
``investment``         the savings-investment account (row: savings; a deficit of the government
                       or a current-account surplus is the government's or the rest of the
                       world's cell in the investment column)
``rest_of_world``      the rest of the world (row: imports; column: exports)
=====================  =========================================================================

Example::

    from pyomo_ecc.cge import SAM
    sam = SAM.from_csv("stdcge_sam.csv")       # columns: account, role, <accounts...>
    sam.check_balance()                        # raises InputError naming unbalanced accounts
    sam.accounts("good")                       # ['BRD', 'MLK']
"""
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from pyomo_ecc.core.config import finite_float, number
from pyomo_ecc.errors import InputError

#: every role a SAM account may have
ROLES = ("good", "factor", "production_tax", "import_tariff", "household", "government",
         "investment", "rest_of_world")
#: roles that must occur exactly once
SINGLE_ROLES = ("household", "government", "investment", "rest_of_world")


class SAM:
    """A social accounting matrix: ``table`` (DataFrame, index and columns ``account``) and
    ``roles`` (Series indexed ``account``). Construction validates the shape, the numbers and the
    roles, not the balance (call :meth:`check_balance`)."""

    def __init__(self, table, roles, name="sam"):
        self.name = name
        if not isinstance(table, pd.DataFrame):
            raise InputError(f"SAM '{name}': table must be a pandas DataFrame")
        table = table.copy()
        table.index = table.index.map(str)
        table.columns = table.columns.map(str)
        if list(table.index) != list(table.columns):
            missing_c = [a for a in table.index if a not in table.columns]
            missing_r = [a for a in table.columns if a not in table.index]
            raise InputError(f"SAM '{name}': rows and columns must be the same accounts in the same "
                             f"order (rows without column: {missing_c}; columns without row: "
                             f"{missing_r})")
        if table.index.has_duplicates:
            raise InputError(f"SAM '{name}': duplicate accounts "
                             f"{sorted(set(table.index[table.index.duplicated()]))}")
        if table.shape[0] == 0:
            raise InputError(f"SAM '{name}': the table has no accounts")
        vals = table.to_numpy(dtype=object)
        empty = pd.isna(table).to_numpy()
        cells = np.zeros(vals.shape)
        bad = []
        for i, j in zip(*np.nonzero(~empty)):
            try:   # the blocks' number check: no strings, booleans, NaN or infinity
                cells[i, j] = finite_float(vals[i, j])
            except ValueError as e:
                bad.append(f"({table.index[i]!r}, {table.columns[j]!r}): {e}")
                continue
            if cells[i, j] < 0:
                bad.append(f"({table.index[i]!r}, {table.columns[j]!r}): must be >= 0, got {cells[i, j]:g}")
        if bad:
            raise InputError(f"SAM '{name}': cells must be finite non-negative numbers (empty cells "
                             f"count as 0); offending cells (row, column):\n  " + "\n  ".join(bad[:10])
                             + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""))
        table = pd.DataFrame(cells, index=table.index, columns=table.columns)
        roles = pd.Series(roles, dtype=object)
        roles.index = roles.index.map(str)
        missing = [a for a in table.index if a not in roles.index]
        if missing:
            raise InputError(f"SAM '{name}': accounts without a role: {missing}")
        unknown = {a: r for a, r in roles.items() if r not in ROLES}
        if unknown:
            raise InputError(f"SAM '{name}': unknown role(s) {unknown}; roles are {list(ROLES)}")
        roles = roles.reindex(table.index)
        for r in SINGLE_ROLES:
            n = int((roles == r).sum())
            if n != 1:
                raise InputError(f"SAM '{name}': needs exactly one '{r}' account, found {n}")
        for r in ("good", "factor"):
            if not (roles == r).any():
                raise InputError(f"SAM '{name}': needs at least one '{r}' account")
        table.index.name = "account"
        table.columns.name = "account"
        roles.index.name = "account"
        roles.name = "role"
        self.table = table
        self.roles = roles

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_csv(cls, path, name=None):
        """Read a CSV with columns ``account, role, <account>...`` (one row per account).

        ``path`` is a file path or the name of a CSV in the case library.
        """
        p = Path(str(path))
        if not p.is_file():
            lib = resources.files("pyomo_ecc.case_library")
            if lib.joinpath(str(path)).is_file():
                p = lib.joinpath(str(path))
            else:
                raise InputError(f"SAM file '{path}' not found (neither a path nor a case-library file)")
        df = pd.read_csv(p)
        for col in ("account", "role"):
            if col not in df.columns:
                raise InputError(f"SAM file '{path}': missing column '{col}'")
        df["account"] = df["account"].astype(str).str.strip()
        df = df.set_index("account")
        roles = df.pop("role").astype(str).str.strip()
        # CSV text: a cell that reads as a number is one; anything else is reported by name
        df = df.apply(lambda col: col.map(_csv_number))
        return cls(df, roles, name=name or Path(str(path)).stem)

    # -- queries -----------------------------------------------------------------------------------
    def accounts(self, role):
        """The accounts with ``role``, in table order."""
        if role not in ROLES:
            raise InputError(f"SAM '{self.name}': unknown role {role!r}; roles are {list(ROLES)}")
        return [a for a in self.table.index if self.roles[a] == role]

    def account(self, role):
        """The single account with ``role`` (household, government, investment, rest_of_world)."""
        acc = self.accounts(role)
        if len(acc) != 1:
            raise InputError(f"SAM '{self.name}': role '{role}' has {len(acc)} accounts, expected 1")
        return acc[0]

    def cell(self, row, col):
        for a in (row, col):
            if a not in self.table.index:
                raise InputError(f"SAM '{self.name}': unknown account {a!r}; accounts are "
                                 f"{list(self.table.index)}")
        return float(self.table.at[row, col])

    def totals(self):
        """DataFrame indexed ``account``: ``row_total``, ``column_total``, ``imbalance`` (row - column)."""
        t = pd.DataFrame({"row_total": self.table.sum(axis=1),
                          "column_total": self.table.sum(axis=0)})
        t["imbalance"] = t["row_total"] - t["column_total"]
        t.index.name = "account"
        return t

    def check_balance(self, tol=1e-9):
        """Raise :class:`InputError` naming every account whose row and column totals differ by
        more than ``tol`` (relative to the larger total, absolute below 1); return the totals."""
        t = self.totals()
        scale = np.maximum(1.0, np.maximum(t["row_total"].abs(), t["column_total"].abs()))
        bad = t[(t["imbalance"].abs() / scale) > tol]
        if not bad.empty:
            lines = [f"{a}: row total {r.row_total:.6g}, column total {r.column_total:.6g}, "
                     f"imbalance {r.imbalance:+.6g}" for a, r in bad.iterrows()]
            raise InputError(f"SAM '{self.name}' is not balanced:\n  " + "\n  ".join(lines))
        return t

    def scale(self, factor):
        """A new SAM with every cell multiplied by ``factor`` (> 0), e.g. a change of units."""
        factor = number(factor, f"SAM '{self.name}': scale factor")
        if factor <= 0:
            raise InputError(f"SAM '{self.name}': scale factor must be positive, got {factor:g}")
        return SAM(self.table * factor, self.roles, name=self.name)

    def gdp(self):
        """GDP at market prices from the expenditure side:
        :math:`C + G + I + E - M` (final demand of goods plus exports less imports)."""
        g = self.accounts("good")
        fd = [self.account(r) for r in ("household", "government", "investment", "rest_of_world")]
        return float(self.table.loc[g, fd].to_numpy().sum()
                     - self.table.loc[self.account("rest_of_world"), g].sum())

    def __repr__(self):
        return f"SAM('{self.name}', {len(self.table)} accounts)"


def _csv_number(v):
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return v.strip()
    return v
