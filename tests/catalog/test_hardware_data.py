"""Shipped hardware catalog data: required ids, provenance, cross-chip invariants, datasheet spot values."""

from __future__ import annotations

import itertools
import re

import pytest

from chipplan import catalog
from chipplan.catalog.schema import Estimate

TERA = 1e12

REQUIRED_ACCELERATORS = [
    "v100-sxm-32gb", "a100-sxm-40gb", "a100-sxm-80gb", "a100-pcie-80gb", "h100-sxm-80gb", "h100-sxm-96gb",
    "h100-pcie-80gb", "h800-sxm-80gb", "h200-sxm-141gb", "gh200", "b200-sxm-180gb", "gb200-nvl72",
    "gb300-nvl72", "mi250x", "mi300x", "mi325x", "mi355x", "tpu-v3", "tpu-v4", "tpu-v5e", "tpu-v5p",
    "tpu-v6e", "gaudi2", "gaudi3", "cerebras-wse-3",
    # added for published training tables
    "v100-sxm-16gb", "a100-pcie-40gb", "a800-sxm-80gb", "h20", "l40s", "b300-sxm-288gb", "mi250", "mi300a",
    "trainium", "trainium2",
]
REQUIRED_SYSTEMS = [
    "dgx-a100", "hgx-a100-80gb", "dgx-h100", "hgx-h100", "hgx-h200", "dgx-b200", "gb200-nvl72", "gb300-nvl72",
    "tpu-v4-pod-slice", "tpu-v5p-pod-slice", "tpu-v6e-pod-slice", "gaudi2-server", "gaudi3-server",
    "mi300x-platform",
]


@pytest.fixture(scope="module")
def cat():
    return catalog.load()


def _norm(s: str) -> str:  # same normalisation as the catalog's alias lookup
    return re.sub(r"[^a-z0-9.]+", "", s.lower())


def test_catalog_loads_with_all_required_ids(cat):
    assert not set(REQUIRED_ACCELERATORS) - set(cat.accelerators)
    assert not set(REQUIRED_SYSTEMS) - set(cat.systems)


@pytest.mark.parametrize("section", ["accelerators", "systems"])
def test_aliases_resolve_to_one_entry_only(cat, section):
    owner: dict[str, str] = {}
    for id_, spec in getattr(cat, section).items():
        for name in {_norm(id_), *(_norm(a) for a in spec.aliases)}:
            assert name not in owner, f"{section}: {name!r} names both {owner[name]} and {id_}"
            owner[name] = id_
    for id_, spec in getattr(cat, section).items():
        lookup = cat.accelerator if section == "accelerators" else cat.system
        for alias in spec.aliases:
            assert lookup(alias).id == id_


@pytest.mark.parametrize(("typed", "expected"), [
    ("H100 SXM5 80GB", "h100-sxm-80gb"), ("NVIDIA H100 80GB HBM3", "h100-sxm-80gb"),
    ("A100-SXM4-40GB", "a100-sxm-40gb"), ("MI300X", "mi300x"), ("TPU v5p", "tpu-v5p"),
    ("B200", "b200-sxm-180gb"), ("GB200", "gb200-nvl72"), ("H800", "h800-sxm-80gb"), ("Trillium", "tpu-v6e"),
    ("Gaudi 3", "gaudi3"),
])
def test_common_spellings_resolve(cat, typed, expected):
    assert cat.accelerator(typed).id == expected


def test_every_entry_has_a_source_with_a_year(cat):
    for section in ("accelerators", "systems"):
        for id_, entry in cat.entries[section].items():
            assert re.search(r"\b(19|20)\d\d\b", entry.source), f"{section}.{id_}: source lacks a year"
            for field, fs in entry.field_sources.items():
                if not isinstance(fs, Estimate):
                    assert re.search(r"\b(19|20)\d\d\b", fs), f"{section}.{id_}.{field}: source lacks a year"


