"""Grade choice: a multinomial logit over "not paying" and each grade; back-paying: a binary logit, same terms.

Every utility term is a resident factor times an alternative factor, so the same term list
gives the simulation's utilities (computed without the full design array) and the design
matrix the calibration estimates the coefficients from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, softmax

from abm.inputs.coefficients import BACKPAY, BENEFIT_TERMS, TERMS

AGE_CENTRE, AGE_SCALE = 45.0, 10.0  # age enters per 10 years around 45
CHUNK = 1 << 12  # residents per block of utilities: small enough to stay in cache
VECTOR_CHUNK = 8 * CHUNK  # residents whose factors are worked out at once (whole blocks)


def alternative_factors(grades: np.ndarray, subsidies: np.ndarray) -> dict[str, np.ndarray]:
    """Factors of "not paying" (first) and each grade: arrays of length K+1."""
    zero = np.zeros(1)
    return {
        "value": np.concatenate([zero, grades]),
        "pay": np.concatenate([zero, np.ones(grades.size)]),
        "grade": np.concatenate([zero, grades]),
        "funded": np.concatenate([zero, grades + subsidies]),  # yuan paid into the account
        "subsidy": np.concatenate([zero, subsidies / 100.0]),
        "lowest": np.concatenate([zero, [1.0], np.zeros(grades.size - 1)]),
        # the top grade's pull grows with its distance from the lowest (a focal point of the list)
        "highest": np.concatenate([zero, np.zeros(grades.size - 1), [np.log(grades[-1] / grades[0])]]),
    }


RESIDENT_COLUMNS = ("age", "income", "awareness", "trust", "reliance", "good_health")  # what every choice reads


def resident_factors(
    rows: Mapping[str, ArrayLike], mean_income: float, alt_values: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Factors of each resident: vectors, and the two resident x alternative matrices (:func:`matrix_factors`)
    where ``rows`` holds last year's choices and the village shares.

    Args:
        rows: the residents' columns (a mapping: a dict of arrays, a DataFrame): ``age`` (years), ``income``
            (per-capita household income, yuan/year), ``awareness`` and ``trust`` (0-1), ``reliance`` and
            ``good_health`` (true/false); optionally ``basic_worth`` and ``account_worth`` (what paying buys,
            per yuan of income: abm/sim/perceived_worth.py perceived_worth; 0 where not given), ``liquidity``
            (the multiplier of the cost per yuan of income, :meth:`Coefficients.liquidity`; 1 where not
            given), and ``last_choice`` (yuan/year, 0 not paying, -1 no choice) with ``peer_share`` ((n, K+1),
            the village's shares of last year's choices) for the matrix factors.
        mean_income: the county's mean per-capita income, yuan/year.
        alt_values: this year's alternatives, 0 then the grades, yuan/year (with ``last_choice``).
    """
    age, income = np.asarray(rows["age"]), np.asarray(rows["income"], dtype=float)
    awareness = np.asarray(rows["awareness"], dtype=float)
    zero = np.zeros(age.shape)
    account_worth = np.asarray(rows["account_worth"], dtype=float) if "account_worth" in rows else zero
    liquidity = np.asarray(rows["liquidity"], dtype=float) if "liquidity" in rows else 1.0
    matrices = (
        matrix_factors(np.asarray(rows["peer_share"]), np.asarray(rows["last_choice"]), alt_values)
        if "last_choice" in rows
        else {}
    )
    return {
        "basic_worth": np.asarray(rows["basic_worth"], dtype=float) if "basic_worth" in rows else zero,
        "account_worth": account_worth,
        "account_worth_x_awareness": account_worth * awareness,
        "one": np.ones(age.size),
        "awareness": awareness,
        "trust": np.asarray(rows["trust"], dtype=float),
        "age": (age - AGE_CENTRE) / AGE_SCALE,
        "log_income": np.log(income / mean_income),
        "reliance": np.asarray(rows["reliance"], dtype=float),
        "good_health": np.asarray(rows["good_health"], dtype=float),
        "inverse_income": liquidity / income,
        **matrices,
    }


