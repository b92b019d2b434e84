"""Integration: `pyomo-ecc run seed000_coupled` prints LMP, carbon price and certificate price."""
import io

import pytest

from pyomo_ecc.models.coupled import coupled_prices

pytestmark = pytest.mark.integration


def test_cli_prints_lmp_carbon_and_certificate_price():
    from pyomo_ecc.cli import run
    out = io.StringIO()
    m = run("seed000_coupled", out=out)
    text = out.getvalue()
    pr = coupled_prices(m).loc[("community", 0)]
    assert "coupled prices: lmp [yuan/MWh], carbon [yuan/tCO2], certificate [yuan/certificate]" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("community 0"))
    values = [float(v) for v in line.split()[2:5]]
    assert values == pytest.approx([pr["lmp"], pr["carbon_price"], pr["certificate_price"]], abs=1e-6)
    assert "sw_CECM" in text
