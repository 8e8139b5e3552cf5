"""Estimation from a survey: the study's binary logit, and the model's conditional logit.

The conditional logit is McFadden's choice model over "not paying" and the grades, with the
simulation's own utility terms (abm/choice.py); statsmodels' ConditionalLogit gives it from the
long-format design (one row per respondent and alternative, one chosen per respondent).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.discrete.conditional_models import ConditionalLogit

from abm.calibrate.survey import likert_share
from abm.choice import TERMS, design

# Habit and herding need last year's choices and the village's: a cross-section cannot show them.
DYNAMIC_TERMS = ("peer_share", "inertia")
SURVEY_TERMS = tuple(name for name in TERMS if name not in DYNAMIC_TERMS)
GRADIENT_TOLERANCE = 1e-3  # largest score component per respondent at the optimum


@dataclass(frozen=True)
class ChoiceEstimate:
    terms: tuple[str, ...]
    params: np.ndarray
    bse: np.ndarray
    cov: np.ndarray
    loglik: float
    null_loglik: float      # equal probabilities over the alternatives
    n: int
    converged: bool

    def table(self) -> pd.DataFrame:
        z = self.params / self.bse
        from scipy.stats import norm
        return pd.DataFrame({"estimate": self.params, "std_error": self.bse, "z": z,
                             "p_value": 2 * norm.sf(np.abs(z))}, index=list(self.terms))


def long_format(situations: list[dict], terms=SURVEY_TERMS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chosen indicator, design rows and group ids: one row per respondent and alternative."""
    columns = [list(TERMS).index(t) for t in terms]
    endog, exog, groups, offset = [], [], [], 0
    for s in situations:
        block = design(s["residents"], s["alternatives"])[..., columns]
        n, k, _ = block.shape
        chosen = np.zeros((n, k))
        chosen[np.arange(n), s["chosen"]] = 1
        endog.append(chosen.ravel())
        exog.append(block.reshape(n * k, -1))
        groups.append(np.repeat(np.arange(offset, offset + n), k))
        offset += n
    return np.concatenate(endog), np.concatenate(exog), np.concatenate(groups)


def identified_terms(situations: list[dict]) -> tuple[str, ...]:
    """The survey terms these data can tell apart. With one subsidy schedule the subsidy is a
    fixed step function of the grade, confounded with the grade terms; it needs surveys spanning
    several schedules (years or places)."""
    schedules = {tuple(s["alternatives"]["subsidy"]) for s in situations}
    return SURVEY_TERMS if len(schedules) > 1 else tuple(t for t in SURVEY_TERMS if t != "subsidy")


def conditional_logit(situations: list[dict], terms=SURVEY_TERMS, start: dict | None = None,
                      fixed: dict[str, float] | None = None) -> ChoiceEstimate:
    """Maximum likelihood estimates of the choice coefficients ``terms``; the ``fixed`` terms
    enter at the given values (an offset)."""
    endog, exog, groups = long_format(situations, terms)
    kwargs = {}     # statsmodels' ConditionalLogit fails on offset=None: pass an offset only if terms are fixed
    if fixed:
        _, held, _ = long_format(situations, tuple(fixed))
        kwargs["offset"] = held @ np.array(list(fixed.values()))
    scale = exog.std(axis=0)          # unit-variance columns: far fewer optimiser steps
    scale[scale == 0] = 1.0
    model = ConditionalLogit(endog, exog / scale, groups=groups, **kwargs)
    start_params = None if start is None else np.array([start[t] for t in terms]) * scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # convergence is reported in the result instead
        result = model.fit(start_params=start_params, method="bfgs", maxiter=2000)
    alternatives = np.bincount(groups)
    gradient = np.max(np.abs(model.score(np.asarray(result.params)))) / alternatives.size
    return ChoiceEstimate(tuple(terms), np.asarray(result.params) / scale, np.asarray(result.bse) / scale,
                          np.asarray(result.cov_params()) / np.outer(scale, scale), float(result.llf),
                          float(-np.log(alternatives).sum()), int(alternatives.size),
                          bool(gradient < GRADIENT_TOLERANCE and np.isfinite(result.bse).all()
                               and np.isfinite(result.params).all()))


BINARY_TERMS = {
    "knowledge (0-1)": lambda s: likert_share(s["knowledge"]),
    "trust (0-1)": lambda s: likert_share(s["trust"]),
    "age (10 years)": lambda s: s["age"].to_numpy(dtype=float) / 10,
    "log income": lambda s: np.log(s["income"].to_numpy(dtype=float)),
    "relies on children": lambda s: (s["reliance_on_children"] == "yes").to_numpy(dtype=float),
    "good health": lambda s: (s["health"] == "good").to_numpy(dtype=float),
    "reached by publicity": lambda s: (s["publicity"] == "yes").to_numpy(dtype=float),
    "senior secondary or more": lambda s: (s["education"] == "senior_secondary_or_more").to_numpy(dtype=float),
}


def study_logit(survey: pd.DataFrame, lowest_grade: float):
    """The study's analysis: among payers, the odds of paying above the lowest grade."""
    payers = survey[survey["enrolled"] == "yes"]
    exog = sm.add_constant(pd.DataFrame({name: f(payers) for name, f in BINARY_TERMS.items()}))
    endog = (payers["grade"].to_numpy(dtype=float) > lowest_grade).astype(float)
    return sm.Logit(endog, exog).fit(disp=False)


def odds_ratio_table(result) -> pd.DataFrame:
    ci = np.exp(result.conf_int())
    return pd.DataFrame({"odds_ratio": np.exp(result.params), "ci_low": ci[0], "ci_high": ci[1],
                         "coefficient": result.params, "std_error": result.bse, "p_value": result.pvalues})
