"""The column schema of the ``chipplan predict``/``validate`` table, as data.

One declaration per column (name, type, unit, allowed values, description, and the engine field it feeds), in
the style of an attribute table. The reader (``chipplan.io.read``) takes its typing and its range checks from
here, and ``docs/columns.md`` is generated from it (``python -m chipplan.io > docs/columns.md``; a test
fails when the committed file is stale).

Adding a column: declare it here (``COLUMNS``), read it where it is used, regenerate ``docs/columns.md``.

>>> COLUMNS_BY_NAME["tp"].unit, COLUMNS_BY_NAME["tp"].field
('accelerators', 'tp')
>>> "num_layers" in POSITIVE_COLUMNS, "zero_stage" in POSITIVE_COLUMNS
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass

from chipplan.perf.inference import MODES
from chipplan.specs.layout import DIMENSIONS
from chipplan.specs.limits import Range, range_of
from chipplan.units import PRECISIONS

#: Column types: ``integer`` and ``number`` are read as numbers (a gap is "not stated"), ``text`` as strings,
#: ``bool`` as true/false/yes/no/1/0, ``choice`` as one of ``allowed`` (case and spaces ignored).
TYPES = ("integer", "number", "text", "bool", "choice")

#: Roles, in the order ``docs/columns.md`` lists them.
ROLES = {
    "identity": "Identity and source (text; only `row_id` and `source_group` are used, for naming rows and "
                "grouping errors)",
    "hardware": "Hardware",
    "model": "Model shape (empty cells are completed from the catalog entry named by `model_name`)",
    "training": "Training set-up (empty layout fields are filled by the layout search and listed in "
                "`prediction.filled`)",
    "inference": "Inference set-up (a row is an inference row when `inf_input_len` is given)",
    "target": "Targets (read by `chipplan validate` only; `predict` ignores them)",
    "measured": "Measured values as published (ignored by `predict` and `validate`; kept for provenance)",
}


@dataclass(frozen=True, kw_only=True)
class Column:
    """One column of the table.

    ``positive`` numbers must be > 0, other numbers >= 0 (every number at most ``MAX_VALUE``). ``field`` is
    the engine field the column feeds (``Model`` field or layout field), empty when it is read under its own
    name or not read at all.
    """

    name: str
    type: str
    role: str
    description: str
    unit: str = ""
    allowed: tuple[str, ...] = ()
    positive: bool = False
    range: Range | None = None
    quantity: str = ""  # the name of ``range`` in chipplan.specs.limits
    field: str = ""
    read: bool = True

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name}: type must be one of {TYPES}, got {self.type!r}")
        if self.role not in ROLES:
            raise ValueError(f"column {self.name}: role must be one of {tuple(ROLES)}, got {self.role!r}")

    @property
    def allowed_text(self) -> str:
        """The allowed values as an error message states them (``one of a, b, c`` / ``true or false``)."""
        if self.type == "bool":
            return "true or false"
        if self.allowed:
            return f"one of {', '.join(self.allowed)}"
        if self.range is not None:
            return self.range.rule.removeprefix("must be ")
        if self.type in ("integer", "number"):
            return "> 0" if self.positive else ">= 0"
        return "text"


def _c(name: str, type: str, role: str, description: str, *, quantity: str = "", zero: bool | None = None,
       **kw: object) -> Column:
    """A column; ``quantity`` names its plausible range in ``chipplan.specs.limits`` (``zero``: 0 allowed too)."""
    if quantity:
        kw["range"], kw["quantity"] = range_of(quantity, zero=zero), quantity
        kw["positive"] = not kw["range"].zero and kw["range"].low > 0  # type: ignore[attr-defined]
    return Column(name=name, type=type, role=role, description=description, **kw)  # type: ignore[arg-type]


def _texts(*rows: tuple[str, str, str], **kw: object) -> tuple[Column, ...]:
    """Text columns, one ``(name, role, description)`` each."""
    return tuple(_c(name, "text", role, description, **kw) for name, role, description in rows)


#: Every column chipplan knows. Numeric columns are checked in this order (the first error of a row is the one
#: reported), so the order is part of the contract.
COLUMNS: tuple[Column, ...] = (
    # model shape
    _c("num_layers", "integer", "model", "Transformer layers.", unit="layers", field="n_layers", quantity="layers"),
    _c("hidden_size", "integer", "model", "Model (residual) width.", unit="elements",
       field="d_model", quantity="width_elements"),
    _c("num_heads", "integer", "model", "Attention (query) heads.", unit="heads", field="n_heads", quantity="heads"),
    _c("num_kv_heads", "integer", "model", "Key/value heads (GQA/MQA); empty or 0 means num_heads.",
       unit="heads", field="n_kv_heads", quantity="heads", zero=True),
    _c("head_dim", "integer", "model", "Width of one head, only where it is not hidden_size / num_heads.",
       unit="elements", field="head_dim", quantity="width_elements", zero=True),
    _c("ffn_hidden_size", "integer", "model", "MLP width (per expert for a mixture of experts); empty means "
       "4 × hidden_size.", unit="elements", field="d_ff", quantity="width_elements"),
    _c("vocab_size", "integer", "model", "Vocabulary size.", unit="tokens", field="vocab_size",
       quantity="vocabulary_tokens"),
    _c("moe_num_experts", "integer", "model", "Routed experts per MoE layer; empty or 0 for a dense model.",
       unit="experts", field="n_experts", quantity="experts", zero=True),
    _c("moe_top_k", "integer", "model", "Routed experts per token, in [1, moe_num_experts].", unit="experts",
       field="top_k", quantity="experts", zero=True),
    _c("moe_shared_experts", "integer", "model", "Shared (always active) experts per MoE layer.",
       unit="experts", field="n_shared_experts", quantity="experts", zero=True),
    _c("moe_first_dense_layers", "integer", "model", "Leading layers that are dense in an MoE model.",
       unit="layers", field="first_dense_layers", quantity="layers", zero=True),
    _c("dense_ffn_hidden_size", "integer", "model", "MLP width of those dense layers; empty means "
       "ffn_hidden_size.", unit="elements", field="dense_d_ff", quantity="width_elements", zero=True),
    _c("moe_max_nodes", "integer", "model", "Node-limited routing: nodes a token's experts may span (DeepSeek-V3: "
       "4); empty or 0 means no limit.", unit="nodes", field="moe_max_nodes", quantity="nodes", zero=True),
    _c("mla_q_lora_rank", "integer", "model", "Multi-head latent attention: query latent rank (0 = none).",
       unit="elements", field="q_lora_rank", quantity="width_elements", zero=True),
    _c("mla_kv_lora_rank", "integer", "model", "Multi-head latent attention: key/value latent rank; > 0 makes "
       "the attention MLA.", unit="elements", field="kv_lora_rank", quantity="width_elements", zero=True),
    _c("mla_qk_nope_head_dim", "integer", "model", "MLA: per-head query/key width without rotary embedding.",
       unit="elements", field="qk_nope_head_dim", quantity="width_elements", zero=True),
    _c("mla_qk_rope_head_dim", "integer", "model", "MLA: per-head query/key width with rotary embedding.",
       unit="elements", field="qk_rope_head_dim", quantity="width_elements", zero=True),
    _c("mla_v_head_dim", "integer", "model", "MLA: per-head value width.", unit="elements", field="v_head_dim",
       quantity="width_elements", zero=True),
    # layout: one column per numeric dimension of chipplan.specs.layout, in its order
    *(_c(d.column, "integer", "training", f"{d.description[0].upper()}{d.description[1:]} "
         f"({d.allowed}{'; ' + d.name + ' = 1 for a dense model' if d.name == 'ep' else ''}).",
         unit=d.unit, positive=d.lo >= 1, range=d.range, field=d.name) for d in DIMENSIONS if not d.choices),
    # run
    _c("num_accelerators", "integer", "hardware", "Accelerators in the run; empty means tp·pp·dp·cp, else "
       "num_nodes × accels_per_node, else one node of the hardware (its system's node, or 8), or the fewest nodes "
       "whose memory holds the model's training state (16 bytes per parameter) in half of it, noted in "
       "`filled_with`.", unit="accelerators", quantity="accelerators"),
    _c("seq_len", "integer", "training", "Sequence length (required for a training row).", unit="tokens",
       quantity="sequence_tokens"),
    _c("global_batch_seqs", "integer", "training", "Global batch: a number, an amount (`1.5K`) or a batch ramp "
       "as published (`512->1024->2048`, `3072->15360 (ramp over first 469B tokens)`): the last value sets the "
       "step, the ramp enters a run average. Empty: global_batch_tokens, else dp × micro_batch_size × "
       "grad_accum_steps, else chipplan's default (4·2²⁰ tokens, 16·2²⁰ from 100B parameters), noted in "
       "`filled_with`.", unit="sequences", quantity="batch_sequences"),
    _c("global_batch_tokens", "integer", "training", "Global batch in tokens (a number, `4M`, or a ramp as for "
       "global_batch_seqs); not a whole number of seq_len: read in binary units (4M = 4·2²⁰) where that is "
       "whole, else rounded to whole sequences, with a note.", unit="tokens", quantity="batch_tokens"),
    _c("inf_input_len", "integer", "inference", "Prompt length per request; its presence makes the row an "
       "inference row.", unit="tokens", quantity="sequence_tokens"),
    _c("inf_output_len", "integer", "inference", "Generated tokens per request (required for an inference "
       "row).", unit="tokens", quantity="sequence_tokens"),
    _c("inf_batch_size", "integer", "inference", "Concurrent requests; empty where the scheduler chose it.",
       unit="requests", quantity="concurrent_requests"),
    _c("inf_num_requests", "integer", "inference", "Requests scheduled in an offline_max_throughput run.",
       unit="requests", quantity="requests"),
    _c("inf_slo_ttft_p99_ms", "number", "inference", "server_slo: p99 time-to-first-token limit.", unit="ms",
       quantity="latency_ms"),
    _c("inf_slo_tpot_p99_ms", "number", "inference", "server_slo: p99 time-per-output-token limit.", unit="ms",
       quantity="latency_ms"),
    _c("inf_qps", "number", "inference", "Offered load in requests per second for the whole deployment "
       "(TTFT under load, concurrency/offline rows); empty: the load the batch sustains.", unit="requests/s",
       quantity="requests_per_s"),
    _c("inf_spec_draft_len", "integer", "inference", "Speculative / multi-token-prediction draft tokens per "
       "step; empty or 0: none.", unit="tokens", quantity="draft_tokens"),
    _c("inf_spec_accept", "number", "inference", "Acceptance rate of each draft token (0-1), with "
       "inf_spec_draft_len.", unit="fraction", quantity="fraction"),
    _c("accels_per_node", "integer", "hardware", "Accelerators per node, as published (informational).",
       unit="accelerators", quantity="accelerators_per_server"),
    # text
    *_texts(
        ("row_id", "identity", "Row identifier, echoed in the output; empty means the row number."),
        ("hardware_id", "hardware", "Catalog id of the accelerator or system (required); "
         "`chipplan catalog list accelerators`."),
        ("model_name", "model", "Catalog model id; a trailing parenthesis is ignored. Fills the shape "
         "columns the row leaves empty."),
    ),
    _c("precision", "choice", "training", "Matmul precision; empty means the hardware's usual training "
       "precision (bf16, fp16 without bf16), noted in `filled_with`; where the chip also has a faster fp8 peak, "
       "the interval's high end reaches the fp8 prediction.", allowed=PRECISIONS),
    _c("throughput_basis", "choice", "training", "What the target measures: `step` (steady-state steps, the "
       "default) or `run` (a whole-run average: tokens ÷ accelerator-hours or time to train, including "
       "interruptions, restarts, checkpoints and batch ramps; chipplan.perf.run).", allowed=("step", "run")),
    *(_c(d.column, "choice", "training", f"{d.description[0].upper()}{d.description[1:]}; empty is filled by "
         "the layout search.", allowed=d.choices, field=d.name) for d in DIMENSIONS if d.choices),
    _c("remat_policy", "text", "training", "Rematerialisation policy as the run states it: a MaxText remat_policy "
       "name (full, minimal, save_dot_except_mlp, save_qkv_proj, qkv_proj_offloaded, ...; catalog/data/stacks.yaml "
       "`remat_policies`), optionally followed by `tensor=device|offload|remat` pairs as MaxText's `custom` takes "
       "them (`custom decoder_layer_input=offload mlpwo=offload`). The saved tensors are not recomputed and, on the "
       "device, count in activation memory; activation_recompute is then full (recompute from the layer input)."),
    _c("moe_capacity_factor", "number", "training", "MoE expert capacity as a multiple of the balanced load "
       "(MaxText capacity_factor, Megatron moe_expert_capacity_factor): tokens beyond it are dropped and the "
       "expert GEMMs and all-to-alls run on the padded slots; empty or 0: dropless.", unit="× balanced load"),
    _c("moe_dispatch", "choice", "training", "How tokens reach their experts: `grouped` (sorted by expert into "
       "a grouped GEMM: Megatron-Core, torchtitan, MaxText sparse_matmul=True; the default) or `einsum` (MaxText "
       "sparse_matmul=False: with moe_capacity_factor, GShard-style one-hot dispatch and combine einsums over the "
       "capacity slots of each sequence; without one, every token through every expert).",
       allowed=("grouped", "einsum")),
    _c("attention", "text", "model", "mha, gqa, mqa or mla; only mla changes the arithmetic (so does "
       "mla_kv_lora_rank > 0).", allowed=("mha", "gqa", "mqa", "mla")),
    *_texts(
        ("framework", "training", "Training software stack as published (Megatron-LM, NeMo, DeepSpeed, "
         "torchtitan, llm-foundry, MaxText, ...); selects a stack profile (catalog/data/stacks.yaml) that says "
         "what the stack could run; empty or unknown means the era default for source_year, with a wider "
         "interval."),
        ("precision_description", "training", "Precision in the source's words. For an 8-bit or 4-bit row its "
         "recipe words select the low-precision recipe (catalog/data/stacks.yaml low_precision: which GEMMs run in "
         "low precision and what quantising costs), e.g. MaxText fp8_full, aqt_fp8 (forward only) or int8, "
         "Transformer Engine current scaling (FP8-CS) or MXFP8, torchao rowwise_with_gw_hp; otherwise the stack's "
         "recipe for the precision."),
        ("source_year", "identity", "Year of the source (the first four-digit year is used, e.g. "
         "2023-2024 -> 2023); picks the stack profile's era."),
        ("source_group", "identity", "Independent source the row comes from; `validate --by-group` "
         "groups by it."),
    ),
    _c("mlp_gated", "bool", "model", "true for SwiGLU/GeGLU (three matrices), false for two."),
    _c("inf_mode", "choice", "inference", "latency, static_batch, offline_max_throughput, server_slo, "
       "concurrency (a closed loop keeping inf_batch_size requests in flight) or decode_only (the decode "
       "servers of a disaggregated deployment at inf_batch_size sequences); empty is inferred from what is "
       "given.", allowed=tuple(MODES)),
    _c("inf_kv_dtype", "choice", "inference", "KV-cache format the run used (bf16, fp16 or fp8), where the source "
       "or its recipe states it; empty: the engine profile's rule for the weight format and attention type.",
       allowed=("bf16", "fp16", "fp8")),
    *_texts(
        ("inf_engine", "inference", "Serving engine and version (tensorrt-llm, vllm, vllm-v0, vllm-rocm, "
         "vllm-rocm-v0, sglang, gaudi; aliases such as 'vLLM 0.9.2'); empty or unknown: an era default with a wider "
         "interval."),
        # provenance numbers read leniently (a number or an amount such as 15.6T; anything else is ignored),
        # only to fill what a row leaves empty
        ("grad_accum_steps", "training", "Gradient-accumulation steps as published; with dp and "
         "micro_batch_size it gives the global batch when none is stated."),
        ("num_nodes", "hardware", "Nodes in the run; with accels_per_node it gives num_accelerators when "
         "that is empty."),
        ("training_tokens_total", "training", "Tokens trained as published (`15.6T`); a "
         "throughput_basis=run row uses it for the share of the run a batch ramp takes."),
    ),
    # targets
    _c("target_tokens_per_s_per_gpu", "number", "target", "Training throughput per accelerator to predict.",
       unit="tokens/s"),
    _c("target_output_tokens_per_s_per_gpu", "number", "target", "Serving output throughput per "
       "accelerator to predict.", unit="tokens/s"),
    _c("target_ttft_ms", "number", "target", "Time to first token to predict.", unit="ms"),
    _c("target_tpot_ms", "number", "target", "Time per output token to predict.", unit="ms"),
    # kept for provenance, not read
    *(_c(n, "text", "identity", d, read=False) for n, d in (
        ("source", "Title, organisation, year, table or figure."),
        ("source_url", "Where the source is."),
        ("source_location", "Table or figure in the source."),
        ("category", "training or inference, as the source files it."),
        ("trust", "A: primary table or log; B: through one transcription or partly given configuration."),
        ("notes", "Free text."),
        ("target_derivation", "How the target follows from the published figure."),
    )),
    *(_c(n, "text", "hardware", d, read=False) for n, d in (
        ("hardware_description", "The hardware as the source names it."),
        ("accel_memory_GB", "Accelerator memory as the source states it."),
        ("intra_node_interconnect", "Scale-up interconnect as published."),
        ("inter_node_interconnect", "Scale-out network as published."),
    )),
    *(_c(n, "text", "model", d, read=False) for n, d in (
        ("arch_type", "dense or moe, as published."),
        ("total_params", "Parameters as published (chipplan counts its own from the shape)."),
        ("active_params", "Active parameters per token as published."),
    )),
    *(_c(n, "text", "training", d, read=False) for n, d in (
        ("zero_or_fsdp", "Sharding as the source words it; zero_stage is the structured column."),
    )),
    *(_c(n, "text", "inference", d, read=False) for n, d in (
        ("inf_scenario", "Serving scenario in the source's words."),
        ("inf_throughput_unit", "Unit of inf_throughput_tok_s."),
    )),
    *(_c(n, "text", "measured", d, read=False) for n, d in (
        ("measured_tflops_per_gpu", "Achieved TFLOP/s per accelerator as published."),
        ("measured_mfu_pct", "Model FLOPs utilisation as published (%)."),
        ("measured_hfu_pct", "Hardware FLOPs utilisation as published (%)."),
        ("mfu_definition_notes", "How the source counts FLOPs."),
        ("peak_tflops_assumed", "The peak the source divides by."),
        ("iteration_time_s", "Step time as published."),
        ("tokens_per_s_total", "Throughput of the whole run as published."),
        ("tokens_per_s_per_gpu", "Throughput per accelerator as published."),
        ("total_gpu_hours", "Accelerator-hours as published."),
        ("wall_clock_days", "Wall-clock days as published."),
        ("time_to_train_min", "Time to train as published."),
        ("inf_throughput_tok_s", "Serving throughput as published."),
        ("ttft_ms", "Time to first token as published."),
        ("tpot_ms", "Time per output token as published."),
    )),
)

COLUMNS_BY_NAME = {c.name: c for c in COLUMNS}
if len(COLUMNS_BY_NAME) != len(COLUMNS):  # pragma: no cover - a declaration error, caught at import
    raise ValueError("chipplan.io.schema: duplicate column name")

#: The one required column.
REQUIRED_COLUMNS = ("hardware_id",)
#: CSV column → engine field, for the model shape and the layout.
MODEL_COLUMNS = {c.name: c.field for c in COLUMNS if c.role == "model" and c.field}
LAYOUT_COLUMNS = {c.name: c.field for c in COLUMNS if c.role == "training" and c.field}  # incl. coded ones
NUMERIC_COLUMNS = tuple(c.name for c in COLUMNS if c.read and c.type in ("integer", "number")
                        and c.role != "target")
POSITIVE_COLUMNS = frozenset(c.name for c in COLUMNS if c.positive)
TEXT_COLUMNS = tuple(c.name for c in COLUMNS if c.read and c.type in ("text", "bool", "choice"))
TARGET_COLUMNS = tuple(c.name for c in COLUMNS if c.role == "target")
#: The columns a prediction depends on: every read column but the row's name (``row_id``), its source group and
#: the targets. Rows equal on these get the same prediction, so ``predict`` computes each distinct one once.
PREDICTION_COLUMNS = tuple(c.name for c in COLUMNS if c.read and c.role != "target"
                           and c.name not in ("row_id", "source_group"))
#: The schema's columns that no prediction reads: the targets, the source group and the columns not read at all
#: (the sources' free text). ``chipplan predict`` leaves them unconverted (``read_table(skip_unread=True)``).
UNREAD_BY_PREDICT = frozenset(c.name for c in COLUMNS if c.name not in PREDICTION_COLUMNS and c.name != "row_id")
#: A count above this is a typo, not a configuration.
MAX_VALUE = 1e15
#: Limits on a table as a whole. A larger file is refused before it is parsed; distinct unknown ids beyond the
#: first ``MAX_NEAR_SEARCHES`` are reported without near matches (each search scans the catalog); a table of at
#: least ``JUNK_ROWS`` rows none of which can be predicted is refused, naming its first ``FIRST_PROBLEMS``.
MAX_TABLE_BYTES = 1 << 30
MAX_NEAR_SEARCHES = 20
JUNK_ROWS = 1_000
FIRST_PROBLEMS = 3


def markdown() -> str:
    """``docs/columns.md``: one table per role, one line per column."""
    out = ["# Columns of the `chipplan predict` / `chipplan validate` table", "",
           "Generated from `src/chipplan/io/schema.py` (`python -m chipplan.io > docs/columns.md`); "
           "do not edit by hand.", "",
           f"Required: {', '.join(f'`{c}`' for c in REQUIRED_COLUMNS)}. Columns not listed are ignored. "
           "Numbers are read as given (an empty cell is \"not stated\"); "
           f"every number must be finite, at most {MAX_VALUE:.0e}, and >= 0 (> 0 where the range says so); "
           "an `integer` column takes whole numbers only (`24.0` is 24, `24.5` is an error, so is `true`). "
           "A row breaking a rule gets `status: error` with a reason naming the column; the other rows are "
           "still predicted. A `row_id` given twice is an error on the later row; `global_batch_tokens` must "
           "equal `global_batch_seqs` × `seq_len` when all three are given.", "",
           f"Limits on the file: at most {MAX_TABLE_BYTES / 2**30:g} GiB; a column name may appear once; near "
           f"matches of unknown ids are listed for the first {MAX_NEAR_SEARCHES} distinct ones; a file whose "
           f"first {JUNK_ROWS:,} rows all fail is refused (exit status 2), naming the first {FIRST_PROBLEMS} "
           "problems.", ""]
    for role, title in ROLES.items():
        cols = [c for c in COLUMNS if c.role == role]
        out += [f"## {title}", "", "| column | type | unit | allowed | read | description |",
                "|---|---|---|---|---|---|"]
        for c in cols:
            allowed = c.allowed_text if (c.type != "text" or c.allowed) else ""
            read = "yes" if c.read else "no"
            field = f" Feeds `{c.field}`." if c.field and c.field != c.name else ""
            out.append(f"| `{c.name}` | {c.type} | {c.unit} | {allowed} | {read} | {c.description}{field} |")
        out.append("")
    return "\n".join(out)
