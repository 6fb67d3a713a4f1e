"""The chipplan web app: a JSON API mirroring the command line, and a small page over it.

Safety, by construction: request bodies are capped (``MAX_BODY_BYTES``) and validated by pydantic models with
ranges (422 names the field); sweep sizes are capped; ids (runs, jobs, examples, catalog entries) are looked
up among what the app lists, never joined into a path from request text; scenario text sent by the browser may
extend only the bundled examples and name only catalog models or the examples' model files.
"""

from __future__ import annotations

import collections
import contextlib
import json
import re
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from chipplan import __version__, catalog
from chipplan.catalog.schema import source_text
from chipplan.errors import ChipplanError, FieldError
from chipplan.scenario import engines
from chipplan.store import Store, StoreError
from chipplan.web.jobs import MAX_RUNNING, Jobs

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 256 * 1024
MAX_SCENARIO_CHARS = 200_000
MAX_WEB_SCENARIOS = 100_000  # sourcing Monte Carlo scenarios per web job
Fin = Annotated[float, Field(allow_inf_nan=False)]


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainRequest(_Req):
    """The flags of ``chipplan train`` (``global_batch`` in tokens, ``price`` in USD per accelerator-hour)."""

    model: str = Field(min_length=1, max_length=200, examples=["llama-3.1-70b"])
    hardware: str = Field(min_length=1, max_length=200, examples=["h100-sxm-80gb"])
    tokens: Fin = Field(gt=0, le=1e17, examples=[15e12])
    gpus: int | None = Field(None, ge=1, le=1_000_000, examples=[1024])
    days: Fin | None = Field(None, gt=0, le=3650)
    global_batch: Fin | None = Field(None, gt=0, le=1e10)
    seq_len: int | None = Field(None, ge=1, le=1_048_576)
    precision: Literal["bf16", "fp16", "fp8", "fp4"] = "bf16"
    price: Fin | None = Field(None, ge=0, le=1e4)
    tp: int | None = Field(None, ge=1, le=1024)
    pp: int | None = Field(None, ge=1, le=1024)
    cp: int | None = Field(None, ge=1, le=1024)
    ep: int | None = Field(None, ge=1, le=1024)
    vpp: int | None = Field(None, ge=1, le=128)
    micro_batch: int | None = Field(None, ge=1, le=4096)
    zero_stage: int | None = Field(None, ge=0, le=3)
    recompute: Literal["none", "selective", "full"] | None = None


class ServeRequest(_Req):
    """The flags of ``chipplan serve`` (lengths in tokens, SLOs in ms, price in USD per accelerator-hour)."""

    model: str = Field(min_length=1, max_length=200, examples=["llama-3.1-70b"])
    hardware: str = Field(min_length=1, max_length=200, examples=["h100-sxm-80gb"])
    input_len: int = Field(2048, ge=1, le=1_048_576)
    output_len: int = Field(512, ge=1, le=262_144)
    tp: list[Annotated[int, Field(ge=1, le=1024)]] | None = Field(None, max_length=16)
    precision: list[Literal["bf16", "fp16", "fp8", "fp4"]] | None = Field(None, max_length=4)
    slo_ttft_ms: Fin | None = Field(None, gt=0, le=1e7)
    slo_tpot_ms: Fin | None = Field(None, gt=0, le=1e6)
    qps: Fin | None = Field(None, gt=0, le=1e9)
    tokens_per_day: Fin | None = Field(None, gt=0, le=1e18)
    price_per_hour: Fin | None = Field(None, gt=0, le=1e4)


class TcoRequest(_Req):
    """The flags of ``chipplan tco`` (``years`` of ownership, ``cloud_price`` USD per accelerator-hour)."""

    system: str = Field(min_length=1, max_length=200, examples=["dgx-h100"])
    years: Fin = Field(3.0, gt=0, le=15)
    utilisation: Fin = Field(1.0, ge=0.001, le=1)
    cloud_price: Fin | None = Field(None, ge=0, le=1e4)
    facility: Literal["colo", "build"] = "colo"
    samples: int = Field(0, ge=0, le=20_000)
    seed: int = Field(0, ge=0, le=2**31)


