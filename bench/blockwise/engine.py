"""Run a per-block function over many blocks with Dask, skipping blocks already done.

The engine knows nothing about what a block computes: it receives ``task(block) -> result``
(a picklable callable; ``result`` a dict of numpy arrays / scalars, possibly empty) and a list of
:class:`bench.blockwise.blocks.Block`. Three ways to run the blocks:

- local threads (default; ``workers`` threads of Dask's threaded scheduler): numpy, zarr,
  torch, mahotas and waterz release the GIL for their heavy parts;
- local processes (``scheduler="processes"``), for work that holds the GIL;
- a cluster: ``scheduler_address="tcp://host:8786"`` (a running ``dask scheduler`` with
  ``dask worker`` processes on any machines, or a :class:`distributed.Client`), with
  ``retries`` handled by the Dask scheduler.

Resume: when a block's task returns, its result is written atomically (temporary file, then
``os.replace``) to ``done_dir/<block id>.npz``; that file is the block's done marker. A restarted
run skips every block that has one and reads its stored result instead, so a run killed at any
point (even SIGKILL) and restarted produces the same results as an uninterrupted one, as long as
a block's task is deterministic and writes only its own output chunks.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import progress
from bench.atomic import atomic_open
from bench.blockwise.blocks import Block

SCHEDULERS = ("threads", "processes", "synchronous")

BlockTask = Callable[[Block], dict[str, Any] | None]


@dataclass
class RunStats:
    """What one :func:`run_blocks` call did."""

    n_blocks: int
    n_skipped: int
    n_run: int
    #: wall time of this call: covers only the ``n_run`` blocks computed in it, not blocks a
    #: previous (interrupted) attempt finished
    seconds: float
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: voxels written by the blocks computed in this call (the numerator of an honest
    #: throughput: ``voxels_run / seconds``)
    voxels_run: int = 0


def marker_path(done_dir: str | Path, block_id: int) -> Path:
    return Path(done_dir) / f"{int(block_id)}.npz"


def is_done(done_dir: str | Path | None, block_id: int) -> bool:
    return done_dir is not None and marker_path(done_dir, block_id).is_file()


def write_marker(done_dir: str | Path, block_id: int, result: dict[str, Any] | None) -> None:
    """Store a block's result as its done marker, atomically."""
    with atomic_open(marker_path(done_dir, block_id)) as f:
        np.savez(f, **{k: np.asarray(v) for k, v in (result or {}).items()})


def read_marker(done_dir: str | Path, block_id: int) -> dict[str, Any]:
    path = marker_path(done_dir, block_id)
    try:  # a results folder may come from elsewhere: never unpickle what it holds
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: unreadable block marker ({exc}); delete it to redo the "
                         "block") from None


class _MarkedTask:
    """``task`` followed by the done marker; retried locally ``retries`` times (Dask's local
    schedulers have no retries of their own)."""

    def __init__(self, task: BlockTask, done_dir: str | None, retries: int):
        self.task = task
        self.done_dir = done_dir
        self.retries = retries

    def __call__(self, block: Block) -> tuple[int, dict[str, Any]]:
        for attempt in range(self.retries + 1):
            try:
                # the blocks' own bar reports this block: no bar of the work inside it
                with progress.silence():
                    result = self.task(block) or {}
                break
            except Exception:
                if attempt == self.retries:
                    raise
        if self.done_dir is not None:
            write_marker(self.done_dir, block.id, result)
        return block.id, result


def _client(scheduler_address: Any):
    try:
        from distributed import Client
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "scheduler_address needs dask.distributed: pip install distributed"
        ) from err
    if isinstance(scheduler_address, Client):
        return scheduler_address, False
    if not isinstance(scheduler_address, str) or not scheduler_address:
        raise ValueError(
            f"scheduler_address: expected an address such as 'tcp://host:8786' or a "
            f"distributed.Client, got {scheduler_address!r}"
        )
    return Client(scheduler_address), True


def run_blocks(
    task: BlockTask,
    blocks: Sequence[Block],
    *,
    workers: int = 1,
    scheduler: str = "threads",
    scheduler_address: Any = None,
    done_dir: str | Path | None = None,
    retries: int = 0,
    keep_results: bool = True,
    desc: str = "blocks",
) -> RunStats:
    """Run ``task`` on every block not yet done; return the results of all blocks.

    Parameters
    ----------
    task
        ``task(block) -> dict | None``; must be picklable for processes and clusters.
    blocks
        Blocks to process (ids must be unique).
    workers
        Local threads or processes (ignored with ``scheduler_address``: the cluster decides).
    scheduler
        ``"threads"``, ``"processes"`` or ``"synchronous"`` (one at a time, in order; for
        debugging and deterministic tests).
    scheduler_address
        Address of a Dask distributed scheduler, or a ``distributed.Client``.
    done_dir
        Directory of done markers; None disables resume.
    retries
        Extra attempts per failing block.
    keep_results
        Return every block's result (read back from the markers for skipped blocks).
    desc
        Label of the progress bar (:mod:`bench.progress`) over the pending blocks.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    ids = [b.id for b in blocks]
    if len(set(ids)) != len(ids):
        raise ValueError("blocks: ids must be unique")
    t0 = time.perf_counter()
    done_str = None if done_dir is None else str(done_dir)
    if done_str is not None:
        Path(done_str).mkdir(parents=True, exist_ok=True)
    pending = [b for b in blocks if not is_done(done_str, b.id)]
    results: dict[int, dict[str, Any]] = {}
    if pending:
        if scheduler_address is not None:
            client, owned = _client(scheduler_address)
            try:
                from distributed import as_completed

                marked = _MarkedTask(task, done_str, 0)
                futures = client.map(marked, pending, retries=retries, pure=False)
                # one step per block as the cluster finishes it, in any order
                with progress.bar(total=len(futures), desc=desc, unit="block") as shown:
                    for _ in as_completed(futures):
                        shown.update(1)
                out = client.gather(futures)
            finally:
                if owned:
                    client.close()
        else:
            import dask

            marked = _MarkedTask(task, done_str, retries)
            if scheduler == "synchronous" or workers == 1 and scheduler == "threads":
                # in order, in this thread: predictable and the cheapest for one worker
                out = [marked(b) for b in progress.bar(pending, desc=desc, unit="block")]
            else:
                delayed = [dask.delayed(marked, pure=False)(b) for b in pending]
                with progress.dask_progress(desc):
                    out = dask.compute(*delayed, scheduler=scheduler, num_workers=workers)
        if keep_results:
            results.update(dict(out))
    if keep_results and done_str is not None:
        for b in blocks:
            if b.id not in results:
                results[b.id] = read_marker(done_str, b.id)
    return RunStats(len(blocks), len(blocks) - len(pending), len(pending),
                    time.perf_counter() - t0, results,
                    voxels_run=sum(b.n_voxels for b in pending))
