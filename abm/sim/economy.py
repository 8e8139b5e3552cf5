"""The economy residents live in: mean rural income, prices and the basic-needs line by year."""

from __future__ import annotations

from functools import cached_property

from abm.inputs.dated import value_at
from abm.inputs.scenario import EconomySpec


class Economy:
    """Observed mean rural income extended by the scenario's growth path.

    Args:
        observed_income: mean rural per-capita disposable income by year, yuan/year.
        spec: growth, inflation and basic-needs assumptions of the scenario.
        first_year, last_year: the span asked for (values outside are extrapolated).
    """

    def __init__(self, observed_income: dict[int, float], spec: EconomySpec, first_year: int, last_year: int):
        self.observed = {int(y): float(v) for y, v in sorted(observed_income.items())}
        self.spec = spec
        self.first_year = min(first_year, *self.observed)
        self.last_year = max(last_year, *self.observed)

    @cached_property
    def _income(self) -> dict[int, float]:
        years = sorted(self.observed)
        income = dict(self.observed)
        for year in range(years[-1] + 1, self.last_year + 1):
            income[year] = income[year - 1] * (1 + value_at(self.spec.income_growth, year))
        first_growth = income[years[1]] / income[years[0]] if len(years) > 1 else 1.0
        for year in range(years[0] - 1, self.first_year - 1, -1):  # before the data: first observed growth
            income[year] = income[year + 1] / first_growth
        return income

    def mean_income(self, year: int) -> float:
        """Mean rural per-capita disposable income, yuan/year."""
        return self._income[year]

    def income_growth(self, year: int) -> float:
        """Growth of mean income from the previous year to ``year``, per year."""
        return self._income[year] / self._income[year - 1] - 1

    def inflation(self, year: int) -> float:
        """Consumer price growth in ``year``, per year."""
        return value_at(self.spec.inflation, year)

    def with_income(self, observed: dict[int, float], year: int) -> float:
        """A county aggregate (GDP, budget revenue) in ``year``: its latest observed value at or before
        ``year`` (the first one before the data) moved with mean rural income since that year.

        Args:
            observed: the aggregate by year (yuan/year), at least one year.
        """
        anchor = max((y for y in observed if y <= year), default=min(observed))
        return float(observed[anchor]) * self._income[year] / self._income[anchor]

    def basic_needs_line(self, year: int) -> float:
        """Basic consumption per person, yuan/year, moving with mean income."""
        return self.spec.basic_needs_line * self._income[year] / self._income[self.spec.basic_needs_year]
