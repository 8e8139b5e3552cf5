"""The search itself: pymoo's NSGA-II (or NSGA-III) over the levers by ask and tell, each generation's new
policies run on the project's one executor (this process, the local pool or Dask), then the front run
again with more replications.

The algorithm draws from its own generator seeded by the search's seed, and a policy's scores do not
depend on where or in which order it ran, so the same file gives the same front for any number of
workers, on a cluster, and after ``--resume`` (the search is replayed, archived policies read, not run).
The front is the archive's: the feasible policies no other evaluated policy dominates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from abm.analysis.bands import bands
from abm.analysis.search import archive
from abm.analysis.search.problem import BASE_KEY, Problem, codes_from_x, evaluate, key, make_problem, matrices, scores
from abm.analysis.search.spec import Search
from abm.infra import destinations
from abm.infra.executors import as_finished, executor

CLOSEST = 5  # policies shown when none meets every constraint


@dataclass(frozen=True)
class Progress:
    generation: int
    asked: int  # evaluations the algorithm asked for so far (the budget counts them)
    budget: int
    evaluated: int  # distinct policies run (the rest came from the archive or repeated)
    front: int  # feasible non-dominated policies so far
    hypervolume: float  # of the front, objectives scaled by the first generation's range


@dataclass
class Outcome:
    """What a search found: every evaluated policy, the generations, the front run again."""

    search: Search
    problem: Problem
    evaluations: pd.DataFrame  # one row per distinct policy: key, generation, levers, measures, margins, feasible
    generations: pd.DataFrame  # generation, asked, evaluated, front, hypervolume
    final: pd.DataFrame  # the front (or the closest policies) run again: measures with bands
    reference: pd.DataFrame  # the base scenario's own policy, scored as the final stage
    runs: pd.DataFrame  # every run of both stages
    seconds: float  # the search stage's wall time
    final_seconds: float
    ran: int  # runs simulated in this invocation (both stages)
    policies_run: int  # policies whose search stage ran in this invocation (the rest: from the archive)


def run_search(
    search: Search,
    search_file: Path,
    out: Path,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    on_progress: Callable[[Progress], None] = lambda progress: None,
) -> Outcome:
    """Run (or continue) a search into ``out``, which must be new, empty or an earlier search folder."""
    destinations.check(out, "search")
    problem = make_problem(search)
    with executor(workers, scheduler, ["abm.analysis.search.problem"]) as pool:
        archive.prepare(search, Path(search_file), out, resume)
        runs = archive.read(out)
        # (not dict(groupby): a GroupBy's .keys attribute would make dict() read it as a mapping)
        known = {
            stage: {k: part for k, part in runs[runs["stage"] == stage].groupby("key")}  # noqa: C416
            for stage in archive.STAGES
        }
        scored: dict[str, dict] = {}  # a policy's scores over the search's runs, computed once

        def score(keys: list[str]) -> pd.DataFrame:
            """The search stage's scores of ``keys`` (archived), one row each in their order."""
            missing = [k for k in dict.fromkeys(keys) if k not in scored]
            if missing:
                for row in scores(search, pd.concat([known["search"][k] for k in missing])).to_dict("records"):
                    scored[row["key"]] = row
            return pd.DataFrame([scored[k] for k in keys])

        ran, policies_run = [0], [0]

        def ensure(keys: list[str], stage: str) -> None:
            """Run the policies not archived yet in ``stage`` (the search's replications, or the final ones):
            a task per policy (a test problem's cost nothing: one task)."""
            todo = list(dict.fromkeys(k for k in keys if k not in known[stage]))
            replications = (
                tuple(range(search.replications))
                if stage == "search"
                else tuple(range(search.replications, search.final_replications))
            )
            if not todo or not replications:
                return
            tasks = (
                [[(k, replications)] for k in todo] if search.base is not None else [[(k, replications) for k in todo]]
            )
            for result in as_finished(pool, evaluate, tasks, problem):
                archive.write_part(out, stage, result)
                for policy, part in result.groupby("key", sort=False):
                    known[stage][policy] = part.assign(stage=stage)
                ran[0] += len(result)
                if stage == "search":  # the base scenario's own policy is a reference, not a searched policy
                    policies_run[0] += int((result["key"].drop_duplicates() != BASE_KEY).sum())

        started = time.perf_counter()
        reference = [BASE_KEY] if search.base is not None else []  # a test problem has no base policy
        ensure(reference, "search")
        generations, first_seen = _search(search, ensure, score, on_progress)
        seconds = time.perf_counter() - started
        evaluations = _evaluations(search, score(list(first_seen)), first_seen)
        chosen = final_policies(search, evaluations)
        started = time.perf_counter()
        ensure([*reference, *chosen], "final")
        final_seconds = time.perf_counter() - started
    every = pd.concat([part for stage in archive.STAGES for part in known[stage].values()], ignore_index=True)
    final = final_scores(search, every, chosen)
    return Outcome(
        search,
        problem,
        evaluations,
        generations,
        final,
        final_scores(search, every, reference),
        every,
        seconds,
        final_seconds,
        ran[0],
        policies_run[0],
    )


