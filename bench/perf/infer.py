"""Inference throughput of the network methods on one volume and one device.

``python -m bench perf infer``: by default the CAD 2D student (section pairs, whole sections),
the superhuman 3D U-Net (official sliding window: the paper recipe's window and stride with the
CREMI/wafer4 padding, Gaussian blending) and the MALA valid-conv U-Net; any registered network
method can be named with ``--methods``. Each method is built through the registry
(:func:`bench.registry.create_method`) with its ``paper`` profile and the recipe's ``perf``
mapping on top (:meth:`bench.train.recipe_method.RecipeMethod.perf_overrides`), randomly initialised
(throughput does not depend on the weights), and runs its own ``predict`` on the same seeded
random uint8 volume. Reported: the fastest of ``--repeats`` wall times (run round-robin) of the
whole prediction (reading, padding, windows, blending and affinities included: what a user waits
for), voxels of the volume per second, and each method's slowdown relative to the student.

MALA needs 106 voxels of x/y context and 14 of z context around every output voxel. By default
it runs as one window: the smallest valid input whose output covers the whole volume (for
16x256x256: input 44x484x484 -> output 16x272x272, the volume reflect-padded around it).
``--mala-window official`` instead tiles the volume with EM-SliceCrafter's training window
53x268x268 -> 25x56x56 (many more forward passes and much more recomputed context).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from bench.device import resolve_device, synchronize
from bench.perf import add_output_arguments, emit, text_output
from bench.registry import METHODS as REGISTRY
from bench.registry import create_method

#: the methods timed by default: the student, its 3D teacher and MALA
METHODS = ("cad", "superhuman3d", "mala3d")
#: the method the others' slowdown is relative to
REFERENCE = "cad"


class Runner(NamedTuple):
    """A built method ready to time: ``fn(raw) -> affs`` and what the table shows of it."""

    fn: Callable[[np.ndarray], np.ndarray]
    n_parameters: int
    scheme: str
    warmup: bool


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shape", type=int, nargs=3, default=(16, 256, 256), metavar=("Z", "Y", "X"),
        help="volume shape (default 16 256 256, modest for a CPU)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda[:N]")
    parser.add_argument(
        "--methods", default=",".join(METHODS),
        help="comma-separated registered network methods (python -m bench list; default: "
             f"{', '.join(METHODS)})",
    )
    parser.add_argument(
        "--repeats", type=int, default=1,
        help="timed runs per method, round-robin; the fastest is reported",
    )
    parser.add_argument(
        "--mala-window", choices=("whole", "official"), default="whole",
        help="MALA tiling: one window covering the volume (default) or 53x268x268 windows",
    )
    parser.add_argument("--amp", action="store_true", help="float16 autocast on CUDA")
    parser.add_argument("--seed", type=int, default=0, help="seed of the volume and the weights")
    add_output_arguments(parser)


def timeable_methods() -> list[str]:
    """Registered methods that can be timed untrained: those with a recipe and its ``perf``
    overrides (:class:`bench.train.recipe_method.RecipeMethod`)."""
    return [e.name for e in REGISTRY.list() if callable(getattr(e.cls, "perf_overrides", None))]


def method_runner(
    name: str,
    device: torch.device,
    amp: bool = False,
    shape: tuple[int, int, int] = (16, 256, 256),
    options: dict[str, Any] | None = None,
) -> Runner:
    """Method ``name`` built through the registry for throughput: the ``paper`` profile, the
    class's ``perf_overrides(shape, options)``, ``device`` and ``amp``; untrained."""
    cls = REGISTRY.get(name).cls
    hook = getattr(cls, "perf_overrides", None)
    if not callable(hook):
        raise ValueError(f"--methods: {name!r} cannot be timed untrained (it has no recipe "
                         f"perf overrides); choose from {', '.join(timeable_methods())}")
    overrides = {**hook(tuple(int(s) for s in shape), dict(options or {})),
                 "device": str(device), "amp": bool(amp)}
    method = create_method(name, profile="paper", **overrides)
    describe = getattr(method, "describe_inference", None)
    scheme = describe() if callable(describe) else type(method).__name__
    return Runner(method.predict, int(method.n_parameters()), scheme,
                  bool(getattr(cls, "throughput_warmup", True)))


def run(args: argparse.Namespace) -> int:
    with text_output(args) as stdout:
        meta = _measure(args)
    emit(args, meta, stdout)
    return 0


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    methods = [m.strip() for m in str(args.methods).split(",") if m.strip()]
    valid = timeable_methods()
    unknown = sorted(set(methods) - set(valid))
    if unknown or not methods:
        raise ValueError(f"--methods: unknown {unknown}; choose from {', '.join(valid)}")
    shape = tuple(int(s) for s in args.shape)
    if min(shape) < 1:
        raise ValueError(f"--shape: sizes must be positive, got {shape}")
    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    device = resolve_device(args.device)
    raw = np.random.default_rng(args.seed).integers(0, 256, shape, dtype=np.uint8)
    voxels = int(np.prod(shape))
    # a small volume for warm-up (kernel selection, lazy initialisation), not timed
    warm = raw[: min(shape[0], 2), : min(shape[1], 64), : min(shape[2], 64)]

    runners: dict[str, Runner] = {}
    options = {"mala_window": args.mala_window}
    for name in methods:
        torch.manual_seed(args.seed)
        runners[name] = method_runner(name, device, args.amp, shape, options)
        print(f"[{name}] {runners[name].n_parameters:,} parameters; {runners[name].scheme}",
              flush=True)
        if runners[name].warmup:
            runners[name].fn(warm)

    # repeats go round-robin over the methods, so a change in machine load during the run
    # spreads over all of them instead of biasing the ratios
    times: dict[str, list[float]] = {name: [] for name in methods}
    for rep in range(args.repeats):
        for name in methods:
            synchronize(device)
            t0 = time.perf_counter()
            affs = runners[name].fn(raw)
            synchronize(device)
            times[name].append(time.perf_counter() - t0)
            if affs.shape != (3, *shape):
                raise RuntimeError(f"{name}: affinities {affs.shape}, expected (3, *{shape})")
            print(f"[{name}] run {rep + 1}: {times[name][-1]:.2f} s", flush=True)

    rows: list[dict[str, Any]] = []
    for name in methods:
        # the fastest run: on a shared machine other processes only ever add time
        seconds = min(times[name])
        rows.append({
            "method": name, "n_parameters": runners[name].n_parameters,
            "scheme": runners[name].scheme,
            "seconds": seconds, "seconds_all": times[name], "voxels_per_s": voxels / seconds,
        })

    ref = next((r for r in rows if r["method"] == REFERENCE), None)
    for r in rows:
        r["student_speedup"] = (ref["voxels_per_s"] / r["voxels_per_s"]) if ref else None
    _print_table(rows, shape, device)
    return {
        "shape_zyx": list(shape), "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "repeats": args.repeats, "amp": bool(args.amp and device.type == "cuda"),
        "mala_window": args.mala_window, "results": rows,
    }


def _print_table(rows: list[dict[str, Any]], shape: tuple[int, ...], device: torch.device) -> None:
    print(f"\ninference throughput, volume {shape[0]}x{shape[1]}x{shape[2]}, device {device}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'method':<14}{'params':>12}{'seconds':>10}{'voxels/s':>14}{'student x':>11}")
    for r in rows:
        speed = "" if r["student_speedup"] is None else f"{r['student_speedup']:.1f}"
        print(f"{r['method']:<14}{r['n_parameters']:>12,}{r['seconds']:>10.2f}"
              f"{r['voxels_per_s']:>14,.0f}{speed:>11}")
