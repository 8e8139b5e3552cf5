"""Residents aged 16+ as columns, and the synthetic population drawn from county data."""

from __future__ import annotations

from typing import Any

import numpy as np

from abm.inputs.county import Beta, County
from abm.sim.demography import ENTRY_AGE, LifeTable
from abm.sim.lifetime import NET_WIDTH, RATES

# One column per resident attribute; a row is one simulated resident standing for `weight` people.
# Each column has the narrowest type that holds its range (a resident's bytes: ``row_bytes``).
COLUMNS: dict[str, type] = {
    "id": np.int32,  # up to 2,147,483,647 residents over a run (Population.append checks it)
    "age": np.int16,  # years
    "sex": np.int8,  # 0 female, 1 male
    "village": np.int32,
    "income": np.float64,  # per-capita household income, yuan/year
    "education": np.int8,  # 0 primary or less, 1 junior secondary, 2 senior secondary or more
    "good_health": np.bool_,
    "household_size": np.int8,
    "children": np.int8,
    "reliance": np.bool_,  # relies on children for old age
    "awareness": np.float32,  # policy knowledge, 0-1
    "trust": np.float32,  # trust in government, 0-1
    "literate": np.bool_,  # understands compound interest (financial literacy)
    "liquidity": np.float32,  # standard normal draw: how much of its income the household can spare, beyond
    # what income shows (the cost term's multiplier, abm/sim/choice.py HETEROGENEITY)
    "school_until": np.int8,  # age leaving school; students cannot enrol
    "employee": np.bool_,  # covered by the employee scheme instead
    "group": np.int8,  # 0 none, 1 severely disabled, 2 poor (policy.GROUP_CODES)
    "pensioner": np.bool_,
    "choice": np.int16,  # this year's grade in yuan (up to scenario.MAX_GRADE, 20,000); 0 not paying,
    # -1 not eligible
    "gov_paid": np.bool_,  # this year's grade paid by the government
    "years": np.int16,  # contribution years
    "account": np.float64,  # individual account balance, yuan
    "account_subsidy": np.float64,  # the part of the balance from subsidies and government-paid grades, yuan
    "account_pension": np.float64,  # monthly account pension fixed at retirement, yuan/month
    # lifetime money with the scheme (abm/sim/lifetime.py), yuan at the end of the launch year, at the account rates;
    # kept only where asked for (LIFETIME_COLUMNS: abm/analysis/cohorts.py reads them)
    "pv_own": np.float64,  # own contributions and back-payments
    "pv_subsidy": np.float64,  # entry subsidies and government-paid grades put into the account
    "pv_basic": np.float64,  # basic pension received, with top-up and bonus
    "pv_account": np.float64,  # account pension received from the account
    "pv_after": np.float64,  # pension paid from public money after the account is exhausted
    "pv_estate": np.float64,  # account inherited by the estate at death
    "npv": np.float32,  # net flows (received - own) valued at each rate of lifetime.RATES: one column per rate
    "net_flow": np.float64,  # this year's net flow so far, yuan, and its timed part (valued into npv once a year)
    "years_lowest": np.int16,  # contribution years at the lowest grade of the year (back-paid years included)
    "years_gov": np.int16,  # contribution years paid by the government
}
HEADROOM = 16  # a column's new buffer holds 1/HEADROOM more rows than it needs
BLOCK = 1 << 15  # rows moved at once within a buffer
WIDTHS = {"npv": RATES.size, "net_flow": NET_WIDTH}  # 2-D columns: one value per resident and rate or part
PV_COLUMNS = ("pv_own", "pv_subsidy", "pv_basic", "pv_account", "pv_after", "pv_estate")
LIFETIME_COLUMNS = (*PV_COLUMNS, "npv", "net_flow", "years_lowest", "years_gov")
EDUCATION_LEVELS = ("primary_or_less", "junior_secondary", "senior_secondary_or_more")


