"""Layout candidates: divisors of the accelerator count, one set of rules for training and serving."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from chipplan import catalog
from chipplan.cli import app
from chipplan.errors import FieldError
from chipplan.perf.candidates import LAYOUT_FIELDS, divisors, expand, invalid_code, serving_layouts
from chipplan.perf.columns import Columns
from chipplan.perf.plan import estimate_run
from chipplan.specs.layout import DIMENSIONS, RULES, SERVING, TRAINING, TRAINING_SEARCHED

runner = CliRunner()


def test_divisors():
    assert divisors(1).tolist() == [1]
    assert divisors(96).tolist() == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 96]
    assert divisors(2**14).tolist() == [2**k for k in range(15)]


def _base(n_gpu, *, n_heads=24, n_layers=30, n_experts=0, seq=2048, gbs=96, domain=8):
    cols = {"n_heads": n_heads, "n_layers": n_layers, "n_experts": n_experts, "seq_len": seq,
            "global_batch_seqs": gbs, "scale_up_domain": domain, "n_gpu": n_gpu, "dp_stated": 0}
    cols.update({f: 1 for f in LAYOUT_FIELDS})
    return {k: np.array([float(v)]) for k, v in cols.items()}


@pytest.mark.parametrize(("n_gpu", "n_experts"), [(24, 0), (48, 8), (40, 0), (64, 6)])
def test_expansion_finds_exactly_the_valid_structural_layouts(n_gpu, n_experts):
    """Brute force over every (tp, pp, cp, ep) up to the count: the staged divisor expansion keeps the same set."""
    base = _base(n_gpu, n_experts=n_experts)
    structural = ("tp", "pp", "cp", "ep")
    missing = {f: np.array([f in structural]) for f in LAYOUT_FIELDS}
    cols, _ = expand(base, missing)
    rules = {"n_gpu": n_gpu, "global_batch_seqs": 96, "seq_len": 2048, "domain": 8}
    ok = invalid_code(cols, cols, **rules) == 0
    found = set(zip(*[cols[f][ok].astype(int).tolist() for f in structural], strict=True))
    grid = np.meshgrid(*[np.arange(1, n_gpu + 1)] * 3, np.arange(1, max(n_experts, 1) + 1), indexing="ij")
    tp, pp, cp, ep = (g.ravel().astype(float) for g in grid)
    lay = Columns(tp=tp, pp=pp, cp=cp, ep=ep, dp=n_gpu / (tp * pp * cp), micro_batch=1, vpp=1)
    m = Columns({k: base[k] for k in ("n_heads", "n_layers", "n_experts")})
    good = (invalid_code(m, lay, **rules) == 0) & (np.mod(n_gpu, tp * pp * cp) == 0)
    brute = set(zip(*[v[good].astype(int).tolist() for v in (tp, pp, cp, ep)], strict=True))
    assert found == brute and found


def test_a_pipeline_of_35_stages_is_found_stated_and_with_a_deadline():
    m, acc = catalog.model("llama-3.1-70b"), catalog.accelerator("h100-sxm-80gb")
    # 280 = 2^3·5·7 and a batch of 512 sequences: dp is a power of two, tp divides the 64 heads and cp the
    # sequence, so the factor 35 can only sit in pp (35 or 70 stages; a fixed grid had neither)
    r = estimate_run(m, acc, 1e12, n_accelerators=280, seq_len=4096, global_batch_tokens=512 * 4096)
    assert r.layout["pp"] * r.layout["tp"] * r.layout["dp"] * r.layout["cp"] == 280
    assert r.layout["pp"] in (35, 70)
    stated = estimate_run(m, acc, 1e12, days=60, layout={"pp": 35})
    assert stated.layout["pp"] == 35 and stated.n_accelerators % 280 == 0  # whole 8-GPU nodes of 35 stages


def test_training_and_serving_share_the_expert_rule(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("row_id,hardware_id,model_name,num_accelerators,tp,pp,ep,inf_input_len,inf_output_len,"
                 "inf_batch_size\ns,h100-sxm-80gb,mixtral-8x7b,8,8,1,3,128,128,8\n")
    out = runner.invoke(app, ["predict", str(f)]).stdout
    reason = json.loads(out)["rows"][0]["reason"]
    assert reason.startswith(f"ep: {RULES[4]}")
    lay = Columns(tp=8, pp=1, dp=1, cp=1, ep=16, micro_batch=1, vpp=1)
    m = Columns(n_heads=32, n_layers=32, n_experts=16)
    # ep = 16 over tp = 8: breaks rule 5 in a serving replica (dp = cp = 1) and in training with dp = 1 ...
    assert invalid_code(m, lay, n_gpu=8, domain=8, serving=True) == 5
    assert invalid_code(m, lay, n_gpu=8, domain=8, global_batch_seqs=8, seq_len=128) == 5
    # ... and keeps it once dp = 2 (attention data parallelism) in either
    lay2 = Columns(tp=8, pp=1, dp=2, cp=1, ep=16, micro_batch=1, vpp=1)
    assert invalid_code(m, lay2, n_gpu=16, domain=8, serving=True) == 0
    assert invalid_code(m, lay2, n_gpu=16, domain=8, global_batch_seqs=8, seq_len=128) == 0


def test_serving_candidates():
    lays = serving_layouts(40, 40, 0, 8)  # 40 heads: tp 1, 2, 4, 5, 8 within an 8-accelerator domain
    assert sorted({t for t, _, _ in lays}) == [1, 2, 4, 5, 8]
    assert {p for t, p, _ in lays if t < 8} == {1} and {p for t, p, _ in lays if t == 8} == {1, 2, 4}
    assert {e for t, _, e in serving_layouts(32, 32, 8, 8) if t == 4} == {1, 2, 4}
    with pytest.raises(FieldError, match="tp\\*cp must be at most twice the scale-up domain"):
        serving_layouts(64, 32, 0, 8, tp=[32])
    # stated pp and ep keep the candidates to those sizes (pp even below a full domain); each is checked alone
    assert serving_layouts(32, 32, 8, 8, tp=[2, 8], pp=[2], ep=[2]) == [(2, 2, 2), (8, 2, 2)]
    assert {(t, p) for t, p, _ in serving_layouts(40, 40, 0, 8, pp=[1, 4])} == {(t, p) for t in (1, 2, 4, 5, 8)
                                                                               for p in (1, 4)}
    with pytest.raises(FieldError, match="pp must not exceed n_layers") as e:
        serving_layouts(32, 32, 8, 8, pp=[64])
    assert e.value.field == "pp"
    with pytest.raises(FieldError, match="ep must divide n_experts") as e:
        serving_layouts(32, 32, 0, 8, ep=[2])
    assert e.value.field == "ep"
    with pytest.raises(FieldError, match="ep must divide tp") as e:
        serving_layouts(32, 32, 8, 8, tp=[1, 2], ep=[4])
    assert e.value.field == "ep"
    with pytest.raises(FieldError, match="must be an integer"):
        serving_layouts(32, 32, 8, 8, pp=[0])


def test_every_dimension_has_a_flag_an_output_key_and_a_table_column():
    from chipplan.io.schema import COLUMNS_BY_NAME

    help_text = runner.invoke(app, ["train", "--help"], terminal_width=200).stdout
    for d in TRAINING:
        assert d.flag in help_text
        assert d.column in COLUMNS_BY_NAME
    serve_help = runner.invoke(app, ["serve", "--help"], terminal_width=200).stdout
    for d in SERVING:  # serve's repeatable layout flags come from the same declaration
        assert re.search(rf"{d.flag}\s+<list\[int\]>\s+{d.description[0].upper()}", serve_help), d.flag
    r = estimate_run("llama-3.1-8b", "h100-sxm-80gb", 1e11, n_accelerators=8)
    assert set(r.layout) == {d.key for d in TRAINING}
    rec = json.loads(runner.invoke(app, ["serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb",
                                         "--input-len", "128", "--output-len", "64", "--json"]).stdout)["best"]
    assert {d.key for d in SERVING} <= set(rec)
    assert [d.name for d in TRAINING_SEARCHED] == list(LAYOUT_FIELDS)
    assert len({d.name for d in DIMENSIONS}) == len(DIMENSIONS)
