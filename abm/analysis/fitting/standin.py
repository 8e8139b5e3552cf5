"""The stand-in survey: a synthetic questionnaire drawn from published marginals.

SYNTHETIC. Qi County's survey microdata are not public. This module draws respondents from the
model's synthetic Qi County population (2010 census age structure, Shanxi rural income of the
survey year, the county file's approximate education, health, children and reliance shares),
turns awareness and trust into 1-5 questionnaire scores, and draws each respondent's answer
(not paying, or a grade) through the model's own choice code with the GENERATING coefficients
below. Those were set so the survey shows the published shape: about 85% of payers at the
lowest grade and about 4% at the top (Shanxi village survey, 2018), and higher grades with
income, knowledge, trust and age. Replace the CSV with a real survey that follows the codebook.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from abm.infra import atomic
from abm.inputs.county import load_county
from abm.inputs.dated import value_at
from abm.inputs.scenario import Scenario
from abm.sim.choice import sample, utilities
from abm.sim.demography import LifeTable
from abm.sim.economy import Economy
from abm.sim.policy import policy_for_year
from abm.sim.population import EDUCATION_LEVELS, synthesise

SURVEY_YEAR = 2018
RESPONDENTS = 1000
SEED = 20180601
SCHEME_START = 2011
# Utility per unit of each term (abm/sim/choice.py); habit and herding cannot be seen in one
# cross-section, so they are absent here.
GENERATING = {
    "pay": -1.8,
    "pay_x_awareness": 2.0,
    "pay_x_trust": 1.5,
    "pay_x_age": 0.35,
    "pay_x_log_income": 0.4,
    "pay_x_reliance": -0.5,
    "pay_x_good_health": 0.2,
    "affordability": -55.0,
    "subsidy": 0.0,
    "lowest": 2.9,
    "highest": 1.2,
    "peer_share": 0.0,
    "inertia": 0.0,
    "basic_value": 1.5,
    "account_value": 10.0,
    "account_value_x_awareness": 60.0,
}
# How households differ (abm/sim/choice.py HETEROGENEITY): each respondent's cost term is multiplied by
# exp(liquidity_sd x z), z their standard normal draw (synthetic: set so the answers carry a
# dispersion of liquidity beyond income that the survey's mixed logit can find)
GENERATING_HETEROGENEITY = {"liquidity_sd": 0.5}


def make_standin(
    scenario: Scenario, respondents: int = RESPONDENTS, year: int = SURVEY_YEAR, seed: int = SEED
) -> pd.DataFrame:
    """Draw the stand-in survey (same scenario, size, year and seed: the same file)."""
    from abm.analysis.fitting.survey import choice_situations

    rng = np.random.default_rng(seed)
    county = load_county(scenario)
    economy = Economy(county.rural_income, scenario.economy, year - 1, year + 1)
    pop = synthesise(county, LifeTable.from_csv(), 20 * respondents, economy.mean_income(year), 60, rng)
    may_pay = (pop.age >= 18) & (pop.age < 60) & ~pop.employee & (pop.age >= pop.school_until)
    rows = np.sort(rng.choice(np.flatnonzero(may_pay), size=respondents, replace=False))
    awareness = pop.awareness[rows]
    survey = pd.DataFrame(
        {
            "respondent": np.arange(1, respondents + 1),
            "survey_year": year,
            "village": pop.village[rows],
            "age": pop.age[rows],
            "sex": np.where(pop.sex[rows] == 1, "male", "female"),
            "education": np.array(EDUCATION_LEVELS)[pop.education[rows]],
            "health": np.where(pop.good_health[rows], "good", rng.choice(["fair", "poor"], respondents, p=[0.7, 0.3])),
            "household_size": pop.household_size[rows],
            "children": pop.children[rows],
            "income": np.round(pop.income[rows], -1).astype(int),
            "knowledge": score(awareness),
            "trust": score(pop.trust[rows]),
            "reliance_on_children": np.where(pop.reliance[rows], "yes", "no"),
            "publicity": np.where(rng.random(respondents) < 0.2 + 0.6 * awareness, "yes", "no"),
        }
    )
    survey["enrolled"], survey["grade"] = "no", pd.array([pd.NA] * respondents, dtype="Int64")
    # years paid before the survey year: each year since the launch (or since 16) with a chance
    # that rises with knowledge of the scheme; the compound-interest answer is the resident's literacy
    possible_years = np.minimum(year - SCHEME_START, survey["age"] - 16)
    survey["years_contributed"] = rng.binomial(possible_years, 0.4 + 0.5 * awareness)
    survey["compound_interest"] = np.where(pop.literate[rows], "yes", "no")
    (situation,) = choice_situations(survey, scenario)
    residents = situation["residents"] | {
        "inverse_income": situation["residents"]["inverse_income"]
        * np.exp(GENERATING_HETEROGENEITY["liquidity_sd"] * pop.liquidity[rows].astype(float))
    }
    alternatives = situation["alternatives"]
    chosen = alternatives["value"][sample(utilities(GENERATING, residents, alternatives), rng)]
    paying = chosen > 0
    survey.loc[paying, "enrolled"] = "yes"
    survey.loc[paying, "grade"] = chosen[paying].astype(int)
    survey["expected_pension"] = expected_pension(survey, scenario, year, rng)
    return survey


def expected_pension(survey: pd.DataFrame, scenario: Scenario, year: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic answer to "what monthly pension do you expect?", yuan/month: the basic pension in
    force weighted by trust, plus the account pension of the grade paid kept up to the pension age
    (without interest for those who do not understand compounding), with 20% lognormal noise."""
    policy = policy_for_year(scenario.policy, year, value_at(scenario.policy.basic_pension, year))
    trust = (survey["trust"].to_numpy(dtype=float) - 1) / 4
    years_left = np.maximum(policy.pension_age - survey["age"].to_numpy(dtype=float), 1)
    grade = survey["grade"].fillna(0).to_numpy(dtype=float)
    growth = np.where(survey["compound_interest"] == "yes", (1 + policy.interest_rate) ** years_left, 1.0)
    account = grade * years_left * growth / policy.divisor
    noise = rng.lognormal(0.0, 0.2, len(survey))
    return np.round((trust * (policy.basic_pension + policy.local_top_up) + account) * noise).astype(int)


def write_standin(scenario: Scenario, path: Path, respondents: int = RESPONDENTS, seed: int = SEED) -> Path:
    """Write the stand-in CSV with a header saying plainly that it is synthetic."""
    survey = make_standin(scenario, respondents, seed=seed)
    header = (
        f"# SYNTHETIC stand-in survey: {respondents} respondents drawn by abm/analysis/fitting/standin.py "
        f"(seed {seed}) from published marginals, not real answers. See calibration/survey/README.md.\n"
    )
    return atomic.write_text(path, header + survey.to_csv(index=False))


def score(share: np.ndarray) -> np.ndarray:
    """A 0-1 attitude as a 1-5 questionnaire score (the inverse of survey.likert_share)."""
    return (1 + np.rint(4 * np.clip(share, 0, 1))).astype(int)


def generating_table() -> str:
    """The coefficients the stand-in's answers are drawn with, as a markdown table (the survey README shows it)."""
    rows = [(name, f"{value:g}") for name, value in GENERATING.items() if name not in ("peer_share", "inertia")]
    rows += [(name, f"{value:g}") for name, value in GENERATING_HETEROGENEITY.items()]
    return pd.DataFrame(rows, columns=["term", "generating value"]).to_markdown(index=False)
