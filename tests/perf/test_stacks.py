"""Software-stack profiles: resolution from the table's words, and capabilities that never slow a stack down."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chipplan import catalog
from chipplan.errors import FieldError
from chipplan.perf import efficiency, stacks
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import hardware_row
from chipplan.perf.layout import LAYOUT_FIELDS, search
from chipplan.perf.training import step_time

CAPS = ("sequence_parallel", "interleaved_pipeline", "tp_comm_overlap", "selective_recompute",
        "distributed_optimizer", "expert_a2a_overlap", "paired_chunk_schedule", "a2a_node_dedup",
        "balanced_pipeline_ends")


@pytest.mark.parametrize(("text", "year", "profile"), [
    ("Megatron-LM (PTD-P, interleaved 1F1B + scatter/gather for large models)", "2021", "megatron-lm-2021"),
    ("Composer + PyTorch FSDP (MosaicML platform)", "2023-2024", "llm-foundry"),
    ("torchtitan (FSDP2, torch.compile optional)", "2024", "pytorch-fsdp"),
    ("NeMo 24.09/24.12 (Megatron-Core)", "2025", "megatron-core-2024"),
    ("Megatron-LM", "2022", "megatron-2023"),
    ("Megatron-DeepSpeed", "2022", "deepspeed-2021"),  # before FlashAttention reached it
    ("DeepSpeed + Megatron-LM (3D parallelism)", "2021", "deepspeed-2021"),
    ("Megatron-DeepSpeed", "2023", "deepspeed"),
    ("Metaseq (PyTorch FSDP with Megatron-LM tensor parallelism)", "2022", "metaseq"),  # not torch FSDP, not Megatron
    ("Meta LLaMA training code (xformers causal attention)", "2023", "meta-llama-2023"),
    ("MaxText (JAX/XLA)", "2025", "maxtext-jax"),
    ("Intel Gaudi software 1.19.0, PyTorch 2.5.1", "2025", "intel-gaudi"),
    ("Primus / Megatron-LM on ROCm", "2025", "amd-rocm"),
    ("GPT-NeoX", "2022", "gpt-neox"),
    ("Meta internal 4D parallelism (PyTorch)", "2024", "meta-llama3"),
    # A stack named only as Meta's: by its era (Llama 2 adopts Llama 1's setting; metaseq still matches first).
    ("Meta custom training libraries", "2023", "meta-llama-2023"),
    ("Meta internal (PyTorch, 4D parallelism)", "2024", "meta-llama3"),
    ("metaseq (Meta)", "2022", "metaseq"),
    ("EasyLM (JAX)", "2023", "easylm"),  # before the JAX catch-all of MaxText
    ("nanotron (Hugging Face)", "2025", "nanotron"),
])
def test_framework_text_selects_its_profile(text, year, profile):
    names, known = stacks.resolve([text], [year])
    assert names[0] == profile and known[0]


def test_unknown_stack_gets_the_era_default():
    names, known = stacks.resolve(["an in-house trainer", None, None], ["2020", "2023", None])
    assert names.tolist() == ["megatron-lm-2021", "megatron-2023", "megatron-core-2024"]
    assert not known.any()
    with pytest.raises(FieldError, match="--framework"):
        stacks.check_name("no such stack")


def test_attention_kernel_generations_are_ordered():
    for fam, r in stacks.table().attention_kernels.ratios.items():
        assert r["unfused"] <= r["flash1"] <= r["flash2"] <= r["flash3"] <= 1.0, fam


def _case(model="llama-3.1-8b", hw_id="h100-sxm-80gb", n=16):
    m = Columns(catalog.model(model).to_columns())
    h = Columns({k: v for k, v in hardware_row(catalog.accelerator(hw_id), "bf16").items() if k != "family"})
    return m, h


def _with(profile, **changes):
    return profile.model_copy(update=changes)


ATT = ("unfused", "flash1", "flash2", "flash3")
profiles = st.builds(
    lambda caps, att, grad, fsdp: _with(stacks.table().profiles["megatron-lm-2021"], attention=att,
                                        grad_reduce_dtype=grad, fsdp=fsdp, **caps),
    st.fixed_dictionaries({c: st.booleans() for c in CAPS}), st.sampled_from(ATT), st.sampled_from(("fp32", "bf16")),
    st.booleans())


def _upgrades(p):
    """Profiles with one more capability than ``p``."""
    out = [_with(p, **{c: True}) for c in CAPS if not getattr(p, c)]
    i = ATT.index(p.attention)
    out += [_with(p, attention=a) for a in ATT[i + 1:]]
    if p.grad_reduce_dtype == "fp32":
        out.append(_with(p, grad_reduce_dtype="bf16"))
    return out


LAYOUTS = [dict(tp=2, pp=2, dp=4, cp=1, ep=1, vpp=2, micro_batch=1, zero_stage=1, recompute=1),
           dict(tp=1, pp=1, dp=16, cp=1, ep=1, vpp=1, micro_batch=2, zero_stage=3, recompute=0),
           dict(tp=8, pp=1, dp=2, cp=1, ep=1, vpp=1, micro_batch=1, zero_stage=0, recompute=2)]
# (model, layout): the dense layouts, and a mixture of experts whose expert group spans 2 nodes of 8 with 2 stages
FIXED = [("llama-3.1-8b", lay) for lay in LAYOUTS] + [
    ("qwen3-30b-a3b", dict(tp=1, pp=2, dp=16, cp=1, ep=16, vpp=1, micro_batch=1, zero_stage=1, recompute=2)),
    ("deepseek-v3", dict(tp=1, pp=4, dp=64, cp=1, ep=64, vpp=1, micro_batch=1, zero_stage=1, recompute=0))]


@settings(max_examples=60, deadline=None)
@given(profiles, st.sampled_from(FIXED), st.sampled_from(["hopper", "ampere", "tpu"]))
def test_adding_a_capability_never_makes_a_fixed_layout_slower(p, case, family):
    model, layout = case
    m, h = _case(model)
    eff = efficiency.for_families([family])
    ratios = {f: dict(v) for f, v in stacks.table().attention_kernels.ratios.items()}

    def t(prof):
        lay = Columns({**layout, **stacks.profile_columns(prof, family, ratios)})
        return float(np.ravel(step_time(m, h, lay, global_batch_seqs=64, seq_len=8192, eff=eff)["step_time_s"])[0])

    base = t(p)
    for up in _upgrades(p):
        assert t(up) <= base * (1 + 1e-12), up


@settings(max_examples=15, deadline=None)
@given(profiles)
def test_adding_a_capability_never_makes_the_searched_layout_slower(p):
    """More capabilities only add layouts the search may fill in, so its best layout is never slower."""
    m, h = _case("llama-3.1-70b")
    ratios = {f: dict(v) for f, v in stacks.table().attention_kernels.ratios.items()}

    def best(prof):
        base = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in {**m, **h}.items()}
        base.update({f: np.ones(1) for f in LAYOUT_FIELDS})
        base.update({k: np.array([v]) for k, v in stacks.profile_columns(prof, "hopper", ratios).items()})
        base.update(n_gpu=np.array([64.0]), dp_stated=np.zeros(1), global_batch_seqs=np.array([256.0]),
                    seq_len=np.array([4096.0]))
        missing = {f: np.array([f not in ("ep", "cp")]) for f in LAYOUT_FIELDS}
        chosen, _, idx = search(base, missing, efficiency.for_families(["hopper"]))
        assert idx[0] >= 0
        return float(chosen["tokens_per_s_per_gpu"][0])

    base = best(p)
    for up in _upgrades(p):
        assert best(up) >= base * (1 - 1e-12), up


def test_hai_llm_keeps_bf16_adam_moments():
    """DeepSeek-V3 report, section 3.3.3: AdamW moments in BF16, master weights in FP32: 4 + 2 + 2 bytes per
    parameter of optimizer state instead of 12; the stack is recognised from its name or from DualPipe."""
    assert stacks.resolve_one("HAI-LLM (DeepSeek internal, DualPipe)", 2024.0) == ("hai-llm", True)
    p = stacks.table().profiles["hai-llm"]
    assert p.optimizer_state_bytes == 8 and p.expert_a2a_overlap and not p.fsdp
    m, h = _case()
    lay = dict(tp=1, pp=1, dp=16, cp=1, ep=1, vpp=1, micro_batch=1, zero_stage=1, recompute=0, sequence_parallel=1)
    from chipplan.perf.training import memory_and_fit

    def optimizer_bytes(state_bytes):
        cols = Columns({**lay, "optimizer_state_bytes": state_bytes})
        return float(np.ravel(memory_and_fit(m, h, cols, global_batch_seqs=16, seq_len=4096)[
            "memory_optimizer_bytes"])[0])

    assert optimizer_bytes(8.0) == pytest.approx(optimizer_bytes(12.0) * 8 / 12)


def test_a_distributed_optimizer_without_parameter_sharding_is_not_filled_with_zero3():
    """Megatron-LM's 2022-23 distributed optimizer shards the optimizer state only: an empty zero_or_fsdp field is
    filled with ZeRO-1 at most; FSDP stacks may still shard parameters."""
    m, h = _case("llama-3.1-8b")
    ratios = {f: dict(v) for f, v in stacks.table().attention_kernels.ratios.items()}
    prof = stacks.table().profiles
    assert stacks.profile_columns(prof["megatron-2023"], "ampere", ratios)["max_zero"] == 1.0
    assert stacks.profile_columns(prof["pytorch-fsdp"], "ampere", ratios)["max_zero"] == 3.0

    def best_zero(name):
        base = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in {**m, **h}.items()}
        base.update({f: np.ones(1) for f in LAYOUT_FIELDS})
        base.update({k: np.array([v]) for k, v in stacks.profile_columns(prof[name], "hopper", ratios).items()})
        base.update(n_gpu=np.array([512.0]), dp_stated=np.zeros(1), global_batch_seqs=np.array([512.0]),
                    seq_len=np.array([8192.0]))
        missing = {f: np.array([f not in ("ep", "cp")]) for f in LAYOUT_FIELDS}
        _, layout, idx = search(base, missing, efficiency.for_families(["hopper"]))
        assert idx[0] >= 0
        return float(np.ravel(layout["zero_stage"])[0])

    assert best_zero("megatron-2023") <= 1.0
    assert best_zero("pytorch-fsdp") == 3.0


def test_meta_llama3_stack_shards_gradients_and_balances_the_pipeline():
    """Dubey et al. 2024, section 3.3.2: FSDP shards optimizer states and gradients but the parameters are not
    resharded after the forward (ZeRO stage 2), and the first and last stages run one layer fewer."""
    st_ = stacks.table().profiles["meta-llama3"]
    cols = stacks.profile_columns(st_, "hopper", {})
    assert cols["zero_fill"] == 2.0 and cols["prefers_fsdp"] == 0.0
    assert cols["balanced_pipeline_ends"] == 1.0 and cols["allows_interleave"] == 1.0
    assert stacks.neutral_columns()["zero_fill"][0] == -1.0


@pytest.mark.parametrize("stack", ["easylm", "metaseq", "meta-llama3", "megatron-lm-2021", "pytorch-fsdp", "nanotron"])
def test_the_planner_and_a_table_row_fill_a_stack_alike(stack):
    """stacks.layout_fills is the one place both paths take a stack's fills from: a table row that leaves the
    layout empty and the planner with nothing fixed get the same ZeRO stage and recompute."""
    from chipplan import api
    from chipplan.perf import plan

    row = {"row_id": "r", "hardware_id": "a100-sxm-80gb", "model_name": "llama-2-7b", "num_accelerators": 64,
           "seq_len": 4096, "global_batch_seqs": 512, "precision": "bf16", "framework": stack}
    got = api.predict_rows(pd.DataFrame([row]), detail=True)["rows"][0]
    assert got["status"] == "ok", got["reason"]
    cols = stacks.columns(np.array([stack], dtype=object), np.array(["ampere"], dtype=object))
    missing = {f: np.ones(1, dtype=bool) for f in LAYOUT_FIELDS}
    fills = {f: v for f, where, v, _ in stacks.layout_fills(cols, missing) if where[0]}
    assert fills  # each of these stacks fills something
    lay = got["prediction"]["layout"]
    codes = {"none": 0.0, "selective": 1.0, "full": 2.0}
    if "zero_stage" in fills:
        assert lay["zero_stage"] == fills["zero_stage"]
    if "recompute" in fills:
        assert codes[lay["recompute"]] == fills["recompute"]
    acc, system = catalog.hardware("a100-sxm-80gb")
    base, _ = plan._base(catalog.model("llama-2-7b"), acc, system, "bf16", [64], 512, 4096, stack=stack)
    for f, v in fills.items():
        assert base[f][0] == v
