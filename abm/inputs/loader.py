"""Loading scenarios: files read with their `extends` chain, overrides applied, validated with one clear message.

Every problem is one :class:`abm.infra.errors.UserError` naming the file, the line where possible,
the field path and what is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, get_args, get_origin, is_typeddict

import yaml
from pydantic import BaseModel, ValidationError

from abm.infra.errors import CrossFieldError, UserError, validation_message
from abm.inputs.coefficients import (
    coefficients_path,
    load_coefficients,
)
from abm.inputs.county import OverrideError, county_path, load_county_values
from abm.inputs.datafiles import depth_and_line as _depth_and_line
from abm.inputs.datafiles import (
    is_dated,
    merge,
    parse_yaml,
    period,
    read_yaml_node,
    shipped_file,
)
from abm.inputs.scenario import Scenario

Override = str | tuple[str, Any]  # "path=value" (value in YAML syntax), or (path, value)


def load_scenario(path: str | Path, overrides: Sequence[Override] = ()) -> Scenario:
    """Read a scenario file (following ``extends``), apply overrides, validate.

    Every problem is one :class:`UserError` naming the file, the line where possible, the field
    path and what is allowed.
    """
    path = shipped_file(path)
    layers = _layers(path, seen=())
    merged: dict = {}
    for layer in reversed(layers):  # the base first, each file over it
        merged = merge(merged, {k: v for k, v in layer.data.items() if k != "extends"})
    set_paths = [set_path(merged, *(parse_override(item) if isinstance(item, str) else item)) for item in overrides]
    scenario = validate(Scenario, {**merged, "source_file": Path(path).resolve()}, layers, set_paths)
    _check_county(scenario, layers, set_paths)
    _check_coefficients(scenario, layers, set_paths)
    return scenario


def data_files(scenario: Scenario) -> list[Path]:
    """The data files a run of ``scenario`` reads besides the scenario files: county and coefficients."""
    return [
        county_path(scenario.population.county, scenario.source_dir).resolve(),
        coefficients_path(scenario.behaviour.coefficients, scenario.source_dir).resolve(),
    ]


def _check_coefficients(scenario: Scenario, layers: list[Layer], set_paths: Sequence[tuple]) -> None:
    """The coefficients file, checked now rather than when a run starts."""
    try:
        load_coefficients(scenario.behaviour.coefficients, scenario.source_dir)
    except UserError as err:
        if err.file is None:  # not found: the scenario's field is at fault
            _refuse_field(err.message, ("behaviour", "coefficients"), layers, set_paths)
        raise


def _refuse_field(message: str, loc: tuple, layers: list[Layer], set_paths: Sequence[tuple]) -> None:
    """Raise one :class:`UserError` for the scenario field ``loc``: at its line, or as set on the command line."""
    if any(loc[: len(p)] == p[: len(loc)] for p in set_paths):
        raise UserError(message + FROM_OVERRIDES, file=layers[0].path, field=_dotted(loc)) from None
    layer, line = _locate(layers, loc)
    raise UserError(message, file=layer.path, field=_dotted(loc), line=line) from None


def _check_county(scenario: Scenario, layers: list[Layer], set_paths: Sequence[tuple]) -> None:
    """The county file and the scenario's overrides of it, checked now rather than when a run starts."""
    try:
        load_county_values(scenario.population.county, scenario.source_dir, scenario.population.county_overrides)
    except OverrideError as err:
        _refuse_field(err.message, ("population", "county_overrides", *err.loc), layers, set_paths)
    except UserError as err:
        if err.file is None:  # the county file was not found: the scenario's field is at fault
            _refuse_field(err.message, ("population", "county"), layers, set_paths)
        raise


FROM_OVERRIDES = " (set on the command line)"  # ends the message of an error in an override


