"""Property: any scenario override, inside or outside the schema, ends in one of two ways. Either
exit code 2 with one message naming the field and nothing written, or a finished run whose fund
conserves money and whose indicators are finite and inside their ranges. Never a traceback.

Hypothesis draws the overrides (derandomized: the same draws on every machine); the runs are
small (300 residents, three years) so that the property costs seconds.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from abm.inputs.coefficients import DYNAMICS, TERMS
from helpers import BASELINE, invoke, squash

BASE = ["population.residents=300", "end_year=2013"]
YEARS = st.integers(2011, 2014)
NOT_FINITE = st.sampled_from([math.inf, -math.inf, math.nan])
JUNK = st.one_of(
    NOT_FINITE, st.floats(-1e308, 1e308), st.integers(-(10**9), 10**9), st.text(max_size=4), st.none(), st.booleans()
)


def numbers(low: float, high: float) -> st.SearchStrategy:
    """Mostly a value in [low, high] (its ends included), sometimes anything (infinite, NaN, huge, text, null)."""
    inside = st.one_of(st.floats(low, high, allow_nan=False, allow_infinity=False), st.sampled_from([low, high]))
    return mostly(inside)


def mostly(inside: st.SearchStrategy, tenths: int = 8) -> st.SearchStrategy:
    """``inside`` in about ``tenths`` draws of ten, else anything."""
    return st.integers(0, 9).flatmap(lambda k: inside if k < tenths else JUNK)


GRADES = mostly(
    st.one_of(
        st.lists(st.integers(50, 3000), min_size=1, max_size=5, unique=True).map(sorted),
        st.lists(st.integers(-10, 300_000), max_size=5),
    )
)  # unsorted, zero, above the limit, empty
SUBSIDY = mostly(
    st.lists(st.tuples(st.integers(1, 2000), numbers(0, 200)).map(list), min_size=1, max_size=3).map(sorted)
)
COUNTY = {  # county value: its strategy (some partial mappings: they merge into the county's)
    "villages": mostly(st.one_of(st.integers(1, 300), st.integers(-5, 200_000))),
    "male_share": numbers(0, 1),
    "birth_rate": numbers(0, 0.03),
    "out_migration_rate": numbers(0, 0.1),
    "income_dispersion": numbers(0, 1.5),
    "income_shock": numbers(0, 0.5),
    "children": st.fixed_dictionaries({"under_40": numbers(0, 3)}),
    "awareness": st.fixed_dictionaries({"mean": numbers(0.05, 0.95)}),
    "education_shares": st.fixed_dictionaries({"junior_secondary": numbers(0, 1)}),
    "poor_share": numbers(0, 0.3),
}


def dated(path: str, values: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(YEARS.map(lambda year: f"{path}.{year}"), values)


def fixed(path: str, values: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(st.just(path), values)


OVERRIDE = st.one_of(
    dated("policy.publicity", numbers(0, 1)),
    dated("policy.service_quality", numbers(0, 1)),
    dated("policy.basic_pension", numbers(0, 500)),
    dated("policy.local_top_up", numbers(0, 200)),
    dated("policy.long_contribution_bonus", numbers(0, 5)),
    dated("policy.interest_rate", numbers(-0.05, 0.1)),
    dated("policy.grades", GRADES),
    dated("policy.subsidy", SUBSIDY),
    dated("policy.government_paid_grade", mostly(st.sampled_from([100, 200, 150, 0, 40_000]))),
    dated("policy.pension_age", mostly(st.integers(35, 80))),
    st.tuples(st.sampled_from([40, 60, 70]).map(lambda age: f"policy.annuity_divisor.{age}"), numbers(20, 300)),
    fixed("policy.central_share", numbers(0, 1)),
    fixed("policy.min_years", mostly(st.integers(-1, 50))),
    st.tuples(st.sampled_from(list(TERMS)).map(lambda t: f"behaviour.choice.{t}"), numbers(-5, 5)),
    st.tuples(st.sampled_from(DYNAMICS).map(lambda d: f"behaviour.dynamics.{d}"), numbers(0, 0.5)),
    st.sampled_from(list(COUNTY)).flatmap(
        lambda name: st.tuples(st.just(f"population.county_overrides.{name}"), COUNTY[name])
    ),
    dated("economy.inflation", numbers(-0.05, 0.1)),
    fixed("economy.basic_needs_line", numbers(1000, 20_000)),
    fixed("run.report_years", mostly(st.lists(st.integers(2005, 2020), max_size=3))),
    fixed("end_year", mostly(st.integers(2009, 2015))),
    fixed("population.residents", mostly(st.integers(100, 600))),
)
SHARES = (
    "participation_rate",
    "lowest_grade_share",
    "top_grade_share",
    "beneficiary_share",
    "contribution_share_of_revenue",
    "basic_pension_share_of_spending",
)
NON_NEGATIVE = (
    "residents",
    "mean_income",
    "eligible",
    "paying",
    "government_paid",
    "mean_contribution",
    "pensioners",
    "mean_basic_pension",
    "mean_account_pension",
    "mean_pension",
    "replacement_rate",
    "basic_needs_coverage",
    "fund_inflow",
    "fund_outflow",
    "public_spending",
)


def as_set(path: str, value) -> str:
    """``--set path=value`` with the value written in YAML (``.inf``, ``.nan``, quoted text)."""
    return f"{path}={yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix('...').strip()}"


@pytest.mark.slow
@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(overrides=st.lists(OVERRIDE, min_size=1, max_size=2, unique_by=lambda item: item[0]))
def test_any_override_is_one_clear_message_or_a_sound_run(tmp_path, overrides):
    out = Path(tempfile.mkdtemp(dir=tmp_path)) / "out"
    args = [arg for item in [*BASE, *(as_set(p, v) for p, v in overrides)] for arg in ("--set", item)]
    result = invoke("run", BASELINE, *args, "--workers", 1, "--quiet", "--out", out)
    assert "Traceback" not in result.output and result.exit_code in (0, 2), (overrides, result.output, result.exception)
    event(f"exit code {result.exit_code}")  # --hypothesis-show-statistics: how many draws ran, how many were refused
    if result.exit_code == 2:
        text = squash(result.output)
        assert result.output.count("error:") == 1, result.output
        assert any(f"{path}" in text or f"{path}." in text for path, _ in overrides), (overrides, result.output)
        assert not out.exists(), overrides
        return
    frame = pd.read_csv(out / "timeseries.csv")
    numbers_only = frame.drop(columns=["run"]).to_numpy(dtype=float)
    assert np.isfinite(numbers_only).all(), overrides
    shares = frame[[*SHARES, *(c for c in frame.columns if c.startswith("grade_share_"))]]
    assert ((shares >= 0) & (shares <= 1 + 1e-12)).all().all(), overrides
    assert (frame[list(NON_NEGATIVE)] >= 0).all().all(), overrides
    balance = frame["fund_balance"].to_numpy()  # closing balance = opening + inflow - outflow, every year
    flows = (frame["fund_inflow"] - frame["fund_outflow"]).to_numpy()
    np.testing.assert_allclose(np.diff(np.r_[0.0, balance]), flows, rtol=0, atol=1e-9 * (1 + np.abs(balance).max()))
