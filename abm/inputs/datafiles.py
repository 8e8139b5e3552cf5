"""Packaged data files: YAML parameters with unit and source, the life table CSV, the shipped
scenarios and the calibration the model runs on, all found inside the installed package.

A data leaf is a mapping with ``value`` (or ``values`` by year), ``unit`` and ``source``;
:func:`load_parameters` returns the values alone, keeping the file the only place where
units and sources are written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from abm.infra.errors import UserError
from abm.infra.paths import CALIBRATION_DIR, DATA_DIR, DEFAULT_SCENARIO, PACKAGE, SCENARIOS_DIR, checkout_calibration

__all__ = ["CALIBRATION_DIR", "DATA_DIR", "DEFAULT_SCENARIO", "PACKAGE", "SCENARIOS_DIR", "checkout_calibration"]

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where PyYAML has it: parsing is 10x faster
MAX_DEPTH = 50  # nesting levels of a YAML document
MAX_NODES = 100_000  # values of a YAML document, counting every expansion of an alias
MERGE_TAG = "tag:yaml.org,2002:merge"
FLOAT_TAG = "tag:yaml.org,2002:float"
# floats of YAML 1.2 that PyYAML (YAML 1.1) reads as strings: an exponent without a decimal point or
# without a sign (1e-1, 1E5, 2.5e3); those 1.1 reads as floats already match too
EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
SCAN_ABOVE = 5_000  # structural characters beyond which nesting is checked before the tree is built
LIBYAML_TOO_DEEP = "nesting depth"  # in the message of libyaml's own depth limit (1,000 levels, from PyYAML 6.0.4)


def shipped_file(
    ref: str | Path, folder: Path = SCENARIOS_DIR, kind: str = "scenario", relative_to: Path | None = None
) -> Path:
    """A scenario (or sweep) file named by path, or by the name of a shipped one (``baseline``).
    A bare name that is neither is a :class:`UserError` listing the shipped names; a path that
    does not exist is returned as it is (reading it says so).

    Args:
        relative_to: the folder a relative path is read from (default: the working folder), e.g.
            the folder of the file that names it.
    """
    path = Path(ref) if relative_to is None else relative_to / ref
    if path.exists() or Path(ref).name != str(ref) or Path(ref).suffix:
        return path
    if (folder / f"{ref}.yaml").is_file():
        return folder / f"{ref}.yaml"
    names = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
    raise UserError(f"file not found, and no shipped {kind} has this name (shipped: {names})", file=path)


class StrictLoader(LOADER):
    """The safe loader (libyaml's where available) refusing a key repeated in one mapping, which
    YAML forbids and PyYAML would silently resolve as "the last one wins", and reading numbers with
    an exponent (1e-1, 1E5) as floats, as YAML 1.2 does, in every file and ``--set`` alike."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if earlier is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        problem=f"key {key!r} given twice (first on line {earlier.line + 1})",
                        problem_mark=key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_implicit_resolver(FLOAT_TAG, EXPONENT_FLOAT, list("-+0123456789."))


class Dumper(yaml.SafeDumper):
    """The safe dumper writing what :class:`StrictLoader` reads back: a string that looks like a
    YAML 1.2 float (``1e5``) is quoted."""


Dumper.add_implicit_resolver(FLOAT_TAG, EXPONENT_FLOAT, list("-+0123456789."))


def dump(data: Any, **options) -> str:
    """YAML text of ``data`` that :class:`StrictLoader` reads back unchanged (options of ``yaml.dump``)."""
    return yaml.dump(data, Dumper=Dumper, **options)


def read_text(path: str | Path) -> str:
    """A user's text file as UTF-8; a missing, binary or otherwise encoded file, a folder or a device
    is a :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(_not_a_file(path), file=path)
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise UserError("a binary file, not text; expected UTF-8 text", file=path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise UserError(
            f"not UTF-8 text (byte 0x{raw[err.start]:02x}); save the file as UTF-8", file=path, line=line
        ) from None


def read_parquet(path: str | Path, remedy: str, columns: list[str] | None = None):
    """A Parquet table the tool wrote, as a DataFrame; a missing or damaged one (truncated, emptied,
    not Parquet) is a :class:`UserError` naming the file and saying what to do (``remedy``)."""
    import pandas as pd
    import pyarrow

    path = Path(path)
    if not path.is_file():
        raise UserError(f"missing: {remedy}", file=path)
    try:
        return pd.read_parquet(path, columns=columns)
    except (pyarrow.ArrowException, OSError) as err:
        reason = str(err).split("': ", 1)[-1].split(". ")[0].splitlines()[0]
        raise UserError(f"damaged or not a Parquet file ({reason}): {remedy}", file=path) from None


def _not_a_file(path: Path) -> str:
    """What ``path``, not a regular file, is instead."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        return "file not found"
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    )
    return f"is {next((name for test, name in kinds if test(mode)), 'not a regular file')}, not a file"


