"""What a run records about where it ran: versions, device, git commit."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from metrics.timing import lifetime_peak_rss_bytes

_PACKAGES = ("torch", "numpy", "scipy", "waterz", "python-elf", "scikit-image", "h5py", "zarr")


def git_commit(repo: str | Path | None = None) -> str:
    repo = Path(repo) if repo else Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe_environment(device: str = "cpu") -> dict:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "device": str(device),
        "commit": git_commit(),
        "packages": versions,
    }
    try:
        import torch

        from bench.threads import thread_settings

        env.update(thread_settings())  # torch threads, cores available, OpenMP wait policy
        if str(device).startswith("cuda") and torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    return env


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB
    (:func:`metrics.timing.lifetime_peak_rss_bytes`)."""
    return lifetime_peak_rss_bytes() / 2**20
