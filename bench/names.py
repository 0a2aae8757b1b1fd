"""Names that users choose and names that become file names, checked in one place.

Two different jobs:

* :func:`check_name` refuses a name a user typed (``bench score --name``) before any work:
  it must be a short identifier, so that it shows up in tables, run ids and file names as
  typed, and it must not be a registered method's name (that row would replace the
  method's own row in the report, whose results are grouped by method name).
* :func:`file_stem` turns any text that reaches a file name (a dataset, a method or a
  post-processor name read back from a results folder, which may have been edited by hand)
  into one safe path component, so a report or a cache never writes outside its folder.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["NAME_PATTERN", "check_name", "file_stem"]

#: a name: a letter or digit, then letters, digits, ".", "_" or "-"; at most 64 characters
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: letters and digits of any script (str.isalnum), ".", "_" and "-" survive in file names
_UNSAFE = re.compile(r"[^\w.-]+")
_MAX_STEM = 150  # bytes of UTF-8


def check_name(name: object, option: str = "--name",
               reserved: dict[str, str] | None = None) -> str:
    """``name`` if it is a valid leaderboard name; ``ValueError`` naming ``option`` otherwise.

    Parameters
    ----------
    reserved
        Names that are taken (registered methods) -> what they are (e.g. their family); a
        name in it is refused, case-insensitively, so ``UNet2D`` cannot pass for ``unet2d``.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"{option} {name!r}: expected a name of 1 to 64 letters, digits, '.', '_' or '-' "
            "starting with a letter or digit (it becomes the method column of the leaderboard "
            "and part of the run directory's name)"
        )
    for taken, what in (reserved or {}).items():
        if name.lower() == taken.lower():
            raise ValueError(
                f"{option} {name!r} is the registered method {taken!r} ({what}): scored rows "
                f"would stand in for that method's own in the report; choose another name, "
                f"e.g. {name + '-external'!r}"
            )
    return name


def file_stem(*parts: object, default: str = "file") -> str:
    """The ``parts`` joined by ``_`` as one safe path component (no ``/``, no leading dot).

    Letters and digits (any script: a Greek or Japanese dataset name stays readable), ``.``,
    ``_`` and ``-`` are kept; every run of other characters becomes ``_``. When that changed the
    text (or it was cut to fit, or nothing was left and ``default`` stands in), ``-`` and 8 hex
    digits of the text's SHA-256 are appended, so names that sanitise alike (``net v1``,
    ``net+v1``) never share a file. The result is at most 150 bytes (UTF-8) and never empty.
    """
    text = "_".join(str(p) for p in parts)
    stem = _UNSAFE.sub("_", text).lstrip(".")
    if not stem.strip("._-"):
        stem = default
    if stem == text and len(stem.encode()) <= _MAX_STEM:
        return stem
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    while len(stem.encode()) > _MAX_STEM - 9:  # bytes: file systems count bytes, not letters
        stem = stem[:-1]
    return f"{stem}-{digest}"
