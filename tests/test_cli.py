"""Command-line parsing: --config / --set overrides and their errors."""

from __future__ import annotations

import pytest

from bench.commands.run import config_overrides, parse_overrides


def test_set_values_are_parsed_as_yaml():
    assert parse_overrides(["iters=100", "mode=fixed", "lr=1e-3", "patch_3d=[8,48,48]"]) == {
        "iters": 100, "mode": "fixed", "lr": 1e-3, "patch_3d": [8, 48, 48]}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["iters"])


def test_plain_yaml_config(tmp_path):
    f = tmp_path / "recipe.yaml"
    f.write_text("iters: 50\nmode: fixed\n")
    assert config_overrides([str(f)]) == {"iters": 50, "mode": "fixed"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        config_overrides([str(bad)])


def test_official_cad_configs_map_to_recipe_overrides(tmp_path):
    cfg2d = tmp_path / "2d_wafer4.yaml"
    cfg2d.write_text(
        "NAME: 2d_wafer4\nMODEL: {input_nc: 1, output_nc: 16, filter_channel: 16, "
        "if_sigmoid: False}\nTRAIN: {loss_func: WeightedMSELoss, loss_mode: trunc, "
        "loss_interaction: 1.0, interaction: True, only_z: False, if_verse: False, "
        "base_lr: 0.0001}\nDATA: {dataset_name: wafer4, patch_size: [256, 256]}\n")
    cfg3d = tmp_path / "3d_wafer4.yaml"
    cfg3d.write_text("MODEL: {model_type: superhuman, filters: [28, 36, 48, 64, 80], emd: 16}\n"
                     "TRAIN: {start_ft: 5000, ft_lr_ratio: 0.5}\nDATA: {padding: 20}\n")
    out = config_overrides([str(cfg2d), str(cfg3d)])
    assert out["start_ft"] == 5000 and out["teacher_lr_ratio"] == 0.5 and out["patch_2d"] == 256
    plain = tmp_path / "plain.yaml"
    plain.write_text("iters: 5\n")
    with pytest.raises(ValueError, match="official"):
        config_overrides([str(cfg2d), str(plain)])
