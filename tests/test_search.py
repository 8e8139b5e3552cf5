"""Policy search: a problem with a known front recovered through the search's own path, reported fronts that
are non-dominated and feasible where they say so, bad search files refused with one message, the same front
for one and two workers, a resumed search giving the uninterrupted front, and cheapest.yaml reproducing the
runs it stands for."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from abm.analysis.search import report
from abm.analysis.search.optimize import matrices, run_search
from abm.analysis.search.problem import zdt1_front
from abm.analysis.search.spec import SEARCHES_DIR, load_search
from abm.infra.errors import UserError
from helpers import BASELINE, invoke

ZDT1 = Path(__file__).resolve().parent / "data" / "search_zdt1.yaml"
# how close the search's front must come to ZDT1's true front, in f2: nine points in ten within NEAR, every one
# within FAR; and the mean distance from the true front (f2 <= 0.8) to the nearest point found, within IGD
NEAR, FAR, IGD = 0.01, 0.1, 0.04


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def zdt1_copy(folder: Path, **fields) -> Path:
    data = {**yaml.safe_load(ZDT1.read_text(encoding="utf-8")), **fields}
    return write_yaml(folder / "zdt1.yaml", data)


def tiny_model(**fields) -> dict:
    """A search on the baseline small enough for a test: 200 residents to 2028, three levers, one uncertain
    field sampled into one scenario besides the base, 1 replication (2 in the final stage), 12 evaluations."""
    data = {
        "name": "tiny",
        "base": str(BASELINE),
        "set": {"population.residents": 200, "population.agents": "none", "end_year": 2028},
        "levers": [
            {
                "name": "top_up",
                "field": "policy.local_top_up",
                "year": 2026,
                "type": "integer",
                "bounds": [20, 100],
                "step": 20,
            },
            {
                "name": "publicity",
                "field": "policy.publicity",
                "year": 2026,
                "type": "float",
                "bounds": [0.5, 1.0],
                "step": 0.25,
            },
            {
                "name": "subsidy",
                "field": "policy.subsidy",
                "year": 2026,
                "type": "choice",
                "choices": [[[100, 30], [500, 60]], [[100, 60], [500, 120]]],
                "labels": ["today", "doubled"],
            },
        ],
        "objectives": [
            {
                "name": "cost",
                "indicator": "public_spending",
                "statistic": "sum",
                "years": [2026, 2028],
                "direction": "minimize",
            },
            {
                "name": "participation",
                "indicator": "participation_rate",
                "statistic": "mean",
                "years": [2026, 2028],
                "direction": "maximize",
            },
        ],
        "constraints": [
            {
                "name": "participation_2028",
                "indicator": "participation_rate",
                "statistic": "value",
                "year": 2028,
                "quantile": 0.1,
                "at_least": 0.5,
            }
        ],
        "reported": [{"name": "adequacy", "indicator": "basic_needs_coverage", "statistic": "value", "year": 2028}],
        "uncertainties": [{"name": "income_growth", "field": "economy.income_growth.2026", "bounds": [0.03, 0.06]}],
        "scenarios": 1,
        "replications": 1,
        "final_replications": 2,
        "final_policies": 3,
        "budget": 12,
        "population": 6,
        "seed": 11,
    }
    return {**data, **fields}


def assert_front_honest(search, front: pd.DataFrame) -> None:
    """Every row marked feasible meets every constraint (and no other), and no feasible row dominates a row
    marked non-dominated; a non-dominated row is feasible."""
    for constraint in search.constraints:
        met = front[f"{constraint.name}_margin"] >= 0
        assert ((front["feasible"] & ~met).sum()) == 0
    if search.constraints:
        all_met = np.all([front[f"{c.name}_margin"] >= 0 for c in search.constraints], axis=0)
        assert (front["feasible"] == all_met).all()
    objectives, _ = matrices(search, front)
    feasible = front["feasible"].to_numpy()
    for i in np.flatnonzero(front["non_dominated"].to_numpy()):
        assert feasible[i]
        others = objectives[feasible]
        dominated = np.all(others <= objectives[i], axis=1) & np.any(others < objectives[i], axis=1)
        assert not dominated.any(), f"row {i} is dominated"


# --- a known front -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zdt1_outcome(tmp_path_factory):
    """ZDT1 searched with 1,000 evaluations in generations of 40, and its results folder."""
    folder = tmp_path_factory.mktemp("zdt1")
    file = zdt1_copy(folder, budget=1000, population=40)
    search = load_search(file)
    outcome = run_search(search, file, folder / "out")
    return search, outcome, report.write(outcome, folder / "out"), folder / "out"


@pytest.mark.slow
def test_the_known_front_is_recovered(zdt1_outcome):
    """ZDT1 over a real, a grid, a choice and an on/off lever (1,000 evaluations): the search's front lies on
    f2 = 1 - sqrt(f1) (never below it) within NEAR and FAR, and covers the feasible part of it (f2 <= 0.8,
    f1 from 0.04 to 1) within IGD."""
    _search, outcome, _, _ = zdt1_outcome
    front = outcome.evaluations[outcome.evaluations["search_front"]]
    assert len(front) >= 20
    gap = front["f2"] - zdt1_front(front["f1"].to_numpy())
    assert gap.min() >= -1e-12 and np.quantile(gap, 0.9) <= NEAR and gap.max() <= FAR
    assert front["f1"].min() < 0.2 and front["f1"].max() > 0.95
    assert (front["f2"] <= 0.8).all()
    truth = np.linspace(0.04, 1.0, 500)
    points = front[["f1", "f2"]].to_numpy()
    distance = np.min(
        np.hypot(truth[:, None] - points[None, :, 0], zdt1_front(truth)[:, None] - points[None, :, 1]), axis=1
    )
    assert distance.mean() < IGD  # inverted generational distance to the feasible true front
    assert outcome.generations["hypervolume"].is_monotonic_increasing


@pytest.mark.slow
def test_reported_points_are_non_dominated_and_feasible_where_they_say(zdt1_outcome):
    search, outcome, written, out = zdt1_outcome
    front = pd.read_csv(out / "front.csv")
    assert len(front) == len(written["table"]) > 0
    assert_front_honest(search, front)
    assert_front_honest(search, outcome.evaluations.rename(columns={"search_front": "non_dominated"}))
    cheapest = front[front["cheapest"]]
    assert len(cheapest) == 1 and cheapest["feasible"].all()
    assert cheapest["f1"].iloc[0] == front.loc[front["feasible"], "f1"].min()
    near = front[~front["search_front"]]  # cheaper than the cheapest feasible, f2 just above its cap
    assert len(near) == search.final_near and (near["f1"] < cheapest["f1"].iloc[0]).all()
    assert not near["feasible"].any()
    evaluated = outcome.evaluations
    cheaper = evaluated[~evaluated["feasible"] & (evaluated["f1"] < cheapest["f1"].iloc[0])]
    assert set(near["key"]) == set(cheaper.nlargest(search.final_near, "f2_cap_margin")["key"])
    for name in ("front.png", "levers.png", "convergence.png", "search.md", "evaluations.parquet"):
        assert (out / name).stat().st_size > 0
    assert not (out / "cheapest.yaml").exists()  # a test problem has no scenario to write
    assert len(pd.read_parquet(out / "evaluations.parquet")) == len(outcome.evaluations)


def test_a_resumed_test_problem_replays_to_the_same_front(tmp_path):
    """Interrupted after three generations, then resumed: the same evaluations and front as an uninterrupted
    search, and the archived policies are not run again."""
    file = zdt1_copy(tmp_path, budget=200, population=20)
    search = load_search(file)
    outcome = run_search(search, file, tmp_path / "whole")

    def stop(progress):
        if progress.generation == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(search, file, tmp_path / "out", on_progress=stop)
    resumed = run_search(search, file, tmp_path / "out", resume=True)
    assert resumed.ran == len(outcome.evaluations) - 3 * 20
    pd.testing.assert_frame_equal(resumed.final, outcome.final)
    pd.testing.assert_frame_equal(resumed.evaluations, outcome.evaluations)


def test_a_search_folder_is_not_started_twice(tmp_path):
    file = zdt1_copy(tmp_path, budget=40, population=20)
    search = load_search(file)
    run_search(search, file, tmp_path / "out")
    with pytest.raises(UserError, match="add --resume"):
        run_search(search, file, tmp_path / "out")
    changed = zdt1_copy(tmp_path, budget=60, population=20)
    with pytest.raises(UserError, match="search file changed"):
        run_search(load_search(changed), changed, tmp_path / "out", resume=True)


# --- bad files -----------------------------------------------------------------------------------------------


def _lever(i: int, **fields) -> dict:
    data = tiny_model()
    data["levers"][i] = {**data["levers"][i], **fields}
    return data


BAD = {
    "not a scenario field": (_lever(0, field="policy.local_topup"), "levers[0]", "unknown field"),
    "empty bounds": (_lever(0, bounds=[100, 20]), "levers.0.bounds", "empty domain"),
    "empty choices": (_lever(2, choices=[], labels=None), "levers.2.choices", "empty domain"),
    "off the grid": (_lever(1, step=0.3), "levers.1.step", "does not lead"),
    "unknown indicator": (
        {
            **tiny_model(),
            "objectives": [
                {
                    "name": "cost",
                    "indicator": "public_money",
                    "statistic": "sum",
                    "years": [2026, 2028],
                    "direction": "minimize",
                }
            ],
        },
        "objectives[0].indicator",
        "unknown indicator 'public_money'",
    ),
    "unknown statistic": (
        {
            **tiny_model(),
            "objectives": [
                {
                    "name": "cost",
                    "indicator": "public_spending",
                    "statistic": "median",
                    "years": [2026, 2028],
                    "direction": "minimize",
                }
            ],
        },
        "objectives.0.statistic",
        "'mean', 'sum', 'min', 'max' or 'value'",
    ),
    "constraint on a missing column": (
        {
            **tiny_model(),
            "constraints": [
                {"name": "c", "indicator": "participation", "statistic": "value", "year": 2028, "at_least": 0.5}
            ],
        },
        "constraints[0].indicator",
        "unknown indicator 'participation'",
    ),
    "year outside": (
        {
            **tiny_model(),
            "constraints": [
                {"name": "c", "indicator": "participation_rate", "statistic": "value", "year": 2035, "at_least": 0.5}
            ],
        },
        "constraints[0].year",
        "outside the scenario's 2011-2028",
    ),
    "uncertain field out of range": (
        {
            **tiny_model(),
            "uncertainties": [{"name": "g", "field": "economy.income_growth.2026", "bounds": [0.03, 0.9]}],
        },
        "uncertainties[0]",
        "less than or equal to 0.5",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_search_file_is_one_message_naming_file_line_and_field(tmp_path, case):
    data, field, message = BAD[case]
    file = write_yaml(tmp_path / "bad.yaml", copy.deepcopy(data))
    with pytest.raises(UserError) as caught:
        load_search(file)
    err = caught.value
    assert err.file == str(file) and err.field is not None and err.field.startswith(field), (err.field, str(err))
    assert message in str(err)
    assert err.line is not None and err.line > 1


def test_the_command_refuses_a_bad_file_and_writes_nothing(tmp_path):
    file = write_yaml(tmp_path / "bad.yaml", _lever(0, field="policy.local_topup"))
    result = invoke("search", file, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "bad.yaml, line" in result.output and "levers[0]" in result.output
    assert not (tmp_path / "out").exists()


def test_the_shipped_searches_load():
    names = sorted(p.stem for p in SEARCHES_DIR.glob("*.yaml"))
    assert names == ["adequacy", "cheapest_participation"]
    for name in names:
        search = load_search(name)
        assert search.constraints and search.uncertainties and search.cost_objective.direction == "minimize"


# --- the model through the search ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """The tiny model search on 1 worker (in process) and 2 workers (a pool)."""
    folder = tmp_path_factory.mktemp("tiny")
    file = write_yaml(folder / "tiny.yaml", tiny_model())
    search = load_search(file)
    outcomes = {}
    for workers in (1, 2):
        out = folder / f"w{workers}"
        outcomes[workers] = run_search(search, file, out, workers=workers)
        report.write(outcomes[workers], out)
    return search, file, folder, outcomes


@pytest.mark.slow
def test_one_and_two_workers_give_the_same_front(tiny_runs):
    _, _, folder, outcomes = tiny_runs
    assert (folder / "w1" / "front.csv").read_bytes() == (folder / "w2" / "front.csv").read_bytes()
    pd.testing.assert_frame_equal(outcomes[1].evaluations, outcomes[2].evaluations)
    assert len(outcomes[1].evaluations) >= 10


@pytest.mark.slow
def test_the_model_front_is_honest_and_cheapest_yaml_reproduces_its_runs(tiny_runs):
    """front.csv's flags hold; cheapest.yaml, run as `pension-abm run` runs it, gives exactly the runs of the
    base scenario that the search's final stage scored for that policy."""
    from abm.analysis import replications
    from abm.analysis.search.problem import per_run
    from abm.inputs.loader import load_scenario

    search, _, folder, outcomes = tiny_runs
    front = pd.read_csv(folder / "w1" / "front.csv")
    assert_front_honest(search, front)
    assert {"adequacy", "adequacy_low", "adequacy_high"} <= set(front.columns)  # reported, not optimised
    cheapest = front[front["cheapest"]]
    if cheapest.empty:
        pytest.fail("the tiny search's constraint should be met by some policy")
    key = cheapest["key"].iloc[0]
    scenario = load_scenario(folder / "w1" / "cheapest.yaml")
    assert scenario.run.replications == search.final_replications and scenario.run.seed == search.seed
    result = replications.run(scenario)
    ran = outcomes[1].runs
    archived = ran[(ran["key"] == key) & (ran["scenario"] == 0)].sort_values("replication")
    for measure in search.measures:
        again = [per_run(measure, frame) for _, frame in result.timeseries.groupby("run")]
        assert again == archived[measure.name].tolist()


