"""Estimation from a survey: the study's binary logit, and the model's conditional (or mixed) logit.

The conditional logit is McFadden's choice model over "not paying" and the grades, with the
simulation's own utility terms (abm/sim/choice.py), estimated by bounded maximum likelihood (scipy's
L-BFGS-B with the analytic score) so that coefficients keep the signs the economics fixes. The mixed
logit adds one random coefficient, households' liquidity: the cost term's coefficient times a
lognormal multiplier, by simulated maximum likelihood. Without the random coefficient and with no
bound active, the estimates are statsmodels' ConditionalLogit's (a test checks it). The study's own
analysis, a binary logit of paying above the lowest grade, is statsmodels' Logit.

Why not a mixed-logit package: Biogeme 3.3.5 (the field's standard) pins pandas below 3, brings jax,
pymc, numpyro and ipython (about 1 GB) and writes a biogeme.toml into the working folder; on the
600-respondent stand-in it took 25 s for the plain logit and did not converge for the mixed one from
zero starting values (59 s from the plain logit's). xlogit 0.2.7 stopped with "SVD did not converge"
on a small lognormal test. The likelihood here is the textbook one (Train, Discrete Choice Methods
with Simulation, ch. 6) over the project's own design array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.optimize import minimize
from scipy.special import softmax
from scipy.stats import chi2, norm, qmc
from statsmodels.tools.numdiff import approx_fprime

from abm.analysis.fitting.survey import likert_share
from abm.inputs.coefficients import SIGNS, TERMS
from abm.sim.choice import design, probabilities, utilities

# Habit and herding need last year's choices and the village's: a cross-section cannot show them.
DYNAMIC_TERMS = ("peer_share", "inertia")
SURVEY_TERMS = tuple(name for name in TERMS if name not in DYNAMIC_TERMS)
GRADIENT_TOLERANCE = 1e-3  # largest score component per respondent at the optimum
LIQUIDITY = "liquidity_sd"  # dispersion of the cost coefficient across households (a lognormal multiplier)
LIQUIDITY_MAX = 3.0  # the multiplier's log standard deviation allowed
DRAWS, DRAWS_SEED = 200, 20180601  # simulation draws per respondent (scrambled Halton) and their seed
LIQUIDITY_TEST_LEVEL = 0.05  # the mixed logit is kept where liquidity_sd = 0 is rejected at this level


@dataclass(frozen=True)
class ChoiceEstimate:
    terms: tuple[str, ...]
    params: np.ndarray
    bse: np.ndarray
    cov: np.ndarray
    loglik: float
    null_loglik: float  # equal probabilities over the alternatives
    n: int
    converged: bool
    at_bound: tuple[str, ...] = ()  # parameters on a bound of their range (a sign the economics fixes, or 0)

    def table(self) -> pd.DataFrame:
        z = self.params / self.bse
        return pd.DataFrame(
            {"estimate": self.params, "std_error": self.bse, "z": z, "p_value": 2 * norm.sf(np.abs(z))},
            index=list(self.terms),
        )


def identified_terms(situations: list[dict]) -> tuple[str, ...]:
    """The survey terms these data can tell apart. With one subsidy schedule the subsidy is a
    fixed step function of the grade, confounded with the grade terms; it needs surveys spanning
    several schedules (years or places)."""
    schedules = {tuple(s["alternatives"]["subsidy"]) for s in situations}
    return SURVEY_TERMS if len(schedules) > 1 else tuple(t for t in SURVEY_TERMS if t != "subsidy")


def conditional_logit(
    situations: list[dict],
    terms=SURVEY_TERMS,
    start: dict | None = None,
    fixed: dict[str, float] | None = None,
    liquidity: bool = False,
    draws: int = DRAWS,
    seed: int = DRAWS_SEED,
) -> ChoiceEstimate:
    """Maximum likelihood estimates of the choice coefficients ``terms`` (McFadden's conditional
    logit); the ``fixed`` terms enter at the given values (an offset). Coefficients whose sign the
    economics fixes (abm/sim/choice.py SIGNS) are kept on their side of 0 (bounded maximum likelihood).

    With ``liquidity``, the mixed logit of :data:`LIQUIDITY`: the cost term's coefficient varies
    across respondents as affordability x exp(liquidity_sd x z), z standard normal (a lognormal
    multiplier with median 1: households differ in how much of their income they can spare),
    estimated by simulated maximum likelihood over ``draws`` scrambled Halton draws per respondent
    (seeded: the same data give the same estimates); ``liquidity_sd`` is then the last parameter.

    Args:
        situations: choice situations (abm/analysis/fitting/survey.py choice_situations).
        terms: the choice terms to estimate.
        start: starting values by term (default: 0; liquidity_sd 0.3).
        fixed: terms held at the given values.
        liquidity: estimate the liquidity dispersion as well.
        draws: simulation draws per respondent (liquidity only).
        seed: seed of the Halton scrambling (liquidity only).
    """
    data = _stacked(situations, tuple(terms), fixed or {})
    names = tuple(terms) + ((LIQUIDITY,) if liquidity else ())
    scale = np.ones(len(names))
    scale[: len(terms)] = data.x.reshape(-1, len(terms))[data.available.ravel()].std(axis=0)
    scale[scale == 0] = 1.0  # unit-variance columns: far fewer optimiser steps
    if liquidity and "affordability" not in terms:
        raise ValueError("the liquidity dispersion needs the affordability term estimated")
    z = _normal_draws(data.x.shape[0], draws, seed) if liquidity else np.zeros((data.x.shape[0], 1))
    objective = _MixedLogit(data, np.array(terms), z, scale)
    first = np.array([(start or {}).get(name, 0.3 if name == LIQUIDITY else 0.0) for name in names]) * scale
    bounds = [_bound(name) for name in names]
    bounds = [(None if lo is None else lo * sc, None if hi is None else hi * sc) for (lo, hi), sc in zip(bounds, scale)]
    result = minimize(
        objective.negative_loglik,
        first,
        jac=objective.negative_score,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 5000, "ftol": 1e-13, "gtol": 1e-8},
    )
    theta = result.x
    hessian = approx_fprime(theta, objective.negative_score, centered=True)
    hessian = (hessian + hessian.T) / 2
    try:
        cov_scaled = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        cov_scaled = np.full(hessian.shape, np.nan)
    cov = cov_scaled / np.outer(scale, scale)
    params = theta / scale
    gradient = objective.negative_score(theta)
    interior = np.array([not _on_bound(t, b) for t, b in zip(theta, bounds)])
    converged = bool(
        result.success
        and np.all(np.abs(gradient[interior]) / data.n < GRADIENT_TOLERANCE)
        and np.isfinite(cov).all()
        and np.all(np.diag(cov) > 0)
    )
    return ChoiceEstimate(
        names,
        params,
        np.sqrt(np.abs(np.diag(cov))),
        cov,
        -float(result.fun),
        float(-np.log(data.available.sum(axis=1)).sum()),
        int(data.n),
        converged,
        tuple(name for name, t, b in zip(names, theta, bounds) if _on_bound(t, b)),
    )


def choice_model(
    situations: list[dict], terms=SURVEY_TERMS, fixed: dict[str, float] | None = None, draws: int = DRAWS
) -> tuple[ChoiceEstimate, dict]:
    """The survey's choice model: the conditional logit, and the mixed logit with the liquidity
    dispersion started from it; the mixed one is kept where the data need it, by the likelihood-ratio
    test of liquidity_sd = 0 at 5% (a boundary test: half a chi-square with one degree of freedom).

    Returns:
        the kept estimate, and the test: both log-likelihoods, the statistic, its p-value, the
        dispersion estimated and whether it was kept.
    """
    plain = conditional_logit(situations, terms, fixed=fixed)
    mixed = conditional_logit(
        situations, terms, start=dict(zip(plain.terms, plain.params)), fixed=fixed, liquidity=True, draws=draws
    )
    statistic = max(2 * (mixed.loglik - plain.loglik), 0.0)
    p_value = 0.5 * float(chi2.sf(statistic, 1)) if statistic > 0 else 1.0
    kept = p_value < LIQUIDITY_TEST_LEVEL and mixed.converged
    test = {
        "loglik_plain": round(plain.loglik, 4),
        "loglik_mixed": round(mixed.loglik, 4),
        "statistic": round(statistic, 4),
        "p_value": round(p_value, 6),
        "level": LIQUIDITY_TEST_LEVEL,
        "liquidity_sd": round(float(mixed.params[-1]), 6),
        "liquidity_sd_se": round(float(mixed.bse[-1]), 6),
        "kept": bool(kept),
        "draws": draws,
    }
    return (mixed if kept else plain), test


def _bound(name: str) -> tuple[float | None, float | None]:
    """The range a coefficient may take: its sign where the economics fixes it, liquidity_sd >= 0."""
    if name == LIQUIDITY:
        return (0.0, LIQUIDITY_MAX)
    sign = SIGNS.get(name)
    return (None, 0.0) if sign == "<= 0" else (0.0, None) if sign == ">= 0" else (None, None)


def _on_bound(value: float, bound: tuple[float | None, float | None]) -> bool:
    return any(edge is not None and abs(value - edge) <= 1e-8 * max(1.0, abs(edge)) for edge in bound)


@dataclass(frozen=True)
class _Stacked:
    """Every respondent's alternatives padded to the longest menu: x[n, K, terms], the offset of the
    fixed terms, which alternatives are offered, the index chosen."""

    x: np.ndarray
    offset: np.ndarray
    available: np.ndarray
    chosen: np.ndarray

    @property
    def n(self) -> int:
        return self.x.shape[0]


def _stacked(situations: list[dict], terms: tuple[str, ...], fixed: dict[str, float]) -> _Stacked:
    width = max(s["alternatives"]["pay"].size for s in situations)
    columns = [list(TERMS).index(t) for t in terms]
    held = [list(TERMS).index(t) for t in fixed]
    xs, offsets, available, chosen = [], [], [], []
    for s in situations:
        block = design(s["residents"], s["alternatives"])
        n, k, _ = block.shape
        x = np.zeros((n, width, len(terms)))
        x[:, :k] = block[..., columns]
        offset = np.zeros((n, width))
        offset[:, :k] = block[..., held] @ np.array(list(fixed.values()), dtype=float) if fixed else 0.0
        mask = np.zeros((n, width), dtype=bool)
        mask[:, :k] = True
        xs.append(x), offsets.append(offset), available.append(mask), chosen.append(np.asarray(s["chosen"]))
    return _Stacked(np.concatenate(xs), np.concatenate(offsets), np.concatenate(available), np.concatenate(chosen))


def _normal_draws(n: int, draws: int, seed: int) -> np.ndarray:
    """n x draws standard normal draws from one scrambled Halton sequence (quasi-random: fewer draws
    for the same simulation error than pseudo-random ones)."""
    uniform = qmc.Halton(d=1, scramble=True, seed=seed).random(n * draws).reshape(n, draws)
    return norm.ppf(np.clip(uniform, 1e-12, 1 - 1e-12))


class _MixedLogit:
    """Simulated log-likelihood of the (mixed) logit and its score, in scaled parameters."""

    def __init__(self, data: _Stacked, terms: np.ndarray, z: np.ndarray, scale: np.ndarray):
        self.data, self.z, self.scale = data, z, scale
        self.x = data.x / scale[: len(terms)]
        self.cost = int(np.flatnonzero(terms == "affordability")[0]) if "affordability" in terms else None
        self.mixed = scale.size > len(terms)
        self.rows = np.arange(data.n)

    def _probabilities(self, theta: np.ndarray):
        beta = theta[: self.x.shape[2]]
        base = self.x @ beta + self.data.offset  # (n, K)
        if self.mixed:
            multiplier = np.exp(theta[-1] / self.scale[-1] * self.z)  # (n, R)
            cost = self.x[..., self.cost] * beta[self.cost]  # (n, K)
            utility = base[:, :, None] + cost[:, :, None] * (multiplier[:, None, :] - 1.0)
        else:
            multiplier = np.ones((self.data.n, 1))
            utility = base[:, :, None]
        utility = np.where(self.data.available[:, :, None], utility, -np.inf)
        p = softmax(utility, axis=1)  # (n, K, R)
        return p, multiplier

    def negative_loglik(self, theta: np.ndarray) -> float:
        p, _ = self._probabilities(theta)
        chosen = p[self.rows, self.data.chosen].mean(axis=1)
        return -float(np.log(np.maximum(chosen, 1e-300)).sum())

    def negative_score(self, theta: np.ndarray) -> np.ndarray:
        p, multiplier = self._probabilities(theta)
        chosen = p[self.rows, self.data.chosen]  # (n, R)
        likelihood = chosen.mean(axis=1)
        indicator = np.zeros(p.shape[:2])
        indicator[self.rows, self.data.chosen] = 1.0
        # d log L_i = mean_r P_ir (dU_chosen,r - sum_k P_ikr dU_ikr) / L_i
        weight = chosen[:, None, :] * (indicator[:, :, None] - p) / (likelihood[:, None, None] * p.shape[2])
        score = np.einsum("nk,nkt->t", weight.sum(axis=2), self.x)
        if self.mixed:
            cost_x = self.x[..., self.cost]
            extra = (weight * (multiplier[:, None, :] - 1.0)).sum(axis=2)
            score[self.cost] += float((extra * cost_x).sum())
            beta_cost = theta[self.cost]
            d_sd = (weight * (multiplier * self.z)[:, None, :]).sum(axis=2)
            score = np.append(score, beta_cost * float((d_sd * cost_x).sum()) / self.scale[-1])
        return -score


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
    return pd.DataFrame(
        {
            "odds_ratio": np.exp(result.params),
            "ci_low": ci[0],
            "ci_high": ci[1],
            "coefficient": result.params,
            "std_error": result.bse,
            "p_value": result.pvalues,
        }
    )


def liquidity_sd(estimate: ChoiceEstimate) -> float:
    """The liquidity dispersion of an estimate (0 for the plain conditional logit)."""
    return float(dict(zip(estimate.terms, estimate.params)).get(LIQUIDITY, 0.0))


def predicted_probabilities(
    estimate: ChoiceEstimate, situation: dict, draws: int = DRAWS, seed: int = DRAWS_SEED
) -> np.ndarray:
    """Each respondent's predicted probabilities of not paying and of each grade, shape (n, K+1),
    averaged over the liquidity draws where the estimate has a dispersion (the terms it does not
    estimate at 0)."""
    beta = dict.fromkeys(TERMS, 0.0) | {t: v for t, v in zip(estimate.terms, estimate.params) if t in TERMS}
    residents, alternatives = situation["residents"], situation["alternatives"]
    sd = liquidity_sd(estimate)
    if not sd:
        return probabilities(utilities(beta, residents, alternatives))
    z = _normal_draws(residents["one"].size, draws, seed)
    total = 0.0
    for column in z.T:
        varied = residents | {"inverse_income": residents["inverse_income"] * np.exp(sd * column)}
        total = total + probabilities(utilities(beta, varied, alternatives))
    return total / z.shape[1]
