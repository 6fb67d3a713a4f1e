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

from pydantic import BaseModel, ValidationError

from chipplan import safeio
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
#: Sections kept as raw mappings here and validated by the engine that owns them (the field of ``Catalog``
#: with the same name holds each): per-family efficiencies and the engine-wide tuned numbers
#: (``chipplan.perf.efficiency``, ``chipplan.perf.tuned``), reliability (``chipplan.perf.plan``), serving-engine
#: profiles and intervals, software stacks, interval tables, co-design constants.
RAW_SECTIONS = ("efficiency", "engine_constants", "reliability", "serving_engines", "serving_intervals", "codesign",
                "stacks", "intervals")


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "", s.lower())


def read_yaml(path: Path) -> Any:
    """Read a YAML file within ``chipplan.safeio``'s caps (size, nesting, aliases, duplicate keys), turning
    every failure into a one-line CatalogError naming the file and line."""
    return read_yaml_doc(path).data


def read_yaml_doc(path: Path) -> safeio.YamlDoc:
    """:func:`read_yaml` keeping the line of every key (``doc.where(*key_path)``) for messages."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"{path}: cannot read (file not found)")
    if path.resolve().is_relative_to(DATA_DIR.resolve()):  # shipped with chipplan: the fast parser
        return safeio.parse_trusted_yaml(safeio.read_text_capped(path, error=CatalogError), str(path),
                                         error=CatalogError)
    return safeio.load_yaml_doc(path, error=CatalogError)


def pydantic_message(prefix: str, err: ValidationError) -> str:
    """First pydantic error as ``prefix.a.b: message, got X`` (one line, the value capped)."""
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"])
    got = e.get("input")
    got_s = "" if isinstance(got, dict) else f", got {safeio.shown(got)}"
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "int_from_float":
        msg = "must be a whole number"
    elif e["type"] == "unexpected_keyword_argument":  # a key a dataclass validated by pydantic does not have
        msg = "Extra inputs are not permitted"
    return f"{prefix}{'.' + loc if loc else ''}: {msg}{got_s}"


def pydantic_loc(err: ValidationError) -> tuple[str, ...]:
    """Key path of the first pydantic error (for ``YamlDoc.where``)."""
    return tuple(str(p) for p in err.errors()[0]["loc"])


#: Kinds of catalog entry that an id may name, in the order they are tried.
KINDS = ("accelerators", "systems", "models")
#: Near matches listed in an unknown-id message, and the least similarity (difflib ratio) to be listed.
NEAR_MATCHES = 4
NEAR_CUTOFF = 0.6


@dataclass(frozen=True)
class Catalog:
    """Validated catalog: entries as specs, raw entries (with sources), and an alias index."""

    accelerators: dict[str, Accelerator]
    systems: dict[str, System]
    models: dict[str, Model]
    entries: dict[str, dict[str, BaseModel]]
    efficiency: dict[str, Any]
    reliability: dict[str, Any]
    serving_engines: dict[str, Any]
    serving_intervals: dict[str, Any]
    version: str
    stacks: dict[str, Any] = field(default_factory=dict)  # software-stack profiles (perf.stacks)
    intervals: dict[str, Any] = field(default_factory=dict)  # out-of-sample interval tables (perf.intervals)
    # Co-design constants (catalog/data/codesign.yaml), validated by chipplan.codesign.constants.
    codesign: dict[str, Any] = field(default_factory=dict)
    # Engine-wide tuned numbers (efficiency.yaml ``engine_constants:``), validated by chipplan.perf.tuned.
    engine_constants: dict[str, Any] = field(default_factory=dict)

    def find(self, section: str, key: str) -> str | None:
        """The id of ``section``'s entry named ``key`` (id or alias, case and punctuation ignored), or None."""
        table: dict[str, Any] = getattr(self, section)
        if key in table:
            return key
        return self._index[section].get(_norm(key))

    _find = find  # the name other modules used before it was public

    @functools.cached_property
    def _index(self) -> dict[str, dict[str, str]]:
        """Normalised id or alias → id, per section (the first entry wins a clash, as in catalog order)."""
        out: dict[str, dict[str, str]] = {}
        for section in KINDS:
            idx: dict[str, str] = {}
            for id_, spec in getattr(self, section).items():
                for name in (id_, *spec.aliases):
                    idx.setdefault(_norm(name), id_)
            out[section] = idx
        return out

    def _lookup(self, section: str, key: str) -> str:
        found = self.find(section, key)
        if found is None:
            raise UnknownIdError(section, key, [id_ for _, id_ in self.near(key, (section,))])
        return found

    def near(self, key: str, sections: tuple[str, ...] = KINDS, n: int = NEAR_MATCHES) -> list[tuple[str, str]]:
        """``(section, id)`` of the entries whose id or alias is most like ``key``, most similar first.

        Similarity is difflib's ratio on lower-cased names stripped of punctuation (``dgx-h1000`` → ``dgx-h100``,
        ``llama-3.1-7b`` → ``llama-3.1-70b``, ``llama-3.1-8b``), taken over ids and aliases of every section
        given; entries below :data:`NEAR_CUTOFF` are left out.
        """
        target = _norm(str(key))[:200]
        if not target:
            return []
        sm = difflib.SequenceMatcher(autojunk=False)
        sm.set_seq2(target)
        scores: dict[tuple[str, str], float] = {}
        for section in sections:
            for name, id_ in self._index[section].items():
                sm.set_seq1(name)
                if sm.real_quick_ratio() < NEAR_CUTOFF or sm.quick_ratio() < NEAR_CUTOFF:
                    continue
                r = sm.ratio()
                if r >= NEAR_CUTOFF and r > scores.get((section, id_), 0.0):
                    scores[(section, id_)] = r
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0][1]))
        return [k for k, _ in ranked[:n]]

    def unknown(self, key: str, sections: tuple[str, ...] = KINDS, kind: str | None = None) -> UnknownIdError:
        """The error for an id found in none of ``sections``, with near matches from all of them.

        ``kind`` names what was asked for; by default the section of the nearest match (``catalog`` if none).
        """
        near = self.near(key, sections)
        ids = list(dict.fromkeys(id_ for _, id_ in near))  # a system may share its id with its accelerator
        return UnknownIdError(kind or (near[0][0] if near else "catalog"), key, ids)

    def accelerator(self, key: str) -> Accelerator:
        return self.accelerators[self._lookup("accelerators", key)]

    def system(self, key: str) -> System:
        return self.systems[self._lookup("systems", key)]

    def model(self, key: str) -> Model:
        return self.models[self._lookup("models", key)]

    def hardware(self, key: str) -> tuple[Accelerator, System | None]:
        """An accelerator or system id → (accelerator, system or None); an unknown id suggests both kinds."""
        acc_id = self.find("accelerators", key)
        if acc_id is not None:
            return self.accelerators[acc_id], None
        sys_id = self.find("systems", key)
        if sys_id is None:
            raise self.unknown(key, ("accelerators", "systems"), kind="hardware")
        sys_ = self.systems[sys_id]
        return self.accelerators[sys_.accelerator], sys_

    def source_of(self, section: str, id_: str, field: str | None = None) -> Any:
        e = self.entries[section][self._lookup(section, id_)]
        fs = getattr(e, "field_sources", {})
        if field and field in fs:
            v = fs[field]
            return v if isinstance(v, str) else v.model_dump()
        return e.source


