"""``python -m bench score``: put predictions made elsewhere on the leaderboard."""

from __future__ import annotations

import argparse

from bench.train.recipe import PROFILES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score affinities or a segmentation computed elsewhere (family 'external')",
        description="Post-process and evaluate predictions of a method run outside this harness "
        "on a dataset's frozen split: the same split check, validation-chosen post-processing "
        "and metrics as 'run'. Affinities: HDF5 with val/affs and test/affs, float32 "
        "(3, Z, Y, X), the layout of a run's predictions.h5. Segmentation: HDF5 with test/seg.",
    )
    p.add_argument("--dataset", required=True, help="dataset name (as for 'run')")
    p.add_argument("--name", required=True,
                   help="the method's name on the leaderboard: 1-64 letters, digits, '.', '_', "
                   "'-', not a registered method's name")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--affinities", metavar="FILE.h5", help="val/affs and test/affs")
    what.add_argument("--segmentation", metavar="FILE.h5", help="test/seg, scored as given")
    p.add_argument("--postprocess", default="waterz",
                   help="comma separated post-processors for --affinities (default: waterz)")
    p.add_argument("--profile", default="quick", choices=PROFILES,
                   help="dataset size profile, as the predictions were made (default: quick)")
    p.add_argument("--data-root", default=None, help="folder with the real datasets")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (synthetic data)")
    p.add_argument("--n-parameters", type=int, default=0,
                   help="the method's parameter count, if known (default 0: unknown)")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from bench.external import score_affinities, score_segmentation
    from bench.results import ResultsStore
    from bench.text_tables import format_rows

    store = ResultsStore(args.results)
    common = dict(profile=args.profile, data_root=args.data_root, seed=args.seed,
                  n_parameters=args.n_parameters)
    if args.affinities:
        postprocess = [p.strip() for p in args.postprocess.split(",") if p.strip()]
        outcome = score_affinities(args.dataset, args.name, args.affinities, store,
                                   postprocess=postprocess, **common)
    else:
        outcome = score_segmentation(args.dataset, args.name, args.segmentation, store, **common)
    print(format_rows(outcome.rows))
    print(f"run directory: {outcome.run_dir}")
    return 0
