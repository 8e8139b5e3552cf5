"""Progress bars, drawn at their first update."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def bar(*columns, console=None, **task) -> Iterator[Callable[..., None]]:
    """``update(**fields)`` of a rich progress bar of ``columns`` with one task (``task``: its
    description, total and fields), drawn at its first update, so that a command refused by a check
    before its work starts leaves no empty bar behind.

    Args:
        console: the rich Console it draws on (default: rich's, on standard output).
    """
    from rich.progress import Progress

    progress, started = Progress(*columns, console=console), []

    def update(**fields) -> None:
        if not started:
            started.append(progress.add_task(task.pop("description", ""), **task))
            progress.start()
        progress.update(started[0], **fields)

    try:
        yield update
    finally:
        progress.stop()
