"""DDP training through torchrun: 2 CPU processes (gloo) end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.registry import create_method

ROOT = Path(__file__).resolve().parents[1]


def _torchrun(tmp: Path, nproc: int, *extra: str, method: str = "unet2d",
              iters: int = 3) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
           "--standalone", "-m", "bench.train.ddp", "--method", method,
           "--profile", "smoke", "--run-dir", str(tmp), "--iters", str(iters),
           "--backend", "gloo", *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # two torchrun training processes
def test_two_gloo_ranks_end_with_identical_trained_weights(tmp_path):
    proc = _torchrun(tmp_path, 2, "--save-every-rank", "--batch", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["backend"] == "gloo"
    assert summary["step"] == 3 and torch.isfinite(torch.tensor(summary["last"]["loss"]))
    r0 = torch.load(tmp_path / "model_rank0.pt", weights_only=True)["modules"]["student"]
    r1 = torch.load(tmp_path / "model_rank1.pt", weights_only=True)["modules"]["student"]
    assert r0.keys() == r1.keys()
    for k in r0:
        torch.testing.assert_close(r0[k], r1[k], rtol=0, atol=0, msg=k)
    # the weights did train, and model.pt loads into the method
    method = create_method("unet2d", profile="smoke").load(tmp_path / "model.pt")
    torch.manual_seed(int(method.config["seed"]))
    init = method.build_nets()["student"].state_dict()
    assert any(not torch.equal(init[k], r0[k]) for k in r0 if r0[k].is_floating_point())
    # each rank checkpointed its own state (resumable)
    assert (tmp_path / "checkpoint.pt").is_file()
    assert (tmp_path / "rank1" / "checkpoint.pt").is_file()


@pytest.mark.slow  # two torchrun training processes
def test_cad_trains_under_ddp_through_distillation(tmp_path):
    """CAD calls its student several times per step and adds a teacher: both stay in sync."""
    proc = _torchrun(tmp_path, 2, "--save-every-rank", method="cad", iters=4)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    # the smoke recipe starts distillation and feature grafting at step 2 of 4
    assert summary["last"]["distill_on"] == 1 and summary["last"]["loss_cross"] > 0
    r0 = torch.load(tmp_path / "model_rank0.pt", weights_only=True)["modules"]
    r1 = torch.load(tmp_path / "model_rank1.pt", weights_only=True)["modules"]
    assert set(r0) == {"student", "teacher"}
    for net in r0:
        for k in r0[net]:
            torch.testing.assert_close(r0[net][k], r1[net][k], rtol=0, atol=0, msg=f"{net}.{k}")


def test_without_torchrun_the_entry_point_explains_itself(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "bench.train.ddp", "--method", "unet2d",
                           "--run-dir", str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "torchrun" in proc.stderr
