"""Name -> implementation tables whose entries are imported only when built.

Why lazy "module:attribute" targets: the config, the CLI and `--help` need the names and one-line
descriptions of every method, operator and assignment strategy, but must not import torch to list
them; and `common` may not import the learner package. The learner resolves a target when it builds.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "package.module:attribute", imported by `load`
    help: str
    props: dict[str, Any] = field(default_factory=dict)


class Registry:
    """One table (e.g. operators Ψ). Deprecated spellings resolve to their entry with a warning."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._deprecated: dict[str, str] = {}

    def add(self, name: str, target: str, help: str, deprecated: tuple[str, ...] = (), **props: Any) -> None:
        if name in self._entries or name in self._deprecated:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, target, help, props)
        for old in deprecated:
            self._deprecated[old] = name

    def canonical(self, name: str) -> str:
        """The registered name for `name` (resolving deprecated spellings); ValueError if unknown."""
        if name in self._entries:
            return name
        if name in self._deprecated:
            new = self._deprecated[name]
            warnings.warn(f"{self.kind} {name!r} is deprecated: use {new!r}", FutureWarning, stacklevel=2)
            return new
        raise ValueError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}")

    def names(self) -> list[str]:
        return list(self._entries)

    def __getitem__(self, name: str) -> Entry:
        return self._entries[self.canonical(name)]

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._deprecated

    def load(self, name: str) -> Any:
        module, _, attr = self[name].target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def describe(self) -> str:
        return "; ".join(f"{e.name}: {e.help}" for e in self._entries.values())
