"""The columns of the leaderboard database's ``results`` table, derived from the metric
specification (:data:`metrics.spec.METRICS`) on every use, so that a score registered at run
time has its column."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

__all__ = ["COLUMNS", "schema"]

#: the columns before the scores: column name -> SQL type
_HEAD: dict[str, str] = {
    "run_id": "TEXT NOT NULL",
    "created": "TEXT NOT NULL",
    "method": "TEXT NOT NULL",
    "family": "TEXT",
    "dataset": "TEXT NOT NULL",
    "split": "TEXT NOT NULL",
    "split_hash": "TEXT",
    "profile": "TEXT",
    "postprocess": "TEXT NOT NULL",
    "param_name": "TEXT",
    "param_value": "REAL",
}
#: the columns after the built-in scores (metrics.spec.METRICS)
_TAIL: dict[str, str] = {
    "voi_ci_low": "REAL",
    "voi_ci_high": "REAL",
    "n_parameters": "INTEGER",
    "train_seconds": "REAL",
    "infer_voxels_per_s": "REAL",
    "postprocess_voxels_per_s": "REAL",
    "end_to_end_seconds": "REAL",
    "peak_rss_mb": "REAL",
    "device": "TEXT",
    "seed": "INTEGER",
    "config_hash": "TEXT",
    "git_commit": "TEXT",
    # added later: ALTER TABLE adds them to older databases (see ResultsStore._migrate)
    #: the multi-seed study the row belongs to (``python -m bench run --seeds``); NULL otherwise
    "study": "TEXT",
    #: how voi_ci_low/high were computed; NULL for rows of older code, whose interval was of the
    #: sub-volume mean VOI rather than of the whole-volume VOI beside it (the report hides those)
    "voi_ci_method": "TEXT",
    #: the synthetic phantom's generator seed (``--phantom-seed``); ``seed`` is training's.
    #: NULL for rows of older code, whose synthetic volume was that of ``seed``
    "phantom_seed": "INTEGER",
}


class _Columns(Mapping[str, str]):
    """Column name -> SQL type, in the table's column order, derived from the metric
    specification on every use: the built-in scores sit between :data:`_HEAD` and
    :data:`_TAIL`, a score registered later (:func:`metrics.spec.register_metric`) comes last,
    which is where ``ALTER TABLE`` puts it in an existing database."""

    def _now(self) -> dict[str, str]:
        from metrics.spec import BUILTIN, METRICS

        scores = {k: METRICS[k].sql_type for k in BUILTIN}
        extra = {k: m.sql_type for k, m in METRICS.items() if k not in BUILTIN}
        return {**_HEAD, **scores, **_TAIL, **extra}

    def __getitem__(self, key: str) -> str:
        return self._now()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._now())

    def items(self):  # one derivation per call, not one per key
        return self._now().items()


#: column name -> SQL type; the order is the table's column order
COLUMNS: Mapping[str, str] = _Columns()


def schema() -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` statement of the results table."""
    cols = ", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
    return f"CREATE TABLE IF NOT EXISTS results ({cols}, PRIMARY KEY (run_id, postprocess, split))"
