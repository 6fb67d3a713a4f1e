"""The JSON API: same keys as the command line, 422 naming the field, limits, ids looked up, jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chipplan.cli import app as cli
from chipplan.web import create_app

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "scenario" / "data"
TRAIN = {"model": "llama-3.1-70b", "hardware": "h100-sxm-80gb", "tokens": 15e12, "gpus": 1024}


def test_health_and_catalog(client):
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and len(h["catalog_version"]) == 12
    acc = client.get("/api/catalog/accelerators").json()["items"]
    h100 = next(a for a in acc if a["id"] == "h100-sxm-80gb")
    assert h100["hbm_gib"] == pytest.approx(80.0) and h100["bf16_tflops"] == pytest.approx(989.4, rel=0.01)
    assert client.get("/api/catalog/models").json()["items"]
    assert client.get("/api/catalog/secrets").status_code == 422


def test_catalog_detail_with_sources_and_near_matches(client):
    """One entry with every field's source, looked up by id or alias; an unknown id is 404 with near ids."""
    from chipplan import catalog

    d = client.get("/api/catalog/accelerators/h100-sxm-80gb").json()
    assert d["id"] == "h100-sxm-80gb" and d["summary"]["hbm_gib"] == pytest.approx(80.0)
    fields = {f["field"]: f for f in d["fields"]}
    assert fields["hbm_gib"]["value"] == 80 and "datasheet" in d["source"].lower()
    assert d["spec_si"]["hbm_bytes"] == pytest.approx(80 * 2**30)
    entry = catalog.load().entries["accelerators"]["h100-sxm-80gb"]
    assert len(fields) == len(entry.model_dump()) - 2  # every field but source and field_sources
    alias = client.get("/api/catalog/accelerators/" + "H100 SXM5 80GB").json()
    assert alias["id"] == "h100-sxm-80gb"
    m = client.get("/api/catalog/models/llama-3.1-70b").json()
    assert {f["field"]: f["value"] for f in m["fields"]}["n_layers"] == 80
    assert client.get("/api/catalog/systems/dgx-h100").json()["summary"]["accelerators_per_node"] == 8
    r = client.get("/api/catalog/systems/dgx-h10")
    assert r.status_code == 404
    assert r.json()["detail"]["near"][0] == "dgx-h100" and "unknown id 'dgx-h10'" in r.json()["detail"]["msg"]
    assert client.get("/api/catalog/accelerators/dgx-h100").status_code == 404  # a system is not an accelerator
    assert client.get("/api/catalog/secrets/x").status_code == 422


def test_train_answers_the_cli_json(client):
    r = client.post("/api/train", json=TRAIN)
    assert r.status_code == 200
    got = r.json()
    out = CliRunner().invoke(cli, ["train", "--model", "llama-3.1-70b", "--hardware", "h100-sxm-80gb", "--tokens",
                                   "15e12", "--gpus", "1024", "--json"]).stdout
    want = json.loads(out)
    assert set(got) == set(want)
    for k in ("n_accelerators", "days", "tokens_per_s_per_accelerator", "mfu", "layout", "accelerator_hours"):
        assert got[k] == want[k], k


