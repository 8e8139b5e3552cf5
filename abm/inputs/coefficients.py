"""Behaviour coefficients: the choice model's terms, the signs the economics fixes, and the files that hold them.

A coefficients file has four sections: ``choice`` (utility per unit of each term of
:data:`TERMS`, and the back-payment constant), ``dynamics`` (attitude rates), ``valuation`` (how
residents value what paying buys) and ``heterogeneity`` (how households differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypedDict

import numpy as np
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from abm.infra.errors import UserError
from abm.inputs.datafiles import CALIBRATION_DIR, DATA_DIR, find, load_parameters

# term name -> (resident factor, alternative factor); None: the resident factor is already
# a residents x alternatives matrix.
TERMS: dict[str, tuple[str, str | None]] = {
    "pay": ("one", "pay"),
    "pay_x_awareness": ("awareness", "pay"),
    "pay_x_trust": ("trust", "pay"),
    "pay_x_age": ("age", "pay"),
    "pay_x_log_income": ("log_income", "pay"),
    "pay_x_reliance": ("reliance", "pay"),
    "pay_x_good_health": ("good_health", "pay"),
    # the grade's cost, in yuan per yuan of income (liquidity)
    "affordability": ("inverse_income", "grade"),
    "subsidy": ("one", "subsidy"),
    "lowest": ("one", "lowest"),
    "highest": ("one", "highest"),
    # habit and village peers, on the place in this year's menu of last year's choice (menu_place):
    # not paying, or the grade offered now that is nearest (in ratio) to the one paid
    "peer_share": ("peer_share", None),
    "inertia": ("inertia", None),
    # what paying buys (abm/sim/perceived_worth.py), per yuan of income: the basic pension kept within reach, and
    # the account pension the grade plus its subsidy buys
    "basic_value": ("basic_worth", "pay"),
    "account_value": ("account_worth", "funded"),
    # knowing the scheme's rules (awareness) makes the account's value count more
    "account_value_x_awareness": ("account_worth_x_awareness", "funded"),
}
# The back-payment decision's own constant (abm/sim/choice.py backpay_utility): a lump sum at the pension age,
# which the county agency asks for in person, is not a year's grade choice; the survey cannot show it
BACKPAY = "backpay"
CHOICE = (*TERMS, BACKPAY)  # the coefficients of a file's choice section
# Signs the economics fixes, whatever a fit says: a grade's cost lowers its utility; what paying buys
# (the basic pension kept within reach, the account's value), a subsidy, habit and peers never push
# away from paying (more subsidy must never mean fewer payers)
SIGNS: dict[str, str] = {
    "affordability": "<= 0",
    "subsidy": ">= 0",
    "basic_value": ">= 0",
    "account_value": ">= 0",
    "account_value_x_awareness": ">= 0",
    "inertia": ">= 0",
    "peer_share": ">= 0",
}


SIGN_REASON = (
    "the economics fixes this sign (a cost lowers utility; what paying buys, a subsidy, habit "
    "and peers never push away from paying)"
)


def sign_problem(name: str, value: float) -> str | None:
    """Why a choice coefficient has a sign the economics rules out (:data:`SIGNS`), or None."""
    sign = SIGNS.get(name)
    if sign is None or (value <= 0 if sign == "<= 0" else value >= 0):
        return None
    return f"must be {'at most' if sign == '<= 0' else 'at least'} 0 (got {value!r})"


VALUATION = ("discount_rate", "pivot_horizon", "compounding_gap")  # how residents value it (sim/perceived_worth.py)
# what paying buys: computed only when weighed (abm/sim/perceived_worth.py: perceived_worth)
BENEFIT_TERMS = ("basic_value", "account_value", "account_value_x_awareness")
DYNAMICS = (
    "awareness_publicity",
    "awareness_peers",
    "awareness_pensioners",
    "awareness_decay",
    "trust_service",
    "trust_pensioners",
    "trust_decay",
    "literacy_publicity",
)
# every coefficient is a finite number in a range; terms per yuan of income take coefficients of tens to
# hundreds (an account value of 1e-4 per yuan of income needs ~100 to weigh a utility of 1)
Coefficient = Annotated[float, Field(ge=-1000.0, le=1000.0, allow_inf_nan=False)]
DynamicsRate = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]  # share of a gap per year
# households differ in how much of their income they can spare: the cost term's coefficient is
# affordability x exp(liquidity_sd x z), z a resident's standard normal draw (population column
# `liquidity`, kept for life); the survey's mixed logit estimates liquidity_sd (abm/analysis/fitting/estimate.py)
HETEROGENEITY = ("liquidity_sd",)
Dispersion = Annotated[float, Field(ge=0.0, le=3.0, allow_inf_nan=False)]  # log standard deviation


class Valuation(TypedDict, total=False):
    """How residents value what paying buys (abm/sim/perceived_worth.py); a file gives all three (checked by
    name), a scenario any of them."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    discount_rate: Annotated[float, Field(ge=0.0, le=0.5, allow_inf_nan=False)]  # per year
    pivot_horizon: Annotated[float, Field(gt=0.0, le=60.0, allow_inf_nan=False)]  # years
    compounding_gap: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]  # share of the account's value


