"""``python -m bench perf train``: training speed alone and beside one busy CPU process.

Users run the benchmark on shared workstations, cluster nodes and CI runners. With OpenMP
threads that spin while waiting, one other busy process made a 2-thread training iteration five
times slower (3.3 s against 0.6 s); fair share on 2 cores is 2x. This benchmark measures, in one
run and on the same model, seconds per training iteration alone and beside a subprocess that
spins on one core, and prints the ratio (target: at most 2.5x).

Alone and busy phases alternate (alone, busy, alone, busy) so that drift of the machine or of
the model (e.g. the CAD step switching on distillation at ``start_ft``) does not favour either.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Any

from bench.threads import available_cores, set_threads, thread_settings

#: a process that keeps one core busy until killed
_SPIN = "while True:\n    pass\n"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default="unet2d", help="method to train (default: unet2d)")
    p.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"],
                   help="recipe and synthetic volume size (default: quick)")
    p.add_argument("--iters", type=int, default=6,
                   help="iterations per phase; 2 alone + 2 busy phases (default: 6)")
    p.add_argument("--threads", type=int, default=None,
                   help=f"torch threads (default: the cores available, now {available_cores()})")
    p.add_argument("--seed", type=int, default=0)


def training_step(method_name: str, profile: str, seed: int = 0):
    """The per-iteration callable of ``method_name``'s training loop on the synthetic volume of
    ``profile`` (set up exactly as ``fit`` does, without its checkpoints and logs)."""
    import numpy as np

    from bench.data import load_dataset
    from bench.registry import METHODS
    from bench.train.loop import make_adam, seed_everything
    from bench.train.sampler import PatchSampler, prepare_labels

    method = METHODS.create(method_name, profile=profile, device="cpu", seed=seed)
    if not hasattr(method, "make_step"):
        raise ValueError(f"method {method_name!r} has no iterative training loop to time")
    train = load_dataset("synthetic", profile=profile, seed=seed).split("train").load()
    rng = seed_everything(int(method.config["seed"]))
    for net in method.nets.values():
        net.to("cpu")
    labels = prepare_labels(train.labels, bool(method.config["widen_border"]))
    sampler = PatchSampler(np.asarray(train.raw), labels, rng)
    optimizer = make_adam(method.param_groups(), method.config)
    return method.make_step(optimizer, sampler, method.device)


def _time_steps(step, start: int, n: int) -> float:
    t0 = time.perf_counter()
    for it in range(start, start + n):
        step(it)
    return (time.perf_counter() - t0) / n


def measure(method: str = "unet2d", profile: str = "quick", iters: int = 6,
            threads: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Seconds per iteration alone and beside one busy process; see the module docstring."""
    if iters < 1:
        raise ValueError(f"--iters must be >= 1, got {iters}")
    set_threads(threads)
    step = training_step(method, profile, seed)
    step(0)  # first iteration: allocations and lazy initialisation, not timed
    it = 1
    alone, busy = [], []
    for _ in range(2):
        alone.append(_time_steps(step, it, iters))
        it += iters
        spinner = subprocess.Popen([sys.executable, "-c", _SPIN])
        try:
            time.sleep(0.3)  # let it reach the spin loop
            busy.append(_time_steps(step, it, iters))
            it += iters
        finally:
            spinner.kill()
            spinner.wait()
    s_alone, s_busy = sum(alone) / len(alone), sum(busy) / len(busy)
    return {"method": method, "profile": profile, "iters_per_phase": iters,
            "seconds_per_iter_alone": s_alone, "seconds_per_iter_busy": s_busy,
            "ratio": s_busy / s_alone, "phases_alone": alone, "phases_busy": busy,
            **thread_settings()}


def run(args: argparse.Namespace) -> int:
    r = measure(args.method, args.profile, args.iters, args.threads, args.seed)
    print(f"{r['method']} {r['profile']} training, {r['torch_threads']} torch threads "
          f"({r['available_cores']} cores available), OMP_WAIT_POLICY={r['omp_wait_policy']}")
    print(f"  alone:                  {r['seconds_per_iter_alone']:.3f} s/iter "
          f"({1 / r['seconds_per_iter_alone']:.2f} iter/s)")
    print(f"  beside 1 busy process:  {r['seconds_per_iter_busy']:.3f} s/iter "
          f"({1 / r['seconds_per_iter_busy']:.2f} iter/s)")
    print(f"  ratio busy/alone: {r['ratio']:.2f}x  (fair share on 2 cores: 2x; target <= 2.5x)")
    return 0
