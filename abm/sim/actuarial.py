"""Actuarial valuation at the end of a year: what the accounts owe, what public money will pay, and
whether the divisor matches the life table.

Everything is a present value at the end of the year (after its pensions, deaths and ageing),
discounted at the scenario's valuation rate and weighted by the chance of being alive (the
county's life table), with the model's timing (abm/sim/timing.py): in each later year the pension is
paid monthly to those alive at the year's start, interest is credited at the year's end (simple
within the year), and a pensioner who dies leaves the balance at the year's end to the heirs; a
year's flows are valued at its end with the same timing at the valuation rate, and discounted
from there (year k from now: (1 + v)^-(k + 1)).
The year's rules are assumed to stay in force (interest rate, basic pension,
pension age): no indexation of the basic pension, no change of the rate.

- Account liability: the balances of residents not yet drawing (owed as they stand), plus for each
  pensioner the present value of the account pension for life and of the balance the heirs will
  inherit. At a valuation rate equal to the interest rate the balances pay exactly for the part
  the accounts cover, so liability = assets + longevity gap.
- Longevity gap: the present value of the account pensions public money pays once a pensioner's
  account is exhausted.
- Basic-pension obligation (the scheme's implicit public debt): pensioners' basic pension (with
  top-up and long-contribution bonus) for life; contributors' accrued right, min(years paid /
  min_years, 1) of the basic pension and top-up in force, for life from the pension's first month
  in the year of the pension age.

Left out: the subsidy part some years' rules did not let heirs inherit (counted as inherited).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from abm.sim import outcomes, timing
from abm.sim.demography import LifeTable, by_sex_age, survival_paths
from abm.sim.fund import MONTHS, monthly_basic_pension
from abm.sim.policy import YearPolicy
from abm.sim.population import BLOCK

COLUMNS = outcomes.group("valuation")  # the columns :func:`valuation` writes (abm/sim/outcomes.py)


@dataclass(frozen=True, eq=False)
class AnnuityTables:
    """Per ``[sex, age now, n]`` (ages 0..last age of the life table; n = 0..last age + 1):

    Attributes:
        tail: present value of 1 yuan a year paid at the end of years n, n+1, ... from now (n = 0:
            next year) while alive at the year's start (tail[..., 0]: a life annuity).
        at: present value of 1 yuan paid at the end of year n if alive at its start.
        dying_before: sum over years j < n of P(dying in year j) x ((1 + r) / (1 + v))^(j + 1).
        dying_cover: the same sum with each term times ``cover[j]``.
        cover: per year j, the account balance (in years of pension, each year's pensions counted at
            their value at its end at the interest rate) that pays the pensions of years 0..j in
            full: sum over i <= j of (1 + r)^-(i + 1).
        life_expectancy: complete expectation of life per ``[sex, age]``, years (k_p_x summed, + 0.5).
    """

    tail: np.ndarray
    at: np.ndarray
    dying_before: np.ndarray
    dying_cover: np.ndarray
    cover: np.ndarray
    life_expectancy: np.ndarray
    interest_rate: float  # per year
    valuation_rate: float  # per year


def annuity_tables(life: LifeTable, interest_rate: float, valuation_rate: float) -> AnnuityTables:
    """The tables for a life table and rates; the same object again while they are unchanged.

    Args:
        life: death probabilities qx[sex, age] (the county's life table).
        interest_rate: credited to accounts, per year (> -1).
        valuation_rate: discount rate, per year (> -1).
    """
    for name, rate in (("interest_rate", interest_rate), ("valuation_rate", valuation_rate)):
        if not (np.isfinite(rate) and rate > -1):
            raise ValueError(f"{name} must be a finite rate above -1 per year, got {rate}")
    qx = np.ascontiguousarray(life.qx, dtype=float)
    return _tables(qx.tobytes(), qx.shape, float(interest_rate), float(valuation_rate))


@lru_cache(maxsize=32)
def _tables(qx_bytes: bytes, shape: tuple[int, int], r: float, v: float) -> AnnuityTables:
    qx = np.frombuffer(qx_bytes).reshape(shape)
    alive, q = survival_paths(qx, np.arange(shape[1]))  # [sex, age now, k], k = 0..last age
    k = np.arange(alive.shape[-1], dtype=float)
    pad = np.zeros_like(alive[..., :1])
    at = np.concatenate([alive * (1 + v) ** -(k + 1), pad], axis=-1)
    tail = np.cumsum(at[..., ::-1], axis=-1)[..., ::-1]
    cover = np.cumsum((1 + r) ** -(k + 1))
    dying = alive * q * ((1 + r) / (1 + v)) ** (k + 1)
    dying_before = np.concatenate([pad, np.cumsum(dying, axis=-1)], axis=-1)
    dying_cover = np.concatenate([pad, np.cumsum(dying * cover, axis=-1)], axis=-1)
    life_expectancy = alive[..., 1:].sum(axis=-1) + 0.5
    tables = AnnuityTables(tail, at, dying_before, dying_cover, cover, life_expectancy, r, v)
    for table in (tail, at, dying_before, dying_cover, cover, life_expectancy):
        table.flags.writeable = False
    return tables


@dataclass(frozen=True)
class PensionValues:
    """Present values per pensioner, yuan."""

    liability: np.ndarray  # account pension for life + balance left to heirs
    gap: np.ndarray  # account pension paid from public money after the account is exhausted


def pension_values(
    tables: AnnuityTables, age: np.ndarray, sex: np.ndarray, balance: np.ndarray, account_pension: np.ndarray
) -> PensionValues:
    """What each pensioner's account owes and what public money will add, at the end of a year.

    Args:
        tables: :func:`annuity_tables` of the county's life table and the year's rates.
        age: years, at the end of the year (after ageing); sex: code 0 female, 1 male.
        balance: account balance now, yuan.
        account_pension: the account pension fixed at retirement, yuan/month.
    """
    ages, width = tables.tail.shape[1], tables.tail.shape[2]
    row = (np.asarray(sex, np.intp) * ages + np.minimum(np.asarray(age, np.intp), ages - 1)) * width  # [sex, age, 0]
    account_pension = np.asarray(account_pension, dtype=float)
    # a year's pensions valued at its end: at the interest rate (what the account pays) and at the valuation rate
    yearly = account_pension * timing.months_factor(tables.interest_rate)
    valued = account_pension * timing.months_factor(tables.valuation_rate)
    held = np.divide(balance, yearly, out=np.zeros_like(yearly), where=yearly > 0)  # years of pension held
    full = np.searchsorted(tables.cover, held, side="right")  # years the account pays in full
    covered = np.concatenate([[0.0], tables.cover])[full]  # the balance that pays them
    growth = (1 + tables.interest_rate) ** (full + 1.0)
    left = np.clip((held - covered) * growth, 0.0, 1.0)  # share of the exhaustion year's pension still paid by it
    after = np.minimum(full + 1, width - 1)
    gap = valued * ((1 - left) * tables.at.ravel()[row + full] + tables.tail.ravel()[row + after])
    bequest = yearly * (held * tables.dying_before.ravel()[row + full] - tables.dying_cover.ravel()[row + full])
    unpaid = np.where(yearly > 0, 0.0, balance)  # no pension fixed: the balance is owed as it stands
    return PensionValues(valued * tables.tail.ravel()[row] + bequest + unpaid, gap)


def accrued_share(years: np.ndarray, min_years: int) -> np.ndarray:
    """Share of the basic pension a contributor has earned: years paid / minimum years, at most 1."""
    return np.minimum(np.asarray(years, dtype=float) / min_years, 1.0)


def valuation(pop, policy: YearPolicy, life: LifeTable, assets: float, account_pensions: float) -> dict[str, float]:
    """The valuation columns (:data:`COLUMNS`) at the end of the year, county totals in yuan.

    Args:
        pop: the residents at the end of the year (after deaths, ageing and arrivals).
        policy: the year's policy (interest and valuation rates per year, basic pension and top-up
            in yuan/month, pension age, divisor in months).
        life: the county's life table.
        assets: the accounts' closing balance, yuan.
        account_pensions: account pensions paid from the accounts in the year, yuan.
    """
    tables = annuity_tables(life, policy.interest_rate, policy.valuation_rate)
    w, last, width = pop.weight, tables.tail.shape[1] - 1, tables.tail.shape[2]
    rows = np.flatnonzero(pop.pensioner)
    age, sex = np.minimum(pop.age[rows], last), pop.sex[rows]  # the pensioners'
    values = PensionValues(np.empty(rows.size), np.empty(rows.size))
    for first in range(0, rows.size, BLOCK):  # block by block (small temporaries)
        part = slice(first, first + BLOCK)
        block = pension_values(tables, age[part], sex[part], pop.account[rows[part]], pop.account_pension[rows[part]])
        values.liability[part], values.gap[part] = block.liability, block.gap
    liability = (float(pop.account.sum()) - float(pop.account[rows].sum()) + float(values.liability.sum())) * w
    gap = float(values.gap.sum()) * w
    del values  # (each part's temporaries freed before the next: a lower peak of memory)
    annuity = tables.tail[..., 0]  # [sex, age]: for life from next year
    year_worth = timing.months_factor(tables.valuation_rate)  # a year of one yuan a month, at its end
    basic_now = year_worth * monthly_basic_pension(policy, pop.years[rows])
    basic_now *= by_sex_age(annuity, sex, age)
    drawing = float(basic_now.sum())  # (no BLAS: its threads cost more here)
    del basic_now, age
    every_age = np.arange(last + 1)
    # from the year of the pension age (year n from next), its first month on, then whole years
    n = np.minimum(np.maximum(policy.pension_age - every_age, 0), width - 1)
    first_year = timing.months_factor(tables.valuation_rate, timing.start_month(policy.collection_month))
    deferred = (
        tables.at[:, every_age, n] * first_year + tables.tail[:, every_age, np.minimum(n + 1, width - 1)] * year_worth
    )
    accruing = np.flatnonzero(~pop.pensioner & ~pop.employee)  # (accrued share 0 without years paid; as an
    # index: a mask picks from columns several times slower when its true rows are scattered)
    accrued = accrued_share(pop.years[accruing], policy.min_years)
    accrued *= by_sex_age(deferred, pop.sex[accruing], pop.age[accruing])
    obligation = (drawing + (policy.basic_pension + policy.local_top_up) * float(accrued.sum())) * w
    del accrued, accruing
    mix = np.bincount(sex if rows.size else pop.sex, minlength=2)
    pension_age = min(int(policy.pension_age), last)
    expectancy = float((tables.life_expectancy[:, pension_age] * mix).sum()) / max(int(mix.sum()), 1)
    return {
        "account_liability": liability,
        "funding_ratio": assets / liability if liability else 0.0,
        "longevity_gap": gap,
        "basic_pension_obligation": obligation,
        "reserve_ratio": assets / account_pensions if account_pensions else 0.0,
        "divisor_life_expectancy": policy.divisor / MONTHS,
        "life_expectancy_at_pension_age": expectancy,
    }
