"""Each resident's lifetime money with the scheme: present values accrued as the fund moves money.

Every flow the fund moves for a resident is added, discounted to the end of the launch year at the
account interest rates in force (the rate the account itself earned, year by year, with the
timing of abm/sim/timing.py: simple interest within a year, compounded from year to year), to one of
the resident's present-value columns (``PV_COLUMNS`` of abm/sim/population.py): own money paid
(contributions and back-payments), public money paid into the account (entry subsidies and
government-paid grades), basic pension received (with top-up and bonus), account pension
received, payments after the account is exhausted, and the account the estate inherits. Because
the discount rate is the account's own rate, what leaves an account is worth, in present value,
exactly what went in. The net flow (received minus own money) is also valued at each rate of
``RATES``, so a resident's internal rate of return is found where that value changes sign.
"""

from __future__ import annotations

import numpy as np

# rates of return at which each resident's net flows are valued (the grid of the internal rate of return)
RATES = np.array(
    [
        -0.05,
        -0.02,
        0.0,
        0.01,
        0.02,
        0.03,
        0.04,
        0.05,
        0.06,
        0.08,
        0.10,
        0.12,
        0.15,
        0.20,
        0.25,
        0.30,
        0.40,
        0.50,
        0.65,
        0.80,
        1.0,
        1.5,
        2.0,
    ]
)
OWN, RECEIVED, INTO_ACCOUNT = -1.0, 1.0, 0.0  # the sign of a flow in the resident's net flows
NET_WIDTH = 2  # net_flow columns: the year's net flow (yuan), and its timed part (yuan x share of the year left)


class Discount:
    """Discount factors of the current year: from its end to the end of the first year, at the
    account interest rates in force and at each rate of ``RATES``."""

    def __init__(self) -> None:
        self.first_year: int | None = None
        self.year: int | None = None
        self.rate = 0.0  # the account interest rate of the current year, per year
        self.factor = 1.0  # product of 1 / (1 + account rate) over the years since the first
        self.grid = np.ones((NET_WIDTH, RATES.size))  # per rate: the year's end discounted, and times the rate

    def advance(self, year: int, interest_rate: float) -> None:
        """Move to ``year`` (consecutive years; the same year again changes nothing)."""
        if self.year == year:
            return
        if self.year is None:
            self.first_year = year
        else:
            self.factor /= 1 + interest_rate
        self.year, self.rate = year, interest_rate
        at_end = (1 + RATES) ** -float(year - self.first_year)
        self.grid = np.stack([at_end, RATES * at_end])


def accrue(
    pop, rows: np.ndarray, column: str, amounts: np.ndarray, discount: Discount, sign: float, left: float = 0.0
) -> None:
    """Add a flow of the year to residents' present values and, by its sign, to their net flows.

    Args:
        pop: the population; ``rows`` index or mask its residents.
        column: the present-value column (abm/sim/population.py PV_COLUMNS).
        amounts: yuan this year, one per selected resident (or one for all).
        sign: OWN (paid by the resident), RECEIVED, or INTO_ACCOUNT (not yet the resident's cash).
        left: the share of the year left after the flow (abm/sim/timing.py: remaining).
    """
    amounts = np.broadcast_to(np.asarray(amounts, dtype=float), np.shape(pop.id[rows]))
    present(pop, rows, column, amounts, amounts * left, discount)
    if sign:
        add_net(pop, rows, sign * amounts, sign * left * amounts)


def present(pop, rows: np.ndarray, column: str, amounts: np.ndarray, timed: np.ndarray, discount: Discount) -> None:
    """Add a flow of the year, or a stream of monthly flows, to a present-value column.

    Args:
        amounts: yuan this year, per selected resident.
        timed: the same amounts times the share of the year left after each (abm/sim/timing.py: stream).
    """
    getattr(pop, column)[rows] += (amounts + discount.rate * timed) * discount.factor


def add_net(pop, rows: np.ndarray, amounts: np.ndarray, timed: np.ndarray) -> None:
    """Add to residents' net flows of the year (valued at every rate once a year: :func:`settle`).

    Args:
        amounts: yuan, signed (received positive, own money negative).
        timed: the same amounts times the share of the year left after them (abm/sim/timing.py).
    """
    pop.net_flow[rows, 0] += amounts
    pop.net_flow[rows, 1] += timed


def settle(pop, discount: Discount, rows: np.ndarray | None = None) -> None:
    """Value the year's net flows so far (``net_flow``) at each rate of ``RATES`` into ``npv`` and
    clear them: once a year for everyone, and for residents leaving before their record is kept.
    At rate i the year's flows are worth net + RATES[i] x timed at its end (simple interest within
    the year, abm/sim/timing.py), discounted to the first year's end.

    Args:
        rows: index or mask of the residents to settle; all if None.
    """
    grid = discount.grid.astype(pop.npv.dtype)
    if rows is None:  # everyone: one pass over the whole table, in its own precision (no BLAS threads)
        pop.npv += np.einsum("ij,jk->ik", pop.net_flow.astype(pop.npv.dtype), grid)
        pop.net_flow[:] = 0.0
        return
    index = np.asarray(rows)
    if index.dtype == bool:
        index = np.flatnonzero(index)
    pop.npv[index] += np.einsum("ij,jk->ik", pop.net_flow[index].astype(pop.npv.dtype), grid)
    pop.net_flow[index] = 0.0


def irr_from_grid(npv: np.ndarray) -> np.ndarray:
    """Internal rate of return of each row of net present values at ``RATES``: the first rate where
    the value turns from positive to not positive, interpolated linearly in the rate between the
    two grid points; NaN where it does not change sign on the grid (no own money, or beyond it)."""
    npv = np.atleast_2d(npv)
    crossing = (npv[:, :-1] > 0) & (npv[:, 1:] <= 0)
    found = crossing.any(axis=1)
    k = np.argmax(crossing, axis=1)
    rows = np.arange(npv.shape[0])
    low, high = npv[rows, k], npv[rows, k + 1]
    share = np.divide(low, low - high, out=np.zeros_like(low), where=low != high)
    rate = RATES[k] + share * (RATES[k + 1] - RATES[k])
    return np.where(found, rate, np.nan)
