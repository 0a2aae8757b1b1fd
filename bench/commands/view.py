"""``python -m bench view RUN_ID``: open a run in a local neuroglancer viewer."""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view",
        help="open a run's raw, ground truth, affinities and segmentations in neuroglancer",
        description="Serve a run's test volumes to a local neuroglancer viewer (127.0.0.1 "
        "only) and print its URL, plus one URL per worst error that opens the view there. "
        'Needs the optional neuroglancer package: pip install "emseg-bench[view]".',
    )
    p.add_argument("run_id", metavar="RUN_ID", help="a run directory name under results/runs")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--position", default=None, metavar="Z,Y,X",
                   help="voxel to centre the view on (e.g. from the report's worst errors)")
    p.add_argument("--port", type=int, default=0, help="local port (default: any free one)")
    p.add_argument("--no-wait", action="store_true",
                   help="print the URLs and exit instead of serving until Ctrl-C")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from bench.results import ResultsStore
    from bench.view import serve, url_at, worst_positions

    run_dir = ResultsStore(args.results).run_dir(args.run_id)
    position = None
    if args.position:
        try:
            position = [int(v) for v in args.position.split(",")]
        except ValueError:
            position = []
        if len(position) != 3:
            raise ValueError(f"--position expects Z,Y,X voxel indices, got {args.position!r}")
    try:
        viewer = serve(run_dir, position=position, port=args.port)
    except ImportError as exc:  # the optional 'view' extra is missing: say how to get it
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"neuroglancer (local only): {viewer}")
    for pp, e in worst_positions(run_dir):
        print(f"  {pp} gt {e['label']} {e['error']} at z,y,x {e['position']}: "
              f"{url_at(viewer, e['position'])}")
    if args.no_wait:
        return 0
    print("serving; Ctrl-C to stop")
    while True:  # the viewer's server runs in a background thread
        time.sleep(3600)
