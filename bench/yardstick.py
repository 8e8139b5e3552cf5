"""Yardstick: the model's yearly work written per agent in plain Mesa, one Python object per resident.

bench_model.py divides the model's agent-years per second by this one's, measured in the same run,
so that the ratio holds on a machine that is faster, slower or busy. Each resident, each year, does
what the model does for it in its vectorised columns, in the same order and with the baseline's
figures: learns and forgets (awareness and trust move with its village's shares of payers and
pensioners), chooses among not paying and the grades by a multinomial logit (a utility per
alternative from its age, income, attitudes, habit and peers, one draw), pays into its account with
the subsidy, starts its pension at 60 with 15 years paid, draws its pension from the account and the
basic pension, earns the year's interest, may die or move away, ages and sees its income grow; the
county adds its new 16-year-olds and migrants. The money is summed into the year's ledger.

Usage: python bench/yardstick.py [RESIDENTS [YEARS]]   (prints one JSON line)
"""

from __future__ import annotations

import json
import math
import sys
import time

import mesa

GRADES = (100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000)  # yuan/year (2014 list)
SUBSIDY = {grade: 30 if grade < 500 else 60 for grade in GRADES}  # yuan/year
BETA = {
    "pay": -3.88,
    "awareness": 2.73,
    "trust": 2.25,
    "age": 0.46,
    "log_income": 0.64,
    "affordability": -45.9,
    "lowest": 2.02,
    "highest": 0.57,
    "peer_share": 1.0,
    "inertia": 1.0,
    "account_value": 7.78,
}
VILLAGES = 150
PENSION_AGE, MIN_YEARS, DIVISOR = 60, 15, 139
BASIC_PENSION = 103.0 * 12  # yuan/year
INTEREST = 0.015  # per year
MEAN_INCOME = 12_000.0  # yuan/year
GROWTH = 1.06
OUT_MIGRATION = 0.005  # per year, ages 16-45


def death_probability(age: int) -> float:
    """Gompertz-Makeham one-year death probability (of the order of the county's life table)."""
    return min(1.0, 1 - math.exp(-(0.0005 + 0.00003 * math.exp(0.1 * age))))


