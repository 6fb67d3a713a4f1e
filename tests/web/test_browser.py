"""The web app in a real browser: Debian's Chromium driven by Playwright, against uvicorn on 127.0.0.1.

Fills the training what-if form, submits it and sees the numbers and the plot; runs a scenario and watches it
finish; opens the stored report; saves screenshots under test-artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium "
                                                   "(`make test` installs the chromium package)")]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def test_what_if_scenario_run_and_report(live, browser):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live.url) else None)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live.url + "/#/train")

    # the training what-if
    form = page.locator("#train-form")
    form.locator("input[name=model]").fill("llama-3.1-70b")
    form.locator("input[name=hardware]").fill("h100-sxm-80gb")
    form.locator("input[name=tokens]").fill("15e12")
    form.locator("input[name=gpus]").fill("2048")
    form.locator("button[type=submit]").click()
    result = page.locator("#train-result")
    expect(result).to_contain_text("accelerators", timeout=60_000)
    expect(result).to_contain_text("2,048")
    assert re.search(r"wall-clock days\s*[0-9.]+", result.inner_text())
    expect(page.locator("#train-plot .main-svg").first).to_be_visible(timeout=30_000)
    assert "gpus=2048" in page.url  # the URL carries the form state
    page.screenshot(path=str(ARTIFACTS / "web-training.png"))

    # a shared URL fills the form and answers by itself
    page2 = browser.new_page()
    page2.goto(page.url)
    expect(page2.locator("#train-result")).to_contain_text("2,048", timeout=60_000)
    page2.close()

    # run a scenario and watch it finish
    page.locator("#tabs a[data-tab=plan]").click()
    expect(page.locator("#plan-example option[value=small_lab]")).to_have_count(1, timeout=30_000)
    page.locator("#plan-example").select_option("small_lab")
    page.locator("input[name=scenarios]").fill("500")
    page.locator("#plan-run").click()
    expect(page.locator("#plan-status")).to_contain_text("running", timeout=30_000)
    expect(page.locator("#plan-status")).to_have_attribute("data-status", "done", timeout=240_000)
    expect(page.locator("#plan-progress progress")).not_to_have_count(0)

    # open the stored report
    with page.context.expect_page() as new:
        page.locator("#plan-report-link").click()
    report = new.value
    report.wait_for_load_state()
    expect(report.locator("#headlines")).to_contain_text("USD per million output tokens")
    expect(report.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
    report.screenshot(path=str(ARTIFACTS / "web-report.png"))

    # the run is listed in the Runs tab
    page.locator("#tabs a[data-tab=runs]").click()
    expect(page.locator("#runs-table")).to_contain_text("small_lab", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "web-runs.png"))
    assert outside == [] and errors == []
    assert (ARTIFACTS / "web-training.png").stat().st_size > 10_000
