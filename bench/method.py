"""The interface every segmentation method implements.

A method turns a raw EM volume into affinities. It is trained with :meth:`Method.fit` on the
``train`` split of a dataset (with ``val`` for checkpoint choice) and run with
:meth:`Method.predict`. Post-processing and evaluation are the harness's job, not the method's,
so every method is judged by exactly the same downstream code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np


class Method(ABC):
    #: registry name, e.g. "cad"
    name: str = ""
    #: "2d", "3d" or "distilled"
    family: str = ""

    def __init__(self, config: dict[str, Any] | None = None):
        self.config: dict[str, Any] = dict(config or {})

    @abstractmethod
    def fit(self, train, val=None, *, run_dir: Path, profile: str = "quick") -> dict[str, Any]:
        """Train on ``train`` (a :class:`bench.data.Volume`); return a summary dict.

        Checkpoints go to ``run_dir``; an existing checkpoint there is resumed from.
        """

    @abstractmethod
    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Affinities of a ``(Z, Y, X)`` uint8 volume: float32 ``(3, Z, Y, X)`` in [0, 1].

        Channel order (z, y, x); the value at voxel v is its affinity to v - e_axis.
        """

    @abstractmethod
    def n_parameters(self) -> int:
        """Number of trainable parameters of the network used at inference."""

    def predict_long_range(self, raw: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """Long-range affinities and their offsets, for mutex watershed.

        Methods without long-range outputs raise ``NotImplementedError`` with a clear message.
        """
        raise NotImplementedError(
            f"method {self.name!r} predicts only nearest-neighbour affinities; mutex watershed "
            "needs long-range affinities (use superhuman3d, or post-process with waterz/lmc)"
        )
