"""pension-abm validate: the facts file is checked, the report covers every fact, foreign folders are refused."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from abm.analysis import validation
from abm.cli import app
from abm.infra.errors import UserError


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_shipped_facts_load_and_none_is_a_calibration_target():
    facts = validation.load_facts()
    assert len(facts) >= 20
    targets = yaml.safe_load(validation.CALIBRATION_DIR.joinpath("targets.yaml").read_text())["targets"]
    assert not {(t["indicator"], t["year"]) for t in targets} & {(f.measure, f.year) for f in facts}
    assert all(f.range[0] <= f.value <= f.range[1] for f in facts)


@pytest.mark.parametrize(
    "field, value, named",
    [
        ("value", "many", "facts[0].value"),
        ("range", [0.5, 0.6], "facts[0].range"),
        ("measure", "happiness", "facts[0].measure"),
        ("source", "", "facts[0].source"),
    ],
)
def test_bad_facts_file_names_the_field(tmp_path, field, value, named):
    data = yaml.safe_load(validation.FACTS.read_text())
    data["facts"][0][field] = value
    path = tmp_path / "facts.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(UserError) as err:
        validation.load_facts(path)
    assert named in str(err.value) and str(path) in str(err.value)


def test_missing_field_names_it(tmp_path):
    data = yaml.safe_load(validation.FACTS.read_text())
    del data["facts"][2]["checked"]
    path = tmp_path / "facts.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(UserError, match=r"facts\[2\]\.checked"):
        validation.load_facts(path)


@pytest.mark.slow
def test_validate_writes_every_fact_and_refuses_a_foreign_folder(tmp_path):
    out = tmp_path / "v"
    result = invoke("validate", "baseline", "--runs", "2", "--residents", "500", "--workers", "1", "--out", out)
    assert result.exit_code == 0, result.output
    page = (out / "validation.md").read_text()
    for fact in validation.load_facts():
        assert f"| {fact.name} | {fact.year} |" in page
    assert (out / "validation.png").read_bytes()[:4] == b"\x89PNG"
    # an earlier validate folder is replaced; a folder it did not create is refused and left as it is
    assert invoke("validate", "--runs", "1", "--residents", "300", "--workers", "1", "--out", out).exit_code == 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    refused = invoke("validate", "--runs", "1", "--residents", "300", "--out", foreign)
    assert refused.exit_code == 2 and "--out" in refused.output
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_bad_facts_file_stops_before_running(tmp_path):
    bad = tmp_path / "facts.yaml"
    bad.write_text("facts: []\n")
    out = tmp_path / "v"
    result = invoke("validate", "--runs", "1", "--residents", "300", "--facts", bad, "--out", out)
    assert result.exit_code == 2 and "facts" in result.output
    assert not out.exists()


def test_the_communiques_death_rate_is_a_validation_fact_not_a_target(tmp_path):
    """The county's recorded crude death rate is held against the model (the same figure as in the
    county's observations) and no longer fitted; the model's side is deaths per mid-year population."""
    import pandas as pd

    from abm.analysis.fitting.census import crude_death_rate
    from abm.inputs.datafiles import DATA_DIR, read_yaml

    fact = next(f for f in validation.load_facts() if f.measure == "crude_death_rate")
    observed = read_yaml(DATA_DIR / "observations" / "qi_county.yaml")["crude_death_rate"]["values"]
    assert fact.value == observed[fact.year] and fact.range[0] <= fact.value < fact.range[1]
    ts = pd.DataFrame(
        {
            "run": [0, 0, 1, 1],
            "year": [2018, 2019] * 2,
            "deaths": [9.0, 12.0, 8.0, 10.0],
            "population": [1000.0, 1400.0, 900.0, 1100.0],
        }
    )
    for column in (
        "contributions",
        "backpayments",
        "public_spending",
        "interest",
        "fund_balance",
        "participants",
        "beneficiary_share",
        "mean_basic_pension",
        "mean_income",
        "public_basic_pension_central",
        "public_basic_pension_local",
        "public_bonus",
        "account_pensions",
        "public_after_exhaustion",
    ):
        ts[column] = 1.0  # the other measures' inputs
    rates = validation.measures(ts).set_index(["run", "year"])["crude_death_rate"]
    assert rates[(0, 2019)] == pytest.approx(12 / 1200) and rates[(1, 2019)] == pytest.approx(10 / 1000)
    assert rates[(0, 2019)] == pytest.approx(crude_death_rate(ts[ts.run == 0], 2019, 0.0))
    assert pd.isna(rates[(0, 2018)])  # the first year's start is not in the series
