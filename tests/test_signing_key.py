"""The run signing key (bench.provenance) is checked in preflight, before a run folder exists:
a key that cannot be used is a clear error naming it (issue 29 item 15), a weak key or one that
others can read is a warning (item 16)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from bench.cli import main


def _run_dirs(results: Path) -> list[Path]:
    runs = results / "runs"
    return sorted(runs.iterdir()) if runs.exists() else []


@pytest.mark.parametrize("kind", ["binary", "directory", "unreadable"])
def test_15_unusable_key_fails_in_preflight_naming_it_and_makes_no_run_folder(
        kind, tmp_path, monkeypatch, capsys):
    key = tmp_path / "run-key"
    if kind == "binary":
        key.write_bytes(b"\xff\xfe\x00" + bytes(range(256)))
    elif kind == "directory":
        key.mkdir()
    else:  # as if chmod 000 for a user other than root (these tests may run as root)
        key.write_text(secrets.token_hex(32))
        real_open = Path.open

        def guarded(self, *args, **kwargs):
            if self == key:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", guarded)
    monkeypatch.setenv("EMSEG_BENCH_KEY_FILE", str(key))
    results = tmp_path / "results"
    assert main(["run", "--method", "cad", "--profile", "smoke", "--results",
                 str(results)]) == 2
    err = capsys.readouterr().err
    assert f"the run signing key {key}" in err
    assert {"binary": "not a text key", "directory": "is a directory",
            "unreadable": "permission denied"}[kind] in err
    assert _run_dirs(results) == []  # no orphan runs/<id>/
