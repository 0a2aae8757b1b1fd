"""The command line's conveniences: --version, -v/-q anywhere, examples that parse, one
meaning of --json, run's option groups, progress bars or log lines, exports, training curves."""

from __future__ import annotations

import argparse
import logging
import shlex

import numpy as np
import pandas as pd
import pytest

from bench import progress
from bench.cli import COMMANDS, _commands, build_parser, main
from bench.commands.examples import EXAMPLES


def _example_commands(text: str) -> list[list[str]]:
    """The argument lists of the ``python -m bench ...`` lines of an examples section."""
    joined = text.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.split("#")[0].split(">")[0].strip()
        if line.startswith("python -m bench"):
            out.append(shlex.split(line)[3:])
    return out


def test_every_command_has_examples_and_they_parse():
    parser = build_parser()
    paths = {path for path, _ in _commands(parser)}
    assert paths - set(EXAMPLES) == set(), "commands without examples"
    assert set(EXAMPLES) - paths == {""}, "examples of commands that do not exist"
    for path, text in EXAMPLES.items():
        commands = _example_commands(text)
        assert commands, path
        for argv in commands:
            if argv[:1] == ["COMMAND"]:
                continue
            args, extra = parser.parse_known_args(argv)  # SystemExit on a bad option
            assert not extra, (path, argv, extra)
            if path:
                assert " ".join(argv).startswith(path), (path, argv)


