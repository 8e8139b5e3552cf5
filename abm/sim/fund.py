"""Individual accounts and public money: contributions in, pensions out, a ledger per year.

Assets are the individual accounts. Every year they change by exactly the inflows minus the
outflows recorded in the ledger, interest being one inflow; :meth:`Fund.close_year` checks it.
Money moves at the months of abm/sim/timing.py: contributions and subsidies in the collection month,
back-payments at the start of the month a pension starts, pensions at the end of each month paid;
interest is credited at the end of the year (simple interest within it, on the opening balance and
by months held on each flow), before the accounts of those who died or moved away leave. Public
money (basic pensions, subsidies, government-paid contributions, payments after an account is
exhausted) is spending from the budget, recorded item by item. Each account's subsidy part (entry
subsidies and government-paid contributions, with their interest, less their share of the
pensions paid) is followed too: where the rules of the year make it not inheritable, it goes
back to public money at death instead of to the heirs.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from abm.sim import timing
from abm.sim.lifetime import INTO_ACCOUNT, OWN, RECEIVED, Discount, accrue, add_net, present, settle
from abm.sim.policy import YearPolicy, backpay_gap
from abm.sim.population import BLOCK, PV_COLUMNS
from abm.sim.timing import MONTHS

INFLOWS = ("contributions", "entry_subsidies", "government_contributions", "backpayments", "interest")
OUTFLOWS = ("account_pensions", "inheritance", "returned_subsidies", "transfers_out")
PUBLIC = (
    "public_basic_pension_central",
    "public_basic_pension_local",
    "public_bonus",
    "public_entry_subsidies",
    "public_government_contributions",
    "public_after_exhaustion",
)
TOLERANCE = 1e-9  # relative; conservation holds to rounding


class FundImbalance(RuntimeError):
    """Assets moved by something other than the recorded flows: a bug, never user error."""


def monthly_basic_pension(policy: YearPolicy, years: np.ndarray) -> np.ndarray:
    """Basic pension incl. local top-up and long-contribution bonus in force at the end of the
    year, yuan/month."""
    extra_years = np.maximum(np.asarray(years) - policy.min_years, 0)
    return policy.basic_pension + policy.local_top_up + policy.bonus_per_year * extra_years


def yearly_basic_pension(policy: YearPolicy, years: np.ndarray, start: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Basic pension incl. top-up and bonus paid over the year's months from ``start``, each month
    at the amount then in force (a mid-year rise or launch pays part of the year): yuan/year, and
    its timed part (each month's amount times the share of the year left after it, abm/sim/timing.py).

    Args:
        years: contribution years, per pensioner.
        start: the first month of the pension this year (1: drawing all year).
    """
    extra_years = np.maximum(np.asarray(years) - policy.min_years, 0)
    total, timed = timing.stream(policy.paid_by_month, start)
    return total[0] + total[1] + total[2] * extra_years, timed[0] + timed[1] + timed[2] * extra_years


def monthly_account_pension(balance: np.ndarray, policy: YearPolicy) -> np.ndarray:
    """Account pension fixed when it starts: balance / the divisor of the pension age in force, yuan/month."""
    return np.asarray(balance) / policy.divisor


