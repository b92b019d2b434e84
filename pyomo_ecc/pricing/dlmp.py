r"""Distribution LMPs: decompose a solved feeder market's nodal prices into components.

Everything comes from the same solved model: the prices its network *declares*
(:mod:`~pyomo_ecc.pricing.declarations`, published by :func:`~pyomo_ecc.pricing.prices.price_frame`)
and the feeder's sensitivities. One more unit of active load at bus :math:`i` is served from
the root; on its way it raises the flow of every branch :math:`e \in \mathrm{path}(i)` by one
unit and lowers every squared voltage :math:`v_k` by :math:`2 R_{ki}/S_{base}` per MW. Each
limit it tightens adds its price times that tightening. For LinDistFlow (``method="path"``):

.. math::

    \mathrm{DLMP}_{i,t} = \underbrace{\lambda_{0,t}}_{\text{energy}}
      + \underbrace{0}_{\text{loss}}
      + \underbrace{\sum_{e \in \mathrm{path}(i)} \sum_{k} \cos\theta_k\,\pi^{S}_{e,t,k}}_{
        \text{congestion}}
      + \underbrace{\sum_{k} \frac{2 R_{ki}}{S_{base}}\,(\underline{\pi}_{k,t} - \overline{\pi}_{k,t})}_{
        \text{voltage}}

with :math:`\lambda_{0,t}` the published ``lmp`` of the root (the energy reference is the
substation bus), :math:`\pi^S \ge 0` the ``branch_price`` of each polygon side (currency per MWh
of rating), :math:`\underline{\pi}, \overline{\pi} \ge 0` the ``v_min_price`` and
``v_max_price`` (currency per pu² per hour). The sums are tree walks, :math:`O(n)` per period:
the voltage prices are summed up each subtree (:math:`M_e = \sum_{k \text{ below } e}
(\underline{\pi}_k - \overline{\pi}_k)`), and walked down from the root
(:math:`\mathrm{volt}_j = \mathrm{volt}_{\pi(j)} + 2 r_j M_j / S_{base}`); no path matrix is
formed. The reactive price ``qlmp`` decomposes the same way with :math:`\sin\theta_k` and
:math:`X`.

The nodal price ``lmp`` is the published one (``ecc.prices(m)``); that the components sum to it
is the KKT stationarity of the flow and voltage variables, and :func:`dlmp` checks it
(``check=True``) on every bus.

**At an operating point** (``method="jacobian"``, the default for
:class:`~pyomo_ecc.network.ac_distflow.ACDistFlow` and
:class:`~pyomo_ecc.network.lindistflow.LinDistFlowLosses`; it also works for LinDistFlow, where
it reproduces the tree walk). Let :math:`y` be the network's state variables in period
:math:`t` (flows, squared voltages and currents) and :math:`E(y) = b` its equality constraints
(balances, voltage drops, currents, root voltage), with the participants' injections held at
their solved values. One more unit of load at bus :math:`i`, supplied from the root, moves the
state by :math:`dy` and the root's active and reactive supply by :math:`dp_0, dq_0`, solving

.. math::

    J\,z = e_i, \qquad J = [\,J_E \;\; e_{p,0} \;\; e_{q,0}\,], \quad z = (dy, dp_0, dq_0)

(:math:`J_E = \partial E/\partial y` at the solution, a sparse matrix with a tree's
structure). Stationarity in :math:`y` then gives, at every KKT point of the solved model,

.. math::

    \mathrm{DLMP}_i = \underbrace{\lambda^p_0}_{\text{energy}}
      + \underbrace{\lambda^p_0 (dp_0 - 1) + \lambda^q_0\,dq_0}_{\text{loss}}
      \underbrace{- \sum_{k \in \text{branch}} \mu_k\,\nabla g_k\cdot dy}_{\text{congestion}}
      \underbrace{- \sum_{k \in \text{voltage}} \mu_k\,\nabla g_k\cdot dy}_{\text{voltage}}

where :math:`dp_0 - 1` is the marginal loss factor of bus :math:`i` and :math:`\mu_k` the
multiplier behind each declared limit price (:math:`\mu = s\,\pi\,w`). Each component is a linear
function :math:`c^\top z` of the response, so all buses come from one adjoint solve
:math:`J^\top a = c` per component (one sparse LU factorisation per period, no dense
:math:`n \times n` work): :math:`\mathrm{component}_i = a_{\mathrm{row}(i)}`. Multipliers of
variable bounds (:math:`v, \ell \ge 0`) are not used: they are inactive on a loaded feeder.

=========================  ==========================  ==========================================
column                     meaning                     source
=========================  ==========================  ==========================================
``lmp``                    nodal price                 ``price_frame(m, "lmp")``
``energy``                 price at the substation     ``lmp`` of the root
``loss``                   marginal losses             0 (lossless); loss factors at the
                                                       operating point (``jacobian``)
``congestion``             branch limits               ``branch_price`` on the path to root
``voltage``                voltage limits              ``v_min_price``, ``v_max_price``
=========================  ==========================  ==========================================

The decomposition is the feeder network's own (``price_components``, the block contract of
:mod:`pyomo_ecc.core.contract`; the code is in :mod:`pyomo_ecc.network.feeder_prices`):
:func:`dlmp` reads the published prices the network names, hands them to it and checks that the
components sum to the nodal price.

Example::

    >>> import networkx as nx, pyomo_ecc as ecc
    >>> from pyomo_ecc.network.lindistflow import LinDistFlow
    >>> g = nx.Graph(); g.add_edge(0, 1, r=0.05, x=0.02)
    >>> g.nodes[1]["load"] = 2.0
    >>> m = ecc.Market()
    >>> m.grid = ecc.Producer(bus=0, b=40.0, p_max=10)
    >>> m.der = ecc.Producer(bus=1, b=70.0, p_max=10)
    >>> m.net = LinDistFlow(graph=g, ref_bus=0, base_mva=1.0, v_min=0.95)
    >>> _ = ecc.solve(m)
    >>> dlmp(m).round(6).loc[(1, 0)].tolist()     # lmp, energy, loss, congestion, voltage
    [70.0, 40.0, 0.0, 0.0, 30.0]
"""
from pyomo_ecc.core.contract import DeclaredPrices  # noqa: F401
from pyomo_ecc.core.market import markets_in, require_markets
from pyomo_ecc.errors import ModelError, PriceError
from pyomo_ecc.network.feeder_prices import (COMPONENTS, LIMIT_PRICES,  # noqa: F401
                                             sensitivity_system)