def data_files(folder: str = "") -> list[Path]:
    """The shipped YAML files directly in ``catalog/data/<folder>`` (``""``: the top level), sorted.

    The one place catalog files are found: the top level is this module's (accelerators, systems, models and
    the raw sections), ``cost/`` is ``chipplan.catalog.cost``'s, ``strategy/`` the strategy defaults'.
    """
    return sorted((DATA_DIR / folder).glob("*.yaml"))


def user_files() -> list[Path]:
    """Catalog files the user adds through ``$CHIPPLAN_CATALOG`` (os.pathsep-separated), merged over the shipped
    top-level files."""
    return [Path(p) for p in os.environ.get(EXTRA_ENV, "").split(os.pathsep) if p]


def _files() -> list[Path]:
    return [*data_files(), *user_files()]


def version(files: list[Path] | None = None) -> str:
    """12 hex digits of SHA-256 over every catalog file: all shipped YAML under ``catalog/data`` (any folder)
    and the user's ``$CHIPPLAN_CATALOG`` files, by name and content (so any change to cost, route, efficiency
    or any other data changes the version a result records)."""
    if files is None:
        files = [*sorted(DATA_DIR.rglob("*.yaml")), *user_files()]
    h = hashlib.sha256()
    for f in files:
        f = Path(f)
        name = f.relative_to(DATA_DIR).as_posix() if f.is_relative_to(DATA_DIR) else f.name
        try:
            data = f.read_bytes()
        except OSError as e:
            raise CatalogError(f"{f}: cannot read ({e.strerror or e})") from None
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:12]


