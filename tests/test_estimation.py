"""Estimation: the (mixed) logit recovers the coefficients a survey was drawn with (and only those),
the liquidity dispersion included; the plain logit is statsmodels' ConditionalLogit where no bound
binds; signs the economics fixes hold; and the study's binary logit describes the payers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2
from statsmodels.discrete.conditional_models import ConditionalLogit

from abm.analysis.fitting import estimate, pipeline, standin
from abm.analysis.fitting.survey import choice_situations
from abm.inputs.coefficients import SIGNS, TERMS
from abm.sim.choice import design
from helpers import year_policy

RECOVERY_RESPONDENTS, RECOVERY_SEED = 2000, 424242
SHIFTED_RESPONDENTS, SHIFTED_SEED, SHIFT = 1000, 777, 1.5


GENERATED = standin.GENERATING | standin.GENERATING_HETEROGENEITY  # every estimated parameter's true value


def _estimate(scenario, survey: pd.DataFrame, generating: dict) -> estimate.ChoiceEstimate:
    """The pipeline's estimation: the identified survey terms, any others held at ``generating``; the
    mixed logit where the likelihood-ratio test keeps it."""
    situations = choice_situations(survey, scenario)
    terms = estimate.identified_terms(situations)
    held = {t: generating[t] for t in estimate.SURVEY_TERMS if t not in terms}
    return estimate.choice_model(situations, terms, fixed=held)[0]


@pytest.fixture(scope="module")
def recovered(baseline) -> estimate.ChoiceEstimate:
    """Estimates from a large survey drawn (through the model's own choice code) with GENERATING."""
    survey = standin.make_standin(baseline, respondents=RECOVERY_RESPONDENTS, seed=RECOVERY_SEED)
    return _estimate(baseline, survey, standin.GENERATING)


@pytest.fixture(scope="module")
def shifted(baseline) -> estimate.ChoiceEstimate:
    """Estimates from a survey drawn with GENERATING's 'lowest' shifted up by SHIFT."""
    generating = dict(standin.GENERATING, lowest=standin.GENERATING["lowest"] + SHIFT)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(standin, "GENERATING", generating)
        survey = standin.make_standin(baseline, respondents=SHIFTED_RESPONDENTS, seed=SHIFTED_SEED)
    return _estimate(baseline, survey, generating)


def _by_term(est: estimate.ChoiceEstimate) -> dict[str, tuple[float, float]]:
    return {t: (p, s) for t, p, s in zip(est.terms, est.params, est.bse)}


def test_survey_terms_are_all_but_habit_and_herding():
    """A cross-section identifies every choice term except peer_share and inertia, the benefit terms
    included (years contributed and the compound-interest answer give what paying buys)."""
    assert set(estimate.SURVEY_TERMS) == set(TERMS) - {"peer_share", "inertia"}
    assert set(estimate.SURVEY_TERMS) <= set(standin.GENERATING)


def test_one_cross_section_identifies_all_survey_terms_but_the_subsidy(baseline, standin_survey):
    """One subsidy schedule (one survey year): the subsidy is held; two years with different
    schedules identify every survey term."""
    one = choice_situations(standin_survey, baseline)
    assert set(estimate.identified_terms(one)) == set(estimate.SURVEY_TERMS) - {"subsidy"}
    waves = standin_survey.copy()
    early = (waves["respondent"] % 2 == 0) & (waves["grade"].fillna(0) <= 500)
    waves.loc[early, "survey_year"] = 2012  # grades 100-500 only: another subsidy schedule
    two = choice_situations(waves, baseline)
    assert [s["year"] for s in two] == [2012, 2018]
    assert estimate.identified_terms(two) == estimate.SURVEY_TERMS


@pytest.mark.slow
def test_estimation_converges_with_a_valid_covariance(recovered):
    """The optimiser converged; the covariance is symmetric positive definite and gives the standard errors."""
    assert recovered.converged
    survey_terms = set(recovered.terms) - {estimate.LIQUIDITY}
    assert survey_terms <= set(estimate.SURVEY_TERMS) and len(survey_terms) >= len(estimate.SURVEY_TERMS) - 1
    assert recovered.n == RECOVERY_RESPONDENTS
    assert recovered.loglik > recovered.null_loglik
    assert np.allclose(recovered.cov, recovered.cov.T)
    assert np.all(np.linalg.eigvalsh(recovered.cov) > 0)
    assert np.allclose(np.sqrt(np.diag(recovered.cov)), recovered.bse)


@pytest.mark.slow
def test_each_estimate_is_within_3_se_of_its_generating_value(recovered):
    """Parameter recovery, term by term: |estimate - generating value| < 3 standard errors."""
    assert estimate.LIQUIDITY in recovered.terms  # the dispersion the survey was drawn with is found
    misses = {
        t: (round(float(b), 3), round(float(se), 3), GENERATED[t])
        for t, b, se in zip(recovered.terms, recovered.params, recovered.bse)
        if not abs(b - GENERATED[t]) < 3 * se
    }
    assert misses == {}


@pytest.mark.slow
def test_generating_vector_is_inside_the_joint_99_percent_region(recovered):
    """Wald statistic (b - b0)' V^-1 (b - b0) of the generating vector is below the chi-square 0.99 quantile."""
    b0 = np.array([GENERATED[t] for t in recovered.terms])
    gap = recovered.params - b0
    wald = float(gap @ np.linalg.solve(recovered.cov, gap))
    assert wald < chi2.ppf(0.99, df=len(recovered.terms)), wald


@pytest.mark.slow
def test_a_survey_drawn_with_another_coefficient_is_told_apart(shifted):
    """With 'lowest' shifted by 1.5 in the drawing, its estimate is more than 3 SE from the original
    GENERATING value (and within 3 SE of the value actually used)."""
    assert shifted.converged
    value, se = _by_term(shifted)["lowest"]
    assert abs(value - standin.GENERATING["lowest"]) > 3 * se, (value, se)
    assert abs(value - (standin.GENERATING["lowest"] + SHIFT)) < 3 * se, (value, se)


@pytest.fixture(scope="module")
def small_situations(baseline) -> list[dict]:
    """300 respondents drawn without liquidity dispersion."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(standin, "GENERATING_HETEROGENEITY", {"liquidity_sd": 0.0})
        survey = standin.make_standin(baseline, respondents=300, seed=5)
    return choice_situations(survey, baseline)


@pytest.mark.slow
def test_conditional_logit_without_fixed_terms_runs(small_situations):
    """conditional_logit with its default arguments (no term fixed) estimates every survey term."""
    est = estimate.conditional_logit(small_situations)
    assert est.terms == estimate.SURVEY_TERMS and est.converged


def test_the_plain_logit_is_statsmodels_conditional_logit_where_no_bound_binds(small_situations):
    """Where no sign bound is active, the bounded estimator finds statsmodels' ConditionalLogit's
    estimates, log-likelihood and standard errors (the well-kept library as the reference)."""
    held = {"subsidy": 0.0, "account_value": 5.0, "account_value_x_awareness": 60.0}
    terms = tuple(t for t in estimate.SURVEY_TERMS if t not in held)
    ours = estimate.conditional_logit(small_situations, terms, fixed=held)
    assert ours.converged and ours.at_bound == ()
    columns = [list(TERMS).index(t) for t in terms]
    held_columns = [list(TERMS).index(t) for t in held]
    endog, exog, offset, groups = [], [], [], []
    first = 0
    for s in small_situations:
        block = design(s["residents"], s["alternatives"])
        n, k, _ = block.shape
        chosen = np.zeros((n, k))
        chosen[np.arange(n), s["chosen"]] = 1
        endog.append(chosen.ravel())
        exog.append(block[..., columns].reshape(n * k, -1))
        offset.append((block[..., held_columns] @ np.array(list(held.values()))).reshape(n * k))
        groups.append(np.repeat(np.arange(first, first + n), k))
        first += n
    exog = np.concatenate(exog)
    scale = exog.std(axis=0)
    reference = ConditionalLogit(
        np.concatenate(endog), exog / scale, groups=np.concatenate(groups), offset=np.concatenate(offset)
    ).fit(method="bfgs", maxiter=5000, gtol=1e-10, disp=False)
    assert ours.loglik >= reference.llf - 1e-6  # at least as high: the optimisers stop at their own tolerances
    assert ours.loglik == pytest.approx(reference.llf, abs=1e-3)
    # the same estimates up to the optimisers' stopping points: within 1% of a standard error
    assert np.all(np.abs(ours.params - np.asarray(reference.params) / scale) < 0.01 * ours.bse)
    assert ours.bse == pytest.approx(np.asarray(reference.bse) / scale, rel=1e-2)


def test_estimates_keep_the_signs_the_economics_fixes(small_situations):
    """A coefficient whose sign is fixed (abm/sim/choice.py SIGNS) never crosses 0: a survey whose answers
    would push the account's value below 0 stops it at 0, and says so (at_bound)."""
    turned = [
        s | {"residents": s["residents"] | {"account_worth": -s["residents"]["account_worth"]}}
        for s in small_situations
    ]  # a survey where buying more in the account looks worse
    est = estimate.conditional_logit(turned, ("pay", "affordability", "lowest", "account_value"))
    values = dict(zip(est.terms, est.params))
    assert values["account_value"] == 0.0 and "account_value" in est.at_bound
    for term, value in values.items():
        sign = SIGNS.get(term)
        assert sign is None or (value <= 0 if sign == "<= 0" else value >= 0), term


def test_a_survey_without_dispersion_keeps_the_plain_logit(small_situations):
    """The likelihood-ratio test keeps the mixed logit only where the data need it: answers drawn with
    no liquidity dispersion (the small survey is drawn with GENERATING_HETEROGENEITY zeroed here)
    keep the plain logit, and the test is reported."""
    est, test = estimate.choice_model(
        small_situations, estimate.identified_terms(small_situations), fixed={"subsidy": 0.0}, draws=50
    )
    assert test["loglik_mixed"] >= test["loglik_plain"] - 1e-6
    assert test["kept"] == (estimate.LIQUIDITY in est.terms) == (test["p_value"] < estimate.LIQUIDITY_TEST_LEVEL)


@pytest.mark.slow
def test_a_two_wave_survey_estimates_every_survey_term(tmp_path, baseline, standin_survey):
    """A survey interviewed in 2012 and 2018 (two subsidy schedules) is estimated over all survey terms."""
    waves = standin_survey.head(300).copy()
    early = (waves["respondent"] % 2 == 0) & (waves["grade"].fillna(0) <= 500)
    waves.loc[early, "survey_year"] = 2012
    path = tmp_path / "two_waves.csv"
    waves.to_csv(path, index=False)
    est = pipeline.estimate_survey(path, baseline)[2]
    assert tuple(t for t in est.terms if t != estimate.LIQUIDITY) == estimate.SURVEY_TERMS


@pytest.mark.slow
def test_estimate_table_reports_z_and_p(recovered):
    """The report's table: z = estimate / SE, two-sided p-value from the normal."""
    table = recovered.table()
    assert list(table.index) == list(recovered.terms)
    assert np.allclose(table["z"], recovered.params / recovered.bse)
    assert ((table["p_value"] > 0) & (table["p_value"] <= 1)).all()
    strongest = table["z"].abs().idxmax()
    assert table.at[strongest, "p_value"] == table["p_value"].min()


# --- the study's binary logit on the shipped stand-in --------------------------------------------


@pytest.fixture(scope="module")
def study(standin_survey, baseline):
    lowest = year_policy(baseline, standin.SURVEY_YEAR).lowest_grade
    return estimate.study_logit(standin_survey, lowest)


def test_study_logit_uses_the_payers_only(study, standin_survey):
    """n is the number of respondents who paid, with a constant and one coefficient per binary term."""
    assert int(study.nobs) == int((standin_survey["enrolled"] == "yes").sum())
    assert list(study.params.index) == ["const", *estimate.BINARY_TERMS]


def test_study_logit_odds_ratios_are_exponentiated_coefficients(study):
    """odds_ratio_table: odds ratio = exp(coefficient), its interval = exp(the coefficient's interval)."""
    table = estimate.odds_ratio_table(study)
    assert np.allclose(table["odds_ratio"], np.exp(study.params))
    assert np.allclose(table["ci_low"], np.exp(study.conf_int()[0]))
    assert np.allclose(table["coefficient"], study.params)
    assert (table["ci_low"] < table["odds_ratio"]).all() and (table["odds_ratio"] < table["ci_high"]).all()


def test_study_logit_finds_the_income_effect(study):
    """Higher grades come with income (a grade costs less of a larger income: affordability < 0 in
    GENERATING): a positive income coefficient."""
    assert standin.GENERATING["affordability"] < 0
    assert study.params["log income"] > 0
