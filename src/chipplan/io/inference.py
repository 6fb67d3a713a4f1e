"""Inference rows of the predict/validate table (``chipplan.io.write.predict_frame`` calls
``predict_inference``); the row parsing is ``chipplan.io.read``, the engine ``chipplan.perf.inference``.

Each prediction carries ``output_tokens_per_s_per_gpu``, ``ttft_ms``, ``tpot_ms`` (null where the mode
does not define it: TTFT in offline throughput runs, TPOT when one token is generated) and
``memory_per_gpu_bytes``, each with an 80 % interval ``<name>_low``/``<name>_high`` from the family's
``uncertainty_log_sd`` (log-normal, as for training), plus ``batch``, ``mode``, ``layout``, ``precision``,
``kv_precision`` and ``filled`` (fields the engine chose).

Filling rules (shared/validation/README.md "Empty fields"): precision BF16; KV cache in 8 bits when the
weights are 8 bits or fewer and float (FP8/FP4; TensorRT-LLM and vLLM FP8 checkpoints ship FP8 KV
scales), otherwise 16 bits; ``inf_mode`` from what is given (batch 1 and one output token → latency,
a batch → static_batch, SLO limits → server_slo, else offline_max_throughput); ``tp`` the smallest size the
serving search tries (a divisor of the heads within the scale-up domain) whose weights fit (or
``num_accelerators / pp``); ``pp`` 1; ``ep`` 1. The layout rules are those of training
(``chipplan.perf.candidates``), with dp = cp = 1 inside a replica.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from chipplan.io.read import (
    Rows,
    hardware_columns,
    model_columns,
    numeric_columns,
    precision_column,
    text_column,
)
from chipplan.perf import efficiency
from chipplan.perf import inference as inf
from chipplan.perf.candidates import invalid_code
from chipplan.perf.columns import Columns
from chipplan.perf.efficiency import Z80
from chipplan.perf.inference import kv_precision_for
from chipplan.specs.layout import RULES
from chipplan.units import BYTES_PER_ELEMENT, GB

#: TP sizes the fill tries: the serving search's (divisors of the heads within the scale-up domain), up to the
#: largest domain in the catalog.
TP_CANDIDATES = np.arange(1.0, 73.0)


def _mode_codes(sub: pd.DataFrame, num: dict[str, np.ndarray], local: Any) -> tuple[np.ndarray, np.ndarray]:
    txt = text_column(sub, "inf_mode")
    n = len(sub)
    code = np.full(n, np.nan)
    filled = np.zeros(n, bool)
    for i, t in enumerate(txt):
        if t is None:
            filled[i] = True
            b, o = num["inf_batch_size"][i], num["inf_output_len"][i]
            if np.isfinite(num["inf_slo_ttft_p99_ms"][i]) or np.isfinite(num["inf_slo_tpot_p99_ms"][i]):
                code[i] = inf.MODES["server_slo"]
            elif b == 1 and o == 1:
                code[i] = inf.MODES["latency"]
            elif np.isfinite(b):
                code[i] = inf.MODES["static_batch"]
            else:
                code[i] = inf.MODES["offline_max_throughput"]
            continue
        key = str(t).strip().lower()
        if key not in inf.MODES:
            if local.error[i] is None:
                local.error[i] = f"inf_mode: must be one of {', '.join(inf.MODES)}, got {t!r}"
            continue
        code[i] = inf.MODES[key]
    return code, filled


def predict_inference(df: pd.DataFrame, rows: Any, idx: np.ndarray) -> list[dict[str, Any] | None]:
    """Predictions for the inference rows ``idx`` of ``df``; errors go to ``rows.error[i]``."""
    sub = df.iloc[idx].reset_index(drop=True)
    n = len(sub)
    local = Rows(n)
    local.error = [rows.error[i] for i in idx]
    num = numeric_columns(sub, local)
    prec = precision_column(sub, local)
    model = model_columns(sub, num, local)
    hw, fam = hardware_columns(sub, prec, local)
    I_, O = num["inf_input_len"], num["inf_output_len"]
    local.fail(~np.isfinite(O), "inf_output_len: required for an inference row (> 0), got nothing")
    mode, mode_filled = _mode_codes(sub, num, local)
    slo_ttft, slo_tpot = num["inf_slo_ttft_p99_ms"], num["inf_slo_tpot_p99_ms"]
    srv = mode == inf.MODES["server_slo"]
    local.fail(srv & ~np.isfinite(slo_ttft) & ~np.isfinite(slo_tpot),
               "inf_slo_ttft_p99_ms: server_slo needs inf_slo_ttft_p99_ms or inf_slo_tpot_p99_ms, got nothing")
    local.fail(srv & ((slo_ttft <= 0) | (slo_tpot <= 0)), "inf_slo_ttft_p99_ms: SLO limits must be > 0")
    w_bytes = np.array([BYTES_PER_ELEMENT[p] for p in prec])
    kv_prec = np.array([kv_precision_for(p) for p in prec], dtype=object)
    kv_bytes = np.array([BYTES_PER_ELEMENT[p] for p in kv_prec])

    results: list[dict[str, Any] | None] = [None] * n
    ok = np.array([e is None for e in local.error])
    if ok.any():
        sel = np.nonzero(ok)[0]
        m = Columns({k: np.asarray(v, dtype=float)[sel] for k, v in model.items()})
        # no sequence length given: only learned position embeddings would need it
        m["max_seq_len"] = np.where(np.isfinite(m.max_seq_len), m.max_seq_len, 0.0)
        h = Columns({k: np.asarray(v, dtype=float)[sel] for k, v in hw.items()})
        eff = efficiency.for_families(fam[sel])
        tp, pp, ep, dp, lay_filled = _layout(m, h, num, sel, w_bytes[sel], kv_bytes[sel], local)
        out = inf.serve(m, h, eff, mode=mode[sel], tp=tp, pp=pp, ep=ep, input_len=I_[sel], output_len=O[sel],
                        batch=num["inf_batch_size"][sel], num_requests=num["inf_num_requests"][sel] / dp,
                        slo_ttft_s=np.where(np.isfinite(slo_ttft[sel]), slo_ttft[sel] / 1e3, np.inf),
                        slo_tpot_s=np.where(np.isfinite(slo_tpot[sel]), slo_tpot[sel] / 1e3, np.inf),
                        w_bytes=w_bytes[sel], kv_bytes=kv_bytes[sel])
        names = {v: k for k, v in inf.MODES.items()}
        sds = efficiency.interval_log_sd(eff.uncertainty_log_sd, n_experts=m.n_experts, n_gpu=tp * pp * dp,
                                         precision=prec[sel], serving=True)
        for j, i in enumerate(sel):
            if local.error[i] is not None:
                continue
            if not out["fits"][j]:
                local.error[i] = (f"memory: does not fit: needs {out['shortfall_bytes'][j] / GB:.1f} GB more per "
                                  f"accelerator than the usable HBM (tp={tp[j]:g}, pp={pp[j]:g}, batch="
                                  f"{out['batch'][j]:g}, {I_[i]:g}+{O[i]:g} tokens per request)")
                continue
            if not out["slo_met"][j]:
                local.error[i] = (f"inf_slo_ttft_p99_ms: no batch meets p99 TTFT <= {slo_ttft[i]:g} ms and "
                                  f"TPOT <= {slo_tpot[i]:g} ms; best achievable TTFT "
                                  f"{out['best_ttft_s'][j] * 1e3:.1f} ms, TPOT {out['best_tpot_s'][j] * 1e3:.1f} ms")
                continue
            filled = list(lay_filled[j])
            if mode_filled[i]:
                filled.append("inf_mode")
            if not np.isfinite(num["inf_batch_size"][i]) or mode[i] == inf.MODES["server_slo"]:
                filled.append("batch")
            if "precision" not in sub.columns or pd.isna(sub["precision"].iloc[i]):
                filled.append("precision")
            filled.append("kv_precision")
            sd = float(sds[j])
            pred: dict[str, Any] = {}
            for name, key, scale in (("output_tokens_per_s_per_gpu", "output_tokens_per_s_per_gpu", 1.0),
                                     ("ttft_ms", "ttft_s", 1e3), ("tpot_ms", "tpot_s", 1e3),
                                     ("memory_per_gpu_bytes", "memory_per_gpu_bytes", 1.0)):
                v = float(out[key][j]) * scale
                v_ok = np.isfinite(v)
                pred[name] = v if v_ok else None
                pred[f"{name}_low"] = v * float(np.exp(-Z80 * sd)) if v_ok else None
                pred[f"{name}_high"] = v * float(np.exp(Z80 * sd)) if v_ok else None
            pred.update({
                "mode": names[int(mode[i])],
                "batch": float(out["batch"][j]),
                "max_batch_memory": float(out["max_batch_memory"][j]),
                "fits_in_memory": True,
                "precision": str(prec[i]),
                "kv_precision": str(kv_prec[i]),
                "layout": {"tp": int(tp[j]), "pp": int(pp[j]), "ep": int(ep[j]), "dp": int(dp[j])},
                "filled": filled,
            })
            results[i] = pred
    for k, i in enumerate(idx):
        rows.error[i] = local.error[k]
    return results


def _layout(m: Columns, h: Columns, num: dict[str, np.ndarray], sel: np.ndarray, w_bytes: np.ndarray,
            kv_bytes: np.ndarray, local: Any) -> tuple[np.ndarray, ...]:
    """tp, pp, ep, dp per selected row, filling what is missing; and the filled field names per row."""
    tp, pp, ep = (num[c][sel].copy() for c in ("tp", "pp", "ep"))
    n_acc = num["num_accelerators"][sel]
    filled: list[list[str]] = [[] for _ in sel]
    # smallest TP whose weights leave room for KV (at least one request of I+O tokens), among the sizes the
    # serving search tries: divisors of the heads within the scale-up domain (chipplan.perf.candidates)
    cand = TP_CANDIDATES[None, :]
    pp1 = np.where(np.isfinite(pp), pp, 1.0)[:, None]
    mc = Columns({k: v[:, None] for k, v in m.items()})
    seq = (num["inf_input_len"][sel] + num["inf_output_len"][sel])[:, None]
    mem = inf.memory(mc, Columns({k: v[:, None] for k, v in h.items()}), tp=cand, pp=pp1,
                     w_bytes=w_bytes[:, None], kv_bytes=kv_bytes[:, None], batch=1.0, seq_tokens=seq)
    allowed = (cand <= np.maximum(h.scale_up_domain[:, None], 1.0)) & (np.mod(m.n_heads[:, None], cand) == 0)
    fits = mem["fits"] & allowed
    largest = len(TP_CANDIDATES) - 1 - np.argmax(allowed[:, ::-1], axis=1)
    first = np.where(fits.any(axis=1), np.argmax(fits, axis=1), largest)
    tp_fit = TP_CANDIDATES[first]
    for j in range(len(sel)):
        if not np.isfinite(tp[j]):
            filled[j].append("tp")
            if np.isfinite(n_acc[j]):
                tp[j] = n_acc[j] / (pp[j] if np.isfinite(pp[j]) else 1.0)
                if not np.isfinite(pp[j]) and tp[j] > h.scale_up_domain[j]:
                    tp[j] = h.scale_up_domain[j]
            else:
                tp[j] = tp_fit[j]
        if not np.isfinite(pp[j]):
            filled[j].append("pp")
            pp[j] = max(np.floor(n_acc[j] / tp[j]), 1.0) if np.isfinite(n_acc[j]) and n_acc[j] > tp[j] and \
                tp[j] * 1.0 >= h.scale_up_domain[j] else 1.0
        if not np.isfinite(ep[j]):
            ep[j] = 1.0
            if m.n_experts[j] > 0:
                filled[j].append("ep")
    dp = np.where(np.isfinite(n_acc), np.maximum(np.floor(n_acc / (tp * pp)), 1.0), 1.0)
    for j, i in enumerate(sel):
        if np.isfinite(n_acc[j]) and tp[j] * pp[j] * dp[j] != n_acc[j] and local.error[i] is None:
            local.error[i] = (f"num_accelerators: must be a multiple of tp*pp={tp[j] * pp[j]:g}, "
                              f"got {n_acc[j]:g}")
        # Attention heads are split over the TP group: a tp that does not divide them is not a layout.
        if np.mod(m.n_heads[j], tp[j]) != 0 and local.error[i] is None:
            local.error[i] = f"tp: must divide num_heads={m.n_heads[j]:g}, got {tp[j]:g}"
    # The layout rules shared with training (chipplan.perf.candidates); inside one serving replica dp = cp = 1.
    one = np.ones(len(sel))
    code = invalid_code(m, Columns(tp=tp, pp=pp, dp=one, cp=one, ep=ep), n_gpu=tp * pp, domain=h.scale_up_domain,
                        serving=True)
    for j, i in enumerate(sel):
        if code[j] and local.error[i] is None:
            field = {2: "tp", 3: "pp"}.get(int(code[j]), "ep")
            local.error[i] = (f"{field}: {RULES[int(code[j])]} (tp={tp[j]:g}, pp={pp[j]:g}, ep={ep[j]:g}; dp = cp = 1 "
                              "inside a serving replica)")
    return tp, pp, ep, dp, filled
