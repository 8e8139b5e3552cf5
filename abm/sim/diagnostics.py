"""A year's choices looked at before they are drawn: one resident's, the mechanisms' pull, the chance of paying.

Each function opens the model's year (:meth:`PensionModel.open_year`: the policy is set and attitudes
move) and reads the year's :class:`abm.sim.choice.ChoiceSituation`, the one the step would draw the
choices from; the model is then left for that look only (build another to go on simulating).
"""

from __future__ import annotations

import numpy as np

from abm.sim import demography
from abm.sim.policy import GROUP_CODES

GROUPS = {code: name for name, code in GROUP_CODES.items()}  # population.group code -> name


def explain(model, resident_id: int) -> dict:
    """This year's choice of one resident: each alternative's probability and utility, term by term.

    The resident's codes are spelled out (sex, group); ``last_choice`` is the grade paid last year in
    yuan/year, 0 for not paying, None when not eligible then.

    Args:
        model: a :class:`abm.sim.model.PensionModel` at the start of the year to explain.
        resident_id: the resident's id (``Household.unique_id``).

    Raises:
        LookupError: the resident is not in the county, or does not choose a grade this year.
    """
    policy = model.open_year()
    pop = model.population
    row = int(pop.rows(np.array([resident_id]))[0])
    if row < 0:
        raise LookupError(f"resident {resident_id} is not in the county in {model.year}")
    eligible, gov_paid = model.eligible(policy)
    if not eligible[row] or gov_paid[row]:
        raise LookupError(
            f"resident {resident_id} does not choose a grade in {model.year} (age {pop.age[row]}, "
            f"{'pensioner' if pop.pensioner[row] else 'not eligible or paid for by the government'})"
        )
    last = int(pop.choice[row])
    return {
        "year": model.year,
        "resident": {
            "id": int(resident_id),
            "age": int(pop.age[row]),
            "sex": demography.SEXES[int(pop.sex[row])],
            "group": GROUPS[int(pop.group[row])],
            "income": float(pop.income[row]),
            "years_paid": int(pop.years[row]),
            "awareness": float(pop.awareness[row]),
            "trust": float(pop.trust[row]),
            "literate": bool(pop.literate[row]),
            "last_choice": last if last >= 0 else None,
            "liquidity": float(pop.liquidity[row]),
        },
        "alternatives": model.choice_situation(policy, np.array([row])).explain(row),
    }


def mechanisms(model) -> dict[str, float]:
    """The mean, over this year's choosers, of the utility each mechanism (abm/sim/choice.py MECHANISMS)
    adds to paying over not paying.

    Args:
        model: a :class:`abm.sim.model.PensionModel` at the start of the year to look at.
    """
    return model.choice_situation(model.open_year()).mechanisms()


def paying_probabilities(model) -> tuple[np.ndarray, np.ndarray]:
    """This year's choosers: their ages (years) and each one's probability of paying some grade.

    Args:
        model: a :class:`abm.sim.model.PensionModel` at the start of the year to look at.
    """
    situation = model.choice_situation(model.open_year())
    return model.population.age[situation.choosers], situation.paying()
