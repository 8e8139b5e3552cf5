"""The README's generated sections (docs/build.py): equal to fresh runs, and markers parsed strictly."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from abm.infra.errors import UserError
from helpers import BASELINE, REPO_ROOT

README = REPO_ROOT / "README.md"


def _load_build():
    spec = importlib.util.spec_from_file_location("docs_build", REPO_ROOT / "docs" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


build = _load_build()


@pytest.fixture(scope="module")
def fresh() -> dict[str, str]:
    """The quick sections (baseline table, IRR table) from fresh runs at the README's seeds."""
    return build.quick_sections()


@pytest.mark.slow
def test_readme_quick_sections_equal_fresh_runs(fresh):
    """A changed model fails here until `make docs` rewrites the README."""
    sections = build.parse(README.read_text(encoding="utf-8"))
    assert set(build.QUICK) <= set(sections)
    for name, text in fresh.items():
        assert sections[name] == text, f"README section {name!r} differs from a fresh run: run `make docs`"


def test_readme_has_markers_for_every_job_section():
    """Every section a job writes has its markers in the README (the slow ones too)."""
    names = set(build.parse(README.read_text(encoding="utf-8")))
    assert {
        "baseline",
        "irr",
        "sweeps",
        "sweep-findings",
        "searches",
        "scenario-effects",
        "levers",
        "bench-sweep",
        "bench-sobol-1024",
        "bench-viz",
        "bench-model",
    } <= names


@pytest.mark.slow
def test_a_changed_figure_is_stale_and_replace_restores_it(fresh):
    text = README.read_text(encoding="utf-8")
    body = build.parse(text)["baseline"]
    row = next(line for line in body.splitlines() if line.startswith("| participation"))
    changed = text.replace(row, row.replace("%", "1%", 1))
    assert changed != text
    assert build.stale(changed, fresh) == ["baseline"]
    assert build.replace(changed, fresh) == text


TEMPLATE = """# Title

prose before
<!-- generated: one -->

old one

<!-- /generated -->
prose between
<!-- generated: two -->
old two
<!-- /generated -->
prose after
"""


def test_replace_rewrites_only_the_named_sections():
    out = build.replace(TEMPLATE, {"one": "new one\n\n| a |\n|---|"})
    assert build.parse(out) == {"one": "new one\n\n| a |\n|---|", "two": "old two"}
    kept = [line for line in TEMPLATE.splitlines() if "old one" not in line and line]
    assert [line for line in out.splitlines() if line and line not in ("new one", "| a |", "|---|")] == kept


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a\n<!-- generated: one -->\nb\n", 2, "never closed"),
        ("a\n<!-- /generated -->\n", 2, "closes no section"),
        ("<!-- generated: one -->\n<!-- generated: two -->\n<!-- /generated -->\n", 2, "opens inside section 'one'"),
        (
            "<!-- generated: one -->\n<!-- /generated -->\n<!-- generated: one -->\n<!-- /generated -->\n",
            3,
            "appears twice",
        ),
        ("<!-- generated: One Two -->\n<!-- /generated -->\n", 1, "malformed marker"),
        ("  <!-- /generated --> x\n", 1, "malformed marker"),
    ],
)
def test_unbalanced_or_malformed_markers_are_refused(text, line, message):
    with pytest.raises(UserError, match=message) as caught:
        build.parse(text, "README.md")
    assert caught.value.line == line and caught.value.file == "README.md"


def test_a_section_without_markers_is_refused():
    with pytest.raises(UserError, match="no markers for section"):
        build.replace(TEMPLATE, {"three": "x"})


