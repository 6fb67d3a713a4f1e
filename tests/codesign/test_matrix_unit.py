"""The systolic matrix-unit width as a design parameter: it pads attention's head dimensions and nothing else."""

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from chipplan import catalog
from chipplan.cli import app
from chipplan.codesign import design as dz
from chipplan.codesign import objectives as ob
from chipplan.codesign import sweeps as sw
from chipplan.codesign.catalog_chips import point_params
from chipplan.codesign.constants import load as load_constants
from chipplan.errors import FieldError
from chipplan.perf import training as tr
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import hardware_row
from chipplan.specs import Model

# A TPU-like design: two cores of 65,536 MACs, room for one 256 x 256 array per core.
TPU_LIKE = {"core_class": "tpu-tensorcore", "cores": 2, "macs_per_core": 65536, "family": "tpu"}
WIDTHS = np.array([0.0, 128.0, 256.0])
# One accelerator, no parallelism, selective recompute (the layout defaults): the step is a plain sum of layer
# passes, so padding moves it by exactly the attention term.
TRAIN = {"model": "llama-3.1-8b", "accelerators": 1, "seq_len": 4096, "global_batch_seqs": 8,
         "layouts": [{"tp": 1, "pp": 1}]}


def _cfg(**over):
    return sw.load_config({"workloads": {"train": TRAIN}, "objectives": {"train_tokens_per_s_per_accelerator": "max"},
                           **over})


def _model(head_dim, d_model=2048, layers=8):
    heads = d_model // head_dim
    return Model(name=f"hd{head_dim}", n_layers=layers, d_model=d_model, n_heads=heads, n_kv_heads=heads,
                 head_dim=head_dim, d_ff=8192, vocab_size=32000, max_seq_len=8192).to_columns()


def _designs(**params):
    cfg = _cfg()
    c, _, _, _, hw = sw.price_designs({**TPU_LIKE, "matrix_unit_width": WIDTHS, **params}, cfg, len(WIDTHS))
    return cfg, c, hw


def test_default_width_leaves_a_sweep_unchanged(make_config):
    cfg = make_config(workloads={"train": TRAIN})
    cfg["objectives"] = {"train_tokens_per_s_per_accelerator": "max", "unit_cost_usd": "min"}
    default = sw.sweep(cfg, designs=64).designs
    stated = sw.sweep({**cfg, "fixed": {**cfg["fixed"], "matrix_unit_width": 0}}, designs=64).designs
    assert (default["matrix_unit_width"] == 0).all()
    tok = default["train_tokens_per_s_per_accelerator"].to_numpy()
    assert np.count_nonzero(tok) > 10  # designs with too few stacks do not fit the 8B model: 0
    assert np.array_equal(tok, stated["train_tokens_per_s_per_accelerator"].to_numpy())
    assert (default["constraint_matrix_unit_macs"] < 0).all()
    # ... and equal to the engine run on hardware columns without the width (as before the parameter existed)
    c, _, _, _, hw = sw.price_designs(sw.sample(sw.load_config(cfg), 0, 64), sw.load_config(cfg), 64)
    w = sw.workloads_of(sw.load_config(cfg)).train
    eff = ob.efficiencies(c["family"], engine="training")
    before = ob.train({k: v for k, v in hw.items() if k != "matrix_unit_width"}, eff, w)
    assert np.array_equal(before["train_tokens_per_s_per_accelerator"], tok)


def test_width_pads_attention_by_hand():
    cfg, c, hw = _designs()
    w = sw.workloads_of(cfg).train
    eff = ob.efficiencies(c["family"], engine="training")
    m = _model(64)
    tok = ob.train(hw, eff, w, model=Columns(m))["train_tokens_per_s_per_accelerator"]
    # width 256 < width 128 < width 0 for head_dim 64 (a quarter, a half, all of the unit busy)
    assert tok[2] < tok[1] < tok[0]

    # By hand, from step_time's attention term: t_scores = 2·T·heads·(d_qk + d_v)·ctx / (peak16 · attention_fraction)
    # at width 0; the padded head dims (W each, for 64 < W) make it W/64 times that. It enters the forward, the
    # backward (attention_backward_factor times) and the selective recompute (once), per layer and micro-batch.
    lay = Columns({**ob.LAYOUT_DEFAULTS, "tp": 1, "pp": 1, "dp": 1})
    h = ob.hardware_columns(hw, w.precision)
    st = tr.step_time(Columns(m), h, lay, global_batch_seqs=w.global_batch_seqs, seq_len=w.seq_len, eff=eff)
    s, T, n_micro = w.seq_len, float(w.seq_len), w.global_batch_seqs
    peak16 = np.asarray(h.peak16_flops_per_s)
    t_scores0 = 2 * T * m["n_heads"] * (64 + 64) * (s + 1) / 2 / (peak16 * np.asarray(eff.attention_fraction))
    ratio = np.array([1.0, 128 / 64, 256 / 64])
    attn_passes = n_micro * m["n_layers"] * (1 + tr.ATTN_BWD_FACTOR + 1)
    expected_step = st["step_time_s"][0] + attn_passes * t_scores0 * (ratio - 1)
    assert st["step_time_s"] == pytest.approx(expected_step, rel=1e-9)
    assert tok == pytest.approx(w.global_batch_seqs * s / expected_step, rel=1e-9)
    # the GEMMs do not move: the compute time grows by the forward and backward attention only
    d_compute = st["compute_s"] - st["compute_s"][0]
    assert d_compute == pytest.approx(n_micro * m["n_layers"] * (1 + tr.ATTN_BWD_FACTOR) * t_scores0 * (ratio - 1),
                                      rel=1e-9)