class Fund:
    """The scheme's money, weighted up to county totals (yuan).

    A year: :meth:`open_year`, then in the order money moves :meth:`collect`, :meth:`retire`,
    :meth:`pay`; the year's interest is credited (:meth:`credit_interest`) before the first of
    :meth:`bequeath`, :meth:`remove` and :meth:`close_year`, which happen at the end of the year.
    """

    def __init__(self, weight: float):
        self.weight = weight
        self.balance = 0.0
        self.ledger: list[dict[str, float]] = []
        self._row: dict[str, float] = defaultdict(float)
        self._interest: np.ndarray | None = None  # per resident: interest of the year to its end, not yet credited
        self._credited = False  # the year's interest is credited: no more money moves
        self._starting: np.ndarray | None = None  # residents whose pension started this year
        self.discount = Discount()  # residents' lifetime present values (abm/sim/lifetime.py)
        self.exits: list[dict[str, np.ndarray]] = []  # lifetime records of residents who died or moved away

    def _add(self, item: str, amounts: np.ndarray | float) -> None:
        self._row[item] += float(np.sum(amounts)) * self.weight

    def open_year(self, year: int) -> None:
        self._row = defaultdict(float, year=year, opening_balance=self.balance)
        self._interest, self._credited, self._starting = None, False, None

    def _accruing(self, pop, policy: YearPolicy) -> np.ndarray:
        """The year's interest per resident so far (to the end of the year): started at the year's
        first flow with the interest on the opening balances."""
        if self._interest is None:
            if self._credited:
                raise RuntimeError(f"{self._row['year']}: money moved after the year's interest was credited")
            rate = policy.interest_rate
            self._interest = pop.account * rate
            pop.account_subsidy *= 1 + rate  # the subsidy part is followed at its value at the year's end
            self.discount.advance(policy.year, rate)
        return self._interest

    def collect(self, pop, rows: np.ndarray, grade: np.ndarray, gov_paid: np.ndarray, policy: YearPolicy) -> None:
        """The year's contributions and entry subsidies, paid in the collection month (abm/sim/timing.py)."""
        interest = self._accruing(pop, policy)
        left = timing.remaining(timing.collection_month(policy))
        paying = grade > 0
        by_grade = np.zeros(int(policy.grades[-1]) + 1)  # each whole-yuan grade's subsidy (0 for not paying)
        by_grade[policy.grades.astype(np.intp)] = policy.subsidies
        subsidy = by_grade[grade.astype(np.intp)]
        subsidy[gov_paid] = policy.government_paid_subsidy
        self._add("contributions", grade[np.flatnonzero(paying & ~gov_paid)])  # (by index: faster than a mask)
        self._add("government_contributions", grade[gov_paid])
        self._add("entry_subsidies", subsidy)
        self._add("public_entry_subsidies", subsidy)
        self._add("public_government_contributions", grade[gov_paid])
        for first in range(0, rows.size, BLOCK):  # into the accounts block by block (small temporaries)
            part = slice(first, first + BLOCK)
            at, paid_in = rows[part], grade[part] + subsidy[part]
            pop.account[at] += paid_in
            paid_in *= policy.interest_rate * left
            interest[at] += paid_in
            public = np.where(gov_paid[part], grade[part], 0.0)  # public money: subsidies, government-paid grades
            public += subsidy[part]
            pop.account_subsidy[at] += timing.grown(public, policy.interest_rate, left)
        pop.years[rows] += paying
        self._accrue_collected(pop, rows, grade, gov_paid, subsidy, policy, left)

    def retire(self, pop, policy: YearPolicy, backpaying: np.ndarray | None = None) -> np.ndarray:
        """Residents at pension age with enough years (or who back-pay the gap) start their pension
        in the pension's first month of the year (abm/sim/timing.py: pension_start_month); the
        back-payment is paid at its start and the account pension fixed then, on the balance with
        the interest accrued so far.

        Args:
            pop: the residents.
            policy: the year's policy.
            backpaying: per resident, whether one with the right back-pays this year (the model's
                decision, abm/sim/choice.py: backpays); ``None``: everyone with the right does (the rules'
                route, as in abm/analysis/irr.py). Ignored for residents without a gap to back-pay.
        """
        interest = self._accruing(pop, policy)
        fixed_at = timing.backpay_month(policy)
        candidates = ~pop.pensioner & ~pop.employee & (pop.age >= policy.pension_age)
        gap = backpay_gap(pop, policy)
        if backpaying is not None:
            gap = np.where(backpaying, gap, 0)
        backpay = gap * policy.lowest_grade  # at the lowest grade, no subsidy on back-payments
        self._add("backpayments", backpay)
        self._accrue_backpaid(pop, gap, backpay, timing.remaining(fixed_at))
        pop.account += backpay
        backpay *= policy.interest_rate * timing.remaining(fixed_at)  # (in place: now the interest it earns)
        interest += backpay
        del backpay
        pop.years += gap.astype(pop.years.dtype)
        retiring = candidates & (pop.years >= policy.min_years)
        pop.pensioner[retiring] = True
        balance = timing.balance_at(pop.account[retiring], interest[retiring], policy.interest_rate, fixed_at)
        pop.account_pension[retiring] = monthly_account_pension(balance, policy)
        self._starting = retiring if self._starting is None else self._starting | retiring
        return retiring

    def pay(self, pop, policy: YearPolicy) -> None:
        """The year's pensions, month by month (the months the scheme ran; from the first month for
        pensions starting this year): basic pension from the budget, account pension from the
        account, and from the budget once the account is exhausted. A yearly approximation of
        paying from public money from the month the account runs out: where the account's value
        at the end of the year (interest included) is less than that of the year's account
        pensions, it pays that share of each month's and public money the rest."""
        interest = self._accruing(pop, policy)
        rate = policy.interest_rate
        pensioners = pop.pensioner
        rows = np.flatnonzero(pensioners)
        start = timing.pension_start_month(policy)
        starting = self._starting[rows] if self._starting is not None else np.zeros(rows.size, bool)
        first = timing.first_paid_month(policy)
        all_year, new = timing.stream(np.ones(MONTHS), first), timing.stream(np.ones(MONTHS), start)
        years = pop.years[rows]
        self._pay_public(policy, years, starting, first, start)
        due, from_account = np.empty(rows.size), np.empty(rows.size)  # the year's account pensions, yuan
        for block in range(0, rows.size, BLOCK):  # block by block (small temporaries)
            part = slice(block, block + BLOCK)
            at, new_now = rows[part], starting[part]
            months = np.where(new_now, new[0], all_year[0])
            timed = np.where(new_now, new[1], all_year[1])  # sum over the months of the share left
            monthly = pop.account_pension[at]
            due[part] = months * monthly
            held = pop.account[at]
            value = held + interest[at]  # the account at the year's end, before pensions
            share = timing.account_share(value, monthly, months, timed, rate)
            from_account[part] = share * due[part]
            left = held - from_account[part]
            left_interest = np.where(share < 1, -left, interest[at] - share * monthly * rate * timed)
            # the subsidy part shrinks in proportion with the account's value
            remains = np.divide(left + left_interest, value, out=np.zeros_like(value), where=value > 0)
            pop.account_subsidy[at] *= remains
            pop.account[at] = left
            interest[at] = left_interest
        self._add("account_pensions", from_account)
        self._add("public_after_exhaustion", due - from_account)
        if pop.lifetime:
            basic, basic_timed = yearly_basic_pension(policy, years, first)
            if starting.any():
                later, later_timed = yearly_basic_pension(policy, years, start)
                basic, basic_timed = np.where(starting, later, basic), np.where(starting, later_timed, basic_timed)
            timed = np.where(starting, new[1], all_year[1])
            self._accrue_paid(
                pop, rows, basic, basic_timed, from_account, due - from_account, pop.account_pension[rows] * timed
            )

    def _pay_public(self, policy: YearPolicy, years: np.ndarray, starting: np.ndarray, first: int, start: int) -> None:
        """The basic pension's public money: national minimum (central and local shares), top-up, bonus;
        for pensioners drawing all year from ``first``, for those starting this year from ``start``."""
        new = int(np.count_nonzero(starting))
        drawing = (timing.stream(policy.paid_by_month, first)[0], timing.stream(policy.paid_by_month, start)[0])
        counts = (years.size - new, new)
        extra = np.maximum(years - policy.min_years, 0)
        extras = (float(extra[~starting].sum()), float(extra[starting].sum()))
        national = sum(n * paid[0] for n, paid in zip(counts, drawing))
        self._add("public_basic_pension_central", national * policy.central_share)
        self._add(
            "public_basic_pension_local",
            national * (1 - policy.central_share) + sum(n * paid[1] for n, paid in zip(counts, drawing)),
        )
        self._add("public_bonus", sum(n * paid[2] for n, paid in zip(extras, drawing)))

    def credit_interest(self, pop) -> None:
        """Credit the year's interest to the accounts (at the end of the year; once)."""
        if self._interest is not None:
            self._add("interest", self._interest)
            pop.account += self._interest
        self._interest, self._credited = None, True

    def remove(self, pop, mask: np.ndarray, item: str) -> None:
        """Accounts leaving the fund with residents who move away (transferred out, at the end of the year)."""
        self._year_end(pop)
        self._add(item, pop.account[mask])
        self._record_exits(pop, mask, "moved")

    def bequeath(self, pop, dead: np.ndarray, policy: YearPolicy) -> None:
        """Accounts of the dead: inherited; where the year's rules say so, less the subsidy part,
        which returns to public money. At the end of the year, after its pensions and interest."""
        self._year_end(pop)
        returned = (
            np.zeros(np.count_nonzero(dead))
            if policy.subsidy_inheritable
            else np.minimum(pop.account_subsidy[dead], pop.account[dead])
        )
        self._add("returned_subsidies", returned)
        self._add("inheritance", pop.account[dead] - returned)
        if pop.lifetime:
            accrue(pop, dead, "pv_estate", pop.account[dead] - returned, self.discount, RECEIVED)
        self._record_exits(pop, dead, "died")

    def close_year(self, pop) -> dict[str, float]:
        """Check conservation and return the year's ledger row (yuan)."""
        self._year_end(pop)
        if pop.lifetime:
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

    def _year_end(self, pop) -> None:
        if not self._credited:
            self.credit_interest(pop)

    # residents' lifetime present values (abm/sim/lifetime.py): additive, one call where the money moves, for a
    # population that keeps them (pop.lifetime)

    def _accrue_collected(self, pop, rows, grade, gov_paid, subsidy, policy: YearPolicy, left: float) -> None:
        if not pop.lifetime:
            return
        own = (grade > 0) & ~gov_paid
        accrue(pop, rows[own], "pv_own", grade[own], self.discount, OWN, left)
        accrue(pop, rows, "pv_subsidy", subsidy + np.where(gov_paid, grade, 0.0), self.discount, INTO_ACCOUNT, left)
        pop.years_lowest[rows[own & (grade == policy.lowest_grade)]] += 1
        pop.years_gov[rows[gov_paid & (grade > 0)]] += 1

    def _accrue_backpaid(self, pop, gap: np.ndarray, backpay: np.ndarray, left: float) -> None:
        if not pop.lifetime:
            return
        paid = backpay > 0
        accrue(pop, paid, "pv_own", backpay[paid], self.discount, OWN, left)
        pop.years_lowest[paid] += gap[paid].astype(pop.years_lowest.dtype)  # back-paid at the lowest grade

    def _accrue_paid(
        self,
        pop,
        rows: np.ndarray,
        basic: np.ndarray,
        basic_timed: np.ndarray,
        from_account: np.ndarray,
        after: np.ndarray,
        account_timed: np.ndarray,
    ) -> None:
        """Pensions received: basic, account and after exhaustion each with its timing; the net flow once.

        Args:
            account_timed: the year's account pensions (from the account and after) times the share of the
                year left after each month, per pensioner.
        """
        if not pop.lifetime:
            return
        due = from_account + after
        mean_left = np.divide(account_timed, due, out=np.zeros_like(due), where=due > 0)
        present(pop, rows, "pv_basic", basic, basic_timed, self.discount)
        present(pop, rows, "pv_account", from_account, from_account * mean_left, self.discount)
        present(pop, rows, "pv_after", after, after * mean_left, self.discount)
        add_net(pop, rows, RECEIVED * (basic + due), RECEIVED * (basic_timed + account_timed))

    def _record_exits(self, pop, mask: np.ndarray, how: str) -> None:
        """Keep the lifetime record of residents leaving the county (abm/analysis/cohorts.py reads them)."""
        if not pop.lifetime or not np.any(mask):
            return
        settle(pop, self.discount, mask)
        record = {
            name: getattr(pop, name)[mask].copy()
            for name in ("id", "age", "sex", "years", "years_lowest", "years_gov", "pensioner", "npv", *PV_COLUMNS)
        }
        year = self._row.get("year") or self.discount.year or 0
        record["birth_year"] = year - record["age"].astype(np.int64)
        record["how"] = np.full(int(np.count_nonzero(mask)), how)
        self.exits.append(record)
