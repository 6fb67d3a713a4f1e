"""The results store: one folder per run of ``chipplan plan``, queried with DuckDB over its Parquet tables.

Layout of a store (default ``./chipplan-runs``)::

    runs/<run id>/provenance.json   resolved scenario, catalog version, seed, chipplan version, time
    runs/<run id>/run.parquet       one row: run id, scenario, time, seed, versions, scenario digest
    runs/<run id>/tables/*.parquet  the result tables (headlines, training, serving, tco, portfolio, ...)
    runs/<run id>/report.html, report.md
    cache/                          engine results keyed on inputs and catalog version
    .tmp/                           runs being written

A run is written complete under ``.tmp/`` and renamed into ``runs/`` in one step, so a run killed mid-way
leaves at most a folder under ``.tmp/`` that nothing reads (and :func:`Store.sweep` removes), and every query
sees whole runs only. Run ids are matched against the folder names the store lists, never joined into a path
from user text.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chipplan.errors import ChipplanError, FieldError, InputFileError

DEFAULT_STORE = "chipplan-runs"
STORE_ENV = "CHIPPLAN_STORE"
RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[a-z0-9_.-]{1,40}-[0-9a-f]{6}$")
STALE_TMP_S = 24 * 3600.0


class StoreError(ChipplanError):
    """A run id that is not in the store, or a store folder that cannot be used."""


def default_path() -> Path:
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


def slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.")
    return (s or "scenario")[:40]


@dataclass(frozen=True)
class Store:
    root: Path

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def tmp_dir(self) -> Path:
        return self.root / ".tmp"

    def ensure(self) -> Store:
        try:
            for d in (self.runs_dir, self.cache_dir, self.tmp_dir):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputFileError(f"--store: cannot create {str(self.root)!r}: {e.strerror or e}") from None
        return self

    # -------------------------------------------------------------------------------------------- writing

    def add(self, src: Path, run_id: str) -> Path:
        """Copy the finished run folder ``src`` into the store as ``run_id`` (atomically)."""
        if not RUN_ID.match(run_id):
            raise FieldError("run_id", "must look like 20260101T000000Z-name-abc123", run_id)
        self.ensure()
        tmp = Path(tempfile.mkdtemp(prefix=f"{run_id}.", dir=self.tmp_dir))
        try:
            shutil.copytree(src, tmp, dirs_exist_ok=True, copy_function=shutil.copy2)
            os.replace(tmp, self.runs_dir / run_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.runs_dir / run_id

    def sweep(self) -> int:
        """Remove folders left under ``.tmp/`` by runs killed more than a day ago; returns how many."""
        n = 0
        if self.tmp_dir.is_dir():
            for d in self.tmp_dir.iterdir():
                if time.time() - d.stat().st_mtime > STALE_TMP_S:
                    shutil.rmtree(d, ignore_errors=True)
                    n += 1
        return n

    # -------------------------------------------------------------------------------------------- reading

    def ids(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(d.name for d in self.runs_dir.iterdir()
                      if d.is_dir() and RUN_ID.match(d.name) and (d / "run.parquet").is_file())

    def resolve(self, given: str) -> str:
        """The stored run id that ``given`` names: the id itself, a unique prefix, or ``latest``/``latest~N``."""
        ids = self.ids()
        if not ids:
            raise StoreError(f"run: the store {str(self.root)!r} has no runs yet (run `chipplan plan ... --store`)")
        m = re.fullmatch(r"latest(?:~([0-9]{1,4}))?", given)
        if m:
            k = int(m.group(1) or 0)
            if k >= len(ids):
                raise StoreError(f"run: {given!r} goes back further than the {len(ids)} stored runs")
            return ids[-1 - k]
        if given in ids:
            return given
        hits = [i for i in ids if i.startswith(given)] if given else []
        if len(hits) == 1:
            return hits[0]
        near = hits[:5] or ids[-5:]
        raise StoreError(f"run: {'ambiguous' if hits else 'unknown'} id {given!r}; "
                         f"{'matches' if hits else 'latest'}: {', '.join(near)}")

    def path(self, given: str) -> Path:
        return self.runs_dir / self.resolve(given)

    def provenance(self, given: str) -> dict[str, Any]:
        return json.loads((self.path(given) / "provenance.json").read_text())

    def _sql(self, query: str, params: list[Any] | None = None) -> Any:
        import duckdb

        con = duckdb.connect(":memory:")
        try:
            return con.execute(query, params or []).df()
        finally:
            con.close()

    def list(self) -> list[dict[str, Any]]:
        """Every stored run, newest first, with its headline numbers (one DuckDB query over the Parquet files)."""
        ids = self.ids()
        if not ids:
            return []
        files = [str(self.runs_dir / i / "run.parquet") for i in ids]
        df = self._sql("SELECT * FROM read_parquet(?, union_by_name = true) ORDER BY created_utc DESC, run_id DESC",
                       [files])
        return json.loads(df.to_json(orient="records"))

    def headlines(self, given: str) -> list[dict[str, Any]]:
        p = self.path(given) / "tables" / "headlines.parquet"
        if not p.is_file():
            return []
        return json.loads(self._sql("SELECT * FROM read_parquet(?)", [str(p)]).to_json(orient="records"))

    def table(self, given: str, name: str) -> Any:
        """One result table of a run as a DataFrame; ``name`` must be one of the run's tables."""
        d = self.path(given) / "tables"
        known = sorted(p.stem for p in d.glob("*.parquet"))
        if name not in known:
            raise StoreError(f"table: unknown table {name!r}; tables: {', '.join(known)}")
        return self._sql("SELECT * FROM read_parquet(?)", [str(d / f"{name}.parquet")])

    def diff(self, a: str, b: str) -> dict[str, Any]:
        """The inputs that changed between runs ``a`` and ``b`` and how each headline number moved."""
        ia, ib = self.resolve(a), self.resolve(b)
        pa, pb = self.provenance(ia), self.provenance(ib)
        changed = []
        for path, va, vb in _changes(pa.get("scenario", {}), pb.get("scenario", {})):
            changed.append({"field": path, "a": va, "b": vb})
        for k in ("seed", "catalog_version", "chipplan_version"):
            if pa.get(k) != pb.get(k):
                changed.append({"field": k, "a": pa.get(k), "b": pb.get(k)})
        ha = {h["key"]: h for h in self.headlines(ia)}
        hb = {h["key"]: h for h in self.headlines(ib)}
        moved = []
        for k in list(dict.fromkeys([*ha, *hb])):
            x, y = ha.get(k), hb.get(k)
            va = x["value"] if x else None
            vb = y["value"] if y else None
            rel = (vb - va) / abs(va) if va not in (None, 0) and vb is not None else None
            moved.append({"key": k, "label": (y or x)["label"], "unit": (y or x)["unit"], "a": va, "b": vb,
                          "change": (vb - va) if va is not None and vb is not None else None,
                          "relative_change": rel,
                          "a_interval": [x["low"], x["high"]] if x else None,
                          "b_interval": [y["low"], y["high"]] if y else None})
        return {"a": ia, "b": ib, "inputs_changed": changed, "headlines": moved}


def _changes(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in a:
                out.append((p, None, b[k]))
            elif k not in b:
                out.append((p, a[k], None))
            else:
                out += _changes(a[k], b[k], p)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            key = x.get("name") if isinstance(x, dict) and isinstance(y, dict) and x.get("name") == y.get("name") \
                else None
            out += _changes(x, y, f"{path}[{key if key is not None else i}]")
        return out
    return [] if a == b else [(path, a, b)]