@pytest.mark.slow
def test_a_resumed_model_search_gives_the_uninterrupted_front(tmp_path, tiny_runs):
    """Ctrl-C after the first generation (its policies archived), then --resume through the command: the same
    front.csv as the uninterrupted search, byte for byte."""
    search, file, folder, _ = tiny_runs
    calls = []

    def stop(progress):
        calls.append(progress)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(search, file, tmp_path / "out", workers=2, on_progress=stop)
    archived = len(list((tmp_path / "out" / "archive").glob("*.parquet")))
    assert archived >= 2 and not (tmp_path / "out" / "front.csv").exists()  # the base and the first generation
    result = invoke("search", file, "--out", tmp_path / "out", "--resume", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "front.csv").read_bytes() == (folder / "w1" / "front.csv").read_bytes()
    assert len(calls) == 1


def test_nsga3_runs_the_same_path(tmp_path):
    """NSGA-III (Das and Dennis's reference directions) on ZDT1: a front that is honest and near the true one."""
    file = zdt1_copy(tmp_path, algorithm="nsga3", budget=300, population=30)
    search = load_search(file)
    outcome = run_search(search, file, tmp_path / "out")
    front = outcome.evaluations[outcome.evaluations["search_front"]]
    assert len(front) >= 5
    assert (front["f2"] - zdt1_front(front["f1"].to_numpy())).min() >= -1e-12
    assert_front_honest(search, outcome.final)


def test_when_no_policy_meets_the_constraints_the_report_says_so(tmp_path):
    """An impossible constraint: no cheapest policy, no cheapest.yaml, and the closest policies shown."""
    file = zdt1_copy(
        tmp_path,
        budget=60,
        population=20,
        constraints=[{"name": "impossible", "indicator": "f2", "statistic": "value", "at_most": -1.0}],
    )
    search = load_search(file)
    outcome = run_search(search, file, tmp_path / "out")
    written = report.write(outcome, tmp_path / "out")
    assert written["cheapest"] is None and not outcome.evaluations["feasible"].any()
    front = pd.read_csv(tmp_path / "out" / "front.csv")
    assert 0 < len(front) <= 5 and not front["feasible"].any() and not front["non_dominated"].any()
    closest = outcome.evaluations["impossible_margin"].max()
    assert front["impossible_margin"].max() == pytest.approx(closest)
    assert "No policy met every constraint" in (tmp_path / "out" / "search.md").read_text(encoding="utf-8")
