"""The interface every segmentation method implements.

A method turns a raw EM volume into affinities. It is trained with :meth:`Method.fit` on the
``train`` split of a dataset (with ``val`` for checkpoint choice) and run with
:meth:`Method.predict`. Post-processing and evaluation are the harness's job, not the method's,
so every method is judged by exactly the same downstream code.

What the harness calls, and what a method must therefore provide:

======================  ========  =========================================================
member                  required  default
======================  ========  =========================================================
``fit``                 yes       --
``predict``             yes       --
``n_parameters``        yes       --
``name``                yes (1)   ``""``: the registry name; (1) when the class is registered
``family``              no        ``""`` (the registry's family is used for the row)
``family_color``        no        ``""``: the report's colour for the family (grey)
``block_context``       no        blockwise needs ``context=`` (voxels of raw around a block)
``save`` / ``load``     no        the method object's attributes, as JSON + arrays (no pickle)
``load_checkpoint``     no        :meth:`load` (``--checkpoint FILE``: no training)
``predict_long_range``  no        none: mutex watershed is skipped for the method
``learned``             no        ``True``; ``False`` for a method with nothing to train (a
                                  control): the check's train layer leaves it out
``needs_source_run``    no        ``False``; ``True`` when the method reads another run's
                                  predictions (``source_run``, ``bench run --source-run``)
======================  ========  =========================================================

A subclass is checked when it is defined (:meth:`Method.__init_subclass__`): a member with the
wrong call signature, ``save`` without ``load`` (or the reverse), or ``long_range = True``
without ``predict_long_range`` raises ``TypeError`` at import time, not after training.
"""

from __future__ import annotations

import hashlib
import inspect
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = ["CONTROL_FAMILY", "Method", "MethodDefinitionError", "check_raw", "raw_fingerprint"]

#: the family of the null controls (``baselines.controls``): the report shows the best of them
#: as a floor beside the methods and never ranks them as methods
CONTROL_FAMILY = "control"

#: how the harness calls each member: positional arguments and keyword arguments
_CALLS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "fit": (("train", "val"), {"run_dir": Path("run"), "profile": "smoke"}),
    "predict": (("raw",), {}),
    "n_parameters": ((), {}),
    "save": (("path",), {}),
    "load": (("path",), {}),
    "load_checkpoint": (("path",), {}),
    "predict_long_range": (("raw",), {}),
}
_EXPECTED = {
    "fit": "fit(self, train, val=None, *, run_dir, profile)",
    "predict": "predict(self, raw)",
    "n_parameters": "n_parameters(self)",
    "save": "save(self, path)",
    "load": "load(self, path)",
    "load_checkpoint": "load_checkpoint(self, path)",
    "predict_long_range": "predict_long_range(self, raw)",
}


def check_raw(raw: Any, name: str = "raw") -> tuple[int, int, int]:
    """The one check of a method's input volume: a non-empty ``(Z, Y, X)`` uint8 array.

    Returns its shape; raises ``ValueError`` naming ``name``, the shape and the dtype otherwise.
    """
    shape = tuple(int(s) for s in getattr(raw, "shape", ()))
    dtype = getattr(raw, "dtype", None)
    if len(shape) != 3 or dtype is None or np.dtype(dtype) != np.uint8:
        got = type(raw).__name__ if dtype is None else f"shape {shape} dtype {dtype}"
        raise ValueError(f"{name}: expected a (Z, Y, X) uint8 array, got {got}")
    if min(shape) < 1:
        raise ValueError(f"{name}: empty volume of shape {shape}")
    return shape  # type: ignore[return-value]


def raw_fingerprint(raw: np.ndarray) -> str:
    """SHA-256 of a raw volume's shape and bytes: how ``predictions.h5`` records which volume
    each split's affinities were predicted from (a control that reuses them checks it)."""
    arr = np.ascontiguousarray(raw)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


class MethodDefinitionError(TypeError):
    """A :class:`Method` subclass does not implement the interface as the harness calls it."""


