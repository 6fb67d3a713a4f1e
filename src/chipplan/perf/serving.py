"""Serving plans: search precision, TP/PP/EP and batch for a model on an accelerator, vectorised.

All configurations are evaluated at once by ``chipplan.perf.inference.inflight_point`` (in-flight
batching, queueing model for p50/p99 TTFT), under one serving-engine profile (``--engine``).
Token counts: throughput and "output" cost count generated
(output) tokens only; the "input+output" cost counts prompt plus generated tokens.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chipplan import catalog
from chipplan.errors import FieldError, InfeasibleError
from chipplan.perf import efficiency, serving_engines, tuned
from chipplan.perf import inference as inf
from chipplan.perf.candidates import serving_layouts
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import hardware_row, next_supported_precision
from chipplan.units import BYTES_PER_ELEMENT, GB, PRECISIONS, SECONDS_PER_DAY

PRECISION_CHOICES = ("bf16", "fp8", "fp4")  # tried when none is given; any of units.PRECISIONS may be asked for
QUEUEING_MODEL = ("in-flight batching steady state per replica; prefill as an M/D/1 queue at the offered rate "
                  "(Pollaczek-Khinchine mean wait, exponential tail for p50/p99); TPOT includes the other "
                  "requests' chunked prefill (chipplan.perf.inference)")
DISAGG_MODEL = ("prefill/decode disaggregation: the deployment serves min(prefill pool, decode pool, KV transfer) "
                "requests/s; TTFT = one prefill pass + the KV transfer over the scale-out fabric + one decode step "
                "(no queueing term); accelerators counted over both pools (chipplan.perf.inference.disaggregated)")
TOKENS_COUNTED = ("throughput and load count output (generated) tokens; cost is given per million output "
                  "tokens and per million input+output tokens")


def batches() -> np.ndarray:
    """Batch sizes the search tries: the powers of two up to the scheduler cap without an engine profile
    (efficiency.yaml ``engine_constants.serving.max_batch_size``, 2048: 1, 2, 4 … 2048).

    >>> batches()[[0, 1, -1]].tolist()
    [1.0, 2.0, 2048.0]
    """
    return 2.0 ** np.arange(0, np.floor(np.log2(tuned.value("serving", "max_batch_size"))) + 1)


def plan(model_id: str, hardware_id: str, *, input_len: int, output_len: int, tp: list[int] | None = None,
         pp: list[int] | None = None, ep: list[int] | None = None, precisions: list[str] | None = None,
         slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None,
         qps: float | None = None, tokens_per_day: float | None = None,
         price_per_hour: float | None = None, engine: str | None = None, prefill_instances: int | None = None,
         decode_instances: int | None = None, prefill_tp: int | None = None, spec_draft_len: int | None = None,
         spec_accept: float | None = None) -> dict[str, Any]:
    """Evaluate every (precision, tp, pp, ep, attention-DP, batch) and return the frontier, the best plan and its
    cost.

    ``engine`` names a serving-engine profile (``chipplan.perf.serving_engines``; unknown → ``FieldError``, none →
    the era default). With ``qps`` each configuration serves the load with ``⌈qps / capacity⌉`` replicas and its
    TTFT is the M/D/1 prefill queue at the per-replica arrival rate (``inflight_point``), so a higher load raises
    TTFT until another replica is added; without it TTFT is taken at the rate the batch sustains.

    ``prefill_instances`` / ``decode_instances`` (either, the other defaulting to 1) plan a prefill/decode
    disaggregated deployment (``chipplan.perf.inference.disaggregated``): every searched configuration is a decode
    instance, the prefill instances run the same layout (or ``prefill_tp`` accelerators in tensor parallel), the KV
    cache crosses the scale-out fabric, and a "replica" is the whole group of instances. ``spec_draft_len`` and
    ``spec_accept`` model speculative decoding / multi-token prediction (``k`` draft tokens per step, each accepted
    with probability ``α``).
    """
    if input_len <= 0:
        raise FieldError("input_len", "must be > 0", input_len)
    if output_len <= 0:
        raise FieldError("output_len", "must be > 0", output_len)
    for name, v in (("slo_ttft_ms", slo_ttft_ms), ("slo_tpot_ms", slo_tpot_ms), ("qps", qps),
                    ("tokens_per_day", tokens_per_day), ("price_per_hour", price_per_hour)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise FieldError(name, "must be > 0", v)
    if qps is not None and tokens_per_day is not None:
        raise FieldError("qps", "give either --qps or --tokens-per-day, not both", qps)
    for name, v in (("prefill_instances", prefill_instances), ("decode_instances", decode_instances),
                    ("prefill_tp", prefill_tp)):
        if v is not None and not (isinstance(v, int | np.integer) and v >= 1):
            raise FieldError(name, "must be a whole number >= 1", v)
    disagg = prefill_instances is not None or decode_instances is not None
    if prefill_tp is not None and not disagg:
        raise FieldError("prefill_tp", "needs --prefill-instances or --decode-instances (a disaggregated plan)",
                         prefill_tp)
    if spec_draft_len is not None and not (isinstance(spec_draft_len, int | np.integer) and spec_draft_len >= 0):
        raise FieldError("spec_draft_len", "must be a whole number >= 0", spec_draft_len)
    if spec_accept is not None and not (math.isfinite(spec_accept) and 0 <= spec_accept < 1):
        raise FieldError("spec_accept", "must be in [0, 1) (the share of draft tokens accepted)", spec_accept)
    if spec_accept is not None and not spec_draft_len:
        raise FieldError("spec_accept", "needs --spec-draft-len > 0", spec_accept)
    spec = dict(draft_len=float(spec_draft_len or 0), accept=float(spec_accept or 0.0))
    eng_id, eng_known = serving_engines.resolve(engine, strict=True, field="engine")
    model = catalog.model(model_id)
    acc, system = catalog.hardware(hardware_id)
    domain = int(system.scale_up_domain if system is not None else acc.scale_up_domain)
    # Attention heads are split over the TP group, so tp must divide them (vLLM and TensorRT-LLM refuse
    # other sizes); the searched sizes stay within the scale-up domain (chipplan.perf.candidates).
    for t in tp or []:
        if t <= 0:
            raise FieldError("tp", "must be > 0", t)
        if model.n_heads % t:
            raise FieldError("tp", f"must divide the model's n_heads={model.n_heads}", t)
    layouts = serving_layouts(model.n_heads, model.n_layers, model.n_experts if model.is_moe else 0, domain,
                              tp=tp or None, pp=pp or None, ep=ep or None)
    tps = sorted({t for t, _, _ in layouts})
    precs = precisions or list(PRECISION_CHOICES)
    notes: list[str] = []
    hw_rows = []
    for p in precs:
        if p not in PRECISIONS:
            raise FieldError("precision", f"must be one of {', '.join(PRECISIONS)}", p)
        run = next_supported_precision(acc, p)
        if run != p:
            if not precisions or run in precs:
                continue  # searched by default, or asked for anyway: no stand-in needed
            notes.append(f"precision: {acc.id} has no {p} matrix peak; answered at {run} (weights and matmuls)")
        hw_rows.append((p, run, hardware_row(acc, run, system)))
    if not hw_rows:
        raise FieldError("precision", f"{acc.id} supports none of {', '.join(precs)}", ",".join(precs))
    mc = model.to_columns()
    moe = mc["n_experts"] > 0
    rows: list[dict[str, Any]] = []
    # (tp, pp, ep) of chipplan.perf.candidates, plus for MoE attention data parallelism over the same accelerators
    # with the experts spread over all of them (tp 1 per group, ep = groups; SGLang/DeepSeek style)
    lays = [(t, pp, e, 1) for t, pp, e in layouts]
    if moe:
        lays += [(1, 1, t, t) for t in tps if t > 1 and mc["n_experts"] % t == 0 and (not pp or 1 in pp)
                 and (not ep or t in ep)]
    tried_batches = batches()
    for p, run, hr in hw_rows:
        for lt, lp, le, ld in dict.fromkeys(lays):
            for b in tried_batches:
                rows.append({"precision": p, "run_precision": run, "tp": lt, "pp": lp, "ep": le, "dp_attn": ld,
                             "batch": b * ld, **hr})
    fam = np.array([r.pop("family") for r in rows], dtype=object)
    skip = ("precision", "run_precision")
    cols = Columns({k: [r[k] for r in rows] for k in rows[0] if k not in skip})
    prec = np.array([r["precision"] for r in rows], dtype=object)
    run_prec = np.array([r["run_precision"] for r in rows], dtype=object)
    n = len(rows)
    m = Columns({k: np.full(n, v) for k, v in mc.items()})
    eff = serving_engines.attach(efficiency.for_families(fam), np.full(n, eng_id, dtype=object), fam)
    is_mla = bool(mc["is_mla"] > 0)
    kv_name = {p: serving_engines.kv_precision(eng_id, is_mla, p) for p in set(run_prec)}
    w_b = np.array([BYTES_PER_ELEMENT[p] for p in run_prec])
    kv_b = np.array([BYTES_PER_ELEMENT[kv_name[p]] for p in run_prec])
    lay = dict(tp=cols.tp, pp=cols.pp, ep=cols.ep, dp_attn=cols.dp_attn)
    mem = inf.memory(m, cols, w_bytes=w_b, kv_bytes=kv_b, batch=cols.batch,
                     seq_tokens=float(input_len + output_len), eff=eff, **lay)
    if prefill_tp is not None and model.n_heads % prefill_tp:
        raise FieldError("prefill_tp", f"must divide the model's n_heads={model.n_heads}", prefill_tp)
    base = inf.inflight_point(m, cols, eff, batch=cols.batch, input_len=float(input_len),
                              output_len=float(output_len), w_bytes=w_b, kv_bytes=kv_b, **lay, **spec)
    pd = None
    if disagg:
        n_p, n_d = float(prefill_instances or 1), float(decode_instances or 1)
        p_lay = dict(prefill_tp=cols.tp, prefill_pp=cols.pp, prefill_ep=cols.ep, prefill_dp_attn=cols.dp_attn) \
            if prefill_tp is None else dict(prefill_tp=float(prefill_tp))
        pd = inf.disaggregated(m, cols, eff, n_prefill=n_p, n_decode=n_d, batch=cols.batch,
                               input_len=float(input_len), output_len=float(output_len), w_bytes=w_b, kv_bytes=kv_b,
                               **p_lay, **lay, **spec)
        # the whole group of instances is one "replica": its capacity is the pools' minimum
        base = dict(base, output_tokens_per_s=pd["output_tokens_per_s_per_gpu"] * pd["n_gpu"],
                    capacity_requests_per_s=pd["requests_per_s"], ttft_p99_s=pd["ttft_s"], ttft_p50_s=pd["ttft_s"],
                    tpot_s=pd["tpot_s"])
        if prefill_tp is not None:
            p_mem = inf.memory(m, cols, tp=float(prefill_tp), pp=1.0, ep=1.0, dp_attn=1.0, w_bytes=w_b,
                               kv_bytes=kv_b, batch=1.0, seq_tokens=float(input_len), eff=eff)
            if not p_mem["fits"].any():
                raise InfeasibleError(f"prefill_tp: {model_id} does not fit on {prefill_tp} x {acc.id} for prefill: "
                                      f"needs {float(np.min(p_mem['shortfall_bytes'])) / GB:.1f} GB more per "
                                      "accelerator")
    replicas_needed = None
    if qps is not None and pd is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            replicas_needed = np.maximum(np.ceil(qps / base["capacity_requests_per_s"]), 1.0)
        replicas_needed = np.where(np.isfinite(replicas_needed), replicas_needed, 1.0)
        pt = base
    elif qps is not None:
        # the load spread over as many replicas as the configuration needs: TTFT at the per-replica rate
        with np.errstate(divide="ignore", invalid="ignore"):
            replicas_needed = np.maximum(np.ceil(qps / base["capacity_requests_per_s"]), 1.0)
        replicas_needed = np.where(np.isfinite(replicas_needed), replicas_needed, 1.0)
        pt = inf.inflight_point(m, cols, eff, batch=cols.batch, input_len=float(input_len),
                                output_len=float(output_len), w_bytes=w_b, kv_bytes=kv_b,
                                qps=qps / replicas_needed, **lay, **spec)
    else:
        pt = base
    fits = mem["fits"].astype(bool) & (cols.batch <= mem["max_batch"] + 0.5) & \
        (cols.batch <= serving_engines.profiles()[eng_id].max_num_seqs * cols.dp_attn)
    if not fits.any():
        short = float(np.min(mem["shortfall_bytes"]))
        raise InfeasibleError(f"model: {model_id} does not fit on {acc.id} with tp up to {max(tps)}: needs "
                              f"{short / GB:.1f} GB more per accelerator than the usable HBM even at batch 1")
    n_gpu = cols.tp * cols.pp * cols.dp_attn if pd is None else pd["n_gpu"]
    thr = base["output_tokens_per_s"] / n_gpu
    ttft, ttft50, tpot = pt["ttft_p99_s"], pt["ttft_p50_s"], pt["tpot_s"]
    ok = fits & np.isfinite(ttft)
    slo_ok = ok.copy()
    if slo_ttft_ms is not None:
        slo_ok &= ttft * 1e3 <= slo_ttft_ms
    if slo_tpot_ms is not None:
        slo_ok &= tpot * 1e3 <= slo_tpot_ms
    if not slo_ok.any():
        raise InfeasibleError(
            f"slo: no configuration meets {_limits(slo_ttft_ms, slo_tpot_ms)}; best "
            f"achievable TTFT {float(np.min(np.where(ok, ttft, np.inf))) * 1e3:.1f} ms, TPOT "
            f"{float(np.min(np.where(ok, tpot, np.inf))) * 1e3:.2f} ms")

    def record(i: int) -> dict[str, Any]:
        r = {"precision": str(prec[i]), "run_precision": str(run_prec[i]), "kv_precision": kv_name[run_prec[i]],
             "tp": int(cols.tp[i]), "pp": int(cols.pp[i]), "ep": int(cols.ep[i]),
             "attention_dp": int(cols.dp_attn[i]), "batch": int(cols.batch[i]),
             "accelerators_per_replica": int(n_gpu[i]), "output_tokens_per_s_per_gpu": float(thr[i]),
             "ttft_p99_ms": float(ttft[i] * 1e3), "ttft_p50_ms": float(ttft50[i] * 1e3),
             "tpot_ms": float(tpot[i] * 1e3), "memory_per_gpu_gb": float(mem["total_bytes"][i] / GB)}
        if pd is not None:
            g_d = int(cols.tp[i] * cols.pp[i] * cols.dp_attn[i])
            r.update({"prefill_instances": int(prefill_instances or 1), "decode_instances": int(decode_instances or 1),
                      "prefill_accelerators_per_instance": int(prefill_tp or g_d),
                      "decode_accelerators_per_instance": g_d,
                      "kv_transfer_mb_per_request": float(pd["kv_transfer_bytes"][i] / 1e6),
                      "kv_transfer_ms": float(pd["kv_transfer_s"][i] * 1e3),
                      "bottleneck": ("prefill", "decode", "kv_transfer")[int(pd["bottleneck"][i])]})
        if price_per_hour is not None:
            per_tok = price_per_hour / 3600.0 / thr[i]
            r["usd_per_million_output_tokens"] = float(per_tok * 1e6)
            r["usd_per_million_input_output_tokens"] = float(per_tok * 1e6 * output_len / (input_len + output_len))
        return r

    # frontier: configurations no other beats on both throughput per accelerator and TPOT
    idx = np.nonzero(ok)[0]
    order = idx[np.lexsort((-thr[idx], tpot[idx]))]
    frontier, best_thr = [], -1.0
    for i in order:
        if thr[i] > best_thr * 1.0001:
            frontier.append(int(i))
            best_thr = thr[i]
    cand = np.nonzero(slo_ok)[0]
    best = int(cand[np.argmax(thr[cand])])
    out: dict[str, Any] = {"model": model_id, "hardware": acc.id, "engine": eng_id, "engine_known": eng_known,
                           "input_len": input_len, "output_len": output_len, "slo_ttft_ms": slo_ttft_ms,
                           "slo_tpot_ms": slo_tpot_ms, "qps": qps,
                           "tokens_counted": TOKENS_COUNTED, "configurations_evaluated": n,
                           "frontier": [record(i) for i in frontier], "best": record(best),
                           "queueing_model": QUEUEING_MODEL if pd is None else DISAGG_MODEL, "notes": notes}
    if disagg:
        out["disaggregation"] = {"prefill_instances": int(prefill_instances or 1),
                                 "decode_instances": int(decode_instances or 1), "prefill_tp": prefill_tp}
    if spec_draft_len:
        out["speculative_decoding"] = {"draft_len": int(spec_draft_len), "accept": float(spec_accept or 0.0)}
    need = None
    if qps is not None:
        need = qps * output_len
    elif tokens_per_day is not None:
        need = tokens_per_day / SECONDS_PER_DAY
    if need is not None:
        per_replica = thr[best] * n_gpu[best]
        replicas = math.ceil(need / per_replica) if replicas_needed is None else int(replicas_needed[best])
        out["load_output_tokens_per_s"] = need
        out["replicas"] = replicas
        out["accelerators_needed"] = int(replicas * n_gpu[best])
        if price_per_hour is not None:
            out["usd_per_day"] = out["accelerators_needed"] * price_per_hour * 24
    return out


def _limits(ttft: float | None, tpot: float | None) -> str:
    parts = ([f"p99 TTFT <= {ttft:g} ms"] if ttft is not None else []) + (
        [f"p99 TPOT <= {tpot:g} ms"] if tpot is not None else [])
    return " and ".join(parts)


def tokens_per_s_per_accelerator(model: Any, hardware: Any, *, input_len: int = 2048, output_len: int = 512,
                                 slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None,
                                 **_: Any) -> float:
    """Output tokens/s per accelerator of the best serving plan (the cost and strategy layers call this).

    ``model`` and ``hardware`` are catalog ids or specs; the default request shape is 2,048 prompt and 512
    generated tokens, with no latency limit unless one is given.
    """
    mid = model if isinstance(model, str) else model.name
    hid = hardware if isinstance(hardware, str) else hardware.id
    best = plan(mid, hid, input_len=input_len, output_len=output_len, slo_ttft_ms=slo_ttft_ms,
                slo_tpot_ms=slo_tpot_ms)["best"]
    return float(best["output_tokens_per_s_per_gpu"])
