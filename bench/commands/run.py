"""``python -m bench run``: train, predict, post-process, evaluate and record methods."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import yaml

from bench.threads import available_cores
from bench.train.recipe import PROFILES

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="train and evaluate methods under identical splits",
        description="Load a dataset and its frozen split, train each method (or load a "
        "checkpoint), predict validation and test, choose post-processing parameters on "
        "validation, evaluate test, and record the rows in the results database.",
    )
    data = p.add_argument_group("data")
    training = p.add_argument_group("training")
    post = p.add_argument_group("post-processing")
    blockwise = p.add_argument_group("blockwise (volumes beyond memory)")
    output = p.add_argument_group("output and resuming")
    training.add_argument("--method", action="append", default=None,
                          help="method name (repeatable or comma separated; 'all' for every "
                          "method, the controls excepted; 'controls' for the null controls "
                          "that need no other run, and rolled/shuffled too with --source-run)")
    training.add_argument("--source-run", default=None, metavar="RUN_ID",
                          help="the run whose affinities the rolled and shuffled controls "
                          "translate (a run id in --results, or a run directory); given only "
                          "to the methods that read another run")
    data.add_argument("--dataset", default=None, help="dataset name, suite name (e.g. "
                      "real-small: every dataset of it in turn; bench data list) or file spec "
                      "path.h5:raw_key:labels_key (default: synthetic)")
    training.add_argument("--profile", default=None, choices=PROFILES,
                          help="training recipe size (default: quick)")
    post.add_argument("--postprocess", default=None,
                      help="comma separated post-processors (default: waterz)")
    data.add_argument("--data-root", default=None, help="folder with the real datasets "
                      "(default: $EMSEG_BENCH_DATA, else the user cache folder 'bench data "
                      "fetch' fills)")
    training.add_argument("--checkpoint", default=None,
                          help="load these weights instead of training: a file, or "
                          "official:wafer4|CremiA|CremiB|CremiC|AC34 (the CAD authors' weights, "
                          "fetched into the data root and checksum-verified)")
    training.add_argument("--device", default="auto",
                          help="auto (CUDA when present), cpu, cuda:N")
    training.add_argument("--seed", type=int, default=None,
                          help="training seed (default: 0): weights, sampling, augmentation; the "
                          "same run as the seed's run in --seeds")
    data.add_argument("--phantom-seed", type=int, default=None, metavar="N",
                      help="the synthetic phantom's generator seed (default: 0); recorded in "
                      "every row beside the training seed")
    training.add_argument("--seeds", default=None, metavar="LIST",
                          help="a study over seeds, e.g. 0-4 or 0,3,7: every (method, seed) "
                          "under the same split, resumable as a whole (finished ones are "
                          "skipped)")
    training.add_argument("--yes", action="store_true",
                          # bench.study.CONFIRM_SEEDS_ABOVE (not imported: it loads the pipeline)
                          help="confirm a study of more than 100 seeds (--seeds asks for it)")
    training.add_argument("--trust-pickle", action="store_true",
                          help="let the default Method.save/load use plain pickle, for an outside "
                          "method of your own whose attributes the safe format cannot hold; a "
                          "pickled model.pt runs code when read, so never use it on results from "
                          "others")
    output.add_argument("--results", default="results",
                        help="results folder (default: results)")
    training.add_argument("--config", action="append", default=[], metavar="YAML",
                          help="recipe overrides from a YAML file (key: value), or the official "
                          "CAD configs: --config 2d_....yaml [--config 3d_....yaml] (applied "
                          "before --set)")
    training.add_argument("--set", dest="overrides", action="append", default=[],
                          metavar="KEY=VALUE",
                          help="override a recipe key, e.g. --set iters=200 (repeatable; the "
                          "keys are the method's recipe keys, e.g. cad/configs/cad.yaml)")
    post.add_argument("--select", default=None, choices=["voi", "nerl"],
                      help="validation sweep criterion: lowest VOI (default) or highest NERL "
                      "(expected run length on ground-truth skeletons; skeletonises val once)")
    blockwise.add_argument("--blockwise", action="store_true",
                           help="predict/segment/evaluate the test split block by block into "
                           "zarr")
    blockwise.add_argument("--block-shape", default="16,512,512",
                           help="z,y,x block size (blockwise)")
    blockwise.add_argument("--workers", type=int, default=1, help="local workers (blockwise)")
    blockwise.add_argument("--scheduler-address", default=None,
                           help="dask.distributed scheduler, e.g. tcp://host:8786 (blockwise)")
    output.add_argument("--resume", default=None, metavar="RUN_ID",
                        help="continue an interrupted run from its run directory (with the "
                        "options it was started with)")
    training.add_argument("--threads", type=int, default=None, metavar="N",
                          help="CPU threads for torch (default: the cores this process may "
                          f"use, now {available_cores()}); blockwise runs give each worker "
                          "N/workers")
    p.set_defaults(func=main)


def parse_overrides(items: list[str]) -> dict:
    from bench.train.recipe import parse_value

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = parse_value(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"--set {item}: not valid YAML ({' '.join(str(exc).split())})"
                             ) from None
    return out


def config_overrides(files: list[str]) -> dict:
    """Recipe overrides from ``--config`` files: a format a method reads itself (the official
    CAD pair, :meth:`bench.method.Method.overrides_from_config_files`) or plain YAML mappings."""
    from pathlib import Path

    from bench.registry import config_file_overrides
    from bench.train.recipe import safe_load_plain

    if not files:
        return {}
    claimed = config_file_overrides(files)
    if claimed is not None:
        return claimed
    out: dict = {}
    for f in files:
        try:
            doc = safe_load_plain(Path(f).read_text())
        except yaml.YAMLError as exc:
            raise ValueError(f"--config {f}: not valid YAML ({' '.join(str(exc).split())})"
                             ) from None
        if not isinstance(doc, dict):
            raise ValueError(f"--config {f}: expected a YAML mapping of recipe keys")
        out.update(doc)
    return out


def expand_methods(values: list[str] | None, *, source_run: bool = False) -> list[str]:
    """Method names from ``--method`` values: ``all`` is every method but the controls (they
    are the floor, not contenders), ``controls`` every control, those that read another run
    (rolled, shuffled) only when ``source_run`` is given."""
    from bench.method import CONTROL_FAMILY
    from bench.registry import METHODS

    names = [n.strip() for v in (values or ["cad"]) for n in v.split(",") if n.strip()]
    out: list[str] = []
    for name in names:
        if name == "all":
            out += [e.name for e in METHODS.list() if e.family != CONTROL_FAMILY]
        elif name == "controls":
            out += [e.name for e in METHODS.list() if e.family == CONTROL_FAMILY
                    and (source_run or not getattr(e.cls, "needs_source_run", False))]
        else:
            METHODS.get(name)  # raises with the valid names
            out.append(name)
    return list(dict.fromkeys(out))


def resolve_source_run(value: str | None, store) -> str | None:
    """``--source-run``: a run directory, or a run id of the results folder, as the absolute
    path of that run's directory (refused when it does not exist)."""
    from bench.results import validate_run_id

    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        path = store.run_dir(validate_run_id(value))
        if not path.is_dir():
            raise FileNotFoundError(f"--source-run {value}: no such run in {store.runs_dir} "
                                    "(give a run id from `bench report`, or a run directory)")
    return str(path.resolve())


