"""An ordered, bounded process pool: submit jobs, get results back in submission order.

At most 2 x workers jobs are in flight, so memory stays bounded however long the stream is
(Pool.imap would read the whole input ahead). With workers <= 1 jobs run inline, so the
single-process path is the same code and gives the same results.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable


class OrderedPool:
    """`with OrderedPool(fn, workers, init, initargs) as pool: pool.submit(job) -> [results...]`."""

    def __init__(self, fn: Callable[[Any], Any], workers: int = 1,
                 initializer: Callable[..., None] | None = None, initargs: tuple = ()):
        self.fn = fn
        self.workers = workers
        self.initializer = initializer
        self.initargs = initargs
        self.pool = None
        self.pending: deque = deque()

    def __enter__(self) -> "OrderedPool":
        if self.workers > 1:
            import multiprocessing as mp

            # Not plain fork: the caller (e.g. `collectivesft run`) may already have threads
            # (tokenizers, torch), and forking a threaded process can deadlock the child.
            method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
            self.pool = mp.get_context(method).Pool(self.workers, self.initializer, self.initargs)
        elif self.initializer is not None:
            self.initializer(*self.initargs)
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def submit(self, job: Any) -> list[Any]:
        """Queue one job; return the results of the jobs that are finished, in order."""
        if self.pool is None:
            return [self.fn(job)]
        self.pending.append(self.pool.apply_async(self.fn, (job,)))
        done = []
        while len(self.pending) > 2 * self.workers:
            done.append(self.pending.popleft().get())
        return done

    def finish(self) -> list[Any]:
        """Wait for every queued job; return their results in order."""
        done = [job.get() for job in self.pending]
        self.pending.clear()
        return done
