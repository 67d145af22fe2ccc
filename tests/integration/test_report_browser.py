"""report.html as a person sees it: opened offline in headless Chromium, screenshotted, looked at —
and used: the story figure's charts hovered, zoomed and toggled through a real browser (Selenium with
Debian's ``chromium-driver``, ``tests/browser.py``).

Needs Debian's ``chromium`` and ``chromium-driver`` packages (no Docker). Skips on a developer machine
without them; in CI (``CI`` set) a missing browser is a failure, never a skip.
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

from faultdrill.histograms import percentile_ms
from faultdrill.recorder.load_series import read_load_seconds
from faultdrill.report.sample import write_sample_run
from faultdrill.report.summary import render_all
from tests.browser import Report, exercise_story, number_in, open_page

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


def test_the_story_comes_first_and_its_charts_hover_zoom_and_follow_each_other(report_html: Path,
                                                                               tmp_path: Path) -> None:
    with open_page(report_html, 1400, 1800) as driver:
        seen = exercise_story(driver, tmp_path)
    seconds = {s.t: s for s in read_load_seconds(report_html.parent / "histograms.jsonl")}
    second = seconds[int(seen["hovered_t"])]
    p95 = percentile_ms(second.total().ok_hist, 95)
    assert p95 is not None and abs(number_in(seen["shown"]) - p95) <= 0.01 * p95, (seen, p95)
    assert seen["charts"] >= 10, "the detail panels are interactive too"
    assert plt.imread(tmp_path / "story.png").shape[0] > 500


def test_seconds_nothing_was_recorded_in_are_gaps_in_the_browser_not_zeros(tmp_path: Path) -> None:
    run_dir, scenario = write_sample_run(tmp_path / "gap-run")
    lines = run_dir.histograms.read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if not any(f'"t": {t},' in ln for t in (30, 31, 32, 33))]
    assert len(kept) == len(lines) - 4
    run_dir.histograms.write_text("\n".join(kept) + "\n", encoding="utf-8")
    resources = (run_dir.path / "resources.csv").read_text(encoding="utf-8").splitlines()
    stale = [ln for ln in resources if any(ln.startswith(f"{t},") and ",app," in ln for t in (30, 31, 32, 33))]
    assert len(stale) == 4  # app's samples at 30–33 s are missing; db's and the connections' are not
    (run_dir.path / "resources.csv").write_text("\n".join(ln for ln in resources if ln not in stale) + "\n",
                                                encoding="utf-8")
    html = render_all(run_dir, scenario, "completed").files["html"]
    with open_page(html) as driver:
        page = Report(driver)
        page.hover("story-latency", 31.5)
        assert page.legend_value("story-latency", "p95 successful") == "–", "a gap shows no value"
        page.hover("story-latency", 35.5)
        assert number_in(page.legend_value("story-latency", "p95 successful")) > 200
        page.hover("story-latency", 5.5)  # the cursor away from the gap
        # no line across the gap, even where other series have points inside it (uPlot draws a gap
        # only as wide as it is told: every alignment filler around a null must be null too)
        red = driver.execute_script("""
          const u = window.faultdrillCharts.find(u => u.faultdrill.key === 'story-saturation');
          const count = t => { const x = Math.round(u.valToPos(t, 'x', true));
            const px = u.ctx.getImageData(x, u.bbox.top, 1, u.bbox.height).data; let n = 0;
            for (let i = 0; i < px.length; i += 4)
              if (Math.abs(px[i] - 0xd6) < 25 && Math.abs(px[i + 1] - 0x27) < 25 && Math.abs(px[i + 2] - 0x28) < 25 && px[i + 3] > 200) n++;
            return n; };
          return [count(10.3), count(36.4), count(30.4), count(32.6)];""")
        assert red[0] > 0 and red[1] > 0, f"the app's CPU line (red) is drawn where it was sampled: {red}"
        assert red[2] == 0 and red[3] == 0, f"a line was drawn across the missing samples: {red}"


def test_compare_html_overlays_incident_and_fix_in_one_interactive_story(tmp_path: Path) -> None:
    from faultdrill.report.compare import compare_runs
    from faultdrill.report.sample import SampleShape

    spread = {"failing_profile": None}
    a, sa = write_sample_run(tmp_path / "incident", samples=False,
                             shape=SampleShape(fault_ms=2000, fault_error_rate=0.3, **spread))
    b, sb = write_sample_run(tmp_path / "fixed", samples=False,
                             shape=SampleShape(fault_ms=14, fault_error_rate=0.0, **spread))
    render_all(a, sa, "completed", plots=False)
    render_all(b, sb, "completed", plots=False)
    html = compare_runs(a.path, b.path, out_dir=tmp_path / "out").files["html"]
    with open_page(html, 1400, 1600) as driver:
        seen = exercise_story(driver, tmp_path, label="A: p95 successful", details=False)
        page = Report(driver)
        series = {c["key"]: c["series"] for c in page.charts()}
    assert seen["value"] > 1500, "A's incident latency is the one hovered"
    assert "A: failed % of attempts" in series["story-errors"] and "B: failed % of attempts" in series["story-errors"]
