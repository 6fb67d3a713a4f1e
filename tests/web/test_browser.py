"""The web app in a real browser: Debian's Chromium driven by Playwright, against uvicorn on 127.0.0.1.

Fills the training what-if form, submits it and sees the numbers and the plot, and opens its shared address; runs
a scenario and watches its progress to the end, cancels a second run; opens the stored report; clicks into a
catalog entry and follows a near match from an unknown id; saves screenshots under test-artifacts/.
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

    # live progress: every stage has a bar, each full once the run is done
    bars = page.locator("#plan-progress progress")
    assert bars.count() >= 5
    for i in range(bars.count()):
        assert bars.nth(i).get_attribute("value") == bars.nth(i).get_attribute("max")

    # open the stored report
    with page.context.expect_page() as new:
        page.locator("#plan-report-link").click()
    report = new.value
    report.wait_for_load_state()
    expect(report.locator("#headlines")).to_contain_text("USD per million output tokens")
    expect(report.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
    report.screenshot(path=str(ARTIFACTS / "web-report.png"))

    # a second run, cancelled while it runs: the page says so and nothing is stored
    page.locator("#plan-run").click()
    expect(page.locator("#plan-cancel")).to_be_enabled(timeout=30_000)
    page.locator("#plan-cancel").click()
    expect(page.locator("#plan-status")).to_have_attribute("data-status", "cancelled", timeout=60_000)
    expect(page.locator("#plan-run")).to_be_enabled()

    # the run is listed in the Runs tab, once: the cancelled one left nothing
    page.locator("#tabs a[data-tab=runs]").click()
    expect(page.locator("#runs-table")).to_contain_text("small_lab", timeout=30_000)
    expect(page.locator("#runs-table input[type=checkbox]")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "web-runs.png"))

    # the catalog browser: click into an entry's detail, which names the source of every field
    page.locator("#tabs a[data-tab=catalog]").click()
    page.locator("#catalog-filter").fill("h100-sxm")
    page.locator("#catalog-table a.catalog-link", has_text="h100-sxm-80gb").click()
    expect(page.locator("#catalog-detail-title")).to_contain_text("h100-sxm-80gb", timeout=30_000)
    fields = page.locator("#catalog-fields")
    expect(fields).to_contain_text("hbm_gib")
    expect(fields).to_contain_text("datasheet")
    assert "id=h100-sxm-80gb" in page.url
    page.screenshot(path=str(ARTIFACTS / "web-catalog.png"))
    # a shared address opens the same entry; an unknown id shows the nearest ids, which lead to an entry
    page3 = browser.new_page()
    page3.goto(live.url + "/#/catalog?kind=systems&id=dgx-h10")
    expect(page3.locator("#catalog-detail-error")).to_contain_text("unknown id 'dgx-h10'", timeout=30_000)
    page3.locator("a.catalog-near", has_text="dgx-h100").first.click()
    expect(page3.locator("#catalog-detail-title")).to_contain_text("dgx-h100", timeout=30_000)
    page3.close()
    assert outside == [] and errors == []
    assert (ARTIFACTS / "web-training.png").stat().st_size > 10_000
