"""Which run directories this harness made, on this machine, and which of their files it wrote.

A study (:mod:`bench.study`) resumes and adopts run directories it finds under ``runs/``,
``--resume`` reuses a run's finished stages and ``report --rebuild-db`` inserts a run's rows.
A folder copied in by someone else (a shared or downloaded results folder, a hand-made one), or
one file of a run replaced, must not pass for the harness's own work. So every run records
``provenance.json``: the SHA-256 of each file the harness wrote (:data:`SIGNED_FILES`, each
added when its stage writes it: ``config.yaml`` and ``recipe.yaml`` at the start, ``model.pt``
and ``train_summary.json`` after training, ``predictions.h5`` after inference, then
``segmentation.h5``, ``overlap_tables.npz``, ``neuron_errors.json`` and ``metrics.json``) and
an HMAC-SHA256 of the record under a secret key kept outside every results folder
(``~/.config/emseg-bench/run-key``, or the file named by ``$EMSEG_BENCH_KEY_FILE``; created on
first use, readable by its owner only). Anyone can compute a plain hash; only this user on this
machine (or whoever was given the key file) can compute the HMAC, so neither a planted folder
nor a planted or edited file of a real run passes.

A record that cannot be parsed (not JSON, wrong types, a ``mac`` that is not hexadecimal) makes
the folder *unverifiable*, which every caller treats like an unsigned folder; it never raises.
Verification never reads the content of a file beyond hashing it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
from pathlib import Path

from bench.atomic import write_json

__all__ = ["PROVENANCE_NAME", "SIGNED_FILES", "SigningKeyError", "check_key", "key_path",
           "sign_files", "sign_run", "verify_file", "verify_run"]

log = logging.getLogger(__name__)

PROVENANCE_NAME = "provenance.json"
#: the files of a run directory that the harness itself writes and vouches for
SIGNED_FILES = ("config.yaml", "recipe.yaml", "model.pt", "train_summary.json",
                "predictions.h5", "segmentation.h5", "overlap_tables.npz", "neuron_errors.json",
                "metrics.json")
KEY_ENV = "EMSEG_BENCH_KEY_FILE"
#: a key with less than this (its length times the entropy of its characters) draws a warning;
#: the 64 random hex digits the harness writes have about 240
MIN_KEY_BITS = 96

_HEX64 = re.compile(r"[0-9a-f]{64}")


def key_path() -> Path:
    """Where the signing key lives (``$EMSEG_BENCH_KEY_FILE`` overrides the default)."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV])
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "emseg-bench" / "run-key"


class SigningKeyError(ValueError):
    """The run signing key cannot be used; the message names it and says what to do."""


def check_key() -> None:
    """Preflight for a run, before its folder exists: the signing key is made when missing and
    must be a readable text file (else :class:`SigningKeyError`); a weak key, or one that
    others can read, is logged as a warning."""
    key = _key(create=True)
    path = key_path()
    for why in _key_weaknesses(path, key):
        log.warning("the run signing key %s %s; anyone who can read or guess it can make a "
                    "folder pass for one of your runs", path, why)


def _key_weaknesses(path: Path, key: bytes) -> list[str]:
    found = []
    counts = [key.count(b) for b in set(key)]
    bits = sum(c * math.log2(len(key) / c) for c in counts)
    if bits < MIN_KEY_BITS:
        found.append(f"is weak (about {bits:.0f} bits of entropy, fewer than {MIN_KEY_BITS}): "
                     "delete it to have a random one made")
    st = path.stat()
    others = [who for who, bits_ in (("group", 0o060), ("others", 0o006)) if st.st_mode & bits_]
    if others:
        found.append(f"can be read or written by {' and '.join(others)} (mode "
                     f"{st.st_mode & 0o777:03o}): chmod 600 {path}, or use a key file of "
                     "your own")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        found.append(f"belongs to another user (uid {st.st_uid}): use a key file of your own")
    return found


def _read_key(path: Path) -> bytes:
    what = f"the run signing key {path} (${KEY_ENV}, else ~/.config/emseg-bench/run-key)"
    fix = (f"delete it to have a new one made (runs signed with the old key will not be "
           f"resumed), or point ${KEY_ENV} at another file")
    if path.is_dir():
        raise SigningKeyError(f"{what} is a directory, not a key file: {fix}")
    try:
        data = path.read_bytes()
    except PermissionError:
        raise SigningKeyError(f"{what} cannot be read (permission denied): make it readable "
                              f"by you (chmod 600 {path}), or {fix}") from None
    except OSError as exc:
        raise SigningKeyError(f"{what} cannot be read ({exc.strerror or exc}): {fix}") from None
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = None
    if text is None or not all(c.isprintable() or c.isspace() for c in text):
        raise SigningKeyError(f"{what} is not a text key (it holds binary bytes; the harness "
                              f"writes 64 hex digits): {fix}")
    if len(text) < 32:
        raise SigningKeyError(f"{what} is empty or too short (under 32 characters): {fix}")
    return text.encode()


