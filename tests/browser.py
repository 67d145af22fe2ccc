"""A real browser for the report's tests: Debian's ``chromium`` driven by ``chromium-driver`` through
Selenium (the WebDriver protocol), headless and offline — the page may fetch nothing.

``open_page(path)`` yields a driver on the file; ``Report`` reads what a reader sees and does what a
reader does (hover, zoom) on the interactive charts. Skips where the browser or its driver is
missing on a developer machine; in CI (``CI`` set) a missing one is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver", "chromium-driver")
INSTALL = "apt-get install -y chromium chromium-driver (and pip install 'selenium>=4.15,<5')"


def _need(what: str) -> None:
    message = f"{what} is needed to drive report.html in a real browser: {INSTALL}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def browser_paths() -> tuple[str, str]:
    binary = os.environ.get("FAULTDRILL_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = os.environ.get("FAULTDRILL_CHROMEDRIVER") or next(filter(None, map(shutil.which, DRIVERS)), None)
    if not binary:
        _need("headless Chromium")
    if not driver:
        _need("chromium-driver")
    return str(binary), str(driver)


@contextmanager
def open_page(path: Path, width: int = 1400, height: int = 1000) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _need("selenium")
    binary, driver_path = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--disable-sync", "--hide-scrollbars", f"--window-size={width},{height}",
                "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"):  # offline: any fetch fails
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        driver.set_page_load_timeout(60)
        driver.get(path.resolve().as_uri())
        yield driver
    finally:
        driver.quit()


class Report:
    """The interactive report as a reader meets it."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def charts(self) -> list[dict[str, Any]]:
        """Every drawn chart: its key, figure, x range and the labels of its series."""
        return self.driver.execute_script(
            "return (window.faultdrillCharts || []).map(u => ({key: u.faultdrill.key, figure: u.faultdrill.figure,"
            " min: u.scales.x.min, max: u.scales.x.max, series: u.series.slice(1).map(s => s.label)}));")

    def x_range(self, key: str) -> tuple[float, float]:
        chart = next(c for c in self.charts() if c["key"] == key)
        return chart["min"], chart["max"]

    def element(self, key: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, f'[data-chart="{key}"] .u-over')

    def legend_value(self, key: str, label: str) -> str:
        from selenium.webdriver.common.by import By

        rows = self.driver.find_elements(By.CSS_SELECTOR, f'[data-chart="{key}"] .u-legend .u-series')
        for row in rows:
            if row.find_element(By.CSS_SELECTOR, ".u-label").text.strip() == label:
                return row.find_element(By.CSS_SELECTOR, ".u-value").text.strip()
        raise AssertionError(f"no legend entry {label!r} on {key}: {[r.text for r in rows]}")

    def x_offset(self, key: str, t: float) -> float:
        """Where run time ``t`` is, in CSS pixels from the left edge of the chart's plot area."""
        return float(self.driver.execute_script(
            "const u = window.faultdrillCharts.find(u => u.faultdrill.key === arguments[0]);"
            "return u.valToPos(arguments[1], 'x');", key, t))

    def hover(self, key: str, t: float, y_frac: float = 0.5) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        over = self.element(key)
        size = over.size
        ActionChains(self.driver).move_to_element_with_offset(
            over, int(self.x_offset(key, t) - size["width"] / 2), int(size["height"] * (y_frac - 0.5))).perform()

    def drag_zoom(self, key: str, t0: float, t1: float) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        over = self.element(key)
        size = over.size
        x0, x1 = (int(self.x_offset(key, t) - size["width"] / 2) for t in (t0, t1))
        (ActionChains(self.driver).move_to_element_with_offset(over, x0, 0).click_and_hold()
         .move_by_offset(x1 - x0, 0).release().perform())

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path


STORY_KEYS = ["story-latency", "story-traffic", "story-errors", "story-saturation"]


def payload_line(driver: Any, chart: str, label: str) -> list[tuple[float, float | None]]:
    """A line's points as the page carries them (the JSON the charts are drawn from)."""
    data = driver.execute_script("return JSON.parse(document.getElementById('faultdrill-charts').textContent);")
    for figure in data["figures"]:
        for c in figure["charts"]:
            if c["key"] == chart:
                line = next(ln for ln in c["lines"] if ln["label"] == label)
                return list(zip(line["xs"], line["ys"]))
    raise AssertionError(f"no chart {chart!r} in the page's data")


