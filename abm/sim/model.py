"""PensionModel: the wiring of one county and the order of a simulated year."""

from __future__ import annotations

from pathlib import Path

import mesa
import numpy as np

from abm.infra.allocator import keep_freed_memory
from abm.inputs.coefficients import Coefficients, load_coefficients
from abm.inputs.county import County, load_county
from abm.inputs.datafiles import DEFAULT_SCENARIO
from abm.inputs.loader import load_scenario
from abm.inputs.scenario import Scenario, replication_seeds
from abm.sim import attitudes, demography, indicators
from abm.sim.actuarial import valuation
from abm.sim.agents import Government, Households
from abm.sim.choice import ChoiceSituation, backpays
from abm.sim.demography import LifeTable
from abm.sim.economy import Economy
from abm.sim.fund import Fund
from abm.sim.perceived_worth import Expectations, backpay_worth, perceived_worth, value_tables
from abm.sim.policy import GROUP_CODES, backpay_gap, eligible_to_contribute, offered_grades
from abm.sim.population import draw_residents, synthesise


def run_economy(scenario: Scenario, county: County) -> Economy:
    """The economy of a run of ``scenario`` in ``county`` (its values, abm/inputs/county.py load_county)."""
    return Economy(county.rural_income, scenario.economy, scenario.start_year - 1, scenario.end_year + 1)


def run_grades(scenario: Scenario) -> list[int]:
    """Every grade a run of ``scenario`` can offer, yuan/year (each names a grade-share column),
    without building the model: revised lists need the county's incomes."""
    return offered_grades(scenario.policy, run_economy(scenario, load_county(scenario)), scenario.years)