@pytest.mark.parametrize("id_", REQUIRED_ACCELERATORS)
def test_chip_sanity(cat, id_):
    a = cat.accelerators[id_]
    sixteen = max(a.peak_bf16_flops_per_s, a.peak_fp16_flops_per_s)
    assert sixteen >= a.peak_fp32_flops_per_s
    if a.peak_tf32_flops_per_s:
        assert a.peak_fp32_flops_per_s <= a.peak_tf32_flops_per_s <= sixteen
    if a.peak_fp8_flops_per_s:
        assert a.peak_fp8_flops_per_s >= sixteen
    if a.peak_fp4_flops_per_s:
        assert a.peak_fp4_flops_per_s >= a.peak_fp8_flops_per_s
    # Catches unit slips (sparse, x1000): all entries < 10 TFLOP/s per W (B200 2.25; CS-3 5.4 per system W).
    if a.tdp_w:
        assert sixteen / a.tdp_w < 10 * TERA
    assert a.scale_up_domain >= 1
    assert a.scale_up_bw_bytes_per_s > 0
    assert 2010 <= a.launch_year <= 2026


@pytest.mark.parametrize("id_", ["h100-sxm-80gb", "h100-sxm-96gb", "h100-pcie-80gb", "h800-sxm-80gb",
                                 "h200-sxm-141gb", "gh200", "b200-sxm-180gb", "gb200-nvl72", "gb300-nvl72", "h20",
                                 "b300-sxm-288gb"])  # L40S: datasheet prints FP8 733 beside BF16 362.05
def test_nvidia_fp8_is_twice_bf16(cat, id_):
    a = cat.accelerators[id_]
    assert a.peak_fp8_flops_per_s == pytest.approx(2 * a.peak_bf16_flops_per_s, rel=2e-3)


def test_no_sparsity_figures_on_nvidia_hopper_blackwell(cat):
    # Datasheets' asterisked (2:4 sparse) BF16: H100 SXM 1979, B200 4500 (HGX/8), GB200 5000 (rack/72).
    for id_, sparse_bf16 in [("h100-sxm-80gb", 1979), ("b200-sxm-180gb", 4500), ("gb200-nvl72", 5000)]:
        assert cat.accelerators[id_].peak_bf16_flops_per_s == pytest.approx(sparse_bf16 / 2 * TERA, rel=1e-3)


def test_nvidia_generations_grow_memory_capacity_and_bandwidth(cat):
    chain = ["a100-sxm-40gb", "a100-sxm-80gb", "h100-sxm-80gb", "h200-sxm-141gb", "b200-sxm-180gb"]
    accs = [cat.accelerators[i] for i in chain]
    for older, newer in itertools.pairwise(accs):
        assert newer.hbm_bytes >= older.hbm_bytes, (older.id, newer.id)
        assert newer.hbm_bw_bytes_per_s > older.hbm_bw_bytes_per_s, (older.id, newer.id)
    assert accs[-1].hbm_bytes > accs[3].hbm_bytes > accs[2].hbm_bytes > accs[0].hbm_bytes


def test_h800_differs_from_h100_only_in_nvlink(cat):
    h100, h800 = cat.accelerators["h100-sxm-80gb"], cat.accelerators["h800-sxm-80gb"]
    assert h800.peak_bf16_flops_per_s == h100.peak_bf16_flops_per_s
    assert h800.hbm_bw_bytes_per_s == h100.hbm_bw_bytes_per_s
    assert h800.scale_up_bw_bytes_per_s == pytest.approx(200e9)
    assert h100.scale_up_bw_bytes_per_s == pytest.approx(450e9)


