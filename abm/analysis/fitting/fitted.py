"""The fitted coefficients file: estimates from the survey, the rest from the aggregates."""

from __future__ import annotations

from pathlib import Path

from abm.infra import atomic
from abm.inputs.coefficients import Coefficients, load_coefficients
from abm.inputs.datafiles import dump, read_yaml

HEADER = """\
# Fitted behavioural coefficients, written by `pension-abm calibrate survey` (the choice terms and the
# liquidity dispersion a survey identifies) and `pension-abm calibrate aggregates` (the constants of
# paying, of the lowest and top grades and of back-paying, and the compounding gap, fitted to
# calibration/targets.yaml and the field experiments of calibration/evidence.yaml). Habit, herding and
# the attitude dynamics are priors. Scenarios reference this file in behaviour.coefficients. Do not
# edit by hand: rerun the commands.
"""


def path_in(folder: Path) -> Path:
    """The fitted coefficients file of a calibration folder."""
    return folder / "fitted" / "coefficients.yaml"


def current(folder: Path) -> Coefficients:
    """The folder's fitted coefficients if written yet, else the packaged priors."""
    path = path_in(folder)
    return load_coefficients(path if path.is_file() else "default")


def section(folder: Path, name: str) -> dict:
    """One bookkeeping section (estimation, aggregates) of the fitted file; empty if absent."""
    path = path_in(folder)
    return ((read_yaml(path) or {}).get(name) or {}) if path.is_file() else {}


def write(
    folder: Path,
    choice: dict[str, float],
    dynamics: dict[str, float],
    sections: dict,
    valuation: dict[str, float] | None = None,
    heterogeneity: dict[str, float] | None = None,
) -> Path:
    """Write the file with new values; ``sections`` (estimation, aggregates) replace their namesakes,
    the others are kept; ``valuation`` (how residents value what paying buys) and ``heterogeneity``
    (how households differ) default to the priors."""
    priors = load_coefficients("default")
    valuation = priors.valuation if valuation is None else valuation
    heterogeneity = priors.heterogeneity if heterogeneity is None else heterogeneity
    path = path_in(folder)
    existing = read_yaml(path) if path.is_file() else {}
    document = {
        "status": "fitted",
        "choice": {
            "unit": "utility per unit of each term (abm/sim/choice.py)",
            "source": "survey terms: (mixed) logit (estimation section); the constants of paying, of the "
            "lowest and top grades and of back-paying: fitted to aggregates (aggregates section); "
            "peer_share, inertia: priors",
            "value": {k: float(v) for k, v in choice.items()},
        },
        "dynamics": {
            "unit": "share of the gap to 1 closed per year (gains), share lost per year (decay)",
            "source": "priors (abm/data/coefficients/default.yaml): no target speaks to them",
            "value": {k: float(v) for k, v in dynamics.items()},
        },
        "valuation": {
            "unit": "discount_rate per year; pivot_horizon years; compounding_gap share of the account's value",
            "source": "compounding_gap: fitted with the aggregates to the field experiments "
            "(aggregates section; the prior until then); discount_rate, pivot_horizon: "
            "priors (abm/data/coefficients/default.yaml)",
            "value": {k: float(v) for k, v in valuation.items()},
        },
        "heterogeneity": {
            "unit": "liquidity_sd: log standard deviation of the cost term's multiplier "
            "exp(liquidity_sd x z), z standard normal per resident",
            "source": "mixed logit of the survey (estimation section; 0 where the plain logit "
            "is kept), the prior until then",
            "value": {k: float(v) for k, v in heterogeneity.items()},
        },
    }
    for name in ("estimation", "aggregates"):  # a section given as None is dropped
        value = sections[name] if name in sections else existing.get(name)
        if value is not None:
            document[name] = value
    return atomic.write_text(path, HEADER + dump(document, sort_keys=False, width=110))