def _with_source_run(spec, source_run: str | None):
    """``spec`` with ``source_run`` among its overrides when its method reads another run."""
    from bench.registry import method_class

    if source_run is None or not getattr(method_class(spec.method), "needs_source_run", False):
        return spec
    return replace(spec, overrides={**spec.overrides, "source_run": source_run})


#: options a --resume cannot change: (argument name, RunSpec field, how the user wrote it)
_FIXED_ON_RESUME = (("method", "method", "--method"), ("profile", "profile", "--profile"),
                    ("dataset", "dataset", "--dataset"), ("seed", "seed", "--seed"),
                    ("phantom_seed", "data_seed", "--phantom-seed"),
                    ("data_root", "data_root", "--data-root"),
                    ("checkpoint", "checkpoint", "--checkpoint"),
                    ("postprocess", "postprocess", "--postprocess"),
                    ("select", "select", "--select"))


def _check_resume_options(args: argparse.Namespace, spec) -> None:
    """Refuse options that a resumed run would silently ignore."""
    clashes = []
    for arg, fieldname, flag in _FIXED_ON_RESUME:
        given = getattr(args, arg)
        if given is None:
            continue
        if arg == "method":
            given = ",".join(expand_methods(given, source_run=args.source_run is not None))
        if arg == "postprocess":
            given = _postprocessors(given)
        if str(given) != str(getattr(spec, fieldname)):
            clashes.append(f"{flag} {given} (the run has {getattr(spec, fieldname)})")
    if args.overrides or args.config:
        clashes.append("--set/--config (the run keeps its recipe)")
    if clashes:
        raise ValueError(f"--resume {args.resume} continues the run as it was started; drop "
                         f"{'; '.join(clashes)}, or start a new run without --resume")


