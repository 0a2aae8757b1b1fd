"""Name -> factory registries (timm style) for methods and post-processors, built on the one
registry implementation (:mod:`emseg_registry`).

A method registers itself where it is defined, from its class: its metadata (``name``,
``family``, ``family_color``, the first line of its docstring as description) is written once, as
class attributes, and the class's ``create`` classmethod (or the class itself) is the factory::

    @register_method
    class Superhuman3DMethod(Embedding3DMethod):
        name = "superhuman3d"
        family = "3d"

A plain factory function can still be registered by name
(``@register_method("toy", family="2d")``). Third-party packages register through the
``emseg_bench.methods`` entry point group (``name = "pkg.module:factory"``, a factory function or
a registrable class). Post-processors register the same way (``@register_postprocessor`` on a
class with ``name`` and ``description``), built in or through the ``emseg_bench.postprocessors``
entry point group.

This module sits in the utilities layer and imports no method package: the method packages
(``baselines``, ``cad``) and ``bench.segment`` register into it. :mod:`bench.registry`, above
them, adds the loading of these built-in packages on the first lookup; callers use that one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import emseg_registry


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    family: str = ""
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    #: the registered class (None for a factory function): where the harness reads the
    #: method's other metadata (family colour, inference settings, hooks)
    cls: type | None = None


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n")[0]


class Registry(emseg_registry.Registry[Entry]):
    """Factories by name: :class:`emseg_registry.Registry` plus registration from a class's
    attributes, ``create`` and pattern listing."""

    def __init__(self, kind: str, entry_point_group: str | None):
        super().__init__(kind, entry_point_group,
                         register_entry_point=lambda reg, ep, obj: self._register_entry_point(
                             ep, obj),
                         same=lambda old, new: (old.factory is new.factory
                                                or (old.cls is not None and old.cls is new.cls)))
        #: loaders of the built-in entries (added by :mod:`bench.registry`), run on the first
        #: lookup before the entry points
        self._pending: list[Callable[[], None]] = []
        self._builtin_packages: tuple[str, ...] = ()

    def add_builtins(self, loader: Callable[[], None], packages: tuple[str, ...]) -> None:
        """Run ``loader`` (which imports ``packages``, registering their entries) before the
        next lookup; ``packages`` and the modules below them count as built in."""
        self._pending.append(loader)
        self._builtin_packages += tuple(packages)

    def register(self, name: str | type | None = None, *, family: str = "",  # type: ignore[override]
                 description: str = "", **defaults: Any):
        """Register a factory under ``name``, or a class from its own attributes.

        ``@register(cls)`` / ``@register()`` on a class reads ``cls.name``, ``cls.family`` and
        ``cls.description`` (default: the first line of the class docstring); the factory is
        ``cls.create`` when the class has one, else the class. ``@register("name", family=...)``
        on a function registers that function (the older form, kept for outside packages).
        A name taken by another factory is refused (:class:`emseg_registry.DuplicateName`).
        """
        if isinstance(name, type):
            return self._register_class(name, family, description, defaults)

        def decorator(obj: Any) -> Any:
            if name is None:
                if not isinstance(obj, type):
                    raise TypeError(f"{self.kind}: register a function by name, "
                                    f"@register({obj.__name__!r}, ...)")
                return self._register_class(obj, family, description, defaults)
            doc = description or _first_line(obj.__doc__)
            self._add(Entry(name, obj, family, doc, dict(defaults)))
            return obj

        return decorator

    def _register_class(self, cls: type, family: str, description: str,
                        defaults: dict[str, Any]) -> type:
        name = vars(cls).get("name") or getattr(cls, "name", "")
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__qualname__}: set the class attribute name (the {self.kind}'s "
                            "registry name) before registering it")
        family = family or str(getattr(cls, "family", "") or "")
        doc = description or str(vars(cls).get("description") or "") or _first_line(cls.__doc__)
        factory = getattr(cls, "create", cls)
        self._add(Entry(name, factory, family, doc, dict(defaults), cls))
        return cls

    def _add(self, entry: Entry) -> None:
        emseg_registry.Registry.register(self, entry.name, entry)

    def load(self) -> None:
        while self._pending:
            self._pending.pop(0)()
        super().load()

    def _register_entry_point(self, ep: metadata.EntryPoint, obj: Any) -> None:
        if isinstance(obj, type) and getattr(obj, "name", "") == ep.name:
            self._register_class(obj, "", "", {})  # the class's own metadata
        elif callable(obj):
            self.register(ep.name, family="external")(obj)
        else:
            raise TypeError(f"expected a {self.kind} factory or class, got "
                            f"{type(obj).__name__}")

    def valid_names(self) -> list[str]:
        return sorted(self._entries)

    def is_builtin(self, name: str) -> bool:
        """Whether ``name`` is defined in this project (one of the packages that register the
        built-in entries, or below them), not by an outside package or a test."""
        entry = self.get(name)
        module = str(getattr(entry.cls or entry.factory, "__module__", "") or "")
        return any(module == m or module.startswith(m + ".") for m in self._builtin_packages)

    def create(self, name: str, **overrides: Any) -> Any:
        entry = self.get(name)
        return entry.factory(**{**entry.defaults, **overrides})

    def list(self, pattern: str = "*") -> list[Entry]:
        return [e for n, e in sorted(self.items()) if fnmatch.fnmatch(n, pattern)]

    def names(self, pattern: str = "*") -> list[str]:  # type: ignore[override]
        return [e.name for e in self.list(pattern)]


METHODS = Registry("method", "emseg_bench.methods")
POSTPROCESSORS = Registry("post-processor", "emseg_bench.postprocessors")

register_method = METHODS.register
create_method = METHODS.create
list_methods = METHODS.list

register_postprocessor = POSTPROCESSORS.register


def method_class(name: str) -> type | None:
    """The class registered as method ``name`` (None for a method registered as a function)."""
    return METHODS.get(name).cls


#: the report's colour of a family whose methods declare none
DEFAULT_FAMILY_COLOR = "#7f7f7f"


def family_colors() -> dict[str, str]:
    """``{family: colour}`` for the report, from the registered classes' ``family_color``
    attributes (in registration order; a family's first declared colour wins)."""
    colors: dict[str, str] = {}
    for entry in METHODS.values():
        color = getattr(entry.cls, "family_color", "") if entry.cls is not None else ""
        if entry.family and color and entry.family not in colors:
            colors[entry.family] = str(color)
    return colors


def config_file_overrides(files: list[str]) -> dict[str, Any] | None:
    """Recipe overrides from ``--config`` files written in a format some registered method reads
    itself (its ``overrides_from_config_files`` hook, e.g. CAD's official YAML pair); None when
    no method claims the files (the harness then reads them as plain YAML mappings)."""
    for entry in METHODS.list():
        hook = getattr(entry.cls, "overrides_from_config_files", None)
        if callable(hook):
            found = hook([str(f) for f in files])
            if found is not None:
                return dict(found)
    return None


def check_overrides() -> dict[str, dict[str, Any]]:
    """``{method: recipe overrides}`` for ``python -m bench check``, from each registered
    class's ``check_overrides`` hook (its recipe's ``check`` mapping); methods without any are
    left out (the check then uses its default overrides)."""
    out: dict[str, dict[str, Any]] = {}
    for entry in METHODS.list():
        hook = getattr(entry.cls, "check_overrides", None)
        found = hook(entry.name) if callable(hook) else None
        if found:
            out[entry.name] = dict(found)
    return out