def number_in(text: str) -> float:
    """The number a legend shows ("348 ms", "1.25 s", "40 %")."""
    value, _, unit = text.replace(",", "").partition(" ")
    return float(value) * (1000.0 if unit == "s" else 1.0)


def exercise_story(driver: Any, shots: Path | None = None, label: str = "p95 successful",
                   details: bool = True) -> dict[str, Any]:
    """What a reader does first: find the story figure, hover a point and read it, zoom, toggle a series.

    Asserts what the reader would notice and returns what was read (for the caller's own checks).
    """
    page = Report(driver)
    charts = page.charts()
    assert [c["key"] for c in charts[:len(STORY_KEYS)]][:3] == STORY_KEYS[:3], "the story figure comes first"
    if details:
        assert len({c["figure"] for c in charts}) >= 2, "detail panels follow the story"
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
    assert fetched == [], f"the report fetched {fetched} (it must be one offline file)"
    if shots:
        page.screenshot(shots / f"{charts[0]['figure']}.png")
    # hover the latency chart at the slowest known second and read the exact value in its legend
    points = [(t, v) for t, v in payload_line(driver, "story-latency", label) if v is not None]
    t, value = max(points, key=lambda p: p[1])
    page.hover("story-latency", t)
    shown = page.legend_value("story-latency", label)
    assert abs(number_in(shown) - value) <= max(0.01 * value, 0.01), (t, value, shown)
    followed = next(c for c in charts if c["figure"] != charts[0]["figure"])["key"] if details else "story-errors"
    linked_t = float(page.legend_value(followed, "t").split()[0])  # "21.5 s"
    assert abs(linked_t - t) <= 1.5, f"the cursor of {followed} did not follow: {linked_t} vs {t}"
    from selenium.webdriver.common.by import By

    # zoom on the story's latency chart: every chart on the page follows
    lo, hi = charts[0]["min"], charts[0]["max"]
    z0, z1 = lo + (hi - lo) * 0.25, lo + (hi - lo) * 0.6
    page.drag_zoom("story-latency", z0, z1)
    ranges = {c["key"]: (c["min"], c["max"]) for c in page.charts()}
    for key, (a, b) in ranges.items():
        assert abs(a - z0) <= 0.02 * (hi - lo) + 0.5 and abs(b - z1) <= 0.02 * (hi - lo) + 0.5, (key, a, b, z0, z1)
    if shots:
        page.screenshot(shots / f"{charts[0]['figure']}-zoomed.png")
    # shift + drag pans every chart by the same time; "reset zoom" shows the whole run again
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    (ActionChains(driver).move_to_element(page.element("story-latency")).key_down(Keys.SHIFT).click_and_hold()
     .move_by_offset(-150, 0).release().key_up(Keys.SHIFT).perform())
    panned = {c["key"]: (c["min"], c["max"]) for c in page.charts()}
    shift = panned["story-latency"][0] - ranges["story-latency"][0]
    assert shift > 0.02 * (z1 - z0), f"shift + drag did not pan: {ranges['story-latency']} → {panned['story-latency']}"
    assert all(abs((a - ranges[k][0]) - shift) < 1e-6 and abs((b - a) - (z1 - z0)) < 0.5 for k, (a, b) in panned.items())
    driver.find_element(By.CSS_SELECTOR, "[data-reset-zoom]").click()
    assert all((c["min"], c["max"]) == (lo, hi) for c in page.charts()), "reset zoom shows the whole run"
    # a legend click hides a series
    entry = driver.find_elements(By.CSS_SELECTOR, '[data-chart="story-latency"] .u-legend .u-series')[1]
    entry.find_element(By.CSS_SELECTOR, ".u-label").click()
    hidden = driver.execute_script("return window.faultdrillCharts[0].series[1].show;")
    assert hidden is False, "clicking the legend entry did not hide its series"
    return {"hovered_t": t, "value": value, "shown": shown, "zoomed": (z0, z1), "charts": len(ranges)}
