"""The catalog: curated YAML data shipped with chipplan, loaded and validated once.

>>> from chipplan import catalog
>>> catalog.accelerator("H100 SXM5 80GB").id
'h100-sxm-80gb'
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from chipplan.catalog.schema import AcceleratorEntry, ModelEntry, SystemEntry
from chipplan.errors import CatalogError, UnknownIdError
from chipplan.specs import Accelerator, Model, System

DATA_DIR = Path(__file__).parent / "data"
# Extra catalog files (os.pathsep-separated) merged over the shipped ones: a lab's private chips.
EXTRA_ENV = "CHIPPLAN_CATALOG"

_SECTIONS: dict[str, type[BaseModel]] = {
    "accelerators": AcceleratorEntry,
    "systems": SystemEntry,
    "models": ModelEntry,
}


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "", s.lower())


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning every failure into a one-line CatalogError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CatalogError(f"{path}: cannot read ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise CatalogError(f"{path}: not a UTF-8 text file (byte {e.start}); expected YAML") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise CatalogError(f"{path}:{where} malformed YAML ({getattr(e, 'problem', e)})") from e


def pydantic_message(prefix: str, err: ValidationError) -> str:
    """First pydantic error as ``prefix.a.b: message, got X`` (one line)."""
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"])
    got = e.get("input")
    got_s = "" if isinstance(got, dict) else f", got {got!r}"
    return f"{prefix}{'.' + loc if loc else ''}: {e['msg']}{got_s}"


@dataclass(frozen=True)
class Catalog:
    """Validated catalog: entries as specs, raw entries (with sources), and an alias index."""

    accelerators: dict[str, Accelerator]
    systems: dict[str, System]
    models: dict[str, Model]
    entries: dict[str, dict[str, BaseModel]]
    efficiency: dict[str, Any]
    reliability: dict[str, Any]
    version: str
    stacks: dict[str, Any] = field(default_factory=dict)  # software-stack profiles (perf.stacks)
    intervals: dict[str, Any] = field(default_factory=dict)  # out-of-sample interval tables (perf.intervals)

    def _lookup(self, section: str, key: str) -> str:
        table: dict[str, Any] = getattr(self, section)
        if key in table:
            return key
        n = _norm(key)
        for id_, spec in table.items():
            if n == _norm(id_) or n in {_norm(a) for a in spec.aliases}:
                return id_
        names = list(table) + [a for s in table.values() for a in s.aliases]
        near = difflib.get_close_matches(key.lower(), [x.lower() for x in names], n=4, cutoff=0.5)
        ids = []
        for x in near:
            for id_, spec in table.items():
                if x in (id_.lower(), *[a.lower() for a in spec.aliases]) and id_ not in ids:
                    ids.append(id_)
        raise UnknownIdError(section, key, ids)

    def accelerator(self, key: str) -> Accelerator:
        return self.accelerators[self._lookup("accelerators", key)]

    def system(self, key: str) -> System:
        return self.systems[self._lookup("systems", key)]

    def model(self, key: str) -> Model:
        return self.models[self._lookup("models", key)]

    def hardware(self, key: str) -> tuple[Accelerator, System | None]:
        """An accelerator or system id → (accelerator, system or None)."""
        try:
            acc = self.accelerator(key)
            return acc, None
        except UnknownIdError as first:
            try:
                sys_ = self.system(key)
            except UnknownIdError:
                raise first from None
            return self.accelerators[sys_.accelerator], sys_

    def source_of(self, section: str, id_: str, field: str | None = None) -> Any:
        e = self.entries[section][self._lookup(section, id_)]
        fs = getattr(e, "field_sources", {})
        if field and field in fs:
            v = fs[field]
            return v if isinstance(v, str) else v.model_dump()
        return e.source


def _files() -> list[Path]:
    files = sorted(DATA_DIR.glob("*.yaml"))
    extra = os.environ.get(EXTRA_ENV, "")
    files += [Path(p) for p in extra.split(os.pathsep) if p]
    return files


def build(files: list[Path]) -> Catalog:
    """Validate ``files`` and build a Catalog. Later files override earlier entries with the same id."""
    raw: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    raw_sections: dict[str, dict[str, Any]] = {"efficiency": {}, "reliability": {}, "stacks": {}, "intervals": {}}
    h = hashlib.sha256()
    for path in files:
        doc = read_yaml(path)
        h.update(path.name.encode())
        h.update(yaml.safe_dump(doc, sort_keys=True).encode())
        if not isinstance(doc, dict):
            raise CatalogError(f"{path}: must be a mapping with one of {', '.join([*_SECTIONS, *raw_sections])}")
        for key, body in doc.items():
            if key in ("version", "description"):
                continue
            if key in raw_sections:  # validated by the engine that owns them
                raw_sections[key].update(body or {})
                continue
            if key not in _SECTIONS:
                allowed = ", ".join([*_SECTIONS, *raw_sections])
                raise CatalogError(f"{path}: unknown section {key!r}; allowed: {allowed}")
            if not isinstance(body, dict):
                raise CatalogError(f"{path}: {key} must map ids to entries")
            for id_, entry in body.items():
                raw[key][str(id_)] = (path, entry)
    entries: dict[str, dict[str, BaseModel]] = {s: {} for s in _SECTIONS}
    specs: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    for section, cls in _SECTIONS.items():
        for id_, (path, entry) in raw[section].items():
            try:
                e = cls.model_validate(entry)
                spec = e.to_spec(id_)
            except ValidationError as err:
                raise CatalogError(f"{path.name}: " + pydantic_message(f"{section}.{id_}", err)) from None
            except ValueError as err:  # spec-level FieldError
                raise CatalogError(f"{path.name}: {err}") from None
            entries[section][id_] = e
            specs[section][id_] = spec
    for id_, s in specs["systems"].items():
        if s.accelerator not in specs["accelerators"]:
            raise CatalogError(f"systems.{id_}.accelerator: unknown accelerator id {s.accelerator!r}")
    return Catalog(accelerators=specs["accelerators"], systems=specs["systems"], models=specs["models"],
                   entries=entries, efficiency=raw_sections["efficiency"],
                   reliability=raw_sections["reliability"], stacks=raw_sections["stacks"],
                   intervals=raw_sections["intervals"], version=h.hexdigest()[:12])


@functools.lru_cache(maxsize=1)
def load() -> Catalog:
    """The shipped catalog plus any files named in $CHIPPLAN_CATALOG (cached)."""
    return build(_files())


def accelerator(key: str) -> Accelerator:
    return load().accelerator(key)


def system(key: str) -> System:
    return load().system(key)


def model(key: str) -> Model:
    """A catalog model by id or alias, or the first model of a YAML file (``models:`` section) given by path."""
    if key.endswith((".yaml", ".yml")):
        path = Path(key)
        if not path.exists():
            raise CatalogError(f"{path}: file not found (a model is a catalog id or a YAML file with models:)")
        cat = build([*sorted(DATA_DIR.glob("*.yaml")), path])
        doc = read_yaml(path) or {}
        ids = list((doc.get("models") or {}) if isinstance(doc, dict) else {})
        if not ids:
            raise CatalogError(f"{path}: has no models: section with at least one model")
        return cat.models[ids[0]]
    return load().model(key)


def hardware(key: str) -> tuple[Accelerator, System | None]:
    return load().hardware(key)
