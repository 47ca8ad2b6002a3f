"""How many CPU threads torch uses for evaluation on a CPU, chosen for the machine as it is.

torch starts one OpenMP thread per logical CPU, and an OpenMP thread waiting at a barrier
spins. On a shared machine the other threads of a parallel region are often descheduled, so
the waiting ones spin through their time slices: measured on a 2-core machine at load 12, the
same 16-question generate burnt 43-55 CPU s against 3-4 at load 1 (issue 23). The choice
here: the CPUs this process may run on (affinity), no more than the physical cores
(hyper-threads share the matrix units), less the load average's other runnable processes,
at least 1. `threads` (`--threads`) sets it outright.
"""

from __future__ import annotations

import os


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; cgroup quotas are not read)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def physical_cores() -> int | None:
    """Distinct (package, core) pairs in /proc/cpuinfo; None where that is not readable."""
    try:
        text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
    except OSError:
        return None
    cores, package = set(), "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            package = value.strip()
        elif key == "core id":
            cores.add((package, value.strip()))
    return len(cores) or None


def choose_threads(requested: int | None = None, load: float | None = None) -> int:
    """`requested` when given; else the usable cores less the other runnable processes (the
    1-minute load average, rounded), at least 1."""
    if requested:
        return requested
    cpus = min(available_cpus(), physical_cores() or available_cpus())
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cpus, int(cpus - load + 0.5)))


def apply_threads(requested: int | None = None) -> int:
    """Set torch's intra-op threads (inter-op: 1, where not yet fixed) and OMP/MKL_NUM_THREADS
    for child processes; returns the count."""
    import torch

    threads = choose_threads(requested)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first inter-op parallel work of the process
        pass
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    return threads
