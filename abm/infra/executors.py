"""Where work runs: one executor interface for this process, a local pool of processes, or a Dask cluster.

Replications, sweeps, scenario effects and the calibration submit their work to the executor
:func:`executor` yields, a :class:`concurrent.futures.Executor` in every case (``submit``, ``map``,
and futures that :func:`concurrent.futures.as_completed` accepts), so none of them knows where its
work runs. Results never depend on the executor: every task carries its own seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, as_completed
from contextlib import contextmanager

from abm.infra import processes
from abm.infra.errors import UserError


class InProcess(Executor):
    """Runs each task in this process when it is submitted (no pool to start or stop)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # the task's error, raised by result() as a pool's would be
            future.set_exception(err)
        return future

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Lazily, in order, as the builtin ``map``: a task runs when its result is asked for."""
        return map(fn, *iterables)


@contextmanager
def executor(workers: int = 1, scheduler: str | None = None, preload: Sequence[str] = ()) -> Iterator[Executor]:
    """The executor of a command's work.

    Args:
        workers: processes on this machine; 1 runs the work in this process.
        scheduler: a Dask scheduler's address (tcp://host:port): the work runs on its cluster
            (``Client.get_executor``), and ``workers`` is not used.
        preload: modules a local pool's processes import once, before their first task.

    Leaving the block by an exception (Ctrl-C, SIGTERM, an error) stops a local pool's workers
    at once (:func:`abm.infra.processes.pool`).
    """
    if scheduler:
        try:
            from distributed import Client

            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise UserError(f"cannot reach the Dask scheduler ({err})", field="--scheduler") from None
        with client:
            yield client.get_executor(pure=False)
        return
    if workers <= 1:
        yield InProcess()
        return
    with processes.pool(workers, list(preload)) as pool:
        yield pool


def as_finished(pool: Executor, fn: Callable, items: Iterable, *args) -> Iterator:
    """``fn(*args, item)`` of every item, yielded as each finishes (in completion order).

    On a pool or a cluster every item is submitted at once; in this process (:class:`InProcess`) each
    runs when its result is asked for, so a caller writing each result before asking for the next
    loses nothing finished when it is interrupted.
    """
    if isinstance(pool, InProcess):
        yield from (fn(*args, item) for item in items)
        return
    futures = [pool.submit(fn, *args, item) for item in items]
    for future in as_completed(futures):
        yield future.result()
