"""Individual accounts and public money: contributions in, pensions out, a ledger per year.

Assets are the individual accounts. Every year they change by exactly the inflows minus the
outflows recorded in the ledger; :meth:`Fund.close_year` checks it. Public money (basic
pensions, subsidies, government-paid contributions, payments after an account is exhausted)
is spending from the budget, recorded item by item. Each account's subsidy part (entry
subsidies and government-paid contributions, with their interest, less their share of the
pensions paid) is followed too: where the rules of the year make it not inheritable, it goes
back to public money at death instead of to the heirs.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from abm.lifetime import INTO_ACCOUNT, OWN, RECEIVED, Discount, accrue, settle
from abm.policy import YearPolicy, backpay_gap
from abm.population import PV_COLUMNS

INFLOWS = ("contributions", "entry_subsidies", "government_contributions", "backpayments", "interest")
OUTFLOWS = ("account_pensions", "inheritance", "returned_subsidies", "transfers_out")
PUBLIC = ("public_basic_pension_central", "public_basic_pension_local", "public_bonus",
          "public_entry_subsidies", "public_government_contributions", "public_after_exhaustion")
MONTHS = 12
TOLERANCE = 1e-9  # relative; conservation holds to rounding


class FundImbalance(RuntimeError):
    """Assets moved by something other than the recorded flows: a bug, never user error."""


def monthly_basic_pension(policy: YearPolicy, years: np.ndarray) -> np.ndarray:
    """Basic pension incl. local top-up and long-contribution bonus in force at the end of the
    year, yuan/month."""
    extra_years = np.maximum(np.asarray(years) - policy.min_years, 0)
    return policy.basic_pension + policy.local_top_up + policy.bonus_per_year * extra_years


def yearly_basic_pension(policy: YearPolicy, years: np.ndarray) -> np.ndarray:
    """Basic pension incl. top-up and bonus paid over the year's months, yuan/year: each month at
    the amount then in force (a mid-year rise or launch pays part of the year)."""
    extra_years = np.maximum(np.asarray(years) - policy.min_years, 0)
    return policy.basic_pension_paid + policy.local_top_up_paid + policy.bonus_paid * extra_years


def monthly_account_pension(balance: np.ndarray, policy: YearPolicy) -> np.ndarray:
    """Account pension fixed when it starts: balance / the divisor of the pension age in force, yuan/month."""
    return np.asarray(balance) / policy.divisor


def credit(balance: np.ndarray, rate: float, inflow: np.ndarray) -> np.ndarray:
    """A year on an account: interest on the opening balance, then the year's inflow."""
    return balance * (1 + rate) + inflow


