"""Sweeps: Pareto front against brute force, seeded runs byte-identical, Parquet contract, CLI errors."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from chipplan.cli import app
from chipplan.codesign import sweep
from chipplan.codesign.pareto import hypervolume_2d, non_dominated, oriented

EXAMPLE = Path(__file__).parents[2] / "examples" / "codesign.yaml"


def brute_force(F):
    n = len(F)
    keep = np.ones(n, bool)
    for i in range(n):
        for j in range(n):
            if np.all(F[j] <= F[i]) and np.any(F[j] < F[i]):
                keep[i] = False
                break
    return keep


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_pareto_matches_brute_force(k):
    rng = np.random.default_rng(k)
    for _ in range(25):
        n = int(rng.integers(1, 250))
        F = rng.integers(0, 7, size=(n, k)).astype(float)  # many ties and duplicates
        assert np.array_equal(non_dominated(F), brute_force(F))
        G = rng.normal(size=(n, k))
        assert np.array_equal(non_dominated(G), brute_force(G))


def test_pareto_ignores_nan_and_hypervolume():
    F = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [np.nan, 0.0], [3.0, 3.0]])
    assert non_dominated(F).tolist() == [True, True, True, False, False]
    # staircase area to (4, 4): 1·... = (2-1)·(4-3) + (3-2)·(4-2) + (4-3)·(4-1) = 1 + 2 + 3
    assert hypervolume_2d(F[:3], [4.0, 4.0]) == pytest.approx(6.0)
    assert oriented({"a": np.array([1.0]), "b": np.array([2.0])}, {"a": "min", "b": "max"}).tolist() == [[1.0, -2.0]]


def test_sweep_front_is_the_brute_force_front_of_its_rows(make_config):
    r = sweep(make_config(), designs=300, seed=3)
    assert len(r.designs) == 300 and r.objectives == make_config()["objectives"]
    d = r.designs
    F = oriented({c: d[c].to_numpy() for c in r.objectives}, r.objectives)
    F[~d["feasible"].to_numpy()] = np.nan
    F[~np.all(np.isfinite(F), axis=1)] = np.nan
    ok = ~np.isnan(F).any(axis=1)
    want = np.zeros(len(d), bool)
    want[np.flatnonzero(ok)[brute_force(F[ok])]] = True
    assert sorted(r.pareto["design_id"]) == sorted(d["design_id"][want])
    assert list(r.pareto.columns) == list(d.columns)


def digest(p):
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


@pytest.mark.parametrize("sampler", ["sobol", "random", "grid"])
def test_seeded_sweeps_are_byte_identical(tmp_path, sampler, make_config):
    cfg = make_config(sampler=sampler)
    a = sweep(cfg, designs=260, seed=5, out_dir=tmp_path / "a")
    sweep(cfg, designs=260, seed=5, out_dir=tmp_path / "b")
    for f in ("designs.parquet", "pareto.parquet"):
        assert digest(tmp_path / "a" / f) == digest(tmp_path / "b" / f)
    pd.testing.assert_frame_equal(a.designs, pd.read_parquet(tmp_path / "a" / "designs.parquet"))
    if sampler != "grid":
        c = sweep(cfg, designs=260, seed=6)
        assert not c.designs["clock_ghz"].equals(a.designs["clock_ghz"])


def test_chunking_does_not_change_rows(make_config):
    a = sweep(make_config(chunk_size=64), designs=200, seed=1).designs
    b = sweep(make_config(chunk_size=200), designs=200, seed=1).designs
    pd.testing.assert_frame_equal(a, b)


def test_cli_sweep_json_and_db_query(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["codesign", "sweep", str(EXAMPLE), "--designs", "400", "--seed", "7", "--out",
                                   str(out), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["objectives"] == {"serve_usd_per_mtok": "min", "serve_tokens_per_s_per_user": "max",
                               "train_run_usd": "min"}
    assert (out / "designs.parquet").exists() and (out / "pareto.parquet").exists()
    assert s["designs"] == 400 and s["pareto"] == len(pd.read_parquet(out / "pareto.parquet"))
    q = CliRunner().invoke(app, ["db", "query", f"select count(*) as n from read_parquet('{out}/designs.parquet')",
                                 "--json"])
    assert q.exit_code == 0, q.output
    assert json.loads(q.stdout)["rows"] == [{"n": 400}]


@pytest.mark.parametrize(("edit", "msg"), [
    (lambda c: c["space"].update(node={"values": ["N3", "N0.5"]}), "space.node"),
    (lambda c: c["fixed"].update(macs_per_core=-4), "fixed.macs_per_core"),
    (lambda c: c.update(objectives={"no_such_column": "min"}), "objectives.no_such_column"),
    # the workload records (codesign.objectives) are validated directly: bounds and unknown keys name the field
    (lambda c: c["workloads"]["serve"].update(tp=0), "workloads.serve.tp: Input should be greater than or equal to 1"),
    (lambda c: c["workloads"]["serve"].update(batch_size=8), "workloads.serve.batch_size: Extra inputs are not"),
])
def test_cli_bad_input_exit_2_and_no_partial_dir(tmp_path, edit, msg, make_config):
    import yaml

    cfg = make_config()
    edit(cfg)
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "never"
    res = CliRunner().invoke(app, ["codesign", "sweep", str(f), "--designs", "50", "--out", str(out)])
    assert res.exit_code == 2
    assert msg in res.output and len(res.output.strip().splitlines()) == 1
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".codesign-")]