class PensionModel(mesa.Model):
    """A county's residents, its government and the pension fund, one step per year.

    Args:
        scenario: a :class:`Scenario` or the path of a scenario file.
        rng: seed or generator; defaults to the scenario's first replication seed.
        coefficients: behavioural coefficients to use instead of the scenario's file.
        lifetime: keep each resident's lifetime accounts (abm/sim/lifetime.py), which the cohort
            tables (abm/analysis/cohorts.py) read; they change no indicator.
    """

    def __init__(
        self,
        *,
        scenario: Scenario | str | Path = DEFAULT_SCENARIO,
        rng=None,
        coefficients: Coefficients | None = None,
        lifetime: bool = False,
    ):
        scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        keep_freed_memory()  # each year's temporaries reused, not mapped again (abm/infra/allocator.py)
        super().__init__(rng=replication_seeds(scenario.run.seed, 1)[0] if rng is None else rng)
        self.spec = scenario  # (mesa.Model.scenario is Mesa's own)
        self.year = scenario.start_year
        self.county = load_county(scenario)
        self.life = LifeTable.for_county(self.county)
        behaviour = scenario.behaviour
        self.coefficients = (coefficients or load_coefficients(behaviour.coefficients, scenario.source_dir)).replace(
            behaviour.choice, behaviour.dynamics, behaviour.valuation, behaviour.heterogeneity
        )
        self.economy = run_economy(scenario, self.county)
        self.government = Government(self)
        self.policy = self.government.step()
        self.population = synthesise(
            self.county,
            self.life,
            scenario.population.residents,
            self.economy.mean_income(self.year),
            self.policy.pension_age,
            self.rng,
            lifetime=lifetime,
        )
        self.fund = Fund(self.population.weight)
        self.away = np.zeros(self.life.last_age + 1)  # out-migrants since the start, by age (persons)
        self.households = Households(self, enabled=scenario.population.agents == "all")
        self.all_grades = offered_grades(scenario.policy, self.economy, scenario.years)
        self.indicators: dict[str, float] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={
                name: (lambda m, name=name: m.indicators[name]) for name in indicators.names(self.all_grades)
            }
        )

    @property
    def agents(self):
        """Mesa's set of the model's agents: the Government and a Household for every resident (made now
        if not yet: abm/sim/agents.py Households)."""
        if "households" in self.__dict__:
            self.households.make_all()
        return super().agents

    @property
    def agents_by_type(self):
        """Mesa's agent sets by type, every resident's Household made (as :attr:`agents`)."""
        if "households" in self.__dict__:
            self.households.make_all()
        return super().agents_by_type

    @property
    def agent_types(self) -> list[type]:
        return list(self.agents_by_type)

    def step(self) -> None:
        """One simulated year, in the order of docs/architecture.md."""
        if self.year > self.spec.end_year:
            raise RuntimeError(f"the scenario ends in {self.spec.end_year}; build a new model to run again")
        pop, policy = self.population, self.open_year()
        self.fund.open_year(self.year)
        eligible = self._choose(policy)
        mean_income = self.economy.mean_income(self.year)
        self.indicators = {"year": self.year, "residents": len(pop) * pop.weight, "mean_income": mean_income}
        self.indicators |= indicators.contributions(pop, eligible, policy, self.all_grades)
        backpaying = self._backpay(policy)
        self.fund.retire(pop, policy, backpaying)
        self.fund.pay(pop, policy)
        self.indicators |= indicators.pensions(
            pop,
            policy,
            mean_income,
            self.economy.basic_needs_line(self.year),
            self.indicators["participants"],
            backpaying,
        )
        self.indicators |= indicators.demography(self.population, **self._demography())
        self._grow_incomes()
        ledger = self.fund.close_year(pop)
        self.indicators |= indicators.money(ledger)
        self.indicators |= valuation(pop, policy, self.life, ledger["closing_balance"], ledger["account_pensions"])
        self.indicators |= indicators.fiscal(
            ledger,
            self.indicators["population"],
            self.economy.with_income(self.county.gdp, self.year),
            self.economy.with_income(self.county.budget_revenue, self.year),
        )
        self.datacollector.collect(self)
        self.year += 1
        self.running = self.year <= self.spec.end_year

    def open_year(self):
        """The start of a year: the Government sets its policy, then awareness, trust and literacy move.
        Returns the year's policy. (:meth:`step` opens the year itself; abm/sim/diagnostics.py opens it to
        look at the year's choices before they are drawn.)"""
        policy = self.government.step()
        attitudes.update(self.population, policy, self.coefficients.dynamics, self.county.villages, self.rng)
        return policy

    def eligible(self, policy) -> tuple[np.ndarray, np.ndarray]:
        """Who may pay this year, and those of them the government pays for (masks over the residents)."""
        eligible = eligible_to_contribute(self.population, policy)
        paid_for = np.zeros(max(GROUP_CODES.values()) + 1, dtype=bool)  # per group code (a lookup: faster than isin)
        paid_for[list(policy.government_paid_groups)] = True
        return eligible, eligible & paid_for[self.population.group]

    def choice_situation(self, policy, choosers: np.ndarray | None = None) -> ChoiceSituation:
        """The year's grade choice of the residents at the rows ``choosers`` (default: every eligible
        resident the government does not pay for)."""
        if choosers is None:
            eligible, gov_paid = self.eligible(policy)
            choosers = np.flatnonzero(eligible & ~gov_paid)
        return ChoiceSituation.of_year(
            self.coefficients.choice,
            self.population,
            choosers,
            policy.grades,
            policy.subsidies,
            self.economy.mean_income(self.year),
            self.county.villages,
            self._worth(policy),
            self.coefficients.heterogeneity["liquidity_sd"],
        )

    def _choose(self, policy) -> np.ndarray:
        """Eligible residents pick a grade; the government pays for its groups. Money is collected."""
        pop = self.population
        eligible, gov_paid = self.eligible(policy)
        grade = np.zeros(len(pop), dtype=pop.choice.dtype)  # yuan/year, whole (as the choice column holds them)
        situation = self.choice_situation(policy, np.flatnonzero(eligible & ~gov_paid))
        grade[situation.choosers] = situation.draw(self.rng)
        del situation
        grade[gov_paid] = policy.government_paid_grade
        pop.choice = np.where(eligible, grade, -1)
        pop.gov_paid = gov_paid
        rows = np.flatnonzero(eligible)
        self.fund.collect(pop, rows, grade[rows], gov_paid[rows], policy)
        return eligible

    def _backpay(self, policy) -> np.ndarray:
        """Who of those with the right and a gap (abm/sim/policy.py: backpay_gap) back-pays this year, per
        resident: a binary logit (abm/sim/choice.py: backpays) drawn for them only."""
        pop, valuation = self.population, self.coefficients.valuation
        gap = backpay_gap(pop, policy)
        deciding = np.flatnonzero(gap > 0)
        backpaying = np.zeros(len(pop), dtype=bool)
        if deciding.size:
            basic, account = backpay_worth(
                self._tables(policy),
                policy,
                pop.age[deciding],
                pop.sex[deciding],
                pop.income[deciding],
                pop.trust[deciding],
                pop.literate[deciding],
                valuation["compounding_gap"],
            )
            liquidity = self.coefficients.liquidity(pop.liquidity[deciding])
            backpaying[deciding] = backpays(
                self.coefficients.choice,
                basic,
                account,
                gap[deciding] * policy.lowest_grade,
                pop.income[deciding],
                self.rng,
                pop.awareness[deciding],
                1.0 if liquidity is None else liquidity,
            )
        return backpaying

    def _tables(self, policy):
        """The year's value tables (abm/sim/perceived_worth.py) at the residents' expectations."""
        expectations = Expectations.from_indexation(
            self.coefficients.valuation["discount_rate"],
            self.spec.policy.basic_pension_indexation,
            self.economy.income_growth(self.year),
            self.economy.inflation(self.year),
        )
        return value_tables(self.life, policy, expectations)

    def _worth(self, policy):
        """What paying buys each resident, as perceived (abm/sim/perceived_worth.py), for a block of rows."""
        pop, valuation = self.population, self.coefficients.valuation
        tables = self._tables(policy)

        def worth(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return perceived_worth(
                tables,
                policy,
                pop.age[rows],
                pop.sex[rows],
                pop.years[rows],
                pop.income[rows],
                pop.trust[rows],
                pop.literate[rows],
                valuation["pivot_horizon"],
                valuation["compounding_gap"],
            )

        return worth

    def _demography(self) -> dict[str, float]:
        """Deaths (accounts inherited), out-migration (accounts transferred out), ageing, births,
        new 16-year-olds, return and in-migration (arriving with empty accounts).

        Returns the year's county totals in persons (indicators.DEMOGRAPHY's flows).
        """
        pop, rng, county, w = self.population, self.rng, self.county, self.population.weight
        population = len(pop) * w + pop.under_16.sum()
        self.fund.credit_interest(pop)  # the year's interest, at its end, before anyone leaves (its memory freed)
        dead = demography.deaths(pop.age, pop.sex, self.life, rng)
        leaving = ~dead & demography.out_migrants(pop.age, county.out_migration_rate, rng)
        self.fund.bequeath(pop, dead, self.policy)
        self.fund.remove(pop, leaving, "transfers_out")
        gone = dead | leaving
        self.households.leave(pop.id[gone])
        self.away += np.bincount(pop.age[leaving], minlength=self.away.size)[: self.away.size] * w
        pop.age += 1  # (those leaving too: their rows go with the arrivals' coming, below)
        births = county.birth_rate * population  # the communique's rate, on the population at the start
        pop.under_16, turning_16, child_deaths = demography.age_children(pop.under_16, self.life, births)
        self.away, returning = demography.age_away(self.away, self.life, county.return_migration_rate)
        n_return = demography.stochastic_round(returning.sum() / w, rng)
        n_in = demography.stochastic_round(county.in_migration_rate * population / w, rng)
        ages = np.concatenate(
            [
                np.full(demography.stochastic_round(turning_16 / w, rng), demography.ENTRY_AGE),
                demography.draw_ages(returning, n_return, rng),
                demography.in_migrant_ages(county.in_migration_ages, n_in, rng),
            ]
        )
        arrivals = (
            draw_residents(
                county, ages, self.economy.mean_income(self.year + 1), rng, first_id=pop.next_id, lifetime=pop.lifetime
            )
            if ages.size
            else None
        )
        pop.keep(~gone, arrivals)
        return {
            "births": births,
            "deaths": np.count_nonzero(dead) * w + child_deaths,
            "in_migrants": (n_return + n_in) * w,
            "out_migrants": np.count_nonzero(leaving) * w,
        }

    def _grow_incomes(self) -> None:
        """Incomes follow the county mean, with a yearly idiosyncratic shock (mean one)."""
        pop = self.population
        growth = self.economy.mean_income(self.year + 1) / self.economy.mean_income(self.year)
        sd = self.county.income_shock
        established = pop.age > demography.ENTRY_AGE  # this year's entrants were drawn at next year's level
        factor = self.rng.lognormal(-(sd**2) / 2, sd, np.count_nonzero(established))
        factor *= growth
        entrants = np.flatnonzero(~established)
        if entrants.size and entrants[-1] - entrants[0] + 1 == entrants.size:  # one run of rows (arrivals): slices
            pop.income[: entrants[0]] *= factor[: entrants[0]]
            pop.income[entrants[-1] + 1 :] *= factor[entrants[0] :]
        else:
            pop.income[established] *= factor