def build(files: list[Path]) -> Catalog:
    """Validate ``files`` and build a Catalog. Later files override earlier entries with the same id."""
    raw: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    raw_sections: dict[str, dict[str, Any]] = {s: {} for s in RAW_SECTIONS}
    docs: dict[Path, safeio.YamlDoc] = {}
    for path in files:
        ydoc = docs[path] = read_yaml_doc(path)
        doc = ydoc.data
        if not isinstance(doc, dict):
            raise CatalogError(f"{path}: must be a mapping with one of {', '.join([*_SECTIONS, *raw_sections])}")
        for key, body in doc.items():
            if key in ("version", "description"):
                continue
            if key in raw_sections:  # validated by the engine that owns them
                if body is not None and not isinstance(body, dict):
                    raise CatalogError(f"{ydoc.where(key)} {key}: must be a mapping, got {safeio.shown(body)}")
                raw_sections[key].update(body or {})
                continue
            if key not in _SECTIONS:
                allowed = ", ".join([*_SECTIONS, *raw_sections])
                raise CatalogError(f"{ydoc.where(key)}: unknown section {safeio.shown(key)}; allowed: {allowed}")
            if not isinstance(body, dict):
                raise CatalogError(f"{ydoc.where(key)} {key}: must map ids to entries, got {safeio.shown(body)}")
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
                where = docs[path].where(section, id_, *pydantic_loc(err)).replace(str(path), path.name, 1)
                raise CatalogError(f"{where}: " + pydantic_message(f"{section}.{id_}", err)) from None
            except ValueError as err:  # spec-level FieldError
                where = docs[path].where(section, id_).replace(str(path), path.name, 1)
                raise CatalogError(f"{where}: {err}") from None
            entries[section][id_] = e
            specs[section][id_] = spec
    for id_, s in specs["systems"].items():
        if s.accelerator not in specs["accelerators"]:
            raise CatalogError(f"systems.{id_}.accelerator: unknown accelerator id {s.accelerator!r}")
    return Catalog(accelerators=specs["accelerators"], systems=specs["systems"], models=specs["models"],
                   entries=entries, version=version(files), **raw_sections)


@functools.lru_cache(maxsize=1)
def load() -> Catalog:
    """The shipped catalog plus any files named in $CHIPPLAN_CATALOG (cached); its ``version`` covers every
    catalog file (``version()``), not only the ones it reads."""
    from dataclasses import replace

    return replace(build(_files()), version=version())


def accelerator(key: str) -> Accelerator:
    return load().accelerator(key)


def system(key: str) -> System:
    return load().system(key)


def is_file_key(key: str) -> bool:
    """Whether an id given by a user names a YAML file rather than a catalog entry."""
    return str(key).endswith((".yaml", ".yml"))