class Resident(mesa.Agent):
    """One resident aged 16+ with its attributes and account."""

    def __init__(self, model: Yardstick, age: int):
        super().__init__(model)
        random = model.random
        self.age = age
        self.village = random.randrange(VILLAGES)
        self.income = MEAN_INCOME * random.lognormvariate(-0.18, 0.6)
        self.awareness = random.betavariate(2.0, 3.0)
        self.trust = random.betavariate(3.0, 2.0)
        self.employee = random.random() < 0.2
        self.choice = -1  # last year's grade, yuan; 0 not paying, -1 no choice
        self.years = 0
        self.account = 0.0
        self.account_pension = 0.0
        self.pensioner = age >= PENSION_AGE and not self.employee

    def step(self) -> None:
        model, random = self.model, self.model.random
        paying_share, pensioner_share = model.paying[self.village], model.pensioners[self.village]
        self.awareness = min(
            1.0,
            self.awareness
            + (1 - self.awareness) * (0.05 + 0.1 * paying_share + 0.1 * pensioner_share)
            - 0.05 * self.awareness,
        )
        self.trust = min(1.0, self.trust + (1 - self.trust) * (0.03 + 0.1 * pensioner_share) - 0.03 * self.trust)
        interest = self.account * INTEREST
        if not self.pensioner and not self.employee and self.age < PENSION_AGE:
            self.choose(random)
            paid = self.choice + (SUBSIDY[self.choice] if self.choice else 0)
            self.account += paid
            interest += paid * INTEREST * 0.5
            self.years += self.choice > 0
            model.ledger["contributions"] += self.choice
        else:
            self.choice = -1
        if not self.pensioner and not self.employee and self.age >= PENSION_AGE and self.years >= MIN_YEARS:
            self.pensioner = True
            self.account_pension = self.account / DIVISOR * 12
        if self.pensioner:
            from_account = min(self.account + interest, self.account_pension)
            self.account -= from_account
            model.ledger["pensions"] += BASIC_PENSION + from_account
        self.account += interest
        model.ledger["interest"] += interest
        if random.random() < death_probability(self.age) or (16 <= self.age <= 45 and random.random() < OUT_MIGRATION):
            model.ledger["inheritance"] += self.account
            self.remove()
            return
        self.age += 1
        self.income *= GROWTH * random.lognormvariate(-0.005, 0.1)

    def choose(self, random) -> None:
        """A multinomial logit over not paying and each grade: utilities, their exponentials, one draw."""
        b = BETA
        peers = self.model.peers[self.village]
        pay = (
            b["pay"]
            + b["awareness"] * self.awareness
            + b["trust"] * self.trust
            + b["age"] * (self.age - 45) / 10
            + b["log_income"] * math.log(self.income / MEAN_INCOME)
        )
        worth = b["account_value"] * self.trust * (PENSION_AGE - min(self.age, PENSION_AGE)) / 40 / self.income
        utilities = [b["peer_share"] * peers.get(0, 0.0) + b["inertia"] * (self.choice == 0)]
        for i, grade in enumerate(GRADES):
            utilities.append(
                pay
                + b["affordability"] * grade / self.income
                + worth * (grade + SUBSIDY[grade])
                + b["lowest"] * (i == 0)
                + b["highest"] * (i == len(GRADES) - 1)
                + b["peer_share"] * peers.get(grade, 0.0)
                + b["inertia"] * (self.choice == grade)
            )
        top = max(utilities)
        weights = [math.exp(u - top) for u in utilities]
        draw = random.random() * sum(weights)
        chosen = len(GRADES)
        for i, weight in enumerate(weights):
            draw -= weight
            if draw <= 0:
                chosen = i
                break
        self.choice = (0, *GRADES)[chosen]


class Yardstick(mesa.Model):
    """A county of ``residents`` plain Mesa agents aged 16+."""

    def __init__(self, residents: int, seed: int = 1):
        super().__init__(rng=seed)
        for _ in range(residents):
            Resident(self, 16 + min(int(self.random.expovariate(1 / 25)), 84))
        self.ledger: dict[str, float] = {}
        self.village_shares()

    def village_shares(self) -> None:
        """Last year's shares of payers and pensioners, and of each grade, by village."""
        counts = [[0, 0, 0] for _ in range(VILLAGES)]
        grades = [dict() for _ in range(VILLAGES)]
        for agent in self.agents:
            row = counts[agent.village]
            row[0] += 1
            row[1] += agent.choice > 0
            row[2] += agent.pensioner
            if agent.choice >= 0:
                grades[agent.village][agent.choice] = grades[agent.village].get(agent.choice, 0) + 1
        self.paying = [row[1] / row[0] if row[0] else 0.0 for row in counts]
        self.pensioners = [row[2] / row[0] if row[0] else 0.0 for row in counts]
        self.peers = [{grade: n / sum(by.values()) for grade, n in by.items()} for by in grades]

    def step(self) -> None:
        self.ledger = dict.fromkeys(("contributions", "pensions", "interest", "inheritance"), 0.0)
        self.agents.shuffle_do("step")
        for _ in range(int(len(self.agents) * 0.018)):  # new 16-year-olds and migrants
            Resident(self, 16)
        self.village_shares()


def measure(residents: int = 5_000, years: int = 5) -> dict:
    """Agent-years per second of the yardstick (resident-years simulated over wall seconds)."""
    started = time.perf_counter()
    model = Yardstick(residents)
    agent_years = 0
    for _ in range(years):
        agent_years += len(model.agents)
        model.step()
    seconds = time.perf_counter() - started
    return {
        "residents": residents,
        "years": years,
        "seconds": round(seconds, 2),
        "agent_years_per_s": round(agent_years / seconds),
    }


if __name__ == "__main__":
    print(json.dumps(measure(*(int(a) for a in sys.argv[1:3]))))
