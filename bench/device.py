"""Device selection: ``auto`` means CUDA when present, CPU otherwise."""

from __future__ import annotations

import torch

from bench.errors import BenchError

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
