"""Scenario files for ``chipplan plan``: YAML validated with pydantic, ``extends:``, errors with file and line.

>>> from chipplan.scenario import field_path
>>> field_path(("demand", "training", 0, "tokens"))
'demand.training[0].tokens'

``load(path)`` reads a scenario, follows ``extends:`` (each file's path relative to the file that names it),
merges the files (mappings key by key; lists of named entries such as ``demand.training`` entry by entry on
``name``; other lists replaced), validates the result and returns a :class:`Resolved` scenario. Every problem is
reported at once, one line each, as ``file.yaml:LINE field.path: rule, got VALUE``, in a
:class:`ScenarioError` (exit status 2 on the command line, 422 in the web app).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chipplan.errors import ChipplanError, InputFileError
from chipplan.scenario import yamlmap
from chipplan.scenario.model import PlanScenario, PlanSection, Uncertain, json_schema

__all__ = ["PlanScenario", "PlanSection", "Resolved", "ScenarioError", "Uncertain", "field_path", "json_schema",
           "load", "loads"]

MAX_EXTENDS = 8


class ScenarioError(InputFileError):
    """One or more problems in a scenario file; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


@dataclass(frozen=True)
class Resolved:
    """A validated scenario: the model, the merged data it came from, and where each key was written."""

    scenario: PlanScenario
    data: dict[str, Any]
    files: tuple[str, ...]  # the file and every file it extends, nearest first
    folder: Path
    lines: dict[tuple[Any, ...], tuple[str, int]] = field(repr=False, default_factory=dict)

    def digest(self) -> str:
        """Hash of the resolved inputs (sorted JSON), the cache and store key of the scenario."""
        return hashlib.sha256(json.dumps(self.data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _named_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, dict) and "name" in x for x in v)


def _merge(base: Any, over: Any, lines: dict, over_lines: dict, path: tuple[Any, ...]) -> Any:
    """``over`` on top of ``base``; ``lines`` (base's, updated in place) learns where each key now comes from."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            p = (*path, k)
            out[k] = _merge(base[k], v, lines, over_lines, p) if k in base else v
            if k not in base:
                _relocate(lines, over_lines, p, p)
            lines[p] = over_lines.get(p, lines.get(p))
        return out
    if _named_list(base) and _named_list(over):
        by_name = {x["name"]: i for i, x in enumerate(base)}
        out_l = list(base)
        for j, item in enumerate(over):
            i = by_name.get(item["name"])
            if i is None:
                out_l.append(item)
                _relocate(lines, over_lines, (*path, j), (*path, len(out_l) - 1))
            else:
                # the override's entry j lands on the base's entry i: translate its lines first
                shifted = {(*path, i, *k[len(path) + 1:]): v for k, v in over_lines.items()
                           if k[:len(path) + 1] == (*path, j)}
                out_l[i] = _merge(base[i], item, lines, {**over_lines, **shifted}, (*path, i))
        return out_l
    # replaced wholesale: forget the base's lines below this path, take the override's
    for k in [k for k in lines if k[:len(path)] == path and len(k) > len(path)]:
        del lines[k]
    _relocate(lines, over_lines, path, path)
    return over


def _relocate(lines: dict, over_lines: dict, src: tuple[Any, ...], dst: tuple[Any, ...]) -> None:
    """Copy the override's lines under ``src`` to ``dst``."""
    n = len(src)
    for k, v in over_lines.items():
        if k[:n] == src:
            lines[(*dst, *k[n:])] = v


def _read(path: Path, shown: str, seen: tuple[Path, ...]) -> tuple[dict[str, Any], dict, tuple[str, ...]]:
    data, lines = yamlmap.load(path, shown)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError([f"{shown}:1 a scenario must be a YAML mapping of sections"])
    files = (shown,)
    parent = data.get("extends")
    if parent is None:
        return data, lines, files
    where = f"{shown}:{lines.get(('extends',), (shown, 1))[1]} extends"
    if not isinstance(parent, str) or not parent.endswith((".yaml", ".yml")):
        raise ScenarioError([f"{where}: must name a .yaml scenario file, got {parent!r}"])
    ppath = (path.parent / parent).resolve()
    if ppath in seen or ppath == path.resolve():
        raise ScenarioError([f"{where}: {parent} extends back to this file (a cycle)"])
    if len(seen) >= MAX_EXTENDS:
        raise ScenarioError([f"{where}: more than {MAX_EXTENDS} levels of extends"])
    if not ppath.is_file():
        raise ScenarioError([f"{where}: scenario file not found, got {parent!r}"])
    base, base_lines, base_files = _read(ppath, ppath.name, (*seen, path.resolve()))
    body = {k: v for k, v in data.items() if k != "extends"}
    merged = _merge(base, body, base_lines, lines, ())
    merged["extends"] = parent
    base_lines[("extends",)] = lines.get(("extends",), (shown, 1))
    return merged, base_lines, (*files, *base_files)


