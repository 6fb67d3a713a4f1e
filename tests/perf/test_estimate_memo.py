"""``chipplan.perf.plan.memo``: a plan run asks the training engine each question once."""

from __future__ import annotations

from chipplan import catalog
from chipplan.perf import plan as pp


def test_memo_answers_repeats_once_and_only_inside_the_block(monkeypatch):
    calls = []
    real = pp._estimate_run

    def counted(*a, **k):
        calls.append(a[:2])
        return real(*a, **k)

    monkeypatch.setattr(pp, "_estimate_run", counted)
    free = pp.estimate_run("llama-3.1-8b", "h100-sxm-80gb", 1e12, n_accelerators=64)
    with pp.memo() as store:
        a = pp.estimate_run("llama-3.1-8b", "h100-sxm-80gb", 1e12, n_accelerators=64)
        # the same question spelled with specs and an all-unstated layout
        b = pp.estimate_run(catalog.model("llama-3.1-8b"), catalog.accelerator("h100-sxm-80gb"), 1e12,
                            n_accelerators=64, layout={"tp": None, "pp": None})
        a.layout["tp"] = 999  # a caller's dict is its own
        c = pp.estimate_run("llama-3.1-8b", "h100-sxm-80gb", 1e12, n_accelerators=64)
        d = pp.estimate_run("llama-3.1-8b", "h100-sxm-80gb", 1e12, n_accelerators=128)
    assert len(calls) == 3 and len(store) == 2  # free, the 64 in the block, the 128
    assert b == free and c == free and d.n_accelerators == 128
    pp.estimate_run("llama-3.1-8b", "h100-sxm-80gb", 1e12, n_accelerators=64)
    assert len(calls) == 4  # outside the block nothing is kept


def test_plan_estimates_survive_on_disk(tmp_path):
    from chipplan.scenario.pipeline import Cache, EstimateStore

    est = pp.estimate_run("llama-3.1-8b", "h100-sxm-80gb", 1e12, n_accelerators=64)
    EstimateStore(Cache(tmp_path))["k"] = est
    assert [p.name[:9] for p in tmp_path.iterdir()] == ["estimate-"]
    assert EstimateStore(Cache(tmp_path))["k"] == est
    assert EstimateStore(Cache(None)).get("k") is None
