"""Memory: a command's peak estimated before it simulates, against what the machine, the cgroup and
the process limit leave; one that cannot fit is refused with the estimate, the limit and advice.

The figures are the model's own, measured with bench/bench_model.py (2011-2050) and kept here alone:

    python bench/bench_model.py 100000 1000000              # peak_mib 34.0 and 146.0: 357 and 154 B/resident
    python bench/bench_model.py --lifetime 100000 1000000   # peak_mib 72.4 and 558.7: 759 and 586 B/resident

Household agents are made only when something asks for them (abm/sim/agents.py), so a run pays for its
columns and the year's temporaries; a run whose results include the cohort tables (``run``, ``compare``,
``validate``) also keeps each resident's lifetime accounts (abm/sim/lifetime.py) and the records of those
who leave. A simulation's peak is taken as a fixed part (26 MiB; the intercepts between the two sizes are
22 and 18 MiB) plus a part per resident (150 and 600 bytes; the slopes are 131 and 567): the estimate
exceeds the four measured peaks by 7-19%. The command's process adds the interpreter with the model's
libraries (``base_mib``, 156 MiB). A process pool adds its forkserver and resource tracker, and each worker
what it does not share with the forkserver: the proportional set size (PSS, /proc/PID/smaps_rollup) of all
the processes of `run baseline --set end_year=2025 --set population.residents=20000 --runs N --workers N`
peaked at 234, 513 and 730 MiB for N = 1, 2 and 4 (about 108 MiB a worker with its simulation, 297 MiB
the command and the pool).
"""

from __future__ import annotations

import resource
from pathlib import Path

from abm.infra.errors import UserError

MIB = 1 << 20
BYTES_PER_RESIDENT = {False: 150, True: 600}  # bytes, by whether lifetime accounts are kept
MODEL_BYTES = 26 * MIB  # a simulation's fixed part
PROCESS_BYTES = 160 * MIB  # resident memory of the command's process with the model imported
POOL_BYTES = 140 * MIB  # a process pool's forkserver (the model imported) and resource tracker
WORKER_BYTES = 50 * MIB  # a worker's own memory besides its simulation (the rest shared with the forkserver)
# address space of one process simulating (RLIMIT_AS counts it, not resident memory): under `ulimit -v`
# a 4-year run of 2,000 residents needs less than 700,000 KiB, one of 100,000 residents 800,000-900,000
PROCESS_ADDRESS_SPACE = 700 * MIB


def advice(workers: bool = True) -> str:
    """What makes a command need less memory: fewer residents, fewer workers (``workers``)."""
    ways = [
        "fewer residents (population.residents, or --residents where the command has it)",
        *(["fewer --workers"] if workers else []),
    ]
    return f"use {ways[0]} or {ways[1]}" if len(ways) > 1 else f"use {ways[0]}"


ADVICE = advice()
CGROUP_ROOT = Path("/sys/fs/cgroup")


def need(residents: int, models: int = 1, workers: int = 1, lifetime: bool = False) -> int:
    """Estimated peak memory of a command, bytes.

    Args:
        residents: simulated residents of each simulation (at the start).
        models: simulations held in memory at once in one process.
        workers: processes of a pool simulating at once, each with ``models``; 1: the command's own process.
        lifetime: the simulations keep lifetime accounts (their results include the cohort tables).
    """
    pool = POOL_BYTES + workers * WORKER_BYTES if workers > 1 else 0
    return PROCESS_BYTES + pool + workers * models * (MODEL_BYTES + residents * BYTES_PER_RESIDENT[lifetime])


def available() -> tuple[int, str] | None:
    """The memory a command may still use, bytes, and where that figure comes from: the least of the
    machine's available memory and what the cgroup limits leave; None where neither can be read."""
    found = []
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kib = next(int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemAvailable:"))
        found.append((kib * 1024, "available on this machine (MemAvailable in /proc/meminfo)"))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    found += _cgroup_room()
    return min(found) if found else None


def _cgroup_room(membership: Path = Path("/proc/self/cgroup"), root: Path = CGROUP_ROOT) -> list[tuple[int, str]]:
    """What each memory limit of this process's cgroup and its parents leaves (cgroup v2 memory.max,
    v1 memory.limit_in_bytes), bytes, with the file read.

    Args:
        membership: the process's cgroups, lines ``id:controllers:path``.
        root: where the cgroup file systems are mounted.
    """
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return []
    room = []
    for line in lines:
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one hierarchy
            folder, limit_name, usage_name = root / path.lstrip("/"), "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            folder, limit_name, usage_name = (
                root / "memory" / path.lstrip("/"),
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            )
        else:
            continue
        for parent in (folder, *folder.parents):
            if not parent.is_relative_to(root):
                break
            try:
                limit = (parent / limit_name).read_text().strip()
                usage = int((parent / usage_name).read_text().strip())
            except (OSError, ValueError):
                continue
            if limit.isdigit() and int(limit) < 1 << 60:  # "max", or v1's huge number: no limit
                room.append(
                    (
                        max(int(limit) - usage, 0),
                        f"left by the cgroup's limit ({parent / limit_name}: {size(int(limit))}, {size(usage)} in use)",
                    )
                )
    return room


def address_space() -> int | None:
    """The limit on each process's address space (RLIMIT_AS, `ulimit -v`), bytes; None if unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def size(n: float) -> str:
    """Bytes as GiB (or MiB below one GiB), one decimal."""
    return f"{n / (1 << 30):,.1f} GiB" if n >= 1 << 30 else f"{n / MIB:,.0f} MiB"


def check(
    residents: int,
    models: int = 1,
    workers: int = 1,
    what: str = "the command",
    file: str | Path | None = None,
    field: str | None = None,
    lifetime: bool = False,
) -> None:
    """Refuse a command whose estimated peak exceeds the memory left, or a process's address space limit.

    Args:
        residents: simulated residents of each simulation.
        models: simulations held at once in one process (workers: one each).
        workers: worker processes simulating at once (1: in the command's own process).
        what: the command's work, for the message ("2 runs of ... on 2 workers").
        file, field: where the residents were given, named by the message.
        lifetime: the simulations keep lifetime accounts (their results include the cohort tables).
    Raises:
        UserError: with the estimate, the limit and advice.
    """
    parallel = workers > 1
    total = need(residents, models, workers, lifetime)
    room = available()
    described = f"{what}, {residents:,} residents,"
    if room is not None and total > room[0]:
        raise UserError(
            f"{described} needs about {size(total)} of memory; {size(room[0])} is {room[1]}: {advice(parallel)}",
            file=file,
            field=field,
        )
    limit = address_space()
    per_process = PROCESS_ADDRESS_SPACE + models * (MODEL_BYTES + residents * BYTES_PER_RESIDENT[lifetime])
    if limit is not None and per_process > limit:
        raise UserError(
            f"{described} needs about {size(per_process)} of address space in each simulating "
            f"process; the limit is {size(limit)} (RLIMIT_AS, `ulimit -v`): "
            f"{advice(False)}, or raise the limit",
            file=file,
            field=field,
        )