@pytest.mark.parametrize(("id_", "field", "value"), [
    ("h100-sxm-80gb", "peak_bf16_flops_per_s", 989.4e12),
    ("h100-sxm-80gb", "hbm_bw_bytes_per_s", 3.35e12),
    ("h100-sxm-80gb", "scale_up_bw_bytes_per_s", 450e9),   # NVLink 4: 900 GB/s total
    ("a100-sxm-80gb", "peak_bf16_flops_per_s", 312e12),
    ("a100-sxm-80gb", "hbm_bw_bytes_per_s", 2.039e12),
    ("h200-sxm-141gb", "hbm_bytes", 141 * 2**30),  # hbm_gb is read as GiB
    ("h200-sxm-141gb", "hbm_bw_bytes_per_s", 4.8e12),
    ("b200-sxm-180gb", "hbm_bw_bytes_per_s", 8e12),
    ("b200-sxm-180gb", "peak_bf16_flops_per_s", 2250e12),
    ("b200-sxm-180gb", "scale_up_bw_bytes_per_s", 900e9),  # NVLink 5: 1.8 TB/s total
    ("mi300x", "peak_bf16_flops_per_s", 1307.4e12),
    ("mi300x", "hbm_bytes", 192 * 2**30),
    ("mi300x", "hbm_bw_bytes_per_s", 5.3e12),
    ("mi355x", "peak_fp8_flops_per_s", 5033.2e12),
    ("tpu-v5p", "peak_bf16_flops_per_s", 459e12),
    ("tpu-v5p", "hbm_bw_bytes_per_s", 2.765e12),
    ("tpu-v5p", "scale_up_bw_bytes_per_s", 600e9),          # 1200 GB/s bidirectional ICI per chip
    ("tpu-v5e", "peak_bf16_flops_per_s", 197e12),
    ("tpu-v6e", "peak_bf16_flops_per_s", 918e12),
    ("gaudi3", "peak_bf16_flops_per_s", 1835e12),
    ("gaudi2", "scale_up_bw_bytes_per_s", 262.5e9),         # 21 x 100 GbE
])
def test_datasheet_spot_values(cat, id_, field, value):
    assert getattr(cat.accelerators[id_], field) == pytest.approx(value, rel=1e-3)


@pytest.mark.parametrize(("id_", "domain"), [
    ("tpu-v3", 1024), ("tpu-v4", 4096), ("tpu-v5e", 256), ("tpu-v5p", 8960), ("tpu-v6e", 256),
    ("gb200-nvl72", 72), ("gb300-nvl72", 72), ("mi300x", 8), ("h100-sxm-80gb", 8),
])
def test_scale_up_domains(cat, id_, domain):
    assert cat.accelerators[id_].scale_up_domain == domain


def test_cerebras_on_wafer_sram_is_44_gb(cat):
    assert cat.accelerators["cerebras-wse-3"].sram_bytes == pytest.approx(44e9, rel=0.05)


def test_systems_are_consistent_with_their_accelerators(cat):
    for id_, s in cat.systems.items():
        acc = cat.accelerators[s.accelerator]
        if s.scale_up_domain >= s.accelerators_per_node:
            # a node never spans more than one scale-up domain and the domain is a whole number of nodes
            assert s.scale_up_domain % s.accelerators_per_node == 0, id_
        else:
            pytest.fail(f"{id_}: {s.accelerators_per_node} per node > domain {s.scale_up_domain}")
        assert s.scale_up_domain <= acc.scale_up_domain, id_
        # Node power must at least cover its accelerators' TDP.
        if s.node_power_w and acc.tdp_w:
            assert s.node_power_w >= s.accelerators_per_node * acc.tdp_w, id_
        # A node's price is at least the price of its accelerators.
        if s.price_usd and acc.price_usd:
            assert s.price_usd >= 0.9 * s.accelerators_per_node * acc.price_usd, id_


def test_nvl72_racks_are_one_domain(cat):
    for id_ in ("gb200-nvl72", "gb300-nvl72"):
        s = cat.systems[id_]
        assert s.accelerators_per_node == s.scale_up_domain == 72


def test_dgx_h100_cost_inputs(cat):
    s = cat.systems["dgx-h100"]
    assert s.accelerator == "h100-sxm-80gb"
    assert s.node_power_w == pytest.approx(10.2e3)
    assert 250_000 <= s.price_usd <= 300_000
    assert s.nics_per_node * s.nic_bw_bytes_per_s == pytest.approx(8 * 50e9)  # 8 x 400 Gb/s


def test_estimates_carry_reasoning(cat):
    n = 0
    for section in ("accelerators", "systems"):
        for entry in cat.entries[section].values():
            for fs in entry.field_sources.values():
                if isinstance(fs, Estimate):
                    n += 1
                    assert len(fs.reasoning) >= 30
    assert n > 20  # the catalog is honest about its many estimates


# ------------------------------------------- accelerators added for published training tables

@pytest.mark.parametrize(("typed", "expected"), [
    ("A800", "a800-sxm-80gb"), ("A800-SXM4-80GB", "a800-sxm-80gb"), ("H20", "h20"), ("L40S", "l40s"),
    ("A100-PCIE-40GB", "a100-pcie-40gb"), ("Tesla V100-SXM2-16GB", "v100-sxm-16gb"), ("B300", "b300-sxm-288gb"),
    ("MI250", "mi250"), ("MI250X", "mi250x"), ("MI300A", "mi300a"), ("Trainium", "trainium"), ("trn1", "trainium"),
    ("Trainium2", "trainium2"), ("V100", "v100-sxm-32gb"), ("GB300", "gb300-nvl72"),
    ("DGX B300", "b300-sxm-288gb"), ("trn2.48xlarge", "trainium2"),
])
def test_added_spellings_resolve(cat, typed, expected):
    assert cat.accelerator(typed).id == expected