class CodesignRequest(_Req):
    """A co-design sweep of a bundled sweep file (``examples/codesign.yaml``): ``designs`` sampled designs."""

    example: str = Field("codesign", max_length=100)
    designs: int = Field(2000, ge=1, le=20_000)
    seed: int = Field(0, ge=0, le=2**31)


class PlanRequest(_Req):
    """A scenario to run: a bundled example by name, or scenario YAML text (which may ``extends:`` an example)."""

    example: str | None = Field(None, max_length=100, examples=["frontier_lab"])
    scenario_yaml: str | None = Field(None, max_length=MAX_SCENARIO_CHARS)
    seed: int | None = Field(None, ge=0, le=2**31)
    scenarios: int | None = Field(20_000, ge=1, le=MAX_WEB_SCENARIOS)


# engine field names → request field names, so a 422 names what the browser sent
_TRAIN_FIELDS = {"n_accelerators": "gpus", "memory": "gpus", "global_batch_tokens": "global_batch",
                 "models": "model", "accelerators": "hardware", "hardware": "hardware", "systems": "hardware"}
_SERVE_FIELDS = {"models": "model", "accelerators": "hardware", "systems": "hardware", "slo": "slo_tpot_ms",
                 "precision": "precision"}
_TCO_FIELDS = {"systems": "system", "accelerators": "system", "accelerator_price": "system", "hardware": "system",
               "cloud_price": "cloud_price"}


def _unprocessable(e: ChipplanError, fields: dict[str, str], allowed: set[str]) -> HTTPException:
    msg = str(e)
    head = e.field if isinstance(e, FieldError) else msg.split(": ", 1)[0]
    head = head.lstrip("-").replace("-", "_")
    name = fields.get(head, head)
    loc = ["body", name] if name in allowed else ["body"]
    return HTTPException(422, detail=[{"loc": loc, "msg": msg, "type": "value_error"}])


class _ResultCache:
    """Engine answers as JSON bytes, keyed on the request body (the catalog is fixed for the process's life),
    least recently used dropped first."""

    def __init__(self, size: int = 1024):
        self.size = size
        self.data: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self.lock:
            v = self.data.get(key)
            if v is not None:
                self.data.move_to_end(key)
            return v

    def put(self, key: str, value: bytes) -> None:
        with self.lock:
            self.data[key] = value
            while len(self.data) > self.size:
                self.data.popitem(last=False)


_RESULTS = _ResultCache()


async def _engine(fn: Any, req: _Req, fields: dict[str, str]) -> Response:
    """Answer from the cache, or run the engine in a worker thread (the event loop stays free)."""
    from chipplan.commands._common import to_json

    key = fn.__name__ + json.dumps(req.model_dump(), sort_keys=True)
    body = _RESULTS.get(key)
    if body is None:
        try:
            res = await run_in_threadpool(fn, **req.model_dump())
        except ChipplanError as e:
            raise _unprocessable(e, fields, set(type(req).model_fields)) from None
        body = to_json(res, compact=True).encode()
        _RESULTS.put(key, body)
    return Response(content=body, media_type="application/json")


