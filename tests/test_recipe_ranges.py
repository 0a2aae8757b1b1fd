"""Recipe values are range-checked in preflight, before any run folder (issue 29, item 14)."""

from __future__ import annotations

import pytest

from bench.cli import main


@pytest.mark.parametrize(("setting", "named"), [
    ("augment=1", "'augment'"),
    ("stop_after=[1, 2]", "'stop_after'"),
    ("batch_2d=0", "'batch_2d'"),
    ("lr=0", "'lr'"),
    ("augment.p_misalign=1.5", "'augment.p_misalign'"),
    ("patch_2d=-8", "'patch_2d'"),
])
def test_out_of_range_values_fail_in_preflight_naming_the_key(setting, named, tmp_path, capsys):
    assert main(["run", "--method", "unet2d", "--profile", "smoke", "--device", "cpu",
                 "--set", setting, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
