"""Servers, networks, facilities, owned vs cloud, and the custom-server question."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chipplan import catalog
from chipplan.catalog import cost as cc
from chipplan.cost import server as srv
from chipplan.cost import tco as tc
from chipplan.cost.uncertainty import central_params
from chipplan.errors import FieldError

CAT = cc.load()
SYS = catalog.system("dgx-h100")
ACC = catalog.accelerator(SYS.accelerator)


def _tco(**kw):
    p, meta = tc.tco_params(SYS, ACC, CAT, **kw)
    return tc.system_tco(**central_params(p)), meta, p


def test_8xh100_server_from_parts_is_270_to_300k():
    # SemiAnalysis: DGX H100 ≈ $270k; HGX resellers $249k–296k (Epoch DB, 2023–24)
    bom = srv.server_bom(n_accelerators=8, accelerator_price_usd=ACC.price_usd, node_power_w=SYS.node_power_w,
                         **srv.host_params(CAT.host("hgx-8gpu")))
    assert 270_000 <= bom["server_price_usd"] <= 300_000
    # at 2023 DRAM prices ($2.4/GB) the host parts reproduce SemiAnalysis' non-GPU BoM of $32,010 (May 2023);
    # 2026 DDR5 at $6/GB adds 2 TB × $3.6/GB
    then = srv.server_bom(n_accelerators=8, accelerator_price_usd=ACC.price_usd, node_power_w=SYS.node_power_w,
                          **{**srv.host_params(CAT.host("hgx-8gpu")), "dram_usd_per_gb": 2.4})
    assert then["host_parts_usd"] == pytest.approx(32_010, rel=0.05)
    assert bom["host_parts_usd"] - then["host_parts_usd"] == pytest.approx(2048 * 3.6)


def test_three_year_cloud_bill_then_and_now():
    # the seed's $1M ≈ $4.75/GPU-h × 8 × 26,298 h (reference §6.2; GCP a3 3-yr was $4.86 in 2025-03)
    r, meta, _ = _tco(years=3, cloud_price=4.75)
    assert r["hours"] == pytest.approx(26_298)
    assert r["cloud_total_usd"] == pytest.approx(0.999e6, rel=1e-3)
    # 2026: the newest hyperscaler 3-yr rows (AWS $1.95, GCP $1.50, Azure $3.49; median $1.95)
    now, meta, _ = _tco(years=3)
    assert meta["cloud_term"] == "3yr" and meta["cloud_kind"] == "hyperscaler"
    assert now["cloud_total_usd"] == pytest.approx(1.95 * 8 * 26_298)
    # neocloud contract market: the June 2026 index, $2.65/GPU-h for one year
    neo, meta, _ = _tco(years=1, cloud_kind="neocloud")
    assert meta["cloud_term"] == "1yr" and meta["cloud_price_rows"] == ["h100-contract-index-2026-06"]
    assert neo["cloud_usd_per_accelerator_hour"] == pytest.approx(2.65)


def test_owned_three_years_matches_reference_build_up():
    r, _, _ = _tco(years=3, list_price=False)
    # reference §6.2: owning ≈ $0.46–0.47M before staff, storage, financing and residual value
    before = (r["owned_total_usd"] - r["staff_usd"] - r["storage_share_usd"] - r["financing_usd"]
              + r["residual_value_usd"])
    assert 0.40e6 <= before <= 0.55e6
    assert r["owned_usd_per_accelerator_hour"] == pytest.approx(r["owned_total_usd"] / (8 * 26_298))
    assert sum(v for _, v, _ in tc.waterfall(r)[:-2]) == pytest.approx(r["owned_total_usd"])
    # colocation $184.06/kW-month × 10.2 kW × 36 months = $67.6k (reference §6.2)
    assert r["facility_usd"] == pytest.approx(67_590, rel=0.001)
    # resale after 3 of 5 years: 10^(−0.14·3) = 0.380 of capex (Epoch's 0.14 OOM/yr)
    assert r["residual_value_usd"] == pytest.approx(0.380189 * r["capex_usd"], rel=1e-5)


def test_list_price_is_used_and_both_are_reported():
    r, meta, _ = _tco(years=3)
    parts, _, _ = _tco(years=3, list_price=False)
    assert meta["server_price_basis"] == "catalog list price"
    assert r["server_capex_usd"] == 270_000
    assert r["server_parts_price_usd"] == pytest.approx(parts["server_capex_usd"])
    assert r["list_price_difference_usd"] == pytest.approx(270_000 - parts["server_capex_usd"])
    assert sum(v for _, v, _ in tc.waterfall(r)[:-2]) == pytest.approx(r["owned_total_usd"])


def test_financing_by_hand():
    # $100k at 10 % over 5 years: A = 26,379.75; after 3 payments the balance is 45,783.4 (amortisation table)
    f = tc.financing(100_000, interest_rate=0.10, life_years=5, years=3, depreciation_ooms_per_year=0.14)
    assert f["instalment_usd"] == pytest.approx(26_379.75, abs=0.01)
    assert f["balance_usd"] == pytest.approx(45_783.4, abs=0.5)
    assert f["interest_usd"] == pytest.approx(3 * 26_379.75 + 45_783.4 - 100_000, abs=0.5)
    # no interest: straight repayment, balance 40 %
    z = tc.financing(100_000, interest_rate=0.0, life_years=5, years=3, depreciation_ooms_per_year=0.14)
    assert z["interest_usd"] == pytest.approx(0.0, abs=1e-6) and z["balance_usd"] == pytest.approx(40_000)
    # past the end of its life the hardware is scrapped and the loan repaid
    end = tc.financing(100_000, interest_rate=0.1, life_years=5, years=6, depreciation_ooms_per_year=0.14)
    assert end["residual_value_usd"] == 0 and end["balance_usd"] == pytest.approx(0.0, abs=1e-6)


def test_every_catalog_system_answers_three_years():
    for sys_ in catalog.load().systems.values():
        acc = catalog.accelerator(sys_.accelerator)
        p, meta = tc.tco_params(sys_, acc, CAT, years=3)
        r = tc.system_tco(**central_params(p))
        assert r["owned_total_usd"] > 0, sys_.id
        if sys_.id in ("dgx-b200", "mi300x-platform", "gb200-nvl72", "gb300-nvl72", "dgx-h100", "hgx-h200"):
            assert meta["cloud_priced"], sys_.id
            assert all(d.startswith(("2025", "2026")) for d in meta["cloud_price_dates"]), sys_.id


def test_breakeven_utilisation_is_where_costs_cross():
    r, _, p = _tco(years=3, cloud_term="on-demand", cloud_price=4.0)
    u = r["breakeven_utilisation"]
    assert 0 < u < 1
    at = tc.system_tco(**{**central_params(p), "utilisation": u})
    assert at["owned_total_usd"] == pytest.approx(at["cloud_total_usd"], rel=1e-9)
    cheap, _, _ = _tco(years=3, cloud_term="on-demand", cloud_price=0.5)
    assert cheap["breakeven_utilisation"] > 1  # owning never pays against a $0.50/h rental


def test_breakeven_horizon():
    r, _, _ = _tco(years=3, cloud_price=4.86)
    t = r["breakeven_years"]
    assert 0.5 < t < 3
    run_h = (r["facility_usd"] + r["energy_usd"] + r["maintenance_usd"] + r["staff_usd"]) / r["hours"]
    assert r["capex_usd"] + run_h * t * 8766 == pytest.approx(r["cloud_total_usd"] / r["hours"] * t * 8766)


def test_cloud_rate_selection():
    rate, rows = tc.cloud_rate(CAT, "h100-sxm-80gb", "on-demand")
    assert rows == ["h100-aws-2026-03", "h100-azure-2026-03", "h100-gcp-2026-03"]
    assert rate == pytest.approx(3.90)
    assert tc.cloud_rate(CAT, "h100-sxm-80gb", "on-demand", "lambda")[0] == pytest.approx(2.99)
    neo, _ = tc.cloud_rate(CAT, "h100-sxm-80gb", "on-demand", kind="neocloud")
    assert neo == pytest.approx(2.99)
    assert tc.cloud_rate(CAT, "h100-sxm-80gb", "on-demand", kind="specialist")[0] == neo  # the older name
    with pytest.raises(FieldError, match="cloud_provider"):
        tc.cloud_rate(CAT, "h100-sxm-80gb", "3yr", "lambda")
    with pytest.raises(FieldError, match="cloud_kind"):
        tc.cloud_rate(CAT, "h100-sxm-80gb", "3yr", kind="cheap")


def test_build_facility_and_life():
    colo, _, _ = _tco(years=3)
    build, _, _ = _tco(years=3, facility="build")
    assert build["facility_usd"] > 0
    assert build["facility_usd"] != colo["facility_usd"]
    short, _, _ = _tco(years=3, life_years=3)
    assert colo["capital_usd"] < short["capital_usd"]  # a 3-year life leaves nothing to resell


def test_fat_tree_switch_counts():
    assert srv.fat_tree(64, 64) == {"tiers": 1.0, "switches": 1.0, "links": 64.0}
    # two tiers at full size: k leaves + k/2 spines, k²/2 endpoints
    assert srv.fat_tree(2048, 64) == {"tiers": 2.0, "switches": 96.0, "links": 4096.0}
    # three tiers at full size: 5k²/4 switches for k³/4 endpoints
    assert srv.fat_tree(65_536, 64)["switches"] == 5 * 64**2 / 4
    assert srv.fat_tree(65_537, 64)["tiers"] == 4.0
    n = np.array([10, 100, 1000, 10_000])
    assert np.all(np.diff(srv.fat_tree(n, 64)["switches"]) > 0)


def test_network_share_near_epoch_interconnect_share():
    bom = srv.server_bom(n_accelerators=8, accelerator_price_usd=30_000, node_power_w=10_200,
                         **srv.host_params(CAT.host("hgx-8gpu")))
    c = srv.cluster_cost(n_accelerators=16_384, accelerators_per_node=8, nics_per_node=8,
                         server_price_usd=bom["server_price_usd"], node_power_w=10_200, cat=CAT)
    # Epoch: cluster interconnect 19 % of hardware; 9–13 % of amortised run cost
    assert 0.09 <= c["network_share_of_hardware"] <= 0.22
    assert c["it_power_mw"] == pytest.approx(2048 * 10.2e-3)
    rail = srv.network_cost(n_nodes=512, nics_per_node=8, radix=64, switch_usd=1, transceiver_usd=0, cable_usd=0)
    flat = srv.network_cost(n_nodes=512, nics_per_node=8, radix=64, switch_usd=1, transceiver_usd=0, cable_usd=0,
                            topology="fat-tree")
    assert rail["switches"] <= flat["switches"]


def test_energy_and_power():
    fac = cc.load().facility  # busy 75 % of TDP (Epoch AI), idle 30 % (estimate)
    assert (fac.busy_power_fraction, fac.idle_power_fraction) == (0.75, 0.30)
    assert srv.average_power_w(10_200, 1.0, fac.busy_power_fraction, fac.idle_power_fraction) == pytest.approx(7650)
    assert srv.average_power_w(10_200, 0.0, fac.busy_power_fraction, fac.idle_power_fraction) == pytest.approx(3060)
    assert srv.energy_cost(7650, 26_298, 1.25, 0.0771) == pytest.approx(7.65 * 1.25 * 26_298 * 0.0771)
    with pytest.raises(FieldError, match="pue"):
        srv.energy_cost(1000, 1, 0.9, 0.1)


TCO_PRICES = ("accelerator_price_usd", "cpu_usd", "switch_usd", "transceiver_usd", "electricity_usd_per_kwh",
              "colocation_usd_per_kw_month", "staff_usd_per_accelerator_year", "interest_rate",
              "cloud_usd_per_accelerator_hour")


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(TCO_PRICES), st.floats(0, 1e4), st.floats(0, 1e4), st.floats(0.05, 1.0))
def test_tco_never_falls_when_a_price_rises(key, base, bump, util):
    _, _, p = _tco(years=3)
    c = {**central_params(p), "utilisation": util}
    lo = tc.system_tco(**{**c, key: base})
    hi = tc.system_tco(**{**c, key: base + bump})
    for k in ("owned_total_usd", "cloud_total_usd", "owned_usd_per_accelerator_hour", "server_capex_usd"):
        assert hi[k] >= lo[k] - 1e-9 * abs(lo[k])


def test_custom_server_under_100k_requirements():
    host = srv.server_bom(n_accelerators=8, accelerator_price_usd=0, node_power_w=10_200,
                          **srv.host_params(CAT.host("generic-8acc")))["host_parts_usd"]
    r = tc.custom_server_requirements(host_parts_usd=host, integrator_margin=0.05, target_server_usd=100e3,
                                      n_accelerators=8, nre_usd=542.2e6, manufacturing_cost_usd=3806,
                                      volume_units=200_000, alternative_server_usd=300e3)
    max_price = (100e3 / 1.05 - host) / 8
    assert r["max_accelerator_price_usd"] == pytest.approx(max_price)
    assert 8_000 < max_price < 11_000
    assert r["min_volume_units"] == pytest.approx(542.2e6 / (max_price - 3806))
    assert r["max_manufacturing_cost_usd"] == pytest.approx(max_price - 542.2e6 / 200_000)
    # reference §6.3: $200k saving per server → NRE $542M needs ≈ 2,700 servers
    assert r["servers_to_recover_nre"] == pytest.approx(542.2e6 / 200e3)
    # a merchant margin of 75 % leaves almost nothing for silicon
    m = tc.custom_server_requirements(host_parts_usd=host, integrator_margin=0.05, gross_margin=0.75,
                                      nre_usd=542.2e6, manufacturing_cost_usd=3806)
    assert m["min_volume_units"] == float("inf")
    none = tc.custom_server_requirements(host_parts_usd=200e3, target_server_usd=100e3)
    assert not none["feasible"]


def test_custom_server_vectorised_over_nre_and_cost():
    r = tc.custom_server_requirements(host_parts_usd=20e3, nre_usd=np.array([100e6, 300e6, 725e6])[:, None],
                                      manufacturing_cost_usd=np.array([2000.0, 4000.0]))
    assert r["min_volume_units"].shape == (3, 2)
    assert np.all(np.diff(r["min_volume_units"], axis=0) > 0)
