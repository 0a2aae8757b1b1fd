"""Data-parallel training of any registered method with PyTorch DDP, launched by ``torchrun``.

::

    # one machine, 2 processes on CPU (gloo) or 2 GPUs (nccl)
    python -m torch.distributed.run --nproc_per_node 2 -m bench.train.ddp \\
        --method unet2d --profile smoke --run-dir runs/ddp
    # two machines, 4 GPUs each (run on both; node 0 hosts the rendezvous)
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv_backend c10d \\
        --rdzv_endpoint node0:29500 -m bench.train.ddp --method cad --profile paper ...

How it wraps the method without changing its training code: the method's networks
(``method.nets``) are replaced by :class:`torch.nn.parallel.DistributedDataParallel` wrappers
before ``method.make_step`` builds its step, so the step's forward passes go through DDP and
its ``loss.backward()`` all-reduces (averages) the gradients; every rank then takes the same
optimiser step. Sampling is sharded by seeding each rank's patch sampler with ``(seed, rank)``:
ranks draw different patches, so the effective batch is ``world_size x`` the recipe's batch.
Initial weights are identical (same seed; DDP also broadcasts rank 0's at wrap time) and
BatchNorm buffers are broadcast from rank 0 at every forward (DDP default) and once more at the
end (no SyncBatchNorm, which gloo/CPU does not support).

The loop is :func:`bench.train.loop.run_training` (resumable): rank 0 checkpoints into
``--run-dir``, rank r > 0 into ``--run-dir/rank<r>`` (its own RNG state), and rank 0 writes the
final weights ``model.pt`` (loadable by ``method.load``) and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from bench.data import generate_synthetic
from bench.registries import METHODS
from bench.train.loop import make_adam, run_training, seed_everything
from bench.train.recipe_method import RecipeMethod
from bench.train.sampler import PatchSampler, prepare_labels


def _parse_shape(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.lower().split("x")]
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected a shape like 16x128x128, got {text!r}")
    return tuple(parts)  # type: ignore[return-value]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, help="registered method name (e.g. unet2d)")
    parser.add_argument("--profile", default="smoke", help="recipe profile (default smoke)")
    parser.add_argument("--run-dir", type=Path, required=True, help="checkpoints and weights")
    parser.add_argument("--iters", type=int, default=None, help="override the recipe's iters")
    parser.add_argument("--batch", type=int, default=None,
                        help="override the per-rank batch (batch_2d for 2D nets, batch_3d else)")
    parser.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
    parser.add_argument("--shape", type=_parse_shape, default=(16, 96, 96),
                        help="training volume: synthetic phantom of this ZxYxX (default 16x96x96)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic volume")
    parser.add_argument("--backend", choices=("auto", "gloo", "nccl"), default="auto",
                        help="process group backend (auto: nccl with CUDA, else gloo)")
    parser.add_argument("--save-every-rank", action="store_true",
                        help="every rank writes model_rank<r>.pt (to check they agree)")


def _overrides(args: argparse.Namespace, family: str) -> dict[str, Any]:
    over: dict[str, Any] = {"device": "cpu"}
    if args.iters is not None:
        over["iters"] = args.iters
    if args.seed is not None:
        over["seed"] = args.seed
    if args.batch is not None:
        over["batch_2d" if family == "2d" else "batch_3d"] = args.batch
    return over


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run this rank's part of the DDP training (the process group must be initialised)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = dist.get_backend() == "nccl"
    device = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    family = METHODS.get(args.method).family
    over = _overrides(args, family)
    over["device"] = str(device)
    method = METHODS.create(args.method, profile=args.profile, **over)
    if not isinstance(method, RecipeMethod):
        raise TypeError(f"method {args.method!r} is not a "
                        "bench.train.recipe_method.RecipeMethod; DDP training needs its nets "
                        "and make_step")
    cfg = method.config
    seed_everything(int(cfg["seed"]))  # identical initial weights on every rank
    nets = method.nets  # the method's own dict: its make_step reads the networks from it
    fresh = method.build_nets()  # built after seeding, as RecipeMethod.fit does
    inner = {k: m.to(device) for k, m in fresh.items()}
    for k, m in inner.items():
        nets[k] = DDP(m, device_ids=[local_rank] if use_cuda else None)
    vol = generate_synthetic(args.shape, seed=args.data_seed)
    labels = prepare_labels(vol.labels, bool(cfg["widen_border"]))
    # sharded sampling: each rank draws its own patches
    rng = np.random.default_rng([int(cfg["seed"]), rank])
    sampler = PatchSampler(np.asarray(vol.raw), labels, rng)
    optimizer = make_adam(method.param_groups(), cfg)
    run_dir = Path(args.run_dir) if rank == 0 else Path(args.run_dir) / f"rank{rank}"
    result = run_training(
        run_dir=run_dir, modules=inner, optimizer=optimizer, rng=rng,
        step_fn=method.make_step(optimizer, sampler, device), columns=method.columns,
        iters=int(cfg["iters"]), checkpoint_every=int(cfg["checkpoint_every"]),
        log_every=int(cfg["log_every"]), desc=f"{args.method}[rank {rank}]",
        show_progress=False,
    )
    for k, m in inner.items():  # unwrap for saving / inference
        nets[k] = m
        # DDP broadcasts buffers at the start of each forward; the last forward then updated
        # every rank's BatchNorm statistics on its own batch: make rank 0's the final ones
        for buf in m.buffers():
            dist.broadcast(buf, src=0)
    summary = {"method": args.method, "profile": args.profile, "world_size": world,
               "backend": dist.get_backend(), **result}
    if args.save_every_rank:
        method.save(Path(args.run_dir) / f"model_rank{rank}.pt")
    if rank == 0:
        method.save(Path(args.run_dir) / "model.pt")
        (Path(args.run_dir) / "summary.json").write_text(json.dumps(summary, indent=2,
                                                                    default=float))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m torch.distributed.run --nproc_per_node N -m bench.train.ddp",
        description="DDP training of a registered method (launch with torchrun)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        parser.error("RANK/WORLD_SIZE are not set: launch with torchrun "
                     "(python -m torch.distributed.run --nproc_per_node N -m bench.train.ddp)")
    backend = args.backend
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    # a program's entry: the registry with the built-in methods in it (the one import from this
    # layer upwards, named in pyproject.toml's contracts)
    import bench.registry  # noqa: F401

    dist.init_process_group(backend)
    try:
        summary = train(args)
        if dist.get_rank() == 0:
            print(json.dumps({k: summary[k] for k in ("world_size", "backend", "step",
                                                      "last")}, default=float))
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
