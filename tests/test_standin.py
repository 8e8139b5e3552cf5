"""The synthetic stand-in survey: the documented script makes exactly the shipped file, and its
answers have the published shape (most payers at the lowest grade, few at the top, higher grades with income)."""

from __future__ import annotations

import pandas as pd
import pytest

from abm.analysis.fitting import standin
from abm.analysis.fitting.survey import read_survey
from helpers import REPO_ROOT, STANDIN_FILE, invoke, year_policy


@pytest.fixture(scope="module")
def offered(baseline):
    """Grades offered in the stand-in's survey year, from the scenario's policy."""
    return year_policy(baseline, standin.SURVEY_YEAR).grades


def test_write_standin_defaults_reproduce_the_shipped_file(tmp_path, baseline):
    """write_standin with the default size and seed gives the shipped CSV byte for byte."""
    path = standin.write_standin(baseline, tmp_path / "standin.csv")
    assert path.read_bytes() == STANDIN_FILE.read_bytes()


def test_documented_command_reproduces_the_shipped_file(tmp_path):
    """`pension-abm calibrate standin` with its default options (only --out moved) writes the shipped CSV."""
    out = tmp_path / "standin.csv"
    result = invoke("calibrate", "standin", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == STANDIN_FILE.read_bytes()


def test_another_seed_gives_another_valid_file(tmp_path, baseline):
    """A different seed draws other respondents and answers, still following the codebook."""
    path = standin.write_standin(baseline, tmp_path / "other.csv", seed=standin.SEED + 1)
    assert path.read_bytes() != STANDIN_FILE.read_bytes()
    other, shipped = read_survey(path), read_survey(STANDIN_FILE)
    assert len(other) == len(shipped)
    assert not other.drop(columns="respondent").equals(shipped.drop(columns="respondent"))


def test_size_option_sets_the_number_of_respondents(tmp_path, baseline):
    """respondents=N writes N respondents, and the header states N."""
    path = standin.write_standin(baseline, tmp_path / "small.csv", respondents=120, seed=3)
    assert len(read_survey(path)) == 120
    assert "120 respondents" in path.read_text(encoding="utf-8").splitlines()[0]


def test_respondents_may_enrol(standin_survey, baseline):
    """Respondents are 18-59 (working age, may pay); years contributed before the survey year fit the
    scheme's age and the respondent's."""
    assert standin_survey["age"].between(18, 59).all()
    years = standin_survey["years_contributed"]
    assert (years >= 0).all() and (years <= standin.SURVEY_YEAR - baseline.policy.launch_year).all()
    assert (years <= standin_survey["age"] - 16).all()
    assert years.nunique() > 3


def test_the_compound_interest_answer_follows_the_county_literacy(standin_survey):
    """About the county's financial-literacy share (0.3) answer the compound-interest question right."""
    share = (standin_survey["compound_interest"] == "yes").mean()
    assert 0.2 < share < 0.4, share


def test_understanding_compound_interest_goes_with_higher_grades():
    """Drawn with account_value > 0 and a compounding gap, payers who understand compound interest pay
    above the lowest grade more often (a large survey, so the difference is not noise)."""
    from abm.inputs.loader import load_scenario

    survey = standin.make_standin(load_scenario("baseline"), respondents=3000, seed=11)
    payers = survey[survey["enrolled"] == "yes"]
    above = payers["grade"].astype(float) > 100
    literate = payers["compound_interest"] == "yes"
    assert standin.GENERATING["account_value"] > 0
    assert above[literate].mean() > above[~literate].mean() + 0.03, (above[literate].mean(), above[~literate].mean())


def test_expected_pensions_are_monthly_yuan_near_the_basic_pension(standin_survey):
    """The expected pension is yuan/month: most answers between a tenth and ten times the 2018 basic
    pension (88 yuan/month)."""
    expected = standin_survey["expected_pension"]
    assert expected.between(8.8, 880).mean() > 0.9


def test_payers_grades_follow_the_published_marginals(standin_survey, offered):
    """Of the payers, 75-95% pay the lowest grade and under 10% the top grade (published: 85.3%, 3.8%)."""
    grades = standin_survey.loc[standin_survey["enrolled"] == "yes", "grade"].astype(float)
    assert len(grades) > 0 and grades.isin(offered).all()
    assert 0.75 <= (grades == offered[0]).mean() <= 0.95
    assert (grades == offered[-1]).mean() < 0.10


def test_higher_grades_are_more_common_in_the_top_income_third(standin_survey, offered):
    """The share paying above the lowest grade is larger in the top income third than in the bottom third."""
    third = pd.qcut(standin_survey["income"].astype(float), 3, labels=["bottom", "middle", "top"])
    above = standin_survey["grade"].fillna(0).astype(float) > offered[0]
    share = above.groupby(third, observed=True).mean()
    assert share["top"] > share["bottom"]


def test_the_survey_readme_shows_the_generating_values_of_the_code():
    """calibration/survey/README.md's table of generating coefficients is the code's (docs/build.py writes it)."""
    import sys

    sys.path.insert(0, str(REPO_ROOT / "docs"))
    import build

    text = build.SURVEY_README.read_text(encoding="utf-8")
    assert build.stale(text, build.survey_sections(), build.SURVEY_README) == [], (
        "the survey README's generating values differ from abm/analysis/fitting/standin.py: run `make docs`"
    )
