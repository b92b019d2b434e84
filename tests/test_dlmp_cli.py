"""`pyomo-ecc dlmp`: the component table, the AC comparison, the frames and the pictures."""
import io

import pandas as pd
import pytest
from conftest import requires_ipopt

from pyomo_ecc.cli import dlmp_command, main

pytestmark = pytest.mark.integration


@requires_ipopt
def test_dlmp_losses_agrees_with_ac_on_case33bw(tmp_path):
    """`pyomo-ecc dlmp case33bw --losses --ac`: the printed largest difference to AC DistFlow is
    below 0.01 $/MWh, and the written frame's components sum to its lmp."""
    out = io.StringIO()
    d = dlmp_command("case33bw", losses=True, ac=True, out_dir=tmp_path, out=out)
    text = out.getvalue()
    assert "loss iterations" in text and "energy + loss + congestion + voltage" in text
    line = [s for s in text.splitlines() if s.startswith("largest |lmp - AC lmp|")][0]
    assert float(line.split(":")[1].split()[0]) < 0.01
    f = pd.read_csv(tmp_path / "dlmp.csv", index_col=[0, 1])
    pd.testing.assert_series_equal(f[["energy", "loss", "congestion", "voltage"]].sum(axis=1),
                                   f.lmp, check_names=False, atol=1e-6)
    assert (f.loss.drop(index=(1, 0)) > 0).all()
    assert len(d) == 33
    assert (tmp_path / "iterations.csv").exists() and (tmp_path / "voltages.csv").exists()


def test_dlmp_multi_period_writes_frames_and_pictures(tmp_path):
    pytest.importorskip("matplotlib")
    rc = main(["dlmp", "feeder33_day", "--periods", "8", "--out", str(tmp_path / "out"),
               "--plot", str(tmp_path / "pics")])
    assert rc == 0
    f = pd.read_csv(tmp_path / "out" / "dlmp.csv", index_col=[0, 1])
    assert len(f) == 33 * 8
    for name in ("components.png", "voltage.png", "heatmap.png", "feeder.png"):
        assert (tmp_path / "pics" / name).stat().st_size > 10_000
    assert "v_min" in pd.read_csv(tmp_path / "out" / "v_min_price.csv").columns[-1]


def test_dlmp_bad_case_named(capsys):
    assert main(["dlmp", "seed000_community"]) == 1
    assert "dlmp needs a feeder case" in capsys.readouterr().err
    assert main(["dlmp", "feeder33_day", "--periods", "30"]) == 1
    assert "periods must be an integer from 1" in capsys.readouterr().err