def validate[M: BaseModel](model: type[M], data: dict, layers: list[Layer], set_paths: Sequence[tuple] = ()) -> M:
    """``model`` from ``data``, or one :class:`UserError` at the file and line that wrote the problem."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        culprits = _culprits(err)
        overridden = [loc for loc in culprits for p in set_paths if loc[: len(p)] == p[: len(loc)]]  # prefix either way
        if overridden:
            raise UserError(
                _first_error(err, model) + FROM_OVERRIDES, file=layers[0].path, field=_dotted(overridden[0])
            ) from None
        # of several fields at fault, name one the user's own file writes, if any
        written = [loc for loc in culprits if _depth_and_line(layers[0].node, loc)[0] == len(loc)]
        loc = (written or culprits)[0]
        layer, line = _locate(layers, loc)
        raise UserError(_first_error(err, model), file=layer.path, field=_dotted(loc), line=line) from None


def _dotted(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _culprits(err: ValidationError) -> list[tuple]:
    """Paths of the fields at fault in the first error: its location, or below it the fields a
    :class:`CrossFieldError` names, the one to change first (a model's location alone would match
    every key in it). Numbers in a named field are years or list positions."""
    first = err.errors()[0]
    loc, cause = tuple(first["loc"]), first.get("ctx", {}).get("error")
    if isinstance(cause, CrossFieldError):
        return [(*loc, *(int(p) if p.isdigit() else p for p in field.split("."))) for field in cause.fields]
    return [loc]


@dataclass(frozen=True)
class Layer:
    """One YAML file: its data, and its node tree for line numbers."""

    path: Path
    data: dict
    node: yaml.Node


def read_layer(path: Path, expected: str) -> Layer:
    """Read a YAML mapping with its line numbers; dated values must list years in order."""
    data, node = read_yaml_node(path)
    if not isinstance(data, dict):
        raise UserError(f"expected a mapping with {expected}", file=path)
    layer = Layer(path, data, node)
    _check_dated_order(layer, data, ())
    return layer


def _layers(path: Path, seen: tuple[Path, ...]) -> list[Layer]:
    """The file and, through ``extends``, the files it builds on: the file first."""
    layer = read_layer(path, "name, start_year, end_year, policy, economy ...")
    data = layer.data
    parent = data.get("extends")
    if parent is None:
        return [layer]
    line = _line(layer.node, ("extends",))
    try:  # a path relative to this file, or a shipped scenario's name (baseline) when no such file is there
        target = shipped_file(str(parent), relative_to=path.parent).resolve()
    except UserError as err:
        raise UserError(
            f"extends target {str(parent)!r} not found: no such file next to this file, and "
            f"{err.message.removeprefix('file not found, and ')}",
            file=path,
            field="extends",
            line=line,
        ) from None
    if not target.is_file():
        raise UserError(
            f"extends target {str(parent)!r} not found (paths are relative to this file, or a shipped scenario's name)",
            file=path,
            field="extends",
            line=line,
        )
    if target in seen:
        raise UserError(f"extends loops back to {target.name}", file=path, field="extends", line=line)
    return [layer, *_layers(target, (*seen, path.resolve()))]


def _check_dated_order(layer: Layer, node: Any, at: tuple) -> None:
    """Dated values (mappings keyed by year) must list their years in increasing order."""
    if not isinstance(node, dict):
        return
    keys = list(node)
    if is_dated(node) and keys != sorted(keys, key=period):
        field = ".".join(map(str, at))
        raise UserError(
            f"years must be in increasing order, got {keys}", file=layer.path, field=field, line=_line(layer.node, at)
        )
    for key, value in node.items():
        _check_dated_order(layer, value, (*at, key))


def parse_override(item: str) -> tuple[str, Any]:
    """``path=value`` with the value in YAML syntax."""
    if "=" not in item:
        raise UserError(f"expected path=value, e.g. policy.publicity.2026=0.8 (got {item!r})", field="--set")
    dotted, raw = item.split("=", 1)
    return dotted.strip(), parse_yaml(raw, field=f"--set {dotted}")[0]


def set_path(data: dict, dotted: str, value: Any) -> tuple:
    """Set one field of nested data by its dotted path (numbers are years); return the path."""
    parts = tuple(int(p) if p.isdigit() else p for p in dotted.split("."))
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value
    if is_dated(node):
        ordered = dict(sorted(node.items(), key=lambda item: period(item[0])))
        node.clear()
        node.update(ordered)
    return parts


def _locate(layers: list[Layer], loc: tuple) -> tuple[Layer, int | None]:
    """The file (child first) that writes the deepest part of ``loc``, and its line."""
    best, best_depth, best_line = layers[0], -1, None
    for layer in layers:
        depth, line = _depth_and_line(layer.node, loc)
        if depth > best_depth:
            best, best_depth, best_line = layer, depth, line
    return best, best_line


def _line(node: yaml.Node | None, loc: tuple) -> int | None:
    return _depth_and_line(node, loc)[1]


def _siblings(loc: tuple, model: type[BaseModel]) -> list[str]:
    """Field names allowed next to the unknown one at ``loc`` (through lists of models too, and in
    a typed mapping such as behaviour.valuation)."""
    parts = list(loc[:-1])
    while parts:
        part = parts.pop(0)
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if get_origin(annotation) is UnionType:  # an optional part (X | None): X
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        if get_origin(annotation) is list and parts and isinstance(parts[0], int):
            annotation, _ = get_args(annotation)[0], parts.pop(0)  # an item of a list
        if is_typeddict(annotation) and not parts:
            return list(annotation.__annotations__)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [name for name, field in model.model_fields.items() if not field.exclude]


def _first_error(err: ValidationError, model: type[BaseModel]) -> str:
    first = err.errors()[0]
    message = validation_message(first, lambda: _siblings(first["loc"], model))
    more = len(err.errors()) - 1
    return message + (f" [and {more} more problem{'s' if more > 1 else ''}]" if more else "")
