"""Recipe values are typed and alias-free before any run folder exists (issue 29, item 4)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.train.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]
UNET2D = REPO / "baselines" / "configs" / "unet2d.yaml"
SUPERHUMAN = REPO / "baselines" / "configs" / "superhuman3d.yaml"

#: nested aliases under a key whose default is null (9 x 9 x 9 here; each level more is 9x)
ALIAS_CONFIG = ("stop_after:\n"
                "  - &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
                "  - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                "  - [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.run([sys.executable, "-m", "bench", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=180)


def test_a_config_with_yaml_aliases_is_refused_before_any_work(tmp_path):
    config = tmp_path / "bomb.yaml"
    config.write_text(ALIAS_CONFIG)
    results = tmp_path / "results"
    proc = _run(["run", "--method", "unet2d", "--profile", "smoke", "--device", "cpu",
                 "--config", str(config), "--results", str(results)], tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "aliases" in proc.stderr and str(config) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (results / "runs").exists()


def test_a_set_value_with_aliases_is_refused_with_one_line(tmp_path, capsys):
    assert main(["run", "--method", "unet2d", "--profile", "smoke", "--set",
                 "stop_after=[&a [1], *a]", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--set stop_after" in err and "aliases" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("path", "override", "expected"), [
    (SUPERHUMAN, {"infer_pad": "[[1, [2]]]"}, "flat list of integers"),  # null default
    (SUPERHUMAN, {"patch_3d": "[4, 32, x]"}, "flat list of integers"),
    (UNET2D, {"augment": "1"}, "mapping"),
    (UNET2D, {"infer_tile": "[[64]]"}, "an integer"),
])
def test_every_recipe_key_is_typed(path, override, expected):
    with pytest.raises(ValueError, match=expected):
        load_recipe(path, "smoke", override)


def test_null_default_keys_still_take_what_they_mean():
    recipe = load_recipe(SUPERHUMAN, "smoke", {"infer_pad": "[4, 15, 15]", "stop_after": "2"})
    assert recipe["infer_pad"] == [4, 15, 15] and recipe["stop_after"] == 2
    assert load_recipe(SUPERHUMAN, "smoke", {"infer_pad": "null"})["infer_pad"] is None
