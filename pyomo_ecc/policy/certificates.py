r"""Green certificates: a consumption quota (endogenous price), the seed 000 issuance cap, and an
exogenous certificate price.

Producers issue :math:`z_{i,t} = \kappa_i\,p_{i,t}\,\Delta t_t\,u` certificates
(``certificate_rate`` :math:`\kappa_i` per MWh of renewable output). Consumption of a demand
participant :math:`j` in period :math:`t` is :math:`D_{j,t} = -E_{j,t}` (MWh).

**Quota** (renewable portfolio standard) on a scope of obligated consumers :math:`S_D`,
certificates from a scope of issuers :math:`S_G`:

.. math::

    \sum_{i \in S_G}\sum_{t \in T_S} z_{i,t} \;\ge\; \alpha \sum_{j \in S_D}\sum_{t \in T_S} D_{j,t}
    \qquad (\mu \ge 0), \qquad 0 \le \alpha \le 1

The certificate price is :math:`\pi^{G} = \mu` (currency per certificate). At the optimum an
interior obligated consumer pays :math:`\lambda + \alpha\,\pi^{G}` per MWh (its marginal
utility), and an interior issuer produces where its marginal cost equals
:math:`\lambda + \kappa_i\,\pi^{G}`.

**Issuance cap** (seed 000, eq. 8): :math:`\alpha \sum_{i \in S_G} \sum_t z_{i,t} \le Z^{cap}`
with dual :math:`\mu \le 0`; its price ``certificate_cap_price`` :math:`= -\mu` is the scarcity
rent of one more certificate of cap.

**Exogenous price**: the objective gains
:math:`\pi^{G}\left(\alpha\sum_{j \in S_D}\sum_t D_{j,t} - \sum_{i \in S_G}\sum_t z_{i,t}\right)`:
issuers earn :math:`\pi^{G}` per certificate, obligated consumers (only when :math:`\alpha > 0`)
pay :math:`\alpha\pi^{G}` per MWh. With :math:`\alpha = 0` this is seed 000's certificate
benefit :math:`B^G(g'') = \pi^G z`.

======================  ===========================================  =================================
symbol                  attribute                                    meaning
======================  ===========================================  =================================
:math:`\alpha`          ``CertificateQuota.alpha``                   quota share (mutable)
quota constraint        ``CertificateQuota.ineq_certificate_quota``  price ``certificate_price``
:math:`\sum z`          ``CertificateQuota.certificates``            certificates issued
:math:`\sum D`          ``CertificateQuota.consumption``             obligated MWh
:math:`Z^{cap}`         ``CertificateCap.cap``                       cap (mutable)
:math:`\alpha` (eq. 8)  ``CertificateCap.alpha``                     weight of a certificate (mutable)
cap constraint          ``CertificateCap.ineq_certificate_cap``      price ``certificate_cap_price``
:math:`\pi^{G}`         ``CertificatePrice.price``                   currency per certificate
benefit / cost          ``CertificatePrice.policy_cost``             added to the objective
======================  ===========================================  =================================

Example::

    >>> import pyomo_ecc as ecc
    >>> from pyomo_ecc.policy import CertificateQuota
    >>> m = ecc.Market()
    >>> m.coal = ecc.Producer(bus="A", b=20, p_max=100)
    >>> m.wind = ecc.Producer(bus="A", b=30, p_max=100, certificate_rate=1.0)
    >>> m.load = ecc.FixedLoad(bus="A", p=100)
    >>> m.rps = CertificateQuota(alpha=0.3)
    >>> _ = ecc.solve(m)
    >>> round(m.wind.p[0].value, 6), round(float(ecc.price_frame(m, "certificate_price").iloc[0, 0]), 6)
    (30.0, 10.0)
"""
from pyomo.common.config import ConfigValue
from pyomo.environ import Constraint, Expression, Param, Set

from pyomo_ecc.core.block import declare_block
from pyomo_ecc.core.config import nonnegative_float
from pyomo_ecc.policy.base import PolicyData, name_list, unit_interval
from pyomo_ecc.core.contract import PriceDecl


class _CertificateScopeData(PolicyData):
    """Issuers (``producers``) and obligated consumers (``consumers``) of a certificate policy."""

    CONFIG = PolicyData.CONFIG()
    CONFIG.declare("producers", ConfigValue(
        default=None, domain=name_list,
        doc="certificate issuers (default: every participant with certificates)"))

    def issuers(self):
        return self.resolve("producers", self.config.producers,
                            default=lambda p: hasattr(p, "certificates"), need=("certificates",),
                            what=" (give it a certificate_rate)")

    def obligated(self):
        return self.resolve("consumers", self.config.consumers,
                            default=lambda p: p.policy_role() == "demand", role="demand")

    def _sums(self, issuers, consumers):
        periods = self.scope_periods()
        self.issuer_set = Set(initialize=[p.local_name for p in issuers], ordered=True,
                              doc="certificate issuers")
        self.certificates = Expression(
            expr=sum(p.certificates[t] for p in issuers for t in periods),
            doc="certificates issued by the scope")
        if consumers is not None:
            self.consumer_set = Set(initialize=[p.local_name for p in consumers], ordered=True,
                                    doc="obligated consumers")
            self.consumption = Expression(
                expr=sum(-p.energy_mwh(t) for p in consumers for t in periods),
                doc="obligated consumption (MWh)")