def main(args: argparse.Namespace) -> int:
    import torch

    from bench.method_state import trusted_pickle

    before = torch.get_num_threads()
    try:
        with trusted_pickle(args.trust_pickle):
            return _main(args)
    finally:  # an in-process caller (tests, notebooks) gets its thread setting back
        torch.set_num_threads(before)


def _main(args: argparse.Namespace) -> int:
    from bench.pipeline import TrainingStopped, load_spec, run
    from bench.results import ResultsStore, validate_run_id
    from bench.text_tables import format_rows
    from bench.threads import set_threads

    store = ResultsStore(args.results)
    threads = set_threads(args.threads)
    outcomes = []
    study_seeds = None
    if args.resume:
        if args.seeds is not None:
            raise ValueError("--resume continues one run; to continue a study, repeat its "
                             "command (finished runs are skipped)")
        spec = load_spec(store.run_dir(validate_run_id(args.resume)))
        _check_resume_options(args, spec)
        specs = [(spec, args.resume)]
    else:
        if args.seeds is not None:
            from bench.study import parse_seeds

            if args.seed is not None:
                raise ValueError("give --seed (one run) or --seeds (a study), not both")
            study_seeds = parse_seeds(args.seeds, confirmed=args.yes)
        seed = study_seeds[0] if study_seeds else (0 if args.seed is None else args.seed)
        template = _spec(args, seed)
        if study_seeds and args.source_run:
            raise ValueError("--source-run with --seeds: run the rolled and shuffled controls "
                             "without --seeds (one run: a control does not depend on the seed)")
        source_run = resolve_source_run(args.source_run, store)
        datasets = _datasets(template.dataset)
        if source_run is not None and len(datasets) > 1:
            raise ValueError(f"--source-run with the suite {template.dataset}: a run belongs "
                             "to one dataset; give that dataset's name instead")
        templates = [replace(template, dataset=d) for d in datasets]
        specs = [(_with_source_run(replace(t, method=name), source_run), None) for t in templates
                 for name in expand_methods(args.method, source_run=source_run is not None)]
    if args.threads is None and any(s.blockwise and s.workers > 1 for s, _ in specs):
        # each local Dask worker runs torch ops with its own OpenMP team: one thread each, so
        # workers x threads does not oversubscribe the cores
        threads = set_threads(1)
    log.info("torch threads: %d (cores available: %d)", threads, available_cores())
    if len(specs) > 1 or study_seeds:  # every method is checked before the first one trains
        from bench.pipeline import prepare

        for spec, _ in specs:
            prepare(spec, store)
    if study_seeds:
        from bench.study import run_study

        for t in templates:  # one study per dataset of a suite
            outcomes += run_study([s.method for s, _ in specs if s.dataset == t.dataset],
                                  study_seeds, t, store)
        specs = []
    for spec, run_id in specs:
        try:
            outcomes.append(run(spec, store, run_id=run_id))
        except TrainingStopped as exc:  # the other methods still run
            print(f"{spec.method}: {exc} (stop_after): nothing predicted or recorded yet; "
                  f"continue with: python -m bench run --resume {exc.run_id} "
                  f"--results {args.results}")
    rows = [r for o in outcomes for r in o.rows]
    print(format_rows(rows))
    for o in outcomes:
        print(f"run directory: {Path(o.run_dir)}")
    print(f"results database: {store.db_path}  (python -m bench report --results {args.results})")
    return 0


def _spec(args: argparse.Namespace, seed: int):
    """The run specification the options describe, without its method."""
    from bench.pipeline import RunSpec

    return RunSpec(
        method="", dataset=args.dataset or "synthetic", profile=args.profile or "quick",
        postprocess=_postprocessors(args.postprocess or "waterz"),
        data_root=args.data_root, checkpoint=args.checkpoint, device=args.device, seed=seed,
        overrides={**config_overrides(args.config), **parse_overrides(args.overrides)},
        blockwise=args.blockwise, block_shape=_block_shape(args.block_shape),
        workers=args.workers, scheduler_address=args.scheduler_address,
        select=args.select or "voi",
        data_seed=_phantom_seed(args.phantom_seed),
    )


def _datasets(name: str) -> list[str]:
    """``--dataset``: a suite's datasets (``real-small``), or the one name or file spec."""
    from bench.data.registry import expand_suite

    return expand_suite(name)


def _phantom_seed(value: int | None) -> int:
    if value is None:
        return 0
    if value < 0:
        raise ValueError(f"--phantom-seed: expected a non-negative integer, got {value}")
    return int(value)


def _block_shape(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--block-shape: expected three positive integers z,y,x, got "
                         f"{text!r}") from None


def _postprocessors(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]
