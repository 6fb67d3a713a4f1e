"""Scenario YAML read through :mod:`chipplan.safeio` (size, depth, alias and duplicate-key caps), with the line
of every key under its path, a tuple such as ``("demand", "training", 0, "tokens")`` (list indices as ints), so
errors can say ``file.yaml:42 demand.training[0].tokens``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chipplan import safeio
from chipplan.errors import InputFileError

Path_ = tuple[str | int, ...]
Origin = tuple[str, int]  # (file name as shown to the user, 1-based line)

MAX_BYTES = 1_000_000  # a scenario is a page of settings; megabytes are a mistake (or an attack)


def _typed(data: Any, keys: tuple[str, ...]) -> Path_ | None:
    """safeio's string path with list indices as ints (None if the path is not in ``data``)."""
    out: list[str | int] = []
    node = data
    for k in keys:
        if isinstance(node, list):
            if not k.isdigit() or int(k) >= len(node):
                return None
            out.append(int(k))
            node = node[int(k)]
        elif isinstance(node, dict):
            key = k if k in node else next((x for x in node if str(x) == k), None)
            if key is None:
                return None
            out.append(str(key))
            node = node[key]
        else:
            return None
    return tuple(out)


def _stringify_keys(data: Any) -> Any:
    if isinstance(data, dict):
        return {str(k): _stringify_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_stringify_keys(v) for v in data]
    return data


def loads(text: str, name: str) -> tuple[Any, dict[Path_, Origin]]:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise InputFileError(f"{name}: larger than {MAX_BYTES:,} bytes; a scenario file this large is a mistake")
    try:
        doc = safeio.parse_yaml(text, name)
    except yaml.YAMLError as e:  # the reader refuses control characters before parsing starts
        raise InputFileError(f"{name}: malformed YAML ({safeio.one_line(str(e), 200)})") from None
    lines: dict[Path_, Origin] = {}
    for keys, line in doc.lines.items():
        p = _typed(doc.data, keys)
        if p is not None:
            lines[p] = (name, line)
    return _stringify_keys(doc.data), lines


def load(path: Path, shown: str | None = None) -> tuple[Any, dict[Path_, Origin]]:
    """``(data, lines)`` for the YAML file at ``path``; ``shown`` is the name used in messages."""
    name = shown or path.name
    try:
        text = safeio.read_text_capped(path, max_bytes=MAX_BYTES, what="scenario YAML")
    except InputFileError as e:
        raise InputFileError(str(e).replace(str(path), name, 1)) from None
    return loads(text, name)
