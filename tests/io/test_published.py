"""Training inputs as published (issue 11, items 3, 4, 6, 7): batch ramps, token batches, stated defaults, long
context, recipe memory, run averages and the --framework flag. Every default is asserted with its ``filled_with``
note; run averages are checked against a hand computation from independent step predictions."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from chipplan import catalog
from chipplan.cli import app
from chipplan.io import predict_frame
from chipplan.io.published import parse_amount, parse_batch, whole_sequences
from chipplan.perf.plan import goodput
from chipplan.perf.run import ramp_factor, ramp_points, reliability, restart_time_s

BASE = dict(hardware_id="h100-sxm-80gb", model_name="llama-3.1-8b", seq_len=8192, num_accelerators=64, tp=1, pp=1,
            dp=64, micro_batch_size=1, precision="bf16")


def cli(*args: str):
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r


def predict(*rows: dict) -> list[dict]:
    df = pd.DataFrame([{**BASE, "row_id": str(i), **r} for i, r in enumerate(rows)])
    return predict_frame(df)["rows"]


def pred(**row) -> dict:
    (r,) = predict(row)
    assert r["status"] == "ok", r["reason"]
    return r["prediction"]


# --- parsing --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "dec", "binary"), [
    ("4M", 4e6, 4 * 2**20), ("16M tokens", 16e6, 16 * 2**20), ("1,536", 1536.0, math.nan), ("4Mi", 4 * 2**20, math.nan),
    ("2.5B", 2.5e9, 2.5 * 2**30), ("1e6", 1e6, math.nan),
])
def test_amounts_with_suffixes(text, dec, binary):
    d, b = parse_amount(text)
    assert d == pytest.approx(dec) and (b == pytest.approx(binary) if not math.isnan(binary) else math.isnan(b))


@pytest.mark.parametrize(("text", "values", "ramp"), [
    ("512->1024->2048", (512, 1024, 2048), math.nan),
    ("3072->15360 (ramp over first 469B tokens)", (3072, 15360), 469e9),
    ("4M → 8M => 16M", (4e6, 8e6, 16e6), math.nan),
    ("32 -> 1536 (linear ramp over 10M samples)", (32, 1536), math.nan),
])
def test_batch_ramps(text, values, ramp):
    b = parse_batch(text)
    assert b.values == pytest.approx(values) and b.final == values[-1]
    assert (b.ramp_tokens == pytest.approx(ramp)) if not math.isnan(ramp) else math.isnan(b.ramp_tokens)
    if "samples" in text:
        assert b.ramp_samples == pytest.approx(10e6)


@pytest.mark.parametrize("text", ["lots", "512->", "->", "512 -> big", "(ramp over 4B tokens)"])
def test_unreadable_batches_are_none(text):
    assert parse_batch(text) is None


def test_whole_sequences_by_hand():
    assert whole_sequences(4 * 2**20, math.nan, 8192) == (512.0, None)
    n, note = whole_sequences(4e6, 4 * 2**20, 8192)  # "4M" at 8,192: the binary reading is whole
    assert n == 512 and "binary" in note
    n, note = whole_sequences(4e6, math.nan, 8192)  # 488.28 sequences
    assert n == 488 and "488.28" in note
    assert whole_sequences(4e6, math.nan, 8192, 64)[0] == 512  # a multiple of dp × micro-batch


# --- the table ------------------------------------------------------------------------------------------------
def test_a_ramp_predicts_its_final_batch_for_step_throughput():
    ramp = pred(global_batch_seqs="512->1024->2048")
    final = pred(global_batch_seqs=2048)
    assert ramp["tokens_per_s_per_gpu"] == pytest.approx(final["tokens_per_s_per_gpu"], rel=1e-12)
    assert ramp["filled_with"]["global_batch_seqs"].startswith("2048 (the last value of the ramp 512->1024->2048")
    assert ramp["throughput_basis"] == "step"


def test_a_token_ramp_with_its_length_is_read_in_sequences():
    p = pred(global_batch_tokens="4M->8M->16M (ramp over first 469B tokens)", seq_len=8192)
    assert "16000000" in p["filled_with"]["global_batch_tokens"] or "1.6e+07" in p["filled_with"]["global_batch_tokens"]


@pytest.mark.parametrize(("tokens", "seqs", "word"), [("4M", 512, "binary"), (4_000_000, 512, "rounded"),
                                                (4 * 2**20, 512, None)])
def test_token_batches_become_whole_sequences_with_a_note(tokens, seqs, word):
    p = pred(global_batch_tokens=tokens)
    ref = pred(global_batch_seqs=seqs)
    assert p["tokens_per_s_per_gpu"] == pytest.approx(ref["tokens_per_s_per_gpu"], rel=1e-12)
    note = p.get("filled_with", {}).get("global_batch_seqs")
    assert (word in note) if word else note is None


def test_a_contradictory_token_batch_is_still_an_error():
    (r,) = predict({"global_batch_seqs": 128, "global_batch_tokens": 300000, "seq_len": 2048})
    assert r["status"] == "error" and r["reason"].startswith("global_batch_tokens: must equal global_batch_seqs")


def test_an_unreadable_batch_names_its_column():
    (r,) = predict({"global_batch_seqs": "about a thousand"})
    assert r["status"] == "error" and r["reason"].startswith("global_batch_seqs: must be a number, an amount")


def test_no_global_batch_comes_from_dp_micro_batch_and_accumulation():
    p = pred(micro_batch_size=2, grad_accum_steps=4)
    assert p["filled_with"]["global_batch_seqs"] == "512 (not stated: dp 64 × micro-batch 2 × 4 accumulation steps)"
    assert "global_batch_seqs" in p["filled"]
    assert p["tokens_per_s_per_gpu"] == pytest.approx(pred(micro_batch_size=2, global_batch_seqs=512)
                                                      ["tokens_per_s_per_gpu"], rel=1e-12)


def test_no_global_batch_at_all_is_the_stated_default():
    p = pred()  # 8B parameters: 4·2²⁰ tokens = 512 sequences of 8,192
    assert p["filled_with"]["global_batch_seqs"].startswith("512 (not stated: chipplan's default of 4·2²⁰ tokens")
    big = pred(model_name="llama-3.1-405b", num_accelerators=1024, tp=8, pp=8, dp=16)  # 16·2²⁰ from 100B
    assert big["filled_with"]["global_batch_seqs"].startswith("2048 (not stated: chipplan's default of 16·2²⁰")


def test_no_accelerator_count_is_one_node_or_the_nodes_the_training_state_needs():
    p = pred(num_accelerators=None, tp=None, pp=None, dp=None, global_batch_seqs=64)
    assert p["filled_with"]["num_accelerators"] == "8 (not stated: one node of the hardware)"
    assert "num_accelerators" in p["filled"]
    q = pred(num_accelerators=None, dp=None, tp=4, pp=4, global_batch_seqs=64)
    assert q["filled_with"]["num_accelerators"].startswith("16 (not stated: one node of the hardware, raised to a "
                                                           "multiple of 16")
    # Llama 3.1 70B: 70.6e9 parameters × 16 bytes = 1.13 TB of training state; half of an 8 × 80 GB node holds
    # 320 GB, so 4 nodes (32 H100) are the fewest that hold it.
    big = pred(num_accelerators=None, dp=None, tp=None, pp=None, global_batch_seqs=64, model_name="llama-3.1-70b")
    assert big["filled_with"]["num_accelerators"].startswith("32 (not stated: 4 nodes, the fewest whose memory")
    # DeepSeek-V2 with pp 16 and ep 8 stated: dp must be a multiple of 8 for ep to divide tp·dp·cp, so 128.
    v2 = pred(num_accelerators=None, dp=None, tp=1, pp=16, ep=8, cp=1, global_batch_seqs=2304,
              model_name="deepseek-v2", seq_len=4096, hardware_id="h800-sxm-80gb")
    assert v2["filled_with"]["num_accelerators"].startswith("128 ")
    nodes = pred(num_accelerators=None, dp=None, num_nodes="4", accels_per_node=8, global_batch_seqs=64)
    assert nodes["filled_with"]["num_accelerators"] == "32 (num_nodes × accels_per_node)"


def test_no_precision_is_the_usual_one_and_the_interval_reaches_fp8():
    p = pred(precision=None, global_batch_seqs=512)
    assert p["precision"] == "bf16" and "precision" in p["filled"]
    assert p["filled_with"]["precision"].startswith("bf16 (not stated: the hardware's usual training precision; fp8")
    fp8 = pred(precision="fp8", global_batch_seqs=512)
    assert p["tokens_per_s_per_gpu"] == pytest.approx(pred(global_batch_seqs=512)["tokens_per_s_per_gpu"], rel=1e-12)
    assert p["tokens_per_s_per_gpu_fp8"] == pytest.approx(fp8["tokens_per_s_per_gpu"], rel=1e-12)
    assert p["tokens_per_s_per_gpu_high"] >= fp8["tokens_per_s_per_gpu"] > p["tokens_per_s_per_gpu"]
    v100 = pred(precision=None, hardware_id="v100-sxm-32gb", model_name="gpt3-1.3b", seq_len=2048,
                global_batch_seqs=512)
    assert v100["precision"] == "fp16" and "tokens_per_s_per_gpu_fp8" not in v100


def test_long_context_beyond_the_domain_is_a_cost_not_a_refusal():
    row = dict(seq_len=131072, global_batch_seqs=16, num_accelerators=128, tp=8, dp=1, cp=16)
    p = pred(**row)
    assert any(w.startswith("layout: tp·cp = 128 is more than twice the scale-up domain") for w in p["warnings"])
    # Within the domain the same context split is faster: the K/V exchange stays on NVLink.
    near = pred(**{**row, "num_accelerators": 16, "tp": 8, "cp": 2, "global_batch_seqs": 2})
    assert near["tokens_per_s_per_gpu"] > p["tokens_per_s_per_gpu"]


def test_a_stated_layout_a_few_gib_short_is_kept_with_a_warning():
    # Llama 3.1 8B on 8 H100 at 4,096 tokens without recompute: 4.1 GB over the usable 80 GiB in the model.
    row = dict(num_accelerators=8, dp=8, micro_batch_size=1, seq_len=4096, global_batch_seqs=256, zero_stage=1,
               vpp=1, cp=1)
    stated = pred(**row, activation_recompute="none")
    assert not stated["fits_in_memory"] and 0 < stated["memory_shortfall_gb"] < 0.05 * 80 * 2**30 / 1e9
    assert stated["warnings"][0].startswith("memory: the memory model finds this layout 4.1 GB short")
    assert stated["layout"]["recompute"] == "none"
    open_ = pred(**row)  # recompute left to the search: not swapped for the slower full recompute that fits
    assert open_["layout"]["recompute"] == "none"
    assert open_["tokens_per_s_per_gpu"] == pytest.approx(stated["tokens_per_s_per_gpu"], rel=1e-12)
    full = pred(**row, activation_recompute="full")
    assert full["fits_in_memory"] and full["tokens_per_s_per_gpu"] < open_["tokens_per_s_per_gpu"]


def test_layout_spread_widens_only_the_low_side():
    full = pred(global_batch_seqs=512, cp=1, vpp=1, zero_stage=1, activation_recompute="none")
    open_ = pred(global_batch_seqs=512, tp=None, pp=None, dp=None, micro_batch_size=None)
    assert "layout_spread" not in full and open_["layout_spread"] > 0
    assert open_["tokens_per_s_per_gpu_low"] / open_["tokens_per_s_per_gpu"] < 1
    assert open_["tokens_per_s_per_gpu_high"] > open_["tokens_per_s_per_gpu"]


# --- run averages -------------------------------------------------------------------------------------------
def test_restart_time_and_goodput_by_hand():
    params = 405e9
    r = float(restart_time_s(params))
    assert r == pytest.approx(600 + params * 14 / 2e12)
    lam = 419 / (54 * 24 * 16384)
    m_s = 3600 / (16384 * lam)
    delta = params * 14 / 2e12
    tau = math.sqrt(2 * delta * m_s)
    g = goodput(16384, params, failures_per_accelerator_hour=lam)
    assert float(g["goodput"]) == pytest.approx(1 - delta / tau - (tau / 2 + r) / m_s)
    # Llama 3 (Meta 2024, section 3.3.4): "higher than 90 % effective training time" over that snapshot.
    assert reliability("effective_training_time_reference") < float(g["goodput"]) < 0.95


def test_a_run_row_is_the_step_prediction_times_goodput_and_ramp_by_hand():
    # 70B on 1,024 H100 with 4 pipeline stages: a smaller batch runs fewer micro-batches, so a larger bubble.
    layout = dict(model_name="llama-3.1-70b", seq_len=4096, num_accelerators=1024, tp=8, pp=4, dp=32, cp=1,
                  micro_batch_size=1, vpp=1, zero_stage=1, activation_recompute="selective")
    ramp = "3072->15360 (ramp over first 469B tokens)"
    run = pred(**layout, global_batch_seqs=ramp, throughput_basis="run", training_tokens_total="2T")
    step = pred(**layout, global_batch_seqs=15360)
    points = ramp_points((3072.0, 15360.0))
    stages = [pred(**layout, global_batch_seqs=float(b)) for b in points]

    def step_s(p, b):  # step time from a prediction: tokens per step / (tokens/s per GPU × GPUs)
        return b * 4096 / (p["tokens_per_s_per_gpu"] * 1024)

    f = 469e9 / 2e12
    rel = np.mean([step_s(p, b) / b for p, b in zip(stages, points, strict=True)]) / (step_s(step, 15360) / 15360)
    ramp_by_hand = 1 / (1 - f + f * rel)
    gp = float(goodput(1024, 70.55e9)["goodput"])
    assert run["throughput_basis"] == "run"
    assert run["step_tokens_per_s_per_gpu"] == pytest.approx(step["tokens_per_s_per_gpu"], rel=1e-12)
    assert run["ramp_factor"] == pytest.approx(ramp_by_hand, rel=1e-9) and run["ramp_factor"] < 1
    assert run["goodput"] == pytest.approx(gp, rel=1e-3)
    assert run["tokens_per_s_per_gpu"] == pytest.approx(step["tokens_per_s_per_gpu"] * run["goodput"] * ramp_by_hand,
                                                        rel=1e-9)
    lo_ratio = run["tokens_per_s_per_gpu_low"] / run["tokens_per_s_per_gpu"]
    assert lo_ratio == pytest.approx(step["tokens_per_s_per_gpu_low"] / step["tokens_per_s_per_gpu"], rel=1e-9)


def test_ramp_factor_by_hand():
    # Half the run at a batch that runs at 2/3 of the steady speed: 1 / (0.5 + 0.5 · 1.5).
    assert ramp_factor(1.0, [[1.5]], 2.0, [[2.0]], 0.5)[0] == pytest.approx(1 / 1.25)
    # Two points, 0.75 and 0.5 s per sequence against 0.5 steady: 1 / (0.5 + 0.5 · 1.25).
    assert ramp_factor(1.0, [[0.75, 1.0]], 2.0, [[1.0, 2.0]], 0.5)[0] == pytest.approx(1 / 1.125)
    assert ramp_factor(1.0, [[0.5]], 2.0, [[1.0]], 0.3)[0] == pytest.approx(1.0)  # same speed: no change


# --- --framework ----------------------------------------------------------------------------------------------
def test_predict_framework_flag_overrides_the_column(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame([{**BASE, "row_id": "a", "global_batch_seqs": 512, "framework": "NeMo 24.07"}]).to_csv(path,
                                                                                                        index=False)
    plain = json.loads(cli("predict", str(path), "--json").stdout)["rows"][0]["prediction"]
    ds = json.loads(cli("predict", str(path), "--json", "--framework", "deepspeed").stdout)["rows"][0]["prediction"]
    odd = json.loads(cli("predict", str(path), "--json", "--framework", "homegrown-2019").stdout)
    odd = odd["rows"][0]["prediction"]
    assert plain["stack"] == "megatron-core-2024" and ds["stack"] == "deepspeed"
    assert ds["tokens_per_s_per_gpu"] <= plain["tokens_per_s_per_gpu"]  # fewer capabilities, never faster
    assert odd["stack"].endswith("(era default: stack not recognised)")
    assert odd["tokens_per_s_per_gpu_low"] / odd["tokens_per_s_per_gpu"] < \
        plain["tokens_per_s_per_gpu_low"] / plain["tokens_per_s_per_gpu"]


def test_train_framework_flag():
    args = ("train", "--model", "llama-3.1-70b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12", "--gpus", "512",
            "--seq-len", "2048", "--json")
    neutral = json.loads(cli(*args).stdout)
    runs = {fw: json.loads(cli(*args, "--framework", fw).stdout) for fw in ("megatron-lm-2021", "deepspeed",
                                                                            "megatron-core-2024", "not-a-stack")}
    for fw, r in runs.items():  # a stack with every capability is never slower than a real one
        assert r["tokens_per_s_per_accelerator"] <= neutral["tokens_per_s_per_accelerator"] * (1 + 1e-12), fw
    assert runs["megatron-lm-2021"]["layout"]["recompute"] != "selective"
    odd = runs["not-a-stack"]
    assert odd["stack"] == "megatron-core-2024" and not odd["stack_known"]
    assert odd["notes"][0].startswith("framework: 'not-a-stack' is not a stack profile chipplan recognises")
    assert odd["tokens_per_s_per_accelerator_low"] / odd["tokens_per_s_per_accelerator"] < \
        runs["megatron-core-2024"]["tokens_per_s_per_accelerator_low"] / \
        runs["megatron-core-2024"]["tokens_per_s_per_accelerator"]
    assert neutral["restart_s"] == pytest.approx(600 + 70.55e9 * 14 / 2e12, rel=1e-3)


def test_a_batch_the_data_parallel_ranks_do_not_divide_is_rounded_with_a_note():
    """OPT-175B: 992 A100 at tp 8 are 124 data-parallel ranks; its 2M-token batch (1,024 sequences of 2,048 read
    in binary units) is 8.26 sequences a rank, so the run took the nearest whole multiple, 992 sequences."""
    opt = dict(hardware_id="a100-sxm-80gb", model_name="gpt3-175b", seq_len=2048, num_accelerators=992, tp=8, pp=1,
               dp=None, micro_batch_size=None)
    p = pred(**opt, global_batch_tokens="2M")
    assert p["filled_with"]["global_batch_seqs"].startswith("992 sequences (2,097,152 tokens is 1024.00 sequences")
    q = pred(**opt, global_batch_seqs=1024)
    assert q["filled_with"]["global_batch_seqs"].startswith("992 sequences (1024 rounded to a multiple of dp = 124")
    assert q["tokens_per_s_per_gpu"] == pytest.approx(pred(**opt, global_batch_seqs=992)["tokens_per_s_per_gpu"],
                                                      rel=1e-12)


def test_old_stacks_fill_recompute_with_their_recipes_full_recompute():
    """Megatron-DeepSpeed and GPT-NeoX recipes checkpoint every layer: an empty recompute is filled with full, with
    a note, and the step equals the one stated with full recompute; a 2024 stack searches (none fits here)."""
    row = dict(hardware_id="a100-sxm-80gb", model_name="gpt3-13b", seq_len=2048, num_accelerators=64, tp=2, pp=1,
               dp=32, global_batch_seqs=512)
    for fw in ("Megatron-DeepSpeed", "GPT-NeoX"):
        p = pred(**row, framework=fw, source_year=2022)
        assert p["layout"]["recompute"] == "full" and "recompute" in p["filled"]
        assert p["filled_with"]["recompute"].startswith("full (the stack's recipes")
        stated = pred(**row, framework=fw, source_year=2022, activation_recompute="full")
        assert p["tokens_per_s_per_gpu"] == pytest.approx(stated["tokens_per_s_per_gpu"], rel=1e-12)
    assert pred(**row, framework="NeMo 24.09", source_year=2024)["layout"]["recompute"] == "none"


def test_pre_flashattention_and_meta_stacks():
    """DeepSpeed before 2023 ran Megatron's softmax on materialised scores, so the same stated step is slower than
    with the 2023 flash kernel; metaseq (OPT) fills full recompute and keeps 8 bytes of optimizer state per
    parameter (FP32 Adam moments, no FP32 master copy), so its memory is lower than a 12-byte stack's; the LLaMA
    code fills selective recompute."""
    row = dict(hardware_id="a100-sxm-80gb", model_name="gpt3-13b", seq_len=2048, num_accelerators=64, tp=2, pp=1,
               dp=32, global_batch_seqs=512, micro_batch_size=1, activation_recompute="full", zero_stage=1)
    old = pred(**row, framework="Megatron-DeepSpeed", source_year=2022)
    new = pred(**row, framework="Megatron-DeepSpeed", source_year=2023)
    assert (old["stack"], new["stack"]) == ("deepspeed-2021", "deepspeed")
    assert old["tokens_per_s_per_gpu"] < new["tokens_per_s_per_gpu"]
    open_row = {k: v for k, v in row.items() if k != "activation_recompute"}
    opt = pred(**open_row, framework="Metaseq (FSDP + Megatron tensor parallelism)", source_year=2022)
    assert opt["stack"] == "metaseq" and opt["layout"]["recompute"] == "full"
    ds = pred(**open_row, framework="Megatron-DeepSpeed", source_year=2022)
    # Same layout and recompute: the memory differs by the gradient buffer, fp16 against fp32 (2 bytes per
    # parameter on each tp rank: 12.85e9 / 2 · 2 B = 12.85 GB), and the ZeRO-1 optimizer state, 8 against 12 bytes
    # over dp 32 (12.85e9 / 2 / 32 · 4 B = 0.80 GB): 13.65 GB per accelerator.
    n = catalog.model("gpt3-13b").published_params
    gap = ds["memory_per_gpu_bytes"] - opt["memory_per_gpu_bytes"]
    assert gap == pytest.approx(n / 2 * 2 + n / 64 * 4, rel=0.02)
    llama = pred(**{k: v for k, v in open_row.items() if k != "zero_stage"},
                 framework="Meta LLaMA training code (xformers)", source_year=2023)
    assert llama["stack"] == "meta-llama-2023" and llama["layout"]["recompute"] == "selective"
