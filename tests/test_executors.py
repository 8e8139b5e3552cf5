"""The one executor interface: this process, a local pool, the same results in the same order."""

from __future__ import annotations

from concurrent.futures import as_completed

import pytest

from abm.infra.errors import UserError
from abm.infra.executors import InProcess, executor


def square(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return x * x


def test_in_process_runs_each_task_when_asked_and_keeps_errors_for_result():
    with executor(1) as ex:
        assert isinstance(ex, InProcess)
        assert list(ex.map(square, range(5))) == [0, 1, 4, 9, 16]
        bad = ex.submit(square, -1)
        assert bad.done() and isinstance(bad.exception(), ValueError)
        with pytest.raises(ValueError):
            bad.result()
        assert sorted(f.result() for f in as_completed([ex.submit(square, i) for i in range(3)])) == [0, 1, 4]


@pytest.mark.slow
def test_a_local_pool_gives_the_same_results_in_order():
    with executor(2, preload=["tests.test_executors"]) as ex:
        assert not isinstance(ex, InProcess)
        assert list(ex.map(square, range(6))) == [x * x for x in range(6)]


def test_an_unreachable_scheduler_is_one_message():
    with pytest.raises(UserError, match="cannot reach the Dask scheduler"), executor(scheduler="tcp://127.0.0.1:9"):
        pass
