"""The README's Python example runs as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_readme_python_examples_run(monkeypatch, capsys):
    """Every ```python block of the README executes without error and prints its table."""
    monkeypatch.chdir(ROOT)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "the README shows no Python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "participation_rate" in printed and "2020" in printed


def test_readme_scenario_example_runs_from_any_folder_and_its_error_reads_as_shown(tmp_path, monkeypatch):
    """The scenario example (`extends: baseline`, a shipped scenario's name) loads outside the
    repository; with -100 yuan it stops with the README's message."""
    from abm.infra.errors import UserError
    from abm.inputs.loader import load_scenario

    text = (ROOT / "README.md").read_text()
    example = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "name: my_subsidy" in b)
    shown = re.search(r"^error: my_subsidy\.yaml, (.*)$", text, re.M)[1]
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "my_subsidy.yaml"
    path.write_text(example, encoding="utf-8")
    spec = load_scenario(path)
    assert spec.name == "my_subsidy" and spec.policy.subsidy[2027] == [(100, 30), (500, 100)]
    path.write_text(example.replace("[500, 100]", "[500, -100]"), encoding="utf-8")
    with pytest.raises(UserError) as info:  # a negative subsidy is refused, in the README's words
        load_scenario(path)
    assert str(info.value) == f"{path}, {shown}"
