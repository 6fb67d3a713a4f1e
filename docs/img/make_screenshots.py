"""Regenerate the README's screenshots with Playwright on Debian's Chromium (never a downloaded browser).

    make demo                                        # writes demo-report/ and stores the run
    .venv/bin/python docs/img/make_screenshots.py demo-report

``report.png``: the top of ``DIR/report.html`` (executive summary and the first plot). ``web.png``: the web app's
training what-if with its answer and plot, served from a temporary store. Each PNG is kept under 300 kB.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
LIMIT_BYTES = 300_000


def _serve(store: Path) -> tuple[str, object]:
    import uvicorn

    from chipplan.web import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store=store), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def main(report_dir: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    report = Path(report_dir).resolve() / "report.html"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1100, "height": 1250})
        page.goto(report.as_uri())
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
        page.screenshot(path=str(HERE / "report.png"))
        with tempfile.TemporaryDirectory() as store:
            url, server = _serve(Path(store))
            page = b.new_page(viewport={"width": 1100, "height": 1000})
            page.goto(url + "/#/train?model=llama-3.1-70b&hardware=h100-sxm-80gb&tokens=15e12&gpus=2048"
                            "&precision=bf16&price=2.5")
            expect(page.locator("#train-plot .main-svg").first).to_be_visible(timeout=120_000)
            page.locator("#train-result").scroll_into_view_if_needed()
            page.screenshot(path=str(HERE / "web.png"), full_page=True)
            server.should_exit = True
        b.close()
    for name in ("report.png", "web.png"):
        size = (HERE / name).stat().st_size
        print(f"{name}: {size / 1e3:.0f} kB")
        if size > LIMIT_BYTES:
            raise SystemExit(f"{name} is {size:,} bytes, over {LIMIT_BYTES:,}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo-report")