class Population:
    """Columns of equal length plus the under-16 cohorts (counted, not simulated).

    Columns are read and written as attributes (``pop.age``); rows stay ordered by id, so a
    resident's row is found by binary search after rows are dropped. The lifetime columns
    (``LIFETIME_COLUMNS``) are there only if given (``lifetime``): all of them or none.

    Each column is the first rows of a buffer with room to grow (``HEADROOM``): a year's departures
    and arrivals move rows within it, block by block, so its memory is not given up and asked for
    again every year.
    """

    def __init__(self, columns: dict[str, np.ndarray], weight: float, under_16: np.ndarray):
        names = [k for k in COLUMNS if k not in LIFETIME_COLUMNS or "npv" in columns]
        object.__setattr__(self, "_buffers", {k: _shaped(k, columns[k]) for k in names})
        object.__setattr__(self, "_columns", dict(self._buffers))  # the buffers' first len(self) rows
        object.__setattr__(self, "weight", float(weight))  # persons per simulated resident
        object.__setattr__(self, "under_16", np.asarray(under_16, dtype=float))  # persons aged 0..15
        object.__setattr__(self, "next_id", int(self.id.max()) + 1 if self.id.size else 0)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self._columns[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in COLUMNS:
            self._columns[name][...] = value
        else:
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return self.id.size

    @property
    def lifetime(self) -> bool:
        """Whether the residents' lifetime accounts (LIFETIME_COLUMNS) are kept."""
        return "npv" in self._columns

    @property
    def names(self) -> list[str]:
        """The columns kept, in COLUMNS order."""
        return list(self._columns)

    @property
    def nbytes(self) -> int:
        return sum(col.nbytes for col in self._columns.values()) + self.under_16.nbytes

    def copy(self) -> Population:
        """An independent copy (every column, the weight, the under-16s and the next id)."""
        twin = Population({name: col.copy() for name, col in self._columns.items()}, self.weight, self.under_16.copy())
        twin.next_id = self.next_id
        return twin

    def keep(self, mask: np.ndarray, arrivals: dict[str, np.ndarray] | None = None) -> None:
        """Drop the rows where ``mask`` is false (deaths, migrants), then add ``arrivals`` (columns of
        new residents, ids above every id so far) after the rest."""
        # each block's kept rows as an index, found once for every column (faster than the mask column by column)
        blocks = [(first, np.flatnonzero(mask[first : first + BLOCK])) for first in range(0, len(self), BLOCK)]
        kept = sum(part.size for _, part in blocks)
        added = 0 if arrivals is None else len(arrivals["id"])
        total = kept + added
        for name, col in self._columns.items():
            buffer, grown = self._buffers[name], total > self._buffers[name].shape[0]
            if grown:  # a new buffer, with room to grow
                buffer = self._buffers[name] = np.empty((total + total // HEADROOM, *col.shape[1:]), dtype=col.dtype)
            if grown or kept < col.shape[0]:
                # block by block: a block's rows land at or before where they were, after the blocks before it
                done = 0
                for first, part in blocks:
                    moved = col[first : first + BLOCK][part]
                    buffer[done : done + moved.shape[0]] = moved
                    done += moved.shape[0]
            if added:
                buffer[kept:total] = _shaped(name, arrivals[name])
            self._columns[name] = buffer[:total]
        if added:
            self._check_ids()

    def append(self, columns: dict[str, np.ndarray]) -> None:
        """Add new residents (ids above every id so far) after the others."""
        self.keep(np.ones(len(self), bool), columns)

    def _check_ids(self) -> None:
        last = int(self.id[-1])
        if last >= np.iinfo(COLUMNS["id"]).max:
            raise OverflowError(f"resident ids reached {last:,}, the most the id column holds")
        self.next_id = last + 1

    def rows(self, ids: np.ndarray | int) -> np.ndarray:
        """Row index of residents by id (-1 for residents no longer present)."""
        ids = np.asarray(ids)
        if not self.id.size:
            return np.full(ids.shape, -1)
        held = (ids >= 0) & (ids <= np.iinfo(self.id.dtype).max)  # ids the column can hold, compared in its type
        key = np.where(held, ids, 0).astype(self.id.dtype)
        rows = np.searchsorted(self.id, key)
        found = held & (rows < self.id.size) & (self.id[np.minimum(rows, self.id.size - 1)] == key)
        return np.where(found, rows, -1)


def row_bytes(lifetime: bool = False) -> int:
    """Bytes a resident's row holds: every column, with or without the lifetime accounts."""
    return sum(
        np.dtype(dtype).itemsize * WIDTHS.get(name, 1)
        for name, dtype in COLUMNS.items()
        if lifetime or name not in LIFETIME_COLUMNS
    )


def _shaped(name: str, values) -> np.ndarray:
    """A column as stored: its dtype, and for a 2-D column (WIDTHS) one row per resident (a 1-D value
    given for it fills each resident's row)."""
    col = np.asarray(values, dtype=COLUMNS[name])
    if name in WIDTHS and col.ndim == 1:
        col = np.repeat(col[:, None], WIDTHS[name], axis=1)
    return col


def age_distribution(county: County, life: LifeTable) -> np.ndarray:
    """Share of the whole population at each single age: census bands, shaped by survivorship."""
    lx = life.survivorship()
    shares = np.zeros(lx.size)
    for band, share in county.age_bands.items():
        first, last = (int(x) for x in band.split("-"))
        ages = np.arange(first, min(last, life.last_age) + 1)
        shares[ages] = share * lx[ages] / lx[ages].sum()
    return shares / shares.sum()


def synthesise(
    county: County,
    life: LifeTable,
    residents: int | None,
    mean_income: float,
    pension_age: int,
    rng: np.random.Generator,
    lifetime: bool = False,
) -> Population:
    """Draw the county's residents aged 16+ at the launch year.

    Args:
        county: county parameters (abm/data/counties/*.yaml, values only).
        residents: simulated residents; None for one per real resident.
        mean_income: mean rural per-capita income in the launch year, yuan/year.
        pension_age: residents at or above it draw the basic pension without contributing.
        lifetime: keep each resident's lifetime accounts (LIFETIME_COLUMNS).
    """
    shares = age_distribution(county, life)
    adults = county.population * shares[ENTRY_AGE:].sum()
    n = round(adults) if residents is None else int(residents)
    ages = ENTRY_AGE + rng.choice(shares.size - ENTRY_AGE, size=n, p=shares[ENTRY_AGE:] / shares[ENTRY_AGE:].sum())
    columns = draw_residents(county, np.sort(ages), mean_income, rng, first_id=0, lifetime=lifetime)
    columns["pensioner"] = (columns["age"] >= pension_age) & ~columns["employee"]
    return Population(columns, weight=adults / n, under_16=county.population * shares[:ENTRY_AGE])


def draw_residents(
    county: County,
    ages: np.ndarray,
    mean_income: float,
    rng: np.random.Generator,
    first_id: int,
    lifetime: bool = False,
) -> dict[str, np.ndarray]:
    """Attributes of residents of the given ages (also used for each year's new 16-year-olds), with
    empty lifetime accounts if ``lifetime``; each column in its type as soon as it is drawn."""
    n = ages.size
    shares = [getattr(county.education_shares, k) for k in EDUCATION_LEVELS]
    education = _typed("education", rng.choice(3, size=n, p=shares))
    factors = np.array([getattr(county.education_income_factor, k) for k in EDUCATION_LEVELS])
    mean_factor = factors @ shares
    sigma = county.income_dispersion
    income = mean_income * factors[education] / mean_factor * rng.lognormal(-(sigma**2) / 2, sigma, n)
    health = county.good_health_share
    children = _typed(
        "children", np.minimum(rng.poisson(np.where(ages < 40, county.children.under_40, county.children.from_40)), 10)
    )
    reliance = county.reliance_on_children
    schooling = county.schooling
    group = _typed(
        "group",
        rng.choice(
            3, size=n, p=[1 - county.disabled_share - county.poor_share, county.disabled_share, county.poor_share]
        ),
    )
    return {
        "id": np.arange(first_id, first_id + n, dtype=COLUMNS["id"]),
        "age": _typed("age", ages),
        "sex": rng.random(n) < county.male_share,
        "village": _typed("village", rng.integers(0, county.villages, n)),
        "income": income,
        "education": education,
        "good_health": rng.random(n) < np.where(ages < 60, health.under_60, health.from_60),
        "household_size": _typed("household_size", 1 + rng.poisson(county.household_size - 1, n)),
        "children": children,
        "reliance": rng.random(n) < np.where(children > 0, reliance.with_children, reliance.without_children),
        "awareness": _typed("awareness", _beta(county.awareness, n, rng)),
        "trust": _typed("trust", _beta(county.trust, n, rng)),
        # a later attribute draws from a spawned child stream: adding it leaves every other draw as it was
        "literate": rng.spawn(1)[0].random(n) < county.financial_literacy,
        "liquidity": _typed("liquidity", rng.spawn(1)[0].standard_normal(n)),
        "school_until": _typed(
            "school_until", rng.choice([int(a) for a in schooling], size=n, p=list(schooling.values()))
        ),
        "employee": rng.random(n) < county.employee_scheme_share,
        "group": group,
        **{
            name: np.zeros(n, dtype=COLUMNS[name])
            for name in ("pensioner", "gov_paid", "years", "account", "account_subsidy", "account_pension")
        },
        "choice": np.full(n, -1, dtype=COLUMNS["choice"]),
        **(lifetime_columns(n) if lifetime else {}),
    }


def _typed(name: str, values) -> np.ndarray:
    """``values`` in the type of column ``name``."""
    return np.asarray(values, dtype=COLUMNS[name])


def lifetime_columns(n: int) -> dict[str, np.ndarray]:
    """Empty lifetime accumulators (abm/sim/lifetime.py) for ``n`` new residents."""
    return {
        **{name: np.zeros(n) for name in PV_COLUMNS},
        "npv": np.zeros((n, RATES.size)),
        "net_flow": np.zeros((n, NET_WIDTH)),
        "years_lowest": np.zeros(n),
        "years_gov": np.zeros(n),
    }


def _beta(spec: Beta, n: int, rng: np.random.Generator) -> np.ndarray:
    mean, concentration = spec.mean, spec.concentration
    return rng.beta(mean * concentration, (1 - mean) * concentration, n)
