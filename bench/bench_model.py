"""Benchmark: residents x 40 simulated years; one JSON line per size, each with its target.

Each size runs in its own process so its memory peak is its own. ``peak_mib`` is the growth of
the process's peak resident memory over what it held before the model was built (interpreter
and libraries excluded, ``base_mib``); ``bytes_per_resident`` divides that by the residents at
the start. ``vs_plain_mesa`` is the model's agent-years per second over those of the same yearly
work written per agent in plain Mesa (bench/yardstick.py), run in the same process right after the
model, so that the ratio holds on a busy or another machine; ``cpu_seconds`` is the processor time of
the model's run (user and system), which a busy machine changes less than the wall-clock ``seconds``.
A size is a number of simulated residents, or a county file's name for one simulated resident per
real one (``residents: null``).
abm/infra/memory.py's estimate of a command's memory takes its figures from these lines.

Usage: python bench/bench_model.py [--agents all|none] [--lifetime] [SIZES...]
    e.g. 10000 100000 1000000 qi_county shanxi   (the default)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SIZES = ("10000", "100000", "1000000", "qi_county", "shanxi")
END_YEAR = 2050  # 2011-2050: 40 years
YARDSTICK = (5_000, 5)  # residents and years of the plain-Mesa yardstick (bench/yardstick.py)
# the targets (issue 19): at least 5 M agent-years/s at 100,000; Qi County one-to-one under 5 s; at most 160
# bytes per resident at 1,000,000; Shanxi one-to-one in one process (time and peak memory reported)
TARGETS = {
    "100000": ("agent_years_per_s", ">=", 5_000_000),
    "qi_county": ("seconds", "<", 5.0),
    "1000000": ("bytes_per_resident", "<=", 160),
    "shanxi": ("completed", "==", True),
}


def current_rss_kib() -> int:
    with Path("/proc/self/statm").open() as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def measure(size: str, agents: str = "all", lifetime: bool = False) -> dict:
    from abm import PensionModel, load_scenario
    from abm.sim.model import DEFAULT_SCENARIO

    base = load_scenario(DEFAULT_SCENARIO)
    one_to_one = not size.isdigit()
    population = {"agents": agents, "residents": None if one_to_one else int(size)}
    if one_to_one:
        population["county"] = size
    scenario = base.model_copy(
        update={"end_year": END_YEAR, "population": base.population.model_copy(update=population)}
    )
    before = current_rss_kib()
    started, cpu = time.perf_counter(), time.process_time()
    model = PensionModel(scenario=scenario, lifetime=lifetime)
    residents = len(model.population)
    while model.running:
        model.step()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB
    years = len(scenario.years)
    line = {
        "size": size,
        "residents": residents,
        "years": years,
        "agents": agents,
        "lifetime": lifetime,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "agent_years_per_s": round(residents * years / seconds),
        "peak_mib": round(peak / 1024, 1),
        "bytes_per_resident": round(peak * 1024 / residents),
        "base_mib": round(before / 1024, 1),
        "completed": True,
    }
    sys.path.insert(0, str(Path(__file__).parent))
    from yardstick import measure as plain_mesa

    yardstick = plain_mesa(*YARDSTICK)["agent_years_per_s"]
    line |= {"plain_mesa_agent_years_per_s": yardstick, "vs_plain_mesa": round(line["agent_years_per_s"] / yardstick)}
    if size in TARGETS:
        field, relation, value = TARGETS[size]
        met = {
            ">=": line[field] >= value,
            "<": line[field] < value,
            "<=": line[field] <= value,
            "==": line[field] == value,
        }[relation]
        line |= {"target": f"{field} {relation} {value}", "met": met}
    return line


def main(argv: list[str]) -> None:
    options = []
    agents, lifetime = "all", False
    while argv[:1] and argv[0].startswith("--") and argv[0] != "--one":
        if argv[0] == "--agents":
            agents, argv = argv[1], argv[2:]
            assert agents in ("all", "none"), "--agents all or none"
            options += ["--agents", agents]
        elif argv[0] == "--lifetime":
            lifetime, argv = True, argv[1:]
            options.append("--lifetime")
        else:
            raise SystemExit(f"unknown option {argv[0]}")
    if argv[:1] == ["--one"]:
        print(json.dumps(measure(argv[1], agents, lifetime)), flush=True)
        return
    for size in argv or SIZES:
        subprocess.run([sys.executable, __file__, *options, "--one", size], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