def make_algorithm(search: Search):
    """NSGA-II (or NSGA-III) for mixed variables: pymoo's mixed sampling, mating and duplicate elimination,
    with each algorithm's own tournament."""
    from pymoo.core.mixed import MixedVariableDuplicateElimination, MixedVariableMating, MixedVariableSampling
    from pymoo.operators.selection.tournament import TournamentSelection

    if search.algorithm == "nsga3":
        from pymoo.algorithms.moo.nsga3 import NSGA3, comp_by_cv_then_random

        compare, algorithm, extra = comp_by_cv_then_random, NSGA3, {"ref_dirs": reference_directions(search)}
    else:
        from pymoo.algorithms.moo.nsga2 import NSGA2, binary_tournament

        compare, algorithm, extra = binary_tournament, NSGA2, {}
    duplicates = MixedVariableDuplicateElimination()
    return algorithm(
        pop_size=search.population,
        sampling=MixedVariableSampling(),
        mating=MixedVariableMating(selection=TournamentSelection(func_comp=compare), eliminate_duplicates=duplicates),
        eliminate_duplicates=duplicates,
        **extra,
    )


def reference_directions(search: Search) -> np.ndarray:
    """NSGA-III's reference directions: Das and Dennis's, as many partitions as the population allows."""
    from math import comb

    from pymoo.util.ref_dirs import get_reference_directions

    m = len(search.objectives)
    partitions = max(p for p in range(1, search.population + 1) if comb(p + m - 1, m - 1) <= search.population)
    return get_reference_directions("das-dennis", m, n_partitions=partitions)


def pymoo_problem(search: Search):
    from pymoo.core.problem import Problem

    return Problem(
        vars={lever.name: lever.variable() for lever in search.levers},
        n_obj=len(search.objectives),
        n_ieq_constr=len(search.constraints),
    )