from pyomo_ecc.pricing.components import check_sum
from pyomo_ecc.pricing.prices import price_frames


def dlmp(model, price="lmp", method="auto", check=True, tol=1e-6):
    """DLMP components of every bus and period: DataFrame indexed (``bus``, ``t``) with the
    nodal price (``lmp``, or ``qlmp`` with ``price="qlmp"``) and the columns ``energy``,
    ``loss``, ``congestion``, ``voltage`` (currency per MWh, or per Mvarh).

    ``method``: ``"path"`` (LinDistFlow only: tree walks over the declared limit prices),
    ``"jacobian"`` (sparse adjoint sensitivities at the solved operating point; any radial
    formulation) or ``"auto"`` (the network's own choice: path for LinDistFlow, jacobian
    otherwise). With ``check`` (default), raises :class:`~pyomo_ecc.errors.PriceError` if the
    components of any bus differ from its nodal price by more than ``tol`` times
    ``max(1, |price|)``.
    """
    import pandas as pd

    if price not in ("lmp", "qlmp"):
        raise PriceError(f"price must be 'lmp' or 'qlmp', got {price!r}")
    if method not in ("auto", "path", "jacobian"):
        raise PriceError(f"method must be 'auto', 'path' or 'jacobian', got {method!r}")
    frames, formulations = [], set()
    for mk in require_markets(model):
        net = mk.get_network()
        if net is None or not net.component_prices:
            raise ModelError(f"'{model.name}' has no market with a radial feeder network "
                             f"(LinDistFlow, LinDistFlowLosses or ACDistFlow): DLMP "
                             f"decomposition needs one")
        if not mk.assembled:
            raise PriceError(f"market '{mk.name}' has not been solved: call pyomo_ecc.solve(model) first")
        formulations.add(net.formulation or net.block_kind())
        prices = DeclaredPrices(mk, net.component_prices, price_frames(mk, net.component_prices))
        frames.append(net.price_components(prices, price=price, method=method))
    df = pd.concat(frames)
    df.attrs = dict(frames[0].attrs)
    if check:
        check_sum(df, tol, f"DLMP components of the {' / '.join(sorted(formulations))} model")
    return df


def loss_factors(model):
    r"""Marginal loss factors :math:`\partial p_0/\partial P^L_i - 1` of every bus and period at
    the solved operating point (DataFrame indexed (``bus``, ``t``), column ``mlf``): the extra
    root supply per unit of extra load at bus :math:`i`, from one adjoint solve per period. Zero
    on a lossless model."""
    import pandas as pd

    frames = []
    for mk in markets_in(model):
        frames.append(mk.assemble().get_network().loss_factors())
    return pd.concat(frames)
