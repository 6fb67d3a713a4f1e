"""Training inputs as papers and logs write them, normalised before the table's numbers are read.

Published configurations rarely come as one clean integer per column. This module reads the forms they do
come in and says what it made of each, so that ``chipplan.io.training`` can list it in ``filled_with``:

* **Amounts with a suffix**: ``4M``, ``16M tokens``, ``1,536``, ``2.5B``. ``K``/``M``/``B``/``T`` are decimal
  (10³, 10⁶, 10⁹, 10¹²); ``Ki``/``Mi``/``Gi`` are binary. Papers often write "4M tokens" for 4·2²⁰ = 4,194,304
  (Llama 2 trained with 4M-token batches of 1,024 sequences of 4,096, Touvron et al. 2023, section 2.2); a token
  batch whose decimal reading is not a whole number of sequences but whose binary reading is, is read binary.
* **Batch ramps**: ``512->1024->2048`` (also ``→`` or ``=>``), optionally followed by how long the ramp lasts:
  ``3072->15360 (ramp over first 469B tokens)``. The last value is the batch of the steady state, which step
  throughput uses; the whole ramp enters a run average (``throughput_basis = run``,
  ``chipplan.perf.run.ramp_factor``).

>>> parse_amount("4M")
(4000000.0, 4194304.0)
>>> b = parse_batch("3072->15360 (ramp over first 469B tokens)")
>>> b.values, b.ramp_tokens
((3072.0, 15360.0), 469000000000.0)
>>> parse_batch("512->1024->2048").final
2048.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Decimal and binary multipliers of the suffixes an amount may carry.
DECIMAL = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
BINARY = {"ki": 2.0 ** 10, "mi": 2.0 ** 20, "gi": 2.0 ** 30, "ti": 2.0 ** 40}
#: Units an amount may name after its number (ignored: the column says what is counted).
UNITS = r"(?:tokens?|toks?|seqs?|sequences?|samples?)?"
_AMOUNT = re.compile(r"^\s*([0-9][0-9,_]*(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)\s*([kmbgt]i?)?\s*" + UNITS + r"\s*$",
                     re.IGNORECASE)
_ARROW = re.compile(r"\s*(?:->|→|=>|⟶)\s*")
_TRAILER = re.compile(r"\(([^()]*)\)\s*$")
_RAMP_LEN = re.compile(r"([0-9][0-9,_]*(?:\.[0-9]+)?)\s*([kmbgt]i?)?\s*(tokens?|samples?|seqs?|sequences?)",
                       re.IGNORECASE)


def parse_amount(text: Any) -> tuple[float, float]:
    """(decimal reading, binary reading) of one amount; the binary reading is NaN unless a K/M/B/T suffix
    could mean powers of two. Both are NaN when ``text`` is not an amount.

    >>> parse_amount("1,536")
    (1536.0, nan)
    >>> parse_amount("4Mi")
    (4194304.0, nan)
    """
    m = _AMOUNT.match(str(text))
    if not m:
        return float("nan"), float("nan")
    num = float(m.group(1).replace(",", "").replace("_", ""))
    suf = (m.group(2) or "").lower()
    if suf in BINARY:
        return num * BINARY[suf], float("nan")
    binary = num * 2.0 ** {"k": 10, "m": 20, "b": 30, "g": 30, "t": 40}[suf] if suf else float("nan")
    return num * DECIMAL[suf], binary


@dataclass(frozen=True, kw_only=True)
class Batch:
    """A batch cell as published: its values in order (one unless it is a ramp), both readings of each, the
    length of the ramp when stated (in tokens, or in ``ramp_samples`` sequences), and the text it came from."""

    values: tuple[float, ...]
    binary: tuple[float, ...]
    ramp_tokens: float = float("nan")
    ramp_samples: float = float("nan")
    text: str = ""

    @property
    def final(self) -> float:
        return self.values[-1]

    @property
    def is_ramp(self) -> bool:
        return len(self.values) > 1


def parse_batch(text: Any) -> Batch | None:
    """The batch a cell states (a number, an amount, or a ramp), or None when it is none of these."""
    if isinstance(text, int | float | np.integer | np.floating) and not isinstance(text, bool):
        v = float(text)
        return Batch(values=(v,), binary=(float("nan"),), text=f"{v:g}") if np.isfinite(v) else None
    s = str(text).strip()
    if not s:
        return None
    ramp_tokens = ramp_samples = float("nan")
    trailer = _TRAILER.search(s)
    if trailer:
        length = _RAMP_LEN.search(trailer.group(1))
        if length is None:
            return None
        amount = parse_amount(f"{length.group(1)}{length.group(2) or ''}")[0]
        if length.group(3).lower().startswith("tok"):
            ramp_tokens = amount
        else:
            ramp_samples = amount
        s = s[:trailer.start()].strip()
    parts = _ARROW.split(s)
    readings = [parse_amount(p) for p in parts]
    if not parts or any(not np.isfinite(d) or d <= 0 for d, _ in readings):
        return None
    return Batch(values=tuple(d for d, _ in readings), binary=tuple(b for _, b in readings), ramp_tokens=ramp_tokens,
                 ramp_samples=ramp_samples, text=str(text).strip())


def batch_column(values: Any) -> tuple[list[Batch | None], list[bool]]:
    """Each cell of a batch column parsed once per distinct value: (batch or None, whether the cell was given)."""
    cells = list(values)
    cache: dict[Any, Batch | None] = {}
    out: list[Batch | None] = []
    given: list[bool] = []
    for c in cells:
        empty = c is None or (isinstance(c, float) and not np.isfinite(c)) or (isinstance(c, str) and not c.strip())
        given.append(not empty)
        if empty:
            out.append(None)
            continue
        key = (type(c).__name__, c)
        if key not in cache:
            cache[key] = parse_batch(c)
        out.append(cache[key])
    return out, given


def nearest_multiple(x: Any, unit: Any) -> Any:
    """``x`` rounded to the nearest whole multiple of ``unit``, at least one ``unit`` (every data-parallel rank
    takes whole sequences or micro-batches, so a batch is a multiple of their count). Broadcasts.

    >>> nearest_multiple(1024.0, 124.0), nearest_multiple(3.0, 8.0)
    (992.0, 8.0)
    """
    out = np.maximum(np.round(np.asarray(x, dtype=float) / unit), 1.0) * unit
    return float(out) if np.ndim(out) == 0 else out


def whole_sequences(tokens: float, binary: float, seq_len: float, unit: float = 1.0) -> tuple[float, str | None]:
    """A token batch as whole sequences of ``seq_len``, and the note saying how it was read (None when the
    decimal reading already is a whole number of sequences that ``unit`` divides). ``unit`` is the known
    dp × micro-batch: every data-parallel rank takes whole micro-batches, so a batch it does not divide is rounded
    to the nearest multiple of it (the binary reading, 2²⁰ for M, is preferred when it is a whole number).

    >>> whole_sequences(4e6, 4 * 2**20, 8192)[0], whole_sequences(4e6, float("nan"), 8192, 64)[0]
    (512.0, 512.0)
    >>> whole_sequences(2e6, 2 * 2**20, 2048, 124)[0]  # OPT-175B: 2M tokens on 124 data-parallel ranks
    992.0
    """
    u = unit if np.isfinite(unit) and unit >= 1 else 1.0
    q = tokens / seq_len
    if abs(q - round(q)) < 1e-6 and round(q) % u == 0:
        return float(round(q)), None
    qb = binary / seq_len if np.isfinite(binary) else float("nan")
    if np.isfinite(qb) and abs(qb - round(qb)) < 1e-6:
        n = float(round(qb))
        if n % u == 0:
            return n, (f"{n:.0f} sequences (the token batch read in binary units, {binary:,.0f} tokens = "
                       f"{n:.0f} × {seq_len:.0f})")
        q, tokens = qb, binary
    n = nearest_multiple(q, u)
    return n, (f"{n:.0f} sequences ({tokens:,.0f} tokens is {q:.2f} sequences of {seq_len:.0f}; rounded to a whole "
               + (f"multiple of dp × micro-batch = {u:g})" if u > 1 else "number)"))


# --- per-row normalisation of a table's training rows ------------------------------------------------------

#: Columns whose cells may be published forms (ramps, suffixed amounts) rather than plain numbers.
BATCH_COLUMNS = ("global_batch_seqs", "global_batch_tokens")
#: Provenance columns read leniently (a suffixed amount or nothing), only where they fill a gap.
LENIENT_COLUMNS = ("grad_accum_steps", "num_nodes", "training_tokens_total")


@dataclass(frozen=True, kw_only=True)
class Published:
    """What the published forms of a table's training rows said, per row.

    ``ramp`` is the batch ramp in sequences (None unless a batch cell was a ramp), with ``ramp_tokens`` its
    stated length in tokens (NaN when not stated); ``binary`` the binary reading of a suffixed token batch;
    ``lenient`` the numbers of ``LENIENT_COLUMNS`` (NaN where absent or unreadable); ``notes`` per row, field →
    what was read or filled.
    """

    ramp_seqs: list[tuple[float, ...] | None]
    ramp_tokens: np.ndarray
    binary_tokens: np.ndarray
    lenient: dict[str, np.ndarray]
    notes: list[dict[str, str]]


def normalise(df: Any, rows: Any) -> tuple[Any, Published]:
    """A copy of the training rows ``df`` whose batch columns are plain numbers (the final batch of a ramp), and
    what the published forms said (``Published``). A batch cell that is neither a number, an amount nor a ramp
    is an error on its row naming the column."""
    import pandas as pd

    n = len(df)
    out = df.copy()
    notes: list[dict[str, str]] = [{} for _ in range(n)]
    ramp_seqs: list[tuple[float, ...] | None] = [None] * n
    ramp_tokens = np.full(n, np.nan)
    binary = np.full(n, np.nan)
    seq = pd.to_numeric(df["seq_len"], errors="coerce").to_numpy(dtype=float) if "seq_len" in df.columns \
        else np.full(n, np.nan)
    for col in BATCH_COLUMNS:
        if col not in df.columns or pd.api.types.is_numeric_dtype(df[col]):
            continue
        parsed, given = batch_column(df[col].to_numpy(dtype=object))
        vals = np.full(n, np.nan)
        for i, (b, g) in enumerate(zip(parsed, given, strict=True)):
            if not g:
                continue
            if b is None:
                rows.fail(_one(n, i), f"{col}: must be a number, an amount such as 4M, or a batch ramp such as "
                                      f"512->1024->2048, got {_quoted(df[col].iloc[i])}")
                continue
            vals[i] = b.final
            if col == "global_batch_tokens":
                binary[i] = b.binary[-1]
            if b.is_ramp:
                per_seq = 1.0 if col == "global_batch_seqs" else seq[i]
                ramp_seqs[i] = tuple(v / per_seq for v in b.values)
                ramp_tokens[i] = b.ramp_tokens if np.isfinite(b.ramp_tokens) else b.ramp_samples * seq[i]
                over = (f" over the first {ramp_tokens[i]:.3g} tokens" if np.isfinite(ramp_tokens[i]) else "")
                notes[i][col] = (f"{b.final:g} (the last value of the ramp {b.text}: step throughput uses it; a "
                                 f"run average uses the whole ramp{over})")
            elif not _plain_number(df[col].iloc[i]):
                notes[i][col] = f"{b.final:g} (read from {_quoted(df[col].iloc[i])})"
        out[col] = vals
    lenient = {}
    for col in LENIENT_COLUMNS:
        vals = np.full(n, np.nan)
        if col in df.columns:
            raw = df[col].to_numpy(dtype=object)
            for i, c in enumerate(raw):
                b = parse_batch(c)
                if b is not None and not b.is_ramp:
                    vals[i] = b.final
        lenient[col] = vals
    return out, Published(ramp_seqs=ramp_seqs, ramp_tokens=ramp_tokens, binary_tokens=binary, lenient=lenient,
                          notes=notes)


def _one(n: int, i: int) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[i] = True
    return m


def _plain_number(x: Any) -> bool:
    try:
        float(str(x).replace(",", ""))
    except ValueError:
        return False
    return True


def _quoted(x: Any) -> str:
    from chipplan.safeio import shown

    return shown(str(x))


def hardware_defaults(hw_ids: Any) -> dict[str, np.ndarray]:
    """Per row, from the catalog entry its ``hardware_id`` names (once per distinct id): the precision the
    hardware usually trains in (``usual_precision``: BF16 mixed precision, the default of every training stack in
    catalog/data/stacks.yaml; FP16 where the chip has no BF16), whether an FP8 run is as plausible
    (``fp8_plausible``: the chip has an FP8 peak above its 16-bit one), and one node's accelerator count
    (``node_size``: the system's, else the scale-up domain capped at 8), and its memory (``hbm_bytes``). Unknown ids
    get bf16 / no / 8 / NaN (the reader reports them)."""
    from chipplan import catalog
    from chipplan.errors import ChipplanError

    ids = ["" if h is None else str(h) for h in np.asarray(hw_ids, dtype=object).tolist()]
    cat = catalog.load()
    cache: dict[str, tuple[str, bool, float, float]] = {}
    for h in dict.fromkeys(ids):
        try:
            acc, sys_ = cat.hardware(h)
        except (ChipplanError, KeyError, ValueError):
            cache[h] = ("bf16", False, 8.0, float("nan"))
            continue
        usual = "bf16" if acc.peak_bf16_flops_per_s or not acc.peak_fp16_flops_per_s else "fp16"
        try:
            p16 = acc.peak_flops_per_s(usual)
        except ChipplanError:
            p16 = 0.0
        node = float(sys_.accelerators_per_node) if sys_ is not None else float(min(acc.scale_up_domain, 8))
        cache[h] = (usual, bool(acc.peak_fp8_flops_per_s and acc.peak_fp8_flops_per_s > 1.01 * p16), node,
                    float(acc.hbm_bytes))
    vals = [cache[h] for h in ids]
    return {"usual_precision": np.array([v[0] for v in vals], dtype=object),
            "fp8_plausible": np.array([v[1] for v in vals], dtype=bool),
            "node_size": np.array([v[2] for v in vals], dtype=float),
            "hbm_bytes": np.array([v[3] for v in vals], dtype=float)}


#: Bytes of training state per parameter in mixed-precision Adam: 16-bit weights and gradients, fp32 master weights
#: and two moments (Rajbhandari et al., ZeRO, 2020, section 3.1: 16 bytes per parameter).
TRAINING_STATE_BYTES_PER_PARAM = 16.0
#: Share of a default cluster's memory that training state may take, the rest left to activations and buffers.
STATE_MEMORY_SHARE = 0.5


def accelerator_count(stated: np.ndarray, product: np.ndarray, nodes_times_size: np.ndarray,
                      node_size: np.ndarray, tp: np.ndarray, pp: np.ndarray, cp: np.ndarray,
                      notes: list[dict[str, str]], *, ep: Any = None, total_params: Any = None,
                      hbm_bytes: Any = None) -> np.ndarray:
    """Accelerators per row: as stated; else tp·pp·dp·cp; else num_nodes × accels_per_node; else a default: one
    node of the hardware, or as many whole nodes as the model's training state needs
    (``TRAINING_STATE_BYTES_PER_PARAM`` per parameter in at most ``STATE_MEMORY_SHARE`` of their memory), raised to
    a whole multiple of the stated tp·pp·cp (and of the data-parallel size a stated ep needs); each default is
    noted under ``num_accelerators``."""
    out = np.where(np.isfinite(stated), stated, product)
    nodes = ~np.isfinite(out) & np.isfinite(nodes_times_size) & (nodes_times_size > 0)
    out = np.where(nodes, nodes_times_size, out)
    for i in np.nonzero(nodes)[0].tolist():
        notes[i]["num_accelerators"] = f"{out[i]:.0f} (num_nodes × accels_per_node)"
    n = len(out)
    tp_, pp_, cp_ = (np.nan_to_num(np.asarray(x, dtype=float), nan=1.0) for x in (tp, pp, cp))
    ep_ = np.nan_to_num(np.asarray(ep if ep is not None else np.ones(n), dtype=float), nan=1.0)
    # ep must divide tp·dp·cp: dp a multiple of ep / gcd(ep, tp·cp)
    shard = np.maximum(tp_ * cp_, 1.0).astype(np.int64)
    ep_i = np.maximum(ep_, 1.0).astype(np.int64)
    unit = tp_ * pp_ * cp_ * (ep_i // np.gcd(ep_i, shard))
    params = np.asarray(total_params if total_params is not None else np.zeros(n), dtype=float)
    hbm = np.asarray(hbm_bytes if hbm_bytes is not None else np.full(n, np.nan), dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        need = np.ceil(params * TRAINING_STATE_BYTES_PER_PARAM / (STATE_MEMORY_SHARE * hbm * node_size))
    nodes_needed = np.where(np.isfinite(need) & (need > 1), need, 1.0)
    default = np.ceil(nodes_needed * node_size / unit) * unit
    none = ~np.isfinite(out)
    out = np.where(none, default, out)
    for i in np.nonzero(none)[0].tolist():
        what = ("one node of the hardware" if nodes_needed[i] <= 1 else
                f"{nodes_needed[i]:.0f} nodes, the fewest whose memory holds the model's training state "
                f"({TRAINING_STATE_BYTES_PER_PARAM:g} bytes per parameter) in {STATE_MEMORY_SHARE:.0%} of it")
        notes[i]["num_accelerators"] = (f"{out[i]:.0f} (not stated: {what}"
                                        + (f", raised to a multiple of {unit[i]:g}, which the stated tp·pp·cp "
                                           "and ep need)"
                                           if default[i] != nodes_needed[i] * node_size[i] else ")"))
    return out


def default_batch_tokens(total_params: np.ndarray) -> np.ndarray:
    """chipplan's default global batch in tokens, the one ``chipplan.perf.plan.default_global_batch_tokens`` plans
    with (efficiency.yaml ``engine_constants.plan``: 4·2²⁰ below 100B parameters, 16·2²⁰ above)."""
    from chipplan.perf import tuned

    t = tuned.table()["plan"]
    return np.where(np.asarray(total_params, dtype=float) >= t["large_model_params"],
                    float(t["global_batch_tokens_large"]), float(t["global_batch_tokens_small"]))


def global_batch(*, seqs: np.ndarray, tokens: np.ndarray, binary: np.ndarray, seq_len: np.ndarray,
                 dp: np.ndarray, micro_batch: np.ndarray, grad_accum: np.ndarray, total_params: np.ndarray,
                 notes: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Global batch in sequences per row, and an error message per row (None where there is none).

    Stated sequences win; a token batch becomes whole sequences (``whole_sequences``, with a note); one stating
    both must agree on the whole number of sequences. With neither: dp × micro-batch × accumulation steps when
    all three are known, else chipplan's default token batch (``default_batch_tokens``) in whole sequences,
    rounded to a multiple of the known dp × micro-batch. Each default is noted under ``global_batch_seqs``.
    """
    n = len(seqs)
    out = np.array(seqs, dtype=float)
    errors = np.empty(n, dtype=object)
    errors[:] = None
    for i in range(n):
        s = seq_len[i]
        if not np.isfinite(tokens[i]) or not np.isfinite(s) or s <= 0:
            continue
        u = (dp[i] if np.isfinite(dp[i]) and dp[i] > 0 else 1.0) * (micro_batch[i] if np.isfinite(micro_batch[i])
                                                                    else 1.0)
        whole, note = whole_sequences(tokens[i], binary[i], s, u)
        if np.isfinite(seqs[i]):
            readings = [tokens[i] / s] + ([binary[i] / s] if np.isfinite(binary[i]) else [])
            if not any(abs(q - seqs[i]) < 1e-6 or (note is not None and round(q) == seqs[i]) for q in readings):
                errors[i] = (f"global_batch_tokens: must equal global_batch_seqs × seq_len = {seqs[i] * s:g}, got "
                             f"{tokens[i]:g}")
            continue
        out[i] = whole
        if note is not None:
            notes[i]["global_batch_seqs"] = note
    # A stated sequence batch that the known dp does not divide, with no micro-batch stated: every rank takes whole
    # sequences, so the run took the nearest multiple (a published batch is often a rounded power of two). With the
    # micro-batch stated too the three disagree, and the layout rule reports it.
    unit = np.where(np.isfinite(dp) & (dp > 0), dp, 1.0)
    stated = np.isfinite(seqs) & (unit > 1) & ~np.isfinite(micro_batch)
    off = stated & (np.mod(np.where(stated, seqs, 0.0), unit) != 0)
    for i in np.nonzero(off)[0].tolist():
        out[i] = nearest_multiple(seqs[i], unit[i])
        notes[i]["global_batch_seqs"] = (f"{out[i]:.0f} sequences ({seqs[i]:g} rounded to a multiple of dp = "
                                         f"{unit[i]:g}: each data-parallel rank takes whole sequences)")
    none = ~np.isfinite(out) & np.isfinite(seq_len) & (seq_len > 0)
    derived = none & np.isfinite(dp) & np.isfinite(micro_batch) & np.isfinite(grad_accum) & (grad_accum > 0)
    out = np.where(derived, dp * micro_batch * grad_accum, out)
    for i in np.nonzero(derived)[0].tolist():
        notes[i]["global_batch_seqs"] = (f"{out[i]:.0f} (not stated: dp {dp[i]:g} × micro-batch {micro_batch[i]:g} "
                                         f"× {grad_accum[i]:g} accumulation steps)")
    rest = none & ~derived
    unit = np.where(np.isfinite(dp) & (dp > 0), dp, 1.0) * np.where(np.isfinite(micro_batch), micro_batch, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        default = nearest_multiple(default_batch_tokens(total_params) / seq_len, unit)
    out = np.where(rest, default, out)
    for i in np.nonzero(rest)[0].tolist():
        notes[i]["global_batch_seqs"] = (f"{out[i]:.0f} (not stated: chipplan's default of "
                                         f"{default_batch_tokens(total_params[i]) / 2 ** 20:.0f}·2²⁰ tokens in "
                                         f"sequences of {seq_len[i]:g}, a multiple of dp × micro-batch = "
                                         f"{unit[i]:g})")
    return out, errors


def with_framework(df: Any, framework: str | None) -> Any:
    """``df`` with every training row's ``framework`` set to ``framework`` (``--framework``); serving rows, which
    name their engine by that column too, keep theirs. None: ``df`` itself."""
    if framework is None:
        return df
    out = df.copy()
    training = out["inf_input_len"].isna().to_numpy() if "inf_input_len" in out.columns else np.ones(len(out), bool)
    col = out["framework"].astype(object) if "framework" in out.columns else np.full(len(out), None, dtype=object)
    out["framework"] = np.where(training, str(framework), col)
    out.attrs.update(df.attrs)
    return out
