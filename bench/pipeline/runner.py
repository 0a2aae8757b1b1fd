"""One run end to end: prepare, then the stages in order, each resumable (see
:mod:`bench.pipeline`), under the run's lock."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict

import yaml

from bench.environment import describe_environment
from bench.pipeline.blockwise import blockwise_test
from bench.pipeline.evaluate import postprocess_and_score
from bench.pipeline.spec import RunOutcome, RunSpec, TrainingStopped, new_run_id, prepare
from bench.pipeline.stages import attach_log, predict, train
from bench.provenance import sign_files, sign_run, verify_run
from bench.results import ResultsStore, validate_run_id, write_atomic, write_json
from bench.runlock import run_lock

__all__ = ["RECIPE_FILE", "run", "write_resolved_recipe"]

#: the resolved recipe of every run (training and inference keys, after --profile, --set and
#: an official checkpoint's inference settings), in the run directory
RECIPE_FILE = "recipe.yaml"

log = logging.getLogger(__name__)


def run(spec: RunSpec, store: ResultsStore, *, run_id: str | None = None) -> RunOutcome:
    """Run (or resume, when ``run_id`` names an existing run) one method end to end.

    Raises :class:`TrainingStopped` when the recipe's ``stop_after`` ends training early (the
    run directory then holds a resumable checkpoint and no result) and
    :class:`bench.runlock.RunLockedError` when another process works on the same run.
    """
    t_start = time.perf_counter()
    dataset, device, method, checkpoint = prepare(spec, store)
    if checkpoint:  # a file that is not the method's weights fails before any folder
        log.info("using checkpoint %s, no training", checkpoint)
        method.load_checkpoint(checkpoint)  # any run's model.pt; cad: official ckpt too
    run_id = validate_run_id(run_id) if run_id else new_run_id(spec, dataset.name)
    run_dir = store.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):
        file_handler = attach_log(run_dir / "run.log")
        try:
            if not (run_dir / "config.yaml").exists():
                write_atomic(run_dir / "config.yaml", yaml.safe_dump({"spec": asdict(spec)}))
                # a study resumes only runs it can verify (bench.provenance)
                sign_run(run_dir, ("config.yaml",))
            else:
                why = verify_run(run_dir)
                if why:
                    log.warning("resuming %s, which this harness cannot vouch for (%s); a "
                                "stage is reused only where its files verify", run_id, why)
            write_json(run_dir / "environment.json", describe_environment(str(device)))
            write_resolved_recipe(method, run_dir)
            log.info("run %s -> %s", run_id, run_dir)
            train_summary = train(method, dataset, spec, run_dir)
            if spec.blockwise:
                rows = blockwise_test(method, dataset, spec, run_dir, train_summary,
                                      str(device), t_start)
            else:
                affs = predict(method, dataset, run_dir)
                rows = postprocess_and_score(
                    method, dataset, spec, run_dir, affs, train_summary, str(device), t_start
                )
            store.add_rows(rows)
            log.info("results in %s", run_dir)
            return RunOutcome(run_id, run_dir, rows)
        except (KeyboardInterrupt, TrainingStopped) as exc:
            exc.run_id = run_id  # so the command line can print the --resume command
            raise
        finally:
            logging.getLogger().removeHandler(file_handler)
            file_handler.close()


def write_resolved_recipe(method, run_dir) -> None:
    """``recipe.yaml``: the method's resolved recipe as it will run (checkpoint-only runs
    included: the folder says which inference made its numbers), signed with the run."""
    config = getattr(method, "config", None) or {}
    plain = json.loads(json.dumps(config, sort_keys=True, default=str))  # tuples -> lists
    write_atomic(run_dir / RECIPE_FILE, yaml.safe_dump(plain, sort_keys=True))
    sign_files(run_dir, RECIPE_FILE)
