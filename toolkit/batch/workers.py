"""Run one function per client, each in a process of its own, at most ``jobs`` at a time.

A process per client (forked where the system allows, so nothing but the result is
copied) keeps each client apart: a crash, a memory error or a stuck file in one
client ends that process only, and its memory goes back to the system when the
client is done. The result comes back through a pipe; a process that ends without
sending one is reported through ``failed``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_each(
    items: Sequence[T],
    work: Callable[[T], R],
    failed: Callable[[T, str], R],
    jobs: int,
    done: Callable[[int, R], None] | None = None,
) -> list[R]:
    """``work(item)`` for every item in worker processes, results in the items' order.

    ``failed(item, reason)`` stands for the result of a worker that ended without one
    (killed, out of memory) or of an item not started because of Ctrl-C. ``done`` is
    told of each result as it comes.
    """
    context = _context()
    results: dict[int, R] = {}
    waiting = deque(enumerate(items))
    running: dict[Connection, tuple[int, Any]] = {}
    interrupted = False
    while waiting or running:
        while waiting and len(running) < max(1, jobs) and not interrupted:
            index, item = waiting.popleft()
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_work_in_child, args=(work, failed, item, writer), name=f"client-{index}")
            process.start()
            writer.close()
            running[reader] = (index, process)
        if interrupted:
            for index, item in waiting:
                results[index] = failed(item, "not started: the batch was interrupted")
            waiting.clear()
        try:
            ready = wait(list(running))
        except KeyboardInterrupt:
            interrupted = True  # every worker got the Ctrl-C too; collect what they report
            continue
        for ready_reader in ready:
            reader = cast(Connection, ready_reader)
            index, process = running.pop(reader)
            results[index] = _collect(reader, process, items[index], failed)
            if done is not None:
                done(index, results[index])
    return [results[i] for i in range(len(items))]


def _collect(reader: Connection, process: Any, item: Any, failed: Callable[[Any, str], Any]) -> Any:
    try:
        result = reader.recv()
    except (EOFError, OSError):
        result = None
    reader.close()
    process.join()
    if result is None:
        code = process.exitcode
        how = f"was stopped by signal {-code}" if code is not None and code < 0 else f"ended (exit status {code})"
        result = failed(item, f"the worker process {how} before finishing; run the command again for this client")
    return result


def _work_in_child(work: Callable[[Any], Any], failed: Callable[[Any, str], Any], item: Any, conn: Connection) -> None:
    try:
        result = work(item)
    except KeyboardInterrupt:
        result = failed(item, "interrupted")
    except Exception as exc:  # a bug in one client's run must not stop the others
        result = failed(item, f"internal error ({type(exc).__name__}: {exc}); please report it")
    try:
        conn.send(result)
        conn.close()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        # As the command does: the objects of the run are reclaimed with the process, not one by one.
        os._exit(0)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)
