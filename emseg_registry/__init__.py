"""One name -> object registry for every kind the harness looks up by name, and one loader of
outside packages' entry points.

Methods, post-processors, datasets, metrics and fetch sources each keep a :class:`Registry`.
They behave the same way:

- :meth:`Registry.register` adds a name and refuses one that is taken (:class:`DuplicateName`),
  unless it is the very same object registered again (a module imported twice);
- :meth:`Registry.get` (and ``registry[name]``) raises :class:`UnknownName`, a ``KeyError``
  whose message lists the registered names (or, for a plugin that failed to load, why it was
  skipped); ``get(name, default)`` returns ``default`` instead;
- :meth:`Registry.names`, :meth:`Registry.items` and iteration list the entries in
  registration order;
- the first lookup loads the entry points of the kind's group (``emseg_bench.methods``,
  ``emseg_bench.postprocessors``, ``emseg_bench.datasets``, ``emseg_bench.metrics``), each one
  guarded by :func:`load_entry_points`: a broken plugin is logged as ``skipping plugin NAME
  (distribution X): error`` and left out, and everything else still works.

This package imports nothing of the project, so that every layer (``metrics`` at the bottom
included) may use it; the built-in entries are registered by the packages that define them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any, Generic, TypeVar

__all__ = ["DuplicateName", "Registry", "UnknownName", "broken_error", "load_entry_points"]

T = TypeVar("T")

#: the logger of the entry-point loader (its records read ``skipping plugin NAME ...``)
log = logging.getLogger("bench.plugins")

#: (group, name) -> the one-line reason the plugin was skipped
_BROKEN: dict[tuple[str, str], str] = {}

_MISSING: Any = object()


class UnknownName(KeyError):
    """A name no registry entry has; the message names the kind and the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str], reason: str | None = None,
                 hint: str = ""):
        self.kind, self.name, self.valid, self.reason = kind, name, list(valid), reason
        if reason:
            message = f"{kind} {name!r}: {reason}"
        else:
            message = f"unknown {kind} {name!r}; valid names: {', '.join(valid)}{hint}"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateName(ValueError):
    """A name registered twice (with two different objects)."""


class Registry(Generic[T]):
    """Name -> entry, in registration order (module docstring).

    Parameters
    ----------
    kind
        What an entry is, for messages (``"method"``, ``"metric"``, ``"fetch name"``).
    entry_point_group
        The entry-point group outside packages register through, or None.
    register_entry_point
        ``f(registry, entry_point, loaded_object)``: registers what one entry point loaded
        (default: ``registry.register(ep.name, obj)``); an exception skips the plugin.
    same
        ``same(old, new)``: whether registering ``new`` under a taken name is the same entry
        again (default: ``old is new``).
    """

    def __init__(self, kind: str, entry_point_group: str | None = None, *,
                 register_entry_point: Callable[[Registry[T], metadata.EntryPoint, Any],
                                                None] | None = None,
                 same: Callable[[T, T], bool] | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T] = {}
        self._on_entry_point = register_entry_point or (
            lambda reg, ep, obj: reg.register(ep.name, obj))
        self._same = same or (lambda old, new: old is new)
        self._loaded = entry_point_group is None

    # -- registering -----------------------------------------------------------------------
    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` as ``name``; a name taken by another entry is refused."""
        old = self._entries.get(name, _MISSING)
        if old is not _MISSING and not self._same(old, entry):
            raise DuplicateName(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (:class:`UnknownName` when it is not registered)."""
        self.get(name)
        del self._entries[name]

    def has(self, name: str) -> bool:
        """Whether ``name`` is registered now, without loading the entry points (for use while
        they load)."""
        return name in self._entries

    def registered_now(self) -> list[str]:
        """The names registered so far, without loading the entry points."""
        return list(self._entries)

    # -- looking up ------------------------------------------------------------------------
    def load(self) -> None:
        """Load the entry points of the group, once (every lookup does this first)."""
        if self._loaded:
            return
        self._loaded = True
        assert self.entry_point_group is not None
        load_entry_points(self.entry_point_group,
                          lambda ep, obj: self._on_entry_point(self, ep, obj),
                          skip=self.has)

    def get(self, name: str, default: Any = _MISSING) -> T:
        """The entry ``name``; :class:`UnknownName` (or ``default``, when given) if none."""
        self.load()
        try:
            return self._entries[name]
        except KeyError:
            if default is not _MISSING:
                return default
            raise self.unknown(name) from None

    def unknown(self, name: str, hint: str = "") -> UnknownName:
        """The error for ``name``: why its plugin was skipped, else the valid names (in the
        order of :meth:`valid_names`) and ``hint``."""
        reason = broken_error(self.entry_point_group, name) if self.entry_point_group else None
        return UnknownName(self.kind, name, self.valid_names(), reason, hint)

    def valid_names(self) -> list[str]:
        """The names an unknown-name message lists (registration order)."""
        return list(self._entries)

    def names(self) -> list[str]:
        self.load()
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        self.load()
        return list(self._entries.items())

    def values(self) -> list[T]:
        self.load()
        return list(self._entries.values())

    def keys(self) -> list[str]:
        return self.names()

    # -- the mapping protocol (``reg[name]``, ``name in reg``, ``for name in reg``) -----------
    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __setitem__(self, name: str, entry: T) -> None:
        """Set or replace ``name`` (a test's stand-in; :meth:`register` refuses a taken name)."""
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        self.unregister(name)

    def pop(self, name: str, default: Any = _MISSING) -> T:
        if name not in self._entries and default is not _MISSING:
            return default
        entry = self.get(name)
        del self._entries[name]
        return entry

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return str(name) if name else "unknown"


def load_entry_points(group: str, register: Callable[[metadata.EntryPoint, Any], None],
                      skip: Callable[[str], bool] = lambda name: False) -> None:
    """Load each entry point of ``group`` (but those ``skip`` names) and pass it with the loaded
    object to ``register``; an exception in either is recorded and logged, never raised."""
    try:
        eps = list(metadata.entry_points(group=group))
    except Exception as exc:  # a corrupt metadata folder on sys.path
        log.warning("skipping plugins of %s: cannot read entry points: %s", group, _one_line(exc))
        return
    for ep in eps:
        if skip(ep.name):
            continue
        try:
            register(ep, ep.load())
        except (Exception, SystemExit) as exc:  # a module may even call sys.exit on import
            dist = _distribution(ep)
            reason = f"{ep.name} = {ep.value!r} ({group}): {_one_line(exc)}"
            _BROKEN[(group, ep.name)] = (f"plugin {ep.name!r} (distribution {dist}) was "
                                         f"skipped: {reason}")
            log.warning("skipping plugin %s (distribution %s): %s", ep.name, dist, reason)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def broken_error(group: str, name: str) -> str | None:
    """Why plugin ``name`` of ``group`` was skipped, or None when it was not."""
    return _BROKEN.get((group, name))
