"""Name -> factory registries (timm style) for methods and post-processors.

A method registers itself where it is defined::

    @register_method("cad", family="distilled")
    def cad(**overrides) -> Method: ...

and is built by name with :func:`create_method`. Third-party packages register through the
``emseg_bench.methods`` entry point group (``name = "pkg.module:factory"``).
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

# Modules that register the built-in entries on import.
_BUILTIN_METHOD_MODULES = ("baselines", "cad")
_BUILTIN_POSTPROCESS_MODULES = ("bench.segment",)


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    family: str = ""
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)


class Registry:
    def __init__(self, kind: str, builtin_modules: tuple[str, ...], entry_point_group: str | None):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._builtin_modules = builtin_modules
        self._entry_point_group = entry_point_group
        self._loaded = False

    def register(self, name: str, *, family: str = "", description: str = "", **defaults: Any):
        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries and self._entries[name].factory is not factory:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            doc = description or (factory.__doc__ or "").strip().split("\n")[0]
            self._entries[name] = Entry(name, factory, family, doc, dict(defaults))
            return factory

        return decorator

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._builtin_modules:
            importlib.import_module(module)
        if self._entry_point_group:
            for ep in metadata.entry_points(group=self._entry_point_group):
                if ep.name not in self._entries:
                    self.register(ep.name, family="external")(ep.load())

    def get(self, name: str) -> Entry:
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries))
            raise KeyError(f"unknown {self.kind} {name!r}; valid names: {valid}") from None

    def create(self, name: str, **overrides: Any) -> Any:
        entry = self.get(name)
        return entry.factory(**{**entry.defaults, **overrides})

    def list(self, pattern: str = "*") -> list[Entry]:
        self._load()
        return [e for n, e in sorted(self._entries.items()) if fnmatch.fnmatch(n, pattern)]

    def names(self, pattern: str = "*") -> list[str]:
        return [e.name for e in self.list(pattern)]


METHODS = Registry("method", _BUILTIN_METHOD_MODULES, "emseg_bench.methods")
POSTPROCESSORS = Registry("post-processor", _BUILTIN_POSTPROCESS_MODULES, None)

register_method = METHODS.register
create_method = METHODS.create
list_methods = METHODS.list

register_postprocessor = POSTPROCESSORS.register
