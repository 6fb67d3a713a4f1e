"""Custom chips as files: a template to fill in, every mistake reported at once, --hardware FILE.yaml."""

import json

from typer.testing import CliRunner

from chipplan import catalog
from chipplan.cli import app

runner = CliRunner()


def template(tmp_path, kind="accelerator"):
    r = runner.invoke(app, ["catalog", "template", kind])
    assert r.exit_code == 0 and r.stdout.lstrip().startswith("#")
    f = tmp_path / f"my_{kind}.yaml"
    f.write_text(r.stdout)
    return f


def test_template_checks_clean_and_plans_as_hardware_file(tmp_path):
    f = template(tmp_path)
    r = runner.invoke(app, ["catalog", "check", str(f)])
    assert r.exit_code == 0 and r.stdout.strip() == f"{f}: ok"
    tr = runner.invoke(app, ["train", "--model", "llama-3.1-8b", "--hardware", str(f), "--accelerators", "64",
                             "--tokens", "1e12", "--json"])
    assert tr.exit_code == 0, tr.stderr
    d = json.loads(tr.stdout)
    assert d["hardware"] == "my-chip" and d["tokens_per_s_per_accelerator"] > 0
    sv = runner.invoke(app, ["serve", "--model", "llama-3.1-8b", "--hardware", str(f), "--input-len", "512",
                             "--output-len", "128", "--json"])
    assert sv.exit_code == 0, sv.stderr
    cmp_ = runner.invoke(app, ["compare", "--model", "llama-3.1-8b", "--hardware", str(f), "--hardware",
                               "h100-sxm-80gb", "--accelerators", "64", "--tokens", "1e12", "--json"])
    assert cmp_.exit_code == 0, cmp_.stderr
    for kind in ("system", "model"):
        assert runner.invoke(app, ["catalog", "check", str(template(tmp_path, kind))]).exit_code == 0


def test_three_mistakes_are_reported_at_once_with_line_and_key(tmp_path):
    text = template(tmp_path).read_text()
    bad = (text.replace("tdp_w: 1000", "tdp_w: -5").replace("launch_year: 2027", "launch_yaer: 2027")
           .replace("hbm_tb_per_s: 6.0", "hbm_tb_per_s: fast"))
    f = tmp_path / "bad.yaml"
    f.write_text(bad)
    lines = bad.splitlines()

    def line_of(s):
        return next(i for i, ln in enumerate(lines, start=1) if s in ln)

    r = runner.invoke(app, ["catalog", "check", str(f)])
    assert r.exit_code == 2
    errs = r.stderr.strip().splitlines()
    assert len(errs) == 4  # the misspelt key is unknown, and launch_year is then missing
    assert f"bad.yaml:{line_of('tdp_w: -5')} accelerators.my-chip.tdp_w:" in r.stderr
    assert f"bad.yaml:{line_of('hbm_tb_per_s')} accelerators.my-chip.hbm_tb_per_s:" in r.stderr
    assert f"bad.yaml:{line_of('launch_yaer')} accelerators.my-chip.launch_yaer: unknown field; did you mean " \
           "launch_year?" in r.stderr
    tr = runner.invoke(app, ["train", "--model", "llama-3.1-8b", "--hardware", str(f), "--accelerators", "8",
                             "--tokens", "1e12"])
    assert tr.exit_code == 2 and "4 problems" in tr.stderr and len(tr.stderr.strip().splitlines()) == 1


def test_hbm_units_mean_what_they_say(tmp_path):
    text = template(tmp_path).read_text()
    gib = tmp_path / "gib.yaml"
    gib.write_text(text)
    gb = tmp_path / "gb.yaml"
    gb.write_text(text.replace("hbm_gib: 144", "hbm_gb: 144"))
    assert catalog.hardware(str(gib))[0].hbm_bytes == 144 * 2**30
    assert catalog.hardware(str(gb))[0].hbm_bytes == 144e9
    both = tmp_path / "both.yaml"
    both.write_text(text.replace("hbm_gib: 144", "hbm_gib: 144\n    hbm_gb: 150"))
    assert any("hbm_gib: give the HBM capacity once" in p for p in catalog.check_file(both))


def test_only_the_peaks_the_question_needs(tmp_path):
    text = template(tmp_path).read_text().replace("      bf16: 1000\n", "")
    f = tmp_path / "fp8_only.yaml"
    f.write_text(text)
    assert catalog.check_file(f) == []
    sv = runner.invoke(app, ["serve", "--model", "llama-3.1-8b", "--hardware", str(f), "--input-len", "512",
                             "--output-len", "128", "--precision", "fp8", "--json"])
    assert sv.exit_code == 0, sv.stderr
    tr = runner.invoke(app, ["train", "--model", "llama-3.1-8b", "--hardware", str(f), "--accelerators", "8",
                             "--tokens", "1e12", "--precision", "bf16"])
    assert tr.exit_code == 2 and "peak_tflops.bf16" in tr.stderr and "peak_bf16_flops_per_s" not in tr.stderr
