"""Model co-design: a scaling law sets parameters and tokens for a budget; the shape is chosen with the chip.

Loss ``L(N, D) = E + A/N^α + B/D^β`` (``catalog/data/codesign.yaml: scaling_laws``: Hoffmann et al. 2022 and
the Epoch AI refit, Besiroglu et al. 2024). With training compute ``C = 6·N·D`` the loss-optimal split is
``N* = G·(C/6)^(β/(α+β))``, ``G = (α·A/(β·B))^(1/(α+β))``, ``D* = C/(6·N*)``.

A dollar budget becomes compute through each chip's FLOP per dollar (the training engine's tokens per dollar
on a reference shape × 6·N), so every chip gets its own N* and D*. Candidate shapes (depth, GQA ratio, MoE
experts and top-k) are built at N* active parameters and run through the training engine on every chip at
once; the result lists the best chip per shape and the best shape per chip. MoE shapes are scored with the
dense law on their active parameters (no credit for the extra experts), so they win only on speed or cost.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from chipplan import catalog
from chipplan.codesign.constants import load as load_constants
from chipplan.codesign.objectives import efficiencies, train
from chipplan.codesign.sweeps import baseline_of, load_config, price_designs, sample, workloads_of
from chipplan.errors import FieldError
from chipplan.perf.columns import Columns
from chipplan.specs import Model

# (name, layers, GQA ratio n_heads/n_kv_heads, experts, top-k)
SHAPES = (("dense-L32-mha", 32, 1, 0, 0), ("dense-L32-gqa8", 32, 8, 0, 0), ("dense-L64-gqa8", 64, 8, 0, 0),
          ("dense-L96-gqa8", 96, 8, 0, 0), ("dense-L128-gqa8", 128, 8, 0, 0), ("moe-L64-e16k2", 64, 8, 16, 2),
          ("moe-L64-e64k4", 64, 8, 64, 4), ("moe-L64-e128k8", 64, 8, 128, 8))
HEAD_DIM = 128
VOCAB = 128256


def scaling_law(name: str) -> Any:
    laws = load_constants().scaling_laws
    if name not in laws:
        raise FieldError("--law", f"must be one of {', '.join(laws)}", name)
    return laws[name]


def loss(n_params: Any, tokens: Any, name: str = "epoch-2024") -> Any:
    """``E + A/N^α + B/D^β``."""
    s = scaling_law(name)
    return s.E + s.A / np.asarray(n_params, dtype=float) ** s.alpha + s.B / np.asarray(tokens, dtype=float) ** s.beta


def optimal(compute_flop: Any, name: str = "epoch-2024") -> dict[str, Any]:
    """Loss-optimal parameters and tokens for ``C = 6 N D`` FLOP."""
    s = scaling_law(name)
    c = np.asarray(compute_flop, dtype=float)
    g = (s.alpha * s.A / (s.beta * s.B)) ** (1.0 / (s.alpha + s.beta))
    n = g * (c / 6.0) ** (s.beta / (s.alpha + s.beta))
    d = c / (6.0 * n)
    return {"params": n, "tokens": d, "tokens_per_param": d / n, "loss": loss(n, d, name)}


def shape_columns(n_active: Any) -> tuple[list[str], Columns]:
    """Model columns (shapes × designs) with about ``n_active`` active parameters each (array over designs)."""
    n = np.atleast_1d(np.asarray(n_active, dtype=float))
    tmpl = Model(name="shape", n_layers=32, d_model=4096, n_heads=32, d_ff=14336, vocab_size=VOCAB,
                 max_seq_len=8192).to_columns()
    names, cols = [], {k: [] for k in tmpl}
    for name, L, g, e, k in SHAPES:
        # per layer: attention d²(2 + 2/g) + MLP (top-k experts of width d_ff/k, or one of d_ff = 8/3·d) 8·d²
        per_layer = 2 + 2 / g + 8.0
        d = np.sqrt(np.maximum(n - 2 * VOCAB * 4096, n * 0.5) / (L * per_layer))
        heads = np.maximum(np.round(d / HEAD_DIM / g) * g, g)
        d = heads * HEAD_DIM
        dff = np.maximum(np.round(8.0 / 3.0 * d / (k or 1) / 128) * 128, 128)
        row = dict(tmpl)
        row.update(n_layers=L, d_model=d, n_heads=heads, n_kv_heads=heads / g, head_dim=HEAD_DIM, d_ff=dff,
                   n_experts=e, top_k=k)
        names.append(name)
        for key in cols:
            cols[key].append(np.broadcast_to(np.asarray(row[key], dtype=float), n.shape))
    return names, Columns({k: np.stack(v) for k, v in cols.items()})


def codesign_model(config: Any, *, compute_flop: float | None = None, budget_usd: float | None = None,
                   law: str = "epoch-2024", designs: int = 256, seed: int = 0) -> dict[str, Any]:
    """Joint model-shape × chip choice for a compute or dollar budget (see the module docstring)."""
    law_name = law
    scaling_law(law_name)
    if (compute_flop is None) == (budget_usd is None):
        raise FieldError("--compute-flop", "give exactly one of --compute-flop and --budget-usd")
    for v, f in ((compute_flop, "--compute-flop"), (budget_usd, "--budget-usd")):
        if v is not None and not (np.isfinite(v) and v > 0):
            raise FieldError(f, "must be a positive number", v)
    cfg = load_config(config)
    if cfg.workloads.train is None:
        raise FieldError("workloads.train", "model co-design needs a training workload")
    w = workloads_of(cfg).train
    # MoE shapes also get expert-parallel variants of the layouts (ep has no effect on dense shapes)
    w = replace(w, layouts=tuple(w.layouts) + tuple({**lay, "ep": 8} for lay in w.layouts if "ep" not in lay))
    cfg = cfg.model_copy(update={"seed": seed})
    p = sample(cfg, 0, designs)
    c, _, money, srv, hw = price_designs(p, cfg, designs)
    eff = efficiencies(c["family"], engine="training")
    rate = srv["owned_usd_per_accelerator_hour"]
    if compute_flop is not None:
        opt = optimal(compute_flop, law_name)
        n_star = np.full(designs, float(opt["params"]))
    else:
        ref = catalog.model(w.model)
        n_ref = float(ref.published_params or 7e10)
        tok_ref = train(hw, eff, w)["train_tokens_per_s_per_accelerator"]
        flop_per_usd = np.where(tok_ref > 0, tok_ref * 3600.0 / rate * 6 * n_ref, 0.0)
        opt_d = optimal(np.maximum(budget_usd * flop_per_usd, 1e18), law_name)
        n_star = opt_d["params"]
    names, m = shape_columns(n_star)
    t = train(hw, eff, w, model=m)["train_tokens_per_s_per_accelerator"]  # shapes × designs
    from chipplan.perf.arithmetic import param_counts

    active = np.asarray(param_counts(m)["active"])
    with np.errstate(divide="ignore", invalid="ignore"):
        if compute_flop is not None:
            tokens = compute_flop / (6.0 * active)
            run_usd = np.where(t > 0, tokens / t / 3600.0 * rate, np.inf)
            lss = np.where(t > 0, loss(active, tokens, law_name), np.inf)
        else:
            tokens = np.where(t > 0, budget_usd / rate * t * 3600.0, 0.0)
            run_usd = np.where(t > 0, budget_usd, np.inf)
            lss = np.where(t > 0, loss(active, np.maximum(tokens, 1.0), law_name), np.inf)
        score = lss if budget_usd is not None else run_usd
    joint = []
    for i, nm in enumerate(names):
        j = int(np.argmin(score[i]))
        joint.append({"shape": nm, "design_id": j, "params_active": float(active[i, j]),
                      "train_tokens_per_s_per_accelerator": float(t[i, j]), "train_run_usd": float(run_usd[i, j]),
                      "tokens": float(np.broadcast_to(tokens, t.shape)[i, j]), "loss": float(lss[i, j])})
    by_chip = []
    best_shape = np.argmin(score, axis=0)
    for j in np.argsort(np.min(score, axis=0))[:10]:
        i = int(best_shape[j])
        by_chip.append({"design_id": int(j), "best_shape": names[i], "train_run_usd": float(run_usd[i, j]),
                        "loss": float(lss[i, j]), "unit_cost_usd": float(money["unit_cost_usd"][j]),
                        **{k: (v[j].item() if hasattr(v[j], "item") else str(v[j]))
                           for k, v in c.items() if k in cfg.space}})
    out_opt = optimal(compute_flop, law_name) if compute_flop is not None else {
        "params": float(np.median(n_star)), "tokens": float(np.median(opt_d["tokens"])),
        "tokens_per_param": float(np.median(opt_d["tokens_per_param"])), "loss": float(np.median(opt_d["loss"]))}
    return {"law": law_name, "law_source": scaling_law(law_name).source,
            "budget": {"compute_flop": compute_flop, "budget_usd": budget_usd},
            "optimal": {k: float(np.asarray(v)) for k, v in out_opt.items()},
            "joint": joint, "best_chips": by_chip, "shapes": names,
            "baseline_h100_train_tokens_per_s": baseline_of(cfg).get("train_tokens_per_s_per_accelerator")}
