"""Throughput of the classical pipeline beside a network's inference, in one run.

``python -m bench perf classical``: fits the ``rf`` method (recipe ``--profile``, default
``quick``) on the synthetic ``smoke`` train split, then times on one volume (the synthetic
``quick`` test split by default, 16x256x256 at 40x4x4 nm; ``--shape``/``--resolution`` give a
seeded random volume instead):

- ``features``: the filter bank alone (:func:`baselines.features.features_blockwise`);
- ``forest``: the random forest's ``predict_proba`` on those features alone;
- ``rf predict``: the whole method (features, forest, affinities), what a run measures;
- ``unet2d / cad student``: the CAD 2D student network's inference on the same volume, same
  device (randomly initialised: throughput does not depend on the weights).

Reported: the fastest of ``--repeats`` wall times, voxels/s, and the ratio to the network.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from bench.perf import add_output_arguments, emit, text_output
from bench.train.recipe import PROFILES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="quick", choices=PROFILES,
                        help="rf recipe (default quick)")
    parser.add_argument("--shape", type=int, nargs=3, default=None, metavar=("Z", "Y", "X"),
                        help="time on a seeded random volume of this shape instead of the "
                        "synthetic quick test split")
    parser.add_argument("--resolution", type=float, nargs=3, default=(40.0, 4.0, 4.0),
                        metavar=("Z", "Y", "X"), help="nm; decides 2D vs 3D filters "
                        "(default 40 4 4: per section)")
    parser.add_argument("--device", default="cpu", help="device of the network (default cpu)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs; fastest reported")
    add_output_arguments(parser)


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(args: argparse.Namespace) -> int:
    with text_output(args) as stdout:
        payload = _measure(args)
    emit(args, payload, stdout)
    return 0


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    import dataclasses

    from baselines.features import features_blockwise, filter_geometry
    from baselines.rf import recipe_sigmas
    from bench.data import load_dataset
    from bench.registry import create_method

    train = load_dataset("synthetic", profile="smoke").split("train").load()
    train = dataclasses.replace(train, resolution_nm=tuple(args.resolution))
    if args.shape:
        raw = np.random.default_rng(0).integers(0, 256, size=tuple(args.shape), dtype=np.uint8)
    else:
        raw = np.asarray(load_dataset("synthetic", profile="quick").split("test").raw[...])
    method = create_method("rf", profile=args.profile)
    t0 = time.perf_counter()
    method.fit(train)
    print(f"[rf] fitted in {time.perf_counter() - t0:.1f} s on synthetic smoke train "
          f"({method.n_parameters():,} forest nodes)", flush=True)
    geometry = filter_geometry(args.resolution)
    sigmas = recipe_sigmas(method.config, geometry)
    block_z = int(method.config["block_z"])
    feats = np.concatenate([f for _, _, f in features_blockwise(raw, sigmas, geometry, block_z)],
                           axis=1)
    x = feats.reshape(feats.shape[0], -1).T
    timings = {
        "features": _best(lambda: sum(1 for _ in features_blockwise(raw, sigmas, geometry,
                                                                     block_z)), args.repeats),
        "forest": _best(lambda: method.forest.predict_proba(x), args.repeats),
        "rf predict": _best(lambda: method.predict(raw), args.repeats),
    }
    # the network beside it: the CAD 2D student (bench.perf.infer builds and runs it)
    import torch

    from bench.device import resolve_device
    from bench.perf.infer import method_runner

    device = resolve_device(args.device)
    student, n_params, _, _ = method_runner("cad", device, False, raw.shape)
    with torch.inference_mode():
        student(raw[:2])  # warm-up
        timings["cad student (unet2d net)"] = _best(lambda: student(raw), args.repeats)
    net_s = timings["cad student (unet2d net)"]
    rows: list[dict[str, Any]] = [
        {"stage": k, "seconds": s, "voxels_per_s": raw.size / s, "vs_network": net_s / s}
        for k, s in timings.items()
    ]
    print(f"\nclassical throughput, volume {'x'.join(map(str, raw.shape))}, "
          f"{feats.shape[0]} features ({geometry.ndim}D), {method.config['n_estimators']} trees, "
          f"network on {device}, best of {args.repeats}")
    print(f"{'stage':<26}{'seconds':>10}{'voxels/s':>14}{'x network':>11}")
    for r in rows:
        print(f"{r['stage']:<26}{r['seconds']:>10.2f}{r['voxels_per_s']:>14,.0f}"
              f"{r['vs_network']:>11.2f}")
    return {"shape": list(raw.shape), "n_features": int(feats.shape[0]),
            "n_parameters_network": n_params, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
