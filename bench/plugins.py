"""Entry points of outside packages (methods, datasets, post-processors, metrics), loaded one at
a time: the loader lives in :mod:`emseg_registry` (every registry uses it); this module keeps
its older import path.

One broken plugin must not take the harness down with it: a package whose module raises at
import (or whose factory is not what the group expects) is logged as
``skipping plugin NAME (distribution X): error`` and left out, and everything else still
works (``list``, ``data list``, ``report``, runs of the built-in methods). Only asking for that
name fails, with the same error (:func:`broken_error`).
"""

from __future__ import annotations

from emseg_registry import broken_error, load_entry_points

__all__ = ["broken_error", "load_entry_points"]
