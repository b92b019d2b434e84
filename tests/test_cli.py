"""Integration: the ``pyomo-ecc`` command and the README example."""
import io
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.cli import main, run

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


def test_run_default_case_prints_a_summary():
    out = io.StringIO()
    m = run(out=out)
    text = out.getvalue()
    assert "seed000_community" in text and "welfare" in text and "LMP" in text
    assert f"{ecc.welfare(m):.6f}" in text


def test_run_writes_prices_and_dispatch_csv(tmp_path):
    assert main(["run", "seed000_community", "--out", str(tmp_path)]) == 0
    prices = pd.read_csv(tmp_path / "prices.csv")
    dispatch = pd.read_csv(tmp_path / "dispatch.csv")
    assert list(prices.columns) == ["bus", "t", "lmp"]
    assert list(dispatch.columns) == ["participant", "t", "p_inj"]
    assert dispatch["p_inj"].sum() == pytest.approx(0.0, abs=1e-6)   # copper-plate balance
    assert set(dispatch["participant"]) == {"G1", "G2", "G3", "D4", "D5", "D6"}


def test_console_script_entry_point(tmp_path):
    exe = Path(sys.executable).with_name("pyomo-ecc")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pyomo_ecc.cli"]
    res = subprocess.run(cmd + ["cases"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "seed000_community" in res.stdout and "seed002_double_auction" in res.stdout


def test_bad_case_gives_a_clear_error(capsys):
    assert main(["run", "no_such_case"]) == 1
    assert "unknown case 'no_such_case'" in capsys.readouterr().err


def test_double_auction_case_trades_two_units():
    out = io.StringIO()
    m = run("seed002_double_auction", out=out)
    d = ecc.dispatch(m)["p_inj"]
    assert d[d > 0].sum() == pytest.approx(2.0)          # Q = 2 kWh
    lmp = ecc.prices(m)["lmp"].iloc[0] / 1000.0           # $/kWh
    assert 8.0 - 1e-9 <= lmp <= 9.0 + 1e-9                 # any price in [8, 9] clears Q = 2


def _readme_blocks():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _exec(block):
    from contextlib import redirect_stdout
    out, ns = io.StringIO(), {}
    with redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), ns)
    return ns, out.getvalue()


def test_readme_examples_run_as_written():
    blocks = _readme_blocks()
    assert len(blocks) >= 5, "README lost its python examples"
    # 1. two-bus market: period 0 the peaker's first step (45 $/MWh) is marginal, period 1 its second
    ns, out = _exec(blocks[0])
    p = ecc.prices(ns["m"])["lmp"]
    assert p[("south", 0)] == pytest.approx(45.0) and p[("south", 1)] == pytest.approx(60.0)
    assert "lmp" in out
    # 2. carbon cap and certificate quota: gas is marginal (40 + 0.4 c = lmp, 20 + 0.9 c = lmp)
    ns, _ = _exec(blocks[1])
    assert ecc.price_frame(ns["m"], "carbon_price").iloc[0, 0] == pytest.approx(40.0)
    assert ecc.price_frame(ns["m"], "certificate_price").iloc[0, 0] == pytest.approx(14.0)
    # 3. DC triangle, equal reactances: f12 = (g1 - g2)/3 <= 80 with g1 + g2 = 300 gives g1 = 270;
    #    one more MW at bus 3 is served half by each unit: 35 = (20 + 50)/2
    ns, _ = _exec(blocks[2])
    c = ecc.lmp_components(ns["m"])
    assert c["lmp"].to_numpy() == pytest.approx([20.0, 50.0, 35.0])
    assert (c["energy"] + c["congestion"]).to_numpy() == pytest.approx(c["lmp"].to_numpy())
    assert ecc.dispatch(ns["m"]).loc[("cheap", 0), "p_inj"] == pytest.approx(270.0)
    # 4. a fleet of two units: coal (10 $/MWh) at its 60 MW, gas serves the other 20 MW
    ns, _ = _exec(blocks[3])
    assert ecc.dispatch(ns["m"]).loc[("gens[gas]", 0), "p_inj"] == pytest.approx(20.0)
    # 5. feeder: the 0.6 MW rating binds; the DER at B serves the other 0.4 MW at 45 + 2*5*0.4
    ns, _ = _exec(blocks[4])
    d = ecc.dlmp(ns["m"])
    assert d.loc[("B", 0), "lmp"] == pytest.approx(49.0)
    assert d.loc[("B", 0), "congestion"] == pytest.approx(9.0)


def test_readme_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    first_block = lines[lines.index("```bash") + 1: lines.index("```bash") + 3]
    assert first_block[0].startswith("bash ecc.sh run")
    assert first_block[1].startswith("bash ecc.sh test")
    assert "bash ecc.sh test" in (ROOT / ".ci" / "run").read_text()


def test_plot_option_writes_a_picture(tmp_path):
    png = tmp_path / "merit.png"
    assert main(["run", "--plot", str(png)]) == 0
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_cge_command_prints_the_table_5_layout(capsys):
    assert main(["cge"]) == 0
    text = capsys.readouterr().out
    assert "GDP (trillion yuan)" in text and "carbon price 1000" in text
    # the baseline column is calibrated to the seed's Table 5 baseline: GDP 91.9, 68.45e8 MWh
    gdp = next(line for line in text.splitlines() if line.startswith("GDP"))
    assert gdp.split()[3] == "91.90"