def _where(lines: dict, loc: tuple[Any, ...], default: str) -> str:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            f, line = lines[loc[:n]]
            return f"{f}:{line}"
    return f"{default}:1"


_PYDANTIC_RULES = {
    "greater_than": lambda c: f"must be > {c.get('gt'):g}",
    "greater_than_equal": lambda c: f"must be >= {c.get('ge'):g}",
    "less_than": lambda c: f"must be < {c.get('lt'):g}",
    "less_than_equal": lambda c: f"must be <= {c.get('le'):g}",
    "missing": lambda c: "is required",
    "extra_forbidden": lambda c: "unknown field (see `chipplan scenario schema`)",
    "literal_error": lambda c: f"must be one of {c.get('expected')}",
    "float_parsing": lambda c: "must be a number",
    "float_type": lambda c: "must be a number",
    "int_parsing": lambda c: "must be a whole number",
    "int_type": lambda c: "must be a whole number",
    "int_from_float": lambda c: "must be a whole number",
    "finite_number": lambda c: "must be a finite number",
    "string_type": lambda c: "must be text",
    "dict_type": lambda c: "must be a mapping",
    "list_type": lambda c: "must be a list",
    "tuple_type": lambda c: "must be a list",
}


def _shown(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _pydantic_problems(err: ValidationError, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    out = []
    for e in err.errors():
        # pydantic adds union-member and validator names to loc ("function-after[...]"); keep the user's keys
        loc = (*prefix, *(p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function")))))
        rule_fn = _PYDANTIC_RULES.get(e["type"])
        rule = rule_fn(e.get("ctx") or {}) if rule_fn else str(e["msg"]).removeprefix("Value error, ")
        got = e.get("input")
        msg = rule if e["type"] == "missing" or isinstance(got, dict) else f"{rule}, got {_shown(got)}"
        out.append((loc, msg))
    return out


def _positive(d: Any, loc: tuple[Any, ...], keys: tuple[str, ...], probs: list) -> None:
    if not isinstance(d, dict):
        return
    for k in keys:
        v = d.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool) and not v > 0:
            probs.append(((*loc, k), f"must be > 0, got {_shown(v)}"))


def _rules(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Range rules the strategy engine would find one at a time (and seconds later), found all at once here."""
    probs: list[tuple[tuple[Any, ...], str]] = []
    T = data.get("horizon_quarters")
    dem = data.get("demand") if isinstance(data.get("demand"), dict) else {}
    for i, t in enumerate(dem.get("training") or []):
        loc = ("demand", "training", i)
        _positive(t, loc, ("accelerator_hours",), probs)  # tokens, batch, seq_len: their ranges (specs.limits)
        if isinstance(t, dict):
            s, dl = t.get("start_quarter"), t.get("deadline_quarter")
            if isinstance(s, int) and isinstance(dl, int):
                if s < 0:
                    probs.append(((*loc, "start_quarter"), f"must be >= 0, got {s}"))
                if dl <= s:
                    probs.append(((*loc, "deadline_quarter"), f"must be after start_quarter ({s}), got {dl}"))
                elif isinstance(T, int) and dl > T:
                    probs.append(((*loc, "deadline_quarter"), f"must be <= horizon_quarters ({T}), got {dl}"))
    for i, s in enumerate(dem.get("serving") or []):
        _positive(s, ("demand", "serving", i), ("users", "tokens_per_user_per_day", "peak_to_average"), probs)
    _positive(data, (), ("unmet_penalty_usd_per_h100e_hour",), probs)
    names = [t.get("name") for t in (dem.get("training") or []) if isinstance(t, dict)]
    for n in {n for n in names if names.count(n) > 1}:
        probs.append((("demand", "training", names.index(n), "name"), f"names must be unique, got {n!r} twice"))
    seed = data.get("seed")
    if isinstance(seed, int) and seed < 0:
        probs.append((("seed",), f"must be a non-negative integer, got {seed}"))
    return probs


def _routes(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Each route merged with its catalog default and validated, so every bad route field shows at once."""
    from chipplan.strategy import scenario as sc

    probs: list[tuple[tuple[Any, ...], str]] = []
    routes = data.get("routes")
    if not isinstance(routes, dict):
        return probs
    d = sc.defaults()["routes"]
    for id_, body in routes.items():
        if not isinstance(body, dict):
            continue
        body = dict(body)
        uses = body.pop("uses", None)
        if uses is not None and uses not in d:
            probs.append((("routes", id_, "uses"), f"unknown default; known: {', '.join(sorted(d))}, got {uses!r}"))
            continue
        base = sc._strip(d[uses]) if uses is not None else {}
        try:
            sc.RouteFields.model_validate({**base, **body})
        except ValidationError as e:
            probs += _pydantic_problems(e, ("routes", id_))
    return probs


def _chips(sf: PlanScenario) -> list[tuple[tuple[Any, ...], str]]:
    from chipplan import catalog

    probs: list[tuple[tuple[Any, ...], str]] = []
    cat = catalog.load()
    for i, c in enumerate(sf.plan.chips):
        try:
            cat.hardware(c)
        except ChipplanError as e:
            probs.append((("plan", "chips", i), str(e).split(": ", 1)[-1]))
    for k, v in sf.plan.systems.items():
        try:
            cat.system(v)
        except ChipplanError as e:
            probs.append((("plan", "systems", k), str(e).split(": ", 1)[-1]))
    dr = sf.plan.design_route
    if dr and dr != "none":
        from chipplan.codesign.route import DESIGN_KINDS

        if dr not in sf.routes:
            probs.append((("plan", "design_route"), f"unknown route; routes: {', '.join(sf.routes)}, got {dr!r}"))
        elif route_kind(sf.routes[dr]) not in DESIGN_KINDS:
            probs.append((("plan", "design_route"), f"must be a {' or '.join(DESIGN_KINDS)} route, got {dr!r} "
                                                    f"({route_kind(sf.routes[dr])})"))
    return probs


def route_kind(body: dict[str, Any] | None) -> str:
    """The kind of a scenario route: its own ``kind``, else its ``uses`` default's."""
    from chipplan.strategy import scenario as sc

    body = body or {}
    if body.get("kind"):
        return str(body["kind"])
    d = sc.defaults()["routes"].get(body.get("uses", ""))
    return str(getattr(d, "kind", "") or "")


def _validate(data: dict[str, Any], lines: dict, files: tuple[str, ...], folder: Path) -> Resolved:
    problems = _rules(data) + _routes(data)
    sf = None
    try:
        sf = PlanScenario.model_validate(data)
    except ValidationError as e:
        problems += _pydantic_problems(e)
    if sf is not None:
        problems += _chips(sf)
    if problems:
        seen, rows = set(), []
        for loc, msg in problems:
            if (loc, msg) in seen:
                continue
            seen.add((loc, msg))
            w = _where(lines, loc, files[0])
            f, _, ln = w.rpartition(":")
            rows.append(((f != files[0], int(ln)), f"{w} {field_path(loc) or 'scenario'}: {msg}"))
        raise ScenarioError([r for _, r in sorted(rows)])
    assert sf is not None
    sf._folder = folder
    return Resolved(scenario=sf, data=data, files=files, folder=folder, lines=lines)


def load(path: str | Path) -> Resolved:
    """Read, merge (``extends``) and validate the scenario at ``path``; :class:`ScenarioError` lists problems."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: scenario file not found")
    data, lines, files = _read(p, p.name, ())
    return _validate(data, lines, files, p.resolve().parent)


def loads(text: str, *, name: str = "scenario.yaml", folder: str | Path | None = None) -> Resolved:
    """Validate scenario text (the web app's uploads). ``extends`` resolves against ``folder``, which the
    caller chooses (never the text); without a folder ``extends`` is refused."""
    data, lines = yamlmap.loads(text, name)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError([f"{name}:1 a scenario must be a YAML mapping of sections"])
    files: tuple[str, ...] = (name,)
    parent = data.get("extends")
    if parent is not None:
        if folder is None:
            raise ScenarioError([f"{name}:{lines.get(('extends',), (name, 1))[1]} extends: not allowed here"])
        fpath = Path(folder)
        known = {q.name: q for q in fpath.glob("*.y*ml")}
        if parent not in known:  # looked up among the folder's files, never joined into a path
            raise ScenarioError([f"{name}:{lines.get(('extends',), (name, 1))[1]} extends: unknown scenario; "
                                 f"known: {', '.join(sorted(known))}, got {parent!r}"])
        base, base_lines, base_files = _read(known[parent], parent, ())
        body = {k: v for k, v in data.items() if k != "extends"}
        merged = _merge(base, body, base_lines, lines, ())
        merged["extends"] = parent
        base_lines[("extends",)] = lines.get(("extends",), (name, 1))
        data, lines, files = merged, base_lines, (name, *base_files)
        folder_p = fpath.resolve()
    else:
        folder_p = Path(folder).resolve() if folder is not None else Path.cwd()
    return _validate(copy.deepcopy(data), lines, files, folder_p)
