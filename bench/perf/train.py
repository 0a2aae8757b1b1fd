"""``python -m bench perf train``: training speed alone and beside one busy CPU process.

Users run the benchmark on shared workstations, cluster nodes and CI runners. With OpenMP
threads that spin while waiting, one other busy process made a 2-thread training iteration five
times slower (3.3 s against 0.6 s); fair share on 2 cores is 2x. This benchmark measures, in one
run and on the same model, seconds per training iteration alone and beside a subprocess that
spins on one core, and prints the ratio (target: at most 2.5x).

Alone and busy phases alternate (alone, busy, alone, busy) so that drift of the machine or of
the model (e.g. the CAD step switching on distillation at ``start_ft``) does not favour either.

On ``--device cuda`` the same phases run on the GPU; beside the seconds per iteration the
benchmark reports the share of each iteration spent drawing and augmenting patches on the CPU
(the sampler's ``batch_3d``/``batch_2d`` calls) and the peak GPU memory of the step, which say
whether a GPU run is bound by its networks or by the CPU's data pipeline.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Any

from bench.threads import available_cores, set_threads, thread_settings
from bench.train.recipe import PROFILES

#: a process that keeps one core busy until killed
_SPIN = "while True:\n    pass\n"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default="unet2d", help="method to train (default: unet2d)")
    p.add_argument("--profile", default="quick", choices=PROFILES,
                   help="recipe and synthetic volume size (default: quick)")
    p.add_argument("--iters", type=int, default=6,
                   help="iterations per phase; 2 alone + 2 busy phases (default: 6)")
    p.add_argument("--threads", type=int, default=None,
                   help=f"torch threads (default: the cores available, now {available_cores()})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu",
                   help="cpu (default), cuda[:N] or auto (CUDA when present)")


def training_step(method_name: str, profile: str, seed: int = 0, device: str = "cpu",
                  clock: dict[str, float] | None = None):
    """The per-iteration callable of ``method_name``'s training loop on the synthetic volume of
    ``profile`` (set up exactly as ``fit`` does, without its checkpoints and logs), on
    ``device``. With ``clock``, the seconds spent in the patch sampler (drawing and augmenting
    the batches) accumulate in ``clock["sampling"]``."""
    import numpy as np

    from bench.data import load_dataset
    from bench.registry import METHODS
    from bench.train.loop import make_adam, seed_everything
    from bench.train.sampler import PatchSampler, prepare_labels

    method = METHODS.create(method_name, profile=profile, device=device, seed=seed)
    if not hasattr(method, "make_step"):
        raise ValueError(f"method {method_name!r} has no iterative training loop to time")
    train = load_dataset("synthetic", profile=profile, seed=seed).split("train").load()
    rng = seed_everything(int(method.config["seed"]))
    for net in method.nets.values():
        net.to(method.device)
    labels = prepare_labels(train.labels, bool(method.config["widen_border"]))
    sampler = PatchSampler(np.asarray(train.raw), labels, rng)
    if clock is not None:
        clock.setdefault("sampling", 0.0)
        for name in ("batch_3d", "batch_2d"):
            setattr(sampler, name, _clocked(getattr(sampler, name), clock))
    optimizer = make_adam(method.param_groups(), method.config)
    return method.make_step(optimizer, sampler, method.device)


def _clocked(fn, clock: dict[str, float]):
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock["sampling"] += time.perf_counter() - t0
    return timed


def _time_steps(step, start: int, n: int, device, clock: dict[str, float]
                ) -> tuple[float, float]:
    """Seconds per iteration and the share of them spent in the patch sampler."""
    from bench.device import synchronize

    synchronize(device)
    clock["sampling"] = 0.0
    t0 = time.perf_counter()
    for it in range(start, start + n):
        step(it)
    synchronize(device)  # queued GPU work belongs to these iterations
    seconds = time.perf_counter() - t0
    return seconds / n, clock["sampling"] / seconds


def measure(method: str = "unet2d", profile: str = "quick", iters: int = 6,
            threads: int | None = None, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Seconds per iteration alone and beside one busy process; see the module docstring."""
    import torch

    from bench.device import resolve_device

    if iters < 1:
        raise ValueError(f"--iters must be >= 1, got {iters}")
    dev = resolve_device(device)
    set_threads(threads)
    cuda = dev.type == "cuda"
    clock: dict[str, float] = {}
    step = training_step(method, profile, seed, str(dev), clock)
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    step(0)  # first iteration: allocations and lazy initialisation, not timed
    it = 1
    alone, busy, share_alone, share_busy = [], [], [], []
    for _ in range(2):
        seconds, share = _time_steps(step, it, iters, dev, clock)
        alone.append(seconds)
        share_alone.append(share)
        it += iters
        spinner = subprocess.Popen([sys.executable, "-c", _SPIN])
        try:
            time.sleep(0.3)  # let it reach the spin loop
            seconds, share = _time_steps(step, it, iters, dev, clock)
            busy.append(seconds)
            share_busy.append(share)
            it += iters
        finally:
            spinner.kill()
            spinner.wait()
    s_alone, s_busy = sum(alone) / len(alone), sum(busy) / len(busy)
    peak = torch.cuda.max_memory_allocated(dev) / 2**30 if cuda else None
    return {"method": method, "profile": profile, "device": str(dev), "iters_per_phase": iters,
            "seconds_per_iter_alone": s_alone, "seconds_per_iter_busy": s_busy,
            "ratio": s_busy / s_alone, "phases_alone": alone, "phases_busy": busy,
            "sampling_share_alone": sum(share_alone) / len(share_alone),
            "sampling_share_busy": sum(share_busy) / len(share_busy),
            "peak_gpu_memory_gib": peak, **thread_settings()}


def run(args: argparse.Namespace) -> int:
    r = measure(args.method, args.profile, args.iters, args.threads, args.seed, args.device)
    print(f"{r['method']} {r['profile']} training on {r['device']}, {r['torch_threads']} torch "
          f"threads "
          f"({r['available_cores']} cores available), OMP_WAIT_POLICY={r['omp_wait_policy']}")
    print(f"  alone:                  {r['seconds_per_iter_alone']:.3f} s/iter "
          f"({1 / r['seconds_per_iter_alone']:.2f} iter/s)")
    print(f"  beside 1 busy process:  {r['seconds_per_iter_busy']:.3f} s/iter "
          f"({1 / r['seconds_per_iter_busy']:.2f} iter/s)")
    print(f"  ratio busy/alone: {r['ratio']:.2f}x  (fair share: at most 2x, the thread that shares "
          f"a core with the busy process runs at half speed; target <= 2.5x)")
    print(f"  drawing and augmenting patches (CPU): {100 * r['sampling_share_alone']:.0f}% of "
          f"an iteration alone, {100 * r['sampling_share_busy']:.0f}% beside the busy process")
    if r["peak_gpu_memory_gib"] is not None:
        print(f"  peak GPU memory allocated: {r['peak_gpu_memory_gib']:.2f} GiB")
    return 0
