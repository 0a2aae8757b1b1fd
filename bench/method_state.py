"""The default :meth:`bench.method.Method.save` format: a method's attributes without pickle.

A ``model.pt`` may come from someone else's results folder (``--resume``, a study rerun,
``--checkpoint``), so reading it must not run code. The file is a NumPy ``.npz`` archive read
with ``allow_pickle=False``: one entry ``__state__`` holds a JSON document describing the
attributes, the others hold their arrays. What it stores:

==========================  ===========================================================
attribute value             stored as
==========================  ===========================================================
None, bool, int, float, str  JSON
list, tuple, dict            JSON (tuples and non-string keys tagged, so they come back)
``pathlib.Path``            its text
NumPy array or scalar       an array entry (object arrays refused: they need pickle)
torch tensor                an array entry, restored as a CPU tensor of the same dtype
torch module                its ``state_dict``, loaded into the module the fresh method
                            object already has under that attribute
==========================  ===========================================================

Anything else (a scikit-learn estimator, a custom class) cannot be written this way. Then the
method should override ``save``/``load`` (``baselines/rf.py`` uses skops with an allow-list),
or its author may trust pickle for their own files: :func:`trusted_pickle` (the command line's
``--trust-pickle``) writes and reads the attributes with plain pickle, which runs whatever code
a file carries, so it is never the default.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import sys
import zipfile
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from bench.atomic import atomic_open

__all__ = ["load_attributes", "pickle_trusted", "save_attributes", "trusted_pickle"]

SAFE_FORMAT = "emseg-bench method state v2 (json+npz)"
#: the pickled format of older versions, and of --trust-pickle
PICKLE_FORMAT = "emseg-bench method state v1"
_STATE_KEY = "__state__"
_TRUST = ContextVar("emseg_bench_trust_pickle", default=False)
_HINT = ("pass --trust-pickle (Python: bench.method_state.trusted_pickle()) only if you wrote "
         "this file yourself: unpickling runs whatever code the file carries")


@contextlib.contextmanager
def trusted_pickle(trust: bool = True) -> Iterator[None]:
    """Within the block, the default save/load may use plain pickle (for your own files)."""
    token = _TRUST.set(bool(trust))
    try:
        yield
    finally:
        _TRUST.reset(token)


def pickle_trusted() -> bool:
    return _TRUST.get()


class _Unsupported(TypeError):
    """An attribute value the safe format cannot hold."""


def _torch():
    # only present when some attribute is a tensor or module, i.e. torch is already imported
    return sys.modules.get("torch")


def _encode(value: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, np.generic):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise _Unsupported(f"{where} is a NumPy array of Python objects")
        key = f"a{len(arrays)}"
        arrays[key] = arr
        return {"$": "array" if isinstance(value, np.ndarray) else "scalar", "key": key}
    if isinstance(value, Path):
        return {"$": "path", "value": str(value)}
    if isinstance(value, list):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"$": "tuple",
                "items": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        return {"$": "dict", "items": [[_encode(k, arrays, f"{where} key"),
                                        _encode(v, arrays, f"{where}[{k!r}]")]
                                       for k, v in value.items()]}
    torch = _torch()
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if t.dtype == torch.bfloat16:  # NumPy has no bfloat16: keep the bits exactly
            key = f"a{len(arrays)}"
            arrays[key] = t.view(torch.int16).numpy().copy()
            return {"$": "tensor", "key": key, "dtype": "bfloat16"}
        key = f"a{len(arrays)}"
        arrays[key] = t.numpy().copy()
        return {"$": "tensor", "key": key}
    if torch is not None and isinstance(value, torch.nn.Module):
        return {"$": "module", "state": _encode(dict(value.state_dict()), arrays, where)}
    raise _Unsupported(f"{where} is a {type(value).__module__}.{type(value).__qualname__}")


def _decode(doc: Any, arrays: Any, current: Any, path: Path, where: str) -> Any:
    if isinstance(doc, list):
        return [_decode(v, arrays, None, path, where) for v in doc]
    if not isinstance(doc, dict):
        return doc
    tag = doc.get("$")
    if tag in ("array", "scalar", "tensor"):
        key = doc.get("key")
        if not isinstance(key, str) or key not in arrays.files:
            raise ValueError(f"{path}: {where} refers to a missing array {key!r}")
        try:
            arr = arrays[key]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            # NumPy refuses an object array rather than unpickle it: name the file
            raise ValueError(f"{path}: {where}: array {key!r} is unreadable ({exc})") from None
        if tag == "array":
            return arr
        if tag == "scalar":
            return arr[()]
        import torch

        t = torch.from_numpy(np.array(arr))
        return t.view(torch.bfloat16) if doc.get("dtype") == "bfloat16" else t
    if tag == "path":
        return Path(str(doc.get("value")))
    if tag == "tuple":
        return tuple(_decode(v, arrays, None, path, where) for v in doc.get("items", []))
    if tag == "dict":
        return {_freeze(_decode(k, arrays, None, path, where)):
                _decode(v, arrays, None, path, f"{where}[{k!r}]")
                for k, v in doc.get("items", [])}
    if tag == "module":
        import torch

        if not isinstance(current, torch.nn.Module):
            raise ValueError(f"{path}: {where} holds a torch module's weights, but the method "
                             "object has no module there to load them into")
        state = _decode(doc.get("state"), arrays, None, path, where)
        try:
            current.load_state_dict(state)
        except (RuntimeError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: {where}: the weights do not fit the module ({exc})"
                             ) from None
        return current
    raise ValueError(f"{path}: {where}: unknown entry {tag!r}")


def _freeze(key: Any) -> Any:
    """Dict keys must be hashable: a key that came back as a list becomes a tuple."""
    return tuple(key) if isinstance(key, list) else key


def save_attributes(path: Path, method: str, cls: str, attributes: dict[str, Any]) -> None:
    """Write ``attributes`` of method ``method`` (class ``cls``) to ``path``, atomically."""
    arrays: dict[str, np.ndarray] = {}
    try:
        doc = {name: _encode(v, arrays, f"attribute {name!r}") for name, v in attributes.items()}
    except _Unsupported as exc:
        if not pickle_trusted():
            raise ValueError(
                f"method {method!r} ({cls}): {exc}, which the default save format (JSON and "
                "arrays, safe to read back) cannot hold; override save/load (baselines/rf.py "
                "uses skops with an allow-list), or run with --trust-pickle to store it with "
                "plain pickle (for your own method only)"
            ) from None
        with atomic_open(path, "wb") as f:
            pickle.dump({"format": PICKLE_FORMAT, "method": method, "attributes": attributes},
                        f, protocol=pickle.HIGHEST_PROTOCOL)
        return
    header = json.dumps({"format": SAFE_FORMAT, "method": method, "attributes": doc})
    with atomic_open(path, "wb") as f:
        np.savez(f, **{_STATE_KEY: np.asarray(header)}, **arrays)


def load_attributes(path: Path, method: str, cls: str, current: dict[str, Any]
                    ) -> dict[str, Any]:
    """The attributes :func:`save_attributes` wrote to ``path``; modules are loaded into the
    ones in ``current`` (the fresh object's attributes)."""
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    with open(path, "rb") as f:
        magic = f.read(4)
    not_ours = f"{path}: not a file written by {cls}.save"
    if magic[:2] == b"PK":
        try:
            arrays = np.load(path, allow_pickle=False)
            with arrays:
                state = json.loads(str(arrays[_STATE_KEY][()]))
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{not_ours} ({type(exc).__name__}: {exc})") from None
        if not isinstance(state, dict) or state.get("format") != SAFE_FORMAT:
            raise ValueError(not_ours)
        _check_method(state, method, path)
        doc = state.get("attributes")
        if not isinstance(doc, dict):
            raise ValueError(f"{not_ours} ('attributes' is not a mapping)")
        with np.load(path, allow_pickle=False) as arrays:
            return {name: _decode(v, arrays, current.get(name), path, f"attribute {name!r}")
                    for name, v in doc.items()}
    if magic[:1] != b"\x80":  # every pickle protocol >= 2 starts with PROTO
        raise ValueError(not_ours)
    if not pickle_trusted():
        raise ValueError(f"{path}: a pickled method state, refused because reading it could "
                         f"run code; {_HINT}")
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise ValueError(f"{not_ours} ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != PICKLE_FORMAT:
        raise ValueError(not_ours)
    _check_method(state, method, path)
    return dict(state["attributes"])


def _check_method(state: dict[str, Any], method: str, path: Path) -> None:
    if state.get("method") != method:
        raise ValueError(f"{path}: holds method {state.get('method')!r}, not {method!r}")