class Fund:
    """The scheme's money, weighted up to county totals (yuan)."""

    def __init__(self, weight: float):
        self.weight = weight
        self.balance = 0.0
        self.ledger: list[dict[str, float]] = []
        self._row: dict[str, float] = defaultdict(float)
        self.discount = Discount()        # residents' lifetime present values (abm/lifetime.py)
        self.exits: list[dict[str, np.ndarray]] = []   # lifetime records of residents who died or moved away

    def _add(self, item: str, amounts: np.ndarray | float) -> None:
        self._row[item] += float(np.sum(amounts)) * self.weight

    def open_year(self, year: int) -> None:
        self._row = defaultdict(float, year=year, opening_balance=self.balance)

    def collect(self, pop, rows: np.ndarray, grade: np.ndarray, gov_paid: np.ndarray,
                policy: YearPolicy) -> None:
        """Interest on all accounts, then the year's contributions and entry subsidies."""
        interest = pop.account * policy.interest_rate
        self._add("interest", interest)
        pop.account += interest
        pop.account_subsidy *= 1 + policy.interest_rate
        paying = grade > 0
        subsidy = np.zeros(rows.size)
        subsidy[paying] = policy.subsidies[np.searchsorted(policy.grades, grade[paying])]
        subsidy[gov_paid] = policy.government_paid_subsidy
        self._add("contributions", grade[paying & ~gov_paid])
        self._add("government_contributions", grade[gov_paid])
        self._add("entry_subsidies", subsidy)
        self._add("public_entry_subsidies", subsidy)
        self._add("public_government_contributions", grade[gov_paid])
        pop.account[rows] += grade + subsidy
        pop.account_subsidy[rows] += subsidy + np.where(gov_paid, grade, 0.0)
        pop.years[rows] += paying
        self._accrue_collected(pop, rows, grade, gov_paid, subsidy, policy)

    def retire(self, pop, policy: YearPolicy, backpaying: np.ndarray | None = None) -> np.ndarray:
        """Residents at pension age with enough years (or who back-pay the gap) start their pension.

        Args:
            pop: the residents.
            policy: the year's policy.
            backpaying: per resident, whether one with the right back-pays this year (the model's
                decision, abm/choice.py: backpays); ``None``: everyone with the right does (the rules'
                route, as in abm/irr.py). Ignored for residents without a gap to back-pay.
        """
        candidates = ~pop.pensioner & ~pop.employee & (pop.age >= policy.pension_age)
        gap = backpay_gap(pop, policy)
        if backpaying is not None:
            gap = np.where(backpaying, gap, 0)
        backpay = gap * policy.lowest_grade  # at the lowest grade, no subsidy on back-payments
        self._add("backpayments", backpay)
        self._accrue_backpaid(pop, gap, backpay)
        pop.account += backpay
        pop.years += gap.astype(pop.years.dtype)
        retiring = candidates & (pop.years >= policy.min_years)
        pop.pensioner[retiring] = True
        pop.account_pension[retiring] = monthly_account_pension(pop.account[retiring], policy)
        return retiring

    def pay(self, pop, policy: YearPolicy) -> None:
        """A year of pensions (the months the scheme ran): basic pension from the budget, account
        pension from the account, and from the budget once the account is exhausted."""
        pensioners = pop.pensioner
        count = int(pensioners.sum())
        national = policy.basic_pension_paid * count
        self._add("public_basic_pension_central", national * policy.central_share)
        self._add("public_basic_pension_local", national * (1 - policy.central_share)
                  + policy.local_top_up_paid * count)
        extra_years = np.maximum(pop.years[pensioners] - policy.min_years, 0)
        self._add("public_bonus", policy.bonus_paid * extra_years)
        due = policy.months * pop.account_pension[pensioners]
        held = pop.account[pensioners]
        from_account = np.minimum(due, held)
        left = held - from_account
        # the subsidy part shrinks in proportion with the account
        pop.account_subsidy[pensioners] *= np.divide(left, held, out=np.zeros_like(held), where=held > 0)
        pop.account[pensioners] = left
        self._add("account_pensions", from_account)
        self._add("public_after_exhaustion", due - from_account)
        self._accrue_paid(pop, policy, from_account, due - from_account)

    def remove(self, pop, mask: np.ndarray, item: str) -> None:
        """Accounts leaving the fund with residents who move away (transferred out)."""
        self._add(item, pop.account[mask])
        self._record_exits(pop, mask, "moved")

    def bequeath(self, pop, dead: np.ndarray, policy: YearPolicy) -> None:
        """Accounts of the dead: inherited; where the year's rules say so, less the subsidy part,
        which returns to public money."""
        returned = np.zeros(int(dead.sum())) if policy.subsidy_inheritable else \
            np.minimum(pop.account_subsidy[dead], pop.account[dead])
        self._add("returned_subsidies", returned)
        self._add("inheritance", pop.account[dead] - returned)
        accrue(pop, dead, "pv_estate", pop.account[dead] - returned, self.discount, RECEIVED)
        self._record_exits(pop, dead, "died")

    def close_year(self, pop) -> dict[str, float]:
        """Check conservation and return the year's ledger row (yuan)."""
        settle(pop, self.discount)
        row = self._row
        row["inflow"] = sum(row[k] for k in INFLOWS)
        row["outflow"] = sum(row[k] for k in OUTFLOWS)
        row["public_spending"] = sum(row[k] for k in PUBLIC)
        expected = row["opening_balance"] + row["inflow"] - row["outflow"]
        actual = float(pop.account.sum()) * self.weight
        if abs(actual - expected) > TOLERANCE * max(1.0, abs(expected), row["inflow"]):
            raise FundImbalance(f"{row['year']}: accounts hold {actual:.2f} yuan, flows imply {expected:.2f}")
        self.balance = row["closing_balance"] = actual
        self.ledger.append(dict(row))
        return self.ledger[-1]

    # residents' lifetime present values (abm/lifetime.py): additive, one call where the money moves

    def _accrue_collected(self, pop, rows, grade, gov_paid, subsidy, policy: YearPolicy) -> None:
        self.discount.advance(policy.year, policy.interest_rate)
        own = (grade > 0) & ~gov_paid
        accrue(pop, rows[own], "pv_own", grade[own], self.discount, OWN)
        accrue(pop, rows, "pv_subsidy", subsidy + np.where(gov_paid, grade, 0.0), self.discount, INTO_ACCOUNT)
        pop.years_lowest[rows[own & (grade == policy.lowest_grade)]] += 1
        pop.years_gov[rows[gov_paid & (grade > 0)]] += 1

    def _accrue_backpaid(self, pop, gap: np.ndarray, backpay: np.ndarray) -> None:
        paid = backpay > 0
        accrue(pop, paid, "pv_own", backpay[paid], self.discount, OWN)
        pop.years_lowest[paid] += gap[paid].astype(pop.years_lowest.dtype)   # back-paid at the lowest grade

    def _accrue_paid(self, pop, policy: YearPolicy, from_account: np.ndarray, after: np.ndarray) -> None:
        pensioners = pop.pensioner
        accrue(pop, pensioners, "pv_basic", yearly_basic_pension(policy, pop.years[pensioners]), self.discount,
               RECEIVED)
        accrue(pop, pensioners, "pv_account", from_account, self.discount, RECEIVED)
        accrue(pop, pensioners, "pv_after", after, self.discount, RECEIVED)

    def _record_exits(self, pop, mask: np.ndarray, how: str) -> None:
        """Keep the lifetime record of residents leaving the county (abm/cohorts.py reads them)."""
        if not np.any(mask):
            return
        settle(pop, self.discount, mask)
        record = {name: getattr(pop, name)[mask].copy() for name in
                  ("id", "age", "sex", "years", "years_lowest", "years_gov", "pensioner", "npv", *PV_COLUMNS)}
        year = self._row.get("year") or self.discount.year or 0
        record["birth_year"] = year - record["age"].astype(np.int64)
        record["how"] = np.full(int(np.count_nonzero(mask)), how)
        self.exits.append(record)