def test_help_shows_examples_and_run_groups(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    for group in ("data:", "training:", "post-processing:", "blockwise (volumes beyond memory):",
                  "output and resuming:", "logging:", "examples:"):
        assert f"\n{group}\n" in text, group
    blockwise = text.split("blockwise (volumes beyond memory):")[1].split("\n\n")[0]
    assert "--block-shape" in blockwise and "--scheduler-address" in blockwise
    assert "  python -m bench run --method cad --profile smoke" in text  # lines kept as written


def test_version(capsys):
    from bench import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"emseg-bench {__version__}"


@pytest.mark.parametrize("argv", [["-v", "list", "methods", "--no-params"],
                                  ["list", "methods", "--no-params", "-v"],
                                  ["list", "-q", "methods", "--no-params"]])
def test_verbosity_before_or_after_the_command(argv):
    args = build_parser().parse_args(argv)
    assert args.verbose == ("-v" in argv) and args.quiet == ("-q" in argv)


def test_verbose_and_quiet_together_fail(capsys):
    with pytest.raises(SystemExit):
        main(["-v", "list", "methods", "--no-params", "-q"])
    assert "not both" in capsys.readouterr().err


def test_json_is_a_flag_everywhere_and_the_old_file_usage_says_what_to_do(capsys):
    for path, command in _commands(build_parser()):
        for action in command._actions:
            if "--json" in action.option_strings:
                assert action.nargs == 0, f"{path}: --json takes a value"
    with pytest.raises(SystemExit) as exc:  # before any measurement
        main(["perf", "blockwise", "--json", "rows.json"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--json takes no value: it prints JSON to stdout; to write a file use --out " \
           "rows.json" in err


# -- progress -------------------------------------------------------------------------------
def test_log_mode_writes_log_lines_and_no_bar(monkeypatch, caplog, capsys):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    monkeypatch.setattr(progress, "QUIET_BELOW_S", 0.0)
    monkeypatch.setenv("BENCH_PROGRESS", "log")
    with caplog.at_level(logging.INFO, logger="bench.progress"):
        assert sum(progress.bar(range(4), desc="things", unit="thing")) == 6
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("things: 1/4 thing") and "left" in lines[0]
    assert lines[-1].startswith("things: 4/4 thing") and lines[-1].endswith("(done)")
    assert len(lines) == 4  # steps 1-3 while running, then the end (not step 4 twice)
    assert "\r" not in capsys.readouterr().err  # no bar characters on stderr


def test_bars_mode_is_tqdm_and_nested_bars_do_not_stay(monkeypatch):
    from tqdm import tqdm

    monkeypatch.setenv("BENCH_PROGRESS", "bars")
    outer = progress.bar(total=2, desc="study", unit="run")
    inner = progress.bar(range(3), desc="train", unit="iter")
    assert isinstance(outer, tqdm) and outer.leave and not inner.leave
    list(inner)
    outer.close()


def test_off_silence_and_bad_mode(monkeypatch, caplog):
    monkeypatch.setattr(progress, "QUIET_BELOW_S", 0.0)
    monkeypatch.setenv("BENCH_PROGRESS", "log")
    with caplog.at_level(logging.INFO, logger="bench.progress"), progress.silence():
        list(progress.bar(range(3), desc="inside a block"))
    assert not caplog.records
    progress.set_mode("off")
    try:
        assert progress.mode() == "off"
    finally:
        progress.set_mode(None)
    monkeypatch.setenv("BENCH_PROGRESS", "loud")
    with pytest.raises(ValueError, match="BENCH_PROGRESS"):
        progress.mode()


def test_log_lines_go_above_bars(monkeypatch):
    """While bars are drawn the console handler writes through tqdm.write (never mid-bar)."""
    monkeypatch.setenv("BENCH_PROGRESS", "bars")
    root = logging.getLogger()
    handler = logging.StreamHandler()
    root.addHandler(handler)
    try:
        with progress.log_redirect():
            kinds = {type(h).__name__ for h in root.handlers}
            assert handler not in root.handlers and "_TqdmLoggingHandler" in kinds
        assert handler in root.handlers
    finally:
        root.removeHandler(handler)


def test_forest_in_rounds_has_the_trees_of_one_fit():
    from sklearn.ensemble import RandomForestClassifier

    from baselines.rf import _fit_with_progress

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 5))
    y = x[:, 0] + rng.normal(size=600) > 0
    one = RandomForestClassifier(n_estimators=7, random_state=3, n_jobs=1).fit(x, y)
    rounds = RandomForestClassifier(n_estimators=7, random_state=3, n_jobs=1)
    _fit_with_progress(rounds, x, y, steps=3)
    assert len(rounds.estimators_) == 7 and rounds.warm_start is False
    assert np.array_equal(one.predict_proba(x), rounds.predict_proba(x))


# -- report -----------------------------------------------------------------------------------
def test_every_postprocessor_has_its_own_line_style():
    from bench.registry import POSTPROCESSORS
    from bench.report.plots import line_style

    names = [e.name for e in POSTPROCESSORS.list()] + ["custom-a", "custom-b"]
    styles = [str(line_style(n, names)) for n in names]
    assert len(set(styles)) == len(names), dict(zip(names, styles, strict=True))


def _row(run_id: str, seed: int, method: str = "cad", voi: float = 1.0) -> dict:
    return {"run_id": run_id, "created": f"2026-01-01T00:00:0{seed}+00:00", "method": method,
            "family": "distilled", "dataset": "synthetic", "split": "test", "profile": "smoke",
            "postprocess": "waterz", "param_name": "threshold", "param_value": 0.5,
            "voi": voi + seed / 10, "voi_split": 0.5, "voi_merge": 0.5, "arand": 0.1,
            "cremi_score": 0.2, "seed": seed, "study": "study-x" if seed else None,
            "n_parameters": 10, "n_merges": 3}


def test_exported_csv_reads_back_as_the_leaderboard(tmp_path):
    from bench.report.exports import export_leaderboard, read_csv
    from bench.results import ResultsStore, load_leaderboard

    store = ResultsStore(tmp_path)
    store.add_rows([_row("r0", 0), _row("r1", 1), _row("r2", 2, "unet2d", voi=1 / 3)])
    assert main(["report", "--results", str(tmp_path), "--format", "csv,json"]) == 0
    board = load_leaderboard(tmp_path)
    csv_path = tmp_path / "report" / "leaderboard.csv"
    assert not (tmp_path / "report" / "index.html").exists()  # exports only: no report
    pd.testing.assert_frame_equal(read_csv(csv_path), board, check_exact=True)
    plain = pd.read_csv(csv_path)  # plain pandas: the same columns and values
    from bench.report.floor import FLOOR_COLUMNS

    # the leaderboard's columns, then the floor's (the best control; none was run here)
    assert list(plain.columns) == [*board.columns, *FLOOR_COLUMNS]
    assert len(plain) == len(board) == 3 and plain["floor_method"].isna().all()
    assert plain["voi"].tolist() == board["voi"].tolist()
    import json

    doc = json.loads((tmp_path / "report" / "leaderboard.json").read_text())
    assert doc["columns"] == [*board.columns, *FLOOR_COLUMNS] and len(doc["rows"]) == 3
    assert doc["rows"][0]["study"] is None
    (path,) = export_leaderboard(tmp_path, tmp_path / "x", ["html", "json"])
    assert path.name == "leaderboard.json"


def test_bad_format_fails_before_any_work(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path / "r"), "--format", "csv,xlsx"]) == 2
    assert "--format" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_training_curves_mean_and_band_over_seeds(tmp_path):
    from bench.report.training import (
        TRAIN_LOG,
        loss_bands,
        training_curves_plot,
        training_losses,
    )
    from bench.results import ResultsStore
    from bench.train.loop import LOG_NAME

    assert TRAIN_LOG.name == LOG_NAME
    store = ResultsStore(tmp_path)
    rows = [_row(f"r{s}", s) for s in range(3)] + [_row("rf", 0, method="rf")]
    for s in range(3):
        log = store.run_dir(f"r{s}") / TRAIN_LOG
        log.parent.mkdir(parents=True)
        log.write_text("step,loss,seconds\n" + "".join(
            f"{k},{10 - k + s},{k}\n" for k in (1, 2, 3)))
    losses = training_losses(store, rows + rows[:1])  # a run listed twice is read once
    assert len(losses) == 9 and set(losses["method"]) == {"cad"}  # rf logged no loss
    bands = loss_bands(losses)
    assert bands["mean"].tolist() == [10.0, 9.0, 8.0]
    assert bands["low"].tolist() == [9.0, 8.0, 7.0] and bands["high"].tolist() == [11, 10, 9]
    assert training_curves_plot(store, rows, tmp_path / "t.png", "synthetic").is_file()
    assert training_curves_plot(store, rows[3:], tmp_path / "n.png", "synthetic") is None


