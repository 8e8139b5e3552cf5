"""Worker processes that end with the command: a pool whose workers die with the main process,
leave Ctrl-C to it, and are stopped at once (not drained) when it is interrupted.

Ctrl-C reaches every process of the terminal's group; workers ignore it and the main process
decides. An interrupted pool cancels what has not started and terminates its workers, so a second
Ctrl-C has nothing to wait for. Each worker watches the main process and ends when it is gone,
after which the forkserver and the resource tracker end too: a SIGKILL of the main process leaves
nothing running.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import forkserver, resource_tracker

from abm.infra.errors import UserError
from abm.infra.memory import ADVICE

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent exits (no effect elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def watch(pid: int) -> None:
    """End this process (SIGKILL) as soon as process ``pid`` has exited, from a daemon thread.

    A pool's workers are children of the forkserver, which lives on as long as they do, so they
    watch the main process itself (a pidfd on Linux, else polled once a second)."""
    try:
        handle = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    except ProcessLookupError:
        os.kill(os.getpid(), signal.SIGKILL)
        return
    except OSError:  # no pidfd (old kernel): poll
        handle = None

    def wait() -> None:
        if handle is not None:
            select.select([handle], [], [])  # readable once the process has exited
        else:
            while alive(pid):
                time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=wait, name=f"watch-{pid}", daemon=True).start()


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (a zombie counts as existing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _initializer(main_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # (born blocked: see pool; one pending is dropped)
    watch(main_pid)


@contextmanager
def pool(workers: int, preload: list[str]) -> Iterator[ProcessPoolExecutor]:
    """A forkserver process pool of ``workers`` processes, with ``preload`` modules imported once.

    Leaving the block normally waits for the work submitted; leaving it by an exception (Ctrl-C,
    SIGTERM, an error) cancels the rest and terminates the workers.
    """
    context = multiprocessing.get_context("forkserver")  # safe with threads, unlike fork
    context.set_forkserver_preload(preload)
    # The forkserver starts with Ctrl-C blocked, so every worker it forks is born with it blocked until its
    # initializer ignores it: a Ctrl-C while a worker starts is not a KeyboardInterrupt inside the worker.
    # (The resource tracker is started first: starting it unblocks SIGINT, which its own start had blocked.)
    resource_tracker.ensure_running()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_initializer, initargs=(os.getpid(),)
    )
    try:
        yield executor
    except BrokenProcessPool:  # a worker killed: the kernel's out-of-memory killer, most often
        stop(executor)
        raise UserError(
            f"a worker process was killed (most often by the system, for lack of memory): {ADVICE}"
        ) from None
    except BaseException:
        stop(executor)
        raise
    executor.shutdown(wait=True)


def release_semaphores() -> None:
    """Before an exit that skips the interpreter's own (``os._exit``): unlink the semaphores of this
    process's pools as that exit would, so that the resource tracker has none left to warn about."""
    from multiprocessing import synchronize, util

    for finalizer in list(util._finalizer_registry.values()):  # (no public handle on them)
        if getattr(finalizer, "_callback", None) is synchronize.SemLock._cleanup:
            finalizer()


def stop(executor: ProcessPoolExecutor) -> None:
    """Cancel pending work and terminate the workers now; a Ctrl-C meanwhile is held until done."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        processes = list((executor._processes or {}).values())  # (no public handle on them)
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