def test_head_dim_that_fills_the_unit_is_not_padded():
    cfg, c, hw = _designs()
    w = sw.workloads_of(cfg).train
    tok = ob.train(hw, ob.efficiencies(c["family"], engine="training"), w, model=Columns(_model(256)))
    assert np.all(tok["train_tokens_per_s_per_accelerator"] == tok["train_tokens_per_s_per_accelerator"][0])


def test_catalog_chips_carry_their_width():
    # a catalog chip evaluated in co-design reads the width the perf engines read
    for acc_id in ("tpu-v5p", "tpu-v6e", "h100-sxm-80gb"):
        acc = catalog.accelerator(acc_id)
        h = ob.hardware_columns(sw.catalog_columns(acc_id), "bf16")
        assert float(np.asarray(h.matrix_unit_width)) == hardware_row(acc, "bf16")["matrix_unit_width"], acc_id
    assert float(np.asarray(ob.hardware_columns(sw.catalog_columns("tpu-v6e"), "bf16").matrix_unit_width)) == 256
    # every design point states the width of the catalog chip it describes
    for cid in load_constants().design_points:
        want = catalog.accelerator(cid).matrix_unit_width
        assert dz.columns(point_params(cid))["matrix_unit_width"] == want, cid


@pytest.mark.parametrize("bad", [-128, 127.5, 8192, "wide"])
def test_bad_width_names_the_field(bad):
    with pytest.raises(FieldError) as e:
        dz.evaluate({**TPU_LIKE, "matrix_unit_width": bad})
    assert str(e.value).startswith("design.matrix_unit_width")
    assert "\n" not in str(e.value)


def test_width_beyond_the_cores_macs_is_refused_or_infeasible():
    with pytest.raises(FieldError) as e:
        dz.evaluate({"macs_per_core": 1024, "matrix_unit_width": 128})
    assert str(e.value).startswith("design.matrix_unit_width")
    dz.evaluate({"macs_per_core": 1024, "matrix_unit_width": 32})  # 32² = 1024 fits
    # a sweep keeps such designs as rows, marked infeasible
    cfg = _cfg()
    out = sw.evaluate_params({"macs_per_core": 1024, "matrix_unit_width": np.array([0.0, 32.0, 64.0])}, cfg, 3, None)
    assert out["constraint_matrix_unit_macs"].tolist() == [-1024.0, 0.0, 3072.0]
    assert out["feasible"][2] == np.False_


def test_cli_bad_width_exit_2(tmp_path, make_config):
    cfg = make_config()
    cfg["fixed"]["matrix_unit_width"] = -1
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["codesign", "sweep", str(f), "--designs", "8", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "fixed.matrix_unit_width" in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing half-written


@pytest.mark.parametrize("acc_id", ["h100-sxm-80gb", "a100-sxm-80gb", "tpu-v5p", "tpu7x"])
def test_a_catalog_chip_trains_in_codesign_as_the_training_engine_predicts_it(acc_id):
    """Co-design scores training with the families' training efficiencies (their ``training:`` overrides), the
    ones ``chipplan train`` uses: the same chip, model and layout give the same step through either path."""
    from chipplan.perf.efficiency import for_families

    train = {**TRAIN, "accelerators": 8, "layouts": [{"tp": 8, "pp": 1}]}  # fits in memory on each chip: dp 1
    cfg = sw.load_config({"workloads": {"train": train},
                          "objectives": {"train_tokens_per_s_per_accelerator": "max"}})
    w = sw.workloads_of(cfg).train
    acc = catalog.accelerator(acc_id)
    got = ob.train(sw.catalog_columns(acc_id), ob.efficiencies([acc.family], engine="training"), w)
    m = ob._model(w.model)
    lay = Columns({**ob.LAYOUT_DEFAULTS, **w.layouts[0], "dp": 1.0})
    h = {k: v for k, v in hardware_row(acc, w.precision).items() if not isinstance(v, str)}
    want = tr.step_time(m, Columns(h), lay, global_batch_seqs=w.global_batch_seqs, seq_len=w.seq_len,
                        eff=for_families([acc.family], engine="training"))["tokens_per_s_per_gpu"]
    assert float(np.ravel(got["train_tokens_per_s_per_accelerator"])[0]) == pytest.approx(float(np.ravel(want)[0]),
                                                                                        rel=1e-9)
    # ... and not with the serving ones where the two differ (hopper's and the TPU's training values)
    if acc.family in ("hopper", "tpu"):
        serving = ob.train(sw.catalog_columns(acc_id), ob.efficiencies([acc.family], engine="serving"), w)
        assert float(np.ravel(serving["train_tokens_per_s_per_accelerator"])[0]) != pytest.approx(
            float(np.ravel(want)[0]), rel=1e-3)


def test_catalog_chips_reach_the_engines_with_the_columns_hardware_row_gives():
    """Co-design's path for a catalog chip (``catalog_columns`` → ``hardware_columns``) and the engines' own
    (``hardware_row``) give the same numbers for every chip and every precision it has: one mapping per fact."""
    checked = 0
    for acc in catalog.load().accelerators.values():
        for prec in ("bf16", "fp8", "int8", "fp4"):
            try:
                want = hardware_row(acc, prec)
            except FieldError:
                continue  # the chip lacks the format: the engines refuse it, co-design falls back to BF16
            got = ob.hardware_columns(sw.catalog_columns(acc.id), prec)
            for key, value in want.items():
                if not isinstance(value, str):
                    assert float(np.ravel(got[key])[0]) == pytest.approx(float(value), rel=1e-12), (acc.id, prec, key)
            checked += 1
    assert checked > 40