class Method(ABC):
    #: registry name, e.g. "cad"
    name: str = ""
    #: "2d", "3d", "distilled", ...; empty: the registry entry's family is used
    family: str = ""
    #: the report's colour (matplotlib) of this method's family; empty: grey
    family_color: ClassVar[str] = ""
    #: True when :meth:`predict_long_range` is implemented (mutex watershed can then run)
    long_range: ClassVar[bool] = False
    #: False for a method with nothing to train (the controls): ``fit`` only records its
    #: settings, and the check's train layer has nothing to measure for it
    learned: ClassVar[bool] = True
    #: True when the method reads another run's predictions (``source_run``): ``bench run
    #: --method controls`` includes it only with ``--source-run``
    needs_source_run: ClassVar[bool] = False

    def __init__(self, config: dict[str, Any] | None = None):
        self.config: dict[str, Any] = dict(config or {})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_definition(cls)

    @abstractmethod
    def fit(self, train, val=None, *, run_dir: Path, profile: str = "quick") -> dict[str, Any]:
        """Train on ``train`` (a :class:`bench.data.Volume`); return a summary dict.

        Checkpoints go to ``run_dir``; an existing checkpoint there is resumed from.
        """

    @abstractmethod
    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Affinities of a ``(Z, Y, X)`` uint8 volume: float32 ``(3, Z, Y, X)`` in [0, 1].

        Channel order (z, y, x); the value at voxel v is its affinity to v - e_axis
        (:mod:`bench.affinity`).
        """

    @abstractmethod
    def n_parameters(self) -> int:
        """Number of trainable parameters of the network used at inference."""

    def save(self, path: str | Path) -> None:
        """Write what :meth:`load` needs to predict again, atomically, to one file.

        Default: the object's attributes in a format that cannot run code when read back
        (:mod:`bench.method_state`: JSON for numbers, strings, lists and dicts, NumPy arrays
        for arrays, tensors and torch modules' weights). An attribute of another type (a
        scikit-learn model, say) is refused with a message, unless pickle is trusted
        (:func:`bench.method_state.trusted_pickle`, ``bench run --trust-pickle``). Override
        both for a format of your own.
        """
        from bench.method_state import save_attributes

        save_attributes(Path(path), self.name, type(self).__name__, vars(self))

    def load(self, path: str | Path) -> Method:
        """Restore what :meth:`save` wrote; returns ``self``.

        The default reads the default :meth:`save`'s file without running code; a pickled
        file is read only when pickle is trusted (``--trust-pickle``), else refused.
        """
        from bench.method_state import load_attributes

        vars(self).update(load_attributes(Path(path), self.name, type(self).__name__,
                                          vars(self)))
        return self

    @classmethod
    def overrides_from_config_files(cls, files: list[str]) -> dict[str, Any] | None:
        """Recipe overrides from ``python -m bench run --config FILE ...`` in a format this
        method reads itself (e.g. CAD's official YAML configs); None (default) when the files
        are not in such a format (the harness then reads them as plain YAML mappings)."""
        return None

    def load_checkpoint(self, path: str | Path) -> None:
        """Take the weights in ``path`` instead of training (``python -m bench run
        --checkpoint``). Default: :meth:`load`, so the ``model.pt`` of any run of this method
        works; override to accept other formats too (e.g. CAD's official checkpoints)."""
        self.load(path)

    def predict_long_range(self, raw: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """Long-range affinities ``(C, Z, Y, X)`` and their ``C`` offsets, for mutex watershed.

        Optional: set ``long_range = True`` when you implement it. Methods without long-range
        outputs raise ``NotImplementedError`` (the harness then skips mutex watershed).
        """
        raise NotImplementedError(
            f"method {self.name!r} predicts only nearest-neighbour affinities; mutex watershed "
            "needs long-range affinities (use superhuman3d, or post-process with waterz/lmc)"
        )


def _defined_here(cls: type, member: str) -> bool:
    """Whether ``cls`` or a base other than :class:`Method` itself defines ``member``."""
    for klass in cls.__mro__:
        if member in vars(klass):
            return klass is not Method
    return False


def _check_definition(cls: type[Method]) -> None:
    where = f"{cls.__module__}.{cls.__qualname__}"
    for member, (args, kwargs) in _CALLS.items():
        fn = getattr(cls, member, None)
        if fn is None or getattr(fn, "__isabstractmethod__", False):
            continue  # still abstract: an intermediate base; instantiation will say so
        if not callable(fn):
            raise MethodDefinitionError(f"{where}.{member}: expected a method, got {fn!r}")
        try:
            inspect.signature(fn).bind(None, *args, **kwargs)
        except TypeError as exc:
            raise MethodDefinitionError(
                f"{where}.{member}{inspect.signature(fn)} cannot be called as the harness calls "
                f"it: expected {_EXPECTED[member]} ({exc})"
            ) from None
        except ValueError:
            continue  # no signature to inspect (a builtin): trust it
    if _defined_here(cls, "save") != _defined_here(cls, "load"):
        raise MethodDefinitionError(
            f"{where} overrides only one of save/load: override both (one file format) or "
            "neither (the default stores the method's attributes as JSON and arrays)"
        )
    if cls.long_range and not _defined_here(cls, "predict_long_range"):
        raise MethodDefinitionError(
            f"{where} sets long_range = True but does not implement predict_long_range"
        )
    if not isinstance(cls.family, str) or not isinstance(cls.name, str):
        raise MethodDefinitionError(f"{where}: name and family must be strings")
