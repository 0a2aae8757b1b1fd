"""Inference throughput of the three network families on one volume and one device.

``python -m bench perf infer``: the CAD 2D student (section pairs, whole sections), the
superhuman 3D U-Net (official sliding window: 18x160x160, stride (15,80,80), pad (4,15,15),
Gaussian blending) and the MALA valid-conv U-Net, all randomly initialised (throughput does not
depend on the weights), on the same seeded random uint8 volume. Reported: the fastest of
``--repeats`` wall times (run round-robin) of the whole prediction (reading, padding, windows,
blending and affinities included: what a user waits for), voxels of the volume per second, and
each 3D network's slowdown relative to the student.

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
from typing import Any

import numpy as np
import torch

from bench.device import resolve_device
from bench.infer import (
    embedding_affinity_fn,
    embedding_volume_affinities,
    predict_section_pairs,
    predict_sliding_window,
)
from bench.nets.unet3d import MalaUNet3D, SuperhumanUNet3D
from bench.nets.ynet import YNetStudent
from bench.perf import add_output_arguments, emit, text_output

METHODS = ("cad", "superhuman3d", "mala3d")

#: the official 3D sliding-window protocol (docs/cad.md section 7, CREMI/wafer4 padding)
SH_WINDOW = (18, 160, 160)
SH_STRIDE = (15, 80, 80)
SH_PAD = (4, 15, 15)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shape", type=int, nargs=3, default=(16, 256, 256), metavar=("Z", "Y", "X"),
        help="volume shape (default 16 256 256, modest for a CPU)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda[:N]")
    parser.add_argument(
        "--methods", default=",".join(METHODS),
        help=f"comma-separated subset of {', '.join(METHODS)} (default: all)",
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


def _student_runner(device: torch.device, amp: bool) -> tuple[Callable, int, str]:
    net = YNetStudent()

    def run(raw: np.ndarray) -> np.ndarray:
        return predict_section_pairs(net, raw, tile=None, device=device, amp=amp)

    return run, _n_params(net), "section pairs (z-1, z), whole sections"


def _superhuman_runner(device: torch.device, amp: bool) -> tuple[Callable, int, str]:
    net = SuperhumanUNet3D()
    fn = embedding_affinity_fn(net)

    def run(raw: np.ndarray) -> np.ndarray:
        return predict_sliding_window(
            fn, raw, out_channels=3, window=SH_WINDOW, stride=SH_STRIDE, pad=SH_PAD,
            blend="gaussian", device=device, amp=amp,
        )

    how = f"window {SH_WINDOW}, stride {SH_STRIDE}, pad {SH_PAD}, gaussian blend"
    return run, _n_params(net), how


def _mala_runner(
    device: torch.device, amp: bool, shape: tuple[int, int, int], mode: str
) -> tuple[Callable, int, str]:
    net = MalaUNet3D()
    if mode == "official":
        window = MalaUNet3D.default_input_shape
    else:
        window = MalaUNet3D.input_shape_for(shape)
    out_window = MalaUNet3D.output_shape(window)

    def run(raw: np.ndarray) -> np.ndarray:
        # non-overlapping valid windows stitch into the exact full-volume embedding; the
        # affinities are then computed once, without window seams
        emb = predict_sliding_window(
            net, raw, out_channels=net.emb_ch, window=window, output_window=out_window,
            stride=out_window, pad=0, blend="mean", device=device, amp=amp,
        )
        return embedding_volume_affinities(emb, device=device)

    how = (f"valid windows {window} -> {out_window}, no overlap, reflect context, "
           "stitched embedding -> affinities")
    return run, _n_params(net), how


def _n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(args: argparse.Namespace) -> int:
    with text_output(args) as stdout:
        meta = _measure(args)
    emit(args, meta, stdout)
    return 0


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    methods = [m.strip() for m in str(args.methods).split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ValueError(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
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

    runners: dict[str, tuple[Callable, int, str]] = {}
    for name in methods:
        torch.manual_seed(args.seed)
        if name == "cad":
            runners[name] = _student_runner(device, args.amp)
        elif name == "superhuman3d":
            runners[name] = _superhuman_runner(device, args.amp)
        else:
            runners[name] = _mala_runner(device, args.amp, shape, args.mala_window)
        print(f"[{name}] {runners[name][1]:,} parameters; {runners[name][2]}", flush=True)
        if name != "mala3d":  # a MALA warm-up would cost as much as a measurement
            runners[name][0](warm)

    # repeats go round-robin over the methods, so a change in machine load during the run
    # spreads over all of them instead of biasing the ratios
    times: dict[str, list[float]] = {name: [] for name in methods}
    for rep in range(args.repeats):
        for name in methods:
            _sync(device)
            t0 = time.perf_counter()
            affs = runners[name][0](raw)
            _sync(device)
            times[name].append(time.perf_counter() - t0)
            if affs.shape != (3, *shape):
                raise RuntimeError(f"{name}: affinities {affs.shape}, expected (3, *{shape})")
            print(f"[{name}] run {rep + 1}: {times[name][-1]:.2f} s", flush=True)

    rows: list[dict[str, Any]] = []
    for name in methods:
        # the fastest run: on a shared machine other processes only ever add time
        seconds = min(times[name])
        rows.append({
            "method": name, "n_parameters": runners[name][1], "scheme": runners[name][2],
            "seconds": seconds, "seconds_all": times[name], "voxels_per_s": voxels / seconds,
        })

    ref = next((r for r in rows if r["method"] == "cad"), None)
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