@declare_block("CertificateQuota")
class CertificateQuotaData(_CertificateScopeData):
    """Certificates >= alpha x consumption; its dual is the certificate price (module doc)."""

    CONFIG = _CertificateScopeData.CONFIG()
    CONFIG.declare("alpha", ConfigValue(default=None, domain=unit_interval,
                                        doc="quota share of consumption, in [0, 1]"))
    CONFIG.declare("consumers", ConfigValue(
        default=None, domain=name_list, doc="obligated consumers (default: all demand)"))

    def build_policy(self, market):
        if self.config.alpha is None:
            self.fail("option 'alpha' (quota share in [0, 1]) is required")
        self.alpha = Param(initialize=self.config.alpha, mutable=True, doc="quota share")

    def assemble(self):
        issuers, consumers = self.issuers(), self.obligated()
        if not issuers:
            self.fail("no participant in the scope issues certificates (give renewable "
                      "producers a certificate_rate)")
        if not consumers:
            self.fail("no obligated consumer in the scope")
        self._sums(issuers, consumers)
        self.ineq_certificate_quota = Constraint(
            expr=self.certificates - self.alpha * self.consumption >= 0,
            doc="quota: certificates - alpha * consumption >= 0 (certificates)")

    def price_declarations(self):
        return [PriceDecl("certificate_price", (self.local_name,), ("policy",),
                          self.ineq_certificate_quota, +1, "quantity")]


@declare_block("CertificateCap")
class CertificateCapData(_CertificateScopeData):
    """Seed 000 eq. 8: alpha x certificates of the scope <= Z^cap (module doc)."""

    CONFIG = _CertificateScopeData.CONFIG()
    CONFIG.declare("cap", ConfigValue(default=None, domain=nonnegative_float,
                                      doc="cap Z^cap on alpha x certificates (>= 0)"))
    CONFIG.declare("alpha", ConfigValue(default=1.0, domain=unit_interval,
                                        doc="weight alpha of certificates, in [0, 1]"))

    def build_policy(self, market):
        if self.config.cap is None:
            self.fail("option 'cap' is required")
        self.cap = Param(initialize=self.config.cap, mutable=True, doc="certificate cap")
        self.alpha = Param(initialize=self.config.alpha, mutable=True, doc="weight alpha")

    def assemble(self):
        issuers = self.issuers()
        if not issuers:
            self.fail("no participant in the scope issues certificates (give renewable "
                      "producers a certificate_rate)")
        self._sums(issuers, None)
        self.ineq_certificate_cap = Constraint(
            expr=self.alpha * self.certificates <= self.cap,
            doc="certificate cap: alpha * certificates <= cap (certificates)")

    def price_declarations(self):
        return [PriceDecl("certificate_cap_price", (self.local_name,), ("policy",),
                          self.ineq_certificate_cap, -1, "quantity")]


@declare_block("CertificatePrice")
class CertificatePriceData(_CertificateScopeData):
    """Certificates valued at an exogenous price (module doc)."""

    CONFIG = _CertificateScopeData.CONFIG()
    CONFIG.declare("price", ConfigValue(default=None, domain=nonnegative_float,
                                        doc="certificate price (currency per certificate, >= 0)"))
    CONFIG.declare("alpha", ConfigValue(default=0.0, domain=unit_interval,
                                        doc="share of consumption the consumers must buy, [0, 1]"))
    CONFIG.declare("consumers", ConfigValue(
        default=None, domain=name_list, doc="obligated consumers (default: all demand)"))

    def build_policy(self, market):
        if self.config.price is None:
            self.fail("option 'price' (currency per certificate) is required")
        self.price = Param(initialize=self.config.price, mutable=True,
                           doc="certificate price (currency/certificate)")
        self.alpha = Param(initialize=self.config.alpha, mutable=True, doc="quota share")

    def assemble(self):
        issuers = self.issuers()
        consumers = self.obligated() if self.config.alpha > 0 or self.config.consumers else []
        if self.config.alpha > 0 and not consumers:
            self.fail(f"option 'alpha' = {self.config.alpha} but no obligated consumer is in "
                      f"the scope")
        if not issuers and not consumers:
            self.fail("no participant in the scope issues certificates (give renewable "
                      "producers a certificate_rate)")
        self._sums(issuers, consumers)
        self.policy_cost = Expression(
            expr=self.price * (self.alpha * self.consumption - self.certificates),
            doc="certificate payments minus certificate revenue (currency)")

    def objective_cost(self):
        return self.policy_cost
