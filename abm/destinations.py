"""Output folders: which the tool may write or replace, checked before any simulation.

Every results folder carries a marker, ``metadata.json`` with ``"format": "pension-abm/<kind>/1"``
(a calibration folder: ``fitted/coefficients.yaml`` with ``status: fitted``). A folder is replaced
or written into only when it is missing, empty, or marked as an earlier folder of the same kind;
anything else (a file, the working folder or one holding the package, a folder of other files) is
refused with one message naming ``--out``, before anything runs or is written.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from abm.errors import UserError

MARKER = "metadata.json"
KINDS = ("run", "compare", "sweep", "calibration", "validate")
PACKAGE = Path(__file__).resolve().parent
FITTED = Path("fitted") / "coefficients.yaml"   # the calibration folder's marker (status: fitted)


def marker(kind: str) -> dict:
    """The marker entries of a results folder of ``kind`` (the first keys of its metadata.json)."""
    return {"format": f"pension-abm/{kind}/1"}


def kind_of(folder: Path) -> str | None:
    """The kind of results folder ``folder`` is by its marker, or None (no marker, not ours)."""
    folder = Path(folder)
    if (folder / FITTED).is_file():
        import yaml

        try:
            data = yaml.safe_load((folder / FITTED).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return None
        return "calibration" if isinstance(data, dict) and data.get("status") == "fitted" else None
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    fmt = data.get("format") if isinstance(data, dict) else None
    if isinstance(fmt, str) and fmt.startswith("pension-abm/"):
        kind = fmt.split("/")[1]
        return kind if kind in KINDS else None
    return None


def default(parent: Path, name: str, file: Path | None = None) -> Path:
    """``parent/name`` for a folder named after a scenario or sweep (its ``file``); '.' and '..' are refused."""
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise UserError(f"{name!r} cannot name a results folder; give it another name or use --out",
                        file=file, field="name")
    return Path(parent) / name


def check(out: Path, kind: str, option: str = "--out") -> Path:
    """Refuse ``out`` unless the tool may write a ``kind`` folder there; returns it unchanged.

    Args:
        out: the folder as given (relative to the working folder or absolute).
        kind: run, compare, sweep or calibration.
        option: the command-line option that gave it, named in the message.
    """
    assert kind in KINDS, kind
    given = Path(out)
    if given.name in ("", ".", ".."):
        raise UserError("'.' and '..' cannot be results folders; name a folder", file=given, field=option)
    path = given.resolve()
    if path.exists() and not path.is_dir():
        raise UserError("is a file, not a folder; it is left as it is: choose a folder", file=given, field=option)
    if PACKAGE.is_relative_to(path) or Path.cwd().resolve().is_relative_to(path):
        raise UserError("holds the working folder or the project's own files; choose a folder inside it",
                        file=given, field=option)
    if path.is_dir() and any(path.iterdir()) and kind_of(path) != kind:
        found = kind_of(path)
        what = f"an earlier {found} folder, not a {kind} folder" if found else (
            f"not empty and not an earlier {kind} folder of pension-abm (no marker, see results/README.md)")
        raise UserError(f"{what}; it is left as it is: choose a new or empty folder", file=given, field=option)
    _check_writable(path, kind, given, option)
    return out


def _check_writable(path: Path, kind: str, given: Path, option: str) -> None:
    """A run or comparison is staged beside its folder; a sweep or calibration writes inside it."""
    target = path if path.is_dir() and kind in ("sweep", "calibration") else path.parent
    while not target.exists():
        target = target.parent
    if not target.is_dir():
        raise UserError(f"cannot be created: {target} is a file", file=given, field=option)
    try:
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as err:
        raise UserError(f"cannot be written: no file can be created in {target} ({err.strerror or err})",
                        file=given, field=option) from None


def check_file(out: Path, mark: str, option: str = "--out") -> Path:
    """Refuse ``out`` unless it is a new file or one the tool wrote before (its first line starts
    with ``mark``), in a place that can be written; returns it unchanged."""
    given = Path(out)
    if given.name in ("", ".", ".."):
        raise UserError("'.' and '..' are folders; name a file", file=given, field=option)
    path = given.resolve()
    if path.is_dir():
        raise UserError("is a folder; name a file", file=given, field=option)
    if path.exists():
        try:
            with path.open(encoding="utf-8") as file:
                ours = file.readline().startswith(mark)
        except (OSError, UnicodeDecodeError):
            ours = False
        if not ours:
            raise UserError(f"exists and was not written by this command (its first line does not start with "
                            f"{mark!r}); it is left as it is: choose another file", file=given, field=option)
    _check_writable(path, "run", given, option)
    return out