class _BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes, whether announced (Content-Length) or streamed."""

    def __init__(self, app: Any, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        size = headers.get(b"content-length")
        too_big = JSONResponse({"detail": f"request body larger than {self.limit:,} bytes"}, status_code=413)
        if size is not None and (not size.isdigit() or int(size) > self.limit):
            await too_big(scope, receive, send)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, detail=f"request body larger than {self.limit:,} bytes")
            return msg

        await self.app(scope, counted, send)


def _peak_tflops(acc: Any, precision: str) -> float | None:
    try:
        return acc.peak_flops_per_s(precision) / 1e12
    except FieldError:  # the chip has no such matrix unit
        return None


def _catalog_rows(kind: str) -> list[dict[str, Any]]:
    cat = catalog.load()
    if kind == "accelerators":
        return [{"id": k, "name": a.name, "family": a.family, "hbm_gib": a.hbm_bytes / 2**30,
                 "hbm_tb_per_s": a.hbm_bw_bytes_per_s / 1e12, "bf16_tflops": _peak_tflops(a, "bf16"),
                 "fp8_tflops": _peak_tflops(a, "fp8"), "price_usd": a.price_usd or None}
                for k, a in sorted(cat.accelerators.items())]
    if kind == "systems":
        return [{"id": k, "name": s.name, "accelerator": s.accelerator,
                 "accelerators_per_node": s.accelerators_per_node, "price_usd": s.price_usd or None}
                for k, s in sorted(cat.systems.items())]
    from chipplan.perf.arithmetic import param_counts

    out = []
    for k, m in sorted(cat.models.items()):
        p = param_counts(m)
        out.append({"id": k, "name": m.name, "params_b": float(p["total"]) / 1e9,
                    "active_params_b": float(p["active"]) / 1e9, "n_layers": m.n_layers, "d_model": m.d_model,
                    "n_experts": m.n_experts, "max_seq_len": m.max_seq_len})
    return out


def _catalog_item(kind: str, item_id: str) -> dict[str, Any]:
    """The detail of one entry; the id is looked up in the catalog (ids and aliases), never used otherwise."""
    from dataclasses import asdict

    cat = catalog.load()
    found = cat.find(kind, item_id[:200])
    if found is None:
        near = [i for _, i in cat.near(item_id[:200], (kind,))]
        raise HTTPException(404, detail={"msg": str(cat.unknown(item_id[:200], (kind,), kind=kind)),
                                         "near": near})
    entry = cat.entries[kind][found]
    spec = getattr(cat, kind)[found]
    default = source_text(entry.source)
    fields = [{"field": k, "value": v, "source": src} for k, v, src in entry.sourced_fields(mode="json")]
    summary = next((r for r in _catalog_rows(kind) if r["id"] == found), {})
    return {"kind": kind, "id": found, "catalog_version": cat.version, "summary": summary, "source": default,
            "fields": fields, "spec_si": jsonable_encoder(asdict(spec))}


def create_app(*, store: Path, examples: Path | None = None) -> FastAPI:
    """The app over the results store at ``store`` and the example scenarios in ``examples``."""
    st = Store(Path(store)).ensure()
    ex_dir = Path(examples).resolve() if examples is not None else None
    jobs = Jobs(st.root)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.shutdown()  # stop running plans with the server

    app = FastAPI(title="chipplan", version=__version__, lifespan=lifespan,
                  description="Plan AI compute: the chipplan command line as a JSON API. Every POST takes the "
                              "same fields as the command's flags and answers the same keys as its --json.")
    app.state.jobs = jobs
    app.state.store = st

    app.add_middleware(_BodyLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
                for e in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errs)}, status_code=422)

    def examples_known() -> dict[str, Path]:
        if ex_dir is None or not ex_dir.is_dir():
            return {}
        return {p.stem: p for p in sorted(ex_dir.glob("*.yaml")) if _is_scenario(p)}

    # ------------------------------------------------------------------------------------------ pages

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        if name == "plotly.min.js":  # the installed plotly package's bundle, not a CDN
            import plotly

            return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
                                media_type="application/javascript")
        if name not in files:
            raise HTTPException(404, detail="not found")
        media = {".js": "application/javascript", ".css": "text/css", ".html": "text/html"}.get(files[name].suffix)
        return FileResponse(files[name], media_type=media)

    @app.get("/runs/{run_id}/report", response_class=HTMLResponse, include_in_schema=False)
    def report(run_id: str) -> FileResponse:
        try:
            rid = st.resolve(run_id)
        except StoreError as e:
            raise HTTPException(404, detail=str(e)) from None
        return FileResponse(st.runs_dir / rid / "report.html", media_type="text/html")

    # ------------------------------------------------------------------------------------------ API

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        """Liveness, versions and the number of background jobs running."""
        return {"status": "ok", "chipplan_version": __version__, "catalog_version": catalog.load().version,
                "jobs_running": jobs.running()}

    @app.get("/api/catalog/{kind}")
    def catalog_kind(kind: Literal["accelerators", "systems", "models"]) -> dict[str, Any]:
        """The catalog's accelerators, systems or models with their key figures."""
        return {"kind": kind, "catalog_version": catalog.load().version, "items": _catalog_rows(kind)}

    @app.get("/api/catalog/{kind}/{item_id}")
    def catalog_item(kind: Literal["accelerators", "systems", "models"], item_id: str) -> dict[str, Any]:
        """One catalog entry (id or alias): every field with its source, and the engines' SI view of it.
        An unknown id is 404 with the nearest ids of that kind."""
        return _catalog_item(kind, item_id)

    @app.post("/api/train", response_class=JSONResponse)
    async def train(req: TrainRequest) -> Response:
        """``chipplan train``: give ``gpus`` (how long?) or ``days`` (how many accelerators?)."""
        if (req.gpus is None) == (req.days is None):
            raise HTTPException(422, detail=[{"loc": ["body", "gpus"], "type": "value_error",
                                              "msg": "give exactly one of gpus or days"}])
        return await _engine(engines.train, req, _TRAIN_FIELDS)

    @app.post("/api/serve", response_class=JSONResponse)
    async def serve(req: ServeRequest) -> Response:
        """``chipplan serve``: throughput-latency frontier, best configuration under the SLO, cost."""
        if req.qps is not None and req.tokens_per_day is not None:
            raise HTTPException(422, detail=[{"loc": ["body", "qps"], "type": "value_error",
                                              "msg": "give either qps or tokens_per_day, not both"}])
        return await _engine(engines.serve, req, _SERVE_FIELDS)

    @app.post("/api/tco", response_class=JSONResponse)
    async def tco(req: TcoRequest) -> Response:
        """``chipplan tco``: owned vs rented, break-even, cost waterfall (``samples`` > 0 adds bands)."""
        return await _engine(engines.tco, req, _TCO_FIELDS)

    @app.post("/api/codesign")
    async def codesign(req: CodesignRequest) -> Response:
        """``chipplan codesign sweep``: the Pareto set plus a sample of the designs (never every row)."""
        files = {p.stem: p for p in sorted(ex_dir.glob("*.yaml"))} if ex_dir is not None else {}
        if req.example not in files:
            raise HTTPException(422, detail=[{"loc": ["body", "example"], "type": "value_error",
                                              "msg": "unknown sweep file"}])
        key = f"codesign{req.example}{req.designs}{req.seed}"
        body = _RESULTS.get(key)
        if body is None:
            try:
                res = await run_in_threadpool(_sweep, files[req.example], req.designs, req.seed)
            except ChipplanError as e:
                raise _unprocessable(e, {"designs": "designs"}, {"designs", "seed", "example"}) from None
            from chipplan.commands._common import to_json

            body = to_json(res, compact=True).encode()
            _RESULTS.put(key, body)
        return Response(content=body, media_type="application/json")

    @app.get("/api/examples")
    def list_examples() -> dict[str, Any]:
        """The bundled example scenarios a plan job can run or extend."""
        return {"examples": [{"name": k, "file": p.name} for k, p in examples_known().items()]}

    @app.post("/api/plan", status_code=202)
    def plan(req: PlanRequest) -> dict[str, Any]:
        """Start ``chipplan plan`` in the background; poll ``GET /api/jobs/{id}``."""
        from chipplan import scenario as sc

        if (req.example is None) == (req.scenario_yaml is None):
            raise HTTPException(422, detail=[{"loc": ["body", "example"], "type": "value_error",
                                              "msg": "give exactly one of example or scenario_yaml"}])
        if jobs.running() >= MAX_RUNNING:
            raise HTTPException(429, detail=f"{MAX_RUNNING} plans are running; wait for one to finish")
        known = examples_known()
        folder = None
        if req.example is not None:
            if req.example not in known:
                raise HTTPException(422, detail=[{"loc": ["body", "example"], "type": "value_error",
                                                  "msg": f"unknown example; known: {', '.join(known) or 'none'}"}])
            path, label = known[req.example], req.example
        else:
            try:
                r = sc.loads(req.scenario_yaml or "", name="scenario.yaml", folder=ex_dir)
                _only_known_files(r, ex_dir)
            except ChipplanError as e:
                raise HTTPException(422, detail=[{"loc": ["body", "scenario_yaml"], "type": "value_error",
                                                  "msg": str(e)}]) from None
            # the job's folder holds copies of the examples, so extends: and model files resolve to them
            folder = Path(tempfile.mkdtemp(prefix="chipplan-web-scenario-"))
            if ex_dir is not None:
                for p in ex_dir.glob("*.yaml"):
                    shutil.copy2(p, folder / p.name)
            path = folder / "submitted-scenario.yaml"
            path.write_text(req.scenario_yaml or "", encoding="utf-8")
            label = r.scenario.name
        job = jobs.start(path, label=label, seed=req.seed, scenarios=req.scenarios, folder=folder)
        return job.to_dict()

    def _job_or_404(j: Any) -> dict[str, Any]:
        if j is None:
            raise HTTPException(404, detail="unknown job id")
        return j.to_dict()

    @app.get("/api/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        """A background job: status (queued, running, done, failed, cancelled), stage progress, run id."""
        return _job_or_404(jobs.get(job_id))

    @app.delete("/api/jobs/{job_id}")
    def cancel(job_id: str) -> dict[str, Any]:
        """Cancel a running job (its process is stopped; nothing half-written is kept)."""
        return _job_or_404(jobs.cancel(job_id))

    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        """Every stored run, newest first."""
        return {"runs": st.list()}

    @app.get("/api/runs/{run_id}")
    def run(run_id: str) -> dict[str, Any]:
        """One stored run: provenance and headline numbers."""
        try:
            rid = st.resolve(run_id)
            return {"run_id": rid, "provenance": st.provenance(rid), "headlines": st.headlines(rid),
                    "report_url": f"/runs/{rid}/report"}
        except StoreError as e:
            raise HTTPException(404, detail=str(e)) from None

    @app.get("/api/diff")
    def diff(a: str, b: str) -> dict[str, Any]:
        """The inputs that changed between runs ``a`` and ``b`` and how the headline numbers moved."""
        try:
            return st.diff(a, b)
        except StoreError as e:
            raise HTTPException(404, detail=str(e)) from None

    return app


def _sweep(path: Path, designs: int, seed: int) -> dict[str, Any]:
    from chipplan import codesign
    from chipplan.scenario.pipeline import CODESIGN_SAMPLE

    res = codesign.sweep(path, designs=designs, seed=seed)
    d = res.designs
    sample = d.sample(min(CODESIGN_SAMPLE, len(d)), random_state=seed) if len(d) else d
    objs = dict(res.objectives)
    cols = [c for c in ("design_id", "node", "cores", "hbm_stacks", "unit_cost_usd", *objs) if c in d.columns]
    return {"designs": len(d), "objectives": objs, "axes": list(objs)[:2],
            "pareto": res.pareto[[c for c in cols if c in res.pareto.columns]].to_dict("records"),
            "sample": sample[cols].to_dict("records")}


def _is_scenario(p: Path) -> bool:
    try:
        head = p.read_text(encoding="utf-8")[:20_000]
    except OSError:
        return False
    return bool(re.search(r"^(horizon_quarters|extends):", head, re.M))


def _only_known_files(r: Any, ex_dir: Path | None) -> None:
    """Scenario text from the browser may name catalog models or the examples' files, nothing else."""
    known = {p.name for p in ex_dir.glob("*.y*ml")} if ex_dir is not None else set()
    d = r.data.get("demand") or {}
    named = [("demand.performance_model", d.get("performance_model") or "")]
    for section in ("training", "serving"):
        for i, t in enumerate(d.get(section) or []):
            named.append((f"demand.{section}[{i}].model", (t or {}).get("model") or ""))
    for where, v in named:
        if str(v).endswith((".yaml", ".yml")) and str(v) not in known:
            raise FieldError(where, f"a model file must be one of the bundled examples ({', '.join(sorted(known))})",
                             v)
    for rid, body in (r.data.get("routes") or {}).items():
        if isinstance(body, dict) and body.get("design") is not None:
            raise FieldError(f"routes.{rid}.design", "cannot name a sweep file in a scenario sent to the web app; "
                                                     "the plan's co-design stage gives the designed chip its route")
    plan = r.data.get("plan") or {}
    for key in ("validation", "codesign_config"):
        if plan.get(key):
            raise FieldError(f"plan.{key}", "cannot name files in a scenario sent to the web app", plan[key])
