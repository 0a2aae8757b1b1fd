"""Device selection (``auto`` means CUDA when present, CPU otherwise), the one
mixed-precision policy of training and inference (:func:`autocast`) and the wait for queued GPU
work that every timing needs (:func:`synchronize`)."""

from __future__ import annotations

import contextlib

import torch

from bench.exceptions import BenchError

#: the device types a run can use
DEVICE_TYPES = ("cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` as a :class:`torch.device`; a name torch does
    not know, or CUDA on a machine without it, raises :class:`BenchError` saying so."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in DEVICE_TYPES:
        raise BenchError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BenchError(f"--device {device!r} requested but CUDA is not available here "
                             "(use --device cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise BenchError(f"--device {device!r}: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    return dev


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA when ``enabled``; a no-op on CPU (AMP only on GPU).

    bfloat16 keeps float32's exponent range, so cosine affinities and losses need no scaling.
    """
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (CUDA runs asynchronously; a no-op on CPU), so a
    wall-clock timer read after it covers that work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