@pytest.mark.parametrize(("id_", "field", "value"), [
    ("a800-sxm-80gb", "scale_up_bw_bytes_per_s", 200e9),     # NVLink cut to 400 GB/s total
    ("h20", "peak_bf16_flops_per_s", 148e12),
    ("h20", "hbm_bw_bytes_per_s", 4.0e12),
    ("h20", "scale_up_bw_bytes_per_s", 450e9),
    ("l40s", "peak_bf16_flops_per_s", 362.05e12),            # datasheet 733* sparse halved
    ("l40s", "hbm_bw_bytes_per_s", 864e9),
    ("b300-sxm-288gb", "peak_bf16_flops_per_s", 2250e12),    # HGX B300 36 PF* / 8 / 2
    ("b300-sxm-288gb", "peak_fp4_flops_per_s", 13500e12),    # HGX B300 108 PF dense / 8
    ("b300-sxm-288gb", "hbm_bytes", 288 * 2**30),
    ("mi250", "peak_bf16_flops_per_s", 362.1e12),
    ("mi250", "scale_up_bw_bytes_per_s", 300e9),             # 6 links x 50 GB/s per direction
    ("mi300a", "peak_bf16_flops_per_s", 980.6e12),           # 2048 FLOP/clk/CU x 228 CU x 2.1 GHz
    ("mi300a", "hbm_bytes", 128 * 2**30),
    ("trainium", "peak_bf16_flops_per_s", 190e12),
    ("trainium", "hbm_bytes", 32 * 2**30),
    ("trainium2", "peak_bf16_flops_per_s", 667e12),
    ("trainium2", "peak_fp8_flops_per_s", 1299e12),
    ("trainium2", "hbm_bytes", 96 * 2**30),
    ("trainium2", "hbm_bw_bytes_per_s", 2.9e12),
])
def test_added_datasheet_values(cat, id_, field, value):
    assert getattr(cat.accelerators[id_], field) == pytest.approx(value, rel=1e-3)


def test_export_variants_differ_from_their_parents_only_where_published(cat):
    a100, a800 = cat.accelerators["a100-sxm-80gb"], cat.accelerators["a800-sxm-80gb"]
    assert (a800.peak_bf16_flops_per_s, a800.hbm_bytes, a800.hbm_bw_bytes_per_s) == \
        (a100.peak_bf16_flops_per_s, a100.hbm_bytes, a100.hbm_bw_bytes_per_s)
    assert a800.scale_up_bw_bytes_per_s == pytest.approx(2 / 3 * a100.scale_up_bw_bytes_per_s)
    v32, v16 = cat.accelerators["v100-sxm-32gb"], cat.accelerators["v100-sxm-16gb"]
    assert v16.peak_fp16_flops_per_s == v32.peak_fp16_flops_per_s and v16.hbm_bytes == v32.hbm_bytes / 2
    pcie40, sxm40 = cat.accelerators["a100-pcie-40gb"], cat.accelerators["a100-sxm-40gb"]
    assert pcie40.hbm_bw_bytes_per_s == sxm40.hbm_bw_bytes_per_s and pcie40.scale_up_domain == 2


def test_uncalibrated_newcomers_inherit_existing_families(cat):
    # No new efficiency families: each new chip maps to an existing one (Trainium to `custom`, uncalibrated).
    fams = {i: cat.accelerators[i].family for i in ("a800-sxm-80gb", "h20", "l40s", "b300-sxm-288gb", "mi250",
                                                     "mi300a", "trainium", "trainium2", "v100-sxm-16gb")}
    assert fams == {"a800-sxm-80gb": "ampere", "h20": "hopper", "l40s": "ampere", "b300-sxm-288gb": "blackwell",
                    "mi250": "cdna2", "mi300a": "cdna3", "trainium": "custom", "trainium2": "custom",
                    "v100-sxm-16gb": "volta"}
