"""Mesa agents: Household (a view of one resident's row) and Government (the year's policy)."""

from __future__ import annotations

import mesa
import numpy as np

from abm.sim.policy import YearPolicy, basic_pension_path, policy_for_year

# Resident attributes a Household exposes (read and write go to the population columns).
VIEW = ("age", "sex", "village", "income", "education", "good_health", "household_size", "children",
        "reliance", "awareness", "trust", "employee", "group", "pensioner", "choice", "gov_paid",
        "years", "account", "account_pension")


# What a resident is doing this year, as shown on the county map; codes index this tuple.
STATUSES = ("not eligible", "not paying", "lowest grade", "higher grade", "pensioner")


def status_codes(pensioner, choice, lowest_grade: float) -> np.ndarray:
    """Index into STATUSES for each resident (arrays or scalars: pensioner flag, this year's grade)."""
    return np.select([pensioner, choice < 0, choice == 0, choice <= lowest_grade], [4, 0, 1, 2], default=3)


def _column(name: str) -> property:
    def get(self):
        return getattr(self.model.population, name)[self.row].item()

    def set(self, value):
        getattr(self.model.population, name)[self.row] = value

    return property(get, set, doc=f"The resident's {name} (see abm.sim.population.COLUMNS for the unit).")


class Household(mesa.Agent):
    """One simulated resident. Behaviour is vectorised over the population; this is its row."""

    def __init__(self, model: mesa.Model, resident_id: int):
        super().__init__(model)
        self.resident_id = resident_id

    @property
    def row(self) -> int:
        row = int(self.model.population.rows(self.resident_id))
        if row < 0:
            raise LookupError(f"resident {self.resident_id} has left the population")
        return row

    @property
    def status(self) -> str:
        """not eligible, not paying, lowest grade, higher grade or pensioner."""
        return STATUSES[int(status_codes(self.pensioner, self.choice, self.model.policy.lowest_grade))]


for _name in VIEW:
    setattr(Household, _name, _column(_name))


class Government(mesa.Agent):
    """Sets the year's policy: dated values, the basic pension's indexation after them, and the grade
    lists and subsidy steps revised with the economy's mean rural income (policy.grade_revision)."""

    def __init__(self, model: mesa.Model):
        super().__init__(model)
        scenario = model.spec
        self.basic_pension = basic_pension_path(scenario.policy, model.economy, scenario.years)

    def step(self) -> YearPolicy:
        year = self.model.year
        self.model.policy = policy_for_year(self.model.spec.policy, year, self.basic_pension[year], self.model.economy)
        return self.model.policy