def matrix_factors(peer_share: np.ndarray, last_choice: np.ndarray, alt_values: np.ndarray) -> dict[str, np.ndarray]:
    """The resident x alternative factors: the share of the resident's village at each alternative last
    year (``peer_share``, (n, K+1)) and the habit indicator, true at the alternative that continues last
    year's choice (:func:`menu_place`)."""
    return {
        "peer_share": peer_share,
        "inertia": menu_place(last_choice, alt_values)[:, None] == np.arange(alt_values.size)[None, :],
    }


ALTERNATIVE_FACTORS = sorted({alt for _, alt in TERMS.values() if alt is not None})  # their columns in weights()


def weights(beta: dict[str, float], residents: dict[str, np.ndarray]) -> np.ndarray:
    """Each resident's weight on each alternative factor (ALTERNATIVE_FACTORS): the product terms summed
    per alternative factor, in TERMS order, shape (n, len(ALTERNATIVE_FACTORS)). Vector factors only."""
    n = residents["one"].size
    sums = np.zeros((len(ALTERNATIVE_FACTORS), n))  # a row per alternative factor: the sums run along rows
    for name, (res, alt) in TERMS.items():
        if alt is not None:
            row = sums[ALTERNATIVE_FACTORS.index(alt)]
            row += beta[name] if res == "one" else beta[name] * residents[res]  # (beta x 1 is beta)
    return sums.T


