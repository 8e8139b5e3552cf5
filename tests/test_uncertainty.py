"""Parameter uncertainty: coefficient draws from a fitted file's covariances, per replication seed."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from abm.analysis import replications, uncertainty
from abm.inputs.coefficients import SIGNS, load_coefficients
from helpers import DATA_DIR, small, with_population

DEFAULT = DATA_DIR / "coefficients" / "default.yaml"


@pytest.fixture
def fitted_file(tmp_path):
    """The priors with an estimation and an aggregates section, as the calibration writes them."""
    data = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    data["estimation"] = {
        "terms": ["affordability", "account_value", "lowest", "liquidity_sd"],
        "covariance": np.diag([100.0, 400.0, 1.0, 0.04]).tolist(),
    }
    data["aggregates"] = {
        "values": {"lowest": 2.5, "inertia": 1.0},
        "lower": {"lowest": -4.0, "inertia": 0.0},
        "upper": {"lowest": 8.0, "inertia": 8.0},
        "covariance": {
            "parameters": ["lowest", "inertia"],
            "sections": ["choice", "choice"],
            "matrix": [[0.25, 0.0], [0.0, 4.0]],
        },
    }
    path = tmp_path / "fitted.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_spread_joins_the_survey_block_and_the_fit_block(fitted_file):
    """lowest, re-set by the aggregate fit, takes the fit's variance, not the survey's."""
    spread = uncertainty.spread(fitted_file)
    assert spread.names == ("affordability", "account_value", "liquidity_sd", "lowest", "inertia")
    assert np.diag(spread.covariance).tolist() == [100.0, 400.0, 0.04, 0.25, 4.0]
    assert spread.sections[2] == "heterogeneity"
    assert uncertainty.spread(DEFAULT) is None


def test_draws_depend_on_the_seed_only_and_keep_every_range(fitted_file):
    spread = uncertainty.spread(fitted_file)
    base = load_coefficients(fitted_file)
    draws = [uncertainty.draw(base, spread, seed) for seed in range(300)]
    assert uncertainty.draw(base, spread, 7) == draws[7]
    values = {
        name: np.array([getattr(d, section)[name] for d in draws])
        for name, section in zip(spread.names, spread.sections)
    }
    for name, sign in SIGNS.items():
        if name in values:
            assert np.all(values[name] <= 0) if sign == "<= 0" else np.all(values[name] >= 0), name
    assert np.all(values["inertia"] >= 0) and np.all(values["inertia"] <= 8)
    assert np.all(values["liquidity_sd"] >= 0)
    assert values["affordability"].std() == pytest.approx(10, rel=0.2)  # the covariance's spread
    assert np.mean(values["account_value"] == 0) > 0.2  # 10 +- 20 clipped at its sign
    assert values["lowest"].std() == pytest.approx(0.5, rel=0.2)
    untouched = uncertainty.draw(base, spread, 7, fixed={"choice": {"affordability"}})
    assert untouched.choice["affordability"] == base.choice["affordability"]


def test_replications_draw_only_with_two_runs_or_more_and_not_for_noise(baseline, fitted_file):
    spec = small(baseline).model_copy(
        update={"behaviour": baseline.behaviour.model_copy(update={"coefficients": str(fitted_file)})}
    )
    seeds = [11, 12, 13]
    drawn = uncertainty.replication_coefficients(spec, seeds)
    assert all(c is not None for c in drawn) and drawn[0] != drawn[1]
    assert uncertainty.replication_coefficients(spec, seeds[:1]) == [None]
    noise = spec.model_copy(update={"run": spec.run.model_copy(update={"uncertainty": "noise"})})
    assert uncertainty.replication_coefficients(noise, seeds) == [None] * 3
    # the same seeds give two scenarios the same draws (paired differences keep them)
    other = with_population(spec, residents=500)
    assert uncertainty.replication_coefficients(other, seeds) == drawn
    assert [job[2] for job in replications.jobs_for(spec, seeds)] == drawn


def test_a_parameter_the_targets_do_not_bound_is_not_drawn(fitted_file, tmp_path):
    """The aggregate fit lists the parameters whose standard error spans a quarter of their range or
    more; the draws keep them at their value."""
    from abm.analysis.fitting import aggregates

    assert aggregates.unbounded({"pay": 0.8, "backpay": 15.5}) == ["backpay"]
    data = yaml.safe_load(fitted_file.read_text(encoding="utf-8"))
    data["aggregates"]["unbounded"] = ["inertia"]
    path = tmp_path / "unbounded.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    spread = uncertainty.spread(path)
    assert "inertia" not in spread.names and "lowest" in spread.names
    base = load_coefficients(path)
    assert uncertainty.draw(base, spread, 3).choice["inertia"] == base.choice["inertia"]