SECTIONS = {
    "choice": (CHOICE, TypeAdapter(dict[str, Coefficient])),
    "dynamics": (DYNAMICS, TypeAdapter(dict[str, DynamicsRate])),
    "valuation": (VALUATION, TypeAdapter(Valuation)),
    "heterogeneity": (HETEROGENEITY, TypeAdapter(dict[str, Dispersion])),
}
FITTED = CALIBRATION_DIR / "fitted" / "coefficients.yaml"


@dataclass(frozen=True)
class Coefficients:
    """Choice coefficients (utility per unit of each term), attitude dynamics, how residents value
    what paying buys, and how households differ (heterogeneity)."""

    choice: dict[str, float]
    dynamics: dict[str, float]
    valuation: dict[str, float]
    heterogeneity: dict[str, float]
    status: str = "prior"
    source: str = ""

    @property
    def vector(self) -> np.ndarray:
        return np.array([self.choice[name] for name in TERMS])

    def replace(
        self,
        choice: dict[str, float] | None = None,
        dynamics: dict[str, float] | None = None,
        valuation: dict[str, float] | None = None,
        heterogeneity: dict[str, float] | None = None,
    ) -> Coefficients:
        """These coefficients with some values replaced."""
        return Coefficients(
            self.choice | (choice or {}),
            self.dynamics | (dynamics or {}),
            self.valuation | (valuation or {}),
            self.heterogeneity | (heterogeneity or {}),
            self.status,
            self.source,
        )

    def liquidity(self, z: np.ndarray) -> np.ndarray | None:
        """Each resident's multiplier of the cost term, exp(liquidity_sd x z) (None: no dispersion)."""
        sd = self.heterogeneity["liquidity_sd"]
        return np.exp(sd * np.asarray(z, dtype=float)) if sd else None


def coefficients_path(ref: str | Path, relative_to: Path | None = None) -> Path:
    """The coefficients file a scenario names: a path, 'fitted' (the calibration's result) or a
    packaged name ('default': the priors)."""
    return (
        FITTED if str(ref) == "fitted" else find(ref, DATA_DIR / "coefficients", relative_to, "behaviour.coefficients")
    )


def load_coefficients(ref: str | Path, relative_to: Path | None = None) -> Coefficients:
    """Load a coefficients file: a path, 'fitted' (the calibration's result) or a packaged name
    ('default': the priors)."""
    path = coefficients_path(ref, relative_to)
    data = load_parameters(path)
    for section, (names, adapter) in SECTIONS.items():
        values = data.get(section)
        if not isinstance(values, dict):
            raise UserError(f"missing section with {', '.join(names)}", file=path, field=section)
        unknown, missing = set(values) - set(names), set(names) - set(values)
        if unknown or missing:
            raise UserError(
                f"unknown {sorted(unknown)} / missing {sorted(missing)}; allowed: {', '.join(names)}",
                file=path,
                field=section,
            )
        try:
            adapter.validate_python(values, strict=True)  # numbers only, not "1.5" or true
        except ValidationError as err:
            first = err.errors()[0]
            raise UserError(
                f"{first['msg']} (got {first['input']!r})",
                file=path,
                field=".".join(map(str, (section, *first["loc"]))),
            ) from None
    for name in CHOICE:
        problem = sign_problem(name, float(data["choice"][name]))
        if problem:
            raise UserError(f"{problem}: {SIGN_REASON}", file=path, field=f"choice.{name}")
    return Coefficients(
        choice={k: float(data["choice"][k]) for k in CHOICE},
        dynamics={k: float(data["dynamics"][k]) for k in DYNAMICS},
        valuation={k: float(data["valuation"][k]) for k in VALUATION},
        heterogeneity={k: float(data["heterogeneity"][k]) for k in HETEROGENEITY},
        status=str(data.get("status", "")),
        source=str(path),
    )
