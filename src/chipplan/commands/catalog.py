"""``chipplan catalog list|show`` and ``chipplan model``."""

from __future__ import annotations

from typing import Any

import typer

from chipplan import catalog
from chipplan.catalog.schema import source_text
from chipplan.commands._common import (
    Output,
    fail,
    fmt,
    format_option,
    handle_errors,
    json_option,
    output_format,
    print_json,
    table,
)
from chipplan.errors import FieldError
from chipplan.perf import arithmetic as ar
from chipplan.units import PRECISIONS

catalog_app = typer.Typer(help="Browse the catalog of accelerators, systems and models.", no_args_is_help=True)
SECTIONS = ("accelerators", "systems", "models")
# Columns dropped first on a narrow terminal (the full record is in --json and `catalog show`).
# Listed in the order they are kept: the last goes first.
OPTIONAL = {"accelerators": ("domain", "TDP W", "scale-up GB/s/dir", "fp8 TFLOP/s", "name"),
            "systems": ("node kW", "name"), "models": ("experts", "attention", "kv heads")}


def _accel_row(a: Any) -> list[Any]:
    return [a.id, a.name, (a.peak_bf16_flops_per_s or None) and a.peak_bf16_flops_per_s / 1e12,
            (a.peak_fp8_flops_per_s or None) and
            a.peak_fp8_flops_per_s / 1e12, a.hbm_bytes / 2**30, a.hbm_bw_bytes_per_s / 1e12,
            a.scale_up_bw_bytes_per_s / 1e9, a.scale_up_domain, a.tdp_w, a.launch_year]


@catalog_app.command("list")
@handle_errors
def list_cmd(
    section: str = typer.Argument("accelerators", help="accelerators, systems or models"),
    fmt_: str | None = format_option(),
    as_json: bool = json_option(),
) -> None:
    """List catalog entries."""
    if section not in SECTIONS:
        fail(f"section: must be one of {', '.join(SECTIONS)}, got {section!r}")
    cat = catalog.load()
    items = getattr(cat, section)
    out = Output(output_format(fmt_, as_json))
    if out.fmt == "json":
        print_json({"catalog_version": cat.version, section: {k: _as_dict(v) for k, v in items.items()}})
        return
    if section == "accelerators":
        rows = [_accel_row(a) for a in items.values()]
        cols = ["id", "name", "bf16 TFLOP/s", "fp8 TFLOP/s", "HBM GiB", "HBM TB/s", "scale-up GB/s/dir", "domain",
                "TDP W", "year"]
    elif section == "systems":
        rows = [[s.id, s.name, s.accelerator, s.accelerators_per_node, s.scale_up_domain, s.node_power_w / 1e3,
                 s.price_usd or None] for s in items.values()]
        cols = ["id", "name", "accelerator", "per node", "scale-up domain", "node kW", "price USD"]
    else:
        rows = []
        for m in items.values():
            p = ar.param_counts(m)
            rows.append([m.name, m.n_layers, m.d_model, m.n_heads, m.n_kv_heads, m.attention,
                         float(p["total"]) / 1e9, float(p["active"]) / 1e9, m.n_experts or None])
        cols = ["id", "layers", "d_model", "heads", "kv heads", "attention", "params B", "active B", "experts"]
    out.add(table(f"{section} (catalog {cat.version})", cols, rows, optional=OPTIONAL.get(section, ())))
    out.print()


def _as_dict(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(obj)


@catalog_app.command("show")
@handle_errors
def show_cmd(
    id_: str = typer.Argument(..., metavar="ID", help="Accelerator, system or model id (or alias)."),
    fmt_: str | None = format_option(),
    as_json: bool = json_option(),
) -> None:
    """Show one entry with the source of every number."""
    cat = catalog.load()
    out = Output(output_format(fmt_, as_json))
    for section in SECTIONS:
        try:
            spec = getattr(cat, section[:-1])(id_)
        except KeyError:
            continue
        entry = cat.entries[section][getattr(spec, "id", None) or spec.name]
        data = {"section": section, "id": getattr(spec, "id", None) or spec.name, "spec_si": _as_dict(spec),
                "entry": entry.model_dump(mode="json")}
        if out.fmt == "json":
            print_json(data)
            return
        rows = [[k, _plain(k, v), src] for k, v, src in entry.sourced_fields()]
        out.add(table(f"{section[:-1]} {data['id']}", ["field", "value", "source"], rows))
        out.note(f"entry source: {source_text(entry.source)}")
        out.print()
        return
    # Not found anywhere: near matches from every kind, most similar first.
    raise cat.unknown(id_)


def _plain(key: str, v: Any) -> Any:
    """A field's value as people write it: lists joined, mappings as ``key value`` pairs, years as years."""
    if isinstance(v, dict):
        return "; ".join(f"{k} {_plain(str(k), x)}" for k, x in v.items() if x is not None)
    if isinstance(v, list | tuple):
        return ", ".join(str(_plain(key, x)) for x in v)
    if "year" in key and isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, float):
        return fmt(v)
    return v