def test_commands_are_listed_with_paths():
    paths = dict(_commands(build_parser()))
    assert {"run", "compare", "perf infer", "data preview"} <= set(paths)
    assert all(isinstance(p, argparse.ArgumentParser) for p in paths.values())


def test_dask_tasks_report_progress(monkeypatch, caplog):
    import dask

    monkeypatch.setattr(progress, "QUIET_BELOW_S", 0.0)
    monkeypatch.setenv("BENCH_PROGRESS", "log")
    tasks = [dask.delayed(lambda x: x + 1, pure=False)(i) for i in range(3)]
    with caplog.at_level(logging.INFO, logger="bench.progress"), \
            progress.dask_progress("blocks"):
        assert dask.compute(*tasks, scheduler="threads", num_workers=2) == (1, 2, 3)
    assert caplog.records[-1].getMessage().startswith("blocks: 3/3 task")


def test_study_time_left_counts_only_the_runs_that_ran():
    from bench.study import _TimeLeft

    eta = _TimeLeft(4)
    eta.skipped()  # a finished run costs nothing and says nothing about the others
    assert eta.text() == ""
    eta.ran(60.0)
    eta.ran(120.0)
    assert eta.text() == "; 1 run left, about 1.5 min"


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["perf", "--help"],
                                  ["recipe", "show", "--help"]])
def test_help_imports_no_torch_and_no_other_command(argv):
    """``--help`` answers without torch, numpy or the module of any command but the one asked
    about (``perf --help`` imports no benchmark module either)."""
    import subprocess
    import sys

    probe = ("import sys, runpy\n"
             f"sys.argv = ['bench', *{argv!r}]\n"
             "try:\n"
             "    runpy.run_module('bench', run_name='__main__')\n"
             "except SystemExit:\n"
             "    pass\n"
             "print('LOADED', ' '.join(sorted(sys.modules)), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    assert "usage: python -m bench" in done.stdout
    loaded = set(done.stderr.split("LOADED", 1)[1].split())
    heavy = {"torch", "numpy", "scipy", "bench.registry", "bench.pipeline", "bench.data",
             "metrics"}
    heavy |= {module for name, (module, _) in COMMANDS.items() if name != argv[0]}
    assert not heavy & loaded, sorted(heavy & loaded)
    assert not [m for m in loaded if m.startswith("bench.perf")]


def test_lazy_help_lines_agree_with_the_command_modules():
    """The main --help lines (cli.COMMANDS, perf.TARGETS) are the ones the modules give."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = {c.dest: c.help for c in sub._choices_actions}
    assert list(listed) == list(COMMANDS)
    _commands(parser)  # builds every command: a module's own help= replaces the listed one
    assert {c.dest: c.help for c in sub._choices_actions} == listed


def test_a_command_is_built_only_when_parsed():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices["report"]._actions[1:] == []  # only -h on the placeholder
    args = parser.parse_args(["report", "--results", "r", "-q"])
    assert args.results == "r" and args.quiet and args.func.__module__ == "bench.commands.report"
    assert sub.choices["run"]._actions[1:] == []  # the others stay placeholders
