"""All-or-nothing writes: build under a temporary name, rename when complete.

Temporary names carry the host and process id (``.<name>.partial-<host>-<pid>``): a later write
to the same place removes those left by a process of this host that no longer runs (killed), and
never those of a process still writing. Temporary folders of the system's temporary directory
(:func:`temporary_folder`) are named and cleaned the same way.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from abm.infra.processes import alive

TAGS = ("partial", "old")


def _suffix() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def staging_name(name: str, tag: str = "partial") -> str:
    """The temporary name of ``name`` for this process."""
    return f".{name}.{tag}-{_suffix()}"


def clean_stale(folder: Path, name: str = "*") -> list[Path]:
    """Remove temporary files and folders in ``folder`` left by processes of this host that are gone
    (those of a temporary name for ``name``, a glob pattern, only)."""
    removed = []
    host = socket.gethostname()
    for tag in TAGS:
        for path in Path(folder).glob(f".{name}.{tag}-{host}-*"):
            pid = path.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not alive(int(pid)):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
    return removed


@contextmanager
def temporary_folder(prefix: str) -> Iterator[Path]:
    """A new folder in the system's temporary directory (``TMPDIR``), removed when the block ends.
    Named as staging folders are (``.<prefix><random>.partial-<host>-<pid>``), so that one left by a
    killed process is removed by the next call with the same prefix."""
    parent = Path(tempfile.gettempdir())
    clean_stale(parent, f"{prefix}*")
    with tempfile.TemporaryDirectory(prefix=f".{prefix}", suffix=f".partial-{_suffix()}", dir=parent) as path:
        yield Path(path)


@contextmanager
def folder(out: Path) -> Iterator[Path]:
    """Yield a staging folder that replaces ``out`` only if the block completes; a symbolic link
    ``out`` stands for its target, which is replaced (the link is kept).

    Whether ``out`` may be replaced is decided before (:func:`abm.infra.destinations.check`)."""
    out = Path(out).resolve() if Path(out).is_symlink() else Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out.parent)
    staging = out.parent / staging_name(out.name)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = out.parent / staging_name(out.name, "old")
    try:
        if out.exists():
            out.rename(old)
        staging.rename(out)
    except BaseException:  # the earlier folder back in place, no staging left
        if old.exists() and not out.exists():
            old.rename(out)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def files(out: Path) -> Iterator[Path]:
    """Yield a staging folder inside ``out`` whose files, once the block completes, replace their
    namesakes in ``out`` together (same relative paths); nothing else in ``out`` is touched, and a
    failure inside the block leaves ``out`` as it was."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean_stale(out)
    staging = out / staging_name(out.name)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        written = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
        for relative in written:
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
        for relative in written:  # renames only, one after the other: nothing left to fail between them
            (staging / relative).replace(out / relative)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_text(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path.parent)
    staging = path.with_name(staging_name(path.name))
    try:
        staging.write_text(text, encoding="utf-8")
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)
    return path
