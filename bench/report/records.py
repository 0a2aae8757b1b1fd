"""Result rows as plain dicts, as the report's tables and plots read them."""

from __future__ import annotations

from typing import Any

import pandas as pd


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts with None for missing values (pandas NA does not format)."""
    return [{k: (None if missing(v) else v) for k, v in r.items()}
            for r in df.to_dict("records")]


def missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # lists and arrays are values, not missing
        return False
