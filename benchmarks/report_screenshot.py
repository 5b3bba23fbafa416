"""Render a dta report in headless Chromium and save a PNG of it.

Regenerates docs/report-screenshot.png from the demo's report, so the picture in the docs
shows what the current code writes rather than what an older version wrote:

    make demo
    .venv/bin/python benchmarks/report_screenshot.py runs/demo/report/report.html \
        docs/report-screenshot.png

Needs Debian's chromium and chromium-driver (`make test` installs them where apt-get may run)
and selenium (in the test extra). It opens the file from disk: nothing is fetched.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


def main() -> int:
    """Exit 2 with the fix when the report or the browser is missing, so a script can stop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="report.html written by `dta report`")
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    parser.add_argument("--width", type=int, default=1280, help="window width in pixels")
    parser.add_argument(
        "--height", type=int, default=0, help="window height; 0 = the page's full height"
    )
    args = parser.parse_args()
    if not args.report.is_file():
        print(f"{args.report}: no such report (run `make demo` or `dta report` first)")
        return 2
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        print("needs chromium and chromedriver on PATH: apt-get install chromium chromium-driver")
        return 2
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--window-size={args.width},1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        browser.get(args.report.resolve().as_uri())
        height = args.height or browser.execute_script("return document.body.scrollHeight;")
        browser.set_window_size(args.width, int(height))
        args.png.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(args.png))
    finally:
        browser.quit()
    print(f"wrote {args.png} ({args.width}x{height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