def utilities(
    beta: dict[str, float],
    residents: dict[str, np.ndarray],
    alternatives: dict[str, np.ndarray],
    resident_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Systematic utility of each alternative for each resident, shape (n, K+1).

    Product terms are summed per alternative factor first (:func:`weights`, or ``resident_weights``
    worked out before for these residents), so the (n, K+1) work is one matrix product plus the matrix
    terms.
    """
    utility = None
    for name, (res, alt) in TERMS.items():
        if alt is not None:
            continue
        factor = residents[res]
        if utility is None and factor.dtype != bool:
            utility = np.ascontiguousarray(beta[name] * factor)  # (in C order: indicators add by flat index)
        else:
            utility = np.zeros(factor.shape) if utility is None else utility
            if factor.dtype == bool:  # an indicator: the coefficient where it holds
                utility.reshape(-1)[np.flatnonzero(factor)] += beta[name]
            else:
                utility += beta[name] * factor
    table = weights(beta, residents) if resident_weights is None else resident_weights
    product = table @ np.stack([alternatives[a] for a in ALTERNATIVE_FACTORS])
    if utility is not None:
        product += utility
    return product


def design(residents: dict[str, np.ndarray], alternatives: dict[str, np.ndarray]) -> np.ndarray:
    """The same terms as a design array (n, K+1, len(TERMS)) for estimation."""
    n, k = residents["one"].size, alternatives["pay"].size
    columns = [
        np.broadcast_to(residents[res] if alt is None else residents[res][:, None] * alternatives[alt], (n, k))
        for res, alt in TERMS.values()
    ]
    return np.stack(columns, axis=-1)


def probabilities(utility: np.ndarray) -> np.ndarray:
    """Logit choice probabilities: the softmax of each row's utilities."""
    return softmax(utility, axis=1)


def sample(utility: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Index of the chosen alternative per row (0 = not paying), by inverting the cumulative
    unnormalised probabilities with one uniform draw per row (:func:`sample_columns` on the
    utilities laid out alternatives x residents)."""
    return sample_columns(np.array(utility.T, order="C"), rng)


def sample_columns(utility: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Index of the chosen alternative per column of ``utility`` (alternatives x residents, (K+1, n),
    C order; overwritten), by inverting the cumulative unnormalised probabilities with one uniform
    draw per resident. Each step runs over the residents, alternative by alternative in order."""
    k, n = utility.shape
    cumulative = utility
    cumulative -= cumulative.max(axis=0)
    np.exp(cumulative, out=cumulative)
    for j in range(1, k):
        cumulative[j] += cumulative[j - 1]
    draws = rng.random(n) * cumulative[-1]
    below = np.zeros(n, dtype=np.uint8 if k < 256 else np.intp)  # alternatives below each draw
    for j in range(k - 1):  # (the last is never below: at most the total)
        below += cumulative[j] < draws
    return below


def menu_place(last_choice: np.ndarray, alt_values: np.ndarray) -> np.ndarray:
    """Where last year's choice stands in this year's menu: the index of the alternative (0 not
    paying, 1..K the grades) that continues it, -1 for residents who had no choice last year.

    A grade still offered continues as itself; a grade no longer offered (a revised or renamed
    list) continues as the offered grade nearest to it in ratio, so renaming every grade by one yuan,
    or revising the list with incomes, keeps each payer's habit and each village's pattern in place.

    Args:
        last_choice: last year's grade per resident, yuan/year (0 not paying, -1 no choice).
        alt_values: this year's alternatives, 0 (not paying) then the grades in increasing yuan/year.
    """
    last_choice = np.asarray(last_choice)
    if last_choice.dtype.kind in "iu" and last_choice.size:  # grades in yuan: each grade's place found once
        index = last_choice.astype(np.intp)
        np.maximum(index, -1, out=index)
        index += 1  # -1 (no choice) -> 0, 0 (not paying) -> 1, ...
        grades = np.flatnonzero(np.bincount(index, minlength=2)[2:]) + 1
        table = np.full(int(index.max(initial=1)) + 1, -1, dtype=np.intp)
        table[1] = 0
        table[grades + 1] = _nearest(grades.astype(float), alt_values)
        return table[index]
    last_choice = np.asarray(last_choice, dtype=float)
    place = np.where(last_choice == 0, 0, -1)
    paid = last_choice > 0
    if paid.any():
        place[paid] = _nearest(last_choice[paid], alt_values)
    return place


def _nearest(grades: np.ndarray, alt_values: np.ndarray) -> np.ndarray:
    """The place (1..K) of the offered grade nearest in ratio to each of ``grades`` (yuan, > 0); ties go
    to the lower grade."""
    distance = np.abs(np.log(grades)[:, None] - np.log(alt_values[1:])[None, :])
    return 1 + distance.argmin(axis=1)


def menu_places(last_choice: np.ndarray, alt_values: np.ndarray) -> np.ndarray:
    """:func:`menu_place` of every resident, worked out block by block (small temporaries), as int16."""
    place = np.empty(np.shape(last_choice), dtype=np.int16)
    for first in range(0, place.size, VECTOR_CHUNK):
        place[first : first + VECTOR_CHUNK] = menu_place(last_choice[first : first + VECTOR_CHUNK], alt_values)
    return place


def village_shares(village: np.ndarray, place: np.ndarray, n_alternatives: int, n_villages: int) -> np.ndarray:
    """Share of each village's residents whose last year's choice stands at each alternative of this
    year's menu (their places: :func:`menu_places`; -1, no choice last year, not counted), shape
    (villages, ``n_alternatives``)."""
    width = n_alternatives + 1  # per village: no choice last year (not counted), then each place
    counts = np.zeros(n_villages * width, dtype=np.intp)
    for first in range(0, village.size, VECTOR_CHUNK):  # block by block (small temporaries)
        slot = village[first : first + VECTOR_CHUNK] * width
        slot += place[first : first + VECTOR_CHUNK]
        slot += 1
        counts += np.bincount(slot, minlength=counts.size)
    counts = counts.reshape(n_villages, width)[:, 1:]
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


# The back-payment decision (abm/sim/policy.py: backpay_gap): a binary logit with the grade choice's own
# coefficients, "back-pay the gap and draw the pension from now" against "not" (utility 0).
BACKPAY_TERMS = ("pay", BACKPAY, "affordability", "basic_value", "account_value", "account_value_x_awareness")


def backpay_utility(
    beta: dict[str, float],
    basic_worth: np.ndarray,
    account_worth: np.ndarray,
    lump_sum: np.ndarray,
    income: np.ndarray,
    awareness: np.ndarray | float = 0.0,
    liquidity: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Utility of back-paying against not back-paying (0), per resident: the ``pay`` and ``backpay``
    constants, the basic pension it unlocks (``basic_value`` x basic_worth), the account pension the lump sum buys
    ((``account_value`` + ``account_value_x_awareness`` x awareness) x account_worth x lump sum) and
    its cost (``affordability`` x liquidity x lump sum / income, as for a grade).

    Args:
        beta: the choice coefficients (the names in BACKPAY_TERMS are used).
        basic_worth: the basic pension from this year for life, yuan of value per yuan of income
            (abm/sim/perceived_worth.py: backpay_worth).
        account_worth: value of one yuan back-paid, per yuan of income (abm/sim/perceived_worth.py: backpay_worth).
        lump_sum: the back-payment, gap x the lowest grade, yuan (no subsidy).
        income: per-capita household income, yuan/year.
        awareness: knowledge of the scheme's rules, 0-1.
        liquidity: the resident's multiplier of the cost (:meth:`Coefficients.liquidity`), median 1.
    """
    lump_sum = np.asarray(lump_sum, dtype=float)
    account = beta["account_value"] + beta["account_value_x_awareness"] * np.asarray(awareness, dtype=float)
    cost = beta["affordability"] * np.asarray(liquidity) / np.asarray(income)
    return (
        beta["pay"]
        + beta[BACKPAY]
        + beta["basic_value"] * np.asarray(basic_worth)
        + (account * np.asarray(account_worth) + cost) * lump_sum
    )


def backpay_probability(
    beta: dict[str, float],
    basic_worth: np.ndarray,
    account_worth: np.ndarray,
    lump_sum: np.ndarray,
    income: np.ndarray,
    awareness: np.ndarray | float = 0.0,
    liquidity: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Probability of back-paying per resident, 0-1 (the logistic of :func:`backpay_utility`; same args)."""
    return expit(backpay_utility(beta, basic_worth, account_worth, lump_sum, income, awareness, liquidity))


def backpays(
    beta: dict[str, float],
    basic_worth: np.ndarray,
    account_worth: np.ndarray,
    lump_sum: np.ndarray,
    income: np.ndarray,
    rng: np.random.Generator,
    awareness: np.ndarray | float = 0.0,
    liquidity: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Draw who back-pays: one uniform draw per resident given (none for none), True below the
    probability of :func:`backpay_probability` (same args, plus the model's generator)."""
    probability = backpay_probability(beta, basic_worth, account_worth, lump_sum, income, awareness, liquidity)
    if probability.size == 0:
        return np.zeros(0, dtype=bool)
    return rng.random(probability.size) < probability


# How the terms are shown when a choice is explained: the mechanism each stands for.
MECHANISMS = {
    "cost": ("affordability",),
    "basic": ("basic_value",),
    "account": ("account_value", "account_value_x_awareness"),
    "subsidy": ("subsidy",),
    "habit": ("inertia",),
    "peers": ("peer_share",),
    "default": ("lowest", "highest"),
    "paying": tuple(t for t in TERMS if t.startswith("pay")),
}  # attitudes, age, income, health


def explain(
    beta: dict[str, float], residents: dict[str, np.ndarray], alternatives: dict[str, np.ndarray]
) -> list[dict]:
    """One resident's choice (the first row of ``residents``) alternative by alternative: the
    grade (0 = not paying), its probability, its utility and the utility of each term."""
    terms = design({k: v[:1] for k, v in residents.items()}, alternatives)[0] * np.array([beta[t] for t in TERMS])
    utility = terms.sum(axis=1)
    probability = probabilities(utility[None, :])[0]
    return [
        {
            "grade": int(grade),
            "probability": float(p),
            "utility": float(u),
            "terms": {name: float(v) for name, v in zip(TERMS, row)},
            "mechanisms": {m: float(sum(row[list(TERMS).index(t)] for t in ts)) for m, ts in MECHANISMS.items()},
        }
        for grade, p, u, row in zip(alternatives["value"], probability, utility, terms)
    ]


def mechanism_utilities(
    beta: dict[str, float], residents: dict[str, np.ndarray], alternatives: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """What each mechanism (MECHANISMS) adds to paying over not paying, per resident (utility).

    A mechanism's utility of paying is its utility of each grade weighted by the grade's probability
    given that the resident pays; less its utility of not paying. Over the mechanisms these add up to
    the same gap in the systematic utility, so each says how much of a resident's pull towards paying
    (or away from it, if negative) it carries.

    Args:
        beta: choice coefficients (utility per unit of each term).
        residents: resident factors of n residents (:func:`resident_factors`).
        alternatives: factors of "not paying" and the K grades (:func:`alternative_factors`).
    Returns:
        mechanism name -> array of n utilities.
    """
    probability = probabilities(utilities(beta, residents, alternatives))
    paying = probability[:, 1:]
    total = paying.sum(axis=1, keepdims=True)
    given_paying = np.divide(paying, total, out=np.full(paying.shape, 1.0 / paying.shape[1]), where=total > 0)
    weights = np.concatenate([-np.ones((paying.shape[0], 1)), given_paying], axis=1)  # (n, K+1)
    out = {}
    for mechanism, terms in MECHANISMS.items():
        value = np.zeros(paying.shape[0])
        for term in terms:
            res, alt = TERMS[term]
            if alt is None:
                value += beta[term] * (residents[res] * weights).sum(axis=1)
            else:
                value += beta[term] * residents[res] * (weights @ alternatives[alt])
        out[mechanism] = value
    return out


@dataclass(frozen=True)
class ChoiceSituation:
    """One year's grade choice, set up once (:meth:`of_year`) and used by drawing the choices
    (:meth:`draw`), explaining one resident's (:meth:`explain`), the mechanisms' pull (:meth:`mechanisms`)
    and each chooser's probability of paying (:meth:`paying`).

    Args:
        beta: the choice coefficients (utility per unit of each term).
        population: the residents' columns (abm/sim/population.py Population) as the year opens.
        choosers: the rows of the residents who choose a grade this year.
        alternatives: factors of "not paying" and each grade (:func:`alternative_factors`).
        peers: each village's shares of last year's choices at this year's alternatives (villages, K+1).
        places: each resident's last choice's place in this year's menu (:func:`menu_places`).
        mean_income: the county's mean per-capita income this year, yuan/year.
        worth: what paying buys for a block of rows (abm/sim/perceived_worth.py perceived_worth), None
            where the coefficients weigh it at 0.
        liquidity_sd: the dispersion of the cost term over the residents' ``liquidity`` draws.
    """

    beta: Mapping[str, float]
    population: Any
    choosers: np.ndarray
    alternatives: dict[str, np.ndarray]
    peers: np.ndarray
    places: np.ndarray
    mean_income: float
    worth: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None
    liquidity_sd: float = 0.0

    @classmethod
    def of_year(
        cls,
        beta: Mapping[str, float],
        population,
        choosers: np.ndarray,
        grades: np.ndarray,
        subsidies: np.ndarray,
        mean_income: float,
        n_villages: int,
        worth: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
        liquidity_sd: float = 0.0,
    ) -> ChoiceSituation:
        """The year's situation: the alternatives of ``grades`` and ``subsidies`` (yuan/year) and the
        ``n_villages`` villages' shares of last year's choices (``population.choice``)."""
        alternatives = alternative_factors(grades, subsidies)
        places = menu_places(population.choice, alternatives["value"])  # (once: the shares and the draw read them)
        peers = village_shares(population.village, places, alternatives["value"].size, n_villages)
        if not any(beta[term] for term in BENEFIT_TERMS):
            worth = None  # weighed at 0: their factors would add nothing
        return cls(beta, population, choosers, alternatives, peers, places, mean_income, worth, liquidity_sd)

    def factors(self, rows: np.ndarray, matrices: bool = True) -> dict[str, np.ndarray]:
        """The resident factors (:func:`resident_factors`) of the population's ``rows``; the vectors only
        without ``matrices``."""
        pop = self.population
        columns = {name: getattr(pop, name)[rows] for name in RESIDENT_COLUMNS}
        if self.worth is not None:
            columns["basic_worth"], columns["account_worth"] = self.worth(rows)
        if self.liquidity_sd:
            columns["liquidity"] = np.exp(self.liquidity_sd * pop.liquidity[rows].astype(float))
        if matrices:
            columns["last_choice"], columns["peer_share"] = pop.choice[rows], self.peers[pop.village[rows]]
        return resident_factors(columns, self.mean_income, self.alternatives["value"])

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """This year's grade of every chooser, in the order of :attr:`choosers` (yuan/year; 0 not paying).

        The same utilities as :func:`utilities` and the same draws as :func:`sample`, worked out
        alternatives x residents, block by block: the two resident x alternative terms
        (:func:`matrix_factors`) as the peer coefficient times the village's shares at each alternative
        plus the habit coefficient at the place of last year's choice, then the product terms
        (:func:`weights`).
        """
        pop, rows, values = self.population, self.choosers, self.alternatives["value"]
        by_alternative = np.stack([self.alternatives[a] for a in ALTERNATIVE_FACTORS], axis=1)  # (K+1, factors)
        peer_term = np.ascontiguousarray((self.beta["peer_share"] * self.peers).T)  # (K+1, villages)
        chosen = np.empty(rows.size, dtype=float)
        for start in range(0, rows.size, VECTOR_CHUNK):  # the vector factors of many blocks, then block by block
            outer = rows[start : start + VECTOR_CHUNK]
            table = weights(self.beta, self.factors(outer, matrices=False)).T  # (factors, n)
            village, place = pop.village[outer], self.places[outer]
            for first in range(0, outer.size, CHUNK):
                last = min(first + CHUNK, outer.size)
                utility = np.take(peer_term, village[first:last], axis=1)
                habit = np.flatnonzero(place[first:last] >= 0)
                at = place[first:last][habit].astype(np.intp)  # (the place times the block's size: no int16)
                at *= last - first
                at += habit
                utility.reshape(-1)[at] += self.beta["inertia"]
                product = by_alternative @ table[:, first:last]
                product += utility
                chosen[start + first : start + last] = values[sample_columns(product, rng)]
        return chosen

    def blocks(self) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """The choosers block by block: their rows and resident factors."""
        for start in range(0, self.choosers.size, CHUNK):
            rows = self.choosers[start : start + CHUNK]
            yield rows, self.factors(rows)

    def explain(self, row: int) -> list[dict]:
        """The choice of the resident at ``row`` alternative by alternative (:func:`explain`)."""
        return explain(self.beta, self.factors(np.array([row])), self.alternatives)

    def mechanisms(self) -> dict[str, float]:
        """The mean, over the choosers, of the utility each mechanism (:data:`MECHANISMS`) adds to paying
        over not paying (:func:`mechanism_utilities`)."""
        totals = dict.fromkeys(MECHANISMS, 0.0)
        for _, residents in self.blocks():
            for name, utility in mechanism_utilities(self.beta, residents, self.alternatives).items():
                totals[name] += float(utility.sum())
        return {name: total / max(self.choosers.size, 1) for name, total in totals.items()}

    def paying(self) -> np.ndarray:
        """Each chooser's probability of paying some grade, in the order of :attr:`choosers`."""
        paying = [
            1 - probabilities(utilities(self.beta, residents, self.alternatives))[:, 0]
            for _, residents in self.blocks()
        ]
        return np.concatenate(paying) if paying else np.zeros(0)