def test_sweep_findings_list_the_leading_indices_of_a_fresh_analysis(tmp_path):
    """The sweep-findings formatter on a fresh small Sobol sweep of the Ishigami function."""
    import yaml

    from abm.analysis.sensitivity import analyze_folder
    from abm.analysis.sweep import load_sweep, run_sweep

    data = yaml.safe_load((REPO_ROOT / "tests" / "data" / "ishigami.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "ishigami.yaml"
    path.write_text(yaml.safe_dump(dict(data, samples=64)), encoding="utf-8")
    spec = load_sweep(path)
    run_sweep(spec, path, tmp_path / "out")
    analysis = analyze_folder(tmp_path / "out")
    text = build._leading(spec, analysis)
    leading = analysis["indices"].sort_values("ST", ascending=False).head(build.LEADING)
    cells = [f"{row.parameter} {row.ST:.2f} ± {row.ST_conf:.2f}" for row in leading.itertuples()]
    assert f"| `y` | {' | '.join(cells)} |" in text.splitlines()
    assert "Sobol, N=64" in text and "samples = 64 is below" in text


def test_a_broken_readme_stops_the_build_before_any_run(tmp_path, monkeypatch, capsys):
    broken = tmp_path / "README.md"
    broken.write_text(TEMPLATE.replace("<!-- /generated -->\nprose after", "prose after"), encoding="utf-8")
    before = broken.read_text(encoding="utf-8")
    monkeypatch.setattr(build, "README", broken)
    monkeypatch.setattr(build, "JOBS", {})  # any job run would fail with a KeyError
    assert build.main(["--check"]) == 2
    assert build.main([]) == 2
    assert f"{broken}, line 10: section 'two' is never closed" in capsys.readouterr().err
    assert broken.read_text(encoding="utf-8") == before


def test_each_job_is_written_as_it_finishes_into_the_readme_as_it_is_then(tmp_path, monkeypatch):
    """A job's sections land as soon as it finishes, in the README as edited meanwhile; a later job's
    failure loses nothing finished (a slow run of the benchmarks takes many minutes)."""
    readme = tmp_path / "README.md"
    readme.write_text(TEMPLATE, encoding="utf-8")
    for name in ("README", "SURVEY_README", "RESULTS_README"):
        monkeypatch.setattr(build, name, readme)
    monkeypatch.setattr(build, "survey_sections", dict)
    monkeypatch.setattr(build, "results_sections", dict)

    def first():
        readme.write_text(readme.read_text(encoding="utf-8").replace("prose after", "edited meanwhile"))
        return build.Result({"one": "fresh one"})

    def second():
        raise build.UserError("the second job failed")

    monkeypatch.setattr(build, "JOBS", {"first": first, "second": second})
    assert build.main(["--only", "first", "second"]) == 2
    text = readme.read_text(encoding="utf-8")
    assert "edited meanwhile" in text and build.parse(text) == {"one": "fresh one", "two": "old two"}


def test_benchmark_sections_read_the_json_lines_of_the_bench_scripts(monkeypatch):
    """The tables of the slow sections, from lines shaped as bench/bench_*.py print them (not run here)."""
    printed = {
        "bench_model.py": [
            {
                "size": "100000",
                "residents": 100_000,
                "years": 40,
                "agents": "all",
                "lifetime": False,
                "seconds": 1.7,
                "agent_years_per_s": 2_352_941,
                "peak_mib": 57.4,
                "bytes_per_resident": 603,
                "plain_mesa_agent_years_per_s": 20_000,
                "vs_plain_mesa": 118,
                "target": "agent_years_per_s >= 5000000",
                "met": False,
            },
            {
                "size": "shanxi",
                "residents": 28_700_000,
                "years": 40,
                "agents": "all",
                "lifetime": False,
                "seconds": 1234.5,
                "agent_years_per_s": 929_932,
                "peak_mib": 4321.0,
                "bytes_per_resident": 158,
                "plain_mesa_agent_years_per_s": 21_000,
                "vs_plain_mesa": 44,
                "target": "completed == True",
                "met": True,
            },
        ],
        "bench_sweep.py": [
            {"sweep": "behaviour", "samples": 16, "workers": 1, "runs": 320, "seconds": 17.5, "runs_per_s": 18.3},
            {
                "sweep": "behaviour",
                "samples": 16,
                "workers": 2,
                "runs": 320,
                "seconds": 9.0,
                "runs_per_s": 35.7,
                "speedup_vs_1_worker": 1.95,
            },
            {"sweep": "sobol_1024", "points": 10240, "runs": 10240, "workers": 2, "seconds": 313.0, "runs_per_s": 32.7},
        ],
        "bench_viz.py": [
            {"residents": 5000, "years": 40, "mean_ms": 21.2, "worst_ms": 27.4},
            {"browser_step": "chromium", "residents": 5000, "clicks": 20, "mean_ms": 186.0, "worst_ms": 355.0},
        ],
    }
    monkeypatch.setattr(build, "_bench", lambda script, *args: printed[script])
    model = build.bench_model().sections["bench-model"].splitlines()
    assert model[2] == "| 100,000 | 1.70 | 2.35 M | 118x | 57 MiB | 603 | agent_years_per_s >= 5000000: not met |"
    assert model[3] == (
        "| 28,700,000 (shanxi, one to one) | 1234.50 | 0.93 M | 44x | 4,321 MiB | 158 | completed == True: met |"
    )
    assert model[-1].startswith("Measured on ") and "load average" in model[-1]
    sweep = build.bench_sweep(sobol_1024=True).sections
    assert sweep["bench-sweep"].splitlines()[2] == "| `behaviour` | 16 | 320 | 18.3 | 35.7 | 1.95x |"
    assert "took 313 s (5 min 13 s, 32.7 runs/s) on 2 workers" in sweep["bench-sobol-1024"]
    viz = build.bench_viz().sections["bench-viz"]
    assert "| 5,000 | 40 | 21 | 27 |" in viz.splitlines()
    assert "after 186 ms on average at 5,000 residents (worst of 20 clicks 355 ms)" in viz


def test_scenario_effects_table_from_measured_effects():
    """The scenario table's rows from hand-made effects: levels for the baseline, paired differences
    [90% band] in each column's unit, and the mechanism sentence of the runs."""
    import pandas as pd

    from abm.analysis.effects import Effects
    from abm.inputs.loader import load_scenario
    from abm.sim.choice import MECHANISMS

    base, taught = load_scenario(BASELINE), load_scenario(REPO_ROOT / "scenarios" / "financial_education.yaml")
    rows = []
    for indicator, level, diff in (
        ("participation_rate", 0.6234, (0.021, 0.015, 0.028)),
        ("lowest_grade_share", 0.4, (-0.0123, -0.02, -0.004)),
        ("mean_pension", 312.34, (1.26, -0.5, 3.0)),
        ("public_spending", 123_456_789.0, (2_000_000.0, 1_000_000.0, 3_500_000.0)),
    ):
        rows.append(
            {
                "indicator": indicator,
                "year": 2040,
                "scenario": "baseline",
                "mean": level,
                "difference": 0.0,
                "difference_low": 0.0,
                "difference_high": 0.0,
                "runs": 3,
            }
        )
        rows.append(
            {
                "indicator": indicator,
                "year": 2040,
                "scenario": "financial_education",
                "mean": level,
                "difference": diff[0],
                "difference_low": diff[1],
                "difference_high": diff[2],
                "runs": 3,
            }
        )
    mechanisms = pd.DataFrame(
        [
            {
                "scenario": name,
                "run": run,
                **dict.fromkeys(MECHANISMS, 0.0),
                "account": shift * (run + 1),
                "habit": -0.05 * (shift > 0),
            }
            for name, shift in (("baseline", 0.0), ("financial_education", 0.1))
            for run in range(3)
        ]
    )
    effects = Effects(2040, 3, 1000, [base, taught], pd.DataFrame(rows), mechanisms, 12.3)
    text = build.effects_table(effects, workers=2)
    lines = text.splitlines()
    assert "30 paired runs" not in text and "over 3 paired runs (the same seeds" in lines[0]
    assert (
        "of 1,000 simulated residents, [90% band: the simulation's noise and the coefficients' uncertainty]" in lines[0]
    )
    assert "took 12 s on 2 workers" in lines[0]
    assert lines[4] == (
        f"| `baseline` | {base.description} | 62.3% | 40.0% | 312.3 | 123.5 | the reference: levels in the year |"
    )
    assert lines[5] == (
        f"| `financial_education` | {taught.description} | +2.1 [+1.5, +2.8] | -1.2 [-2.0, -0.4] | "
        "+1.3 [-0.5, +3.0] | +2.0 [+1.0, +3.5] | changes `policy.financial_education`; utility of "
        "paying over not paying in 2040 moved most through the account's value (+0.200 [+0.110, "
        "+0.290]) and habit (paying as last year) (-0.050 [-0.050, -0.050]) |"
    )
    assert len(lines) == 6
