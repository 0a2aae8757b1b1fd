"""Import of the authors' released CAD student checkpoints (docs/cad.md section 8).

The official ``ckpt/*.ckpt`` files are in torch's legacy (non-zip) format with the top-level
keys ``current_iter``, ``valid_result`` and ``model_weights`` (the 2D student's state_dict, no
``module.`` prefix). They were saved from CUDA tensors, so they are always mapped to the CPU
here; move the returned network to a device yourself. Loading uses ``weights_only=True``: the
files contain only tensors and plain Python values, and no pickled code is ever executed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from bench.nets.ynet import YNetStudent

__all__ = ["load_official_student", "read_official_checkpoint"]

_WEIGHTS_KEY = "model_weights"


def _load_raw(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a non-checkpoint file
        raise ValueError(
            f"checkpoint {str(path)!r} could not be read as a torch checkpoint with "
            f"weights_only=True: {exc}"
        ) from exc
    if not isinstance(obj, Mapping) or _WEIGHTS_KEY not in obj:
        keys = sorted(obj.keys()) if isinstance(obj, Mapping) else type(obj).__name__
        raise ValueError(
            f"checkpoint {str(path)!r}: expected a dict with key {_WEIGHTS_KEY!r} (official CAD "
            f"format: current_iter, valid_result, model_weights), found {keys}"
        )
    return dict(obj)


def read_official_checkpoint(path: str | Path) -> dict[str, Any]:
    """Metadata of an official CAD checkpoint, without building the network.

    Returns
    -------
    dict
        ``path``, ``current_iter`` (int or None), ``valid_result``, ``n_tensors`` (entries of
        ``model_weights``), ``n_parameters`` (numbers in trainable tensors: everything except
        BatchNorm running statistics and counters), ``n_numbers`` (all numbers incl. buffers).
    """
    obj = _load_raw(path)
    weights = obj[_WEIGHTS_KEY]
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    n_params = sum(t.numel() for k, t in weights.items() if not k.endswith(buffers))
    iteration = obj.get("current_iter")
    return {
        "path": str(path),
        "current_iter": int(iteration) if iteration is not None else None,
        "valid_result": obj.get("valid_result"),
        "n_tensors": len(weights),
        "n_parameters": int(n_params),
        "n_numbers": int(sum(t.numel() for t in weights.values())),
    }


def load_official_student(path: str | Path) -> YNetStudent:
    """Build a :class:`YNetStudent` from an official CAD checkpoint, strictly, in eval mode.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not a CAD checkpoint, or its ``model_weights`` do not match the student:
        the message lists missing and unexpected keys and shape mismatches.
    """
    weights = _load_raw(path)[_WEIGHTS_KEY]
    # a DataParallel-saved state_dict would carry "module."; the official ones do not, but
    # stripping it costs nothing and keeps strict matching meaningful
    if weights and all(k.startswith("module.") for k in weights):
        weights = {k[len("module.") :]: v for k, v in weights.items()}
    net = YNetStudent()
    expected = net.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong_shape = sorted(
        f"{k}: file {tuple(weights[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(weights)
        if tuple(weights[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or wrong_shape:

        def _fmt(items: list[str]) -> str:
            more = f", ... ({len(items)} in all)" if len(items) > 10 else ""
            return ", ".join(items[:10]) + more

        raise ValueError(
            f"checkpoint {str(path)!r} does not hold a CAD 2D student state_dict: "
            f"missing keys [{_fmt(missing)}]; unexpected keys [{_fmt(unexpected)}]; "
            f"shape mismatches [{_fmt(wrong_shape)}]"
        )
    net.load_state_dict(weights, strict=True)
    return net.eval()