def _key(create: bool) -> bytes | None:
    path = key_path()
    if not os.path.lexists(path):
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two processes creating the key at once agree on the first one
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return _read_key(path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _mac(key: bytes, run_id: str, files: dict[str, str]) -> str:
    blob = json.dumps({"run_id": run_id, "files": files}, sort_keys=True).encode()
    return hmac.new(key, blob, hashlib.sha256).hexdigest()


def _authentic(run_dir: Path) -> tuple[dict[str, str] | None, str | None]:
    """``(files, None)`` when ``provenance.json`` is a record this machine's key signed for this
    folder (``files``: name -> SHA-256 as recorded); ``(None, why)`` otherwise. Never raises."""
    f = run_dir / PROVENANCE_NAME
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, (f"no readable {PROVENANCE_NAME} (made by hand, elsewhere or by an older "
                      "version)")
    files = doc.get("files") if isinstance(doc, dict) else None
    mac = doc.get("mac") if isinstance(doc, dict) else None
    if (not isinstance(files, dict) or not isinstance(mac, str) or not _HEX64.fullmatch(mac)
            or not all(isinstance(k, str) and isinstance(v, str) and _HEX64.fullmatch(v)
                       for k, v in files.items())):
        return None, (f"{PROVENANCE_NAME} is malformed (expected files: name -> SHA-256 hex and "
                      "a hexadecimal mac); unverifiable")
    try:
        key = _key(create=False)
    except (OSError, ValueError) as exc:
        return None, f"the signing key cannot be read ({exc}); unverifiable"
    if key is None:
        return None, f"no signing key at {key_path()} (the run was made by another user or machine)"
    if not hmac.compare_digest(mac.encode("ascii"), _mac(key, run_dir.name, files).encode()):
        return None, (f"{PROVENANCE_NAME} was not signed with this machine's key {key_path()} "
                      "(made elsewhere, renamed or edited)")
    return files, None


def sign_run(run_dir: Path, names: tuple[str, ...] | None = None) -> None:
    """Start the run's record afresh: the hashes of ``names`` (default: every one of
    :data:`SIGNED_FILES` present now) and their HMAC. Called once, when the harness creates a
    run directory; later stages add their files with :func:`sign_files`."""
    run_dir = Path(run_dir)
    names = SIGNED_FILES if names is None else names
    files = {name: _sha256(run_dir / name) for name in names if (run_dir / name).is_file()}
    key = _key(create=True)
    write_json(run_dir / PROVENANCE_NAME,
               {"run_id": run_dir.name, "files": files, "mac": _mac(key, run_dir.name, files)})


def sign_files(run_dir: Path, *names: str) -> bool:
    """Add (or refresh) the hashes of ``names``, files the caller has just written, to the
    run's record. Only a record this machine signed is extended: a folder that was not ours
    to begin with stays unsigned (returns False). Other entries are left as they are, so a
    file planted beside them is still reported by :func:`verify_run` until a stage rewrites it."""
    run_dir = Path(run_dir)
    files, why = _authentic(run_dir)
    if files is None:
        log.info("not signing %s in %s: %s", ", ".join(names), run_dir, why)
        return False
    for name in names:
        if (run_dir / name).is_file():
            files[name] = _sha256(run_dir / name)
        else:
            files.pop(name, None)
    key = _key(create=True)
    write_json(run_dir / PROVENANCE_NAME,
               {"run_id": run_dir.name, "files": files, "mac": _mac(key, run_dir.name, files)})
    return True


def verify_file(run_dir: Path, name: str) -> str | None:
    """None when ``name`` in ``run_dir`` is the file this harness wrote (signed, unchanged);
    else why not (the folder unverifiable, the file unsigned or changed)."""
    run_dir = Path(run_dir)
    files, why = _authentic(run_dir)
    if files is None:
        return why
    if name not in files:
        return f"{name} was not written by this harness (not in {PROVENANCE_NAME})"
    try:
        if _sha256(run_dir / name) != files[name]:
            return f"{name} changed since the harness wrote it"
    except OSError as exc:
        return f"{name} cannot be read ({exc})"
    return None


def verify_run(run_dir: Path, just_written: tuple[str, ...] = ()) -> str | None:
    """None when ``run_dir`` is a run this harness made here and every one of its
    :data:`SIGNED_FILES` is unchanged since; else why not.

    ``just_written``: files the caller has just written and is about to sign (they may be
    missing from the record)."""
    run_dir = Path(run_dir)
    files, why = _authentic(run_dir)
    if files is None:
        return why
    for name in SIGNED_FILES:
        present = (run_dir / name).is_file()
        if present and name not in files and name not in just_written:
            return f"{name} was not written by this harness"
        if name in files and name not in just_written:
            try:
                changed = not present or _sha256(run_dir / name) != files[name]
            except OSError:
                changed = True
            if changed:
                return f"{name} changed since the harness wrote it"
    return None
