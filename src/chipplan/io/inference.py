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

import contextlib
from typing import Any

import numpy as np
import pandas as pd

from chipplan import catalog
from chipplan.errors import UnknownIdError
from chipplan.io.read import (
    Rows,
    coded_column,
    hardware_columns,
    model_columns,
    numeric_columns,
    precision_column,
    text_column,
)
from chipplan.perf import efficiency, intervals, serving_engines
from chipplan.perf import inference as inf
from chipplan.perf.candidates import invalid_code, serving_tp_sizes
from chipplan.perf.columns import Columns
from chipplan.perf.efficiency import Z80
from chipplan.perf.hardware_cols import next_supported_precision
from chipplan.specs.layout import RULES
from chipplan.units import BYTES_PER_ELEMENT, GB


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


def _run_precision(sub: pd.DataFrame, prec: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Precision each row runs at, and a note where it differs from the one asked for.

    A format the accelerator lacks runs at the next one it has (fp4 → fp8 → bf16; int4 → int8 → bf16), as
    serving engines do (weights dequantised to a supported matmul format), instead of being refused."""
    hw_ids = text_column(sub, "hardware_id")
    run = prec.copy()
    notes: list[str | None] = [None] * len(prec)
    cache: dict[tuple[str, str], tuple[str, str | None]] = {}
    for i, (h, p) in enumerate(zip(hw_ids, prec, strict=True)):
        if h is None:
            continue
        key = (str(h), str(p))
        if key not in cache:
            cache[key] = (str(p), None)
            with contextlib.suppress(UnknownIdError):
                acc, _ = catalog.hardware(str(h))
                got = next_supported_precision(acc, str(p))
                if got != p:
                    cache[key] = (got, f"precision: {acc.id} has no {p} matrix peak; answered at {got} "
                                       f"(weights and matmuls), as the serving engines run it")
        run[i], notes[i] = cache[key]
    return run, notes


def predict_inference(df: pd.DataFrame, rows: Any, idx: np.ndarray) -> list[dict[str, Any] | None]:
    """Predictions for the inference rows ``idx`` of ``df``; errors go to ``rows.error[i]``."""
    sub = df.iloc[idx].reset_index(drop=True)
    n = len(sub)
    local = Rows(n)
    local.error = [rows.error[i] for i in idx]
    num = numeric_columns(sub, local)
    prec_asked = precision_column(sub, local)
    prec, prec_notes = _run_precision(sub, prec_asked)
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
    accept = num["inf_spec_accept"]
    local.fail(np.isfinite(accept) & (accept >= 1), "inf_spec_accept: must be below 1 (a share of draft tokens)")
    # The engine: inf_engine when given, else the one the free-text framework names (vLLM on AMD is ROCm vLLM).
    eng_txt, fw_txt = text_column(sub, "inf_engine"), text_column(sub, "framework")
    resolved = [serving_engines.resolve(e) if e is not None else serving_engines.detect(f, str(fa))
                for e, f, fa in zip(eng_txt, fw_txt, fam, strict=True)]
    on_amd = {"vllm": "vllm-rocm", "vllm-v0": "vllm-rocm-v0"}
    resolved = [(on_amd[r[0]], True) if r[0] in on_amd and str(fa).startswith("cdna") else r
                for r, fa in zip(resolved, fam, strict=True)]
    eng = np.array([r[0] for r in resolved], dtype=object)
    eng_known = np.array([r[1] for r in resolved])
    is_mla = np.asarray(model["is_mla"], dtype=float) > 0
    w_bytes = np.array([BYTES_PER_ELEMENT[p] for p in prec])
    kv_given = coded_column(sub, "inf_kv_dtype", local, {k: k for k in ("bf16", "fp16", "fp8")}, None)
    kv_prec = np.array([g if g is not None else serving_engines.kv_precision(e, bool(mla), p) for g, e, mla, p in
                        zip(kv_given, eng, is_mla, prec, strict=True)], dtype=object)
    kv_bytes = np.array([BYTES_PER_ELEMENT[p] for p in kv_prec])

    results: list[dict[str, Any] | None] = [None] * n
    ok = np.array([e is None for e in local.error])
    if ok.any():
        sel = np.nonzero(ok)[0]
        m = Columns({k: np.asarray(v, dtype=float)[sel] for k, v in model.items()})
        # no sequence length given: only learned position embeddings would need it
        m["max_seq_len"] = np.where(np.isfinite(m.max_seq_len), m.max_seq_len, 0.0)
        h = Columns({k: np.asarray(v, dtype=float)[sel] for k, v in hw.items()})
        eff = serving_engines.attach(efficiency.for_families(fam[sel]), eng[sel], fam[sel])
        tp, pp, ep, dp, dp_attn, lay_filled = _layout(m, h, eff, num, sel, w_bytes[sel], kv_bytes[sel], local)
        draft = np.nan_to_num(num["inf_spec_draft_len"][sel], nan=0.0)
        kw = dict(mode=mode[sel], input_len=I_[sel], output_len=O[sel],
                  slo_ttft_s=np.where(np.isfinite(slo_ttft[sel]), slo_ttft[sel] / 1e3, np.inf),
                  slo_tpot_s=np.where(np.isfinite(slo_tpot[sel]), slo_tpot[sel] / 1e3, np.inf),
                  w_bytes=w_bytes[sel], kv_bytes=kv_bytes[sel], draft_len=draft,
                  accept=np.where(draft > 0, np.nan_to_num(accept[sel], nan=0.0), 0.0))
        # Rows that state neither tp nor the accelerator count: the best layout among the candidates.
        open_tp = ~np.isfinite(num["tp"][sel]) & ~np.isfinite(num["num_accelerators"][sel]) & \
            ~np.isfinite(num["dp"][sel])
        if open_tp.any():
            tp, ep, dp_attn = _search_layout(m, h, eff, open_tp, tp, pp, ep, dp_attn, num, sel, kw)
        out = inf.serve(m, h, eff, tp=tp, pp=pp, ep=ep, dp_attn=dp_attn, batch=num["inf_batch_size"][sel] / dp,
                        num_requests=num["inf_num_requests"][sel] / dp, qps=num["inf_qps"][sel] / dp, **kw)
        names = {v: k for k, v in inf.MODES.items()}
        sds = efficiency.interval_log_sd(eff.uncertainty_log_sd, n_experts=m.n_experts, n_gpu=tp * pp * dp_attn * dp,
                                         precision=prec[sel], serving=True)
        widen = np.where(eng_known[sel], 0.0, eff.eng_unknown_log_sd)
        # Intervals from out-of-sample residuals (benchmarks/serving_intervals.py, leave one source group out):
        # the regime's 10th/90th percentiles of log(measured/predicted), widened by the stand-in profile's
        # unknown_log_sd when the engine is not named; the family's log-normal sd where no table is shipped.
        table = serving_engines.interval_table()
        q = {}
        if table:
            for metric in ("output_tokens_per_s_per_gpu", "ttft_ms", "tpot_ms"):
                reg = serving_engines.interval_regimes(metric=np.full(len(sel), metric, dtype=object),
                                                       engine=eng[sel], engine_known=eng_known[sel],
                                                       batch=out["batch"])
                q[metric] = intervals.lookup(table, reg)[:2]
        for j, i in enumerate(sel):
            if local.error[i] is not None:
                continue
            if not out["fits"][j]:
                local.error[i] = (f"memory: does not fit: needs {out['shortfall_bytes'][j] / GB:.1f} GB more per "
                                  f"accelerator than the usable HBM (tp={tp[j]:g}, pp={pp[j]:g}, ep={ep[j]:g}, "
                                  f"batch={out['batch'][j]:g}, {I_[i]:g}+{O[i]:g} tokens per request)")
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
            if kv_given[i] is None:
                filled.append("kv_precision")
            if not eng_known[i]:
                filled.append("inf_engine")
            sd = float(sds[j])
            pred: dict[str, Any] = {}
            for name, key, scale in (("output_tokens_per_s_per_gpu", "output_tokens_per_s_per_gpu", 1.0),
                                     ("ttft_ms", "ttft_s", 1e3), ("ttft_p50_ms", "ttft_p50_s", 1e3),
                                     ("tpot_ms", "tpot_s", 1e3),
                                     ("memory_per_gpu_bytes", "memory_per_gpu_bytes", 1.0)):
                v = float(out[key][j]) * scale
                v_ok = np.isfinite(v)
                pred[name] = v if v_ok else None
                qk = q.get("ttft_ms" if name == "ttft_p50_ms" else name)
                if qk is not None and np.isfinite(qk[0][j]):
                    lo, hi = qk[0][j] - Z80 * widen[j], qk[1][j] + Z80 * widen[j]
                else:
                    lo, hi = -Z80 * sd, Z80 * sd
                pred[f"{name}_low"] = v * float(np.exp(lo)) if v_ok else None
                pred[f"{name}_high"] = v * float(np.exp(hi)) if v_ok else None
            pred.update({
                "mode": names[int(mode[i])],
                "batch": float(out["batch"][j]),
                "max_batch_memory": float(out["max_batch_memory"][j]),
                "fits_in_memory": True,
                "precision": str(prec[i]),
                "kv_precision": str(kv_prec[i]),
                "engine": str(eng[i]),
                "layout": {"tp": int(tp[j]), "pp": int(pp[j]), "ep": int(ep[j]), "dp": int(dp[j]),
                           "attention_dp": int(dp_attn[j])},
                "filled": filled,
                "notes": [x for x in (prec_notes[i],) if x],
            })
            results[i] = pred
    for k, i in enumerate(idx):
        rows.error[i] = local.error[k]
    return results


def _search_layout(m: Columns, h: Columns, eff: Columns, open_tp: np.ndarray, tp: np.ndarray, pp: np.ndarray,
                   ep: np.ndarray, dp_attn: np.ndarray, num: dict[str, np.ndarray], sel: np.ndarray,
                   kw: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows that leave the layout open, the (tp, ep, attention-DP) with the most output tokens/s per
    accelerator that fits and meets the row's limits, among: tp one of the serving search's sizes (divisors of
    the heads within the scale-up domain, ``chipplan.perf.candidates.serving_tp_sizes``); for MoE models also
    ep = tp (experts over the TP group) and attention data parallelism over the same accelerators (tp 1 per
    group, ep = groups, one of those sizes that divides the experts). Evaluated at once (rows × candidates).
    """
    rows = np.nonzero(open_tp)[0]
    sizes, tried = serving_tp_sizes(m.n_heads[rows], h.scale_up_domain[rows])
    experts = m.n_experts[rows][:, None]
    groups = tried & (experts > 0) & (np.mod(experts, sizes[None, :]) == 0)  # as chipplan serve's (perf.serving)
    use_tp, use_groups = tried.any(axis=0), groups.any(axis=0)
    cands = []
    for t, a, b in zip(sizes.tolist(), use_tp, use_groups, strict=True):
        cands += [(t, 1.0, 1.0), (t, t, 1.0)] if a else []
        cands += [(1.0, t, t)] if b else []
    cands = list(dict.fromkeys(cands))
    K = len(cands)
    ct = np.array([c[0] for c in cands])
    ce = np.array([c[1] for c in cands])
    cd = np.array([c[2] for c in cands])
    r = np.repeat(rows, K)
    T, E, D = np.tile(ct, len(rows)), np.tile(ce, len(rows)), np.tile(cd, len(rows))
    moe = m.n_experts[r] > 0
    span = T * D
    ep_given = np.isfinite(num["ep"][sel][r])
    valid = (span <= np.maximum(h.scale_up_domain[r], 1.0)) & (np.mod(m.n_heads[r], T) == 0) \
        & np.where(moe, np.mod(m.n_experts[r], E) == 0, (E == 1) & (D == 1)) \
        & np.where(ep_given, num["ep"][sel][r] == E, True)
    take = lambda c: Columns({k: (v[r] if np.ndim(v) else v) for k, v in c.items()})  # noqa: E731
    kwr = {k: (np.asarray(v)[r] if np.ndim(v) else v) for k, v in kw.items()}
    out = inf.serve(take(m), take(h), take(eff), tp=T, pp=pp[r], ep=E, dp_attn=D,
                    batch=num["inf_batch_size"][sel][r], num_requests=num["inf_num_requests"][sel][r],
                    qps=num["inf_qps"][sel][r], **kwr)
    score = np.where(valid & out["fits"] & out["slo_met"], np.nan_to_num(out["output_tokens_per_s_per_gpu"],
                                                                          nan=-1.0), -np.inf)
    score = score.reshape(len(rows), K)
    best = np.argmax(score, axis=1)
    found = np.isfinite(score[np.arange(len(rows)), best])
    tp, ep, dp_attn = tp.copy(), ep.copy(), dp_attn.copy()
    tp[rows[found]], ep[rows[found]], dp_attn[rows[found]] = ct[best[found]], ce[best[found]], cd[best[found]]
    return tp, ep, dp_attn


def _layout(m: Columns, h: Columns, eff: Columns, num: dict[str, np.ndarray], sel: np.ndarray,
            w_bytes: np.ndarray, kv_bytes: np.ndarray, local: Any) -> tuple[np.ndarray, ...]:
    """tp, pp, ep, replicas, attention-DP groups per selected row, filling what is missing; and the filled
    field names per row.

    Layout rules (as for training, ``chipplan.perf.layout.RULES``): tp divides the attention heads; ep divides
    the experts and tp·dp. An ep larger than tp is attention data parallelism with wide expert parallelism
    (SGLang/DeepSeek style): ``ep/tp`` attention groups of tp accelerators share the experts, spread over all
    ep accelerators; the replica is then ``ep`` accelerators (× pp)."""
    tp, pp, ep = (num[c][sel].copy() for c in ("tp", "pp", "ep"))
    dp_given = num["dp"][sel]
    n_acc = num["num_accelerators"][sel]
    filled: list[list[str]] = [[] for _ in sel]
    # smallest TP whose weights leave room for KV (at least one request of I+O tokens), among the sizes the
    # serving search tries: divisors of the heads within the scale-up domain (chipplan.perf.candidates)
    sizes, allowed = serving_tp_sizes(m.n_heads, h.scale_up_domain)
    cand = sizes[None, :]
    pp1 = np.where(np.isfinite(pp), pp, 1.0)[:, None]
    ep1 = np.where(np.isfinite(ep), ep, 1.0)[:, None]
    mc = Columns({k: v[:, None] for k, v in m.items()})
    ec = Columns({k: v[:, None] for k, v in eff.items()})
    seq = (num["inf_input_len"][sel] + num["inf_output_len"][sel])[:, None]
    mem = inf.memory(mc, Columns({k: v[:, None] for k, v in h.items()}), tp=cand, pp=pp1, ep=ep1,
                     w_bytes=w_bytes[:, None], kv_bytes=kv_bytes[:, None], batch=1.0, seq_tokens=seq, eff=ec)
    fits = mem["fits"] & allowed
    largest = len(sizes) - 1 - np.argmax(allowed[:, ::-1], axis=1)
    first = np.where(fits.any(axis=1), np.argmax(fits, axis=1), largest)
    tp_fit = sizes[first]
    for j in range(len(sel)):
        wide = np.isfinite(ep[j]) and np.isfinite(tp[j]) and ep[j] > tp[j]
        if not np.isfinite(tp[j]):
            filled[j].append("tp")
            if np.isfinite(n_acc[j]):
                div = (pp[j] if np.isfinite(pp[j]) else 1.0) * (dp_given[j] if np.isfinite(dp_given[j]) else 1.0)
                tp[j] = n_acc[j] / div
                if not np.isfinite(pp[j]) and tp[j] > h.scale_up_domain[j]:
                    tp[j] = h.scale_up_domain[j]
            else:
                tp[j] = tp_fit[j]
        if not np.isfinite(pp[j]):
            filled[j].append("pp")
            pp[j] = max(np.floor(n_acc[j] / tp[j]), 1.0) if np.isfinite(n_acc[j]) and n_acc[j] > tp[j] and \
                tp[j] * 1.0 >= h.scale_up_domain[j] and not wide and not np.isfinite(dp_given[j]) else 1.0
        if not np.isfinite(ep[j]):
            ep[j] = 1.0
            if m.n_experts[j] > 0:
                filled[j].append("ep")
    dp_attn = np.where(ep > tp, ep / tp, 1.0)
    dp = np.where(np.isfinite(n_acc), np.maximum(np.floor(n_acc / (tp * pp * dp_attn)), 1.0), 1.0)
    for j, i in enumerate(sel):
        if local.error[i] is not None:
            continue
        if np.isfinite(n_acc[j]) and tp[j] * pp[j] * dp_attn[j] * dp[j] != n_acc[j]:
            local.error[i] = (f"num_accelerators: must be a multiple of tp*pp={tp[j] * pp[j] * dp_attn[j]:g}"
                              + (f" (ep={ep[j]:g} > tp: one replica spans ep*pp accelerators)" if ep[j] > tp[j]
                                 else "") + f", got {n_acc[j]:g}")
        # Attention heads are split over the TP group: a tp that does not divide them is not a layout.
        elif np.mod(m.n_heads[j], tp[j]) != 0:
            local.error[i] = f"tp: must divide num_heads={m.n_heads[j]:g}, got {tp[j]:g}"
    # The layout rules shared with training (chipplan.perf.candidates), for one replica: its dp is the number of
    # attention data-parallel groups (so "ep divides tp*dp*cp" admits wide EP), cp = 1.
    one = np.ones(len(sel))
    code = invalid_code(m, Columns(tp=tp, pp=pp, dp=dp_attn, cp=one, ep=ep), n_gpu=tp * pp * dp_attn,
                        domain=h.scale_up_domain, serving=True)
    # Wide EP may place redundant expert copies (DeepSeek's EPLB: 256 + 32 slots on 72 ranks), so rule 4 (ep
    # divides the experts) is not required of it; at most two slots per expert.
    eplb = (code == 4) & (ep > tp) & (ep <= 2 * m.n_experts)
    code = np.where(eplb, 0, code)
    for j, i in enumerate(sel):
        if code[j] and local.error[i] is None:
            field = {2: "tp", 3: "pp"}.get(int(code[j]), "ep")
            local.error[i] = (f"{field}: {RULES[int(code[j])]} (tp={tp[j]:g}, pp={pp[j]:g}, ep={ep[j]:g}, dp="
                              f"{dp_attn[j]:g} attention data-parallel groups inside a serving replica)")
    return tp, pp, ep, dp, dp_attn, filled
