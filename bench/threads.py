"""CPU thread settings chosen on purpose, so a run on a shared machine does not collapse.

PyTorch's OpenMP threads spin while they wait for work (``OMP_WAIT_POLICY=ACTIVE`` behaviour);
beside another busy process the spinning threads steal the cores the working ones need, and a
training iteration on 2 shared cores took 5x longer than with a passive wait. The passive policy
must be in the environment before the OpenMP runtime starts (when torch is first imported), so
the command-line entry point calls :func:`passive_wait_policy` before importing anything else.
"""

from __future__ import annotations

import os

#: the variable OpenMP runtimes read once, at start-up
WAIT_POLICY_VAR = "OMP_WAIT_POLICY"


def passive_wait_policy() -> None:
    """Ask OpenMP to sleep, not spin, while idle (a value the user set is kept)."""
    os.environ.setdefault(WAIT_POLICY_VAR, "PASSIVE")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a cluster job's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows have no affinity call
        return os.cpu_count() or 1


def set_threads(n: int | None) -> int:
    """Use ``n`` torch intra-op threads (default: :func:`available_cores`); return the count."""
    import torch

    n = available_cores() if n is None else int(n)
    if n < 1:
        raise ValueError(f"--threads must be >= 1, got {n}")
    torch.set_num_threads(n)
    return n


def thread_settings() -> dict[str, object]:
    """What ``environment.json`` records about threads."""
    import torch

    return {
        "torch_threads": torch.get_num_threads(),
        "available_cores": available_cores(),
        "omp_wait_policy": os.environ.get(WAIT_POLICY_VAR),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