def check_file(path: str | Path) -> list[str]:
    """Every problem in a user catalog file at once, each as ``file:line section.id.field: what is wrong``, in the
    file's own key names (``hbm_gb``, ``peak_tflops.bf16``). An empty list means the file is valid (on top of the
    shipped catalog, which it may refer to)."""
    path = Path(path)
    ydoc = read_yaml_doc(path)  # unreadable or malformed YAML: one error, there is nothing more to check
    doc = ydoc.data
    name = path.name
    if not isinstance(doc, dict):
        return [f"{name}: must be a mapping with an accelerators:, systems: or models: section"]
    problems: list[str] = []
    own: dict[str, set[str]] = {s: set() for s in _SECTIONS}
    for key, body in doc.items():
        if key in ("version", "description", *RAW_SECTIONS):
            continue
        where = ydoc.where(key).replace(str(path), name, 1)
        if key not in _SECTIONS:
            near = difflib.get_close_matches(str(key), list(_SECTIONS), n=1)
            hint = f"; did you mean {near[0]}?" if near else f"; allowed: {', '.join(_SECTIONS)}"
            problems.append(f"{where} {key}: unknown section{hint}")
            continue
        if not isinstance(body, dict):
            problems.append(f"{where} {key}: must map ids to entries")
            continue
        cls = _SECTIONS[key]
        for id_, entry in body.items():
            own[key].add(str(id_))
            try:
                e = cls.model_validate(entry)
            except ValidationError as err:
                for item in err.errors():
                    loc = tuple(str(p) for p in item["loc"])
                    at = ydoc.where(key, id_, *loc).replace(str(path), name, 1)
                    got = item.get("input")
                    got_s = "" if isinstance(got, dict) or item["type"] == "missing" else \
                        f", got {safeio.shown(got)}"
                    msg = item["msg"].removeprefix("Value error, ")
                    if item["type"] == "missing":
                        msg = "required"
                    elif item["type"] == "extra_forbidden":
                        allowed = [f for f in cls.model_fields if f != "field_sources"]
                        near = difflib.get_close_matches(loc[-1], allowed, n=2)
                        msg = "unknown field" + (f"; did you mean {' or '.join(near)}?" if near else "")
                        got_s = ""
                    field = ".".join((key, str(id_), *loc))
                    if msg.startswith(tuple(f"{f}:" for f in cls.model_fields)):  # the rule names its field
                        field, msg = f"{key}.{id_}.{msg.split(':', 1)[0]}", msg.split(":", 1)[1].strip()
                    problems.append(f"{at} {field}: {msg}{got_s}")
                continue
            try:
                e.to_spec(str(id_))
            except ValueError as err:
                problems.append(f"{ydoc.where(key, id_).replace(str(path), name, 1)} {err}")
    shipped = build(data_files())
    for id_, entry in (doc.get("systems") or {}).items() if isinstance(doc.get("systems"), dict) else []:
        acc = entry.get("accelerator") if isinstance(entry, dict) else None
        if acc and acc not in own["accelerators"] and shipped._find("accelerators", str(acc)) is None:
            problems.append(f"{ydoc.where('systems', id_, 'accelerator').replace(str(path), name, 1)} "
                            f"systems.{id_}.accelerator: unknown accelerator {safeio.shown(acc)} (neither in this "
                            "file nor in the catalog)")
    return problems


def _from_file(path: str | Path, section: str, also: tuple[str, ...] = ()) -> tuple[Catalog, str, str]:
    """The catalog with ``path`` on top, and the (section, id) of the file's first entry of ``section`` (or of
    the sections in ``also``). Every problem in the file is reported at once."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"{path}: file not found (give a catalog id or a YAML file with a {section}: section)")
    problems = check_file(path)
    if problems:
        n = len(problems)
        raise CatalogError(f"{path}: {n} problem{'s' * (n > 1)}: " + "; ".join(problems))
    doc = read_yaml(path) or {}
    for sec in (section, *also):
        ids = list(doc.get(sec) or {})
        if ids:
            return build([*data_files(), path]), sec, str(ids[0])
    raise CatalogError(f"{path}: has no {section}: section with at least one entry"
                       + (f" (or {', '.join(also)})" if also else ""))


def model(key: str) -> Model:
    """A catalog model by id or alias, or the first model of a YAML file (``models:`` section) given by path."""
    if is_file_key(key):
        cat, _, id_ = _from_file(key, "models")
        return cat.models[id_]
    return load().model(key)


def hardware(key: str) -> tuple[Accelerator, System | None]:
    """An accelerator or system id, or a YAML file whose first ``accelerators:`` entry (else ``systems:``) is
    the chip (``chipplan catalog template accelerator`` writes one)."""
    if is_file_key(key):
        cat, sec, id_ = _from_file(key, "accelerators", ("systems",))
        if sec == "systems":
            s = cat.systems[id_]
            return cat.accelerators[s.accelerator], s
        return cat.accelerators[id_], None
    return load().hardware(key)
