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

import re

__all__ = ["NAME_PATTERN", "check_name", "file_stem"]

#: a name: a letter or digit, then letters, digits, ".", "_" or "-"; at most 64 characters
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


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

    Every character outside letters, digits, ``.``, ``_`` and ``-`` becomes ``_``; the
    result is at most 150 characters and never empty (``default``).
    """
    text = "_".join(str(p) for p in parts)
    stem = _UNSAFE.sub("_", text).lstrip(".")[:150]
    return stem if stem.strip("._-") else default
