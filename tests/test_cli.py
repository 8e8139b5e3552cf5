"""The pension-abm command line: a run writes a complete results folder; bad input is one clear message."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import abm.analysis.plots
from abm.cli import app
from abm.inputs.loader import load_scenario

FILES = (
    "timeseries.csv",
    "timeseries.parquet",
    "bands.csv",
    "bands.parquet",
    "summary.json",
    "scenario.yaml",
    "metadata.json",
    "enrolment.png",
    "pensions.png",
    "fund.png",
    "population.png",
    "cohorts.csv",
    "cohorts.png",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PENSION_ABM = Path(sys.executable).parent / "pension-abm"
BASELINE_FILE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def squash(text: str) -> str:
    """Output without whitespace: long paths may be wrapped by the console."""
    return re.sub(r"\s+", "", text)


def leftovers(folder: Path) -> list[str]:
    """Staging or backup folders a run may leave next to its results folder."""
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name or ".old" in p.name)


def write_yaml(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
def test_run_writes_the_complete_results_folder(tmp_path, small_scenario_file, monkeypatch):
    """run --out DIR --quiet writes the tables, summary, scenario, metadata and four figures."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    result = invoke("run", small_scenario_file, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    for name in ("enrolment.png", "pensions.png", "fund.png", "population.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    assert leftovers(tmp_path) == [] and not (tmp_path / "results").exists()


@pytest.mark.slow
def test_csv_and_parquet_hold_the_same_table_one_row_per_year(tmp_path, small_scenario_file):
    """timeseries.csv equals timeseries.parquet, with one row for each year 2011-2014."""
    out = tmp_path / "out"
    assert invoke("run", small_scenario_file, "--out", out, "--quiet").exit_code == 0
    csv, parquet = pd.read_csv(out / "timeseries.csv"), pd.read_parquet(out / "timeseries.parquet")
    pd.testing.assert_frame_equal(csv, parquet, check_dtype=False, rtol=1e-12)
    assert list(parquet["year"]) == [2011, 2012, 2013, 2014]


@pytest.mark.slow
def test_saved_scenario_and_summary_describe_the_run(tmp_path, small_scenario_file):
    """scenario.yaml reloads to the scenario that ran; summary.json and metadata.json name it and the seed."""
    out = tmp_path / "out"
    assert invoke("run", small_scenario_file, "--out", out, "--quiet", "--seed", "7").exit_code == 0
    assert load_scenario(out / "scenario.yaml").model_dump() == load_scenario(small_scenario_file).model_dump()
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["scenario"], summary["seed"], summary["runs"], summary["years"]) == ("small", 7, 1, [2011, 2014])
    parquet = pd.read_parquet(out / "timeseries.parquet").set_index("year")
    one_run = parquet.at[2014, "participation_rate"]
    assert summary["indicators"]["participation_rate"]["2014"] == {"mean": one_run, "low": one_run, "high": one_run}
    assert json.loads((out / "metadata.json").read_text())["seed"] == 7


@pytest.mark.slow
@pytest.mark.parametrize("runs", [1, 2])
def test_the_summary_table_gives_every_row_its_unit_and_fits_80_columns(tmp_path, small_scenario_file, runs):
    """Each key indicator's label and unit, its numbers in that unit, the band's percentiles with
    several runs; nothing cut at 80 columns."""
    from rich.console import Console

    from abm.cli import _summary_table
    from abm.sim import outcomes

    out = tmp_path / "out"
    assert invoke("run", small_scenario_file, "--out", out, "--quiet", "--runs", runs, "--workers", 1).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    for width in (80, 120):
        console = Console(width=width, record=True)
        console.print(_summary_table(summary))
        text = console.export_text()
        assert "…" not in text and max(map(len, text.splitlines())) <= width
        words = squash(text)
        for name, values in summary["indicators"].items():
            assert squash(outcomes.heading(name)) in words, name
            assert all(outcomes.number(name, values[year]["mean"]) in text for year in values), name
        assert ("5th percentile" in text) == (runs > 1)


@pytest.mark.slow
def test_rerun_replaces_an_existing_results_folder(tmp_path, small_scenario_file):
    """A second run into an earlier run's folder replaces it entirely (no stale files, no backups left);
    a folder that is not a run's is refused (tests/test_destinations.py)."""
    out = tmp_path / "out"
    assert invoke("run", small_scenario_file, "--out", out, "--quiet").exit_code == 0
    (out / "stale.txt").write_text("old")
    assert invoke("run", small_scenario_file, "--out", out, "--quiet").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert leftovers(tmp_path) == []


def _missing(tmp_path, data):
    return ["run", tmp_path / "nowhere.yaml"], ["nowhere.yaml"]


def _malformed(tmp_path, data):
    path = tmp_path / "broken.yaml"
    path.write_text("name: small\npolicy: [unclosed\n", encoding="utf-8")
    return ["run", path], ["broken.yaml", "invalidYAML"]


def _unknown_field(tmp_path, data):
    data = dict(data, population=dict(data["population"], resident=100))
    return ["run", write_yaml(tmp_path / "typo.yaml", data)], ["typo.yaml", "population.resident", "unknownfield"]


def _out_of_range(tmp_path, data):
    data = dict(data, population=dict(data["population"], residents=5))
    return ["run", write_yaml(tmp_path / "tiny.yaml", data)], ["tiny.yaml", "population.residents", "100"]


def _negative_seed(tmp_path, data):
    return ["run", write_yaml(tmp_path / "ok.yaml", data), "--seed", "-1"], ["--seed"]


