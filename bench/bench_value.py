"""Benchmark: value tables (cold and cached) and what each alternative buys 100,000 residents; one JSON line.

Baseline county and 2025 policy (12 grades: 13 alternatives with not paying). Cold tables are
timed with a new discount rate each time (nothing cached); best of several repetitions.
Usage: python bench/bench_value.py [RESIDENTS]
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def best(call, repeat: int) -> float:
    """Fastest of ``repeat`` calls, seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main(residents: int = 100_000) -> dict:
    from abm.inputs.county import load_county
    from abm.inputs.loader import load_scenario
    from abm.sim.demography import LifeTable
    from abm.sim.model import DEFAULT_SCENARIO
    from abm.sim.perceived_worth import Expectations, payment_values, perceived_worth, value_tables
    from abm.sim.policy import policy_for_year

    scenario = load_scenario(DEFAULT_SCENARIO)
    life = LifeTable.for_county(load_county(scenario))
    policy = policy_for_year(scenario.policy, 2025, 143.0)
    rates = iter(np.linspace(0.03, 0.05, 1000))
    cold = best(lambda: value_tables(life, policy, Expectations(float(next(rates)), 0.02)), 20)
    expectations = Expectations(0.04, 0.02)
    tables = value_tables(life, policy, expectations)
    cached = best(lambda: value_tables(life, policy, expectations), 1000)
    rng = np.random.default_rng(1)
    age = rng.integers(16, 76, residents)
    sex = rng.integers(0, 2, residents)
    years = rng.integers(0, 30, residents)
    per_resident = best(lambda: payment_values(tables, policy, age, sex, years, horizon=5.0), 10)
    income, trust, literate = rng.lognormal(9.5, 0.6, residents), rng.random(residents), rng.random(residents) < 0.3
    factors = best(lambda: perceived_worth(tables, policy, age, sex, years, income, trust, literate, 5.0, 0.5), 10)
    return {
        "residents": residents,
        "alternatives": 1 + policy.grades.size,
        "value_tables_cold_ms": round(cold * 1e3, 3),
        "value_tables_cached_us": round(cached * 1e6, 2),
        "payment_values_ms": round(per_resident * 1e3, 2),
        "perceived_worth_ms": round(factors * 1e3, 2),
    }


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:]))))