def test_bad_input_is_422_naming_the_field(client):
    r = client.post("/api/train", json={**TRAIN, "tokens": -1})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "tokens"]
    r = client.post("/api/train", json={**TRAIN, "model": "llama-9"})
    d = r.json()["detail"][0]
    assert r.status_code == 422 and d["loc"] == ["body", "model"] and "did you mean" in d["msg"]
    r = client.post("/api/train", json={**TRAIN, "gpus": 3})  # 70B does not fit on 3 accelerators
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "gpus"]
    r = client.post("/api/train", json={**TRAIN, "days": 30})
    assert r.status_code == 422 and "exactly one of gpus or days" in r.json()["detail"][0]["msg"]
    r = client.post("/api/train", json={**TRAIN, "colour": "red"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "colour"]
    r = client.post("/api/serve", json={"model": "llama-3.1-70b", "hardware": "h100-sxm-80gb", "slo_tpot_ms": 0.01})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "slo_tpot_ms"]
    r = client.post("/api/tco", json={"system": "dgx-h999"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "system"]


def test_serve_and_tco(client):
    s = client.post("/api/serve", json={"model": "llama-3.1-70b", "hardware": "h100-sxm-80gb", "slo_tpot_ms": 50,
                                        "qps": 20, "price_per_hour": 2.5}).json()
    assert s["best"]["tpot_ms"] <= 50 and s["accelerators_needed"] >= 1 and s["frontier"]
    t = client.post("/api/tco", json={"system": "dgx-h100", "years": 3}).json()
    assert t["owned_total_usd"] > 0 and t["waterfall"][0]["step"] == "accelerators"


def test_limits_and_paths(client):
    big = json.dumps({**TRAIN, "model": "x" * 300_000})
    r = client.post("/api/train", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    for url in ("/runs/..%2F..%2Fetc%2Fpasswd/report", "/runs/../../../etc/passwd/report", "/static/..%2Fapp.py",
                "/static/app.py", "/api/runs/..%2F..", "/api/jobs/..%2F..%2Fetc"):
        assert client.get(url).status_code == 404, url
    r = client.post("/api/plan", json={"scenario_yaml": "extends: ../../../etc/passwd.yaml\n"})
    assert r.status_code == 422 and "unknown scenario" in r.json()["detail"][0]["msg"]
    text = (DATA / "small_lab.yaml").read_text().replace("extends: ../../../examples/frontier_lab.yaml",
                                                         "extends: small_lab.yaml")
    r = client.post("/api/plan", json={"scenario_yaml": text.replace("model: llama-3.1-70b\n      users",
                                                                     "model: /etc/passwd.yaml\n      users")})
    assert r.status_code == 422 and "bundled examples" in r.json()["detail"][0]["msg"]
    routes = text + "routes:\n  in_house: {uses: in-house-chip, design: {sweep: /etc/passwd, designs: 10}}\n"
    r = client.post("/api/plan", json={"scenario_yaml": routes})
    assert r.status_code == 422 and "routes.in_house.design" in r.json()["detail"][0]["msg"]
    r = client.post("/api/plan", json={"example": "../../secret"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "example"]
    r = client.post("/api/plan", json={"example": "small_lab", "scenarios": 10**7})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "scenarios"]


def test_plan_job_runs_is_stored_and_diffs(client):
    r = client.post("/api/plan", json={"example": "small_lab", "scenarios": 500})
    assert r.status_code == 202
    job = r.json()["id"]
    deadline = time.time() + 240
    while (j := client.get(f"/api/jobs/{job}").json())["status"] == "running" and time.time() < deadline:
        time.sleep(0.5)
    assert j["status"] == "done", j
    assert {"training", "serving", "tco", "strategy"} <= set(j["stages"])
    assert all(s["done"] == s["total"] for s in j["stages"].values())
    runs = client.get("/api/runs").json()["runs"]
    assert [x["run_id"] for x in runs] == [j["run_id"]]
    html = client.get(j["report_url"])
    assert html.status_code == 200 and "Executive summary" in html.text
    one = client.get(f"/api/runs/{j['run_id']}").json()
    assert one["headlines"] and one["provenance"]["seed"] == 2026
    d = client.get(f"/api/diff?a={j['run_id']}&b=latest").json()
    assert d["inputs_changed"] == [] and all(h["change"] == 0 for h in d["headlines"])
    assert client.get("/api/diff?a=nope&b=latest").status_code == 404


def test_a_cancelled_job_leaves_nothing(client):
    before = client.get("/api/runs").json()["runs"]
    job = client.post("/api/plan", json={"example": "small_lab", "seed": 5}).json()["id"]
    time.sleep(1.0)
    c = client.delete(f"/api/jobs/{job}").json()
    assert c["status"] == "cancelled"
    time.sleep(0.5)
    assert client.get(f"/api/jobs/{job}").json()["status"] == "cancelled"
    assert client.get("/api/runs").json()["runs"] == before
    assert client.delete("/api/jobs/unknown").status_code == 404


def test_openapi_lists_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/health", "/api/catalog/{kind}", "/api/train", "/api/serve", "/api/tco", "/api/plan",
            "/api/jobs/{job_id}", "/api/runs"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_codesign_sends_the_front_and_a_sample(tmp_path):
    ex = tmp_path / "ex"
    ex.mkdir()
    (ex / "codesign.yaml").write_text((ROOT / "examples" / "codesign.yaml").read_text())
    app = create_app(store=tmp_path / "s", examples=ex)
    with TestClient(app) as c:
        r = c.post("/api/codesign", json={"designs": 600, "seed": 1})
        assert r.status_code == 200
        d = r.json()
        assert d["designs"] == 600 and 0 < len(d["pareto"]) < 600 and len(d["sample"]) == 400
        assert set(d["axes"]) <= set(d["objectives"])
        assert c.post("/api/codesign", json={"designs": 10**7}).status_code == 422
        assert c.post("/api/codesign", json={"example": "../../etc/passwd"}).status_code == 422
