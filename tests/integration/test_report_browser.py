"""report.html as a person sees it: opened offline in headless Chromium, screenshotted, looked at.

Needs Debian's ``chromium`` package (no Docker). Skips on a developer machine without it; in CI
(``CI`` set) a missing browser is a failure, never a skip.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib import pyplot as plt

from faultdrill.report.sample import write_sample_run
from faultdrill.report.summary import render_all

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    found = os.environ.get("FAULTDRILL_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if found:
        return found
    message = "headless Chromium is needed to look at report.html: apt-get install -y chromium"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Page(HTMLParser):
    """The parts of the page the test looks at: image sources and heading texts."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.headings: list[str] = []
        self.fetches: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag in ("h1", "h2", "h3"):
            self._heading = []
        for attr in ("src", "href"):
            if tag != "img" and values.get(attr):
                self.fetches.append(str(values[attr]))

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None


def colours(image: np.ndarray) -> int:
    rgb = (image[..., :3] * 255).astype(np.uint8) if image.dtype != np.uint8 else image[..., :3]
    return len(np.unique(rgb.reshape(-1, 3), axis=0))


def has_colour(image: np.ndarray, hex_colour: str, tolerance: int = 6) -> bool:
    rgb = (image[..., :3] * 255).astype(int)
    want = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return bool((np.abs(rgb - want).max(axis=-1) <= tolerance).any())


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir, scenario = write_sample_run(tmp_path_factory.mktemp("runs") / "browser-run")
    report = render_all(run_dir, scenario, "completed")
    assert report.problems == []
    return report.files["html"]


def test_every_image_is_an_embedded_png_that_shows_something(report_html: Path) -> None:
    page = Page()
    page.feed(report_html.read_text(encoding="utf-8"))
    assert page.fetches == [], "a self-contained report fetches nothing"
    assert len(page.images) >= 10
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:60]
        image = plt.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert image.shape[0] > 200 and image.shape[1] > 800
        assert colours(image) > 50, "a blank plot"
    for title in ("faultdrill report: sample", "Checks", "Windows", "Faults", "Provenance", "Plots"):
        assert title in page.headings, (title, page.headings)


def test_report_html_renders_offline_in_headless_chromium(report_html: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1400,4000",
         report_html.resolve().as_uri()],
        capture_output=True, text=True, timeout=180, check=False)
    assert shot.is_file(), f"no screenshot (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    image = plt.imread(shot)
    assert image.shape[:2] == (4000, 1400)
    assert colours(image) > 500, "the page rendered blank"
    header = image[:60]
    assert has_colour(header, "#cf222e"), "the failed verdict's red header is missing (CSS not applied?)"
    assert has_colour(image, "#ff7f0e"), "no plot line visible (p95 is drawn in #ff7f0e)"
