"""Atomically written files honour the umask; the signing key stays 0600 (issue 29, item 20)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bench.atomic import write_atomic, write_json
from bench.data import fetch


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_atomic_writes_get_the_mode_open_would_give(tmp_path, umask_022):
    write_atomic(tmp_path / "report.md", "x")
    write_json(tmp_path / "metrics.json", {"a": 1})
    assert _mode(tmp_path / "report.md") == 0o644
    assert _mode(tmp_path / "metrics.json") == 0o644
    os.umask(0o077)
    write_atomic(tmp_path / "private.md", "x")
    assert _mode(tmp_path / "private.md") == 0o600
    os.umask(0o002)
    write_atomic(tmp_path / "group.md", b"x")
    assert _mode(tmp_path / "group.md") == 0o664


def test_a_secret_keeps_0600_whatever_the_umask(tmp_path, umask_022, monkeypatch):
    write_atomic(tmp_path / "secret", "k" * 64, permissions=0o600)
    assert _mode(tmp_path / "secret") == 0o600
    from bench import provenance

    monkeypatch.setenv(provenance.KEY_ENV, str(tmp_path / "keys" / "run-key"))
    provenance._key(create=True)
    assert _mode(tmp_path / "keys" / "run-key") == 0o600


def test_fetched_files_honour_the_umask(tmp_path, umask_022):
    dest = tmp_path / "data" / "file.bin"
    fetch._fetch_into(lambda tmp: tmp.write_bytes(b"payload"), dest, None, "file.bin")
    assert dest.read_bytes() == b"payload" and _mode(dest) == 0o644