def parse_yaml(text: str, file: str | Path | None = None, field: str | None = None) -> tuple[Any, yaml.Node | None]:
    """Data and node tree (for line numbers) of one YAML document. Syntax errors, repeated keys,
    nesting deeper than :data:`MAX_DEPTH` and more than :data:`MAX_NODES` values (aliases
    expanded) are each one :class:`UserError` naming ``file`` (or ``field``) and the line."""
    if sum(text.count(c) for c in "[{-:\n") > SCAN_ABOVE:
        _check_nesting(text, file, field)
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_size(node, file, field)
        return loader.construct_document(node), node
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        line = mark.line + 1 if mark is not None and file is not None else None
        if LIBYAML_TOO_DEEP in problem:  # libyaml's own limit, met first on a hostile file: one wording
            raise _too_deep(file, field, line) from None
        raise UserError(f"invalid YAML ({problem})", file=file, field=field, line=line) from None
    except RecursionError:
        raise _too_deep(file, field) from None
    finally:
        loader.dispose()


def _too_deep(file: str | Path | None, field: str | None, line: int | None = None) -> UserError:
    """The one message for nesting beyond MAX_DEPTH, whichever check (this module's, libyaml's or
    Python's recursion limit) meets it first."""
    return UserError(f"nested too deeply; at most {MAX_DEPTH} levels", file=file, field=field, line=line)


def _check_nesting(text: str, file: str | Path | None, field: str | None) -> None:
    """Refuse nesting beyond MAX_DEPTH from the event stream, before libyaml builds the node tree
    (which recurses once per level and would overflow the C stack on a hostile file)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=LOADER):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _too_deep(file, field, event.start_mark.line + 1 if file is not None else None)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return  # reported with its line when the document is composed


def _check_size(root: yaml.Node, file: str | Path | None, field: str | None) -> None:
    """Walk the node graph as the data would be expanded (an alias is visited at each use),
    stopping at the first level beyond MAX_DEPTH or value beyond MAX_NODES."""
    stack, count, seen = [(root, 1)], 0, set()
    while stack:
        node, depth = stack.pop()
        count += 1
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise _too_deep(file, field, node.start_mark.line + 1 if file is not None else None)
        if count > MAX_NODES:
            expanded = " once its aliases (*name) are expanded" if len(seen) < count else ""
            raise UserError(f"too large{expanded}: at most {MAX_NODES:,} values", file=file, field=field)
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend((child, depth + 1) for pair in node.value for child in pair)


def read_yaml_node(path: str | Path) -> tuple[Any, yaml.Node | None]:
    """Data and node tree of a YAML file, each problem one :class:`UserError` (see :func:`parse_yaml`)."""
    return parse_yaml(read_text(path), file=Path(path))


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing, binary or non-UTF-8 file, a syntax error, a repeated key, or
    a document too deep or too large is a :class:`UserError`."""
    return read_yaml_node(path)[0]


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
    raise UserError(f"file {str(ref)!r} not found; give a path or a packaged name: {', '.join(names)}", field=field)


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


YEAR_MONTH = re.compile(r"^(\d{4})(?:-(\d{1,2}))?$")


def period(key: int | str) -> tuple[int, int]:
    """(year, month) of a dated key: a year (from January) or 'YYYY-MM'."""
    if isinstance(key, int):
        return key, 1
    match = YEAR_MONTH.match(str(key))
    if not match:
        raise ValueError(f"dates are a year or 'YYYY-MM', got {key!r}")
    return int(match[1]), int(match[2] or 1)


def is_dated(node: dict) -> bool:
    """A mapping keyed by dates (years, or 'YYYY-MM')."""
    return bool(node) and all(isinstance(k, int) or (isinstance(k, str) and YEAR_MONTH.match(k)) for k in node)


def merge(base: dict, override: dict) -> dict:
    """``override`` over ``base``: mappings merge key by key (dated values by date), the rest replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    if is_dated(merged):
        merged = dict(sorted(merged.items(), key=lambda item: period(item[0])))
    return merged


def depth_and_line(node: yaml.Node | None, loc: tuple) -> tuple[int, int | None]:
    """How many parts of ``loc`` the node tree holds, and the line of the deepest key found."""
    line = None if node is None else node.start_mark.line + 1
    for depth, part in enumerate(loc):
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]  # a list item: its own line
            line = node.start_mark.line + 1
            continue
        if not isinstance(node, yaml.MappingNode):
            return depth, line
        match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
        if match is None:
            return depth, line
        key, node = match
        line = key.start_mark.line + 1  # the key's: a block value starts on the line after it
    return len(loc), line
