"""Packaged data files: YAML parameters with unit and source, the life table CSV, the shipped
scenarios and the calibration the model runs on, all found inside the installed package.

A data leaf is a mapping with ``value`` (or ``values`` by year), ``unit`` and ``source``;
:func:`load_parameters` returns the values alone, keeping the file the only place where
units and sources are written.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from abm.errors import UserError

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml where PyYAML has it: parsing is 10x faster
PACKAGE = Path(str(resources.files("abm")))   # the installed package (a checkout's abm/ in development)
DATA_DIR = PACKAGE / "data"
SCENARIOS_DIR = PACKAGE / "scenarios"          # shipped scenarios, and sweeps/
CALIBRATION_DIR = PACKAGE / "calibration"      # fitted coefficients, targets, survey codebook and stand-in


def checkout_calibration() -> Path | None:
    """The repository's calibration folder (report, and links to the shipped files) when the package
    runs from a checkout; None when it is installed, where nothing may be written beside it."""
    root = PACKAGE.parent
    folder = root / "calibration"
    return folder if (root / "pyproject.toml").is_file() and folder.is_dir() else None


def shipped_file(ref: str | Path, folder: Path = SCENARIOS_DIR, kind: str = "scenario") -> Path:
    """A scenario (or sweep) file named by path, or by the name of a shipped one (``baseline``).
    A bare name that is neither is a :class:`UserError` listing the shipped names; a path that
    does not exist is returned as it is (reading it says so)."""
    path = Path(ref)
    if path.exists() or path.name != str(ref) or path.suffix:
        return path
    if (folder / f"{ref}.yaml").is_file():
        return folder / f"{ref}.yaml"
    names = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
    raise UserError(f"file not found, and no shipped {kind} has this name (shipped: {names})", file=path)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing file or a syntax error is a :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError("file not found", file=path)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise UserError(f"invalid YAML ({problem})", file=path,
                        line=mark.line + 1 if mark is not None else None) from None


def strip_metadata(node: Any) -> Any:
    """Replace every ``{value|values, unit, source}`` leaf by its value."""
    if isinstance(node, dict):
        if "value" in node or "values" in node:
            return strip_metadata(node.get("value", node.get("values")))
        return {key: strip_metadata(val) for key, val in node.items()}
    if isinstance(node, list):
        return [strip_metadata(val) for val in node]
    return node


def load_parameters(path: str | Path) -> dict[str, Any]:
    """Load a parameter file and return its values without units and sources."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise UserError("expected a mapping of parameters", file=path)
    return strip_metadata(data)


def find(ref: str | Path, folder: Path, relative_to: Path | None, field: str) -> Path:
    """A data file named by path (absolute, relative to the scenario file or the working
    folder) or by the name of a packaged file in ``folder``; a :class:`UserError` naming
    ``field`` if none exists."""
    for candidate in (*_paths(ref, relative_to), folder / f"{ref}.yaml"):
        if candidate.is_file():
            return candidate
    names = sorted(p.stem for p in folder.glob("*.yaml"))
    raise UserError(f"file {str(ref)!r} not found; give a path or a packaged name: {', '.join(names)}",
                    field=field)


def absolute_ref(ref: str, relative_to: Path | None) -> str:
    """``ref`` as :func:`find` finds the same file from any folder: a path made absolute; a
    packaged name (or a file that does not exist) unchanged."""
    for candidate in _paths(ref, relative_to):
        if candidate.is_file():
            return str(candidate.resolve())
    return ref


def _paths(ref: str | Path, relative_to: Path | None) -> tuple[Path, Path]:
    """Where a data file named by path may be: as given, or relative to the scenario file (or the working folder)."""
    return Path(ref), (relative_to or Path.cwd()) / ref
