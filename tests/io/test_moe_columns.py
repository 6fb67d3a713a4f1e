"""The MoE dispatch columns of the table: moe_capacity_factor and moe_dispatch reach the engine."""

import pandas as pd

from chipplan.io import predict_frame


def test_capacity_and_einsum_dispatch_are_read_and_cost():
    base = dict(row_id="g", hardware_id="tpu-v6e", model_name="mixtral-8x7b", num_accelerators=256, seq_len=4096,
                global_batch_seqs=3072, precision="bf16", framework="MaxText", tp=1, pp=1, cp=1, ep=1,
                micro_batch_size=12, zero_stage=3, activation_recompute="full")
    df = pd.DataFrame([base,
                       {**base, "row_id": "c", "moe_capacity_factor": 1.25},
                       {**base, "row_id": "e", "moe_capacity_factor": 1.25, "moe_dispatch": "einsum"},
                       {**base, "row_id": "a", "moe_dispatch": "Einsum"},
                       {**base, "row_id": "z", "moe_capacity_factor": 0, "moe_dispatch": "grouped"},
                       {**base, "row_id": "x", "moe_dispatch": "scatter"}])
    rows = {r["row_id"]: r for r in predict_frame(df)["rows"]}
    tok = {k: r["prediction"]["tokens_per_s_per_gpu"] for k, r in rows.items() if r["status"] == "ok"}
    # padding to 1.25x the balanced load costs expert work; the one-hot dispatch/combine einsums cost more;
    # every token through all 8 experts (no capacity) costs most. A capacity of 0 is dropless: the default.
    assert tok["g"] > tok["c"] > tok["e"] > tok["a"]
    assert tok["z"] == tok["g"]
    assert rows["x"]["status"] != "ok" and "moe_dispatch" in rows["x"]["reason"]


def test_maxtext_row_without_ep_runs_the_stack_default():
    """MaxText's mesh has an expert axis only when ici/dcn_expert_parallelism is set (base.yml: 1): a MaxText MoE
    row that leaves ep empty is read with ep = 1, said in filled_with; another stack's empty ep is searched."""
    base = dict(row_id="m", hardware_id="tpu7x", model_name="deepseek-v3", num_accelerators=128, seq_len=4096,
                global_batch_seqs=2048, precision="bf16", framework="MaxText", tp=1, pp=1, cp=1, dp=128,
                micro_batch_size=16, zero_stage=3, remat_policy="custom decoder_layer_input=offload")
    df = pd.DataFrame([base, {**base, "row_id": "s", "ep": 2},
                       {**base, "row_id": "g", "framework": "Megatron-Core", "remat_policy": "",
                        "activation_recompute": "full"}])
    rows = {r["row_id"]: r for r in predict_frame(df)["rows"]}
    m = rows["m"]["prediction"]
    assert m["layout"]["ep"] == 1 and "ep" in m["filled"] and "default expert parallelism" in m["filled_with"]["ep"]
    assert rows["s"]["prediction"]["layout"]["ep"] == 2 and "ep" not in rows["s"]["prediction"]["filled"]
    assert "default expert parallelism" not in rows["g"]["prediction"].get("filled_with", {}).get("ep", "")
