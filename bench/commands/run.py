"""``python -m bench run``: train, predict, post-process, evaluate and record methods."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import yaml

from bench.registry import METHODS
from bench.train.recipe import parse_value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="train and evaluate methods under identical splits",
        description="Load a dataset and its frozen split, train each method (or load a "
        "checkpoint), predict validation and test, choose post-processing parameters on "
        "validation, evaluate test, and record the rows in the results database.",
    )
    p.add_argument("--method", action="append", default=None,
                   help="method name (repeatable or comma separated; 'all' for every one)")
    p.add_argument("--dataset", default="synthetic", help="dataset name (default: synthetic)")
    p.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"],
                   help="training recipe size (default: quick)")
    p.add_argument("--postprocess", default="waterz",
                   help="comma separated post-processors (default: waterz)")
    p.add_argument("--data-root", default=None, help="folder with the real datasets")
    p.add_argument("--checkpoint", default=None, help="load these weights instead of training")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--config", action="append", default=[], metavar="YAML",
                   help="recipe overrides from a YAML file (key: value), or the official CAD "
                   "configs: --config 2d_....yaml [--config 3d_....yaml] (applied before --set)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. --set iterations=200 (repeatable)")
    p.add_argument("--blockwise", action="store_true",
                   help="predict/segment/evaluate the test split block by block into zarr")
    p.add_argument("--block-shape", default="16,512,512", help="z,y,x block size (blockwise)")
    p.add_argument("--workers", type=int, default=1, help="local workers (blockwise)")
    p.add_argument("--scheduler-address", default=None,
                   help="dask.distributed scheduler, e.g. tcp://host:8786 (blockwise)")
    p.add_argument("--resume", default=None, metavar="RUN_ID",
                   help="continue an interrupted run from its run directory")
    p.set_defaults(func=main)


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value)
    return out


def config_overrides(files: list[str]) -> dict:
    """Recipe overrides from ``--config`` files: the official CAD pair or plain YAML mappings."""
    from pathlib import Path

    from cad.official_config import looks_official, official_overrides

    if not files:
        return {}
    official = [f for f in files if looks_official(f)]
    if official:
        if len(official) != len(files) or len(official) > 2:
            raise ValueError("--config: give the official 2D config, optionally followed by the "
                             f"official 3D config, and nothing else; got {files}")
        overrides, info = official_overrides(*official)
        for key, why in info["ignored"].items():
            logging.getLogger(__name__).info("official config %s ignored: %s", key, why)
        return overrides
    out: dict = {}
    for f in files:
        doc = yaml.safe_load(Path(f).read_text())
        if not isinstance(doc, dict):
            raise ValueError(f"--config {f}: expected a YAML mapping of recipe keys")
        out.update(doc)
    return out


def expand_methods(values: list[str] | None) -> list[str]:
    names = [n.strip() for v in (values or ["cad"]) for n in v.split(",") if n.strip()]
    if "all" in names:
        return METHODS.names()
    for name in names:
        METHODS.get(name)  # raises with the valid names
    return names


def main(args: argparse.Namespace) -> int:
    from bench.pipeline import RunSpec, load_spec, run
    from bench.results import ResultsStore
    from bench.table import format_rows

    store = ResultsStore(args.results)
    outcomes = []
    if args.resume:
        spec = load_spec(store.run_dir(args.resume))
        outcomes.append(run(spec, store, run_id=args.resume))
    else:
        for name in expand_methods(args.method):
            spec = RunSpec(
                method=name, dataset=args.dataset, profile=args.profile,
                postprocess=[p.strip() for p in args.postprocess.split(",") if p.strip()],
                data_root=args.data_root, checkpoint=args.checkpoint, device=args.device,
                seed=args.seed,
                overrides={**config_overrides(args.config), **parse_overrides(args.overrides)},
                blockwise=args.blockwise,
                block_shape=[int(v) for v in args.block_shape.split(",")],
                workers=args.workers, scheduler_address=args.scheduler_address,
            )
            outcomes.append(run(spec, store))
    rows = [r for o in outcomes for r in o.rows]
    print(format_rows(rows))
    for o in outcomes:
        print(f"run directory: {Path(o.run_dir)}")
    print(f"results database: {store.db_path}  (python -m bench report --results {args.results})")
    return 0
