from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real EM fixtures); the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present (real EM fixtures live outside the repo)")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _run_signing_key(tmp_path_factory):
    """The key that signs run directories (bench.provenance) lives in a temporary folder, not
    in the user's ~/.config; set in os.environ so that subprocesses use it too."""
    import os

    key = tmp_path_factory.mktemp("provenance") / "run-key"
    before = os.environ.get("EMSEG_BENCH_KEY_FILE")
    os.environ["EMSEG_BENCH_KEY_FILE"] = str(key)
    yield key
    if before is None:
        os.environ.pop("EMSEG_BENCH_KEY_FILE", None)
    else:
        os.environ["EMSEG_BENCH_KEY_FILE"] = before
