"""Policy blocks: carbon cap, carbon cost with free allocation, intensity standard, green
certificates (quota, issuance cap, exogenous price). See :mod:`pyomo_ecc.policy.base`."""
from pyomo_ecc.policy.base import policy_terms  # noqa: F401
from pyomo_ecc.policy.carbon import CarbonCap, CarbonCost, IntensityStandard  # noqa: F401
from pyomo_ecc.policy.certificates import (CertificateCap, CertificatePrice,  # noqa: F401
                                           CertificateQuota)
