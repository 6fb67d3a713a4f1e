"""``pip install .`` gives the ``chipplan`` command with its catalog data, not only in an editable checkout.

The package is built as a wheel from a copy of the sources (``pip wheel --no-deps --no-build-isolation``, so
nothing is downloaded and the checkout gets no ``build/``), the wheel is checked to hold every data file of the
source tree, and it is installed into a fresh virtual environment outside the repository. That environment sees
this environment's third-party packages through a ``.pth`` line (so nothing is reinstalled) but not its editable
chipplan: the ``chipplan`` it runs is the installed wheel's, from a directory where no source tree is near.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "chipplan"


def source_data_files() -> set[str]:
    """Every file of the package that is not Python source: what the code reads at run time."""
    return {p.relative_to(PKG.parent).as_posix() for p in PKG.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                    "--no-index", "--quiet", "-w", str(out)], check=True, capture_output=True, text=True)
    (whl,) = out.glob("chipplan-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_holds_the_catalog_templates_and_static_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = source_data_files()
    assert {"chipplan/catalog/data/accelerators.yaml", "chipplan/catalog/templates/accelerator.yaml",
            "chipplan/py.typed"} <= data
    assert any(n.startswith("chipplan/report/templates/") for n in data)
    assert any(n.startswith("chipplan/web/static/") for n in data)
    assert data - names == set(), "package-data in pyproject.toml misses these"
    assert any(n.endswith("entry_points.txt") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "chipplan = chipplan.commands.entry:main" in zipfile.ZipFile(wheel).read(entry).decode()


@pytest.mark.slow
def test_installed_wheel_runs_from_anywhere(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # this environment's third-party packages, without its editable chipplan (a .pth inside a path added by a
    # .pth line is not run, so the editable finder stays out)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                    "--quiet", str(wheel)], check=True, capture_output=True, text=True)
    exe = env_dir / "bin" / "chipplan"
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args: str) -> str:
        r = subprocess.run([str(exe), *args], cwd=work, capture_output=True, text=True,
                           env={"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)})
        assert r.returncode == 0, (args, r.stderr)
        return r.stdout

    where = subprocess.run([py, "-c", "import chipplan; print(chipplan.__file__)"], cwd=work, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(env_dir), where  # the wheel's chipplan, not the checkout's
    from chipplan import __version__

    assert run("--version") == f"chipplan {__version__}\n"
    show = json.loads(run("catalog", "show", "h100-sxm-80gb", "--json"))
    assert show["id"] == "h100-sxm-80gb" and len(show["catalog_version"]) >= 8
    template = run("catalog", "template", "accelerator")
    assert "accelerators:" in template
    (work / "chip.yaml").write_text(template)
    run("catalog", "check", "chip.yaml")
    train = json.loads(run("train", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e11",
                           "--accelerators", "8", "--json"))
    assert train["n_accelerators"] == 8 and train["days_low"] < train["days"] < train["days_high"]
