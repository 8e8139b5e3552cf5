"""When in the year money moves: the month of each flow, and what it is worth at the year's end.

One convention for the fund (abm/sim/fund.py), `pension-abm irr` (abm/analysis/irr.py), the value tables
(abm/sim/perceived_worth.py), residents' lifetimes (abm/sim/lifetime.py), the cohorts (abm/analysis/cohorts.py) and the
actuarial valuation (abm/sim/actuarial.py):

- A year has 12 months; money "in month m" moves at the end of month m, when a share
  (12 - m) / 12 of the year is left (:func:`remaining`).
- Contributions, entry subsidies and government-paid grades are paid once a year in the
  collection month (``policy.collection_month``; in a mid-year launch year not before the launch
  month): :func:`collection_month`.
- Pensions are paid monthly, at the end of each month paid (a mid-year launch pays its months
  only, abm/sim/policy.py ``months_paid``).
- Ages are the ages reached during the year (birthdays spread over it, on average mid-year), so a
  pension that starts in a year starts in month ``BIRTHDAY_MONTH`` (7), or in the month after the
  collection month when that is later (a late payer's pension starts after the year's payment, in
  the year of the 15th payment): :func:`pension_start_month`. A back-payment is paid at the start
  of that month (the end of the month before), and the account pension is fixed then, on the
  balance with the interest accrued so far (:func:`balance_at`).
- Account interest is credited at the end of the year: the year's rate on the opening balance,
  and pro rata by the months held (simple interest within the year, as individual accounts are
  credited) on each inflow and outflow of the year.
- Deaths, moves away and inheritance happen at the end of the year, after its pensions.

The same rule values money at any rate (the account's interest rate, the residents' own discount
rate, a rate of return, the valuation rate): an amount that moves with a share u of the year left
is worth amount x (1 + rate x u) at the end of the year (:func:`grown`), and the end of a year is
worth 1 / (1 + rate) at the end of the year before. Rates are per year, compounded from year to
year and simple within a year; so a yuan put into the account has a rate of return of exactly the
account's interest rate. Because the rule is linear in u, a stream of monthly amounts is worth
what its total is worth moved once, with the amount-weighted mean u left (:func:`stream`).
"""

from __future__ import annotations

import numpy as np

MONTHS = 12
BIRTHDAY_MONTH = 7  # the month a pension starting at the pension age starts: birthdays spread over the year
MONTH = np.arange(1, MONTHS + 1)


def remaining(month: int | np.ndarray) -> float | np.ndarray:
    """The share of the year left after the end of ``month`` (0-12): (12 - month) / 12."""
    return (MONTHS - np.asarray(month, dtype=float)) / MONTHS


def grown(amount, rate: float, left):
    """What ``amount`` moved with a share ``left`` of the year remaining is worth at the year's end
    at ``rate`` per year: amount x (1 + rate x left) (simple interest within the year)."""
    return amount * (1 + rate * left)


def stream(by_month: np.ndarray, start: int = 1) -> tuple[np.ndarray | float, np.ndarray | float]:
    """The months from ``start`` of a monthly stream: its total and its timed total (each month's
    amount times the share of the year left after it). At rate r it is worth total + r x timed at
    the year's end.

    Args:
        by_month: amounts in months 1-12 (last axis), yuan (0 in months not paid).
        start: the first month counted, 1-12.
    """
    counted = np.asarray(by_month)[..., start - 1 :]
    return counted.sum(axis=-1), counted @ remaining(MONTH[start - 1 :])


def months_factor(rate: float | np.ndarray, start: int | np.ndarray = 1):
    """What one yuan a month paid from month ``start`` to 12 is worth at the year's end at ``rate``:
    (13 - start) + rate x sum over those months of (12 - m) / 12 = n + rate x n (n - 1) / 24."""
    n = MONTHS + 1 - np.asarray(start)
    return n + np.asarray(rate) * n * (n - 1) / (2 * MONTHS)


def first_paid_month(policy) -> int:
    """The first month the scheme pays pensions in the year: pensions are paid in the year's last
    ``policy.months`` months (1, or the launch month in a mid-year launch year)."""
    return MONTHS + 1 - policy.months


def collection_month(policy) -> int:
    """The month the year's contributions and entry subsidies are paid: ``policy.collection_month``,
    not before the launch month in the launch year."""
    return max(policy.collection_month, first_paid_month(policy))


def pension_start_month(policy) -> int:
    """The month a pension starting in the year starts (the back-payment is paid at its start):
    :func:`start_month` of the year's collection and first paid month."""
    return start_month(collection_month(policy), first_paid_month(policy))


def start_month(collection: int, first_paid: int = 1) -> int:
    """The month a pension starts in the year it starts: ``BIRTHDAY_MONTH``, or the month after the
    collection month if later, not before the scheme pays (at most 12: with collection in December,
    the pension starts with it).

    Args:
        collection: the month contributions are paid, 1-12; first_paid: the scheme's first month of
            pensions in the year, 1-12 (1 but in a mid-year launch year).
    """
    return min(max(BIRTHDAY_MONTH, collection + 1, first_paid), MONTHS)


def backpay_month(policy) -> int:
    """The month whose end a back-payment is paid at: the start of the pension's first month (0: at
    the start of January)."""
    return pension_start_month(policy) - 1


def balance_at(principal, interest, rate: float, month: int):
    """An account's balance at the end of ``month``, interest accrued so far included, from its
    principal (opening balance plus the year's flows so far, all at or before ``month``) and the
    interest those earn to the end of the year (accrued at ``rate``, credited at the year's end).

    Args:
        principal: yuan; interest: yuan to the end of the year; rate: per year; month: 0-12.
    """
    return principal + interest - principal * rate * remaining(month)


def account_share(value, monthly, months, timed, rate: float):
    """The share of each of the year's account pensions the account pays (the rest is public money):
    1, or the account's value at the end of the year over that of the year's account pensions (a
    yearly approximation of paying from public money from the month the account runs out).

    Args:
        value: the account at the end of the year before the year's pensions, interest included, yuan.
        monthly: the account pension, yuan/month; months: months paid this year; timed: the sum over
            those months of the share of the year left after each (:func:`stream`); rate: per year.
    """
    value = np.asarray(value, dtype=float)
    due = monthly * (months + rate * np.asarray(timed))
    return np.minimum(np.divide(value, due, out=np.ones_like(value), where=due > 0), 1.0)
