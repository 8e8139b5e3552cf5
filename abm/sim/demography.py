"""Life table, deaths, migration out, back and in, ageing, births and the cohorts turning 16."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from abm.infra.errors import UserError
from abm.inputs.county import County
from abm.inputs.datafiles import DATA_DIR, load_parameters

LIFE_TABLE = DATA_DIR / "life_table_rural.csv"
OBSERVATIONS_DIR = DATA_DIR / "observations"  # census figures per county file, same name
SEXES = ("female", "male")  # code 0, 1
ENTRY_AGE = 16  # the scheme is open from 16 (Guofa [2014] No. 8)
DRAW_BLOCK = 1 << 16  # rows whose probabilities a draw works out at once


def gompertz_makeham_qx(a: float, b: float, c: float, ages: np.ndarray, last_age: int) -> np.ndarray:
    """One-year death probabilities from mu(x) = a + b exp(c x); qx = 1 at ``last_age``."""
    integral = a + b / c * np.exp(c * ages) * (np.exp(c) - 1)
    qx = 1 - np.exp(-integral)
    return np.where(ages >= last_age, 1.0, qx)


@dataclass(frozen=True)
class LifeTable:
    """Death probabilities ``qx[sex, age]``; the last age closes the table."""

    qx: np.ndarray

    @classmethod
    def from_csv(cls, path: str | Path = LIFE_TABLE) -> LifeTable:
        table = pd.read_csv(path, comment="#")
        missing = {"age", "sex", "qx"} - set(table.columns)
        if missing:
            raise UserError(f"missing column(s) {sorted(missing)}; expected age, sex, qx", file=path)
        if not table["sex"].isin(SEXES).all() or not table["qx"].between(0, 1).all():
            raise UserError("sex must be female/male and qx within 0-1", file=path)
        wide = table.pivot(index="age", columns="sex", values="qx").reindex(columns=list(SEXES))
        if wide.isna().any().any() or list(wide.index) != list(range(len(wide))):
            raise UserError("needs every age from 0 for both sexes", file=path)
        return cls(qx=wide.to_numpy().T.copy())

    @property
    def last_age(self) -> int:
        return self.qx.shape[1] - 1

    def scaled(self, level: float) -> LifeTable:
        """The table with every qx below the last age multiplied by ``level`` (a mortality level).

        Args:
            level: multiplier of the one-year death probabilities, > 0 (1 = the table as read).
        """
        if not level > 0:
            raise ValueError(f"mortality level must be positive, got {level}")
        qx = np.minimum(self.qx * level, 1.0)
        qx[:, -1] = 1.0
        return LifeTable(qx=qx)

    @classmethod
    def for_county(cls, county: County) -> LifeTable:
        """The life table at the county's mortality level (what the simulation and irr use)."""
        return cls.from_csv().scaled(county.mortality_level)

    def death_probability(self, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        return by_sex_age(self.qx, sex, age)

    def survivorship(self, sex: int | None = None) -> np.ndarray:
        """l(x) from birth, radix 1, for one sex or the average of both."""
        qx = self.qx.mean(axis=0) if sex is None else self.qx[sex]
        return np.concatenate([[1.0], np.cumprod(1 - qx)[:-1]])


def by_sex_age(table: np.ndarray, sex: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Each resident's value in a ``[sex, age]`` table (ages past its last read at the last), by one
    index into the flattened table (faster than indexing by the two arrays).

    Args:
        table: values per ``[sex, age]``, ages 0..its last.
        sex: code 0 female, 1 male, per resident.
        age: years, per resident (0 or more).
    """
    return table.ravel()[sex_age_cell(sex, age, table.shape[1])]


def sex_age_cell(sex: np.ndarray, age: np.ndarray, ages: int) -> np.ndarray:
    """Each resident's index into a flattened ``[sex, age]`` table of ``ages`` ages (ages past the last at the
    last): sex x ages + age."""
    cell = np.asarray(sex, dtype=np.intp) * ages
    cell += np.minimum(age, ages - 1)
    return cell


def survival_paths(qx: np.ndarray, ages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For those alive at each age now: the chance of being alive k years from now, and the death
    probability of that year, per ``[sex, age now, k]`` for k = 0..last age - ``ages[0]`` (both 0 past
    the table's last age).

    Args:
        qx: one-year death probabilities ``[sex, age]`` (a life table's ``qx``).
        ages: ages now, years, increasing.
    """
    last_age = qx.shape[1] - 1
    k = np.arange(last_age - ages[0] + 1)
    at = ages[:, None] + k[None, :]  # age in year k
    exists = at <= last_age
    q = np.where(exists, qx[:, np.minimum(at, last_age)], 0.0)
    alive = np.cumprod(np.concatenate([np.ones_like(q[..., :1]), 1 - q[..., :-1]], axis=-1), axis=-1) * exists
    return alive, q


def systematic_draw(
    probability: np.ndarray | Callable[[np.ndarray], np.ndarray], rng: np.random.Generator, size: int | None = None
) -> np.ndarray:
    """Mask with P(row drawn) = ``probability[row]`` and a total within one of its sum.

    Systematic sampling over the rows in random order: the count of deaths or migrants is
    their expectation rounded up or down, so county totals do not carry the noise of
    independent draws at small samples.

    Args:
        probability: per row; or a function giving the probabilities of the rows it is given (an index),
            then asked block by block in the draw's order (less memory), with ``size`` rows in all.
    """
    n = probability.size if size is None else size
    order = np.arange(n)
    rng.shuffle(order)  # the permutation rng.permutation draws (in place: intp, numpy's fast case)
    start = rng.random()
    mask = np.zeros(n, bool)
    total = np.zeros(1)  # the cumulative probability before the block
    for first in range(0, n, DRAW_BLOCK):  # block by block in the draw's order (small temporaries)
        rows = order[first : first + DRAW_BLOCK]
        drawn = probability(rows) if callable(probability) else probability[rows]
        # the running sum carried in as the first term: the same additions, in the same order, as over all rows
        cumulative = np.cumsum(np.concatenate([total, drawn]))
        total[0] = cumulative[-1]
        before = np.subtract(cumulative[1:], drawn, out=drawn)  # the cumulative before each row (in place)
        before -= start
        np.floor(before, out=before)
        cumulative -= start
        np.floor(cumulative, out=cumulative)
        mask[rows[cumulative[1:] > before]] = True
    return mask


def deaths(age: np.ndarray, sex: np.ndarray, life: LifeTable, rng: np.random.Generator) -> np.ndarray:
    """Mask of residents who die this year."""
    return systematic_draw(lambda rows: life.death_probability(age[rows], sex[rows]), rng, age.size)


def out_migrants(
    age: np.ndarray, rate: float, rng: np.random.Generator, ages: tuple[int, int] = (ENTRY_AGE, 45)
) -> np.ndarray:
    """Mask of working-age residents who leave the county this year."""
    at_risk = (age >= ages[0]) & (age <= ages[1])
    return systematic_draw(lambda rows: at_risk[rows] * rate, rng, age.size)


def age_children(children: np.ndarray, life: LifeTable, births: float) -> tuple[np.ndarray, float, float]:
    """Advance the under-16 cohorts one year (expected survival).

    Children are counted, not simulated: they only matter once they may join the scheme.

    Returns:
        the cohorts aged 0..15 after the year, the persons turning 16, the children who died.
    """
    survival = 1 - life.qx.mean(axis=0)[: children.size]
    survived = children * survival
    return np.concatenate([[births], survived[:-1]]), float(survived[-1]), float(children.sum() - survived.sum())


def age_away(away: np.ndarray, life: LifeTable, return_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Advance the out-migrants still away one year (expected survival); split off those returning.

    Args:
        away: persons away by single age (index = age), counted since the start of the run.
        return_rate: share of those away who come back each year.

    Returns:
        those still away, and those returning, by age after the year (persons).
    """
    survived = away * (1 - life.qx.mean(axis=0)[: away.size])
    aged = np.concatenate([[0.0], survived[:-2], [survived[-2:].sum()]])  # the last age is open
    returning = aged * return_rate
    return aged - returning, returning


def draw_ages(persons_by_age: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` ages drawn in proportion to ``persons_by_age`` (index = age)."""
    total = persons_by_age.sum()
    if count == 0 or total <= 0:
        return np.zeros(0, int)
    return rng.choice(persons_by_age.size, size=count, p=persons_by_age / total)


def in_migrant_ages(ages: tuple[int, int], count: int, rng: np.random.Generator) -> np.ndarray:
    """Ages of newcomers, uniform over ``ages`` [first, last] years."""
    return rng.integers(ages[0], ages[1] + 1, count)


def load_observations(county_file: Path) -> dict | None:
    """Census observations stored for a county file (same name under data/observations), or None."""
    path = OBSERVATIONS_DIR / Path(county_file).name
    if not path.is_file():
        return None
    return load_parameters(path)


def stochastic_round(value: float, rng: np.random.Generator) -> int:
    """An integer with expectation ``value`` (keeps county totals right at any sample size)."""
    whole = int(np.floor(value))
    return whole + int(rng.random() < value - whole)
