"""YAML with the line of every key, so scenario errors can say ``file.yaml:42 demand.training[0].tokens``.

The file is composed once into PyYAML nodes (safe loader: no tags beyond plain YAML, no aliases), turned into
plain Python data, and every mapping key and sequence item records ``(file, line)`` under its path, a tuple
such as ``("demand", "training", 0, "tokens")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chipplan.errors import InputFileError

Path_ = tuple[str | int, ...]
Origin = tuple[str, int]  # (file name as given to the user, 1-based line)

MAX_BYTES = 1_000_000  # a scenario is a page of settings; megabytes are a mistake (or an attack)
MAX_DEPTH = 32


def _data(loader: yaml.SafeLoader, node: yaml.Node, name: str, lines: dict[Path_, Origin], path: Path_,
          depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise InputFileError(f"{name}:{node.start_mark.line + 1} nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for k, v in node.value:
            key = loader.construct_object(k) if isinstance(k, yaml.ScalarNode) else None
            if not isinstance(key, str | int | float | bool) or key is None:
                raise InputFileError(f"{name}:{k.start_mark.line + 1} mapping keys must be plain text")
            key = str(key)
            if key in out:
                raise InputFileError(f"{name}:{k.start_mark.line + 1} duplicate key {key!r}")
            p = (*path, key)
            lines[p] = (name, k.start_mark.line + 1)
            out[key] = _data(loader, v, name, lines, p, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, v in enumerate(node.value):
            p = (*path, i)
            lines[p] = (name, v.start_mark.line + 1)
            items.append(_data(loader, v, name, lines, p, depth + 1))
        return items
    return loader.construct_object(node, deep=True)


class _NoAliases(yaml.SafeLoader):
    """Safe loader that refuses anchors/aliases (a few lines of them can expand to gigabytes)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            ev = self.peek_event()
            raise InputFileError(f"{self.name}:{ev.start_mark.line + 1} YAML aliases (*name) are not allowed in "
                                 "scenario files; use extends: to reuse another scenario")
        return super().compose_node(parent, index)


def load(path: Path, shown: str | None = None) -> tuple[Any, dict[Path_, Origin]]:
    """``(data, lines)`` for the YAML file at ``path``; ``shown`` is the name used in messages."""
    name = shown or path.name
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputFileError(f"{name}: cannot read ({e.strerror or e})") from None
    if len(raw) > MAX_BYTES:
        raise InputFileError(f"{name}: {len(raw):,} bytes; a scenario file may hold at most {MAX_BYTES:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{name}: not a UTF-8 text file (byte {e.start}); expected YAML") from None
    return loads(text, name)


def loads(text: str, name: str) -> tuple[Any, dict[Path_, Origin]]:
    loader = _NoAliases(text)
    loader.name = name
    lines: dict[Path_, Origin] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        return _data(loader, node, name, lines, (), 0), lines
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise InputFileError(f"{name}{where} malformed YAML ({getattr(e, 'problem', None) or e})") from None
    finally:
        loader.dispose()
