"""Benchmark: residents x 40 simulated years; one JSON line per size.

Each size runs in its own process so its memory peak is its own. ``peak_mib`` is the growth of
the process's peak resident memory over what it held before the model was built (interpreter
and libraries excluded, ``base_mib``); ``bytes_per_resident`` divides that by the residents.
abm/infra/memory.py's estimate of a command's memory takes its figures from these lines.
Usage: python bench/bench_model.py [--agents all|none] [SIZES...]   e.g. 10000 100000 1000000
(default: Household objects below 1,000,000 residents, none from there)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

SIZES = (10_000, 100_000, 1_000_000)
WITHOUT_AGENTS_FROM = 1_000_000   # the largest runs skip Household objects
END_YEAR = 2050                   # 2011-2050: 40 years


def current_rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def measure(residents: int, agents: str | None = None) -> dict:
    from abm import PensionModel, load_scenario
    from abm.sim.model import DEFAULT_SCENARIO

    base = load_scenario(DEFAULT_SCENARIO)
    agents = agents or ("none" if residents >= WITHOUT_AGENTS_FROM else "all")
    scenario = base.model_copy(update={
        "end_year": END_YEAR,
        "population": base.population.model_copy(update={"residents": residents, "agents": agents})})
    before = current_rss_kib()
    started = time.perf_counter()
    model = PensionModel(scenario=scenario)
    while model.running:
        model.step()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before   # KiB
    years = len(scenario.years)
    return {"residents": residents, "years": years, "agents": agents, "seconds": round(seconds, 2),
            "agent_years_per_s": round(residents * years / seconds),
            "peak_mib": round(peak / 1024, 1), "bytes_per_resident": round(peak * 1024 / residents),
            "base_mib": round(before / 1024, 1)}


def main(argv: list[str]) -> None:
    agents = None
    if argv[:1] == ["--agents"]:
        agents, argv = argv[1], argv[2:]
        assert agents in ("all", "none"), "--agents all or none"
    if argv[:1] == ["--one"]:
        print(json.dumps(measure(int(argv[1]), agents)), flush=True)
        return
    for size in [int(a) for a in argv] or SIZES:
        subprocess.run([sys.executable, __file__, *(["--agents", agents] if agents else []), "--one", str(size)],
                       check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
