"""Sensitivity analysis of finished sweeps: the Ishigami function's known indices recovered through the
same code path as the model (sweep file, run, Parquet parts, analysis), and the files the analysis writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import PNG_MAGIC, invoke, squash

ISHIGAMI = Path(__file__).resolve().parent / "data" / "ishigami.yaml"  # Sobol, N = 1024, seed 7

# Analytical indices of y = sin x1 + 7 sin^2 x2 + 0.1 x3^4 sin x1, x uniform on [-pi, pi]^3
S1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
ST = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}


def ishigami_copy(folder: Path, **fields) -> Path:
    """tests/data/ishigami.yaml with some fields replaced, written to ``folder``."""
    data = {**yaml.safe_load(ISHIGAMI.read_text(encoding="utf-8")), **fields}
    path = folder / f"ishigami-{data['method']}-{data['samples']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def sweep_and_analyze(sweep_file: Path, out: Path):
    """``pension-abm sweep FILE --out OUT --workers 1``: the CLI result and the indices by parameter."""
    result = invoke("sweep", sweep_file, "--out", out, "--workers", 1)
    assert result.exit_code == 0, result.output
    return result, pd.read_csv(out / "indices.csv").set_index("parameter")


@pytest.fixture(scope="module")
def sobol_run(tmp_path_factory):
    """The shipped Ishigami sweep, run and analysed through the command line."""
    out = tmp_path_factory.mktemp("ishigami") / "sobol"
    result, table = sweep_and_analyze(ISHIGAMI, out)
    return out, result, table


def test_sobol_on_ishigami_recovers_the_analytical_indices(sobol_run):
    _, _, table = sobol_run
    for name in ("x1", "x2", "x3"):
        assert table.at[name, "S1"] == pytest.approx(S1[name], abs=0.03), name
        assert table.at[name, "ST"] == pytest.approx(ST[name], abs=0.03), name


def test_sobol_confidence_intervals_cover_the_analytical_indices(sobol_run):
    _, _, table = sobol_run
    for name in ("x1", "x2", "x3"):
        assert abs(table.at[name, "S1"] - S1[name]) <= table.at[name, "S1_conf"], name
        assert abs(table.at[name, "ST"] - ST[name]) <= table.at[name, "ST_conf"], name
        assert 0 < table.at[name, "S1_conf"] < 0.1 and 0 < table.at[name, "ST_conf"] < 0.1


@pytest.mark.parametrize(("method", "samples", "total_order"), [("fast", 1000, True), ("rbd_fast", 2048, False)])
def test_fast_methods_on_ishigami_recover_the_analytical_indices(tmp_path, method, samples, total_order):
    """FAST (first and total order) and RBD-FAST (first order) through the same code path."""
    _, table = sweep_and_analyze(ishigami_copy(tmp_path, method=method, samples=samples), tmp_path / "out")
    for name in ("x1", "x2", "x3"):
        assert table.at[name, "S1"] == pytest.approx(S1[name], abs=0.03), name
        if total_order:  # FAST's total-order estimates are biased upwards by a few points
            assert table.at[name, "ST"] == pytest.approx(ST[name], abs=0.05), name


def test_morris_on_ishigami_ranks_x3_last_and_gets_x2_exactly(tmp_path):
    """On the 4-level grid over [-pi, pi] every step of x2 changes y by 7 * sin^2(pi/3) over a step of 2/3,
    so mu*(x2) = 7.875 exactly; every step of x1 raises y, so mu(x1) = mu*(x1); x3 acts only through x1."""
    _, table = sweep_and_analyze(ishigami_copy(tmp_path, method="morris", samples=200), tmp_path / "out")
    assert table.at["x2", "mu_star"] == pytest.approx(7 * 0.75 / (2 / 3), rel=1e-9)
    assert table.at["x1", "mu"] == pytest.approx(table.at["x1", "mu_star"]) and table.at["x1", "mu"] > 0
    assert table.at["x3", "mu_star"] < min(table.at["x1", "mu_star"], table.at["x2", "mu_star"])
    assert table.at["x3", "sigma"] > table.at["x3", "mu_star"]  # interaction only: effects of both signs


@pytest.mark.slow
def test_delta_analysis_gives_delta_and_first_order_indices(tmp_path):
    """The delta method (on a Latin hypercube) reports Borgonovo's delta and S1 with their intervals."""
    _, table = sweep_and_analyze(ishigami_copy(tmp_path, method="delta", samples=128), tmp_path / "out")
    assert list(table.columns) == ["output", "delta", "delta_conf", "S1", "S1_conf"]
    values = table[["delta", "delta_conf", "S1", "S1_conf"]].to_numpy()
    assert np.isfinite(values).all()
    assert ((table["delta"] >= 0) & (table["delta"] <= 1)).all()


