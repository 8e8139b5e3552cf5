"""Mesa agents: Household (a view of one resident's row, created when asked for) and Government (the year's policy)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import mesa
import numpy as np

from abm.sim.policy import YearPolicy, basic_pension_path, policy_for_year

# Resident attributes a Household exposes (read and write go to the population columns).
VIEW = (
    "age",
    "sex",
    "village",
    "income",
    "education",
    "good_health",
    "household_size",
    "children",
    "reliance",
    "awareness",
    "trust",
    "employee",
    "group",
    "pensioner",
    "choice",
    "gov_paid",
    "years",
    "account",
    "account_pension",
)


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
    """One simulated resident. Behaviour is vectorised over the population; this is its row.

    Made by :class:`Households` when first asked for, and a Mesa agent of the model from then until
    the resident leaves the county (``unique_id`` is Mesa's count; ``resident_id`` the population's id).
    """

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


class Households(Mapping[int, Household]):
    """The model's residents as Household agents by resident id, each made when first asked for
    (``households[id]``, iterating the values, or :meth:`make_all`, which ``model.agents`` calls),
    so that a run pays nothing for the residents nobody looks at. A resident who leaves the county
    takes their agent with them (:meth:`leave`). With ``enabled`` false (``population.agents:
    none``) there are none.
    """

    def __init__(self, model: mesa.Model, enabled: bool = True):
        self._model = model
        self.enabled = enabled
        self._made: dict[int, Household] = {}  # the agents made so far, of residents still present

    def __getitem__(self, resident_id: int) -> Household:
        household = self._made.get(resident_id)
        if household is None:
            if resident_id not in self:
                raise KeyError(resident_id)
            household = self._made[resident_id] = Household(self._model, int(resident_id))
        return household

    def __contains__(self, resident_id: object) -> bool:
        if not self.enabled or not isinstance(resident_id, int | np.integer):
            return False
        return bool(self._model.population.rows(resident_id) >= 0)

    def __iter__(self) -> Iterator[int]:
        return iter(self._model.population.id.tolist() if self.enabled else [])

    def __len__(self) -> int:
        return len(self._model.population) if self.enabled else 0

    @property
    def made(self) -> int:
        """How many Household agents exist now."""
        return len(self._made)

    def make_all(self) -> None:
        """Make the agents not made yet, in id order (what ``model.agents`` shows is then every resident)."""
        if not self.enabled or len(self._made) == len(self._model.population):
            return
        for resident_id in self._model.population.id.tolist():
            if resident_id not in self._made:
                self._made[resident_id] = Household(self._model, resident_id)

    def leave(self, resident_ids: np.ndarray) -> None:
        """Residents leaving the county: their agents, if made, are removed from the model."""
        if not self._made:
            return
        if len(self._made) < resident_ids.size:
            gone = set(resident_ids.tolist())
            resident_ids = [r for r in self._made if r in gone]
        for resident_id in np.asarray(resident_ids).tolist():
            household = self._made.pop(resident_id, None)
            if household is not None:
                household.remove()


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
