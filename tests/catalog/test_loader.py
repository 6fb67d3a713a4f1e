import pytest

from chipplan import catalog
from chipplan.catalog import build, load
from chipplan.errors import CatalogError, UnknownIdError

ACC = """
accelerators:
  my-chip:
    name: My chip
    vendor: Lab
    family: custom
    peak_tflops: {bf16: 500, fp8: 1000}
    hbm_gb: 96
    hbm_tb_per_s: 4
    scale_up: {technology: custom, gb_per_s_per_direction: 400, domain_size: 16}
    scale_out_gbps: 400
    launch_year: 2027
    source: "Internal design review, My Lab, 2026"
"""


def test_shipped_catalog_has_provenance_everywhere():
    cat = load()
    for section, entries in cat.entries.items():
        for id_, e in entries.items():
            assert e.source and len(e.source) >= 10, (section, id_)


def test_extra_catalog_file_adds_a_chip(tmp_path, monkeypatch):
    f = tmp_path / "mine.yaml"
    f.write_text(ACC)
    cat = build([*sorted(catalog.DATA_DIR.glob("*.yaml")), f])
    chip = cat.accelerator("my-chip")
    assert chip.peak_fp8_flops_per_s == 1e15 and chip.hbm_bytes == 96e9  # hbm_gb means decimal GB
    f.write_text(ACC.replace("hbm_gb: 96", "hbm_gib: 96"))
    assert build([*sorted(catalog.DATA_DIR.glob("*.yaml")), f]).accelerator("my-chip").hbm_bytes == 96 * 2**30
    assert chip.scale_out_bw_bytes_per_s == 50e9


@pytest.mark.parametrize(("text", "message"), [
    ("accelerators: [1, 2", "malformed YAML"),
    (ACC.replace('    source: "Internal design review, My Lab, 2026"\n', ""), "every catalog entry needs a source"),
    (ACC.replace("hbm_gb: 96", "hbm_gb: -96"), "accelerators.my-chip.hbm_gb: Input should be greater than 0"),
    (ACC.replace("hbm_gb: 96", "hbm_gb: .nan"), "accelerators.my-chip.hbm_gb"),
    (ACC.replace("family: custom", "family: quantum"), "accelerators.my-chip.family"),
    (ACC.replace("accelerators:", "chips:"), "unknown section 'chips'"),
    (ACC.replace("    launch_year: 2027\n", "    launch_year: 2027\n    matrix_unit_width: 5000\n"),
     "accelerators.my-chip.matrix_unit_width: Input should be less than or equal to 4096"),
    (ACC.replace("    launch_year: 2027\n", "    launch_year: 2027\n    matrix_unit_width: 1.5\n"),
     "accelerators.my-chip.matrix_unit_width"),
    (ACC.replace("    launch_year: 2027\n", "    launch_year: 2027\n    colour: red\n"), "colour"),
])
def test_bad_catalog_files_name_the_field(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build([f])


@pytest.mark.parametrize(("family", "stated", "width"), [
    ("tpu", None, 128),  # an unstated TPU gets the smallest TPU MXU side (pads least)
    ("tpu", 256, 256), ("custom", None, 0), ("custom", 64, 64), ("hopper", None, 0), ("tpu", 0, 0)])
def test_matrix_unit_width_default_follows_the_family(tmp_path, family, stated, width):
    text = ACC.replace("family: custom", f"family: {family}")
    if stated is not None:
        text = text.replace("    launch_year: 2027\n", f"    launch_year: 2027\n    matrix_unit_width: {stated}\n")
    f = tmp_path / "mine.yaml"
    f.write_text(text)
    assert build([*sorted(catalog.DATA_DIR.glob("*.yaml")), f]).accelerator("my-chip").matrix_unit_width == width


def test_unreadable_file(tmp_path):
    with pytest.raises(CatalogError, match="cannot read"):
        build([tmp_path / "missing.yaml"])


def test_unknown_id_suggests_near_matches():
    with pytest.raises(UnknownIdError) as e:
        catalog.model("llama-3.1-450b")
    assert "llama-3.1-405b" in str(e.value)
    assert catalog.model("Meta-Llama-3.1-405B").name == "llama-3.1-405b"
