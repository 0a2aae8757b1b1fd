"""The leaderboard report (``python -m bench report``) and the leaderboard exports.

One module per part, each importing only the ones listed before it (no cycles):

- :mod:`~bench.report.records`: result rows as plain dicts;
- :mod:`~bench.report.plots`: accuracy vs speed, validation sweeps, VOI per section, and the
  colours, line styles and point labels every plot shares;
- :mod:`~bench.report.panels`: raw | ground truth | segmentations image panels;
- :mod:`~bench.report.training`: training-loss curves over seeds;
- :mod:`~bench.report.worst_errors`: NERL against VOI, and each result's worst neurons with
  crops and the ``bench view`` command that opens them;
- :mod:`~bench.report.leaderboard`: which rows are shown, the summary with intervals and
  ranks, the pairwise comparisons, and :func:`build_report` writing ``leaderboard.md`` and the
  self-contained ``index.html``;
- :mod:`~bench.report.exports`: every row as CSV, JSON or Parquet (``--format``).
"""

from bench.report.exports import export_leaderboard, parse_formats, read_csv
from bench.report.leaderboard import (
    build_report,
    latest_rows,
    pairwise_results,
    select_results,
    summarize_results,
)

__all__ = ["build_report", "export_leaderboard", "latest_rows", "pairwise_results",
           "parse_formats", "read_csv", "select_results", "summarize_results"]
