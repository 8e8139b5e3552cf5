"""Life table, deaths, out-migration, ageing, births and the cohorts turning 16."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from abm.datafiles import DATA_DIR
from abm.errors import UserError

LIFE_TABLE = DATA_DIR / "life_table_rural.csv"
SEXES = ("female", "male")  # code 0, 1
ENTRY_AGE = 16              # the scheme is open from 16 (Guofa [2014] No. 8)


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

    def death_probability(self, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        return self.qx[sex, np.minimum(age, self.last_age)]

    def survivorship(self, sex: int | None = None) -> np.ndarray:
        """l(x) from birth, radix 1, for one sex or the average of both."""
        qx = self.qx.mean(axis=0) if sex is None else self.qx[sex]
        return np.concatenate([[1.0], np.cumprod(1 - qx)[:-1]])


def deaths(age: np.ndarray, sex: np.ndarray, life: LifeTable, rng: np.random.Generator) -> np.ndarray:
    """Mask of residents who die this year."""
    return rng.random(age.size) < life.death_probability(age, sex)


def out_migrants(age: np.ndarray, rate: float, rng: np.random.Generator,
                 ages: tuple[int, int] = (ENTRY_AGE, 45)) -> np.ndarray:
    """Mask of working-age residents who leave the county this year."""
    at_risk = (age >= ages[0]) & (age <= ages[1])
    return at_risk & (rng.random(age.size) < rate)


def age_children(children: np.ndarray, life: LifeTable, births: float) -> tuple[np.ndarray, float]:
    """Advance the under-16 cohorts one year (expected survival); return them and those turning 16.

    Children are counted, not simulated: they only matter once they may join the scheme.
    """
    survival = 1 - life.qx.mean(axis=0)[: children.size]
    survived = children * survival
    return np.concatenate([[births], survived[:-1]]), float(survived[-1])


def stochastic_round(value: float, rng: np.random.Generator) -> int:
    """An integer with expectation ``value`` (keeps county totals right at any sample size)."""
    whole = int(np.floor(value))
    return whole + int(rng.random() < value - whole)