def test_analyze_writes_indices_csv_json_and_a_figure_per_output(sobol_run):
    out, _, _table = sobol_run
    assert {"indices.csv", "indices.json", "indices_y.png"} <= {p.name for p in out.iterdir()}
    assert (out / "indices_y.png").read_bytes()[:8] == PNG_MAGIC
    csv = pd.read_csv(out / "indices.csv")
    assert list(csv.columns) == ["output", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    assert list(csv["parameter"]) == ["x1", "x2", "x3"] and set(csv["output"]) == {"y"}
    payload = json.loads((out / "indices.json").read_text(encoding="utf-8"))
    assert (payload["sweep"], payload["method"], payload["samples"], payload["replications"]) == (
        "ishigami",
        "sobol",
        1024,
        1,
    )
    assert payload["runs"] == 1024 * (3 + 2)
    pd.testing.assert_frame_equal(pd.DataFrame(payload["indices"]), csv, check_exact=False, rtol=1e-12)


def test_the_cli_prints_the_indices_and_where_they_are(sobol_run):
    out, result, table = sobol_run
    assert f"{table.at['x2', 'S1']:.3f}" in result.output
    assert f"indicesandfiguresin{out}" in squash(result.output)


def test_a_large_enough_sample_gives_no_warning(sobol_run):
    out, result, _ = sobol_run
    assert "warning" not in result.output
    assert json.loads((out / "indices.json").read_text(encoding="utf-8"))["warnings"] == []


def test_a_small_sample_is_warned_about(tmp_path):
    """Below the recommended size: a warning in the output and in indices.json, and the indices still."""
    result, table = sweep_and_analyze(ishigami_copy(tmp_path, samples=16), tmp_path / "out")
    warnings = json.loads((tmp_path / "out" / "indices.json").read_text(encoding="utf-8"))["warnings"]
    assert warnings[0] == "samples = 16 is below the 512 usually needed for stable sobol indices"
    assert any("confidence half-widths" in w and "increase samples" in w for w in warnings)
    assert "warning:samples=16isbelowthe512" in squash(result.output)
    assert list(table.index) == ["x1", "x2", "x3"]


def test_analyze_again_gives_the_same_indices_and_replaces_old_figures(sobol_run, tmp_path):
    out, _, _ = sobol_run
    before = (out / "indices.csv").read_bytes()
    stale = out / "indices_old_output.png"
    stale.write_bytes(PNG_MAGIC)
    result = invoke("analyze", out)
    assert result.exit_code == 0, result.output
    assert (out / "indices.csv").read_bytes() == before
    assert not stale.exists() and (out / "indices_y.png").is_file()


def test_analyze_refuses_a_sweep_with_points_missing(tmp_path):
    """An interrupted sweep is not analysed: exit 2 and a message saying how to finish it."""
    out = tmp_path / "out"
    sweep_and_analyze(ishigami_copy(tmp_path, samples=16, chunk=8), out)
    parts = sorted((out / "parts").glob("part-*.parquet"))
    parts[0].unlink()
    result = invoke("analyze", out)
    assert result.exit_code == 2
    text = squash(result.output)
    assert f"error:{out}:8of80pointsarenotrunyet" in text and "--resume" in text


def test_analyze_refuses_a_folder_that_is_not_a_sweep(tmp_path):
    result = invoke("analyze", tmp_path)
    assert result.exit_code == 2
    assert f"error:{tmp_path}:notasweepfolder" in squash(result.output)


def test_analytical_values_used_here_are_right():
    """The reference values from the closed form (a = 7, b = 0.1): a typo here would mislead every test."""
    a, b, pi = 7.0, 0.1, math.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    variance = v1 + v2 + v13
    assert (v1 / variance, v2 / variance) == pytest.approx((S1["x1"], S1["x2"]), abs=1e-4)
    assert ((v1 + v13) / variance, v13 / variance) == pytest.approx((ST["x1"], ST["x3"]), abs=1e-4)


def test_a_one_parameter_sweep_runs_and_says_why_it_has_no_indices(tmp_path):
    """SALib's analysis needs two parameters or more: a sweep of one lever still runs its points, and the
    analysis writes an empty table with the reason among its warnings."""
    from helpers import BASELINE

    data = {
        "name": "one",
        "base": str(BASELINE),
        "set": {"population.residents": 200, "end_year": 2013},
        "method": "morris",
        "samples": 2,
        "parameters": [{"name": "publicity", "path": "policy.publicity.2012", "bounds": [0.2, 1.0]}],
        "outputs": [{"indicator": "participation_rate", "year": 2013}],
    }
    sweep_file = tmp_path / "one.yaml"
    sweep_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = invoke("sweep", sweep_file, "--out", tmp_path / "out", "--workers", 1)
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "out" / "indices.json").read_text())
    assert payload["indices"] == [] and payload["runs"] == 4
    assert any("one parameter" in note for note in payload["warnings"])
    assert "warning:oneparameter" in squash(result.output)
