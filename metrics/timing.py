"""Throughput timing for the harness: warm up, synchronise CUDA, report voxels/s and peak memory.

Peak host memory is the peak resident set size (RSS) of this process during the timed calls. On
Linux the kernel's high-water mark is reset first (``/proc/self/clear_refs``), so the peak is
exact for the timed region; where that is not allowed, a thread samples RSS every millisecond
(a lower bound). GPU peak memory is ``torch.cuda.max_memory_allocated`` (tensors allocated by
PyTorch; other CUDA libraries are not seen).

This is the project's one memory meter: :class:`RssPeak` (peak over a region),
:func:`current_rss_bytes` and :func:`lifetime_peak_rss_bytes` are what the harness's result rows,
the post-processing statistics and every ``perf`` benchmark report.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

_STATUS = "/proc/self/status"


def _status_kib(key: str) -> int | None:
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_bytes() -> int | None:
    """Resident set size of this process now (Linux), or None where unknown."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def lifetime_peak_rss_bytes() -> int:
    """Peak resident set size of this process since it started (``ru_maxrss``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


class RssPeak:
    """Peak RSS between :meth:`start` and :meth:`stop` (bytes; None where unknown).

    ``exact`` tells whether the kernel's high-water mark was reset for the region (Linux);
    otherwise the peak is sampled every ``interval_s`` (a lower bound).
    """

    def __init__(self, interval_s: float = 0.001):
        self.interval_s = interval_s
        self.baseline: int | None = None
        self.exact = False
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.baseline = current_rss_bytes()
        try:  # "5" resets the peak RSS (VmHWM) of this process (Linux >= 4.0)
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.exact = _status_kib("VmHWM") is not None
        except OSError:
            self.exact = False
        if not self.exact and self.baseline is not None:
            self._peak = self.baseline
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = current_rss_bytes() or 0
            self._peak = max(self._peak, rss)
            time.sleep(self.interval_s)

    def stop(self) -> int | None:
        if self.exact:
            kib = _status_kib("VmHWM")
            return None if kib is None else kib * 1024
        if self._thread is None:
            return None
        self._stop.set()
        self._thread.join()
        return max(self._peak, current_rss_bytes() or 0)


def _cuda_device(device: Any):
    """The torch CUDA device meant by ``device``, or None when it is not a CUDA device."""
    if device is None:
        return None
    if str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available")
        return torch.device(device)
    return None


@dataclass
class ThroughputResult:
    """Timing of ``repeat`` calls after ``warmup`` untimed ones.

    ``seconds`` is the fastest call (least disturbed by other load); ``seconds_all`` all of them.
    ``peak_rss_bytes`` is the process's peak RSS during the timed calls and
    ``peak_extra_rss_bytes`` that minus the RSS just before them (what the call itself added).
    """

    seconds: float
    seconds_all: list[float]
    n_voxels: int
    voxels_per_s: float
    peak_rss_bytes: int | None
    peak_extra_rss_bytes: int | None
    gpu_peak_bytes: int | None = None
    device: str = "cpu"
    value: Any = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("value")
        return d


@contextmanager
def track(n_voxels: int, *, device: Any = None) -> Iterator[dict[str, Any]]:
    """Context manager timing one region: yields a dict filled with the numbers on exit.

    >>> with track(n_voxels=10**6) as t:
    ...     work()
    >>> t["voxels_per_s"]
    """
    cuda = _cuda_device(device)
    out: dict[str, Any] = {}
    if cuda is not None:
        import torch

        torch.cuda.synchronize(cuda)
        torch.cuda.reset_peak_memory_stats(cuda)
    rss = RssPeak()
    rss.start()
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        if cuda is not None:
            torch.cuda.synchronize(cuda)
        dt = time.perf_counter() - t0
        peak = rss.stop()
        out["seconds"] = dt
        out["n_voxels"] = int(n_voxels)
        out["voxels_per_s"] = n_voxels / dt if dt > 0 else float("inf")
        out["peak_rss_bytes"] = peak
        out["peak_extra_rss_bytes"] = (
            None if peak is None or rss.baseline is None else max(0, peak - rss.baseline)
        )
        out["gpu_peak_bytes"] = (
            None if cuda is None else int(torch.cuda.max_memory_allocated(cuda))
        )


def measure(
    fn: Callable[[], Any],
    *,
    n_voxels: int,
    warmup: int = 1,
    repeat: int = 1,
    device: Any = None,
) -> ThroughputResult:
    """Call ``fn()`` ``warmup`` times untimed, then ``repeat`` times timed.

    Parameters
    ----------
    fn : callable with no arguments
        The work (e.g. ``lambda: evaluate(gt, seg)``); its last return value is kept.
    n_voxels : int
        Voxels processed per call, for ``voxels_per_s``.
    warmup, repeat : int
        Untimed and timed calls (``repeat >= 1``).
    device : None, "cpu", "cuda", "cuda:N" or torch.device
        When CUDA, the device is synchronised around each call and its peak memory reported.
    """
    if repeat < 1 or warmup < 0:
        raise ValueError(f"need repeat >= 1 and warmup >= 0; got repeat={repeat}, warmup={warmup}")
    if n_voxels < 0:
        raise ValueError(f"n_voxels must be >= 0; got {n_voxels}")
    value = None
    for _ in range(warmup):
        value = fn()
    times, peaks, extras, gpu = [], [], [], []
    for _ in range(repeat):
        with track(n_voxels, device=device) as t:
            value = fn()
        times.append(t["seconds"])
        peaks.append(t["peak_rss_bytes"])
        extras.append(t["peak_extra_rss_bytes"])
        gpu.append(t["gpu_peak_bytes"])
    best = min(times)
    known = lambda xs: [x for x in xs if x is not None]  # noqa: E731
    return ThroughputResult(
        seconds=best,
        seconds_all=times,
        n_voxels=int(n_voxels),
        voxels_per_s=n_voxels / best if best > 0 else float("inf"),
        peak_rss_bytes=max(known(peaks), default=None),
        peak_extra_rss_bytes=max(known(extras), default=None),
        gpu_peak_bytes=max(known(gpu), default=None),
        device=str(device) if device is not None else "cpu",
        value=value,
    )


def cpu_count() -> int:
    """CPUs this process may run on (for reports)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
