"""The plot page in a real browser: headless Chromium renders it with no errors and one band per interval.

No browser driver is needed: a copy of the page gets two scripts, one first in <head> that records
errors and console.error calls, one last in <body> that waits for the plot and writes what it finds
into the page; `chromium --dump-dom` prints the page after a virtual-time budget, and the test reads it.
Part of the default run (deselect with `-m 'not browser'`); Chromium comes from Debian's `chromium`
package, installed when missing and running as root, else the test skips.
"""

import html
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tsgan.errors import ConfigError
from tsgan.events import Interval
from tsgan.plot import DETECTED, LABELLED, write_png, write_report
from tsgan.series import Series

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--hide-scrollbars",
]

RECORD_ERRORS = """<script>
window.tsganErrors = [];
window.addEventListener("error", (e) => window.tsganErrors.push("error: " + e.message));
window.addEventListener("unhandledrejection", (e) => window.tsganErrors.push("rejection: " + e.reason));
const tsganConsoleError = console.error;
console.error = (...args) => {
  window.tsganErrors.push("console: " + args.join(" "));
  tsganConsoleError(...args);
};
</script>"""

PROBE = """<script>
(function probe(tries) {
  const gd = document.querySelector(".js-plotly-plot");
  if (!(gd && gd._fullLayout && gd.querySelector(".shapelayer path")) && tries > 0) {
    return setTimeout(() => probe(tries - 1), 100);
  }
  const names = gd ? gd._fullLayout.shapes.map((s) => s.name) : [];
  const drawn = gd ? [...gd.querySelectorAll(".shapelayer path[data-index]")] : [];
  const count = (name) => drawn.filter((p) => names[+p.getAttribute("data-index")] === name).length;
  const out = document.createElement("pre");
  out.id = "tsgan-probe";
  out.textContent = JSON.stringify({
    rendered: Boolean(gd && gd._fullLayout),
    detected: count(DETECTED_NAME),
    labelled: count(LABELLED_NAME),
    lines: gd ? gd.querySelectorAll(".scatterlayer .trace path.js-line").length : 0,
    legend: gd ? [...gd.querySelectorAll(".legendtext")].map((t) => t.textContent) : [],
    errors: window.tsganErrors,
  });
  document.body.appendChild(out);
})(100);
</script>"""


@pytest.fixture(scope="module")
def chromium() -> Path:
    """/usr/bin/chromium, installed with apt-get when missing and running as root; else the test skips."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} not found and not root to install it: run apt-get install -y chromium")
    done = subprocess.run(
        "apt-get update && apt-get install -y chromium",
        shell=True,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if done.returncode != 0 or not CHROMIUM.exists():
        pytest.skip(f"could not install chromium with apt-get: {done.stderr.strip()[-300:]}")
    return CHROMIUM


def run_chromium(chromium: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh profile folder and the flags that keep it offline and quiet."""
    return subprocess.run(
        [str(chromium), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A page of 3 channels x 3,000 rows (downsampled to 1,000 points per trace), 4 intervals, labels."""
    folder = tmp_path_factory.mktemp("browser")
    rng = np.random.default_rng(0)
    t = np.arange(3000)
    values = np.stack([np.sin(t / 50), np.cos(t / 80), rng.normal(size=3000)], axis=1)
    labels = np.zeros(3000, dtype=np.int8)
    labels[1200:1300] = 1
    stamps = np.datetime64("2026-01-01T00:00:00", "ns") + t * np.timedelta64(1, "s")
    series = Series(values, ["pump", "valve", "flow"], timestamps=stamps, labels=labels, name="run.csv")
    intervals = [
        Interval(400, 400, 3.0, ["flow"], channel_scores=[3.0]),
        Interval(1210, 1290, 8.0, ["pump", "valve"], channel_scores=[5.0, 2.0]),
        Interval(2000, 2050, 2.5, ["valve"], channel_scores=[2.5]),
        Interval(2990, 2999, 1.5, ["flow", "pump"], channel_scores=[1.0, 0.5]),
    ]
    fig = write_report(series, intervals, None, folder / "report.html", max_points=1000)
    return folder, fig, len(intervals)


def test_page_renders_without_errors_with_one_band_per_interval(chromium, report):
    folder, _, n_intervals = report
    page = (folder / "report.html").read_text(encoding="utf-8")
    probed = page.replace("<head>", "<head>" + RECORD_ERRORS, 1).replace("</body>", PROBE + "</body>", 1)
    probed = probed.replace("DETECTED_NAME", json.dumps(DETECTED)).replace(
        "LABELLED_NAME", json.dumps(LABELLED)
    )
    (folder / "probed.html").write_text(probed, encoding="utf-8")

    done = run_chromium(
        chromium,
        folder / "profile-dom",
        "--virtual-time-budget=10000",
        "--dump-dom",
        (folder / "probed.html").as_uri(),
    )
    found = re.search(r'<pre id="tsgan-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"no probe output; chromium said: {done.stderr[-1000:]}"
    result = json.loads(html.unescape(found.group(1)))
    assert result["rendered"] and result["errors"] == []
    assert result["detected"] == n_intervals
    assert result["labelled"] == 1
    assert result["lines"] >= 6  # each of the 3 channels: its values and its red stretches
    assert {"flagged interval", "labelled anomaly", "threshold (score 0)"} <= set(result["legend"])


def test_screenshot_of_the_page(chromium, report):
    folder, fig, _ = report
    shot = folder / "report.png"
    done = run_chromium(
        chromium,
        folder / "profile-shot",
        "--virtual-time-budget=10000",
        f"--window-size=1400,{fig.layout.height}",
        f"--screenshot={shot}",
        (folder / "report.html").as_uri(),
    )
    assert shot.is_file(), done.stderr[-1000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_png_export_renders_with_kaleido_and_chromium(chromium, report, tmp_path):
    folder, fig, _ = report
    write_png(fig, tmp_path / "report.png", width=900)
    image = (tmp_path / "report.png").read_bytes()
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(image[16:20], "big") == 900  # the IHDR width
    assert [p.name for p in tmp_path.iterdir()] == ["report.png"]  # no temporary file left


def test_png_export_without_a_browser_says_what_to_install_and_writes_nothing(report, tmp_path, monkeypatch):
    _, fig, _ = report
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chrome"))
    with pytest.raises(ConfigError, match="needs Chrome or Chromium.*apt install chromium"):
        write_png(fig, tmp_path / "report.png")
    assert list(tmp_path.iterdir()) == []