BAD_INPUT = {
    "missing file": _missing,
    "malformed YAML": _malformed,
    "unknown field": _unknown_field,
    "out-of-range value": _out_of_range,
    "negative seed": _negative_seed,
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_2_with_one_message_and_no_results(tmp_path, baseline_data, monkeypatch, case):
    """Each user error: exit code 2, one message naming the file/field, no traceback, nothing written."""
    monkeypatch.chdir(tmp_path)
    args, fragments = BAD_INPUT[case](tmp_path, dict(baseline_data, name="small", end_year=2012))
    out = tmp_path / "out"
    result = invoke(*args, "--out", out, "--quiet")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in squash(result.output), (fragment, result.output)
    message = squash(result.output).replace(squash(str(tmp_path)), "")
    assert len(re.findall(r"error", message, flags=re.IGNORECASE)) == 1
    assert not out.exists() and not (tmp_path / "results").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    """The installed pension-abm script: a missing scenario file gives exit 2 and one line on stderr."""
    proc = subprocess.run(
        [str(PENSION_ABM), "run", "nowhere.yaml", "--out", "out", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "nowhere.yaml" in proc.stderr and "not found" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


HEAVY = ("mesa", "numpy", "pandas", "scipy", "matplotlib", "pyarrow", "abm.sim.model", "abm.inputs.scenario")
IMPORTS_AFTER = """
import sys
from abm.cli import main
sys.argv = ["pension-abm", *sys.argv[1:]]
try:
    main()
except SystemExit as end:
    print(end.code, sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["run", "--help"], ["calibrate", "--help"], ["run"], ["run", "baseline", "--runs", "0"], ["nosuch"]],
    ids=["help", "run-help", "calibrate-help", "run-no-scenario", "runs-0", "unknown-command"],
)
def test_arguments_are_read_and_refused_before_the_model_is_imported(args):
    """Help and refused arguments never import the model, Mesa, NumPy or pandas (the command line's speed):
    the program ends with its exit code and none of them in sys.modules."""
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTS_AFTER.format(heavy=HEAVY), *args], capture_output=True, text=True, timeout=60
    )
    expected = 0 if "--help" in args else 2
    assert proc.stderr.strip().splitlines()[-1] == f"{expected} []", proc.stderr


def test_failure_while_writing_leaves_the_existing_results_untouched(tmp_path, small_scenario_file, monkeypatch):
    """If writing fails (figures here), the previous results folder is unchanged and no staging is left."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "timeseries.csv").write_text("previous results")
    (out / "metadata.json").write_text('{"format": "pension-abm/run/1"}')  # an earlier run's folder

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(abm.analysis.plots, "save_all", broken)
    result = invoke("run", small_scenario_file, "--out", out, "--quiet")
    assert result.exit_code != 0
    assert isinstance(result.exception, OSError)
    assert sorted(p.name for p in out.iterdir()) == ["metadata.json", "timeseries.csv"]
    assert (out / "timeseries.csv").read_text() == "previous results"
    assert leftovers(tmp_path) == []


def test_failure_while_writing_a_new_folder_leaves_nothing(tmp_path, small_scenario_file, monkeypatch):
    """If writing fails and there were no results before, there are none after."""
    monkeypatch.setattr(abm.analysis.plots, "save_all", lambda *a, **k: 1 / 0)
    result = invoke("run", small_scenario_file, "--out", tmp_path / "out", "--quiet")
    assert isinstance(result.exception, ZeroDivisionError)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_error_message_keeps_the_count_of_further_problems(tmp_path):
    """A scenario missing both policy and economy says there is one more problem."""
    path = write_yaml(tmp_path / "bare.yaml", {"name": "bare", "start_year": 2011, "end_year": 2012})
    result = invoke("run", path, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2
    assert "[and 1 more problem]" in result.output


def test_irr_default_scenario_works_from_any_folder(tmp_path, monkeypatch):
    """pension-abm irr uses the baseline scenario by default wherever it is run from."""
    monkeypatch.chdir(tmp_path)
    result = invoke("irr", "--grade", "500", "--entry-age", "45", "--json")
    assert result.exit_code == 0, result.output
    assert "irr" in json.loads(result.stdout)


COMMANDS = (
    ["run"],
    ["compare"],
    ["sweep"],
    ["search"],
    ["analyze"],
    ["irr"],
    ["explain"],
    ["validate"],
    ["experiments"],
    ["viz"],
    ["calibrate", "survey"],
    ["calibrate", "aggregates"],
    ["calibrate", "standin"],
)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_shipped_names_not_the_installed_packages_paths(command):
    """A default scenario reads `baseline` (its shipped name), never a path into the package."""
    import abm

    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    package = squash(str(Path(abm.__file__).parent))
    assert package not in squash(result.output) and "site-packages" not in squash(result.output)
    if "--scenario" in result.output:
        assert "[default: baseline]" in result.output


def test_viz_on_a_port_in_use_is_one_message_and_starts_nothing(monkeypatch):
    import socket

    started = []
    monkeypatch.setattr("abm.viz.server.subprocess.call", lambda *args, **kwargs: started.append(args) or 0)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("viz", BASELINE_FILE, "--host", "127.0.0.1", "--port", str(port))
    assert result.exit_code == 2, result.output
    assert squash(result.output) == squash(
        f"error: --port: port {port} is already in use on 127.0.0.1; stop what uses it or choose another --port"
    )
    assert not started


def test_viz_on_an_unknown_host_is_one_message(monkeypatch):
    monkeypatch.setattr("abm.viz.server.subprocess.call", lambda *args, **kwargs: pytest.fail("server started"))
    result = invoke("viz", BASELINE_FILE, "--host", "no-such-host.invalid", "--port", "8799")
    assert result.exit_code == 2 and squash(result.output).startswith("error:--host:unknownhost"), result.output
