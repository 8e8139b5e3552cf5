"""Parameter uncertainty: behaviour coefficients drawn from the estimates' sampling distribution, one per replication.

The fitted coefficients file carries two covariances: the survey step's (the estimated choice terms
and the liquidity dispersion, from the likelihood's curvature) and the aggregate fit's (the
parameters fitted to the targets, from the loss's curvature with each target's tolerance read as
its standard deviation). A replication draws each block from a normal distribution around the
estimates, the blocks independently (they come from different data); a term the aggregate fit
re-set (the constants) takes the aggregate draw, and a parameter the targets do not bound (the fit's
``unbounded``: its loss is flat over a wide span, so a normal draw would be no estimate of anything)
keeps its value. Draws keep every coefficient in its range: a sign
the economics fixes, a fitted parameter's bounds (a draw beyond is put on the bound). The draw
depends only on the replication's seed, so two scenarios run with the same seeds (a comparison,
a lever) share their coefficient draws and their paired differences carry the uncertainty of the
effect. Scenario values set explicitly (``behaviour.choice`` ...) are not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abm.inputs.coefficients import SIGNS, Coefficients, coefficients_path
from abm.inputs.datafiles import read_yaml

STREAM = 2_0260_0018  # mixed into a replication's seed: the draw's own stream, apart from the model's


@dataclass(frozen=True)
class Spread:
    """The coefficients' joint sampling distribution: names (each with its section), the covariance,
    and each one's range."""

    names: tuple[str, ...]
    sections: tuple[str, ...]
    covariance: np.ndarray
    low: np.ndarray
    high: np.ndarray


def spread(path: str | Path) -> Spread | None:
    """The sampling distribution recorded in a fitted coefficients file (None where it has none, as
    the priors' file)."""
    data = read_yaml(path) or {}
    blocks = []
    estimation = data.get("estimation") or {}
    aggregates = data.get("aggregates") or {}
    refitted = set(aggregates.get("values") or {})
    if estimation.get("covariance") and estimation.get("terms"):
        terms = list(estimation["terms"])
        keep = [i for i, t in enumerate(terms) if t not in refitted]
        cov = np.asarray(estimation["covariance"], dtype=float)[np.ix_(keep, keep)]
        names = [terms[i] for i in keep]
        blocks.append(
            (
                names,
                ["heterogeneity" if n == "liquidity_sd" else "choice" for n in names],
                cov,
                [_range(n) for n in names],
            )
        )
    if aggregates.get("covariance"):
        listed = list(aggregates["covariance"]["parameters"])
        keep = [i for i, n in enumerate(listed) if n not in set(aggregates.get("unbounded") or ())]
        names = [listed[i] for i in keep]
        cov = np.asarray(aggregates["covariance"]["matrix"], dtype=float)[np.ix_(keep, keep)]
        ranges = [(aggregates["lower"][n], aggregates["upper"][n]) for n in names]
        blocks.append((names, [aggregates["covariance"]["sections"][i] for i in keep], cov, ranges))
    if not blocks:
        return None
    names = [n for block in blocks for n in block[0]]
    covariance = np.zeros((len(names), len(names)))
    at = 0
    for block_names, _, cov, _ in blocks:
        covariance[at : at + len(block_names), at : at + len(block_names)] = cov
        at += len(block_names)
    ranges = [r for block in blocks for r in block[3]]
    return Spread(
        tuple(names),
        tuple(s for block in blocks for s in block[1]),
        covariance,
        np.array([-np.inf if lo is None else lo for lo, _ in ranges]),
        np.array([np.inf if hi is None else hi for _, hi in ranges]),
    )


def _range(name: str) -> tuple[float | None, float | None]:
    """A survey term's range: its sign where the economics fixes it; the dispersion's own."""
    if name == "liquidity_sd":
        return (0.0, 3.0)
    sign = SIGNS.get(name)
    return (None, 0.0) if sign == "<= 0" else (0.0, None) if sign == ">= 0" else (None, None)


def draw(
    coefficients: Coefficients, distribution: Spread, seed: int, fixed: dict[str, set[str]] | None = None
) -> Coefficients:
    """One coefficient vector around ``coefficients`` for the replication with ``seed``.

    Args:
        coefficients: the estimates (with the scenario's own values applied).
        distribution: the estimates' sampling distribution (:func:`spread`).
        seed: the replication's seed (the draw uses its own stream derived from it).
        fixed: names per section the scenario sets explicitly: left as they are.
    """
    rng = np.random.default_rng([seed, STREAM])
    shock = rng.multivariate_normal(
        np.zeros(len(distribution.names)), distribution.covariance, method="eigh", check_valid="ignore"
    )
    sections: dict[str, dict[str, float]] = {"choice": {}, "dynamics": {}, "valuation": {}, "heterogeneity": {}}
    for name, section, delta, low, high in zip(
        distribution.names, distribution.sections, shock, distribution.low, distribution.high
    ):
        if name in (fixed or {}).get(section, set()):
            continue
        value = getattr(coefficients, section)[name] + delta
        sections[section][name] = float(min(max(value, low), high))
    return coefficients.replace(**sections)


def replication_coefficients(
    scenario, seeds: list[int], coefficients: Coefficients | None = None
) -> list[Coefficients | None]:
    """The coefficients of each replication: drawn (:func:`draw`) where the scenario asks for
    parameter uncertainty (``run.uncertainty: parameters``), there are two replications or more and
    the coefficients file records its uncertainty; else None (the scenario's own) or ``coefficients``."""
    if coefficients is not None or scenario.run.uncertainty != "parameters" or len(seeds) < 2:
        return [coefficients] * len(seeds)
    path = coefficients_path(scenario.behaviour.coefficients, scenario.source_dir)
    distribution = spread(path)
    if distribution is None:
        return [None] * len(seeds)
    from abm.inputs.coefficients import load_coefficients

    behaviour = scenario.behaviour
    base = load_coefficients(path).replace(
        behaviour.choice, behaviour.dynamics, behaviour.valuation, behaviour.heterogeneity
    )
    fixed = {
        "choice": set(behaviour.choice),
        "dynamics": set(behaviour.dynamics),
        "valuation": set(behaviour.valuation),
        "heterogeneity": set(behaviour.heterogeneity),
    }
    return [draw(base, distribution, seed, fixed) for seed in seeds]
