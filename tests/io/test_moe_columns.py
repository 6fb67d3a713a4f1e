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