def _search(
    search: Search, ensure: Callable, score: Callable, on_progress: Callable
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The ask-and-tell loop: generations until the budget of evaluations is spent.

    Args:
        ensure: runs (or finds in the archive) the search stage of policies, by key.
        score: the search stage's scores of policies, a row per key.
    """
    from pymoo.problems.static import StaticProblem

    algorithm = make_algorithm(search)
    target = pymoo_problem(search)
    algorithm.setup(target, seed=search.seed, termination=("n_eval", search.budget), verbose=False)
    first_seen: dict[str, int] = {}
    rows, scale = [], None
    generation = 0
    while algorithm.has_next():
        population = algorithm.ask()
        if population is None or len(population) == 0:  # no new policy left to propose
            break
        generation += 1
        keys = [key(codes_from_x(search, individual.X)) for individual in population]
        for k in keys:
            first_seen.setdefault(k, generation)
        ensure(keys, "search")
        objectives, constraints = matrices(search, score(keys))
        values = {"F": objectives, **({"G": constraints} if search.constraints else {})}
        algorithm.evaluator.eval(StaticProblem(target, **values), population)
        algorithm.tell(infills=population)
        seen = score(list(first_seen))
        if scale is None:
            scale = _scale(search, seen)
        front = front_of(search, seen)
        rows.append(
            {
                "generation": generation,
                "asked": int(algorithm.evaluator.n_eval),
                "evaluated": len(first_seen),
                "front": len(front),
                "hypervolume": hypervolume(search, seen.loc[front], scale),
            }
        )
        on_progress(
            Progress(generation, rows[-1]["asked"], search.budget, len(first_seen), len(front), rows[-1]["hypervolume"])
        )
    return pd.DataFrame(rows), first_seen


def front_of(search: Search, table: pd.DataFrame) -> list[int]:
    """Index labels of the feasible policies of ``table`` that no other feasible one dominates."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    feasible = table[table["feasible"]]
    if feasible.empty:
        return []
    objectives, _ = matrices(search, feasible)
    best = NonDominatedSorting().do(objectives, only_non_dominated_front=True)
    return list(feasible.index[np.sort(best)])


def _scale(search: Search, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The lowest value and the range of each objective (minimised) over ``table``: the hypervolume's units."""
    objectives, _ = matrices(search, table)
    low, high = objectives.min(axis=0), objectives.max(axis=0)
    return low, np.where(high > low, high - low, 1.0)


def hypervolume(search: Search, front: pd.DataFrame, scale: tuple[np.ndarray, np.ndarray]) -> float:
    """The front's hypervolume with objectives scaled to 0-1 by ``scale``, against the point 1.1 in each."""
    if front.empty:
        return 0.0
    from pymoo.indicators.hv import HV

    objectives, _ = matrices(search, front)
    scaled = (objectives - scale[0]) / scale[1]
    return float(HV(ref_point=np.full(scaled.shape[1], 1.1))(scaled))


def _evaluations(search: Search, table: pd.DataFrame, first_seen: dict[str, int]) -> pd.DataFrame:
    """Every distinct policy the search asked for, in the order first asked: generation, scores, whether
    on the search's front."""
    table = table.set_index("key")
    table.insert(0, "generation", [first_seen[k] for k in table.index])
    front = set(front_of(search, table))
    table["search_front"] = [k in front for k in table.index]
    return table.reset_index()


def final_policies(search: Search, evaluations: pd.DataFrame) -> list[str]:
    """The policies run again: the front, spread along the cost if it has more than ``final_policies``, and
    the near misses: up to ``final_near`` policies cheaper than the cheapest feasible one that missed a
    constraint by the least in the search (its few runs judge a quantile roughly; more runs may find them
    feasible). If no policy meets every constraint, the closest."""
    cost = search.cost_objective.name
    violation = _violation(search, evaluations)
    front = evaluations[evaluations["search_front"]].sort_values([cost, "key"])
    if front.empty:
        order = evaluations.assign(violation=violation).sort_values(["violation", "key"])
        return list(order["key"].head(min(CLOSEST, search.final_policies)))
    if len(front) > search.final_policies:
        picks = np.unique(np.round(np.linspace(0, len(front) - 1, search.final_policies)).astype(int))
        front = front.iloc[picks]
    cheaper = evaluations[~evaluations["feasible"] & (evaluations[cost] < front[cost].min())]
    near = (
        cheaper.assign(violation=violation.loc[cheaper.index]).sort_values(["violation", "key"]).head(search.final_near)
    )
    return [*front["key"], *near["key"]]


def _violation(search: Search, table: pd.DataFrame) -> pd.Series:
    """How far a policy misses its constraints: the shortfalls added up, each relative to its bound."""
    return sum(
        (np.maximum(-table[f"{c.name}_margin"], 0.0) / max(abs(c.bound), 1e-9) for c in search.constraints),
        pd.Series(0.0, index=table.index),
    )


def final_scores(search: Search, runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The chosen policies over all runs of both stages: each measure (mean or quantile over runs) with its
    90% band over runs, the margins, whether feasible and whether non-dominated among them."""
    runs = runs[runs["key"].isin(keys)]
    if runs.empty:
        return pd.DataFrame()
    table = scores(search, runs).set_index("key").loc[keys]
    for measure in search.measures:
        band = bands(runs.groupby("key")[measure.name]).loc[keys]
        table[f"{measure.name}_low"] = band["low"]
        table[f"{measure.name}_high"] = band["high"]
    table = table.reset_index()
    front = set(front_of(search, table))
    table["non_dominated"] = [i in front for i in table.index]
    return table
