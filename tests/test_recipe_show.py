"""``python -m bench recipe show METHOD --profile P`` prints the recipe a method trains with."""

from __future__ import annotations

import pytest
import yaml

from bench.cli import main
from bench.registry import METHODS


def _show(capsys, *argv: str) -> tuple[str, dict]:
    assert main(["recipe", "show", *argv]) == 0
    out = capsys.readouterr().out
    return out, yaml.safe_load(out)


@pytest.mark.parametrize(("method", "profile"), [("cad", "quick"), ("cad-nofgi", "paper"),
                                                 ("unet2d", "smoke"), ("rf", "quick")])
def test_the_printed_recipe_is_the_one_the_method_is_built_with(capsys, method, profile):
    text, shown = _show(capsys, method, "--profile", profile)
    assert text.startswith(f"# {method}, profile {profile}: resolved from ")
    built = METHODS.create(method, profile=profile).config
    assert shown == built
    assert shown["profile"] == profile


def test_profile_variant_and_overrides_are_applied(capsys):
    _, quick = _show(capsys, "cad", "--profile", "quick")
    _, paper = _show(capsys, "cad", "--profile", "paper")
    assert (quick["iters"], paper["iters"]) == (200, 200000)  # cad.yaml's quick and defaults
    assert (quick["mode"], paper["mode"]) == ("fixed", "faithful")
    assert quick["patch_3d"] == [8, 48, 48]
    _, nofgi = _show(capsys, "cad-nofgi", "--profile", "quick")
    assert nofgi["loss_interaction_weight"] == 0.0 and quick["loss_interaction_weight"] == 1.0
    _, changed = _show(capsys, "cad", "--set", "iters=7", "--set", "augment.flip=false")
    assert changed["iters"] == 7 and changed["augment"]["flip"] is False


def test_unknown_names_are_one_line_errors(capsys):
    assert main(["recipe", "show", "nosuchmethod"]) == 2
    assert "unknown method 'nosuchmethod'" in capsys.readouterr().err
    assert main(["recipe", "show", "cad", "--set", "nokey=1"]) == 2
    assert "unknown recipe key 'nokey'" in capsys.readouterr().err
    assert main(["recipe", "show", "cad", "--profile", "huge"]) == 2
    assert "profile" in capsys.readouterr().err
