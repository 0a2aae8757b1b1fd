"""Peak memory and throughput of the blockwise pipeline (``python -m bench perf blockwise``).

Each measurement runs :func:`bench.blockwise.run_blockwise` in a fresh subprocess on a lazily
generated synthetic volume (:class:`bench.data.SyntheticArray`: raw is rendered block by block,
never whole), predicting with the network-free :data:`bench.blockwise.INTENSITY_PREDICTOR`
(``--predictor intensity``) or a registered method's untrained smoke network
(``--predictor unet2d`` etc.), then segmenting. The subprocess reports its peak resident memory
(``ru_maxrss``) and wall time; throughput is voxels of the volume per second over the whole
chain (raw generation, prediction, agglomeration, stitching, relabelling).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.perf import add_output_arguments, emit, text_output

_CHILD = """
import json, sys
from bench.perf.blockwise import _measure
print("RESULT " + json.dumps(_measure(json.loads(sys.argv[1]))))
"""


def _parse_shape(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.lower().split("x")]
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected a shape like 16x256x256, got {text!r}")
    return tuple(parts)  # type: ignore[return-value]


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one blockwise job (in the child process) and report time and peak memory."""
    from bench.blockwise import INTENSITY_PREDICTOR, run_blockwise
    from bench.data import SyntheticArray
    from bench.environment import peak_rss_mb

    if spec["predictor"] == "intensity":
        method: Any = INTENSITY_PREDICTOR
    else:
        from bench.registry import create_method

        method = create_method(spec["predictor"], profile="smoke")
    raw = SyntheticArray(tuple(spec["shape"]), "raw", seed=0)
    res = run_blockwise(method, raw, spec["out"], block_shape=tuple(spec["block_shape"]),
                        workers=spec["workers"], scheduler=spec["scheduler"], overwrite=True)
    return {**res, "peak_rss_mb": peak_rss_mb()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=_parse_shape, nargs="+",
                        default=[(16, 256, 256), (64, 256, 256)],
                        help="volume shapes ZxYxX to measure (default 16x256x256 64x256x256)")
    parser.add_argument("--block-shape", type=_parse_shape, default=(8, 128, 128),
                        help="block (= zarr chunk) shape ZxYxX (default 8x128x128)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to measure (default 1 2)")
    parser.add_argument("--scheduler", choices=("threads", "processes"), default="threads",
                        help="local Dask scheduler (default threads)")
    parser.add_argument("--predictor", default="intensity",
                        help="'intensity' (network-free) or a method name run with its smoke "
                        "profile, untrained (default intensity)")
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    with text_output(args) as stdout:
        rows = _measure_all(args)
    if rows is None:
        return 1
    emit(args, rows, stdout)
    return 0


def _measure_all(args: argparse.Namespace) -> list[dict] | None:
    """One row per (size, workers), each measured in a fresh process; None when one failed."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="blockwise-perf-") as tmp:
        for shape in args.sizes:
            for workers in args.workers:
                spec = {"shape": list(shape), "block_shape": list(args.block_shape),
                        "workers": workers, "scheduler": args.scheduler,
                        "predictor": args.predictor, "out": str(Path(tmp) / "out.zarr")}
                proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(spec)],
                                      capture_output=True, text=True)
                line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")),
                            None)
                if proc.returncode != 0 or line is None:
                    print(f"measurement {spec} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                    return None
                res = json.loads(line[len("RESULT "):])
                row = {"shape": "x".join(map(str, shape)), "voxels": int(res["shape"][0]
                       * res["shape"][1] * res["shape"][2]), "workers": workers,
                       "n_blocks": res["n_blocks"], "seconds": round(res["total_seconds"], 2),
                       "voxels_per_s": round(res["voxels_per_s"]),
                       "peak_rss_mb": round(res["peak_rss_mb"], 1)}
                rows.append(row)
                print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
