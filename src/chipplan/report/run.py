"""Write a plan's folder: report.html, report.md, tables/*.parquet + *.csv and provenance.json, atomically.

The folder is built beside its destination (``.<name>.tmp-XXXX``) and renamed into place at the end, so a
failed or killed run leaves no partial ``DIR``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from chipplan import __version__, catalog
from chipplan.errors import InputFileError


def provenance(res: Any, run_id: str, created: dt.datetime) -> dict[str, Any]:
    r = res.scenario
    return {"run_id": run_id, "scenario_name": r.scenario.name, "scenario_files": list(r.files),
            "scenario_digest": r.digest(), "scenario": r.data,
            "resolved_plan": r.scenario.plan.model_dump(), "seed": res.seed,
            # the route the plan gave the designed chip (the scenario's routes as written, plus this)
            "design_route": (res.stages.get("strategy") or {}).get("design_route"),
            "catalog_version": catalog.load().version, "chipplan_version": __version__,
            "created_utc": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "python": platform.python_version(),
            "command": " ".join(["chipplan", *sys.argv[1:]]) if sys.argv else "", "stages": res.timings}


def run_id_for(res: Any, created: dt.datetime) -> str:
    from chipplan.store import slug

    h = hashlib.sha256(f"{res.scenario.digest()}|{res.seed}|{created.isoformat()}".encode()).hexdigest()[:6]
    return f"{created.strftime('%Y%m%dT%H%M%SZ')}-{slug(res.scenario.scenario.name)}-{h}"


def _write_tables(folder: Path, frames: dict[str, Any]) -> None:
    t = folder / "tables"
    t.mkdir()
    for name, df in frames.items():
        df = df.copy()
        for c in df.columns:  # mixed-type object columns (None beside numbers) as text, so Parquet accepts them
            if df[c].dtype == object and df[c].map(lambda v: isinstance(v, dict | list)).any():
                df[c] = df[c].map(json.dumps)
        df.to_parquet(t / f"{name}.parquet", index=False)
        df.to_csv(t / f"{name}.csv", index=False)


def build(res: Any, folder: Path, run_id: str, created: dt.datetime) -> dict[str, Any]:
    """Write every output of a run into the (empty, existing) ``folder``."""
    import pandas as pd

    from chipplan.report import plan as rp

    prov = provenance(res, run_id, created)
    frames = rp.tables(res)
    _write_tables(folder, frames)
    figs = rp.figures(res)
    rp.write_html(res, folder / "report.html", run_id, prov, figs)
    rp.write_markdown(res, folder / "report.md", run_id, prov, figs)
    (folder / "provenance.json").write_text(json.dumps(prov, indent=2, sort_keys=True, default=str))
    row = {"run_id": run_id, "scenario": res.scenario.scenario.name, "created_utc": prov["created_utc"],
           "seed": res.seed, "catalog_version": prov["catalog_version"], "chipplan_version": __version__,
           "scenario_digest": prov["scenario_digest"], "scenario_files": ", ".join(res.scenario.files)}
    for h in res.headlines[:6]:
        row[h["key"]] = h["value"]
    pd.DataFrame([row]).to_parquet(folder / "run.parquet", index=False)
    return prov


def write(res: Any, out: Path, *, store: Any | None = None) -> tuple[str, Path | None]:
    """Write the run to ``out`` (replacing it whole) and, with a ``store``, add it there; returns (run id,
    stored path)."""
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run_id = run_id_for(res, created)
    out = Path(out)
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; a report folder is for reading
    except OSError as e:
        raise InputFileError(f"--out: cannot write in {str(parent)!r}: {e.strerror or e}") from None
    old = None
    try:
        build(res, tmp, run_id, created)
        stored = store.add(tmp, run_id) if store is not None else None
        if out.exists():
            if not out.is_dir():
                raise InputFileError(f"--out: {str(out)!r} exists and is not a folder")
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            os.replace(out, old / "run")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "run").exists() and not out.exists():
            os.replace(old / "run", out)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return run_id, stored
