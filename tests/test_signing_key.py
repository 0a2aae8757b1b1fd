"""The run signing key (bench.provenance) is checked in preflight, before a run folder exists:
a key that cannot be used is a clear error naming it (issue 29 item 15), a weak key or one that
others can read is a warning (item 16)."""

from __future__ import annotations

import logging
import os
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


def _preflight_warnings(key: Path, monkeypatch, caplog, tmp_path) -> str:
    """The warnings of a run's preflight with ``key``; the run stops at an unknown dataset,
    right after the key is checked."""
    monkeypatch.setenv("EMSEG_BENCH_KEY_FILE", str(key))
    with caplog.at_level(logging.WARNING):
        assert main(["run", "--method", "cad", "--profile", "smoke", "--dataset",
                     "no-such-dataset", "--results", str(tmp_path / "results")]) == 2
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


def _key_file(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_16_a_key_of_32_identical_characters_is_warned_about(tmp_path, monkeypatch, caplog):
    key = _key_file(tmp_path / "run-key", "a" * 32, 0o600)
    warned = _preflight_warnings(key, monkeypatch, caplog, tmp_path)
    assert f"the run signing key {key} is weak (about 0 bits" in warned


def test_16_a_key_others_can_read_is_warned_about(tmp_path, monkeypatch, caplog):
    key = _key_file(tmp_path / "run-key", secrets.token_hex(32), 0o644)
    warned = _preflight_warnings(key, monkeypatch, caplog, tmp_path)
    assert f"the run signing key {key} can be read or written by group and others" in warned
    assert "weak" not in warned


@pytest.mark.skipif(not Path("/proc/version").is_file(), reason="no /proc/version here")
def test_16_a_world_readable_system_file_as_key_is_warned_about(tmp_path, monkeypatch, caplog):
    warned = _preflight_warnings(Path("/proc/version"), monkeypatch, caplog, tmp_path)
    assert "the run signing key /proc/version can be read or written by" in warned


def test_16_the_key_the_harness_makes_draws_no_warning(tmp_path, monkeypatch, caplog):
    warned = _preflight_warnings(tmp_path / "new-key", monkeypatch, caplog, tmp_path)
    assert "signing key" not in warned
    assert (tmp_path / "new-key").stat().st_mode & 0o777 == 0o600
