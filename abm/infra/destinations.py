"""Output folders: which the tool may write or replace, checked before any simulation.

Every results folder carries a marker, ``metadata.json`` with ``"format": "pension-abm/<kind>/1"``
(a calibration folder: ``fitted/coefficients.yaml`` with ``status: fitted``). A folder is replaced
or written into only when it is missing, empty, or marked as an earlier folder of the same kind;
anything else (a file, the working folder or one holding the package, a folder of other files, a
name the file system cannot hold, a link to nothing) is refused with one message naming ``--out``,
before anything runs or is written. A symbolic link to a folder stands for that folder: the results
are written there and the link is kept.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from abm.infra.atomic import staging_name
from abm.infra.errors import UserError

MARKER = "metadata.json"
KINDS = ("run", "compare", "sweep", "calibration", "validate", "search")
WHOLE = ("run", "compare", "validate")  # kinds replaced as a whole: built beside the folder, then renamed
NAME_MAX = 255  # bytes in one name of a path, where the file system does not say
PACKAGE = Path(__file__).resolve().parent.parent  # the abm package
FITTED = Path("fitted") / "coefficients.yaml"  # the calibration folder's marker (status: fitted)


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
        raise UserError(
            f"{name!r} cannot name a results folder; give it another name or use --out", file=file, field="name"
        )
    return Path(parent) / name


def check(out: Path, kind: str, option: str = "--out") -> Path:
    """Refuse ``out`` unless the tool may write a ``kind`` folder there; returns it unchanged.

    Args:
        out: the folder as given (relative to the working folder or absolute).
        kind: one of KINDS (run, compare, sweep, calibration, validate, search).
        option: the command-line option that gave it, named in the message.
    """
    assert kind in KINDS, kind
    given = Path(out)
    if given.is_absolute() and given == Path(given.anchor):
        raise UserError("is the file system's root; name a folder inside it", file=given, field=option)
    if given.name in ("", ".", ".."):
        raise UserError("'.' and '..' cannot be results folders; name a folder", file=given, field=option)
    check_names(given, option, staged=kind in WHOLE)
    try:
        _check_folder(given, kind, option)
    except OSError as err:  # a link loop, a folder that cannot be read ...
        raise UserError(f"cannot be used ({err.strerror or err})", file=given, field=option) from None
    return out


def _check_folder(given: Path, kind: str, option: str) -> None:
    if given.is_symlink() and not given.exists():
        raise UserError(
            f"is a symbolic link to {given.readlink()}, which does not exist; create that folder, "
            "remove the link or choose another folder",
            file=given,
            field=option,
        )
    path = given.resolve()
    if path.exists() and not path.is_dir():
        raise UserError("is a file, not a folder; it is left as it is: choose a folder", file=given, field=option)
    if kind in WHOLE and os.path.ismount(path):
        raise UserError(
            f"is a mount point: a {kind} folder is built beside its place and renamed into it, which a "
            f"mount point cannot take; name a folder inside it, e.g. {given / 'results'}",
            file=given,
            field=option,
        )
    if PACKAGE.is_relative_to(path) or Path.cwd().resolve().is_relative_to(path):
        raise UserError(
            "holds the working folder or the project's own files; choose a folder inside it", file=given, field=option
        )
    if path.is_dir() and any(path.iterdir()) and kind_of(path) != kind:
        found = kind_of(path)
        what = (
            f"an earlier {found} folder, not a {kind} folder"
            if found
            else (f"not empty and not an earlier {kind} folder of pension-abm (no marker, see results/README.md)")
        )
        raise UserError(f"{what}; it is left as it is: choose a new or empty folder", file=given, field=option)
    _check_writable(path, kind, given, option)


def check_names(given: Path, option: str, staged: bool) -> None:
    """Refuse a path with a name longer than the file system holds (255 bytes on most), counting
    for the last one the temporary name it is built under if ``staged``."""
    limit = NAME_MAX
    for folder in (given.absolute(), *given.absolute().parents):  # the file system of the nearest existing folder
        try:
            limit = os.pathconf(folder, "PC_NAME_MAX")
            break
        except (OSError, ValueError):
            continue
    shown = _cut(str(given), 120)
    for part in given.parts:
        if len(os.fsencode(part)) > limit:
            raise UserError(
                f"the name {_cut(part)!r} is {len(os.fsencode(part)):,} bytes long; the file system "
                f"holds names of at most {limit} bytes",
                file=shown,
                field=option,
            )
    extra = len(os.fsencode(staging_name(""))) if staged else 0
    if len(os.fsencode(given.name)) + extra > limit:
        raise UserError(
            f"the name {_cut(given.name)!r} is {len(os.fsencode(given.name)):,} bytes long; at most "
            f"{limit - extra} here: it is written under a temporary name {extra} bytes longer first",
            file=shown,
            field=option,
        )


def _cut(text: str, keep: int = 40) -> str:
    """``text``, its middle cut out if it is longer than ``keep`` characters."""
    return text if len(text) <= keep else f"{text[: keep // 2]}...{text[-keep // 2 :]}"


def _check_writable(path: Path, kind: str, given: Path, option: str) -> None:
    """A run or comparison is staged beside its folder; a sweep, calibration or search writes inside it."""
    target = path if path.is_dir() and kind in ("sweep", "calibration", "search") else path.parent
    while not target.exists():
        target = target.parent
    if not target.is_dir():
        raise UserError(f"cannot be created: {target} is a file", file=given, field=option)
    try:
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as err:
        raise UserError(
            f"cannot be written: no file can be created in {target} ({err.strerror or err})", file=given, field=option
        ) from None


def check_file(out: Path, mark: str, option: str = "--out") -> Path:
    """Refuse ``out`` unless it is a new file or one the tool wrote before (its first line starts
    with ``mark``), in a place that can be written; returns it unchanged."""
    given = Path(out)
    if given.name in ("", ".", ".."):
        raise UserError("'.' and '..' are folders; name a file", file=given, field=option)
    check_names(given, option, staged=True)
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
            raise UserError(
                f"exists and was not written by this command (its first line does not start with "
                f"{mark!r}); it is left as it is: choose another file",
                file=given,
                field=option,
            )
    _check_writable(path, "run", given, option)
    return out
