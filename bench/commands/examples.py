"""The ``examples:`` section at the end of each command's ``--help`` (set by :mod:`bench.cli`).

Keyed by the command's path ("" for ``python -m bench`` itself, ``"perf infer"`` for a
target). Every line that starts with ``python -m bench`` is parsed by the real parser in
``tests/test_cli_usability.py``, so an example cannot drift away from the options.
"""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "": """
  python -m bench run --method cad --profile smoke --results /tmp/r   # a first run, ~1 min
  python -m bench report --results /tmp/r                             # its leaderboard
  python -m bench compare results-main results-branch                 # did my change help?
  python -m bench COMMAND --help                                      # every command's options
""",
    "run": """
  python -m bench run --method cad --profile smoke --results /tmp/r
  python -m bench run --method cad,unet2d --seeds 0-2 --postprocess waterz,lmc
  python -m bench run --method cad --set iters=400 --set student_batch_pairs=true
  python -m bench run --method superhuman3d --dataset cremiA --data-root ~/em-data --blockwise \\
      --block-shape 16,256,256 --workers 2
  python -m bench run --resume 20260101-120000-cad-synthetic-quick-s0-ab12 -v
""",
    "score": """
  python -m bench score --dataset synthetic --name mynet --affinities preds.h5
  python -m bench score --dataset cremiA --data-root ~/em-data --name mynet \\
      --segmentation seg.h5 --n-parameters 1200000
""",
    "report": """
  python -m bench report --results /tmp/r
  python -m bench report --results /tmp/r --format csv,json --out /tmp/r/export
  python -m bench report --rebuild-db -q
""",
    "compare": """
  python -m bench compare results-main results-branch
  python -m bench compare results results --study-a study-synthetic-quick-404e278c \\
      --study-b study-synthetic-quick-1c2d3e4f
  python -m bench compare results-main results-branch --json > verdicts.json
  python -m bench compare results-main results-branch --fail-if-worse   # CI: exit 1 if worse
""",
    "check": """
  python -m bench check
  python -m bench check --methods cad,unet2d --tolerance 0.1
  python -m bench check --update --seeds 0-2
""",
    "list": """
  python -m bench list
  python -m bench list methods --no-params
""",
    "recipe": """
  python -m bench recipe show cad --profile quick
""",
    "recipe show": """
  python -m bench recipe show cad --profile quick
  python -m bench recipe show cad-nofgi --profile paper --set iters=1000
  python -m bench recipe show rf --profile smoke
""",
    "data": """
  python -m bench data list
  python -m bench data fetch cremiA
  python -m bench data check --data-root ~/em-data
""",
    "data fetch": """
  python -m bench data fetch cremiA cremiB cremiC        # into the cache (see data list)
  python -m bench data fetch official:CremiA --data-root ~/em-data
  EMSEG_BENCH_MIRROR=/mnt/lab-mirror python -m bench data fetch ac3ac4
""",
    "data list": """
  python -m bench data list
""",
    "data check": """
  python -m bench data check --data-root ~/em-data
""",
    "data preview": """
  python -m bench data preview synthetic --profile smoke --out synthetic.png
  python -m bench data preview cremiA --data-root ~/em-data --split test
""",
    "eval": """
  python -m bench eval --gt gt.h5:volumes/labels/neuron_ids --seg seg.h5:main
  python -m bench eval --gt gt.h5 --seg seg.h5 --json --erl --resolution 40 4 4
""",
    "perf": """
  python -m bench perf infer --shape 8 256 256
  python -m bench perf metrics --json > metrics-perf.json
""",
    "perf metrics": """
  python -m bench perf metrics
  python -m bench perf metrics --shape 10 500 500 --no-waterz --json
  python -m bench perf metrics --out results/perf/metrics.json
""",
    "perf infer": """
  python -m bench perf infer --shape 8 256 256 --methods cad,superhuman3d
  python -m bench perf infer --device cuda --amp --json > infer.json
  python -m bench perf infer --out results/perf/infer.json
""",
    "perf segment": """
  python -m bench perf segment
  python -m bench perf segment --methods waterz --n-values 5
""",
    "perf blockwise": """
  python -m bench perf blockwise --sizes 16x256x256 32x256x256 --workers 1 2
  python -m bench perf blockwise --json > blockwise.json
""",
    "perf train": """
  python -m bench perf train --method unet2d --iters 6
""",
    "perf skeleton": """
  python -m bench perf skeleton --repeat 1 --json
  python -m bench perf skeleton --out results/perf/skeleton.json
""",
    "perf classical": """
  python -m bench perf classical --profile smoke
  python -m bench perf classical --out results/perf/classical.json
""",
    "docs": """
  python -m bench docs tables            # exit 1 when a README/docs table differs from its records
""",
    "docs tables": """
  python -m bench docs tables            # check every generated table
  python -m bench docs tables --write    # rewrite them from docs/results/*.json
  python -m bench docs tables --show synthetic-quick-readme
""",
    "view": """
  python -m bench view 20260101-120000-cad-synthetic-quick-s0-ab12
  python -m bench view RUN_ID --position 10,200,300 --no-wait
""",
}