@handle_errors
def model_command(
    model: str = typer.Argument(..., help="Model id or alias from the catalog."),
    seq_len: int = typer.Option(0, "--seq-len", help="Sequence length for FLOPs (default: the model's maximum "
                                "or 4096, whichever is smaller)."),
    fmt_: str | None = format_option(),
    as_json: bool = json_option(),
) -> None:
    """Parameters, FLOPs per token and memory by precision for one model."""
    handle_errors(_model)(model, seq_len, output_format(fmt_, as_json))


def _model(model: str, seq_len: int, fmt_: str) -> None:
    m = catalog.model(model)
    if seq_len < 0:
        raise FieldError("--seq-len", "must be a positive integer", seq_len)
    s = seq_len or min(m.max_seq_len, 4096)
    p = {k: float(v) for k, v in ar.param_counts(m).items()}
    fwd = float(ar.forward_flops_per_token(m, s))
    out = {
        "model": m.name, "seq_len": s, "attention": m.attention,
        "params": p,
        "forward_flops_per_token": fwd,
        "training_flops_per_token": 3 * fwd,
        "rule_6n_12lhs_flops_per_token": float(ar.rule_of_thumb_flops_per_token(m, s)),
        "kv_cache_bytes_per_token": {q: float(ar.kv_cache_bytes_per_token(m, q)) for q in ("bf16", "fp8")},
        "weight_bytes": {q: float(ar.weight_bytes(m, q)) for q in PRECISIONS if q not in ("tf32", "int8", "int4")},
    }
    if fmt_ == "json":
        print_json(out)
        return
    rows = [["parameters, total", p["total"] / 1e9, "B"], ["parameters, active per token", p["active"] / 1e9, "B"],
            ["  embeddings", p["embedding"] / 1e9, "B"], ["  routed experts", p["expert"] / 1e9, "B"],
            [f"forward FLOP/token (s={s}, causal)", fwd / 1e9, "GFLOP"],
            ["training FLOP/token (3x forward)", 3 * fwd / 1e9, "GFLOP"],
            ["6N + 12·L·h·s rule", out["rule_6n_12lhs_flops_per_token"] / 1e9, "GFLOP"]]
    rows += [[f"KV cache per token ({q})", v / 1e3, "kB"] for q, v in out["kv_cache_bytes_per_token"].items()]
    rows += [[f"weights ({q})", v / 2**30, "GiB"] for q, v in out["weight_bytes"].items()]
    o = Output(fmt_)
    o.add(table(f"{m.name} ({m.n_layers} layers, d_model {m.d_model}, {m.attention})", ["quantity", "value", "unit"],
                rows))
    o.print()


TEMPLATES = ("accelerator", "system", "model")


@catalog_app.command("template")
@handle_errors
def template_cmd(
    kind: str = typer.Argument("accelerator", help="accelerator, system or model"),
) -> None:
    """Print a commented catalog file to fill in: `chipplan catalog template accelerator > my_chip.yaml`."""
    from pathlib import Path

    if kind not in TEMPLATES:
        raise FieldError("kind", f"must be one of {', '.join(TEMPLATES)}", kind)
    text = (Path(catalog.__file__).parent / "templates" / f"{kind}.yaml").read_text()
    print(text, end="")


@catalog_app.command("check")
@handle_errors
def check_cmd(
    path: str = typer.Argument(..., metavar="FILE", help="A catalog YAML file (accelerators:, systems:, models:)."),
    fmt_: str | None = format_option(),
    as_json: bool = json_option(),
) -> None:
    """Check a custom catalog file: every problem at once, with the line and the field in the file's own key
    names; exit 2 if there is any."""
    from chipplan.commands._common import err_console

    f = output_format(fmt_, as_json)
    problems = catalog.check_file(path)
    if f == "json":
        print_json({"file": path, "ok": not problems, "problems": problems})
    elif not problems:
        print(f"{path}: ok")
    for p in problems:
        if f != "json":
            err_console.print(f"error: {p}", markup=False, highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(2)
